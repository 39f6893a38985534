//! Sans-I/O protocol cores for tetsuo.
//!
//! Every protocol tetsuo speaks is a state machine in this crate that never
//! touches a socket, a clock, a runtime or a randomness source: bytes go in
//! through `handle_*` methods, events and bytes to send come out through
//! `poll_*` methods, and time is an `Instant` the caller passes in. The I/O
//! crate `tetsuo` drives these machines over tokio; the same cores serve the
//! blocking API, the C ABI and the Python package, and they are fuzzed byte by
//! byte.
//!
//! This crate contains no `unsafe` code (`#![forbid(unsafe_code)]`) and does
//! not depend on tokio.
//!
//! # Modules
//!
//! - [`h1`]: HTTP/1.1 — a strict zero-copy head parser, body framing, an
//!   encoder and a connection state machine.
//! - [`rate`]: a token bucket that is told the time (per-IP connection
//!   rates, pool connection rates).
//! - [`connect`]: the connect pipeline's decisions — Happy Eyeballs v2,
//!   backoff with jitter, a circuit breaker.
//! - [`socks`]: SOCKS4, SOCKS4a and SOCKS5 client and server handshakes.
//! - [`tunnel`]: the HTTP CONNECT request and reply of an HTTP proxy.
//! - [`ws`]: WebSocket (RFC 6455) with permessage-deflate (RFC 7692):
//!   frames, messages, the opening and closing handshakes.
//! - [`hpack`]: HTTP/2 header compression (RFC 7541): the static and
//!   dynamic tables, Huffman coding, decoder limits.
//! - [`h2`]: HTTP/2 (RFC 9113): the frame layer and SETTINGS; the
//!   connection machine follows.
//!
//! # Example
//!
//! ```
//! use tetsuo_proto::h1::{Connection, Event, Limits, Side};
//!
//! let mut server = Connection::new(Side::Server, Limits::default());
//! server.handle_input(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
//! assert!(matches!(server.poll_event(), Some(Event::Request(_))));
//! // A request smuggling attempt is refused with 400 and the connection closes.
//! let mut server = Connection::new(Side::Server, Limits::default());
//! let attack = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n";
//! assert!(server.handle_input(attack).is_err());
//! assert!(server.wants_close());
//! ```

#![forbid(unsafe_code)]

pub mod connect;
pub mod h1;
pub mod h2;
pub mod hpack;
pub mod rate;
pub mod socks;
pub mod tunnel;
pub mod ws;
