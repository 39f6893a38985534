//! What `tetsuo serve` and `tetsuo proxy` send to observability back ends:
//! StatsD datagrams to a UDP socket, and spans over OTLP/HTTP to an
//! in-test collector that decodes them (JSON with serde_json, protobuf
//! with the OTLP message types).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use support::Server;

/// A GET on a fresh connection, with extra header lines; the answer.
fn get(addr: SocketAddr, path: &str, extra: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn sigterm(server: &mut Server) {
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The StatsD lines that arrive on `udp` until `done` says so or `within`
/// passed.
fn statsd_lines(
    udp: &UdpSocket,
    within: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 65_536];
    while !done(&lines) && Instant::now() < deadline {
        let Ok(n) = udp.recv(&mut buf) else { continue };
        assert!(n <= 1432, "a datagram of {n} bytes");
        lines.extend(
            std::str::from_utf8(&buf[..n])
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    lines
}

/// The sum of the increments sent for a counter series (`prefix` up to
/// the colon, and the tags that must be there).
fn increments(lines: &[String], prefix: &str, tags: &str) -> f64 {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix)?.strip_prefix(':'))
        .filter_map(|rest| {
            let (value, kind) = rest.split_once('|')?;
            (kind.starts_with('c') && kind.contains(tags)).then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

fn statsd_server(udp: &UdpSocket, interval: &str) -> Server {
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let target = udp.local_addr().unwrap().to_string();
    Server::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--statsd",
        &target,
        "--statsd-interval",
        interval,
        "--statsd-prefix",
        "t.",
    ])
}

#[test]
fn statsd_gets_counters_as_increments_and_gauges() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = statsd_server(&udp, "0.2");
    for _ in 0..3 {
        assert!(get(server.addr(), "/hello", "").starts_with("HTTP/1.1 200 "));
    }
    // Increments add up to the requests made, whatever the pushes they
    // fell into.
    let requests = |l: &[String]| increments(l, "t.tetsuo_http_requests_total", "#class:2xx");
    let timed = |l: &[String]| increments(l, "t.tetsuo_http_request_duration_seconds_count", "");
    let lines = statsd_lines(&udp, Duration::from_secs(10), |l| {
        requests(l) >= 3.0 && timed(l) >= 3.0
    });
    assert_eq!(requests(&lines), 3.0, "{lines:#?}");
    assert_eq!(timed(&lines), 3.0, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("t.tetsuo_server_connections_open:") && l.contains("|g")),
        "{lines:#?}"
    );
}

#[test]
fn statsd_gets_a_last_push_on_exit() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    // No push before an hour: what arrives is the exit's.
    let mut server = statsd_server(&udp, "3600");
    assert!(get(server.addr(), "/hello", "").starts_with("HTTP/1.1 200 "));
    assert!(get(server.addr(), "/nothing", "").starts_with("HTTP/1.1 404 "));
    assert!(statsd_lines(&udp, Duration::from_secs(1), |_| false).is_empty());
    sigterm(&mut server);
    let lines = statsd_lines(&udp, Duration::from_secs(10), |l| {
        increments(l, "t.tetsuo_http_requests_total", "#class:4xx") >= 1.0
    });
    assert_eq!(
        increments(&lines, "t.tetsuo_http_requests_total", "#class:2xx"),
        1.0,
        "{lines:#?}"
    );
    assert_eq!(
        increments(&lines, "t.tetsuo_http_requests_total", "#class:4xx"),
        1.0,
        "{lines:#?}"
    );
}

#[cfg(feature = "otlp")]
mod otlp {
    use std::convert::Infallible;
    use std::sync::mpsc;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::BodyExt as _;
    use prost::Message as _;
    use serde_json::Value;
    use tetsuo::http::server::Server as HttpServer;
    use tetsuo::http::{Body, service_fn};

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    /// An OTLP/HTTP collector: every export's content type and body.
    struct Collector {
        addr: SocketAddr,
        exports: mpsc::Receiver<(String, Bytes)>,
        _runtime: tokio::runtime::Runtime,
    }

    impl Collector {
        fn start() -> Collector {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let (tx, exports) = mpsc::channel();
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            let addr = listener.local_addr().unwrap();
            runtime.spawn(async move {
                let service = service_fn(move |req: Request<Body>| {
                    let tx = tx.clone();
                    async move {
                        assert_eq!(req.uri().path(), "/v1/traces");
                        let kind = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let answer = if kind == "application/json" { "{}" } else { "" };
                        let _ = tx.send((kind.clone(), body));
                        let mut res = Response::new(Body::from(answer));
                        res.headers_mut()
                            .insert("content-type", kind.parse().unwrap());
                        Ok::<_, Infallible>(res)
                    }
                });
                let _ = HttpServer::builder()
                    .build()
                    .serve_tcp(listener, service)
                    .await;
            });
            Collector {
                addr,
                exports,
                _runtime: runtime,
            }
        }

        fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// Spans (as OTLP/JSON values, with their resource's service.name)
        /// until `done` is satisfied with them, or 15 s.
        fn spans_until(&self, done: impl Fn(&[(String, Value)]) -> bool) -> Vec<(String, Value)> {
            let mut spans = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(15);
            while !done(&spans) && Instant::now() < deadline {
                let Ok((kind, body)) = self.exports.recv_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                let export: Value = match kind.as_str() {
                    "application/json" => serde_json::from_slice(&body).unwrap(),
                    "application/x-protobuf" => json_of_protobuf(&body),
                    other => panic!("content type {other}"),
                };
                for rs in export["resourceSpans"].as_array().unwrap() {
                    let service = rs["resource"]["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|a| a["key"] == "service.name")
                        .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
                        .unwrap();
                    for ss in rs["scopeSpans"].as_array().unwrap() {
                        for span in ss["spans"].as_array().unwrap() {
                            spans.push((service.clone(), span.clone()));
                        }
                    }
                }
            }
            spans
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A protobuf export decoded, as the few JSON fields the checks read.
    fn json_of_protobuf(body: &[u8]) -> Value {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        let export = ExportTraceServiceRequest::decode(body).unwrap();
        let attrs = |kv: &[opentelemetry_proto::tonic::common::v1::KeyValue]| -> Value {
            kv.iter()
                .map(|a| {
                    let value = match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Any::StringValue(s)) => serde_json::json!({ "stringValue": s }),
                        Some(Any::IntValue(i)) => serde_json::json!({ "intValue": i.to_string() }),
                        _ => Value::Null,
                    };
                    serde_json::json!({ "key": a.key, "value": value })
                })
                .collect()
        };
        let resource_spans: Vec<Value> = export
            .resource_spans
            .iter()
            .map(|rs| {
                let scope_spans: Vec<Value> = rs
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let spans: Vec<Value> = ss
                            .spans
                            .iter()
                            .map(|s| {
                                serde_json::json!({
                                    "name": s.name,
                                    "traceId": hex(&s.trace_id),
                                    "spanId": hex(&s.span_id),
                                    "parentSpanId": hex(&s.parent_span_id),
                                    "attributes": attrs(&s.attributes),
                                })
                            })
                            .collect();
                        serde_json::json!({ "spans": spans })
                    })
                    .collect();
                let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                serde_json::json!({
                    "resource": { "attributes": attrs(resource) },
                    "scopeSpans": scope_spans,
                })
            })
            .collect();
        serde_json::json!({ "resourceSpans": resource_spans })
    }

    fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
        span["attributes"]
            .as_array()?
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| &a["value"])
    }

    /// Spans leave in batches every 100 ms (the SDK's OTEL_BSP_SCHEDULE_DELAY).
    const FAST_BATCHES: &[(&str, &str)] = &[("OTEL_BSP_SCHEDULE_DELAY", "100")];

    fn otlp_export_joins_the_callers_trace(protocol: &str) {
        let collector = Collector::start();
        let url = collector.url();
        let mut server = Server::start_with_env(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--otlp-endpoint",
                &url,
                "--otlp-protocol",
                protocol,
            ],
            FAST_BATCHES,
        );
        let traced = format!("traceparent: 00-{TRACE}-{PARENT}-01\r\n");
        assert!(get(server.addr(), "/hello", &traced).starts_with("HTTP/1.1 200 "));
        assert!(get(server.addr(), "/missing", "").starts_with("HTTP/1.1 404 "));
        let spans = collector.spans_until(|s| s.len() >= 2);
        let ours = spans
            .iter()
            .find(|(_, s)| s["traceId"] == TRACE)
            .unwrap_or_else(|| panic!("no span of the caller's trace in {spans:#?}"));
        assert_eq!(ours.0, "tetsuo-serve");
        assert_eq!(ours.1["name"], "http.request");
        assert_eq!(ours.1["parentSpanId"], PARENT);
        assert_eq!(
            attribute(&ours.1, "http.response.status_code").unwrap()["intValue"],
            "200"
        );
        assert_eq!(attribute(&ours.1, "method").unwrap()["stringValue"], "GET");
        // A request without a traceparent starts a trace of its own.
        let root = spans
            .iter()
            .find(|(_, s)| s["traceId"] != TRACE)
            .unwrap_or_else(|| panic!("no second span in {spans:#?}"));
        assert!(
            root.1["parentSpanId"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{root:#?}"
        );
        assert_eq!(
            attribute(&root.1, "http.response.status_code").unwrap()["intValue"],
            "404"
        );
        sigterm(&mut server);
    }

    #[test]
    fn otlp_json_export_joins_the_callers_trace() {
        otlp_export_joins_the_callers_trace("json");
    }

    #[test]
    fn otlp_protobuf_export_joins_the_callers_trace() {
        otlp_export_joins_the_callers_trace("protobuf");
    }

    #[test]
    fn a_trace_crosses_the_proxy_to_its_backend() {
        let collector = Collector::start();
        let url = collector.url();
        let backend = Server::start_with_env(
            &["serve", "--listen", "127.0.0.1:0", "--otlp-endpoint", &url],
            FAST_BATCHES,
        );
        let upstream = format!("http://{}", backend.addr());
        let proxy = Server::start_with_env(
            &[
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &upstream,
                "--otlp-endpoint",
                &url,
            ],
            FAST_BATCHES,
        );
        let traced = format!("traceparent: 00-{TRACE}-{PARENT}-01\r\n");
        let answer = get(proxy.addr(), "/hello", &traced);
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        let in_trace = |spans: &[(String, Value)]| {
            spans.iter().filter(|(_, s)| s["traceId"] == TRACE).count() >= 2
        };
        let spans = collector.spans_until(in_trace);
        assert!(in_trace(&spans), "{spans:#?}");
        let by = |service: &str| {
            spans
                .iter()
                .find(|(svc, s)| svc == service && s["traceId"] == TRACE)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| panic!("no {service} span in {spans:#?}"))
        };
        let (at_proxy, at_backend) = (by("tetsuo-proxy"), by("tetsuo-serve"));
        assert_eq!(at_proxy["parentSpanId"], PARENT);
        // The backend's span is the child of the proxy's exported span.
        assert_eq!(at_backend["parentSpanId"], at_proxy["spanId"]);
    }
}
