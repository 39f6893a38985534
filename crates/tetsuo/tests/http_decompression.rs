//! The client's transparent decoding of gzip, deflate and br bodies (feature
//! `decompression`), and its cap on the decoded size.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use http::{Request, Response};
use tetsuo::http::client::Client;
use tetsuo::http::server::{Limits, Server};
use tetsuo::http::{Body, service_fn};

/// "Hello, brotli! " twenty times, compressed with brotli (quality 9).
const BROTLI: &[u8] = &[
    27, 43, 1, 0, 196, 109, 108, 93, 253, 174, 225, 217, 62, 33, 8, 162, 82, 100, 192, 18, 62, 206,
    154, 171, 144, 219, 159, 18, 0,
];

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Serves fixed compressed bodies, and tells what Accept-Encoding it got.
async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().build();
    let app = service_fn(|req: Request<Body>| async move {
        let (coding, body): (&str, Vec<u8>) = match req.uri().path() {
            "/gzip" => ("gzip", gzip(&b"gzip text ".repeat(100))),
            "/deflate" => ("deflate", zlib(&b"deflate text ".repeat(100))),
            "/br" => ("br", BROTLI.to_vec()),
            // 10 MB of zeros in a few kilobytes.
            "/bomb" => ("gzip", gzip(&vec![0u8; 10_000_000])),
            "/corrupt" => ("gzip", b"not gzip at all".to_vec()),
            _ => {
                let accept = req
                    .headers()
                    .get("accept-encoding")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                return Ok::<_, Infallible>(Response::new(Body::from(accept)));
            }
        };
        Ok(Response::builder()
            .header("content-encoding", coding)
            .body(Body::from(body))
            .unwrap())
    });
    tokio::spawn(async move { server.serve_tcp(listener, app).await });
    addr
}

#[tokio::test]
async fn gzip_deflate_and_br_are_decoded() {
    let addr = start().await;
    let client = Client::new();
    let res = client
        .get(format!("http://{addr}/accept"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "gzip, deflate, br");

    let res = client
        .get(format!("http://{addr}/gzip"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert!(res.headers().get("content-length").is_none());
    assert_eq!(res.text().await.unwrap(), "gzip text ".repeat(100));
    let res = client
        .get(format!("http://{addr}/deflate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "deflate text ".repeat(100));
    let res = client
        .get(format!("http://{addr}/br"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "Hello, brotli! ".repeat(20));

    // Turned off: the bytes as sent.
    let raw = Client::builder().decompress(false).build().unwrap();
    let res = raw.get(format!("http://{addr}/gzip")).send().await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.bytes().await.unwrap(), gzip(&b"gzip text ".repeat(100)));
}

#[tokio::test]
async fn a_compression_bomb_stops_at_the_body_limit() {
    let addr = start().await;
    let mut limits = Limits::default();
    limits.max_body = Some(1_000_000);
    let client = Client::builder().limits(limits).build().unwrap();
    let err = client
        .get(format!("http://{addr}/bomb"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), tetsuo::ErrorKind::Limit, "{err:?}");

    let err = Client::new()
        .get(format!("http://{addr}/corrupt"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}
