//! The connect pipeline: resolve → race (Happy Eyeballs v2) → proxy hops →
//! TLS, with a timeout per stage, a circuit breaker per target, and the
//! story of how the connection was made ([`ConnectInfo`]).
//!
//! [`Connector`] is the one door every outgoing connection of tetsuo goes
//! through (the HTTP client uses it). [`Retry`] repeats any operation with
//! exponential backoff and an optional circuit breaker; [`Reconnect`] keeps
//! a long-lived connection coming back after failures and reports each
//! state change.
//!
//! The decisions — which address to try when, how long to back off, when
//! the breaker opens — are sans-I/O machines in `tetsuo_proto::connect`;
//! this module runs them on tokio.

mod race;
mod retry;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::dns::{Overrides, Resolve, SystemResolver};
use crate::net::TcpConnector;
use crate::proxy::{Proxies, Proxy, Rewind, tunnel};
use crate::{Error, ErrorKind, Result};

pub use retry::{Reconnect, ReconnectEvent, Retry};
pub use stream::Stream;
pub use tetsuo_proto::connect::{
    Backoff, BreakerConfig, BreakerState, CircuitBreaker, Family, HappyEyeballsConfig, Jitter,
};

/// Where to connect: a host (name or IP address), a port, whether to run
/// TLS, and the scheme that picks the proxy (`http`, `https`, anything
/// else for plain TCP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    host: String,
    port: u16,
    tls: bool,
    scheme: &'static str,
    server_name: Option<String>,
}

impl Target {
    /// A plain TCP connection (proxies: `ALL_PROXY`).
    pub fn tcp(host: impl Into<String>, port: u16) -> Target {
        Target::new(host.into(), port, false, "tcp")
    }

    /// A TLS connection; the certificate must be valid for `host`.
    pub fn tls(host: impl Into<String>, port: u16) -> Target {
        Target::new(host.into(), port, true, "tls")
    }

    /// The origin of an `http://` (`https == false`) or `https://` URL
    /// (proxies: `HTTP_PROXY` / `HTTPS_PROXY`).
    pub fn http(host: impl Into<String>, port: u16, https: bool) -> Target {
        Target::new(
            host.into(),
            port,
            https,
            if https { "https" } else { "http" },
        )
    }

    fn new(host: String, port: u16, tls: bool, scheme: &'static str) -> Target {
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(bare) => bare.to_owned(),
            None => host,
        };
        Target {
            host,
            port,
            tls,
            scheme,
            server_name: None,
        }
    }

    /// Sends (SNI) and verifies `name` instead of the host in the TLS
    /// handshake.
    pub fn server_name(mut self, name: impl Into<String>) -> Target {
        self.server_name = Some(name.into());
        self
    }

    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True if TLS runs over the connection.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// `host:port`, an IPv6 host (given with or without brackets) in brackets.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// How one connection attempt of a race ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It connected and won.
    Connected,
    /// It failed with this cause.
    Failed(String),
    /// It was abandoned when another attempt won.
    Cancelled,
}

/// One connection attempt of a Happy Eyeballs race.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attempt {
    /// The address tried.
    pub addr: SocketAddr,
    /// When it started, counted from the start of the connect.
    pub started: Duration,
    /// How long it ran.
    pub duration: Duration,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// What a TLS handshake settled.
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

/// How a connection was made: the story `tetsuo get -v` and `tetsuo
/// connect -v` tell.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectInfo {
    /// The target's host.
    pub host: String,
    /// The target's port.
    pub port: u16,
    /// The addresses the first hop (the target, or the first proxy)
    /// resolved to.
    pub resolved: Vec<SocketAddr>,
    /// The attempts of the race, in the order they ended.
    pub attempts: Vec<Attempt>,
    /// The TCP peer: the target, or the first proxy.
    pub remote_addr: SocketAddr,
    /// Our end.
    pub local_addr: Option<SocketAddr>,
    /// The proxies passed through, in order (passwords hidden).
    pub proxies: Vec<String>,
    /// Time until the name was resolved.
    pub dns: Duration,
    /// Time from the first connection attempt until one connected.
    pub connect: Duration,
    /// Time the proxy handshakes took.
    pub proxy: Duration,
    /// The TLS session, for TLS targets.
    pub tls: Option<TlsSummary>,
    /// The HTTP proxy this connection reaches, when it forwards plain-HTTP
    /// requests in absolute form rather than tunnelling (set by the HTTP
    /// client).
    pub forward_proxy: Option<String>,
    /// Time the whole pipeline took.
    pub total: Duration,
}

/// A connection made: its stages into the `metrics` facade.
fn record_connect(info: &ConnectInfo) {
    let family = if info.remote_addr.is_ipv6() {
        "v6"
    } else {
        "v4"
    };
    metrics::counter!("tetsuo_connect_total", "outcome" => "ok", "kind" => "none").increment(1);
    metrics::histogram!("tetsuo_connect_seconds").record(info.total.as_secs_f64());
    metrics::histogram!("tetsuo_connect_dns_seconds").record(info.dns.as_secs_f64());
    metrics::histogram!("tetsuo_connect_tcp_seconds", "family" => family)
        .record(info.connect.as_secs_f64());
    // Happy Eyeballs: which family won, and whether there was a race.
    let raced = if info.attempts.len() > 1 {
        "true"
    } else {
        "false"
    };
    metrics::counter!("tetsuo_connect_happy_eyeballs_total", "winner" => family, "raced" => raced)
        .increment(1);
    if !info.proxies.is_empty() {
        metrics::histogram!("tetsuo_connect_proxy_seconds").record(info.proxy.as_secs_f64());
    }
    if let Some(tls) = &info.tls {
        metrics::histogram!("tetsuo_connect_tls_seconds").record(tls.handshake.as_secs_f64());
        let resumed = if tls.resumed { "true" } else { "false" };
        metrics::counter!("tetsuo_tls_sessions_total", "resumed" => resumed).increment(1);
    }
}

/// Reports a guarded connect's outcome to its breaker when dropped.
struct Outcome<'a> {
    connector: &'a Connector,
    target: &'a Target,
    /// `Some(true)`: success; `Some(false)`: failure (also when the
    /// connect is abandoned); `None`: nothing to say about the target.
    verdict: Option<bool>,
}

impl Drop for Outcome<'_> {
    fn drop(&mut self) {
        self.connector.record(self.target, self.verdict);
    }
}

/// A random `u64` (std's randomly keyed hasher over a counter and the
/// clock): backoff jitter, WebSocket keys and masks. Not for secrets.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut h);
    race::now().hash(&mut h);
    h.finish()
}

/// Most per-target circuit breakers kept; closed ones are dropped first.
const MAX_BREAKERS: usize = 4096;

struct Inner {
    resolver: Arc<dyn Resolve>,
    overrides: Overrides,
    happy: HappyEyeballsConfig,
    tcp: TcpConnector,
    proxies: Proxies,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
    resolve_timeout: Option<Duration>,
    proxy_timeout: Option<Duration>,
    tls_timeout: Option<Duration>,
    breakers: Option<(BreakerConfig, Breakers)>,
}

/// One circuit breaker per `host:port`.
type Breakers = Mutex<HashMap<(String, u16), CircuitBreaker>>;

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("resolver", &self.resolver)
            .field("happy_eyeballs", &self.happy)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Connector`].
#[derive(Debug)]
pub struct ConnectorBuilder {
    inner: Inner,
}

impl ConnectorBuilder {
    /// Resolves names with `resolver` (default: [`SystemResolver`]).
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.inner.resolver = Arc::new(resolver);
        self
    }

    /// Fixed addresses for some `host:port` pairs (curl's `--resolve`);
    /// they take part in Happy Eyeballs like resolved ones.
    pub fn overrides(mut self, overrides: Overrides) -> Self {
        self.inner.overrides = overrides;
        self
    }

    /// Socket options and local address of every connection (default:
    /// `TCP_NODELAY` on).
    pub fn tcp(mut self, tcp: TcpConnector) -> Self {
        self.inner.tcp = tcp;
        self
    }

    /// The Happy Eyeballs tunables (RFC 8305's defaults).
    /// [`connect_timeout`](Self::connect_timeout) sets its overall timeout.
    pub fn happy_eyeballs(mut self, config: HappyEyeballsConfig) -> Self {
        let timeout = self.inner.happy.timeout;
        self.inner.happy = HappyEyeballsConfig { timeout, ..config };
        self
    }

    /// Which proxies connections go through (default: none; see
    /// [`Proxies::from_env`]).
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.inner.proxies = proxies;
        self
    }

    /// The TLS client for TLS targets (default: built-in roots when the
    /// `tls-webpki-roots` feature is on).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsConnector) -> Self {
        self.inner.tls = Some(tls);
        self
    }

    /// Longest name resolution (default 10 s; `None`: no limit).
    pub fn resolve_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner.resolve_timeout = timeout;
        self
    }

    /// Longest race to connect TCP to the first hop, resolution included
    /// (default 30 s; `None`: until every attempt failed).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner.happy.timeout = timeout;
        self
    }

    /// Longest handshake with each proxy (default 30 s).
    pub fn proxy_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner.proxy_timeout = timeout;
        self
    }

    /// Longest TLS handshake (default 30 s).
    pub fn tls_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.inner.tls_timeout = timeout;
        self
    }

    /// A circuit breaker per target (`host:port`): after too many failures
    /// connects fail at once with [`ErrorKind::CircuitOpen`] until a
    /// cool-down passes and a probe succeeds (default: none).
    pub fn circuit_breaker(mut self, config: BreakerConfig) -> Self {
        self.inner.breakers = Some((config, Mutex::new(HashMap::new())));
        self
    }

    /// The connector.
    pub fn build(self) -> Connector {
        Connector {
            inner: Arc::new(self.inner),
        }
    }
}

/// Opens connections: resolve → Happy Eyeballs race → proxies → TLS.
/// Cheap to clone (clones share configuration and circuit breakers).
///
/// ```
/// use tetsuo::connect::Connector;
/// use tetsuo::dns::Overrides;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let port = listener.local_addr().unwrap().port();
/// tokio::spawn(async move {
///     let (mut conn, _) = listener.accept().await.unwrap();
///     conn.write_all(b"hi").await.unwrap();
/// });
///
/// // "service.test" is pinned to ::1 (nothing listens there) and 127.0.0.1.
/// let mut overrides = Overrides::new();
/// overrides.insert_spec(&format!("service.test:{port}:[::1],127.0.0.1"))?;
/// let connector = Connector::builder().overrides(overrides).build();
/// let (mut stream, info) = connector.connect("service.test", port).await?;
/// let mut hi = [0; 2];
/// stream.read_exact(&mut hi).await.unwrap();
/// assert_eq!(&hi, b"hi");
/// assert_eq!(info.remote_addr.to_string(), format!("127.0.0.1:{port}"));
/// assert_eq!(info.attempts.len(), 2); // ::1 refused, then 127.0.0.1
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

impl Default for Connector {
    fn default() -> Connector {
        Connector::builder().build()
    }
}

impl Connector {
    /// A connector with the defaults (see [`ConnectorBuilder`]).
    pub fn new() -> Connector {
        Connector::default()
    }

    /// A builder: system resolver, RFC 8305 timings, no proxies,
    /// `TCP_NODELAY`, 10 s to resolve, 30 s to connect, 30 s per proxy and
    /// for TLS, no circuit breaker.
    pub fn builder() -> ConnectorBuilder {
        ConnectorBuilder {
            inner: Inner {
                resolver: Arc::new(SystemResolver),
                overrides: Overrides::new(),
                happy: HappyEyeballsConfig {
                    timeout: Some(Duration::from_secs(30)),
                    ..HappyEyeballsConfig::default()
                },
                tcp: TcpConnector::new().nodelay(true),
                proxies: Proxies::none(),
                #[cfg(feature = "tls")]
                tls: None,
                resolve_timeout: Some(Duration::from_secs(10)),
                proxy_timeout: Some(Duration::from_secs(30)),
                tls_timeout: Some(Duration::from_secs(30)),
                breakers: None,
            },
        }
    }

    /// The resolver in use.
    pub fn resolver(&self) -> &Arc<dyn Resolve> {
        &self.inner.resolver
    }

    /// Connects TCP to `host:port` (through `ALL_PROXY`-style proxies if
    /// configured).
    pub async fn connect(&self, host: &str, port: u16) -> Result<(Stream, ConnectInfo)> {
        self.connect_to(&Target::tcp(host, port)).await
    }

    /// Runs the whole pipeline for `target`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons every attempt and handshake in progress.
    pub async fn connect_to(&self, target: &Target) -> Result<(Stream, ConnectInfo)> {
        let chain = self.inner.proxies.select(target.scheme, &target.host);
        self.guarded(target, chain).await
    }

    /// Runs the pipeline for `target` without any proxy (the HTTP client
    /// reaching a forwarding proxy itself).
    #[cfg(feature = "http")]
    pub(crate) async fn connect_direct(&self, target: &Target) -> Result<(Stream, ConnectInfo)> {
        self.guarded(target, &[]).await
    }

    /// The pipeline behind the target's circuit breaker: a connect that is
    /// abandoned (its future dropped) counts as a failure, so a half-open
    /// probe is never held forever.
    async fn guarded(&self, target: &Target, chain: &[Proxy]) -> Result<(Stream, ConnectInfo)> {
        self.admit(target)?;
        let mut outcome = Outcome {
            connector: self,
            target,
            verdict: Some(false),
        };
        let result = self.establish(target, chain).await;
        match &result {
            Ok((_, info)) => record_connect(info),
            Err(e) => {
                metrics::counter!(
                    "tetsuo_connect_total",
                    "outcome" => "error",
                    "kind" => format!("{:?}", e.kind()).to_lowercase()
                )
                .increment(1);
            }
        }
        outcome.verdict = match &result {
            Ok(_) => Some(true),
            // A caller's mistake says nothing about the target.
            Err(e) if e.kind() == ErrorKind::InvalidInput => None,
            Err(_) => Some(false),
        };
        drop(outcome);
        result
    }

    /// The proxies connections go through.
    pub fn proxies(&self) -> &Proxies {
        &self.inner.proxies
    }

    fn admit(&self, target: &Target) -> Result<()> {
        let Some((config, breakers)) = &self.inner.breakers else {
            return Ok(());
        };
        let now = race::now();
        let mut breakers = breakers.lock().unwrap_or_else(|e| e.into_inner());
        let key = (target.host.clone(), target.port);
        if !breakers.contains_key(&key) && breakers.len() >= MAX_BREAKERS {
            // Closed breakers and open ones past their cool-down carry
            // nothing worth keeping.
            breakers.retain(|_, b| match b.state() {
                BreakerState::Open { until } => until > now,
                BreakerState::HalfOpen => true,
                BreakerState::Closed => false,
            });
            if breakers.len() >= MAX_BREAKERS {
                // Still full of failing targets: this one goes unguarded.
                return Ok(());
            }
        }
        let breaker = breakers
            .entry(key)
            .or_insert_with(|| CircuitBreaker::new(config.clone(), now));
        breaker.try_acquire(now).map_err(|rejected| {
            Error::new(ErrorKind::CircuitOpen, "connect to")
                .with_name(target.authority())
                .with_detail(format!(
                    "circuit open after repeated failures; next try in {:?}",
                    rejected.retry_at.saturating_duration_since(now)
                ))
        })
    }

    /// Tells the target's breaker how the connect went (`None`: nothing to
    /// say).
    fn record(&self, target: &Target, verdict: Option<bool>) {
        let (Some((_, breakers)), Some(ok)) = (&self.inner.breakers, verdict) else {
            return;
        };
        let now = race::now();
        let mut breakers = breakers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(breaker) = breakers.get_mut(&(target.host.clone(), target.port)) {
            if ok {
                breaker.on_success(now);
            } else {
                breaker.on_failure(now);
            }
        }
    }

    /// The breaker state for `host:port`, if a breaker is configured and
    /// the target was tried.
    pub fn breaker_state(&self, host: &str, port: u16) -> Option<BreakerState> {
        let (_, breakers) = self.inner.breakers.as_ref()?;
        let breakers = breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers
            .get(&(host.to_owned(), port))
            .map(CircuitBreaker::state)
    }

    async fn establish(&self, target: &Target, chain: &[Proxy]) -> Result<(Stream, ConnectInfo)> {
        let inner = &*self.inner;
        let started = race::now();
        let (first_host, first_port) = chain
            .first()
            .map_or((target.host.as_str(), target.port), |p| {
                (p.host(), p.port())
            });
        let won = race::race(inner, first_host, first_port, started).await?;
        let local_addr = won.stream.local_addr().ok();
        let mut io = Rewind::new(won.stream);

        let proxy_started = race::now();
        for (i, proxy) in chain.iter().enumerate() {
            let (host, port) = chain
                .get(i + 1)
                .map_or((target.host.as_str(), target.port), |next| {
                    (next.host(), next.port())
                });
            let handshake = tunnel(
                &mut io,
                proxy,
                host,
                port,
                &*inner.resolver,
                &inner.overrides,
            );
            match inner.proxy_timeout {
                Some(t) => tokio::time::timeout(t, handshake)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::new(ErrorKind::Timeout, "open a tunnel through")
                            .with_name(proxy.to_string())
                            .with_detail(format!("the proxy did not answer within {t:?}")))
                    })?,
                None => handshake.await?,
            }
        }
        let proxy = race::now().saturating_duration_since(proxy_started);

        let mut info = ConnectInfo {
            host: target.host.clone(),
            port: target.port,
            resolved: won.resolved,
            attempts: won.attempts,
            remote_addr: won.remote,
            local_addr,
            proxies: chain.iter().map(ToString::to_string).collect(),
            dns: won.dns,
            connect: won.connect,
            proxy: if chain.is_empty() {
                Duration::ZERO
            } else {
                proxy
            },
            tls: None,
            forward_proxy: None,
            total: Duration::ZERO,
        };
        let stream = if target.tls {
            let (stream, summary) = self.tls_handshake(target, io).await?;
            info.tls = Some(summary);
            stream
        } else {
            Stream::plain(io)
        };
        info.total = race::now().saturating_duration_since(started);
        Ok((stream, info))
    }

    #[cfg(feature = "tls")]
    async fn tls_handshake(
        &self,
        target: &Target,
        io: Rewind<tokio::net::TcpStream>,
    ) -> Result<(Stream, TlsSummary)> {
        let default;
        let tls = match &self.inner.tls {
            Some(tls) => tls,
            None => {
                default = crate::tls::TlsConnector::builder().build()?;
                &default
            }
        };
        let started = race::now();
        let handshake = tls.connect(target.server_name.as_deref().unwrap_or(&target.host), io);
        let stream = match self.inner.tls_timeout {
            Some(t) => tokio::time::timeout(t, handshake)
                .await
                .unwrap_or_else(|_| {
                    Err(
                        Error::tls(crate::TlsCause::HandshakeTimeout, "TLS handshake with")
                            .with_name(target.authority())
                            .with_detail(format!("handshake timed out after {t:?}")),
                    )
                })?,
            None => handshake.await?,
        };
        let info = stream.info();
        let summary = TlsSummary {
            version: info.version().to_string(),
            alpn: info.alpn_protocol().map(<[u8]>::to_vec),
            resumed: info.is_resumed(),
            cipher_suite: info.cipher_suite(),
            handshake: race::now().saturating_duration_since(started),
        };
        Ok((Stream::tls(stream), summary))
    }

    #[cfg(not(feature = "tls"))]
    async fn tls_handshake(
        &self,
        target: &Target,
        _: Rewind<tokio::net::TcpStream>,
    ) -> Result<(Stream, TlsSummary)> {
        Err(Error::new(ErrorKind::Unsupported, "connect to")
            .with_name(target.authority())
            .with_detail("TLS needs the `tls` feature"))
    }
}
