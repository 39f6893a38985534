//! The HTTP/1.1 client: a connection pool per origin with a cap per host,
//! redirects, timeouts, safe retries, HTTPS through `tetsuo::tls`.
//!
//! ```no_run
//! use std::time::Duration;
//! use tetsuo::http::client::Client;
//!
//! # async fn demo() -> tetsuo::Result<()> {
//! let client = Client::builder()
//!     .pool_max_per_host(8)
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! let res = client.get("http://127.0.0.1:8080/hello").send().await?;
//! assert!(res.status().is_success());
//! let text = res.text().await?;
//! # Ok(()) }
//! ```
//!
//! Each origin (scheme, host, port) has its own pool: idle connections are
//! reused newest first after a non-blocking check that the server has not
//! closed them; at most `pool_max_per_host` connections are open per
//! origin and further requests wait in arrival order. A request that fails
//! because a reused connection turned out closed before any response byte
//! arrived is sent once more on a fresh connection, if its method is
//! idempotent and its body can be sent again.
//!
//! Connections are made by the connect pipeline
//! ([`Connector`]): the resolver of your choice,
//! Happy Eyeballs v2 over every address, proxies (by default those of the
//! environment: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), then
//! TLS for `https://`.

mod conn;
#[cfg(feature = "decompression")]
mod decode;
mod h2;
mod info;
mod pool;
mod request;
mod timed;

pub use crate::connect::TlsSummary;
pub use info::ConnectionInfo;
pub use request::{RequestBuilder, Response};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION, USER_AGENT};
use http::uri::Scheme;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use tetsuo_proto::h1::Limits;
use tokio::time::Instant;

use self::conn::{ClientConn, ResponseBody, SendError};
use self::pool::{Checkout, Key, Pool};
use self::timed::TimedBody;
use crate::connect::{Connector, HappyEyeballsConfig, Target};
use crate::dns::{Overrides, Resolve};
use crate::http::{Body, Protocol};
use crate::pool::PoolConfig;
use crate::proxy::{Proxies, ProxyKind};
use crate::{Error, ErrorKind, Result};

/// What redirects a client follows.
#[derive(Debug, Clone, Copy)]
pub struct RedirectPolicy {
    max: usize,
}

impl RedirectPolicy {
    /// Follow up to `max` redirects (then the last redirect response is
    /// returned as it is).
    pub fn limited(max: usize) -> RedirectPolicy {
        RedirectPolicy { max }
    }

    /// Follow none: redirect responses are returned as they are.
    pub fn none() -> RedirectPolicy {
        RedirectPolicy { max: 0 }
    }
}

impl Default for RedirectPolicy {
    /// Up to 10, as browsers and reqwest do.
    fn default() -> RedirectPolicy {
        RedirectPolicy::limited(10)
    }
}

/// Configures a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pool: PoolConfig,
    pool_wait: Option<Duration>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    redirect: RedirectPolicy,
    default_headers: HeaderMap,
    limits: Limits,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
    #[cfg(feature = "decompression")]
    decompress: bool,
    resolver: Option<Arc<dyn Resolve>>,
    overrides: Overrides,
    proxies: Option<Proxies>,
    happy_eyeballs: Option<HappyEyeballsConfig>,
    http2: bool,
    http2_prior_knowledge: bool,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("tetsuo/", env!("CARGO_PKG_VERSION"))),
        );
        ClientBuilder {
            pool: PoolConfig {
                name: "http_client".into(),
                max_idle_per_key: 32,
                ..PoolConfig::default()
            },
            pool_wait: None,
            connect_timeout: Some(Duration::from_secs(30)),
            timeout: None,
            read_timeout: None,
            redirect: RedirectPolicy::default(),
            default_headers,
            limits: Limits::default(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "decompression")]
            decompress: true,
            resolver: None,
            overrides: Overrides::new(),
            proxies: None,
            happy_eyeballs: None,
            http2: true,
            http2_prior_knowledge: false,
        }
    }
}

impl ClientBuilder {
    /// Most connections open at once to one origin (default 0: no limit).
    /// Requests beyond it wait, in arrival order, for a connection to be
    /// returned.
    pub fn pool_max_per_host(mut self, n: usize) -> Self {
        self.pool.max_per_key = n;
        self
    }

    /// The whole pool configuration ([`crate::pool::PoolConfig`]): also
    /// a cap on connections in all, a maximum lifetime and a rate of new
    /// connections per origin. The `pool_*` methods set parts of it.
    pub fn pool(mut self, config: PoolConfig) -> Self {
        self.pool = config;
        self
    }

    /// Most idle connections kept per origin (default 32).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool.max_idle_per_key = n;
        self
    }

    /// How long an idle connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool.idle_timeout = timeout;
        self
    }

    /// Longest wait for a connection when the origin is at its limit
    /// (default: the request's timeout, if any).
    pub fn pool_wait_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool_wait = timeout;
        self
    }

    /// Resolves names with `resolver` (default: the system's).
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Pins `host:port` to fixed addresses (curl's `--resolve`); they take
    /// part in Happy Eyeballs.
    pub fn overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The proxies to use (default: [`Proxies::from_env`]; an invalid
    /// proxy variable makes [`build`](Self::build) fail).
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Connect directly, ignoring proxy variables.
    pub fn no_proxy(self) -> Self {
        self.proxies(Proxies::none())
    }

    /// Happy Eyeballs tunables (default: RFC 8305's).
    pub fn happy_eyeballs(mut self, config: HappyEyeballsConfig) -> Self {
        self.happy_eyeballs = Some(config);
        self
    }

    /// Longest time to resolve and connect TCP to the first hop (default
    /// 30 s).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest whole request: connecting, sending, the response head and
    /// its body (default none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Longest silence while reading a response (default none).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// The redirect policy (default: follow up to 10).
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// Headers sent with every request unless the request sets them
    /// (default: `user-agent: tetsuo/VERSION`).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.default_headers.insert(name.clone(), value.clone());
        }
        self
    }

    /// Limits on the responses read (head size, fields, body size).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The TLS configuration for `https://` (default: webpki or system
    /// roots as the crate's features choose, ALPN `http/1.1`).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: crate::tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Ask for compressed responses (`Accept-Encoding: gzip, deflate, br`)
    /// and decode them transparently (default on with the `decompression`
    /// feature). The decoded size is capped by `limits().max_body`.
    #[cfg(feature = "decompression")]
    pub fn decompress(mut self, on: bool) -> Self {
        self.decompress = on;
        self
    }

    /// Offer HTTP/2 in TLS's ALPN (default on): servers that agree get
    /// HTTP/2, with many requests at once on one connection per origin
    /// (another is opened when the server's concurrent-stream limit is
    /// reached); the others HTTP/1.1. Only for the built-in TLS
    /// configuration: a connector given to [`tls`](Self::tls) offers what
    /// it was built with.
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Speak HTTP/2 to `http://` origins without asking (prior knowledge,
    /// "h2c"): for servers known to accept it.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client> {
        #[cfg(feature = "tls")]
        let tls = match self.tls {
            Some(tls) => Some(tls),
            None => crate::tls::TlsConnector::builder()
                .alpn(if self.http2 {
                    &["h2", "http/1.1"][..]
                } else {
                    &["http/1.1"][..]
                })
                .build()
                .ok(),
        };
        let proxies = match self.proxies {
            Some(p) => p,
            None => Proxies::from_env()?,
        };
        let mut connector = Connector::builder()
            .overrides(self.overrides)
            .proxies(proxies)
            .connect_timeout(self.connect_timeout);
        if let Some(resolver) = self.resolver {
            connector = connector.resolver(resolver);
        }
        if let Some(config) = self.happy_eyeballs {
            connector = connector.happy_eyeballs(config);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &tls {
            connector = connector.tls(tls.clone());
        }
        Ok(Client {
            inner: Arc::new(Inner {
                pool: Pool::new(self.pool),
                pool_wait: self.pool_wait,
                connector: connector.build(),
                timeout: self.timeout,
                read_timeout: self.read_timeout,
                redirect: self.redirect,
                default_headers: self.default_headers,
                limits: self.limits,
                #[cfg(feature = "tls")]
                tls,
                #[cfg(feature = "decompression")]
                decompress: self.decompress,
                h2: std::sync::Mutex::new(std::collections::HashMap::new()),
                http2_prior_knowledge: self.http2_prior_knowledge,
                h1_origins: std::sync::Mutex::default(),
                connecting: std::sync::Mutex::default(),
            }),
        })
    }
}

struct Inner {
    pool: Pool,
    pool_wait: Option<Duration>,
    connector: Connector,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    redirect: RedirectPolicy,
    default_headers: HeaderMap,
    limits: Limits,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
    #[cfg(feature = "decompression")]
    decompress: bool,
    /// HTTP/2 connections by origin.
    h2: std::sync::Mutex<std::collections::HashMap<Key, Vec<h2::H2Conn>>>,
    http2_prior_knowledge: bool,
    /// Origins that answered ALPN with HTTP/1.1.
    h1_origins: std::sync::Mutex<std::collections::HashSet<Key>>,
    /// Held while a connection to an origin that may speak HTTP/2 is made.
    connecting: std::sync::Mutex<std::collections::HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// An HTTP client with connection pools. Cheap to clone: clones share the
/// pools.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings. A proxy variable that does not
    /// parse is skipped with a warning here (`Client::builder().build()`
    /// reports it as an error instead).
    pub fn new() -> Client {
        Client::builder()
            .proxies(Proxies::from_env_lenient())
            .build()
            .unwrap_or_else(|_| unreachable!("with the proxies given, building cannot fail"))
    }

    /// A builder with the default settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A request of `method` to `url`.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        let uri = url.as_ref().parse::<Uri>().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "parse the URL")
                .with_name(url.as_ref().to_owned())
                .with_source(e)
        });
        RequestBuilder {
            client: self.clone(),
            method,
            uri,
            headers: HeaderMap::new(),
            body: Body::empty(),
            timeout: None,
        }
    }

    /// Sends an `http::Request` (its URI must be absolute) and follows
    /// redirects per the policy.
    ///
    /// A `CONNECT` request's body is not sent: a 2xx answer carries the
    /// connection (HTTP/1.1) or the stream (HTTP/2) in its extensions, to
    /// take with [`upgrade::on`](crate::http::upgrade::on). A
    /// [`Protocol`] in the request's extensions
    /// makes it an extended CONNECT (RFC 8441), which needs HTTP/2 and a
    /// server that enables it.
    pub async fn execute(&self, req: http::Request<Body>) -> Result<Response> {
        let (parts, body) = req.into_parts();
        let timeout = self.inner.timeout;
        let head = Head {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            extensions: parts.extensions,
        };
        self.send(head, body, timeout).await
    }

    async fn send(
        &self,
        head: Head,
        mut body: Body,
        timeout: Option<Duration>,
    ) -> Result<Response> {
        let Head {
            mut method,
            mut uri,
            mut headers,
            mut extensions,
        } = head;
        let deadline = timeout.map(|t| Instant::now() + t);
        for (name, value) in &self.inner.default_headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        #[cfg(feature = "decompression")]
        if self.inner.decompress && !headers.contains_key(http::header::ACCEPT_ENCODING) {
            headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static(decode::ACCEPT),
            );
        }
        let mut redirects = 0;
        let mut resent = false;
        loop {
            // Kept for a redirect that must send the body again.
            let replay = body.try_clone();
            let res = match self
                .send_once(&method, &uri, headers.clone(), &extensions, body, deadline)
                .await
            {
                // An HTTP/2 server refused it unprocessed (RFC 9113 §8.7):
                // safe to send again, once, whatever the method.
                Err(e) if h2::is_unprocessed(&e) && !resent && replay.is_some() => {
                    resent = true;
                    body = replay.expect("checked");
                    continue;
                }
                res => res?,
            };
            let status = res.status();
            let Some(location) = redirect_target(status, res.headers(), &uri) else {
                return Ok(res);
            };
            if redirects >= self.inner.redirect.max {
                return Ok(res);
            }
            // 303, and 301/302 after POST, become GET without a body
            // (RFC 9110 §15.4); 307/308 repeat the request as it was.
            let to_get = status == StatusCode::SEE_OTHER
                || ((status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
                    && method == Method::POST);
            body = if to_get {
                if method != Method::HEAD {
                    method = Method::GET;
                }
                // Not an extended CONNECT any more.
                extensions.remove::<Protocol>();
                for name in [
                    "content-length",
                    "content-type",
                    "transfer-encoding",
                    "content-encoding",
                ] {
                    headers.remove(name);
                }
                Body::empty()
            } else {
                match replay {
                    Some(body) => body,
                    // A streamed body cannot be sent twice.
                    None => return Ok(res),
                }
            };
            if origin(&location) != origin(&uri) {
                // Credentials go only to the origin they were meant for.
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                    headers.remove(name);
                }
            }
            drop(res);
            uri = location;
            redirects += 1;
        }
    }

    /// One request to one URL (no redirects), retried once on a fresh
    /// connection when a reused one was found closed before the response.
    async fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        mut headers: HeaderMap,
        extensions: &http::Extensions,
        body: Body,
        deadline: Option<Instant>,
    ) -> Result<Response> {
        let origin = key_of(uri)?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        // http:// through an HTTP proxy: the proxy forwards the request
        // (absolute-form target), as curl and browsers do; https:// and
        // every other proxy go through a tunnel made by the connector.
        let forward = match self.inner.connector.proxies().select("http", &origin.host) {
            [proxy] if !origin.https && proxy.kind() == ProxyKind::Http => Some(proxy.clone()),
            _ => None,
        };
        // The origin as the Host header names it: the port only when it
        // is not the scheme's default.
        let host = match (origin.https, origin.port) {
            (false, 80) | (true, 443) if origin.host.contains(':') => format!("[{}]", origin.host),
            (false, 80) | (true, 443) => origin.host.clone(),
            _ => origin.authority(),
        };
        let (key, target) = match &forward {
            Some(proxy) => {
                if let Some((user, pass)) = proxy.credentials()
                    && !headers.contains_key(PROXY_AUTHORIZATION)
                {
                    let value = crate::proxy::basic_auth_value(user, pass);
                    let value = HeaderValue::from_str(&value).map_err(|e| {
                        Error::new(ErrorKind::InvalidInput, "send a request through")
                            .with_name(proxy.to_string())
                            .with_detail("the proxy credentials cannot be sent in a header")
                            .with_source(e)
                    })?;
                    headers.insert(PROXY_AUTHORIZATION, value);
                }
                let key = Key {
                    https: false,
                    host: proxy.host().to_owned(),
                    port: proxy.port(),
                    forward: true,
                };
                (key, format!("http://{host}{path}"))
            }
            None => {
                // Meant for a forwarding proxy: never for an origin.
                headers.remove(PROXY_AUTHORIZATION);
                (origin.clone(), path.to_owned())
            }
        };
        if !headers.contains_key(HOST) {
            headers.insert(
                HOST,
                HeaderValue::from_str(&host).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, "send a request")
                        .with_name(host.clone())
                        .with_source(e)
                })?,
            );
        }
        // The caller's trace goes on to this hop, with a span of its own.
        if let Some(ctx) = extensions.get::<crate::http::trace::TraceContext>()
            && !headers.contains_key("traceparent")
        {
            ctx.child().inject(&mut headers);
        }
        // An HTTP/2 connection to the origin with a stream free.
        if forward.is_none()
            && let Some(slot) = self.h2_slot(&key)
        {
            return self
                .send_h2(slot, true, method, uri, headers, extensions, body, deadline)
                .await;
        }
        // While a connection to an origin that may speak HTTP/2 is made,
        // the other requests to it wait to share it instead of each
        // making its own.
        let mut connecting = None;
        if forward.is_none()
            && (key.https || self.inner.http2_prior_knowledge)
            && !lock(&self.inner.h1_origins).contains(&key)
        {
            let turn = lock(&self.inner.connecting)
                .entry(key.clone())
                .or_default()
                .clone()
                .lock_owned();
            let guard = match deadline {
                Some(at) => tokio::time::timeout_at(at, turn).await.map_err(|_| {
                    Error::new(ErrorKind::Timeout, "connect to")
                        .with_name(key.authority())
                        .with_detail("the request timed out")
                })?,
                None => turn.await,
            };
            if let Some(slot) = self.h2_slot(&key) {
                drop(guard);
                return self
                    .send_h2(slot, true, method, uri, headers, extensions, body, deadline)
                    .await;
            }
            // The connection made meanwhile turned out HTTP/1.1: no
            // reason to connect one at a time.
            if !lock(&self.inner.h1_origins).contains(&key) {
                connecting = Some(guard);
            }
        }
        let retry_body = idempotent(method).then(|| body.try_clone()).flatten();
        let mut body = Some(body);
        let mut fresh = false;
        loop {
            let mut pooled = match self
                .inner
                .pool
                .checkout(
                    &key,
                    fresh,
                    self.inner
                        .pool_wait
                        .or(deadline.map(|d| d - Instant::now())),
                )
                .await?
            {
                Checkout::Reused(pooled) => pooled,
                Checkout::Connect(mut place) => match self.connect(&key, deadline).await? {
                    Connected::H1(conn) => {
                        if connecting.is_some() {
                            lock(&self.inner.h1_origins).insert(key.clone());
                        }
                        place.fill(*conn);
                        place
                    }
                    Connected::H2(conn) => {
                        // Not an HTTP/1.1 connection: its place is free.
                        drop(place);
                        let slot = conn.try_reserve();
                        lock(&self.inner.h2)
                            .entry(key.clone())
                            .or_default()
                            .push(conn.clone());
                        // The others wait until the server's stream limit
                        // is known, then share the connection or open
                        // another; this request goes at once.
                        if let Some(guard) = connecting.take() {
                            tokio::spawn(async move {
                                let settled = conn.settled();
                                let _ =
                                    tokio::time::timeout(Duration::from_secs(10), settled).await;
                                drop(guard);
                            });
                        }
                        let (Some(slot), Some(body)) = (slot, body.take()) else {
                            return Err(Error::new(ErrorKind::Closed, "send a request"));
                        };
                        return self
                            .send_h2(
                                slot, false, method, uri, headers, extensions, body, deadline,
                            )
                            .await;
                    }
                },
            };
            if extensions.get::<Protocol>().is_some() {
                return Err(Error::new(ErrorKind::Unsupported, "send a request to")
                    .with_name(key.authority())
                    .with_detail("extended CONNECT (:protocol) needs HTTP/2, and the server speaks HTTP/1.1 here"));
            }
            drop(connecting.take());
            let reused = pooled.is_reused();
            let Some(conn) = pooled.get_mut() else {
                return Err(Error::new(ErrorKind::Closed, "send a request"));
            };
            let mut info = conn.info.clone();
            info.reused = reused;
            let this_body = match body.take() {
                Some(b) => b,
                None => match retry_body.as_ref().and_then(Body::try_clone) {
                    Some(b) => b,
                    None => return Err(Error::new(ErrorKind::Closed, "send a request")),
                },
            };
            match conn
                .send(method, &target, &mut headers, this_body, deadline)
                .await
            {
                Ok(head) => {
                    // The parser's framing decision, not the header again
                    // (a HEAD or 304 answer declares a length it never sends).
                    let size = match tetsuo_proto::h1::response_framing(head.head(), method) {
                        tetsuo_proto::h1::Framing::Length(n) => http_body::SizeHint::with_exact(n),
                        tetsuo_proto::h1::Framing::Empty => http_body::SizeHint::with_exact(0),
                        _ => http_body::SizeHint::default(),
                    };
                    let parts = head.to_parts().map_err(|e| {
                        Error::new(ErrorKind::Protocol, "read a response").with_source(e)
                    })?;
                    let status = parts.status;
                    let switching = status == StatusCode::SWITCHING_PROTOCOLS
                        || (*method == Method::CONNECT && status.is_success());
                    let mut response = http::Response::from_parts(parts, Body::empty());
                    response.extensions_mut().insert(info);
                    if switching {
                        if let Some(conn) = pooled.detach() {
                            let upgraded = conn.into_upgraded();
                            let (tx, on_upgrade) = crate::http::upgrade::OnUpgrade::pair();
                            let _ = tx.send(upgraded);
                            response.extensions_mut().insert(on_upgrade);
                        }
                    } else {
                        let mut body = Body::wrap(ResponseBody::new(pooled, size));
                        if deadline.is_some() || self.inner.read_timeout.is_some() {
                            body =
                                Body::wrap(TimedBody::new(body, deadline, self.inner.read_timeout));
                        }
                        #[cfg(feature = "decompression")]
                        let body = if self.inner.decompress && *method != Method::HEAD {
                            decode::wrap(response.headers_mut(), body, self.inner.limits.max_body)
                        } else {
                            body
                        };
                        *response.body_mut() = body;
                    }
                    return Ok(Response {
                        inner: response,
                        url: uri.clone(),
                    });
                }
                Err(SendError {
                    error,
                    before_response,
                }) => {
                    // Not reusable: dropping it frees its place.
                    drop(pooled);
                    if reused && before_response && !fresh && retry_body.is_some() {
                        fresh = true;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// A free stream on one of `key`'s HTTP/2 connections (closed ones
    /// are dropped from the list).
    fn h2_slot(&self, key: &Key) -> Option<h2::Slot> {
        let mut map = lock(&self.inner.h2);
        let conns = map.get_mut(key)?;
        conns.retain(h2::H2Conn::is_open);
        conns.iter().find_map(h2::H2Conn::try_reserve)
    }

    /// Sends a request on an HTTP/2 stream.
    #[allow(
        clippy::too_many_arguments,
        reason = "the request's parts, as send_once has them"
    )]
    async fn send_h2(
        &self,
        slot: h2::Slot,
        reused: bool,
        method: &Method,
        uri: &Uri,
        headers: HeaderMap,
        extensions: &http::Extensions,
        mut body: Body,
        deadline: Option<Instant>,
    ) -> Result<Response> {
        let mut info = slot.info().clone();
        info.reused = reused;
        let mut head = http::Request::new(()).into_parts().0;
        head.method = method.clone();
        head.uri = uri.clone();
        head.headers = headers;
        head.extensions = extensions.clone();
        // A CONNECT's stream carries what the caller writes once it is
        // answered, not a body.
        let mut tunnel = None;
        if *method == Method::CONNECT {
            let (tx, rx) = crate::http::body::pipe(h2::BODY_BUFFER, None);
            tunnel = Some(tx);
            body = Body::pipe(rx);
        }
        let answer = slot.send(head, body);
        let (parts, body) = match deadline {
            Some(at) => tokio::time::timeout_at(at, answer)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(ErrorKind::Timeout, "send a request")
                        .with_detail("the request timed out"))
                })?,
            None => answer.await?,
        };
        let mut response = http::Response::from_parts(parts, body);
        response.extensions_mut().insert(info);
        if let Some(send) = tunnel {
            if !response.status().is_success() {
                // No tunnel: our side of the stream ends, and the refusal's
                // body is read as any other.
                send.finish(None);
                return Ok(Response {
                    inner: response,
                    url: uri.clone(),
                });
            }
            let recv = std::mem::take(response.body_mut());
            let (tx, on_upgrade) = crate::http::upgrade::OnUpgrade::pair();
            let _ = tx.send(crate::http::upgrade::h2_stream(recv, send));
            response.extensions_mut().insert(on_upgrade);
            return Ok(Response {
                inner: response,
                url: uri.clone(),
            });
        }
        if (deadline.is_some() || self.inner.read_timeout.is_some())
            && !http_body::Body::is_end_stream(response.body())
        {
            let body = std::mem::take(response.body_mut());
            *response.body_mut() =
                Body::wrap(TimedBody::new(body, deadline, self.inner.read_timeout));
        }
        #[cfg(feature = "decompression")]
        if self.inner.decompress && *method != Method::HEAD {
            let body = std::mem::take(response.body_mut());
            let body = decode::wrap(response.headers_mut(), body, self.inner.limits.max_body);
            *response.body_mut() = body;
        }
        Ok(Response {
            inner: response,
            url: uri.clone(),
        })
    }

    async fn connect(&self, key: &Key, deadline: Option<Instant>) -> Result<Connected> {
        if key.https && !cfg!(feature = "tls") {
            return Err(Error::new(ErrorKind::Unsupported, "connect to")
                .with_name(key.host.clone())
                .with_detail("https needs the `tls` feature"));
        }
        #[cfg(feature = "tls")]
        if key.https && self.inner.tls.is_none() {
            return Err(Error::new(ErrorKind::Unsupported, "connect to")
                .with_name(key.host.clone())
                .with_detail("no TLS configuration (no root certificates built in)"));
        }
        let connect = async {
            if key.forward {
                let proxy = Target::tcp(key.host.clone(), key.port);
                let (stream, mut info) = self.inner.connector.connect_direct(&proxy).await?;
                info.forward_proxy = Some(format!("http://{}", key.authority()));
                Ok((stream, info))
            } else {
                let target = Target::http(key.host.clone(), key.port, key.https);
                self.inner.connector.connect_to(&target).await
            }
        };
        let (stream, info) = match deadline {
            Some(at) => tokio::time::timeout_at(at, connect)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(ErrorKind::Timeout, "connect to")
                        .with_name(format!("{}:{}", key.host, key.port))
                        .with_detail("the request timed out"))
                })?,
            None => connect.await?,
        };
        let prior_knowledge = self.inner.http2_prior_knowledge && !key.forward;
        #[cfg(feature = "tls")]
        let h2 = stream
            .tls_info()
            .map_or(prior_knowledge, |tls| tls.alpn_protocol() == Some(b"h2"));
        #[cfg(not(feature = "tls"))]
        let h2 = prior_knowledge;
        if h2 {
            return Ok(Connected::H2(h2::H2Conn::spawn(
                stream,
                ConnectionInfo::new(info),
            )));
        }
        Ok(Connected::H1(Box::new(ClientConn::new(
            Box::new(stream),
            self.inner.limits.clone(),
            ConnectionInfo::new(info),
        ))))
    }
}

/// A request's head as the client carries it through redirects.
struct Head {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    extensions: http::Extensions,
}

/// A new connection: HTTP/1.1 for the pool, or HTTP/2 (ALPN `h2`, or prior
/// knowledge) for the origin's shared connections.
enum Connected {
    /// Boxed: a connection is large next to an HTTP/2 handle.
    H1(Box<ClientConn>),
    H2(h2::H2Conn),
}

/// Locks a mutex that a panic elsewhere cannot poison for good.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key_of(uri: &Uri) -> Result<Key> {
    let bad = |detail: &str| {
        Error::new(ErrorKind::InvalidInput, "send a request to")
            .with_name(uri.to_string())
            .with_detail(detail.to_owned())
    };
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP => false,
        Some(s) if *s == Scheme::HTTPS => true,
        Some(_) => return Err(bad("only http:// and https:// URLs")),
        None => return Err(bad("the URL needs a scheme (http:// or https://)")),
    };
    let host = uri.host().ok_or_else(|| bad("the URL needs a host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Key {
        https,
        host,
        port,
        forward: false,
    })
}

fn origin(uri: &Uri) -> Option<Key> {
    key_of(uri).ok()
}

/// Where a redirect response points, resolved against the request's URL.
fn redirect_target(status: StatusCode, headers: &HeaderMap, base: &Uri) -> Option<Uri> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let target = location.parse::<Uri>().ok()?;
    if target.scheme().is_some() {
        return Some(target);
    }
    // A relative reference: absolute path (the common case) or relative.
    let mut parts = base.clone().into_parts();
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = base.path();
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    parts.path_and_query = Some(path.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}
