//! How the connection behind a response was made: [`ConnectionInfo`].

use std::ops::Deref;
use std::sync::Arc;

use crate::connect::ConnectInfo;

/// How the connection behind a response was made: the story `tetsuo get
/// -v` tells. It dereferences to the connect pipeline's [`ConnectInfo`]
/// (addresses resolved and tried, proxies, TLS, timings); a reused
/// connection says so and keeps the story of when it was made.
///
/// ```no_run
/// # async fn demo() -> tetsuo::Result<()> {
/// let res = tetsuo::http::client::Client::new().get("https://example.com/").send().await?;
/// let info = res.connection_info().unwrap();
/// println!("{} via {:?} in {:?}, reused: {}", info.remote_addr, info.proxies, info.total, info.reused);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The connection served an earlier request.
    pub reused: bool,
    details: Arc<ConnectInfo>,
}

impl ConnectionInfo {
    pub(crate) fn new(details: ConnectInfo) -> ConnectionInfo {
        ConnectionInfo {
            reused: false,
            details: Arc::new(details),
        }
    }

    /// How the connection was made.
    pub fn details(&self) -> &ConnectInfo {
        &self.details
    }
}

impl Deref for ConnectionInfo {
    type Target = ConnectInfo;

    fn deref(&self) -> &ConnectInfo {
        &self.details
    }
}
