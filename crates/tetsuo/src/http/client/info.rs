//! How the connection behind a response was made: [`ConnectionInfo`].

use std::net::SocketAddr;
use std::time::Duration;

/// How the connection behind a response was made: the story `tetsuo get
/// -v` tells. Fresh connections carry the timings; a reused one says so.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The server's address.
    pub remote_addr: SocketAddr,
    /// Our end.
    pub local_addr: Option<SocketAddr>,
    /// What the host name resolved to.
    pub resolved: Vec<SocketAddr>,
    /// The connection served an earlier request.
    pub reused: bool,
    /// Time to resolve the name.
    pub dns: Duration,
    /// Time to connect (TCP).
    pub connect: Duration,
    /// The TLS session, for `https://`.
    pub tls: Option<TlsSummary>,
}

/// What a TLS handshake settled (see [`ConnectionInfo`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsSummary {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<Vec<u8>>,
    /// The session was resumed.
    pub resumed: bool,
    /// The cipher suite.
    pub cipher_suite: &'static str,
    /// Time the handshake took.
    pub handshake: Duration,
}
