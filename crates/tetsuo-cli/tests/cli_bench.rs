//! `tetsuo bench` against `tetsuo serve` and `tetsuo echo`: every mode
//! makes exactly the round trips asked for, the server counts the same
//! number, nothing fails, and an open-loop run keeps its rate.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, Server};

/// `tetsuo bench ARGS --json`, killed if it runs past a minute; its exit
/// status and summary.
fn run(args: &[&str]) -> (bool, Value) {
    let mut child = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tetsuo bench {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    (status.success(), serde_json::from_slice(&out).unwrap())
}

fn bench(args: &[&str]) -> Value {
    let (ok, result) = run(args);
    assert!(ok, "{result:#}");
    result
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
    let (ok, r) = run(&["-c", "2", "-d", "0.5", &url]);
    assert!(!ok);
    assert_eq!(r["requests"], 0);
    assert!(r["errors"]["connect"].as_u64().unwrap() > 0, "{r:#}");
    // With a request count instead of a duration, the run gives up once
    // nothing has been answered for --timeout (it used to retry forever).
    let started = Instant::now();
    let (ok, r) = run(&["-c", "2", "-n", "100", "--timeout", "1", &url]);
    assert!(!ok);
    assert!(r["errors"]["connect"].as_u64().unwrap() > 0, "{r:#}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // An HTTP/1.1-only server spoken to in HTTP/2: errors, then the same.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = plain.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in plain.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let url = format!("http://{addr}/");
    let (ok, r) = run(&["--http2", "-c", "1", "-n", "10", "--timeout", "1", &url]);
    assert!(!ok);
    assert_eq!(r["requests"], 0, "{r:#}");
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
    assert!((330.0..=420.0).contains(&rps), "{r:#}");
    // On HTTP/2 the rate is the total too, whatever -m.
    let r = bench(&[
        "--http2", "-c", "2", "-m", "8", "-d", "2", "--rate", "300", &url,
    ]);
    let n = r["requests"].as_u64().unwrap();
    assert!((520..=610).contains(&n), "{r:#}");
    // A short open-loop run does not outlast its duration by an interval.
    let started = Instant::now();
    let r = bench(&["-c", "4", "-d", "1", "--rate", "2", &url]);
    assert!(started.elapsed() < Duration::from_secs(3), "{r:#}");

    let missing = format!("http://{}/missing", server.addr());
    let r = bench(&["-c", "2", "-n", "100", &missing]);
    assert_eq!(r["requests"], 100);
    assert_eq!(r["non_2xx_3xx"], 100, "{r:#}");
}
