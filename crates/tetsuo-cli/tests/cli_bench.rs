//! `tetsuo bench` against `tetsuo serve` and `tetsuo echo`: every mode
//! makes exactly the round trips asked for, the server counts the same
//! number, nothing fails, and an open-loop run keeps its rate.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{BIN, Server};

fn bench(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The server's count of 2xx requests, from /metrics.
fn served(server: &Server) -> u64 {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .filter(|l| l.starts_with("tetsuo_http_requests_total{") && l.contains("class=\"2xx\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn clean(result: &Value, requests: u64) {
    assert_eq!(result["requests"], requests, "{result:#}");
    assert_eq!(result["errors"], serde_json::json!({}), "{result:#}");
    assert_eq!(result["non_2xx_3xx"], 0, "{result:#}");
    assert!(
        result["latency_us"]["p50"].as_u64().unwrap() > 0,
        "{result:#}"
    );
    assert!(
        result["latency_us"]["max"].as_u64().unwrap()
            >= result["latency_us"]["p99"].as_u64().unwrap()
    );
}

#[test]
fn http1_http2_and_websocket_round_trips_are_counted_exactly() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", server.addr());
    let before = served(&server);

    let hello = format!("{base}/hello");
    let r = bench(&["-c", "4", "-t", "2", "-n", "500", &hello]);
    clean(&r, 500);
    assert_eq!(r["mode"], "HTTP/1.1 requests");
    // "Hello, World!" and a head, 500 times.
    assert!(r["bytes_read"].as_u64().unwrap() > 500 * 13);

    let r = bench(&["--http2", "-c", "2", "-m", "8", "-n", "400", &hello]);
    clean(&r, 400);
    assert_eq!(r["mode"], "HTTP/2 requests");

    let echo = format!("{base}/echo");
    let r = bench(&[
        "-c", "2", "-n", "50", "-X", "POST", "--size", "100000", &echo,
    ]);
    clean(&r, 50);
    assert!(r["bytes_read"].as_u64().unwrap() >= 50 * 100_000);
    let r = bench(&[
        "--http2", "-c", "1", "-m", "4", "-n", "20", "-X", "POST", "--size", "300000", &echo,
    ]);
    clean(&r, 20);
    assert!(r["bytes_read"].as_u64().unwrap() >= 20 * 300_000);

    // The server saw each of them (plus this count's own /metrics).
    assert_eq!(served(&server) - before, 500 + 400 + 50 + 20 + 1);

    let ws = format!("ws://{}/ws", server.addr());
    let r = bench(&["-c", "3", "-n", "300", "--size", "1000", &ws]);
    clean(&r, 300);
    assert_eq!(r["bytes_read"], 300 * 1000);
}

#[test]
fn tcp_echo_round_trips_and_errors_by_kind() {
    let echo = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let url = format!("tcp://{}", echo.addr());
    let r = bench(&["-c", "4", "-n", "1000", "--size", "512", &url]);
    clean(&r, 1000);
    assert_eq!(r["bytes_written"], 1000 * 512);

    // Nothing listens: connect errors, and a non-zero exit.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(BIN)
        .args(["bench", "-c", "2", "-d", "0.5", "--json", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["requests"], 0);
    assert!(r["errors"]["connect"].as_u64().unwrap() > 0, "{r:#}");
}

#[test]
fn an_open_loop_run_keeps_its_rate_and_counts_statuses() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"]);
    let url = format!("http://{}/hello", server.addr());
    let r = bench(&["-c", "4", "-d", "2", "--rate", "400", &url]);
    let n = r["requests"].as_u64().unwrap();
    // 400/s for 2 s: 800, give or take the start and the end.
    assert!((700..=810).contains(&n), "{r:#}");
    let rps = r["requests_per_sec"].as_f64().unwrap();
    assert!((350.0..=410.0).contains(&rps), "{r:#}");

    let missing = format!("http://{}/missing", server.addr());
    let r = bench(&["-c", "2", "-n", "100", &missing]);
    assert_eq!(r["requests"], 100);
    assert_eq!(r["non_2xx_3xx"], 100, "{r:#}");
}
