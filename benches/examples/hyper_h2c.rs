//! The peer of `tetsuo serve`'s `/hello` in the HTTP/2 benchmark: a hyper
//! 1.x HTTP/2 server with prior knowledge (h2c) on tokio's multi-thread
//! runtime, written the way hyper's examples serve HTTP/2, answering every
//! request with `Hello, World!`.
//!
//! `cargo run --release -p tetsuo-benches --example hyper_h2c -- 127.0.0.1:8082`

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    eprintln!(
        "hyper_h2c: listening on http://{}",
        listener.local_addr().unwrap()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
