//! The server's limits and timeouts: [`Builder`] and the `Config` it
//! builds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::gate::Gate;
use super::{Limits, Server, Shared};

/// Timeouts and limits of one server. Build with [`Server::builder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) connection_rate_per_ip: Option<(f64, u32)>,
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) body_read_timeout: Option<Duration>,
    pub(crate) min_body_rate: u64,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) max_requests_per_connection: u64,
    pub(crate) body_buffer: usize,
    pub(crate) tls_handshake_timeout: Option<Duration>,
    pub(crate) http2: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            connection_rate_per_ip: None,
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(60)),
            body_read_timeout: Some(Duration::from_secs(30)),
            min_body_rate: 0,
            write_timeout: Some(Duration::from_secs(30)),
            max_requests_per_connection: 0,
            body_buffer: 64 * 1024,
            tls_handshake_timeout: Some(Duration::from_secs(10)),
            http2: true,
        }
    }
}

/// Configures a [`Server`]. Every limit has a safe default; `0` (or `None`
/// for durations) means unlimited.
///
/// ```
/// use std::time::Duration;
/// use tetsuo::http::server::Server;
///
/// let server = Server::builder()
///     .max_connections(50_000)
///     .max_connections_per_ip(64)
///     .connection_rate_per_ip(20.0, 40)
///     .header_read_timeout(Some(Duration::from_secs(5)))
///     .idle_timeout(Some(Duration::from_secs(30)))
///     .build();
/// # drop(server);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// Parser limits: head and field sizes, header count, body size
    /// (`tetsuo_proto::h1::Limits`; defaults 8 KiB request line, 100
    /// fields, 64 KiB head, no body limit).
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.config.limits = limits;
        self
    }

    /// Most connections open at once, all listeners together (default
    /// 10 000). Further connections are refused at accept.
    pub fn max_connections(mut self, n: usize) -> Builder {
        self.config.max_connections = n;
        self
    }

    /// Most connections open at once from one client IP (default 256).
    pub fn max_connections_per_ip(mut self, n: usize) -> Builder {
        self.config.max_connections_per_ip = n;
        self
    }

    /// New connections per second accepted from one client IP, with bursts
    /// of up to `burst` (a token bucket per IP; default unlimited). A rate
    /// of 0 removes the limit.
    pub fn connection_rate_per_ip(mut self, per_second: f64, burst: u32) -> Builder {
        self.config.connection_rate_per_ip =
            (per_second > 0.0).then_some((per_second, burst.max(1)));
        self
    }

    /// Longest time from the first byte of a request head to its end
    /// (default 10 s): the slowloris defence. Answered with `408` and a
    /// close.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.header_read_timeout = timeout;
        self
    }

    /// Longest a keep-alive connection may wait for the next request
    /// (default 60 s); closed quietly after.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.idle_timeout = timeout;
        self
    }

    /// Longest wait for the next bytes of a request body while the service
    /// waits for them (default 30 s); `408` if nothing was answered yet.
    pub fn body_read_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.body_read_timeout = timeout;
        self
    }

    /// Slowest acceptable request body, in bytes per second, measured over
    /// each body-read-timeout window while the service waits (default 0:
    /// only the timeout applies).
    pub fn min_body_rate(mut self, bytes_per_second: u64) -> Builder {
        self.config.min_body_rate = bytes_per_second;
        self
    }

    /// Longest a write may make no progress (default 30 s): clients that
    /// stop reading are dropped.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.write_timeout = timeout;
        self
    }

    /// Requests served on one connection before it is closed (the last
    /// response says `Connection: close`; default 0, unlimited).
    pub fn max_requests_per_connection(mut self, n: u64) -> Builder {
        self.config.max_requests_per_connection = n;
        self
    }

    /// Request-body bytes buffered ahead of the service before the server
    /// stops reading from the socket (default 64 KiB).
    pub fn body_buffer(mut self, bytes: usize) -> Builder {
        self.config.body_buffer = bytes.max(1);
        self
    }

    /// Longest TLS handshake on `serve_tls` listeners (default 10 s).
    pub fn tls_handshake_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.tls_handshake_timeout = timeout;
        self
    }

    /// Serve HTTP/2 too (default on): on TLS connections whose ALPN chose
    /// `h2` (list `h2` in the acceptor's ALPN protocols), and on plain
    /// connections that open with HTTP/2's preface (prior knowledge, h2c).
    pub fn http2(mut self, on: bool) -> Builder {
        self.config.http2 = on;
        self
    }

    /// The server.
    pub fn build(self) -> Server {
        let c = &self.config;
        let gate = Gate::new(
            c.max_connections,
            c.max_connections_per_ip,
            c.connection_rate_per_ip,
        );
        Server {
            shared: Arc::new(Shared {
                gate: Arc::new(gate),
                config: self.config,
                drain: CancellationToken::new(),
                stopped: AtomicBool::new(false),
                stop_token: CancellationToken::new(),
                tracker: TaskTracker::new(),
                draining: AtomicBool::new(false),
                refusing: AtomicUsize::new(0),
                drain_wakers: Mutex::new(HashMap::new()),
                next_waker: AtomicU64::new(0),
            }),
        }
    }
}
