//! The client's connections per origin: [`crate::pool::Pool`] keyed by
//! origin, holding HTTP/1.1 connections.

use super::conn::ClientConn;
use crate::pool::Poolable;

/// An origin: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The host is an HTTP proxy that forwards requests for any origin
    /// (absolute-form targets).
    pub(crate) forward: bool,
}

impl Key {
    /// `host:port` with IPv6 hosts in brackets.
    pub(crate) fn authority(&self) -> String {
        crate::connect::authority(&self.host, self.port)
    }
}

pub(crate) type Pool = crate::pool::Pool<Key, ClientConn>;
pub(crate) type Pooled = crate::pool::Pooled<Key, ClientConn>;
pub(crate) type Checkout = crate::pool::Checkout<Key, ClientConn>;

impl Poolable for ClientConn {
    fn is_reusable(&self) -> bool {
        self.reusable()
    }

    /// Closed by the server while idle (or a byte it should not have
    /// sent): not alive.
    async fn is_alive(&mut self) -> bool {
        !self.is_stale().await
    }
}
