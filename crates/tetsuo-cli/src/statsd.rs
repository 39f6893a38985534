//! StatsD push: every interval, the Prometheus recorder's figures go to a
//! StatsD server over UDP — counters as increments since the last push,
//! gauges as their values, histograms and summaries as the increments of
//! their `_sum` and `_count` (summary quantiles as gauges) — with labels
//! as DogStatsD tags (`name:1|c|#class:2xx`).
//!
//! A push reads what `/metrics` would show, so the hot path pays nothing
//! for it and a gauge moved by increments (open connections) is sent as
//! the value it has, which per-event StatsD recorders cannot do.

use std::collections::HashMap;
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;

/// Largest datagram: fits an Ethernet frame with IP and UDP headers.
const MAX_DATAGRAM: usize = 1432;

/// The pushing thread; [`StatsdPusher::finish`] makes a last push.
pub(crate) struct StatsdPusher {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl StatsdPusher {
    /// Pushes to `target` (HOST:PORT, resolved now) every `interval`.
    pub(crate) fn start(
        target: &str,
        interval: Duration,
        prefix: String,
        prometheus: PrometheusHandle,
    ) -> anyhow::Result<StatsdPusher> {
        let addr = target
            .to_socket_addrs()
            .with_context(|| format!("--statsd {target}: not a HOST:PORT"))?
            .next()
            .with_context(|| format!("--statsd {target}: no address"))?;
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local).context("bind a UDP socket for StatsD")?;
        socket
            .connect(addr)
            .with_context(|| format!("--statsd {target}"))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("statsd".into())
            .spawn(move || {
                let mut state = Deltas::default();
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(interval),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    prometheus.run_upkeep();
                    let lines = state.lines(&prometheus.render(), &prefix);
                    for datagram in pack(&lines) {
                        // A refused datagram (ICMP from an earlier one while
                        // the server was down) fails the next send: once
                        // more, so this push's increments are not lost.
                        if socket.send(datagram.as_bytes()).is_err()
                            && let Err(e) = socket.send(datagram.as_bytes())
                        {
                            tracing::debug!(error = %e, "StatsD push failed");
                        }
                    }
                    if last {
                        return;
                    }
                }
            })
            .context("start the StatsD thread")?;
        Ok(StatsdPusher { stop, thread })
    }

    /// Pushes once more (what happened since the last push) and stops.
    pub(crate) fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// One sample of the text exposition format.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

/// A sample line: `name{a="x",b="y"} value [timestamp]`.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// What a push sends for a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The increase since the last push (`|c`).
    Increment,
    /// The value (`|g`).
    Value,
    /// Not sent (histogram buckets: StatsD has no such thing).
    Skip,
}

/// The kind of each sample, from the `# TYPE` line of its family.
fn kind(family_type: &str, name: &str, labels: &[(&str, String)]) -> Kind {
    match family_type {
        "counter" => Kind::Increment,
        "histogram" if name.ends_with("_bucket") => Kind::Skip,
        "histogram" | "summary" if name.ends_with("_sum") || name.ends_with("_count") => {
            Kind::Increment
        }
        "summary" if labels.iter().any(|(k, _)| *k == "quantile") => Kind::Value,
        "gauge" | "untyped" => Kind::Value,
        _ => Kind::Skip,
    }
}

/// The counters' values at the last push, by series.
#[derive(Default)]
struct Deltas {
    last: HashMap<String, f64>,
}

impl Deltas {
    /// The StatsD lines for one rendering of `/metrics`.
    fn lines(&mut self, exposition: &str, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut family_type = "untyped";
        for line in exposition.lines() {
            if let Some(decl) = line.strip_prefix("# TYPE ") {
                family_type = decl.split_whitespace().nth(1).unwrap_or("untyped");
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some(sample) = parse_sample(line) else {
                continue;
            };
            if !sample.value.is_finite() {
                continue;
            }
            let (value, suffix) = match kind(family_type, sample.name, &sample.labels) {
                Kind::Skip => continue,
                Kind::Value => (sample.value, "g"),
                Kind::Increment => {
                    // The series: the name and its labels (a timestamp may
                    // follow the value).
                    let series = match line.find('}') {
                        Some(end) => &line[..=end],
                        None => sample.name,
                    };
                    let before = self.last.insert(series.to_owned(), sample.value);
                    let delta = match before {
                        // A counter only goes down when it was reset.
                        Some(before) if sample.value >= before => sample.value - before,
                        _ => sample.value,
                    };
                    if delta == 0.0 {
                        continue;
                    }
                    (delta, "c")
                }
            };
            // A gauge's sign means "change by" in StatsD: a negative value
            // is set from zero.
            if suffix == "g" && value < 0.0 {
                out.push(format!(
                    "{prefix}{}:0|g{}",
                    sample.name,
                    tags(&sample.labels)
                ));
            }
            out.push(format!(
                "{prefix}{}:{value}|{suffix}{}",
                sample.name,
                tags(&sample.labels)
            ));
        }
        out
    }
}

/// Labels as DogStatsD tags: `|#key:value,...`, or nothing.
fn tags(labels: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (i, (key, tag)) in labels.iter().enumerate() {
        text.push_str(if i == 0 { "|#" } else { "," });
        // The first colon ends the key; a value may hold more.
        text.push_str(&tag_text(key).replace(':', "_"));
        text.push(':');
        text.push_str(&tag_text(tag));
    }
    text
}

/// A tag key or value without the characters that delimit tags.
fn tag_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ',' | '|' | '#' | '\n' | '\r' => '_',
            c => c,
        })
        .collect()
}

/// Lines joined by newlines into datagrams of at most [`MAX_DATAGRAM`]
/// bytes (a longer line goes alone).
fn pack(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        if !current.is_empty() && current.len() + 1 + line.len() > MAX_DATAGRAM {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# TYPE tetsuo_http_requests_total counter
tetsuo_http_requests_total{class="2xx",protocol="http/1.1"} 3
tetsuo_http_requests_total{class="4xx",protocol="http/1.1"} 1

# TYPE tetsuo_server_connections_open gauge
tetsuo_server_connections_open 2

# TYPE tetsuo_http_request_duration_seconds histogram
tetsuo_http_request_duration_seconds_bucket{le="0.001"} 4
tetsuo_http_request_duration_seconds_bucket{le="+Inf"} 4
tetsuo_http_request_duration_seconds_sum 0.002
tetsuo_http_request_duration_seconds_count 4

# TYPE tetsuo_dns_seconds summary
tetsuo_dns_seconds{quantile="0.5"} 0.01
tetsuo_dns_seconds_sum 0.03
tetsuo_dns_seconds_count 3
"#;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let s = parse_sample(r#"m{a="x\"y",b="1,2\\"} 7.5 1700000000"#).unwrap();
        assert_eq!(s.name, "m");
        assert_eq!(
            s.labels,
            vec![("a", "x\"y".to_owned()), ("b", "1,2\\".to_owned())]
        );
        assert_eq!(s.value, 7.5);
        assert_eq!(parse_sample("plain 3").unwrap().value, 3.0);
        assert!(parse_sample("broken{a=\"x} 1").is_none());
        assert!(parse_sample("nonumber{} x").is_none());
    }

    #[test]
    fn counters_are_sent_as_increments_gauges_as_values() {
        let mut deltas = Deltas::default();
        let first = deltas.lines(EXPOSITION, "app.");
        assert_eq!(
            first,
            vec![
                "app.tetsuo_http_requests_total:3|c|#class:2xx,protocol:http/1.1",
                "app.tetsuo_http_requests_total:1|c|#class:4xx,protocol:http/1.1",
                "app.tetsuo_server_connections_open:2|g",
                "app.tetsuo_http_request_duration_seconds_sum:0.002|c",
                "app.tetsuo_http_request_duration_seconds_count:4|c",
                "app.tetsuo_dns_seconds:0.01|g|#quantile:0.5",
                "app.tetsuo_dns_seconds_sum:0.03|c",
                "app.tetsuo_dns_seconds_count:3|c",
            ]
        );
        let later = EXPOSITION
            .replace("\"http/1.1\"} 3", "\"http/1.1\"} 5")
            .replace("seconds_count 4", "seconds_count 6");
        let second = deltas.lines(&later, "");
        assert!(
            second.contains(
                &"tetsuo_http_requests_total:2|c|#class:2xx,protocol:http/1.1".to_owned()
            )
        );
        assert!(second.contains(&"tetsuo_http_request_duration_seconds_count:2|c".to_owned()));
        // Unchanged counters are not sent; gauges always are.
        assert!(!second.iter().any(|l| l.contains("class:4xx")));
        assert!(second.contains(&"tetsuo_server_connections_open:2|g".to_owned()));
    }

    #[test]
    fn negative_gauges_are_set_from_zero_and_timestamps_ignored() {
        let mut deltas = Deltas::default();
        let text = "# TYPE g gauge\ng -5\n# TYPE c counter\nc{a=\"1\"} 4 1700000000\n";
        assert_eq!(
            deltas.lines(text, ""),
            vec!["g:0|g", "g:-5|g", "c:4|c|#a:1"]
        );
        let later = text.replace("} 4 ", "} 6 ");
        assert_eq!(
            deltas.lines(&later, ""),
            vec!["g:0|g", "g:-5|g", "c:2|c|#a:1"]
        );
    }

    #[test]
    fn datagrams_stay_under_the_limit() {
        let lines: Vec<String> = (0..200).map(|i| format!("metric_{i}:1|c")).collect();
        let packed = pack(&lines);
        assert!(packed.len() > 1);
        assert!(packed.iter().all(|d| d.len() <= MAX_DATAGRAM));
        let back: Vec<&str> = packed.iter().flat_map(|d| d.split('\n')).collect();
        assert_eq!(back.len(), 200);
    }
}
