//! `tetsuo serve` as a user runs it: its endpoints over real sockets, and
//! graceful drain on SIGTERM.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::Server;

/// One request on a fresh connection; the whole answer as text.
fn request(server: &Server, raw: &str) -> String {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn get(server: &Server, path: &str) -> String {
    request(
        server,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serve_answers_hello_echo_health_and_metrics() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(
        server.endpoint.starts_with("http://"),
        "{}",
        server.endpoint
    );
    let hello = get(&server, "/hello");
    assert!(hello.starts_with("HTTP/1.1 200 OK\r\n"), "{hello}");
    assert!(hello.contains("content-type: text/plain"));
    assert!(hello.ends_with("\r\n\r\nHello, World!"), "{hello}");

    let echo = request(
        &server,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(echo.starts_with("HTTP/1.1 200 OK\r\n"), "{echo}");
    assert!(echo.contains("hello") && echo.contains(" world"), "{echo}");

    let health = get(&server, "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("ok\n"),
        "{health}"
    );

    let metrics = get(&server, "/metrics");
    assert!(
        metrics.contains("tetsuo_http_requests_total{class=\"2xx\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tetsuo_server_connections_accepted_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tetsuo_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    let missing = get(&server, "/nothing-here");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let page = get(&server, "/");
    assert!(
        page.contains("text/html") && page.contains("<h1>tetsuo serve</h1>"),
        "{page}"
    );
}

#[test]
fn serve_files_with_ranges_and_conditional_get() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("data.bin"), &content).unwrap();
    let root = dir.path().to_str().unwrap();
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0", "--root", root]);

    let full = get(&server, "/files/data.bin");
    assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full}");
    assert!(full.contains("content-length: 10000\r\n"));
    let etag = full
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .to_owned();

    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"GET /files/data.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..split]);
    assert!(
        head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(
        head.contains("content-range: bytes 100-199/10000\r\n"),
        "{head}"
    );
    assert_eq!(&raw[split..], &content[100..200]);

    let not_modified = request(
        &server,
        &format!(
            "GET /files/data.bin HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n"),
        "{not_modified}"
    );

    let unsatisfiable = request(
        &server,
        "GET /files/data.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=20000-\r\nConnection: close\r\n\r\n",
    );
    assert!(
        unsatisfiable.starts_with("HTTP/1.1 416 "),
        "{unsatisfiable}"
    );
    assert!(
        unsatisfiable.contains("content-range: bytes */10000"),
        "{unsatisfiable}"
    );

    let escape = get(&server, "/files/../Cargo.toml");
    assert!(escape.starts_with("HTTP/1.1 404 "), "{escape}");
}

#[cfg(unix)]
#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let mut server = Server::start(&["serve", "--listen", "127.0.0.1:0", "--drain-timeout", "10"]);
    // A request whose body is still arriving when the signal comes.
    let mut busy = TcpStream::connect(server.addr()).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nfirst")
        .unwrap();
    let mut first = [0u8; 1];
    // The echo has started (its head is on the way) before we signal.
    busy.read_exact(&mut first).unwrap();
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    // New connections are no longer accepted.
    let refused = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1));
    assert!(refused.is_err(), "the listener should be closed");
    busy.write_all(b"-last").unwrap();
    let mut rest = Vec::new();
    busy.read_to_end(&mut rest).unwrap();
    let mut answer = vec![first[0]];
    answer.extend(rest);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.ends_with("first-last"), "{answer}");
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}
