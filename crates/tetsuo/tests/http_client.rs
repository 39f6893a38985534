//! tetsuo's HTTP/1.1 client against tetsuo's server, hyper's server and raw
//! sockets: pooling, limits per host, redirects, timeouts, safe retries,
//! TLS, and the blocking facade.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::IterStream;
use tetsuo::http::client::{Client, RedirectPolicy};
use tetsuo::http::server::{Handle, Server};
use tetsuo::http::{Body, service_fn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// In-flight requests to `/slow`, and the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

async fn start_app(
    gauge: Arc<Gauge>,
    builder: tetsuo::http::server::Builder,
) -> (SocketAddr, Handle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = builder.build();
    let handle = server.handle();
    let app = service_fn(move |req: Request<Body>| {
        let gauge = gauge.clone();
        async move {
            Ok::<_, Infallible>(match req.uri().path() {
                "/hello" => Response::new(Body::from("Hello, World!")),
                "/echo" => Response::new(req.into_body()),
                "/redirect" => Response::builder()
                    .status(StatusCode::FOUND)
                    .header("location", "/hello")
                    .body(Body::empty())
                    .unwrap(),
                "/see-other" => Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header("location", "/method")
                    .body(Body::empty())
                    .unwrap(),
                "/method" => Response::new(Body::from(req.method().to_string())),
                "/auth" => Response::new(Body::from(
                    req.headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default(),
                )),
                "/slow" => {
                    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    gauge.now.fetch_sub(1, Ordering::SeqCst);
                    Response::new(Body::from("slow"))
                }
                _ => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Body::empty())
                    .unwrap(),
            })
        }
    });
    tokio::spawn(async move { server.serve_tcp(listener, app).await });
    (addr, handle)
}

async fn start() -> (SocketAddr, Handle, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let (addr, handle) = start_app(gauge.clone(), Server::builder()).await;
    (addr, handle, gauge)
}

#[tokio::test]
async fn gets_and_posts_reusing_one_connection() {
    let (addr, handle, _) = start().await;
    let client = Client::new();
    for i in 0..3 {
        let res = client
            .get(format!("http://{addr}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let info = res.connection_info().unwrap();
        assert_eq!(info.remote_addr, addr);
        assert_eq!(info.reused, i > 0, "request {i}");
        assert_eq!(res.text().await.unwrap(), "Hello, World!");
    }
    let res = client
        .post(format!("http://{addr}/echo"))
        .body("posted")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "posted");
    // A streamed (chunked) upload, echoed back chunked.
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = (0..20)
        .map(|i| Ok(http_body::Frame::data(Bytes::from(format!("{i},")))))
        .collect();
    let res = client
        .post(format!("http://{addr}/echo"))
        .body(Body::wrap(http_body_util::StreamBody::new(IterStream(
            chunks.into_iter(),
        ))))
        .send()
        .await
        .unwrap();
    let expected: String = (0..20).map(|i| format!("{i},")).collect();
    assert_eq!(res.text().await.unwrap(), expected);
    // HEAD: the length the GET would have, and no body; the connection
    // stays in step (it serves the count below).
    let res = client
        .request(http::Method::HEAD, format!("http://{addr}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-length"], "13");
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(
        handle.open_connections(),
        1,
        "one pooled connection served all"
    );
}

#[tokio::test]
async fn against_hyper_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let reply = match path.as_str() {
                            "/echo" => body,
                            _ => Bytes::from_static(b"hello from hyper"),
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(reply)))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let client = Client::new();
    let res = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "hello from hyper");
    let big = vec![b'q'; 500_000];
    let res = client
        .post(format!("http://{addr}/echo"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap(), big);
}

#[tokio::test]
async fn at_most_max_per_host_connections_and_the_rest_wait() {
    let (addr, handle, gauge) = start().await;
    let client = Client::builder().pool_max_per_host(2).build().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .get(format!("http://{addr}/slow"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), "slow");
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
    assert!(handle.open_connections() <= 2);
}

#[tokio::test]
async fn follows_redirects_by_policy() {
    let (addr, _, _) = start().await;
    let client = Client::new();
    let res = client
        .get(format!("http://{addr}/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.url().path(), "/hello");
    assert_eq!(res.text().await.unwrap(), "Hello, World!");
    // 303 turns a POST into a GET.
    let res = client
        .post(format!("http://{addr}/see-other"))
        .body("dropped")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "GET");

    let client = Client::builder()
        .redirect(RedirectPolicy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("http://{addr}/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/hello");
}

#[tokio::test]
async fn credentials_are_not_sent_to_another_origin_on_redirect() {
    let (a, _, _) = start().await;
    // A second server on another address redirects to the first.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = listener.local_addr().unwrap();
    let server = Server::builder().build();
    let target = format!("http://{a}/auth");
    let redirector = service_fn(move |_req: Request<Body>| {
        let target = target.clone();
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header("location", target)
                    .body(Body::empty())
                    .unwrap(),
            )
        }
    });
    tokio::spawn(async move { server.serve_tcp(listener, redirector).await });
    let client = Client::new();
    let res = client
        .get(format!("http://{b}/"))
        .bearer_auth("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.url().to_string(), format!("http://{a}/auth"));
    assert_eq!(
        res.text().await.unwrap(),
        "",
        "the token must not follow the redirect"
    );
    // Same origin: it is sent.
    let res = client
        .get(format!("http://{a}/auth"))
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "Basic dXNlcjpwYXNz");
}

#[tokio::test]
async fn request_timeout_is_a_timeout_error() {
    let (addr, _, _) = start().await;
    let client = Client::new();
    let err = client
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_connection_closed_by_the_server_is_retried_once_on_a_fresh_one() {
    // A raw server: the first connection answers one request with
    // keep-alive, then closes as the second request arrives (the race a
    // pool always risks); the second connection answers normally.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let (mut first, _) = listener.accept().await.unwrap();
        counter.fetch_add(1, Ordering::SeqCst);
        let mut buf = vec![0; 1024];
        let _ = first.read(&mut buf).await.unwrap();
        first.write_all(reply).await.unwrap();
        // The second request arrives; the server closes without answering.
        let _ = first.read(&mut buf).await.unwrap();
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        counter.fetch_add(1, Ordering::SeqCst);
        let _ = second.read(&mut buf).await.unwrap();
        second.write_all(reply).await.unwrap();
        let _ = second.read(&mut buf).await;
    });
    let client = Client::new();
    let url = format!("http://{addr}/");
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "ok"
    );
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "ok"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_used() {
    let gauge = Arc::new(Gauge::default());
    let (addr, _) = start_app(
        gauge,
        Server::builder().idle_timeout(Some(Duration::from_millis(100))),
    )
    .await;
    let client = Client::new();
    let url = format!("http://{addr}/hello");
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "Hello, World!"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Even a POST (not retried) succeeds: the stale connection is seen
    // before anything is sent on it.
    let res = client
        .post(format!("http://{addr}/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "x");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn https_to_serve_tls() {
    use support::pki::{Ca, Validity};
    let ca = Ca::root("client test CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::builder().build();
    let hello = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("secure hello")))
    });
    tokio::spawn(async move { server.serve_tls(listener, acceptor, hello).await });
    let tls = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .build()
        .unwrap();
    let client = Client::builder().tls(tls).build().unwrap();
    let res = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "secure hello");
}

#[test]
fn the_blocking_client_works_outside_a_runtime_and_refuses_inside_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, _, _) = runtime.block_on(start());
    let res = tetsuo::blocking::get(format!("http://{addr}/hello")).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().unwrap(), "Hello, World!");
    let client = tetsuo::blocking::Client::new().unwrap();
    let mut res = client
        .post(format!("http://{addr}/echo"))
        .body(vec![7u8; 100_000])
        .send()
        .unwrap();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut res, &mut body).unwrap();
    assert_eq!(body, vec![7u8; 100_000]);

    // Inside a runtime: an error, not a panic.
    let err = runtime.block_on(async { tetsuo::blocking::get(format!("http://{addr}/hello")) });
    let err = err.unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    assert!(err.to_string().contains("async runtime"), "{err}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn https_to_hyper_over_tls() {
    use support::pki::{Ca, Validity};
    let ca = Ca::root("hyper tls CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let acceptor = tetsuo::tls::TlsAcceptor::builder()
        .identity(leaf.identity())
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"hyper over tls",
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    let tls = tetsuo::tls::TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    let client = Client::builder().tls(tls).build().unwrap();
    for _ in 0..2 {
        let res = client
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "hyper over tls");
    }
}

#[tokio::test]
async fn a_waiter_cancelled_after_being_handed_a_connection_passes_it_on() {
    let (addr, _, _) = start().await;
    let client = Client::builder().pool_max_per_host(1).build().unwrap();
    let url = format!("http://{addr}/slow");
    // A holds the only place for 200 ms.
    let a = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // B queues for it...
    let mut b = Box::pin(client.get(&url).send());
    assert!(
        tokio::time::timeout(Duration::from_millis(10), &mut b)
            .await
            .is_err()
    );
    // ...is handed A's connection when A is done, and is dropped before it
    // looks: the connection must not be lost with it.
    assert_eq!(a.await.unwrap(), "slow");
    drop(b);
    let c = tokio::time::timeout(Duration::from_secs(3), async {
        client.get(&url).send().await.unwrap().text().await.unwrap()
    })
    .await
    .expect("the place was leaked: the next request waits forever");
    assert_eq!(c, "slow");
}

#[tokio::test]
async fn through_a_socks_proxy_and_pinned_addresses() {
    let (addr, _handle) = start_app(Arc::default(), Server::builder()).await;
    let socks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socks_addr = socks.local_addr().unwrap();
    tokio::spawn(async move {
        tetsuo::proxy::SocksServer::builder()
            .auth("u", "p")
            .build()
            .serve(socks)
            .await
    });
    // "app.test" resolves nowhere but through the override; the proxy
    // receives the address (socks5, not socks5h).
    let mut overrides = tetsuo::dns::Overrides::new();
    overrides.insert("app.test", addr.port(), vec![addr.ip()]);
    let proxy = tetsuo::proxy::Proxy::parse(&format!("socks5h://u:p@{socks_addr}")).unwrap();
    let client = Client::builder()
        .proxies(tetsuo::proxy::Proxies::chain([proxy]))
        .build()
        .unwrap();
    let res = client
        .get(format!("http://localhost:{}/hello", addr.port()))
        .send()
        .await
        .unwrap();
    let info = res.connection_info().unwrap().clone();
    assert_eq!(res.text().await.unwrap(), "Hello, World!");
    assert_eq!(info.remote_addr, socks_addr);
    assert_eq!(info.proxies, [format!("socks5h://u:***@{socks_addr}")]);
    // The second request reuses the tunnelled connection.
    let res = client
        .get(format!("http://localhost:{}/hello", addr.port()))
        .send()
        .await
        .unwrap();
    assert!(res.connection_info().unwrap().reused);

    let direct = Client::builder()
        .no_proxy()
        .overrides(overrides)
        .build()
        .unwrap();
    let res = direct
        .get(format!("http://app.test:{}/hello", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.connection_info().unwrap().remote_addr, addr);
    assert_eq!(res.text().await.unwrap(), "Hello, World!");
}

#[tokio::test]
async fn plain_http_through_an_http_proxy_is_forwarded_in_absolute_form() {
    // A hyper "proxy" that answers with what it was asked.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let auth = req
                            .headers()
                            .get("proxy-authorization")
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        let host = req.headers()["host"].to_str().unwrap().to_owned();
                        let said =
                            format!("{} {} host={host} auth={auth}", req.method(), req.uri());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(said))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let proxy = tetsuo::proxy::Proxy::parse(&format!("http://u:p@{proxy_addr}")).unwrap();
    let client = Client::builder()
        .proxies(tetsuo::proxy::Proxies::chain([proxy]))
        .build()
        .unwrap();
    let res = client
        .get("http://app.test:8080/a?b=c")
        .send()
        .await
        .unwrap();
    let info = res.connection_info().unwrap().clone();
    assert_eq!(
        res.text().await.unwrap(),
        "GET http://app.test:8080/a?b=c host=app.test:8080 auth=Basic dTpw"
    );
    assert_eq!(info.remote_addr, proxy_addr);
    assert_eq!(
        info.forward_proxy.as_deref(),
        Some(&*format!("http://{proxy_addr}"))
    );
    // Another origin shares the connection to the proxy.
    let res = client.get("http://[::1]/x").send().await.unwrap();
    assert!(res.connection_info().unwrap().reused);
    assert_eq!(
        res.text().await.unwrap(),
        "GET http://[::1]/x host=[::1] auth=Basic dTpw"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_read_timeout_covers_a_body_that_stalls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst")
            .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let client = Client::builder()
        .no_proxy()
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let res = client.get(format!("http://{addr}/")).send().await.unwrap();
    let started = std::time::Instant::now();
    let err = res.bytes().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
