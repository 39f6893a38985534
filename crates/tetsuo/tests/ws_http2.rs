//! WebSocket over HTTP/2 (extended CONNECT, RFC 8441) against the `h2`
//! crate with tokio-tungstenite on its streams, both directions; several
//! WebSockets sharing one TLS connection; a server that does not enable
//! extended CONNECT; and a plain CONNECT tunnel on an HTTP/2 stream.

mod support;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_sink::Sink;
use http::{Method, Request, Response, StatusCode};
use support::pki::{Ca, Validity};
use tetsuo::ErrorKind;
use tetsuo::http::client::Client;
use tetsuo::http::server::{ClientAddr, Server};
use tetsuo::http::{Body, service_fn, upgrade};
use tetsuo::ws::{ClientBuilder, Message, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::Role;

/// An `h2` crate stream as a byte stream, for tungstenite to run on.
struct H2Io {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    chunk: Bytes,
}

impl AsyncRead for H2Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.chunk = data;
                }
            }
        }
        let n = self.chunk.len().min(buf.remaining());
        buf.put_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.send.reserve_capacity(buf.len());
        loop {
            let room = self.send.capacity();
            if room > 0 {
                let n = room.min(buf.len());
                self.send
                    .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(io::Error::other)?;
                return Poll::Ready(Ok(n));
            }
            match ready!(self.send.poll_capacity(cx)) {
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                Some(Ok(_)) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Io {
    /// Ends the stream as a TCP close would (a dropped `h2` stream is
    /// otherwise reset, and the data still queued on it discarded).
    fn drop(&mut self) {
        let _ = self.send.send_data(Bytes::new(), true);
    }
}

async fn t_send<S>(ws: &mut S, msg: TMessage)
where
    S: Sink<TMessage> + Unpin,
    S::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| Pin::new(&mut *ws).poll_ready(cx))
        .await
        .unwrap();
    Pin::new(&mut *ws).start_send(msg).unwrap();
    std::future::poll_fn(|cx| Pin::new(&mut *ws).poll_flush(cx))
        .await
        .unwrap();
}

async fn t_next<S>(ws: &mut S) -> Option<TMessage>
where
    S: futures_core::Stream<Item = Result<TMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    std::future::poll_fn(|cx| Pin::new(&mut *ws).poll_next(cx))
        .await
        .map(|r| r.unwrap())
}

/// tetsuo's server: a WebSocket echo at every path (which also says, in
/// answer to "who", the client's address and HTTP version), and a CONNECT
/// tunnel that echoes bytes.
async fn start_tetsuo(tls: Option<tetsuo::tls::TlsAcceptor>) -> SocketAddr {
    let service = service_fn(|mut req: Request<Body>| async move {
        if req.method() == Method::CONNECT
            && req.extensions().get::<tetsuo::http::Protocol>().is_none()
        {
            if req.headers().contains_key("x-refuse") {
                let mut res = Response::new(Body::from("no tunnel for you"));
                *res.status_mut() = StatusCode::FORBIDDEN;
                return Ok(res);
            }
            let on = upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(mut io) = on.await else { return };
                let mut buf = [0; 4096];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = io.shutdown().await;
            });
            return Ok::<_, Infallible>(Response::new(Body::empty()));
        }
        let who = format!(
            "{} {:?}",
            req.extensions().get::<ClientAddr>().unwrap().0,
            req.version()
        );
        Ok(
            match tetsuo::ws::upgrade(&mut req, &ServerConfig::default()) {
                Ok((res, pending)) => {
                    tokio::spawn(async move {
                        let Ok(mut ws) = pending.await else { return };
                        while let Some(Ok(msg)) = ws.recv().await {
                            let msg = match msg {
                                Message::Text(t) if t == "who" => Message::Text(who.clone()),
                                Message::Text(_) | Message::Binary(_) => msg,
                                _ => continue,
                            };
                            if ws.send(msg).await.is_err() {
                                break;
                            }
                        }
                    });
                    res
                }
                Err(refusal) => refusal,
            },
        )
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    tokio::spawn(async move {
        match tls {
            Some(acceptor) => server.serve_tls(listener, acceptor, service).await,
            None => server.serve_tcp(listener, service).await,
        }
    });
    addr
}

fn h2c_client() -> Client {
    Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test]
async fn h2_crate_client_with_tungstenite_to_tetsuo_server() {
    let addr = start_tetsuo(None).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // The server's SETTINGS must arrive before an extended CONNECT.
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !client.is_extended_connect_protocol_enabled() {
            client = client.clone().ready().await.unwrap();
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server enables extended CONNECT");
    // Two WebSockets on the one connection, at once.
    let mut sockets = Vec::new();
    for path in ["/a", "/b"] {
        let mut req = Request::builder()
            .method(Method::CONNECT)
            .uri(format!("http://{addr}{path}"))
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let (response, send) = client.send_request(req, false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("sec-websocket-accept").is_none());
        let io = H2Io {
            send,
            recv: response.into_body(),
            chunk: Bytes::new(),
        };
        sockets.push(WebSocketStream::from_raw_socket(io, Role::Client, None).await);
    }
    for (i, ws) in sockets.iter_mut().enumerate() {
        t_send(ws, TMessage::text(format!("hello {i}"))).await;
    }
    for (i, ws) in sockets.iter_mut().enumerate() {
        assert_eq!(t_next(ws).await, Some(TMessage::text(format!("hello {i}"))));
    }
    // A message far past the stream's 64 KiB window, both ways.
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    t_send(&mut sockets[0], TMessage::binary(big.clone())).await;
    assert_eq!(t_next(&mut sockets[0]).await, Some(TMessage::binary(big)));
    t_send(&mut sockets[1], TMessage::text("who")).await;
    let Some(TMessage::Text(who)) = t_next(&mut sockets[1]).await else {
        panic!("no answer")
    };
    assert!(who.ends_with("HTTP/2.0"), "{who}");
    for mut ws in sockets {
        ws.close(None).await.unwrap();
        while t_next(&mut ws).await.is_some() {}
    }
    // A GET on HTTP/2 is not a WebSocket handshake.
    let req = Request::get(format!("http://{addr}/")).body(()).unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    assert_eq!(
        response.await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// The `h2` crate's server, extended CONNECT enabled or not; tungstenite
/// echoes on each WebSocket stream.
async fn h2_ws_server(enable: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut builder = h2::server::Builder::new();
                if enable {
                    builder.enable_connect_protocol();
                }
                let Ok(mut conn) = builder.handshake::<_, Bytes>(tcp).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let websocket = req.method() == Method::CONNECT
                        && req
                            .extensions()
                            .get::<h2::ext::Protocol>()
                            .is_some_and(|p| p.as_str() == "websocket")
                        && req.headers()["sec-websocket-version"] == "13";
                    if !websocket {
                        let res = Response::builder().status(400).body(()).unwrap();
                        let _ = respond.send_response(res, true);
                        continue;
                    }
                    let send = respond.send_response(Response::new(()), false).unwrap();
                    let io = H2Io {
                        send,
                        recv: req.into_body(),
                        chunk: Bytes::new(),
                    };
                    tokio::spawn(async move {
                        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                        while let Some(msg) = t_next(&mut ws).await {
                            if msg.is_text() || msg.is_binary() {
                                t_send(&mut ws, msg).await;
                            }
                        }
                    });
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn tetsuo_client_to_h2_crate_server_with_tungstenite() {
    let (addr, accepted) = h2_ws_server(true).await;
    let ws = ClientBuilder::new().http2(h2c_client());
    let (mut a, _) = ws.connect(&format!("ws://{addr}/a")).await.unwrap();
    let (mut b, info) = ws.connect(&format!("ws://{addr}/b")).await.unwrap();
    assert_eq!(info.remote_addr, addr);
    a.send("one").await.unwrap();
    b.send("two").await.unwrap();
    assert_eq!(
        b.recv().await.unwrap().unwrap(),
        Message::Text("two".into())
    );
    assert_eq!(
        a.recv().await.unwrap().unwrap(),
        Message::Text("one".into())
    );
    let big = Bytes::from((0..2 << 20).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    b.send(Message::Binary(big.clone())).await.unwrap();
    assert_eq!(b.recv().await.unwrap().unwrap(), Message::Binary(big));
    a.close(tetsuo::ws::CloseCode::NORMAL, "bye").await.unwrap();
    b.close(tetsuo::ws::CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "both on one connection");
}

#[tokio::test]
async fn a_server_without_extended_connect_is_refused_clearly() {
    let (addr, _) = h2_ws_server(false).await;
    let ws = ClientBuilder::new().http2(h2c_client());
    let err = ws.connect(&format!("ws://{addr}/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[tokio::test]
async fn websockets_share_one_tls_connection() {
    let ca = Ca::root("ws h2 CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let port = start_tetsuo(Some(acceptor)).await.port();
    let connector = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let http = Client::builder().no_proxy().tls(connector).build().unwrap();
    let ws = ClientBuilder::new().http2(http);
    let answers = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let ws = ws.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let (mut s, _) = ws
                    .connect(&format!("wss://localhost:{port}/{i}"))
                    .await
                    .unwrap();
                s.send(format!("message {i}")).await.unwrap();
                assert_eq!(
                    s.recv().await.unwrap().unwrap(),
                    Message::Text(format!("message {i}"))
                );
                s.send("who").await.unwrap();
                let Message::Text(who) = s.recv().await.unwrap().unwrap() else {
                    panic!("no answer")
                };
                answers.lock().unwrap().push(who);
                s.close(tetsuo::ws::CloseCode::NORMAL, "").await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), 5);
    // One client address: one connection carried all five.
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert!(answers[0].ends_with("HTTP/2.0"));
}

#[tokio::test]
async fn a_connect_tunnel_on_an_http2_stream() {
    let addr = start_tetsuo(None).await;
    let client = h2c_client();
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}/"))
        .body(Body::empty())
        .unwrap();
    let res = client.execute(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    let mut res = res.into_http();
    let mut io = upgrade::on(&mut res).await.unwrap();
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 241) as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut io);
    let write = async {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let read = r.read_to_end(&mut back);
    let (_, n) = tokio::join!(write, read);
    assert_eq!(n.unwrap(), data.len());
    assert_eq!(back, data);
}

#[tokio::test]
async fn a_refused_connect_answer_has_its_body() {
    let addr = start_tetsuo(None).await;
    let client = h2c_client();
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}/"))
        .header("x-refuse", "1")
        .body(Body::empty())
        .unwrap();
    let res = client.execute(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.text().await.unwrap(), "no tunnel for you");
}
