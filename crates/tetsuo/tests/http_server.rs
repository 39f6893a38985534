//! tetsuo's HTTP/1.1 server against hyper's client, raw sockets and axum.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::IterStream;
use tetsuo::http::server::{Builder, ClientAddr, Handle, Server};
use tetsuo::http::{Body, service_fn, upgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The test application: the CLI's endpoints in miniature.
async fn app(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match path.as_str() {
        "/hello" => Response::new(Body::from("Hello, World!")),
        "/echo" => Response::new(Body::wrap(req.into_body())),
        "/peer" => {
            let peer = req.extensions().get::<ClientAddr>().unwrap().0;
            Response::new(Body::from(peer.to_string()))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow done"))
        }
        "/slow-count" => {
            // Thinks first, then reads the body.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let n = req.into_body().collect().await.unwrap().to_bytes().len();
            Response::new(Body::from(n.to_string()))
        }
        "/count" => {
            // Reads the whole body, answers with its length.
            let n = req.into_body().collect().await.unwrap().to_bytes().len();
            Response::new(Body::from(n.to_string()))
        }
        "/upgrade" => {
            let on_upgrade = upgrade::on(&mut { req });
            tokio::spawn(async move {
                let mut io = on_upgrade.await.unwrap();
                let mut buf = vec![0; 64];
                loop {
                    let n = io.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    io.write_all(&buf[..n]).await.unwrap();
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "echo")
                .header("connection", "upgrade")
                .body(Body::empty())
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap(),
    })
}

/// Starts a server with `builder`'s settings on an ephemeral loopback port.
async fn start(builder: Builder) -> (SocketAddr, Handle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = builder.build();
    let handle = server.handle();
    tokio::spawn(async move { server.serve_tcp(listener, service_fn(app)).await });
    (addr, handle)
}

fn hyper_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends raw bytes, reads until the server closes (or `limit` bytes).
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("server closed in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn hyper_client_gets_hello_and_keeps_the_connection() {
    let (addr, handle) = start(Server::builder()).await;
    let client = hyper_client();
    for _ in 0..3 {
        let res = client
            .get(format!("http://{addr}/hello").parse().unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().contains_key("date"));
        assert_eq!(res.headers()["content-length"], "13");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "Hello, World!");
    }
    // One pooled connection served all three.
    assert_eq!(handle.open_connections(), 1);
}

#[tokio::test]
async fn hyper_client_posts_fixed_and_streamed_bodies_to_echo() {
    let (addr, _handle) = start(Server::builder()).await;
    let client = hyper_client();
    let payload = Bytes::from(vec![b'x'; 300_000]);
    let req = Request::post(format!("http://{addr}/echo"))
        .body(Full::new(payload.clone()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, payload);

    // A chunked upload from a stream of frames, echoed as it arrives.
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = (0..50)
        .map(|i| Ok(http_body::Frame::data(Bytes::from(format!("chunk {i};")))))
        .collect();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{addr}/echo"))
        .body(StreamBody::new(IterStream(chunks.into_iter())))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let expected: String = (0..50).map(|i| format!("chunk {i};")).collect();
    assert_eq!(body, expected);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (addr, _handle) = start(Server::builder()).await;
    let out = raw_exchange(
        addr,
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    let slow = out.find("slow done").unwrap();
    let hello = out.find("Hello, World!").unwrap();
    let missing = out.find("404 Not Found").unwrap();
    assert!(slow < hello && hello < missing, "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 3);
}

#[tokio::test]
async fn expect_100_continue_is_sent_when_the_service_reads_the_body() {
    let (addr, _handle) = start(Server::builder()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n5"), "{text}");

    // A service that answers without reading gets no 100 sent, and the
    // connection closes after the answer (the body was never sent).
    let out = raw_exchange(
        addr,
        b"POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(!out.contains("100 Continue"));
    assert!(out.contains("connection: close"), "{out}");
}

#[tokio::test]
async fn bad_requests_get_their_status_and_a_close() {
    let (addr, _handle) = start(Server::builder()).await;
    let out = raw_exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("connection: close"));
    let big = format!(
        "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let out = raw_exchange(addr, big.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
}

#[tokio::test]
async fn upgrade_hands_the_socket_and_early_bytes_to_the_service() {
    let (addr, _handle) = start(Server::builder()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The first bytes of the new protocol ride along with the request.
    s.write_all(
        b"GET /upgrade HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nearly",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let mut echoed = [0; 5];
    s.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"early");
    s.write_all(b"later").await.unwrap();
    s.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"later");
}

#[tokio::test]
async fn the_service_sees_the_client_address() {
    let (addr, _handle) = start(Server::builder()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with(&local.to_string()), "{out}");
}

#[tokio::test]
async fn per_ip_cap_and_rate_limit_refuse_without_running_the_service() {
    let (addr, _handle) = start(Server::builder().max_connections_per_ip(2)).await;
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    let out = raw_exchange(addr, b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert!(!out.contains("Hello"));
    // Another loopback address is another client.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(addr).await.unwrap();
    other
        .write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    other.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with("Hello, World!"), "{out}");

    // Three new connections per second at most, bursts of three.
    let (addr, _handle) = start(Server::builder().connection_rate_per_ip(3.0, 3)).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let out = raw_exchange(
            addr,
            b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        statuses.push(out[9..12].to_owned());
    }
    assert_eq!(statuses, ["200", "200", "200", "503", "503"]);
}

#[tokio::test]
async fn header_timeout_closes_a_slowloris_while_others_are_served() {
    let (addr, _handle) =
        start(Server::builder().header_read_timeout(Some(Duration::from_millis(300)))).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Trickle a header byte now and then; the clock started at the first byte.
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    let normal = async {
        for _ in 0..3 {
            let out = raw_exchange(
                addr,
                b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await;
            assert!(out.ends_with("Hello, World!"));
        }
    };
    tokio::join!(trickle, normal);
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let (addr, _handle) =
        start(Server::builder().idle_timeout(Some(Duration::from_millis(200)))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    // The server answers, then closes once idle: read_to_end returns.
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out).ends_with("Hello, World!"));
}

#[tokio::test]
async fn max_requests_per_connection_closes_after_the_last() {
    let (addr, _handle) = start(Server::builder().max_requests_per_connection(2)).await;
    let out = raw_exchange(
        addr,
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    assert_eq!(out.matches("connection: close").count(), 1, "{out}");
}

#[tokio::test]
async fn graceful_drain_finishes_in_flight_and_refuses_new() {
    let (addr, handle) = start(Server::builder()).await;
    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0; 1024];
    let _ = idle.read(&mut first).await.unwrap();
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(handle.is_ready());

    let drain = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown(Duration::from_secs(5)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!handle.is_ready());
    // The idle connection is closed at once.
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // The in-flight request completes, told that the connection closes.
    let mut out = String::new();
    busy.read_to_string(&mut out).await.unwrap();
    assert!(out.contains("connection: close"), "{out}");
    assert!(out.ends_with("slow done"), "{out}");
    let report = drain.await.unwrap();
    assert_eq!(report.forced, 0);
    // Nothing listens any more.
    assert!(
        TcpStream::connect(addr).await.is_err()
            || raw_exchange(addr, b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .is_empty()
    );
}

#[tokio::test]
async fn an_axum_router_runs_on_the_server() {
    use axum::routing::{get, post};
    let router = axum::Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .route(
            "/len",
            post(|body: Bytes| async move { body.len().to_string() }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    tokio::spawn(async move { server.serve_tcp(listener, router).await });
    let client = hyper_client();
    let res = client
        .get(format!("http://{addr}/hello").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "hello from axum"
    );
    let req = Request::post(format!("http://{addr}/len"))
        .body(Full::new(Bytes::from_static(b"12345")))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "5");
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_body_streams_through_echo_in_constant_memory() {
    const CHUNK: usize = 256 * 1024;
    const TOTAL: u64 = 1 << 30;
    let (addr, _handle) = start(Server::builder()).await;
    let before = peak_rss_kib();
    // An upload generated on the fly, never held whole.
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let frames = (0..TOTAL / CHUNK as u64)
        .map(move |_| Ok::<_, Infallible>(http_body::Frame::data(chunk.clone())));
    let body = StreamBody::new(IterStream(frames));
    let client = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{addr}/echo"))
        .header("content-length", TOTAL.to_string())
        .body(body)
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-length"], TOTAL.to_string());
    let mut body = res.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            assert!(data.iter().all(|&b| b == 0x5a));
            received += data.len() as u64;
        }
    }
    assert_eq!(received, TOTAL);
    let grown = peak_rss_kib().saturating_sub(before);
    // Client, server and their buffers: a few MiB, never the body.
    eprintln!("peak RSS grew by {grown} KiB");
    assert!(grown < 64 * 1024, "peak RSS grew by {grown} KiB");
}

/// One HTTP/1.1 request over any stream with hyper's connection-level
/// client; returns the status and body.
async fn hyper_over<T>(io: T, req: Request<Full<Bytes>>) -> (StatusCode, Bytes)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let res = sender.send_request(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn hyper_over_tls_to_serve_tls() {
    use support::pki::{Ca, Validity};
    let ca = Ca::root("http test CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    tokio::spawn(async move { server.serve_tls(listener, acceptor, service_fn(app)).await });

    let connector = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .build()
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    let req = Request::post("/echo")
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(b"over TLS")))
        .unwrap();
    let (status, body) = hyper_over(tls, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "over TLS");
}

#[tokio::test]
async fn hyper_over_a_unix_socket_to_serve_unix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = Server::builder().build();
    tokio::spawn(async move { server.serve_unix(listener, service_fn(app)).await });
    let io = tokio::net::UnixStream::connect(&path).await.unwrap();
    let req = Request::get("/hello")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = hyper_over(io, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "Hello, World!");
}

#[tokio::test]
async fn a_stalled_request_body_times_out_with_408() {
    let (addr, _handle) =
        start(Server::builder().body_read_timeout(Some(Duration::from_millis(200)))).await;
    // Promises ten bytes, sends three, then waits.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_is_cut_off() {
    let (addr, _handle) = start(
        Server::builder()
            .body_read_timeout(Some(Duration::from_secs(1)))
            .min_body_rate(1000),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    // A byte every 100 ms: never silent for a second, but far below 1000 B/s.
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if s.write_all(b"x").await.is_err() || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            out.extend_from_slice(&buf[..n]);
            if n == 0 || !out.is_empty() {
                break;
            }
        }
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn thread_per_core_serves_on_one_port_and_drains() {
    let server = Server::builder().build();
    let handle = server.handle();
    let cores = server
        .serve_per_core(
            tetsuo::net::TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap()),
            2,
            service_fn(app),
        )
        .unwrap();
    let addr = cores.local_addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for _ in 0..8 {
            let out = raw_exchange(
                addr,
                b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await;
            assert!(out.ends_with("Hello, World!"), "{out}");
        }
        let report = handle.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.forced, 0);
    });
    // Every serving thread ends once drained.
    cores.join();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn pipelined_requests_before_a_half_close_are_all_answered() {
    let (addr, _handle) = start(Server::builder()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // The client is done sending; both answers must still come.
    s.shutdown().await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.contains("slow done") && out.ends_with("Hello, World!"),
        "{out}"
    );
}

#[tokio::test]
async fn a_request_rejected_with_its_body_never_reaches_the_service() {
    let (addr, _handle) = start(Server::builder()).await;
    // The head is fine; the chunk size in the same packet is not.
    let out = raw_exchange(
        addr,
        b"POST /slow HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert!(!out.contains("slow done"), "{out}");
}

#[tokio::test]
async fn a_client_waiting_for_100_continue_is_not_timed_out_for_the_services_delay() {
    // The service thinks for 300 ms, longer than the timeout; the client
    // gets 250 ms to answer `100 Continue` (room for a loaded machine).
    let (addr, _handle) =
        start(Server::builder().body_read_timeout(Some(Duration::from_millis(250)))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /slow-count HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("5"),
        "{out}"
    );
}

#[tokio::test]
async fn head_gets_the_length_of_the_get_and_no_body() {
    let (addr, _handle) = start(Server::builder()).await;
    let out = raw_exchange(
        addr,
        b"HEAD /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("content-length: 13\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "no body after the head: {out}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn the_end_of_a_drain_cuts_stalled_tls_handshakes() {
    use support::pki::{Ca, Validity};
    let ca = Ca::root("drain CA");
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(ca.server(&["localhost"], Validity::Current).identity())
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .tls_handshake_timeout(Some(Duration::from_secs(30)))
        .build();
    let handle = server.handle();
    tokio::spawn(async move { server.serve_tls(listener, acceptor, service_fn(app)).await });
    // Connects and never says hello.
    let _silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = handle.shutdown(Duration::from_millis(200)).await;
    assert_eq!(report.forced, 1);
    assert!(report.elapsed < Duration::from_secs(5), "{report:?}");
}
