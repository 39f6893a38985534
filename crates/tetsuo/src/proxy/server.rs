//! A SOCKS5 (and SOCKS4/4a) server: `tetsuo socks`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tetsuo_proto::socks::{self, Address, Reply, Server, ServerEvent, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::env::in_net;
use crate::dns::{Query, Resolve, SystemResolver};
use crate::net::TcpConnector;
use crate::{Error, ErrorKind, Result};

/// An IP network (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or
/// /128), for the SOCKS server's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// True if `ip` lies in the network (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        in_net(ip, self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = Error;

    fn from_str(s: &str) -> Result<IpNet> {
        super::env::parse_cidr(s)
            .map(|(addr, prefix)| IpNet { addr, prefix })
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, "parse network")
                    .with_name(s)
                    .with_detail("expected ADDRESS or ADDRESS/PREFIX")
            })
    }
}

/// Configures a [`SocksServer`].
#[derive(Clone)]
pub struct SocksServerBuilder {
    credentials: Option<(String, String)>,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    handshake_timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for SocksServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocksServerBuilder")
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl SocksServerBuilder {
    /// Requires SOCKS5 username/password authentication with these
    /// credentials; SOCKS4 clients (which cannot send a password) are then
    /// refused.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Destinations allowed (when any is given, only these).
    pub fn allow(mut self, net: IpNet) -> Self {
        self.allow.push(net);
        self
    }

    /// Destinations refused (checked before `allow`).
    pub fn deny(mut self, net: IpNet) -> Self {
        self.deny.push(net);
        self
    }

    /// Longest handshake from a client (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Longest connect to a destination (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server.
    pub fn build(self) -> SocksServer {
        SocksServer {
            config: Arc::new(self),
        }
    }
}

/// A SOCKS server: SOCKS5 (no authentication, or username/password per
/// RFC 1929) and SOCKS4/4a on the same port, CONNECT only, with allow/deny
/// rules on destination addresses. Names (SOCKS4a, SOCKS5 domain
/// addresses) are resolved by the system resolver and every address is
/// checked against the rules before it is connected to.
///
/// ```
/// use tetsuo::proxy::SocksServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = SocksServer::builder()
///     .auth("alice", "secret")
///     .deny("10.0.0.0/8".parse().unwrap())
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// tokio::spawn(async move { server.serve(listener).await });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SocksServer {
    config: Arc<SocksServerBuilder>,
}

impl SocksServer {
    /// A builder: no authentication, every destination allowed, 10 s
    /// handshake and connect timeouts.
    pub fn builder() -> SocksServerBuilder {
        SocksServerBuilder {
            credentials: None,
            allow: Vec::new(),
            deny: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Accepts clients on `listener` forever, each in its own task.
    pub async fn serve(&self, listener: TcpListener) -> Result<()> {
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off, go on.
                    tracing_warn(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let server = self.clone();
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                let _ = server.serve_connection(conn, peer).await;
            });
        }
    }

    /// Serves one client: the handshake, then relays bytes both ways until
    /// either side closes.
    pub async fn serve_connection<S>(&self, mut io: S, peer: SocketAddr) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut upstream, leftover) = self
            .handshake(&mut io)
            .await
            .map_err(|e| e.with_addr(peer))?;
        if !leftover.is_empty() {
            upstream
                .write_all(&leftover)
                .await
                .map_err(|e| Error::io("write to", e))?;
        }
        tokio::io::copy_bidirectional(&mut io, &mut upstream)
            .await
            .map_err(|e| Error::io("relay for", e).with_addr(peer))?;
        Ok(())
    }

    async fn handshake<S>(&self, io: &mut S) -> Result<(TcpStream, Vec<u8>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.config;
        // The client has this long to send its messages; resolving and
        // connecting the destination are bounded separately.
        let deadline = tokio::time::Instant::now() + config.handshake_timeout;
        let mut machine = Server::new(config.credentials.is_some());
        let mut buf = Vec::with_capacity(512);
        loop {
            // Every complete message buffered (a client may send its
            // greeting, credentials and request at once).
            loop {
                let step = machine.handle_input(&buf);
                let out = machine.take_transmit();
                if !out.is_empty() {
                    io.write_all(&out)
                        .await
                        .map_err(|e| Error::io("write to", e))?;
                }
                let n = step.map_err(socks_failure)?;
                if n == 0 {
                    break;
                }
                buf.drain(..n);
                let mut upstream = None;
                let mut refused = None;
                while let Some(event) = machine.poll_event() {
                    match event {
                        ServerEvent::Authenticate { username, password } => {
                            let ok = config.credentials.as_ref().is_some_and(|(u, p)| {
                                same(u.as_bytes(), &username) & same(p.as_bytes(), &password)
                            });
                            machine.authenticated(ok);
                            if !ok {
                                refused = Some("wrong user name or password".to_owned());
                            }
                        }
                        ServerEvent::Request(request) => match self.open(&request).await {
                            Ok(stream) => {
                                let bound = stream.local_addr().unwrap_or_else(|_| unspecified());
                                machine.reply(Reply::Succeeded, bound);
                                upstream = Some(stream);
                            }
                            Err(reply) => {
                                machine.reply(reply, unspecified());
                                refused = Some(format!("{}: {reply}", request.target));
                            }
                        },
                    }
                }
                let out = machine.take_transmit();
                if !out.is_empty() {
                    io.write_all(&out)
                        .await
                        .map_err(|e| Error::io("write to", e))?;
                }
                if let Some(why) = refused {
                    return Err(
                        Error::new(ErrorKind::Proxy, "serve SOCKS request").with_detail(why)
                    );
                }
                if let Some(stream) = upstream {
                    return Ok((stream, buf));
                }
            }
            let mut chunk = [0u8; 512];
            let n = tokio::time::timeout_at(deadline, io.read(&mut chunk))
                .await
                .map_err(|_| {
                    Error::new(ErrorKind::Timeout, "SOCKS handshake with")
                        .with_detail("the client did not finish its request in time")
                })?
                .map_err(|e| Error::io("read from", e))?;
            if n == 0 {
                return Err(Error::new(ErrorKind::Closed, "SOCKS handshake")
                    .with_detail("the client closed the connection mid-handshake"));
            }
            if buf.len() + n > 1024 {
                return Err(Error::new(ErrorKind::Protocol, "SOCKS handshake")
                    .with_detail("request too long"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Resolves, checks the rules and connects; the refusal reply on failure.
    async fn open(&self, request: &socks::Request) -> std::result::Result<TcpStream, Reply> {
        let config = &self.config;
        let (ips, port) = match &request.target {
            Address::Ip(addr) => (vec![addr.ip()], addr.port()),
            Address::Domain(name, port) => {
                let query = if request.version == Version::V5 {
                    Query::Any
                } else {
                    Query::V4
                };
                match SystemResolver.lookup(name, query).await {
                    Ok(ips) if !ips.is_empty() => (ips, *port),
                    _ => return Err(Reply::HostUnreachable),
                }
            }
        };
        // The unspecified addresses (0.0.0.0, ::, and 0.0.0.0/8 at large)
        // reach this host on Linux: never a destination, whatever the rules.
        let allowed: Vec<IpAddr> = ips
            .into_iter()
            .map(|ip| ip.to_canonical())
            .filter(|ip| match ip {
                IpAddr::V4(v4) => v4.octets()[0] != 0,
                IpAddr::V6(v6) => !v6.is_unspecified(),
            })
            .filter(|ip| {
                !config.deny.iter().any(|n| n.contains(*ip))
                    && (config.allow.is_empty() || config.allow.iter().any(|n| n.contains(*ip)))
            })
            .collect();
        if allowed.is_empty() {
            return Err(Reply::NotAllowed);
        }
        let connector = TcpConnector::new()
            .nodelay(true)
            .connect_timeout(config.connect_timeout);
        let mut reply = Reply::HostUnreachable;
        for ip in allowed {
            match connector.connect(SocketAddr::new(ip, port)).await {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    reply = match e.kind() {
                        ErrorKind::Refused => Reply::ConnectionRefused,
                        ErrorKind::Timeout => Reply::TtlExpired,
                        _ if e.io_error().and_then(std::io::Error::raw_os_error)
                            == Some(libc_enetunreach()) =>
                        {
                            Reply::NetworkUnreachable
                        }
                        _ => Reply::HostUnreachable,
                    }
                }
            }
        }
        Err(reply)
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

#[cfg(unix)]
fn libc_enetunreach() -> i32 {
    libc::ENETUNREACH
}

#[cfg(not(unix))]
fn libc_enetunreach() -> i32 {
    -1
}

/// Compares secrets without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn socks_failure(e: socks::Error) -> Error {
    Error::new(ErrorKind::Protocol, "SOCKS handshake")
        .with_detail(e.to_string())
        .with_source(e)
}

fn tracing_warn(e: &std::io::Error) {
    #[cfg(feature = "http")]
    tracing::warn!(error = %e, "SOCKS accept failed");
    #[cfg(not(feature = "http"))]
    let _ = e;
}
