//! tetsuo's server with nothing around it — no metrics recorder, no routing,
//! no logging — answering every request with `Hello, World!`: the same job
//! as `hyper_hello`, to separate the server core's cost from what `tetsuo
//! serve` adds.
//!
//! `cargo run --release -p tetsuo-benches --example tetsuo_hello -- 127.0.0.1:8082`

use std::convert::Infallible;

use http::{Request, Response, header};
use tetsuo::http::{Body, server::Server, service_fn};

async fn hello(_: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut res = Response::new(Body::from("Hello, World!"));
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
        "tetsuo_hello: listening on http://{}",
        listener.local_addr().unwrap()
    );
    let server = Server::builder().max_connections_per_ip(0).build();
    server.serve_tcp(listener, service_fn(hello)).await.unwrap();
}
