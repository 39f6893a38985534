//! Proxy hops on real sockets: SOCKS4/4a/5 through tetsuo's SOCKS server,
//! HTTP CONNECT through a hyper-based proxy, chains, and misbehaving
//! proxies (early tunnel bytes, truncated answers, an unoffered method).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::Empty;
use tetsuo::ErrorKind;
use tetsuo::connect::{Connector, Target};
use tetsuo::proxy::{Proxies, Proxy, SocksServer};
use tetsuo_proto::socks::{Error as SocksError, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server; its address.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn socks(server: SocksServer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve(listener).await });
    addr
}

fn via(urls: &[String]) -> Connector {
    let chain = urls.iter().map(|u| Proxy::parse(u).unwrap());
    Connector::builder().proxies(Proxies::chain(chain)).build()
}

async fn round_trip(connector: &Connector, host: &str, port: u16) -> tetsuo::Result<()> {
    let (mut stream, info) = connector.connect(host, port).await?;
    stream.write_all(b"ping").await.unwrap();
    let mut back = [0; 4];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    assert!(!info.proxies.is_empty());
    Ok(())
}

#[tokio::test]
async fn every_socks_dialect_through_tetsuo_socks() {
    let target = echo().await;
    let open = socks(SocksServer::builder().build()).await;
    for scheme in ["socks4", "socks4a", "socks5", "socks5h"] {
        let connector = via(&[format!("{scheme}://{open}")]);
        round_trip(&connector, "localhost", target.port())
            .await
            .unwrap();
        round_trip(&connector, "127.0.0.1", target.port())
            .await
            .unwrap();
    }
    // socks5 and socks5h also reach IPv6 literals.
    let connector = via(&[format!("socks5://{open}")]);
    let v6 = TcpListener::bind("[::1]:0").await.unwrap();
    let v6_port = v6.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut c, _) = v6.accept().await.unwrap();
        let (mut r, mut w) = c.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    round_trip(&connector, "::1", v6_port).await.unwrap();
}

#[tokio::test]
async fn socks5_password_rules_and_chains() {
    let target = echo().await;
    let guarded = socks(SocksServer::builder().auth("alice", "s3cret").build()).await;
    let ok = via(&[format!("socks5h://alice:s3cret@{guarded}")]);
    round_trip(&ok, "localhost", target.port()).await.unwrap();

    let wrong = via(&[format!("socks5h://alice:nope@{guarded}")]);
    let err = wrong.connect("localhost", target.port()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
    assert_eq!(err.socks_error(), Some(SocksError::AuthFailed));
    assert!(!err.to_string().contains("nope"), "{err}");

    let none = via(&[format!("socks5h://{guarded}")]);
    let err = none.connect("localhost", target.port()).await.unwrap_err();
    assert_eq!(err.socks_error(), Some(SocksError::NoAcceptableMethod));

    // SOCKS4 cannot send a password: refused where one is required.
    let four = via(&[format!("socks4a://{guarded}")]);
    let err = four.connect("localhost", target.port()).await.unwrap_err();
    assert!(
        matches!(err.socks_error(), Some(SocksError::Socks4Refused(91))),
        "{err}"
    );

    let strict = socks(
        SocksServer::builder()
            .deny("127.0.0.0/8".parse().unwrap())
            .build(),
    )
    .await;
    let denied = via(&[format!("socks5h://{strict}")]);
    let err = denied
        .connect("localhost", target.port())
        .await
        .unwrap_err();
    assert_eq!(
        err.socks_error(),
        Some(SocksError::Refused(Reply::NotAllowed)),
        "{err}"
    );

    // The unspecified addresses reach this host: never allowed, and an
    // IPv4-mapped form of a denied address is denied too.
    for sneaky in ["0.0.0.0", "::", "::ffff:0.0.0.0", "::ffff:127.0.0.1"] {
        let via_open = via(&[format!("socks5://{strict}")]);
        let err = via_open.connect(sneaky, target.port()).await.unwrap_err();
        assert_eq!(
            err.socks_error(),
            Some(SocksError::Refused(Reply::NotAllowed)),
            "{sneaky}: {err}"
        );
    }
    let open_rules = socks(SocksServer::builder().build()).await;
    let err = via(&[format!("socks5://{open_rules}")])
        .connect("0.0.0.0", target.port())
        .await
        .unwrap_err();
    assert_eq!(
        err.socks_error(),
        Some(SocksError::Refused(Reply::NotAllowed)),
        "{err}"
    );

    // A chain: the first proxy tunnels to the second, which reaches the target.
    let open = socks(SocksServer::builder().build()).await;
    let chain = via(&[
        format!("socks5://{open}"),
        format!("socks5h://alice:s3cret@{guarded}"),
    ]);
    round_trip(&chain, "localhost", target.port())
        .await
        .unwrap();
}

/// An HTTP CONNECT proxy on hyper: wants `Proxy-Authorization: Basic
/// dTpw` (u:p) when `auth` is set.
async fn hyper_proxy(auth: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| async move {
                        let authorized = !auth
                            || req
                                .headers()
                                .get("proxy-authorization")
                                .is_some_and(|v| v == "Basic dTpw");
                        if req.method() != Method::CONNECT || !authorized {
                            let status = if authorized {
                                StatusCode::METHOD_NOT_ALLOWED
                            } else {
                                StatusCode::PROXY_AUTHENTICATION_REQUIRED
                            };
                            let mut res = Response::new(Empty::<bytes::Bytes>::new());
                            *res.status_mut() = status;
                            return Ok::<_, Infallible>(res);
                        }
                        let authority = req.uri().authority().unwrap().to_string();
                        tokio::spawn(async move {
                            let upgraded = hyper::upgrade::on(req).await.unwrap();
                            let mut upgraded = hyper_util::rt::TokioIo::new(upgraded);
                            let mut upstream = TcpStream::connect(authority).await.unwrap();
                            let _ =
                                tokio::io::copy_bidirectional(&mut upgraded, &mut upstream).await;
                        });
                        Ok(Response::new(Empty::new()))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn http_connect_through_hyper() {
    let target = echo().await;
    let open = hyper_proxy(false).await;
    round_trip(
        &via(&[format!("http://{open}")]),
        "127.0.0.1",
        target.port(),
    )
    .await
    .unwrap();

    let guarded = hyper_proxy(true).await;
    let err = via(&[format!("http://{guarded}")])
        .connect("127.0.0.1", target.port())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy);
    assert_eq!(
        err.proxy_status(),
        Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    round_trip(
        &via(&[format!("http://u:p@{guarded}")]),
        "127.0.0.1",
        target.port(),
    )
    .await
    .unwrap();

    // Mixed chain: SOCKS5 first, then the HTTP proxy.
    let socks5 = socks(SocksServer::builder().build()).await;
    let chain = via(&[
        format!("socks5h://{socks5}"),
        format!("http://u:p@{guarded}"),
    ]);
    round_trip(&chain, "127.0.0.1", target.port())
        .await
        .unwrap();

    // Environment-style selection: an https target takes HTTPS_PROXY.
    let proxies =
        Proxies::from_vars(|name| (name == "HTTPS_PROXY").then(|| format!("http://{open}")))
            .unwrap();
    let connector = Connector::builder().proxies(proxies).build();
    let err = connector
        .connect_to(&Target::http("127.0.0.1", target.port(), false))
        .await;
    // http:// is not proxied (no HTTP_PROXY): a direct connection.
    assert!(err.unwrap().1.proxies.is_empty());
}

/// A one-shot fake proxy: reads what the client sends (until `expect`
/// bytes arrived), then answers `reply` and echoes afterwards.
async fn fake_proxy(expect: usize, reply: &'static [u8], then_close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = vec![0; expect];
        conn.read_exact(&mut got).await.unwrap();
        conn.write_all(reply).await.unwrap();
        if then_close {
            // Take what the client sends next, so the close is a FIN, not a reset.
            let mut more = [0; 512];
            let _ = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut more)).await;
            return;
        }
        let (mut r, mut w) = conn.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    addr
}

#[tokio::test]
async fn misbehaving_proxies_give_typed_errors() {
    // Tunnel bytes that arrive with the 200 are the stream's first bytes.
    let early = fake_proxy(
        1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEARLY",
        false,
    )
    .await;
    let (mut stream, _) = via(&[format!("http://{early}")])
        .connect("example.test", 443)
        .await
        .unwrap();
    let mut first = [0; 5];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"EARLY");

    // A head cut short by the proxy closing.
    let cut = fake_proxy(1, b"HTTP/1.1 200 Conn", true).await;
    let err = via(&[format!("http://{cut}")])
        .connect("example.test", 443)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy);
    assert!(err.to_string().contains("closed"), "{err}");

    // Garbage instead of HTTP.
    let junk = fake_proxy(1, b"SSH-2.0-OpenSSH_9.2\r\n\r\n", true).await;
    let err = via(&[format!("http://{junk}")])
        .connect("example.test", 443)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy);
    assert_eq!(err.proxy_status(), None);

    // A SOCKS5 server picking username/password, which we did not offer.
    let picky = fake_proxy(3, &[5, 2], true).await;
    let err = via(&[format!("socks5h://{picky}")])
        .connect("example.test", 1)
        .await
        .unwrap_err();
    assert_eq!(err.socks_error(), Some(SocksError::UnofferedMethod(2)));

    // A truncated SOCKS5 reply.
    let short = fake_proxy(3, &[5, 0, 5, 0, 0, 1, 127], true).await;
    let err = via(&[format!("socks5h://{short}")])
        .connect("example.test", 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy);
    assert!(err.to_string().contains("closed"), "{err}");

    // A host name over 255 bytes is refused before anything is sent for it.
    let open = socks(SocksServer::builder().build()).await;
    let long = format!("{}.test", "a".repeat(260));
    let err = via(&[format!("socks5h://{open}")])
        .connect(&long, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.socks_error(),
            Some(SocksError::TooLong { len: 265, .. })
        ),
        "{err}"
    );
}
