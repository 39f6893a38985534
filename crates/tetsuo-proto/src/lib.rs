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
//! # Status
//!
//! The crate is the home of the protocol cores; they land one issue at a time
//! (HTTP/1.1 first, then HPACK and HTTP/2, WebSocket, SOCKS, and the connect
//! pipeline's pure logic). See the workspace README's feature table for what
//! exists today.

#![forbid(unsafe_code)]

pub mod h1;
