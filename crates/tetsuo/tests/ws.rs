//! tetsuo's WebSocket against tokio-tungstenite (both directions, plain and
//! TLS), through a SOCKS proxy, and against raw misbehaving peers.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_core::Stream as _;
use futures_sink::Sink;
use http::Request;
use support::pki::{Ca, Validity};
use tetsuo::connect::Connector;
use tetsuo::http::server::Server;
use tetsuo::http::{Body, service_fn};
use tetsuo::ws::{ClientBuilder, CloseCode, Message, ServerConfig, WsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as TMessage;

/// A Sink/Stream helper without futures-util.
async fn t_send<S>(ws: &mut S, msg: TMessage)
where
    S: Sink<TMessage> + Unpin,
    S::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *ws).poll_ready(cx))
        .await
        .unwrap();
    std::pin::Pin::new(&mut *ws).start_send(msg).unwrap();
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *ws).poll_flush(cx))
        .await
        .unwrap();
}

async fn t_next<S>(ws: &mut S) -> Option<TMessage>
where
    S: futures_core::Stream<Item = Result<TMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *ws).poll_next(cx))
        .await
        .map(|r| r.unwrap())
}

/// tetsuo's HTTP server with a WebSocket echo at every path.
fn echo_service() -> impl tetsuo::http::server::HttpService {
    service_fn(|mut req: Request<Body>| async move {
        Ok::<_, Infallible>(
            match tetsuo::ws::upgrade(&mut req, &ServerConfig::default()) {
                Ok((res, pending)) => {
                    tokio::spawn(async move {
                        let Ok(mut ws) = pending.await else { return };
                        while let Some(Ok(msg)) = ws.recv().await {
                            if matches!(msg, Message::Text(_) | Message::Binary(_))
                                && ws.send(msg).await.is_err()
                            {
                                break;
                            }
                        }
                    });
                    res
                }
                Err(refusal) => refusal,
            },
        )
    })
}

async fn tetsuo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        Server::builder()
            .build()
            .serve_tcp(listener, echo_service())
            .await
    });
    addr
}

#[tokio::test]
async fn tungstenite_client_against_tetsuo_server() {
    let addr = tetsuo_server().await;
    let (mut ws, res) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), None, false)
            .await
            .unwrap();
    assert_eq!(res.status(), 101);
    t_send(&mut ws, TMessage::text("hello tungstenite")).await;
    assert_eq!(
        t_next(&mut ws).await,
        Some(TMessage::text("hello tungstenite"))
    );
    let big = vec![0xAB; 300_000];
    t_send(&mut ws, TMessage::binary(big.clone())).await;
    assert_eq!(t_next(&mut ws).await, Some(TMessage::binary(big)));
    t_send(&mut ws, TMessage::Ping(b"are you there".to_vec().into())).await;
    assert_eq!(
        t_next(&mut ws).await,
        Some(TMessage::Pong(b"are you there".to_vec().into()))
    );
    t_send(&mut ws, TMessage::Close(None)).await;
    assert!(matches!(t_next(&mut ws).await, Some(TMessage::Close(_))));
    // A plain GET is refused with 400 and the reason.
    let res = tetsuo::http::client::Client::new()
        .get(format!("http://{addr}/ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

/// A tokio-tungstenite echo server on plain TCP; its address.
async fn tungstenite_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut ws).poll_next(cx)).await
                {
                    if msg.is_text() || msg.is_binary() {
                        t_send(&mut ws, msg).await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn tetsuo_client_against_tungstenite_server() {
    let addr = tungstenite_server().await;
    let mut ws = tetsuo::ws::connect(&format!("ws://{addr}/")).await.unwrap();
    ws.send("hello from tetsuo").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("hello from tetsuo".into())
    );
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    ws.send(big.clone()).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Binary(big.into())
    );
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(ws.is_closed());
    assert!(ws.recv().await.is_none());
}

#[tokio::test]
async fn both_ways_over_tls() {
    let ca = Ca::root("ws test CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    let tls_client = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .alpn(["http/1.1"])
        .build()
        .unwrap();

    // tungstenite over TLS -> tetsuo serve_tls.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server_acceptor = acceptor.clone();
    tokio::spawn(async move {
        Server::builder()
            .build()
            .serve_tls(listener, server_acceptor, echo_service())
            .await
    });
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tls_client.connect("localhost", tcp).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{port}/"), tls)
        .await
        .unwrap();
    t_send(&mut ws, TMessage::text("secure")).await;
    assert_eq!(t_next(&mut ws).await, Some(TMessage::text("secure")));

    // tetsuo wss:// -> tungstenite behind TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(stream).await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
        while let Some(Ok(msg)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut ws).poll_next(cx)).await
        {
            if msg.is_text() {
                t_send(&mut ws, msg).await;
            }
        }
    });
    let connector = Connector::builder().tls(tls_client).build();
    let (mut ws, info) = ClientBuilder::new()
        .connector(connector)
        .connect(&format!("wss://localhost:{port}/"))
        .await
        .unwrap();
    assert!(info.tls.is_some());
    ws.send("over wss").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("over wss".into())
    );
}

#[tokio::test]
async fn client_through_a_socks_proxy_with_deflate() {
    let addr = tetsuo_server().await;
    let socks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socks_addr = socks.local_addr().unwrap();
    tokio::spawn(async move {
        tetsuo::proxy::SocksServer::builder()
            .build()
            .serve(socks)
            .await
    });
    let proxy = tetsuo::proxy::Proxy::parse(&format!("socks5h://{socks_addr}")).unwrap();
    let connector = Connector::builder()
        .proxies(tetsuo::proxy::Proxies::chain([proxy]))
        .build();
    let (mut ws, info) = ClientBuilder::new()
        .connector(connector)
        .connect(&format!("ws://localhost:{}/ws", addr.port()))
        .await
        .unwrap();
    assert_eq!(info.remote_addr, socks_addr);
    let text = "compressible ".repeat(10_000);
    ws.send(text.as_str()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Text(text));
}

#[tokio::test]
async fn misbehaving_peers_get_close_codes() {
    let addr = tetsuo_server().await;
    // A raw client: handshake, then an unmasked frame.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 1024];
    let n = raw.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    raw.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).await.unwrap();
    assert_eq!(
        &reply[..4],
        &[0x88, 0x02, 0x03, 0xEA],
        "close 1002: {reply:?}"
    );

    // A 2^63 length: closed with 1002 at once, nothing allocated for it.
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), None, false)
            .await
            .unwrap();
    let stream = ws.get_mut();
    let stream = match stream {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!(),
    };
    stream
        .write_all(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
        .await
        .unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [0x88, 0x02, 0x03, 0xEA]);
}

#[tokio::test]
async fn keepalive_gives_a_silent_peer_up() {
    // A server that completes the handshake and then never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        std::future::pending::<()>().await;
    });
    let mut config = WsConfig::default();
    config.ping_interval = Some(std::time::Duration::from_millis(100));
    config.ping_timeout = std::time::Duration::from_millis(100);
    let (mut ws, _) = ClientBuilder::new()
        .config(config)
        .connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let err = ws.recv().await.unwrap().unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

/// A tetsuo server receiving in fragment mode: after each message it
/// answers "BYTES bytes in PIECES pieces, largest LARGEST".
async fn counting_server(limits: tetsuo::ws::Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::default();
    config.ws.fragments = true;
    config.ws.limits = limits;
    let service = service_fn(move |mut req: Request<Body>| {
        let config = config.clone();
        async move {
            Ok::<_, Infallible>(match tetsuo::ws::upgrade(&mut req, &config) {
                Ok((res, pending)) => {
                    tokio::spawn(async move {
                        let Ok(mut ws) = pending.await else { return };
                        let (mut bytes, mut pieces, mut largest) = (0, 0, 0);
                        while let Some(Ok(msg)) = ws.recv().await {
                            let Message::Fragment(f) = msg else { continue };
                            bytes += f.data.len();
                            pieces += 1;
                            largest = largest.max(f.data.len());
                            if f.fin {
                                let answer =
                                    format!("{bytes} bytes in {pieces} pieces, largest {largest}");
                                (bytes, pieces, largest) = (0, 0, 0);
                                if ws.send(answer).await.is_err() {
                                    break;
                                }
                            }
                        }
                    });
                    res
                }
                Err(refusal) => refusal,
            })
        }
    });
    tokio::spawn(async move { Server::builder().build().serve_tcp(listener, service).await });
    addr
}

#[tokio::test]
async fn fragments_both_ways_with_tungstenite() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    // tungstenite sends a message in three frames, a ping between them;
    // tetsuo hands the pieces out as they come.
    let addr = counting_server(tetsuo::ws::Limits::default()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let frames = [
        Frame::message(vec![1u8; 1000], OpCode::Data(Data::Binary), false),
        Frame::message(vec![2u8; 500], OpCode::Data(Data::Continue), false),
        Frame::message(vec![3u8; 24], OpCode::Data(Data::Continue), true),
    ];
    for (i, frame) in frames.into_iter().enumerate() {
        t_send(&mut ws, TMessage::Frame(frame)).await;
        if i == 0 {
            t_send(&mut ws, TMessage::Ping(b"between".to_vec().into())).await;
        }
    }
    assert_eq!(
        t_next(&mut ws).await,
        Some(TMessage::Pong(b"between".to_vec().into()))
    );
    assert_eq!(
        t_next(&mut ws).await,
        Some(TMessage::text("1524 bytes in 3 pieces, largest 1000"))
    );

    // tetsuo sends a text message in pieces that split a character;
    // tungstenite reassembles it, and its echo comes back in pieces.
    let addr = tungstenite_server().await;
    let mut config = WsConfig::default();
    config.fragments = true;
    let (mut ws, _) = ClientBuilder::new()
        .config(config)
        .connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let text = "tetsuo — 鉄雄 ".repeat(20_000);
    let bytes = bytes::Bytes::from(text.clone());
    let cut = [0, 7, 10, 100_001, bytes.len()];
    for (i, w) in cut.windows(2).enumerate() {
        ws.send(Message::Fragment(tetsuo::ws::Fragment {
            text: true,
            first: i == 0,
            fin: w[1] == bytes.len(),
            data: bytes.slice(w[0]..w[1]),
        }))
        .await
        .unwrap();
        if i == 1 {
            let err = ws.send("not now").await.unwrap_err();
            assert_eq!(err.kind(), tetsuo::ErrorKind::InvalidInput, "{err}");
        }
    }
    let mut back = Vec::new();
    let mut pieces = 0;
    loop {
        let Message::Fragment(f) = ws.recv().await.unwrap().unwrap() else {
            panic!("a whole message in fragment mode");
        };
        assert!(f.text);
        assert_eq!(f.first, pieces == 0);
        pieces += 1;
        back.extend_from_slice(&f.data);
        if f.fin {
            break;
        }
    }
    assert_eq!(String::from_utf8(back).unwrap(), text);
    assert!(pieces > 1, "{} bytes came in one piece", text.len());
}

#[tokio::test]
async fn a_message_larger_than_the_limit_streams_through_in_fragments() {
    // 64 MiB, compressed, in 256 KiB fragments, to a server whose pieces
    // may not exceed 1 MiB: it never holds the message.
    let mut limits = tetsuo::ws::Limits::default();
    limits.max_message = 1 << 20;
    let addr = counting_server(limits).await;
    let mut ws = tetsuo::ws::connect(&format!("ws://{addr}/")).await.unwrap();
    let chunk = bytes::Bytes::from(
        (0..256 * 1024u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    for i in 0..256 {
        ws.send(Message::Fragment(tetsuo::ws::Fragment {
            text: false,
            first: i == 0,
            fin: i == 255,
            data: chunk.clone(),
        }))
        .await
        .unwrap();
    }
    let Message::Text(answer) = ws.recv().await.unwrap().unwrap() else {
        panic!("no count");
    };
    let (bytes, rest) = answer.split_once(" bytes in ").unwrap();
    assert_eq!(bytes, (64 << 20).to_string());
    let largest: usize = rest.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(largest <= 1 << 20, "{answer}");
}

#[tokio::test]
async fn split_halves_send_and_receive_from_two_tasks() {
    use futures_util::{SinkExt, StreamExt};

    // A writer task streams messages while a reader task takes the echoes:
    // the halves share the socket (the reader flushes what the writer
    // queued and wakes it), and backpressure holds with 64 KiB messages.
    let addr = tetsuo_server().await;
    let mut config = WsConfig::default();
    config.ping_interval = Some(std::time::Duration::from_millis(20));
    let (ws, _) = ClientBuilder::new()
        .config(config)
        .connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    const N: usize = 200;
    let writer = tokio::spawn(async move {
        for i in 0..N {
            let mut data = vec![(i % 256) as u8; 64 * 1024];
            data[..8].copy_from_slice(&(i as u64).to_be_bytes());
            sink.send(Message::Binary(data.into())).await.unwrap();
        }
        sink.send(Message::Close(None)).await.unwrap();
    });
    let mut next = 0u64;
    while let Some(msg) = stream.next().await {
        match msg.unwrap() {
            Message::Binary(b) => {
                assert_eq!(b.len(), 64 * 1024);
                assert_eq!(u64::from_be_bytes(b[..8].try_into().unwrap()), next);
                next += 1;
            }
            Message::Close(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
    writer.await.unwrap();
    assert_eq!(next, N as u64);
}
