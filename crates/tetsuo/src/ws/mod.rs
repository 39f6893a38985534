//! WebSocket clients and servers (RFC 6455) with permessage-deflate
//! (RFC 7692), on `tetsuo_proto::ws`.
//!
//! - Server: [`upgrade`] checks a request of tetsuo's HTTP server, gives
//!   the `101` response to return and a future of the [`WebSocket`];
//!   [`WebSocket::from_stream`] serves an already-upgraded stream.
//! - Client: [`connect`] (or [`ClientBuilder`]) opens `ws://` and `wss://`
//!   URLs through the connect pipeline — Happy Eyeballs, proxies, TLS.
//! - [`WebSocket`]: `recv`/`send` of [`Message`]s, a `futures` `Stream` and
//!   `Sink`; pings are answered by themselves, an optional keepalive ping
//!   detects dead peers, and a normal close is not an error. Messages too
//!   large to hold go in [`Fragment`]s, and arrive in them when
//!   [`WsConfig::fragments`] is on.

mod client;
mod server;
mod socket;

pub use client::{ClientBuilder, connect};
pub use server::{Pending, ServerConfig, upgrade};
pub use socket::{Message, WebSocket, WsConfig};
pub use tetsuo_proto::ws::deflate::DeflateConfig;
pub use tetsuo_proto::ws::{CloseCode, CloseFrame, Fragment, Limits};
