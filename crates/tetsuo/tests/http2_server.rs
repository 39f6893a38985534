//! tetsuo's server speaking HTTP/2 to the `h2` crate's client: prior
//! knowledge (h2c) and TLS with ALPN, bodies under flow control, trailers,
//! many streams at once, graceful drain, and a Rapid Reset attack that
//! ends only its own connection.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::pki::{Ca, Validity};
use tetsuo::http::server::{ClientAddr, Handle, Server};
use tetsuo::http::{Body, service_fn};
use tokio::net::{TcpListener, TcpStream};

async fn app(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match path.as_str() {
        "/hello" => Response::new(Body::from("Hello, World!")),
        "/echo" => Response::new(Body::wrap(req.into_body())),
        "/count" => {
            let n = req.into_body().collect().await.unwrap().to_bytes().len();
            Response::new(Body::from(n.to_string()))
        }
        "/peer" => {
            let peer = req.extensions().get::<ClientAddr>().unwrap().0;
            Response::new(Body::from(format!("{} {:?}", peer, req.version())))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow done"))
        }
        "/page" => {
            // Server push, when the client accepts it.
            if let Some(push) = req.extensions().get::<tetsuo::http::server::Push>() {
                let css = Request::get("/style.css").body(()).unwrap().into_parts().0;
                push.push(css, Response::new(Body::from("body { margin: 0 }")))
                    .unwrap();
            }
            Response::new(Body::from("<link rel=stylesheet href=/style.css>"))
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap(),
    })
}

async fn start() -> (SocketAddr, Handle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    let handle = server.handle();
    tokio::spawn(async move { server.serve_tcp(listener, service_fn(app)).await });
    (addr, handle)
}

type SendRequest = h2::client::SendRequest<Bytes>;

async fn h2c(addr: SocketAddr) -> SendRequest {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Sends a request (with `body` and `trailers`, if any) and collects the
/// response: status, body, trailers.
async fn exchange(
    client: &mut SendRequest,
    req: Request<()>,
    body: &[u8],
    trailers: Option<HeaderMap>,
) -> (StatusCode, Bytes, Option<HeaderMap>) {
    let end = body.is_empty() && trailers.is_none();
    let mut ready = client.clone().ready().await.unwrap();
    let (response, mut send) = ready.send_request(req, end).unwrap();
    if !end {
        // Send within the flow-control window as it opens, while the
        // response is read (an echo needs both at once).
        let mut rest = Bytes::copy_from_slice(body);
        tokio::spawn(async move {
            while !rest.is_empty() {
                send.reserve_capacity(rest.len());
                let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
                    .await
                    .unwrap()
                    .unwrap();
                let chunk = rest.split_to(cap.min(rest.len()));
                send.send_data(chunk, rest.is_empty() && trailers.is_none())
                    .unwrap();
            }
            if let Some(t) = trailers {
                send.send_trailers(t).unwrap();
            }
        });
    }
    let response = response.await.unwrap();
    let status = response.status();
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    (status, data.into(), trailers)
}

fn get(path: &str) -> Request<()> {
    Request::get(format!("http://localhost{path}"))
        .body(())
        .unwrap()
}

#[tokio::test]
async fn h2_client_with_prior_knowledge() {
    let (addr, _) = start().await;
    let mut client = h2c(addr).await;
    let (status, body, _) = exchange(&mut client, get("/hello"), b"", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "Hello, World!");
    let (_, body, _) = exchange(&mut client, get("/peer"), b"", None).await;
    assert!(body.ends_with(b"HTTP/2.0"), "{body:?}");
    let (status, _, _) = exchange(&mut client, get("/nope"), b"", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // HTTP/1.1 still works on the same listener.
    let res = tetsuo::http::client::Client::new()
        .get(format!("http://{addr}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bodies_under_flow_control_and_trailers_both_ways() {
    let (addr, _) = start().await;
    let mut client = h2c(addr).await;
    // 3 MiB up and back through the echo: more than every window.
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 253) as u8).collect();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "42".parse().unwrap());
    let req = Request::post("http://localhost/echo").body(()).unwrap();
    let (status, body, back) = exchange(&mut client, req, &data, Some(trailers)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), data.len());
    assert!(body == data);
    assert_eq!(back.unwrap()["x-checksum"], "42");
    // A body the service counts.
    let req = Request::post("http://localhost/count").body(()).unwrap();
    let (_, body, _) = exchange(&mut client, req, &data[..100_000], None).await;
    assert_eq!(body, "100000");
}

#[tokio::test]
async fn many_streams_at_once_on_one_connection() {
    let (addr, _) = start().await;
    let mut client = h2c(addr).await;
    // One exchange first, so that the client knows the server's limit of
    // 100 streams and queues the rest.
    exchange(&mut client, get("/hello"), b"", None).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let path = if i % 2 == 0 { "/hello" } else { "/slow" };
            exchange(&mut client, get(path), b"", None).await
        }));
    }
    for t in tasks {
        let (status, _, _) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn h2_over_tls_chosen_by_alpn() {
    let ca = Ca::root("h2 test CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    tokio::spawn(async move { server.serve_tls(listener, acceptor, service_fn(app)).await });
    for alpn in [&["h2"][..], &["http/1.1"][..]] {
        let connector = tetsuo::tls::TlsConnector::builder()
            .webpki_roots(false)
            .add_ca_der(ca.der())
            .alpn(alpn.iter().copied())
            .build()
            .unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = connector.connect("localhost", tcp).await.unwrap();
        if alpn == ["h2"] {
            assert_eq!(tls.info().alpn_protocol(), Some(&b"h2"[..]));
            let (mut client, conn) = h2::client::handshake(tls).await.unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let req = Request::get("https://localhost/hello").body(()).unwrap();
            let (status, body, _) = exchange(&mut client, req, b"", None).await;
            assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, World!"[..]));
        } else {
            // HTTP/1.1 by ALPN on the same listener.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut tls = tls;
            tls.write_all(b"GET /hello HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            tls.read_to_string(&mut out).await.unwrap();
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        }
    }
}

#[tokio::test]
async fn graceful_drain_sends_goaway_and_finishes_the_stream_in_flight() {
    let (addr, handle) = start().await;
    let client = h2c(addr).await;
    let slow = {
        let mut client = client.clone();
        tokio::spawn(async move { exchange(&mut client, get("/slow"), b"", None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let drain = tokio::spawn(async move { handle.shutdown(Duration::from_secs(5)).await });
    let (status, body, _) = slow.await.unwrap();
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"slow done"[..]));
    let report = drain.await.unwrap();
    assert_eq!(report.forced, 0);
    // The connection is gone: a new request fails.
    let refused = async {
        let mut ready = client.ready().await?;
        let (response, _) = ready.send_request(get("/hello"), true)?;
        response.await
    }
    .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn rapid_reset_ends_its_connection_and_others_are_served() {
    use tetsuo_proto::h2::{ErrorCode, frame};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _) = start().await;
    // Raw frames: each stream's HEADERS and RST_STREAM on the wire (a
    // client library would cancel before sending).
    let mut attacker = TcpStream::connect(addr).await.unwrap();
    let mut wire = frame::PREFACE.to_vec();
    frame::encode_settings(&Default::default(), &mut wire);
    frame::encode_settings_ack(&mut wire);
    let mut encoder = tetsuo_proto::hpack::Encoder::new();
    for i in 0..500u32 {
        let mut block = Vec::new();
        encoder.encode(
            [
                (&b":method"[..], &b"GET"[..], false),
                (b":scheme", b"http", false),
                (b":authority", b"localhost", false),
                (b":path", b"/slow", false),
            ],
            &mut block,
        );
        frame::encode_headers(1 + 2 * i, &block, true, 16_384, &mut wire);
        frame::encode_rst_stream(1 + 2 * i, ErrorCode::CANCEL, &mut wire);
    }
    let _ = attacker.write_all(&wire).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), attacker.read_to_end(&mut got)).await;
    // The last frame is a GOAWAY with ENHANCE_YOUR_CALM.
    let mut at = 0;
    let mut goaway = None;
    while let Some(h) = frame::FrameHeader::parse(&got[at..]) {
        let payload = &got[at + 9..at + 9 + h.len as usize];
        if h.kind == frame::kind::GOAWAY {
            goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
        at += 9 + h.len as usize;
    }
    assert_eq!(goaway, Some(ErrorCode::ENHANCE_YOUR_CALM.0));
    let mut other = h2c(addr).await;
    let (status, _, _) = exchange(&mut other, get("/hello"), b"", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// Sends `wire` after a client preface and reads what the server answers
/// until it closes: the GOAWAY code, and whether a 431 came.
async fn attack(addr: SocketAddr, wire: &[u8]) -> (Option<u32>, bool) {
    use tetsuo_proto::h2::frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut all = frame::PREFACE.to_vec();
    frame::encode_settings(&Default::default(), &mut all);
    frame::encode_settings_ack(&mut all);
    all.extend_from_slice(wire);
    // The server may close before it read everything: a reset is fine.
    let _ = s.write_all(&all).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    let (mut goaway, mut too_large) = (None, false);
    let mut at = 0;
    while let Some(h) = frame::FrameHeader::parse(&got[at..]) {
        let end = (at + 9 + h.len as usize).min(got.len());
        let payload = &got[at + 9..end];
        if h.kind == frame::kind::GOAWAY && payload.len() >= 8 {
            goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
        // 431 is static-table-less: ":status" (index 8's name) literal.
        if h.kind == frame::kind::HEADERS && payload.windows(3).any(|w| w == b"431") {
            too_large = true;
        }
        at = end;
    }
    (goaway, too_large)
}

fn request_block(encoder: &mut tetsuo_proto::hpack::Encoder, extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    let fields = [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", b"localhost"),
        (b":path", b"/slow"),
    ];
    encoder.encode(
        fields.iter().chain(extra).map(|(n, v)| (*n, *v, false)),
        &mut block,
    );
    block
}

/// One connection per published HTTP/2 attack: each ends with GOAWAY
/// ENHANCE_YOUR_CALM (or a 431 for the HPACK bomb), and a normal client
/// is served right after.
#[tokio::test]
async fn every_flood_is_stopped_and_the_server_serves_on() {
    use tetsuo_proto::h2::{ErrorCode, frame};
    let (addr, _) = start().await;
    let calm = Some(ErrorCode::ENHANCE_YOUR_CALM.0);
    let mut e = tetsuo_proto::hpack::Encoder::new();

    // MadeYouReset: every stream gets a WINDOW_UPDATE that overflows it.
    let mut w = Vec::new();
    for i in 0..150u32 {
        frame::encode_headers(1 + 2 * i, &request_block(&mut e, &[]), true, 16_384, &mut w);
        frame::encode_window_update(1 + 2 * i, (1 << 31) - 1, &mut w);
    }
    let mut cases: Vec<(&str, Vec<u8>, bool)> = vec![("MadeYouReset", w, false)];

    // CONTINUATION flood: a field block that never ends.
    let mut e = tetsuo_proto::hpack::Encoder::new();
    let block = request_block(&mut e, &[]);
    let mut w = Vec::new();
    frame::FrameHeader {
        len: block.len() as u32,
        kind: frame::kind::HEADERS,
        flags: 0,
        stream: 1,
    }
    .encode(&mut w);
    w.extend_from_slice(&block);
    for _ in 0..100 {
        frame::FrameHeader {
            len: 1,
            kind: frame::kind::CONTINUATION,
            flags: 0,
            stream: 1,
        }
        .encode(&mut w);
        w.push(0x82);
    }
    cases.push(("CONTINUATION flood", w, false));

    // PING, SETTINGS, empty DATA, PRIORITY and WINDOW_UPDATE floods.
    let mut w = Vec::new();
    for i in 0..1_500u64 {
        frame::encode_ping(false, i.to_be_bytes(), &mut w);
    }
    cases.push(("PING flood", w, false));
    let mut w = Vec::new();
    for _ in 0..1_500 {
        frame::encode_settings(&Default::default(), &mut w);
    }
    cases.push(("SETTINGS flood", w, false));
    let mut e = tetsuo_proto::hpack::Encoder::new();
    let mut w = Vec::new();
    frame::encode_headers(1, &request_block(&mut e, &[]), false, 16_384, &mut w);
    for _ in 0..1_500 {
        frame::encode_data(1, b"", false, &mut w);
    }
    cases.push(("empty DATA flood", w, false));
    let mut w = Vec::new();
    for i in 0..1_500u32 {
        let p = frame::Priority {
            dependency: 0,
            exclusive: false,
            weight: 1,
        };
        frame::encode_priority(1 + 2 * i, p, &mut w);
    }
    cases.push(("PRIORITY spam", w, false));
    let mut w = Vec::new();
    for _ in 0..1_500 {
        frame::encode_window_update(0, 1, &mut w);
    }
    cases.push(("WINDOW_UPDATE flood", w, false));

    // HPACK bomb: one 3000-byte entry referenced 100 times in a block.
    let mut e = tetsuo_proto::hpack::Encoder::new();
    let big = vec![b'a'; 3000];
    let mut w = Vec::new();
    let first = request_block(&mut e, &[(b"x-big", &big)]);
    frame::encode_headers(1, &first, true, 16_384, &mut w);
    let mut bomb = request_block(&mut e, &[]);
    bomb.extend(std::iter::repeat_n(0xBE, 100));
    frame::encode_headers(3, &bomb, true, 16_384, &mut w);
    cases.push(("HPACK bomb", w, true));

    for (what, wire, expect_431) in cases {
        let (goaway, too_large) = attack(addr, &wire).await;
        if expect_431 {
            assert!(too_large, "{what}: a 431");
        } else {
            assert_eq!(goaway, calm, "{what}");
        }
        // Others are served.
        let mut client = h2c(addr).await;
        let (status, _, _) = exchange(&mut client, get("/hello"), b"", None).await;
        assert_eq!(status, StatusCode::OK, "after {what}");
    }
}

#[tokio::test]
async fn server_push_to_an_h2_client_that_enabled_it() {
    let (addr, _) = start().await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = h2::client::Builder::new()
        .enable_push(true)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut ready = client.clone().ready().await.unwrap();
    let (mut response, _) = ready.send_request(get("/page"), true).unwrap();
    let mut promises = response.push_promises();
    let promise = promises.push_promise().await.unwrap().unwrap();
    let (pushed_request, pushed_response) = promise.into_parts();
    assert_eq!(pushed_request.uri().path(), "/style.css");
    assert_eq!(pushed_request.uri().authority().unwrap(), "localhost");
    let pushed = pushed_response.await.unwrap();
    assert_eq!(pushed.status(), StatusCode::OK);
    let mut body = pushed.into_body();
    let mut css = Vec::new();
    while let Some(chunk) = body.data().await {
        css.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(css, b"body { margin: 0 }");
    let page = response.await.unwrap();
    let mut body = page.into_body();
    let mut html = Vec::new();
    while let Some(chunk) = body.data().await {
        html.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(html, b"<link rel=stylesheet href=/style.css>");
    // A client that did not enable push gets no promise and no Push handle.
    let (_, body, _) = exchange(&mut client, get("/page"), b"", None).await;
    assert!(body.starts_with(b"<link"));
    let mut plain = h2c(addr).await;
    let (status, _, _) = exchange(&mut plain, get("/page"), b"", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn many_small_bodies_on_one_connection_keep_its_window_open() {
    // 300 uploads of 10 KB, each ending with its last DATA frame: 3 MB,
    // three times the connection window. Every byte must come back to
    // flow control, or the connection stalls.
    let (addr, _) = start().await;
    let mut client = h2c(addr).await;
    let body = vec![7u8; 10_000];
    let all = async {
        for _ in 0..300 {
            let req = Request::post("http://localhost/count").body(()).unwrap();
            let (status, n, _) = exchange(&mut client, req, &body, None).await;
            assert_eq!((status, &n[..]), (StatusCode::OK, &b"10000"[..]));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the connection did not stall");
}

#[tokio::test]
async fn a_drain_is_not_held_up_by_a_client_that_never_answers_its_ping() {
    use tetsuo_proto::h2::frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, handle) = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut wire = frame::PREFACE.to_vec();
    frame::encode_settings(&Default::default(), &mut wire);
    frame::encode_settings_ack(&mut wire);
    let mut encoder = tetsuo_proto::hpack::Encoder::new();
    let block = request_block(&mut encoder, &[]);
    frame::encode_headers(1, &block, true, 16_384, &mut wire);
    s.write_all(&wire).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let drain = tokio::spawn(async move { handle.shutdown(Duration::from_secs(20)).await });
    // Read (never answering the PING) until the server closes.
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let mut goaways = Vec::new();
    let mut at = 0;
    while let Some(h) = frame::FrameHeader::parse(&got[at..]) {
        let payload = &got[at + 9..at + 9 + h.len as usize];
        if h.kind == frame::kind::GOAWAY {
            goaways.push(u32::from_be_bytes(payload[..4].try_into().unwrap()));
        }
        at += 9 + h.len as usize;
    }
    // 2^31-1 first; a second later, the last stream served.
    assert_eq!(goaways, [(1 << 31) - 1, 1]);
    assert_eq!(drain.await.unwrap().forced, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stream_whose_body_stalls_is_reset_and_the_connection_serves_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .body_read_timeout(Some(Duration::from_millis(300)))
        .build();
    tokio::spawn(async move { server.serve_tcp(listener, service_fn(app)).await });
    let mut client = h2c(addr).await;
    let req = Request::post("http://localhost/count").body(()).unwrap();
    let (response, mut send) = client.send_request(req, false).unwrap();
    send.send_data(Bytes::from_static(b"a start"), false)
        .unwrap();
    // ... and nothing more: the stream is reset within the timeout.
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("the server gave up on the stream");
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The connection itself is fine.
    let (status, body, _) = exchange(&mut client, get("/hello"), b"", None).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, World!"[..]));
}
