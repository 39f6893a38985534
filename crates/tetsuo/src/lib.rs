//! tetsuo: a production networking toolkit on tokio.
//!
//! tetsuo gives Rust programs what they need to talk over real networks:
//! sockets with every production option, and (as the project grows) TLS, a
//! connect pipeline that survives real networks, HTTP/1.1, HTTP/2 and
//! WebSocket clients and servers. Protocol logic lives in the sans-I/O crate
//! `tetsuo-proto`; this crate drives it over tokio and offers a blocking
//! facade.
//!
//! # Modules
//!
//! - [`net`]: TCP, UDP and Unix sockets with their options, fd passing, peer
//!   credentials, timeouts and deadlines.
//! - [`tls`] (feature `tls`, on by default): TLS clients and servers on
//!   rustls with SNI, ALPN, resumption, OCSP stapling, mTLS and pinning.
//! - [`connect`] (feature `connect`, on by default): the connect
//!   pipeline — [`dns`] resolution, Happy Eyeballs v2, [`proxy`] hops
//!   (SOCKS4/4a/5, HTTP CONNECT), TLS, backoff, retries, circuit breakers,
//!   reconnection.
//! - [`http`] (feature `http`, on by default): the HTTP/1.1 server and
//!   client.
//! - `ws` (feature `ws`): WebSocket clients and servers with
//!   permessage-deflate.
//! - [`blocking`]: the same for code without an async runtime.
//! - [`Error`]: the one error type, with [`ErrorKind`] and predicates.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tetsuo::net::{TcpConnector, TcpListenerBuilder};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
//! let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
//!     .nodelay(true)
//!     .bind()?;
//! let addr = listener.local_addr().unwrap();
//! tokio::spawn(async move {
//!     let (mut conn, _) = listener.accept().await.unwrap();
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).await.unwrap();
//!     conn.write_all(&buf).await.unwrap();
//! });
//!
//! let mut stream = TcpConnector::new()
//!     .connect_timeout(Duration::from_secs(2))
//!     .connect(addr)
//!     .await?;
//! stream.write_all(b"hello").await.unwrap();
//! let mut reply = [0; 5];
//! stream.read_exact(&mut reply).await.unwrap();
//! assert_eq!(&reply, b"hello");
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `http` (default): the [`http`] module (server, client, `Body`) and the
//!   blocking client.
//! - `connect` (default, implied by `http`): [`connect`], [`dns`],
//!   [`proxy`], [`pool`] and [`balance`].
//! - `discover`: `tetsuo::discover`, endpoints from watched files and etcd
//!   feeding a [`balance::Balancer`].
//! - `dns-hickory`: `dns::HickoryResolver`, a caching DNS client;
//!   `dns-over-tls` and `dns-over-https` add those transports.
//! - `ws`: `tetsuo::ws`, WebSocket (RFC 6455, RFC 7692).
//! - `decompression`: the HTTP client decodes gzip, deflate and br bodies
//!   (flate2, brotli-decompressor).
//! - `tls` (default): the [`tls`] module (rustls with the ring provider).
//! - `tls-webpki-roots` (default): Mozilla's root certificates compiled in.
//! - `tls-native-roots`: the operating system's root certificates.
//!
//! The socket layer is always built.

#[cfg(feature = "connect")]
pub mod balance;
pub mod blocking;
#[cfg(feature = "connect")]
pub mod connect;
#[cfg(feature = "discover")]
pub mod discover;
#[cfg(feature = "connect")]
pub mod dns;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod net;
#[cfg(feature = "connect")]
pub mod pool;
#[cfg(feature = "connect")]
pub mod proxy;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "ws")]
pub mod ws;

pub use error::{Error, ErrorKind, Result, TlsCause};

/// The code in the README and the guides compiles: they are doctests.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[cfg(feature = "http")]
    #[doc = include_str!("../../../docs/http-server.md")]
    struct HttpServer;
    #[cfg(all(feature = "ws", feature = "tls"))]
    #[doc = include_str!("../../../docs/http2.md")]
    struct Http2;
    #[cfg(feature = "http")]
    #[doc = include_str!("../../../docs/http-client.md")]
    struct HttpClient;
    #[cfg(feature = "dns-hickory")]
    #[doc = include_str!("../../../docs/connect.md")]
    struct Connect;
    #[cfg(feature = "ws")]
    #[doc = include_str!("../../../docs/websocket.md")]
    struct WebSocket;
    #[cfg(feature = "discover")]
    #[doc = include_str!("../../../docs/pool.md")]
    struct Pool;
    #[cfg(all(unix, feature = "http", feature = "tls"))]
    #[doc = include_str!("../../../docs/tutorial-http-server.md")]
    struct TutorialHttpServer;
    #[cfg(all(feature = "ws", feature = "tls"))]
    #[doc = include_str!("../../../docs/migrating.md")]
    struct Migrating;
    #[cfg(all(target_os = "linux", feature = "ws", feature = "tls"))]
    #[doc = include_str!("../../../docs/production.md")]
    struct Production;
}
