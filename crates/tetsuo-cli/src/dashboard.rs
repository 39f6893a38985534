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
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>tetsuo serve</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td {{ padding: .3em 1.2em .3em 0; }}
td.n {{ font: 1.4em ui-monospace, monospace; text-align: right; }}
#live {{ color: #888; }} #live.on {{ color: #080; }}
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
<p>Endpoints: <a href="/hello">/hello</a>, /echo, /ws (WebSocket echo), <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>{files}.</p>
<script>
(function () {{
  var updates = 0;
  function connect() {{
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/stats");
    ws.onmessage = function (e) {{
      var s = JSON.parse(e.data);
      for (var k in s) {{ var el = document.getElementById(k); if (el) el.textContent = s[k]; }}
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
"#,
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
                            let snapshot = format!(
                                "{{\"state\":\"{}\",\"connections\":{},\"requests\":{},\"rps\":{:.0},\"bytes_in\":{},\"bytes_out\":{},\"errors\":{}}}",
                                if handle.is_ready() { "serving" } else { "draining" },
                                handle.open_connections(),
                                requests,
                                rps,
                                sum(&text, "tetsuo_server_bytes_received_total"),
                                sum(&text, "tetsuo_server_bytes_sent_total"),
                                errors,
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
}
