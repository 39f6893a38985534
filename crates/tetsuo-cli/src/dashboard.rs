//! `tetsuo serve`'s dashboard: the page at `/`, kept live by a WebSocket at
//! `/ws/stats` that pushes the server's figures every second.

use std::time::Duration;

use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tetsuo::http::Body;
use tetsuo::http::server::Handle;
use tetsuo::ws::{Message, ServerConfig};

/// The page; its script opens `/ws/stats` and fills the figures in.
pub(crate) fn page(handle: &Handle, files: bool) -> String {
    let state = if handle.is_ready() {
        "serving"
    } else {
        "draining"
    };
    let files = if files {
        ", <a href=\"/files/\">/files/</a>"
    } else {
        ""
    };
    format!(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>tetsuo serve</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td {{ padding: .3em 1.2em .3em 0; }}
td.n {{ font: 1.4em ui-monospace, monospace; text-align: right; }}
#live {{ color: #888; }} #live.on {{ color: #080; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1em; margin: 1em 0; }}
.chart h2 {{ font-size: 1em; margin: 0 0 .3em; }} .chart span {{ color: #555; font-weight: normal; }}
.chart svg {{ width: 100%; height: 90px; background: #f6f6f6; }}
.chart polyline {{ fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }}
</style></head>
<body><h1>tetsuo serve</h1>
<p>Live: <span id="live">connecting…</span> (updates: <span id="updates">0</span>)</p>
<table>
<tr><td>state</td><td class="n" id="state">{state}</td></tr>
<tr><td>open connections</td><td class="n" id="connections">{open}</td></tr>
<tr><td>requests</td><td class="n" id="requests">–</td></tr>
<tr><td>requests/s</td><td class="n" id="rps">–</td></tr>
<tr><td>bytes in / out (closed connections)</td><td class="n"><span id="bytes_in">–</span> / <span id="bytes_out">–</span></td></tr>
<tr><td>errors (5xx, timeouts, refusals)</td><td class="n" id="errors">–</td></tr>
</table>
<div class="charts">
<div class="chart"><h2>requests/s <span id="rps_max"></span></h2><svg id="chart_rps" viewBox="0 0 180 100" preserveAspectRatio="none" data-points="0"><polyline stroke="#06c"/></svg></div>
<div class="chart"><h2>latency p50 / p90 / p99, ms <span id="p99_max"></span></h2><svg id="chart_latency" viewBox="0 0 180 100" preserveAspectRatio="none" data-points="0"><polyline stroke="#080"/><polyline stroke="#c80"/><polyline stroke="#c00"/></svg></div>
<div class="chart"><h2>open connections <span id="connections_max"></span></h2><svg id="chart_connections" viewBox="0 0 180 100" preserveAspectRatio="none" data-points="0"><polyline stroke="#639"/></svg></div>
<div class="chart"><h2>KB/s in + out <span id="kbps_max"></span></h2><svg id="chart_bytes" viewBox="0 0 180 100" preserveAspectRatio="none" data-points="0"><polyline stroke="#099"/></svg></div>
<div class="chart"><h2>errors/s <span id="eps_max"></span></h2><svg id="chart_errors" viewBox="0 0 180 100" preserveAspectRatio="none" data-points="0"><polyline stroke="#c00"/></svg></div>
</div>
<p>The last three minutes, one point a second.</p>
<p>Endpoints: <a href="/hello">/hello</a>, /echo, /ws (WebSocket echo), <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>{files}.</p>
<script>
(function () {{
  var updates = 0, keep = 180, last = null;
  var series = {{ rps: [], p50: [], p90: [], p99: [], connections: [], kbps: [], eps: [] }};
  function push(name, v) {{ var a = series[name]; a.push(v); if (a.length > keep) a.shift(); }}
  function draw(id, names, maxLabel) {{
    var svg = document.getElementById(id), lines = svg.querySelectorAll("polyline");
    var max = 0;
    names.forEach(function (n) {{ series[n].forEach(function (v) {{ if (v > max) max = v; }}); }});
    names.forEach(function (n, i) {{
      var a = series[n], off = keep - a.length;
      lines[i].setAttribute("points", a.map(function (v, x) {{
        return (off + x) + "," + (max > 0 ? 100 - 95 * v / max : 100).toFixed(1);
      }}).join(" "));
    }});
    svg.setAttribute("data-points", series[names[0]].length);
    svg.setAttribute("data-max", max);
    document.getElementById(maxLabel).textContent = "(max " + (Math.round(max * 100) / 100) + ")";
  }}
  function connect() {{
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/stats");
    ws.onmessage = function (e) {{
      var s = JSON.parse(e.data);
      for (var k in s) {{ var el = document.getElementById(k); if (el) el.textContent = s[k]; }}
      var bytes = s.bytes_in + s.bytes_out, errors = s.errors;
      push("rps", s.rps); push("p50", s.p50_ms); push("p90", s.p90_ms); push("p99", s.p99_ms);
      push("connections", s.connections);
      push("kbps", last ? Math.max(0, bytes - last.bytes) / 1024 : 0);
      push("eps", last ? Math.max(0, errors - last.errors) : 0);
      last = {{ bytes: bytes, errors: errors }};
      draw("chart_rps", ["rps"], "rps_max");
      draw("chart_latency", ["p50", "p90", "p99"], "p99_max");
      draw("chart_connections", ["connections"], "connections_max");
      draw("chart_bytes", ["kbps"], "kbps_max");
      draw("chart_errors", ["eps"], "eps_max");
      document.getElementById("updates").textContent = ++updates;
      var live = document.getElementById("live"); live.textContent = "live"; live.className = "on";
    }};
    ws.onclose = function () {{
      var live = document.getElementById("live"); live.textContent = "reconnecting…"; live.className = "";
      setTimeout(connect, 1000);
    }};
  }}
  connect();
}})();
</script>
</body></html>
"##,
        open = handle.open_connections(),
    )
}

/// The sum of a metric's samples in Prometheus' text format.
fn sum(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A histogram's cumulative buckets: (upper bound, count), `+Inf` last.
fn buckets(text: &str, metric: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{metric}_bucket{{");
    let mut out: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let le = rest.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `q` quantile (seconds) of what was recorded between two snapshots
/// of cumulative buckets: the upper bound of the first bucket holding it
/// (the last finite bound for the overflow bucket); 0 with nothing new.
fn percentile(before: &[(f64, f64)], now: &[(f64, f64)], q: f64) -> f64 {
    let delta = |i: usize| {
        let prev = before
            .iter()
            .find(|(le, _)| *le == now[i].0)
            .map_or(0.0, |b| b.1);
        now[i].1 - prev
    };
    let Some(total) = now.len().checked_sub(1).map(delta) else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    for i in 0..now.len() {
        if delta(i) >= q * total {
            let le = now[i].0;
            return if le.is_finite() {
                le
            } else {
                now.iter()
                    .rev()
                    .find(|b| b.0.is_finite())
                    .map_or(0.0, |b| b.0)
            };
        }
    }
    0.0
}

/// The 5xx share of the request counter.
fn server_errors(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("tetsuo_http_requests_total{") && l.contains("class=\"5xx\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `/ws/stats`: a JSON snapshot at once, then one per second.
pub(crate) fn live(
    mut req: Request<Body>,
    handle: Handle,
    prometheus: PrometheusHandle,
) -> Response<Body> {
    // A browser that vanishes without closing is noticed within a minute.
    let mut config = ServerConfig::default();
    config.ws.ping_interval = Some(Duration::from_secs(30));
    config.ws.ping_timeout = Duration::from_secs(30);
    match tetsuo::ws::upgrade(&mut req, &config) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                let Ok(mut ws) = pending.await else { return };
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut last: Option<(f64, tokio::time::Instant)> = None;
                let mut last_buckets: Vec<(f64, f64)> = Vec::new();
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let text = prometheus.render();
                            let requests = sum(&text, "tetsuo_http_requests_total");
                            let now = tokio::time::Instant::now();
                            let rps = last.map_or(0.0, |(r, at)| (requests - r) / now.duration_since(at).as_secs_f64().max(1e-3));
                            last = Some((requests, now));
                            let errors = server_errors(&text)
                                + sum(&text, "tetsuo_server_timeouts_total")
                                + sum(&text, "tetsuo_server_connections_refused_total");
                            // Latency over the last second, from the
                            // histogram's buckets.
                            let buckets = buckets(&text, "tetsuo_http_request_duration_seconds");
                            let [p50, p90, p99] = [0.5, 0.9, 0.99]
                                .map(|q| percentile(&last_buckets, &buckets, q) * 1000.0);
                            last_buckets = buckets;
                            let snapshot = format!(
                                "{{\"state\":\"{}\",\"connections\":{},\"requests\":{},\"rps\":{:.0},\"bytes_in\":{},\"bytes_out\":{},\"errors\":{},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3}}}",
                                if handle.is_ready() { "serving" } else { "draining" },
                                handle.open_connections(),
                                requests,
                                rps,
                                sum(&text, "tetsuo_server_bytes_received_total"),
                                sum(&text, "tetsuo_server_bytes_sent_total"),
                                errors,
                                p50,
                                p90,
                                p99,
                            );
                            if ws.send(Message::Text(snapshot)).await.is_err() {
                                break;
                            }
                        }
                        msg = ws.recv() => match msg {
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                    }
                }
            });
            response
        }
        Err(refusal) => refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_prometheus_samples() {
        let text = "# TYPE tetsuo_http_requests_total counter\n\
                    tetsuo_http_requests_total{class=\"2xx\"} 10\n\
                    tetsuo_http_requests_total{class=\"5xx\"} 2\n\
                    tetsuo_http_requests_total_other 99\n\
                    tetsuo_server_bytes_sent_total 1234\n";
        assert_eq!(sum(text, "tetsuo_http_requests_total"), 12.0);
        assert_eq!(server_errors(text), 2.0);
        assert_eq!(sum(text, "tetsuo_server_bytes_sent_total"), 1234.0);
    }

    #[test]
    fn percentiles_from_bucket_deltas() {
        let h = "tetsuo_http_request_duration_seconds";
        let before = format!(
            "{h}_bucket{{le=\"0.001\"}} 10\n{h}_bucket{{le=\"0.01\"}} 10\n{h}_bucket{{le=\"+Inf\"}} 10\n"
        );
        // Since then: 90 under 1 ms, 9 under 10 ms, 1 slower.
        let now = format!(
            "{h}_bucket{{le=\"0.001\"}} 100\n{h}_bucket{{le=\"0.01\"}} 109\n{h}_bucket{{le=\"+Inf\"}} 110\n"
        );
        let (b, n) = (buckets(&before, h), buckets(&now, h));
        assert_eq!(percentile(&b, &n, 0.5), 0.001);
        assert_eq!(percentile(&b, &n, 0.9), 0.001);
        assert_eq!(percentile(&b, &n, 0.99), 0.01);
        assert_eq!(
            percentile(&b, &n, 1.0),
            0.01,
            "overflow: the last finite bound"
        );
        assert_eq!(percentile(&n, &n, 0.5), 0.0, "nothing new");
    }
}
