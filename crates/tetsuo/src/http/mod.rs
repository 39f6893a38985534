//! HTTP on tokio: a hardened server for any `tower` service, and (with the
//! client, later in this module) the other end.
//!
//! The protocol itself is `tetsuo_proto::h1`, a sans-I/O state machine; this
//! module moves bytes between it and sockets, runs the application, and adds
//! what a production server needs around it: connection limits overall and
//! per client IP, a per-IP connection rate, timeouts against slow clients,
//! graceful drain, metrics and tracing.
//!
//! - [`client`]: [`Client`](client::Client) with per-origin pools,
//!   redirects, timeouts and safe retries (blocking:
//!   [`crate::blocking::Client`]).
//! - [`server`]: [`Server`](server::Server), its
//!   [`Builder`](server::Builder) and [`Handle`](server::Handle).
//! - [`Body`]: the body type of requests handed to services; also a handy
//!   response body.
//! - [`upgrade`]: taking over the connection after `101 Switching
//!   Protocols` or a successful CONNECT (WebSocket builds on this).
//!
//! # Example
//!
//! ```
//! use http::{Request, Response};
//! use tetsuo::http::{Body, server::Server, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let server = Server::builder().build();
//! let handle = server.handle();
//! let hello = service_fn(|_req: Request<Body>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Body::from("Hello, World!")))
//! });
//! tokio::spawn(async move { server.serve_tcp(listener, hello).await });
//! // ... later: stop accepting, finish what is in flight, close the rest.
//! handle.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod body;
pub mod client;
mod date;
mod h2wire;
pub mod server;
pub mod trace;
pub mod upgrade;

pub use body::{Body, BoxError};
/// The `:protocol` of an extended CONNECT over HTTP/2 (RFC 8441), in a
/// request's extensions: `websocket` for WebSocket over HTTP/2. The server
/// puts it in the requests it receives; the client sends it from
/// [`Client::execute`](client::Client::execute)'s request.
pub use tetsuo_proto::h2::Protocol;

use std::future::Future;
use std::task::{Context, Poll};

/// Headers that belong to one connection, not to the message (RFC 9110
/// §7.6.1): what a proxy removes before passing a request or a response
/// on. Besides those the `Connection` header names.
const HOP_BY_HOP: [http::HeaderName; 9] = [
    http::header::CONNECTION,
    http::HeaderName::from_static("keep-alive"),
    http::HeaderName::from_static("proxy-connection"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::UPGRADE,
    http::header::TRANSFER_ENCODING,
];

/// Removes the hop-by-hop fields of a message (RFC 9110 §7.6.1) — those the
/// `Connection` header names, then `Connection`, `Keep-Alive`,
/// `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
/// `Trailer`, `Upgrade` and `Transfer-Encoding` — as a proxy must before
/// passing it on (the framing is the next hop's own).
///
/// ```
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("connection", "close, x-hop".parse().unwrap());
/// headers.insert("x-hop", "1".parse().unwrap());
/// headers.insert("proxy-authorization", "Basic YTpi".parse().unwrap());
/// headers.insert("content-type", "text/plain".parse().unwrap());
/// tetsuo::http::remove_hop_by_hop(&mut headers);
/// assert_eq!(headers.len(), 1);
/// assert!(headers.contains_key("content-type"));
/// ```
pub fn remove_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<http::HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| http::HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// A [`tower_service::Service`] made of an async function, for handlers that
/// need no state (tower's `service_fn`, without depending on tower).
pub fn service_fn<F>(f: F) -> ServiceFn<F> {
    ServiceFn { f }
}

/// The service [`service_fn`] returns.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFn<F> {
    f: F,
}

impl<F, Fut, Req, Res, E> tower_service::Service<Req> for ServiceFn<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Res, E>>,
{
    type Response = Res;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Fut {
        (self.f)(req)
    }
}
