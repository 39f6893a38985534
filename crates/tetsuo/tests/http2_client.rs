//! tetsuo's client speaking HTTP/2 to the `h2` crate's server: prior
//! knowledge, TLS chosen by ALPN, bodies both ways under flow control with
//! trailers, and another connection once the server's stream limit is
//! reached; and to tetsuo's own server.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::pki::{Ca, Validity};
use tetsuo::http::Body;
use tetsuo::http::client::Client;
use tokio::net::TcpListener;

/// Serves one h2 connection: `/echo` streams the body back with the
/// request's trailers, `/slow` answers after 300 ms, anything else says
/// which path it was.
async fn h2_serve<T>(io: T, max_streams: u32)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(mut conn) = h2::server::Builder::new()
        .max_concurrent_streams(max_streams)
        .handshake::<_, Bytes>(io)
        .await
    else {
        return;
    };
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        tokio::spawn(async move {
            let path = req.uri().path().to_owned();
            let version = req.version();
            let mut body = req.into_body();
            let mut data = Vec::new();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            let trailers = body.trailers().await.ok().flatten();
            if path == "/slow" {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let reply = match path.as_str() {
                "/echo" => Bytes::from(data),
                "/10k" => Bytes::from(vec![b'x'; 10_000]),
                _ => Bytes::from(format!("{path} over {version:?}")),
            };
            let Ok(mut send) = respond.send_response(Response::new(()), false) else {
                return;
            };
            if path == "/stall" {
                // The head, a first piece, then silence.
                let _ = send.send_data(Bytes::from_static(b"first"), false);
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            let mut rest = reply;
            while !rest.is_empty() {
                send.reserve_capacity(rest.len());
                let Some(Ok(cap)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await else {
                    return;
                };
                let chunk = rest.split_to(cap.min(rest.len()));
                let _ = send.send_data(chunk, false);
            }
            let _ = send.send_trailers(trailers.unwrap_or_default());
        });
    }
}

/// An h2 server with prior knowledge; the number of connections accepted.
async fn h2c_server(max_streams: u32) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(h2_serve(tcp, max_streams));
        }
    });
    (addr, accepted)
}

fn h2c_client() -> Client {
    Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test]
async fn prior_knowledge_to_an_h2_server() {
    let (addr, accepted) = h2c_server(100).await;
    let client = h2c_client();
    let res = client
        .get(format!("http://{addr}/hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), "/hi over HTTP/2.0");
    // The connection is reused.
    let res = client
        .get(format!("http://{addr}/again"))
        .send()
        .await
        .unwrap();
    assert!(res.connection_info().unwrap().reused);
    res.text().await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodies_both_ways_under_flow_control_with_trailers() {
    let (addr, _) = h2c_server(100).await;
    let client = h2c_client();
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-sum", "7".parse().unwrap());
    let body =
        Full::new(Bytes::from(data.clone())).with_trailers(std::future::ready(Some(Ok(trailers))));
    let res = client
        .post(format!("http://{addr}/echo"))
        .body(Body::wrap(body))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let collected = res.into_http().into_body().collect().await.unwrap();
    let back_trailers = collected.trailers().cloned();
    assert!(collected.to_bytes() == data);
    assert_eq!(back_trailers.unwrap()["x-sum"], "7");
}

#[tokio::test]
async fn another_connection_once_the_stream_limit_is_reached() {
    let (addr, accepted) = h2c_server(2).await;
    let client = h2c_client();
    // The first request learns the limit of 2.
    client
        .get(format!("http://{addr}/hi"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let res = client
                    .get(format!("http://{addr}/slow"))
                    .send()
                    .await
                    .unwrap();
                res.text().await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "/slow over HTTP/2.0");
    }
    let n = accepted.load(Ordering::SeqCst);
    assert!(
        n >= 3,
        "6 requests at 2 streams each need 3 connections, {n} were made"
    );
}

#[tokio::test]
async fn tls_with_alpn_h2() {
    let ca = Ca::root("h2 client CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .alpn(["h2"])
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    h2_serve(tls, 100).await;
                }
            });
        }
    });
    let connector = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let client = Client::builder().no_proxy().tls(connector).build().unwrap();
    let res = client
        .get(format!("https://localhost:{port}/secure"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), "/secure over HTTP/2.0");
}

#[tokio::test]
async fn tetsuo_client_to_tetsuo_server_over_h2c() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = tetsuo::http::service_fn(|req: http::Request<Body>| async move {
        Ok::<_, std::convert::Infallible>(Response::new(Body::wrap(req.into_body())))
    });
    tokio::spawn(async move {
        tetsuo::http::server::Server::builder()
            .build()
            .serve_tcp(listener, service)
            .await
    });
    let client = h2c_client();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let res = client
                    .post(format!("http://{addr}/"))
                    .body(format!("request {i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.version(), http::Version::HTTP_2);
                res.text().await.unwrap()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("request {i}"));
    }
}

#[tokio::test]
async fn many_small_responses_on_one_connection_keep_its_window_open() {
    // 300 responses of 10 KB: three times the client's connection window.
    let (addr, accepted) = h2c_server(100).await;
    let client = h2c_client();
    let all = async {
        for _ in 0..300 {
            let res = client
                .get(format!("http://{addr}/10k"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.bytes().await.unwrap().len(), 10_000);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the connection did not stall");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_connection() {
    let (addr, accepted) = h2c_server(100).await;
    let client = h2c_client();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let res = client
                    .get(format!("http://{addr}/{i}"))
                    .send()
                    .await
                    .unwrap();
                res.text().await.unwrap()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("/{i} over HTTP/2.0"));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_refused_by_a_goaway_go_again_on_a_new_connection() {
    // The first connection goes away before processing anything (GOAWAY
    // with last stream 0); the next ones serve.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::spawn(async move {
                    let mut conn = h2::server::Builder::new()
                        .handshake::<_, Bytes>(tcp)
                        .await
                        .unwrap();
                    conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                    while let Some(Ok(_)) = conn.accept().await {}
                });
            } else {
                tokio::spawn(h2_serve(tcp, 100));
            }
        }
    });
    let client = h2c_client();
    // A POST too: a request the server never processed may be sent again
    // whatever its method (RFC 9113 §8.7).
    let res = client
        .post(format!("http://{addr}/echo"))
        .body("sent twice, processed once")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "sent twice, processed once");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_read_timeout_and_the_deadline_cover_http2_bodies() {
    let (addr, _) = h2c_server(100).await;
    let client = Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let res = client
        .get(format!("http://{addr}/stall"))
        .send()
        .await
        .unwrap();
    let mut body = res.into_http().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"first");
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), tetsuo::ErrorKind::Timeout, "{err}");
    // The request's deadline covers the body too.
    let res = h2c_client()
        .get(format!("http://{addr}/stall"))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap();
    let err = res.bytes().await.unwrap_err();
    assert_eq!(err.kind(), tetsuo::ErrorKind::Timeout, "{err}");
}
