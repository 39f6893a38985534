//! TCP listener and connector builders.
//!
//! Both builders create the socket with `socket2`, apply every requested
//! option *before* `bind`/`listen`/`connect` (some options only work then),
//! and hand back the standard types: `tokio::net::{TcpListener, TcpStream}`
//! from the async methods, `std::net::{TcpListener, TcpStream}` from the
//! `*_blocking` ones. Options the platform lacks fail with
//! [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) instead of being
//! ignored.

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};

#[cfg(not(target_os = "linux"))]
use super::sockopt::unsupported;
use super::sockopt::{set_bind_device, set_reuse_port};
use crate::error::{Error, ErrorKind, Result};

/// TCP keepalive probing: how long a connection may sit idle before the first
/// probe, the gap between probes, and how many unanswered probes drop it.
///
/// Unset fields keep the system defaults (on Linux `net.ipv4.tcp_keepalive_*`:
/// 7200 s, 75 s, 9).
///
/// ```
/// use std::time::Duration;
/// use tetsuo::net::Keepalive;
///
/// let ka = Keepalive::new()
///     .idle(Duration::from_secs(30))
///     .interval(Duration::from_secs(5))
///     .count(4);
/// assert_eq!(ka.idle_time(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    idle: Option<Duration>,
    interval: Option<Duration>,
    count: Option<u32>,
}

impl Keepalive {
    /// Keepalive on, with the system's timings.
    pub fn new() -> Keepalive {
        Keepalive::default()
    }

    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub fn idle(mut self, idle: Duration) -> Keepalive {
        self.idle = Some(idle);
        self
    }

    /// Time between probes (`TCP_KEEPINTVL`).
    pub fn interval(mut self, interval: Duration) -> Keepalive {
        self.interval = Some(interval);
        self
    }

    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub fn count(mut self, count: u32) -> Keepalive {
        self.count = Some(count);
        self
    }

    /// The configured idle time, if any.
    pub fn idle_time(&self) -> Option<Duration> {
        self.idle
    }

    /// The configured probe interval, if any.
    pub fn interval_time(&self) -> Option<Duration> {
        self.interval
    }

    /// The configured probe count, if any.
    pub fn probe_count(&self) -> Option<u32> {
        self.count
    }
}

/// Options common to listeners and connections.
#[derive(Debug, Clone, Default)]
struct TcpOptions {
    nodelay: Option<bool>,
    keepalive: Option<Keepalive>,
    send_buffer_size: Option<usize>,
    recv_buffer_size: Option<usize>,
    linger: Option<Option<Duration>>,
    reuse_address: Option<bool>,
    reuse_port: Option<bool>,
    only_v6: Option<bool>,
    user_timeout: Option<Duration>,
    bind_device: Option<String>,
    congestion: Option<String>,
}

impl TcpOptions {
    /// Applies every set option to `sock`; errors name the option.
    fn apply(&self, sock: &Socket, addr: SocketAddr) -> Result<()> {
        let fail = |op: &'static str| move |e| Error::io(op, e);
        if let Some(on) = self.reuse_address {
            sock.set_reuse_address(on)
                .map_err(fail("set SO_REUSEADDR on"))?;
        }
        if let Some(on) = self.reuse_port {
            set_reuse_port(sock, on)?;
        }
        if let Some(only) = self.only_v6
            && addr.is_ipv6()
        {
            sock.set_only_v6(only).map_err(fail("set IPV6_V6ONLY on"))?;
        }
        if let Some(on) = self.nodelay {
            sock.set_tcp_nodelay(on)
                .map_err(fail("set TCP_NODELAY on"))?;
        }
        if let Some(ka) = &self.keepalive {
            sock.set_tcp_keepalive(&keepalive_params(ka)?)
                .map_err(fail("set SO_KEEPALIVE on"))?;
        }
        if let Some(size) = self.send_buffer_size {
            sock.set_send_buffer_size(size)
                .map_err(fail("set SO_SNDBUF on"))?;
        }
        if let Some(size) = self.recv_buffer_size {
            sock.set_recv_buffer_size(size)
                .map_err(fail("set SO_RCVBUF on"))?;
        }
        if let Some(linger) = self.linger {
            sock.set_linger(linger).map_err(fail("set SO_LINGER on"))?;
        }
        if let Some(timeout) = self.user_timeout {
            set_user_timeout(sock, timeout)?;
        }
        if let Some(device) = &self.bind_device {
            set_bind_device(sock, device)?;
        }
        if let Some(algorithm) = &self.congestion {
            set_congestion(sock, algorithm)?;
        }
        Ok(())
    }
}

fn keepalive_params(ka: &Keepalive) -> Result<TcpKeepalive> {
    let mut params = TcpKeepalive::new();
    if let Some(idle) = ka.idle {
        params = params.with_time(idle);
    }
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd"
    ))]
    {
        if let Some(interval) = ka.interval {
            params = params.with_interval(interval);
        }
        if let Some(count) = ka.count {
            params = params.with_retries(count);
        }
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd"
    )))]
    if ka.interval.is_some() || ka.count.is_some() {
        return Err(unsupported("set TCP_KEEPINTVL/TCP_KEEPCNT on"));
    }
    Ok(params)
}

#[cfg(target_os = "linux")]
fn set_user_timeout(sock: &Socket, timeout: Duration) -> Result<()> {
    sock.set_tcp_user_timeout(Some(timeout))
        .map_err(|e| Error::io("set TCP_USER_TIMEOUT on", e))
}

#[cfg(target_os = "linux")]
fn set_congestion(sock: &Socket, algorithm: &str) -> Result<()> {
    sock.set_tcp_congestion(algorithm.as_bytes()).map_err(|e| {
        let err = Error::io("set TCP_CONGESTION on", e);
        if err.io_error().and_then(std::io::Error::raw_os_error) == Some(libc::ENOENT) {
            Error::new(ErrorKind::Unsupported, "set TCP_CONGESTION on")
                .with_detail(format!(
                    "congestion control algorithm {algorithm:?} is not available \
                     (see /proc/sys/net/ipv4/tcp_available_congestion_control)"
                ))
                .with_source(std::io::Error::from_raw_os_error(libc::ENOENT))
        } else {
            err
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn set_user_timeout(_: &Socket, _: Duration) -> Result<()> {
    Err(unsupported("set TCP_USER_TIMEOUT on"))
}

#[cfg(not(target_os = "linux"))]
fn set_congestion(_: &Socket, _: &str) -> Result<()> {
    Err(unsupported("set TCP_CONGESTION on"))
}

/// Setters shared by both builders; each documents the option it sets.
macro_rules! tcp_option_setters {
    () => {
        /// Disables Nagle's algorithm (`TCP_NODELAY`) so small writes leave at once.
        pub fn nodelay(mut self, on: bool) -> Self {
            self.opts.nodelay = Some(on);
            self
        }

        /// Turns on keepalive probing (`SO_KEEPALIVE`) with the given timings.
        pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
            self.opts.keepalive = Some(keepalive);
            self
        }

        /// Requests a send buffer of `bytes` (`SO_SNDBUF`); Linux doubles the
        /// figure for bookkeeping and caps it at `net.core.wmem_max`.
        pub fn send_buffer_size(mut self, bytes: usize) -> Self {
            self.opts.send_buffer_size = Some(bytes);
            self
        }

        /// Requests a receive buffer of `bytes` (`SO_RCVBUF`); Linux doubles the
        /// figure for bookkeeping and caps it at `net.core.rmem_max`.
        pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
            self.opts.recv_buffer_size = Some(bytes);
            self
        }

        /// `SO_LINGER`: `Some(d)` makes `close` wait up to `d` for unsent data
        /// (`Some(Duration::ZERO)` resets the connection on close); `None`
        /// turns lingering off.
        pub fn linger(mut self, linger: Option<Duration>) -> Self {
            self.opts.linger = Some(linger);
            self
        }

        /// Allows binding an address still in `TIME_WAIT` (`SO_REUSEADDR`).
        pub fn reuse_address(mut self, on: bool) -> Self {
            self.opts.reuse_address = Some(on);
            self
        }

        /// Lets several sockets bind the same address and port, the kernel
        /// spreading connections among them (`SO_REUSEPORT`; Unix only).
        pub fn reuse_port(mut self, on: bool) -> Self {
            self.opts.reuse_port = Some(on);
            self
        }

        /// For IPv6 addresses: `true` accepts IPv6 only, `false` also
        /// IPv4-mapped peers (a dual-stack socket) (`IPV6_V6ONLY`). Ignored for
        /// IPv4 addresses.
        pub fn only_v6(mut self, only: bool) -> Self {
            self.opts.only_v6 = Some(only);
            self
        }

        /// Drops the connection when sent data stays unacknowledged for
        /// `timeout` (`TCP_USER_TIMEOUT`; Linux only).
        pub fn user_timeout(mut self, timeout: Duration) -> Self {
            self.opts.user_timeout = Some(timeout);
            self
        }

        /// Binds the socket to a network interface by name, e.g. `"eth0"`
        /// (`SO_BINDTODEVICE`; Linux only).
        pub fn bind_device(mut self, interface: impl Into<String>) -> Self {
            self.opts.bind_device = Some(interface.into());
            self
        }

        /// Selects the congestion control algorithm, e.g. `"cubic"` or `"bbr"`
        /// (`TCP_CONGESTION`; Linux only). An algorithm the kernel lacks fails
        /// with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
        pub fn congestion(mut self, algorithm: impl Into<String>) -> Self {
            self.opts.congestion = Some(algorithm.into());
            self
        }
    };
}

fn new_socket(addr: SocketAddr) -> Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io("create socket for", e).with_addr(addr))
}

/// Builds a TCP listener with production socket options.
///
/// Linux copies most options of a listener (nodelay, keepalive, buffer
/// sizes, user timeout, congestion control) onto the connections it accepts,
/// so setting them here configures every accepted stream.
///
/// ```
/// use std::time::Duration;
/// use tetsuo::net::{Keepalive, TcpListenerBuilder};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
///     .nodelay(true)
///     .keepalive(Keepalive::new().idle(Duration::from_secs(60)))
///     .reuse_port(true)
///     .backlog(4096)
///     .bind()?;
/// println!("listening on {}", listener.local_addr().unwrap());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    addr: SocketAddr,
    opts: TcpOptions,
    backlog: u32,
    fastopen: Option<u32>,
    defer_accept: Option<Duration>,
}

impl TcpListenerBuilder {
    /// A listener on `addr` with `SO_REUSEADDR` on (as `std` does on Unix)
    /// and a backlog of 1024.
    pub fn new(addr: SocketAddr) -> TcpListenerBuilder {
        TcpListenerBuilder {
            addr,
            opts: TcpOptions {
                reuse_address: Some(cfg!(unix)),
                ..TcpOptions::default()
            },
            backlog: 1024,
            fastopen: None,
            defer_accept: None,
        }
    }

    tcp_option_setters!();

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The same options on another address (the port an earlier bind
    /// picked, for more `SO_REUSEPORT` listeners on it).
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The accept queue length passed to `listen(2)` (capped by
    /// `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Accepts data in SYNs from clients holding a Fast Open cookie, with at
    /// most `qlen` such connections pending (`TCP_FASTOPEN`; Linux only).
    pub fn fastopen(mut self, qlen: u32) -> Self {
        self.fastopen = Some(qlen);
        self
    }

    /// Wakes `accept` only when the client has sent its first bytes, waiting
    /// at most `timeout` (`TCP_DEFER_ACCEPT`; Linux only).
    pub fn defer_accept(mut self, timeout: Duration) -> Self {
        self.defer_accept = Some(timeout);
        self
    }

    fn build(&self) -> Result<Socket> {
        let addr = self.addr;
        let sock = new_socket(addr)?;
        let on_addr = |e: Error| e.with_addr(addr);
        self.opts.apply(&sock, addr).map_err(on_addr)?;
        self.apply_listener_options(&sock).map_err(on_addr)?;
        sock.bind(&SockAddr::from(addr))
            .map_err(|e| Error::io("bind", e).with_addr(addr))?;
        let backlog = i32::try_from(self.backlog).unwrap_or(i32::MAX);
        sock.listen(backlog)
            .map_err(|e| Error::io("listen on", e).with_addr(addr))?;
        Ok(sock)
    }

    #[cfg(target_os = "linux")]
    fn apply_listener_options(&self, sock: &Socket) -> Result<()> {
        if let Some(qlen) = self.fastopen {
            super::linux::set_fastopen(sock, qlen)
                .map_err(|e| Error::io("set TCP_FASTOPEN on", e))?;
        }
        if let Some(timeout) = self.defer_accept {
            super::linux::set_defer_accept(sock, timeout)
                .map_err(|e| Error::io("set TCP_DEFER_ACCEPT on", e))?;
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn apply_listener_options(&self, _: &Socket) -> Result<()> {
        if self.fastopen.is_some() {
            return Err(unsupported("set TCP_FASTOPEN on"));
        }
        if self.defer_accept.is_some() {
            return Err(unsupported("set TCP_DEFER_ACCEPT on"));
        }
        Ok(())
    }

    /// Creates, configures, binds and starts listening; must be called inside
    /// a tokio runtime.
    pub fn bind(&self) -> Result<tokio::net::TcpListener> {
        let sock = self.build()?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io("set O_NONBLOCK on", e))?;
        tokio::net::TcpListener::from_std(sock.into())
            .map_err(|e| Error::io("register with tokio", e).with_addr(self.addr))
    }

    /// Creates, configures, binds and starts listening, for blocking use.
    pub fn bind_blocking(&self) -> Result<std::net::TcpListener> {
        Ok(self.build()?.into())
    }
}

/// Opens TCP connections with production socket options.
///
/// One connector can open any number of connections; it is cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use tetsuo::net::{TcpConnector, TcpListenerBuilder};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap()).bind()?;
/// let addr = listener.local_addr().unwrap();
/// let stream = TcpConnector::new()
///     .nodelay(true)
///     .connect_timeout(Duration::from_secs(3))
///     .connect(addr)
///     .await?;
/// assert!(stream.nodelay().unwrap());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TcpConnector {
    opts: TcpOptions,
    local_addr: Option<SocketAddr>,
    connect_timeout: Option<Duration>,
    fastopen: bool,
}

impl TcpConnector {
    /// A connector with the system's defaults and no connect timeout.
    pub fn new() -> TcpConnector {
        TcpConnector::default()
    }

    tcp_option_setters!();

    /// Binds the local end to `addr` before connecting (source address
    /// selection; port 0 lets the kernel pick).
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Gives up connecting after `timeout` with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Uses TCP Fast Open (`TCP_FASTOPEN_CONNECT`; Linux only): `connect`
    /// returns at once and the SYN leaves with the first write, carrying its
    /// data when a cookie for the server is cached. Errors such as a refusal
    /// then surface on the first read or write rather than from `connect`.
    pub fn fastopen(mut self, on: bool) -> Self {
        self.fastopen = on;
        self
    }

    fn build(&self, addr: SocketAddr) -> Result<Socket> {
        let sock = new_socket(addr)?;
        self.opts
            .apply(&sock, addr)
            .map_err(|e| e.with_addr(addr))?;
        if self.fastopen {
            set_fastopen_connect(&sock).map_err(|e| e.with_addr(addr))?;
        }
        if let Some(local) = self.local_addr {
            sock.bind(&SockAddr::from(local))
                .map_err(|e| Error::io("bind", e).with_addr(local))?;
        }
        Ok(sock)
    }

    /// Connects to `addr`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-open socket; nothing else is lost.
    pub async fn connect(&self, addr: SocketAddr) -> Result<tokio::net::TcpStream> {
        let sock = self.build(addr)?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io("set O_NONBLOCK on", e))?;
        let sock = tokio::net::TcpSocket::from_std_stream(sock.into());
        let connect = sock.connect(addr);
        let result = match self.connect_timeout {
            Some(timeout) => match tokio::time::timeout(timeout, connect).await {
                Ok(result) => result,
                Err(_) => return Err(connect_timed_out(addr, timeout)),
            },
            None => connect.await,
        };
        result.map_err(|e| Error::io("connect to", e).with_addr(addr))
    }

    /// Connects to `addr`, blocking the calling thread.
    pub fn connect_blocking(&self, addr: SocketAddr) -> Result<std::net::TcpStream> {
        let sock = self.build(addr)?;
        let result = match self.connect_timeout {
            Some(timeout) => sock.connect_timeout(&SockAddr::from(addr), timeout),
            None => sock.connect(&SockAddr::from(addr)),
        };
        match result {
            Ok(()) => Ok(sock.into()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(connect_timed_out(
                addr,
                self.connect_timeout.unwrap_or_default(),
            )),
            Err(e) => Err(Error::io("connect to", e).with_addr(addr)),
        }
    }
}

fn connect_timed_out(addr: SocketAddr, timeout: Duration) -> Error {
    Error::new(ErrorKind::Timeout, "connect to")
        .with_addr(addr)
        .with_detail(format!("timed out after {timeout:?}"))
}

#[cfg(target_os = "linux")]
fn set_fastopen_connect(sock: &Socket) -> Result<()> {
    super::linux::set_fastopen_connect(sock, true)
        .map_err(|e| Error::io("set TCP_FASTOPEN_CONNECT on", e))
}

#[cfg(not(target_os = "linux"))]
fn set_fastopen_connect(_: &Socket) -> Result<()> {
    Err(unsupported("set TCP_FASTOPEN_CONNECT on"))
}
