//! `tetsuo proxy`: an HTTP reverse proxy in front of backends chosen by a
//! balancer, with active health checks, passive ejection, idempotent
//! retries on another backend, discovery (a file or etcd) and per-backend
//! metrics on an admin listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use tetsuo::balance::health::HealthCheck;
use tetsuo::balance::{Balancer, Pick, Policy};
use tetsuo::discover::{self, Discovery};
use tetsuo::dns::{HickoryResolver, NameServer};
use tetsuo::http::client::{Client, RedirectPolicy};
use tetsuo::http::server::{ClientAddr, Server};
use tetsuo::http::trace::TraceContext;
use tetsuo::http::{Body, service_fn};
use tetsuo::pool::PoolConfig;
use tetsuo::proxy::{Proxies, Proxy};
use tetsuo::tls::TlsConnector;

use crate::signals::{Signal, Signals};
use crate::telemetry::{self, Telemetry, TelemetryArgs};

const NAME: &str = "tetsuo proxy";

/// Arguments of `tetsuo proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A backend, http://HOST:PORT or https://HOST:PORT with an optional
    /// weight after a semicolon (http://10.0.0.7:8080;weight=3);
    /// repeatable, all of one scheme.
    #[arg(long, value_name = "URL")]
    upstream: Vec<String>,
    /// Backends from discovery instead: file:PATH (one HOST:PORT [WEIGHT]
    /// per line, watched), etcd:http://HOST:PORT/PREFIX (keys under the
    /// prefix hold HOST:PORT [WEIGHT], watched) or srv:NAME (the SRV
    /// records of NAME, looked up every second).
    #[arg(long, value_name = "SOURCE", conflicts_with = "upstream")]
    discover: Option<String>,
    /// Ask this DNS server (UDP, ADDR:PORT) for SRV records and backend
    /// names instead of the system's.
    #[arg(long, value_name = "ADDR")]
    dns_server: Option<SocketAddr>,
    /// How backends are chosen.
    #[arg(long, value_enum, default_value_t = PolicyArg::RoundRobin)]
    policy: PolicyArg,
    /// Health check: GET this path on each backend, which must answer 200
    /// (default: a TCP connect).
    #[arg(long, value_name = "PATH")]
    health_path: Option<String>,
    /// Seconds between health checks.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    health_interval: f64,
    /// Idempotent requests without a body that fail to reach a backend go
    /// to another, up to this many times.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Seconds to connect to a backend.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    connect_timeout: f64,
    /// An admin listener: GET /metrics (Prometheus) and /backends.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Speak TLS to the backends (what https:// upstreams imply; for
    /// discovered backends).
    #[arg(long)]
    backend_tls: bool,
    /// Trust the CAs in this PEM file for the backends' certificates
    /// instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    backend_cacert: Option<std::path::PathBuf>,
    /// Reach the backends through this proxy (socks5://, socks5h://,
    /// socks4://, socks4a:// or http://, with user:pass@).
    #[arg(long, value_name = "URL")]
    backend_proxy: Option<String>,
    /// Most connections open to one backend at once; requests beyond wait
    /// for one (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_conns_per_backend: usize,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    RoundRobin,
    Weighted,
    LeastOutstanding,
    P2c,
    /// Consistent hashing on the client's IP address.
    Hash,
}

impl PolicyArg {
    fn policy(self) -> Policy {
        match self {
            PolicyArg::RoundRobin => Policy::RoundRobin,
            PolicyArg::Weighted => Policy::WeightedRoundRobin,
            PolicyArg::LeastOutstanding => Policy::LeastOutstanding,
            PolicyArg::P2c => Policy::PowerOfTwoChoices,
            PolicyArg::Hash => Policy::ConsistentHash { replicas: 100 },
        }
    }
}

/// A duration flag: a positive number of seconds, at most a day.
fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        bail!("{flag}: a number of seconds between 0 and 86400, not {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// `http(s)://host:port[;weight=N]` as (`host:port`, weight, TLS).
fn parse_upstream(s: &str) -> anyhow::Result<(String, u32, bool)> {
    let (url, weight) = match s.split_once(";weight=") {
        Some((url, w)) => (
            url,
            w.parse()
                .context("--upstream: the weight must be a number")?,
        ),
        None => (s, 1),
    };
    let uri: http::Uri = url.parse().context("--upstream: not a URL")?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("--upstream {s}: an http:// or https:// URL"),
    };
    let authority = uri
        .authority()
        .context("--upstream: the URL needs a host")?;
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok((format!("{}:{port}", authority.host()), weight, tls))
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A backend for this request, not one it already failed on (unless no
/// other is left).
fn pick_untried(
    lb: &Balancer<String>,
    peer: Option<SocketAddr>,
    tried: &[String],
) -> Option<Pick<String>> {
    let ip = peer.map(|p| p.ip());
    let pick = || match &ip {
        Some(ip) => lb.pick(Some(ip)),
        None => lb.pick(None),
    };
    let first = pick()?;
    if !tried.contains(first.endpoint()) {
        return Some(first);
    }
    // Consistent hashing always answers the same: any other will do.
    let others = lb.endpoints().len();
    for _ in 0..others * 2 {
        let p = lb.pick(None)?;
        if !tried.contains(p.endpoint()) {
            return Some(p);
        }
    }
    Some(first)
}

fn bad_gateway(why: &str) -> Response<Body> {
    let mut res = Response::new(Body::from(format!("{why}\n")));
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    res
}

/// One request through the proxy.
async fn forward(
    lb: Balancer<String>,
    client: Client,
    retries: u32,
    scheme: &'static str,
    req: Request<Body>,
) -> Response<Body> {
    let peer = req.extensions().get::<ClientAddr>().map(|a| a.0);
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    tetsuo::http::remove_hop_by_hop(&mut parts.headers);
    // The client's Host goes on to the backend (virtual hosts, absolute
    // URLs), as it is also told in X-Forwarded-Host; X-Forwarded-For gets
    // the client's address appended (what came before it is the client's
    // word).
    if let Some(peer) = peer {
        let before: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut forwarded = before.join(", ");
        if !forwarded.is_empty() {
            forwarded.push_str(", ");
        }
        forwarded.push_str(&peer.ip().to_string());
        if let Ok(v) = HeaderValue::from_str(&forwarded) {
            parts.headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(host) = parts.headers.get(http::header::HOST).cloned() {
        parts.headers.insert("x-forwarded-host", host);
    }
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // Only a request that can be sent again goes to another backend.
    let can_retry = idempotent(&parts.method) && http_body::Body::is_end_stream(&body);
    let mut body = Some(body);
    let mut attempt = 0;
    let mut tried: Vec<String> = Vec::new();
    loop {
        let Some(pick) = pick_untried(&lb, peer, &tried) else {
            return bad_gateway("no healthy backend");
        };
        let backend = pick.endpoint().clone();
        let mut upstream = Request::new(body.take().unwrap_or_default());
        *upstream.method_mut() = parts.method.clone();
        *upstream.headers_mut() = parts.headers.clone();
        // The trace goes on with a span of the proxy's own (W3C): the
        // exported one when there is one, else a new id in the caller's.
        let incoming = parts.extensions.get::<TraceContext>();
        match telemetry::next_hop(incoming) {
            Some(ours) => ours.inject(upstream.headers_mut()),
            None => {
                if let Some(ctx) = incoming {
                    upstream.headers_mut().remove("traceparent");
                    upstream.extensions_mut().insert(ctx.clone());
                }
            }
        }
        *upstream.uri_mut() = match format!("{scheme}://{backend}{path}").parse() {
            Ok(uri) => uri,
            Err(_) => return bad_gateway("a backend address that is not a URL"),
        };
        match client.execute(upstream).await {
            Ok(res) => {
                let status = res.status();
                metrics::counter!(
                    "tetsuo_proxy_requests_total",
                    "backend" => backend.clone(),
                    "class" => format!("{}xx", status.as_u16() / 100)
                )
                .increment(1);
                let mut res = res.into_http();
                tetsuo::http::remove_hop_by_hop(res.headers_mut());
                if status.is_server_error() {
                    pick.failure();
                    return res;
                }
                // A body the server will not poll (none at all) cannot
                // report the outcome: done now. Otherwise the pick stays
                // outstanding until the body has been passed on.
                if parts.method == Method::HEAD
                    || status == StatusCode::NO_CONTENT
                    || status == StatusCode::NOT_MODIFIED
                {
                    pick.success();
                    return res;
                }
                return res.map(|body| pick.track(body));
            }
            Err(e) => {
                metrics::counter!(
                    "tetsuo_proxy_requests_total",
                    "backend" => backend.clone(),
                    "class" => "error"
                )
                .increment(1);
                pick.failure();
                if can_retry && attempt < retries {
                    attempt += 1;
                    tried.push(backend);
                    body = Some(Body::empty());
                    continue;
                }
                return bad_gateway(&format!("{backend}: {e}"));
            }
        }
    }
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let telemetry = Telemetry::start(&args.telemetry, "tetsuo-proxy")?;
    let result = proxy(args, telemetry.prometheus()).await;
    tokio::task::spawn_blocking(move || telemetry.finish()).await?;
    result
}

async fn proxy(args: ProxyArgs, prometheus: PrometheusHandle) -> anyhow::Result<()> {
    let lb: Balancer<String> = Balancer::new(args.policy.policy());
    let mut resolver = HickoryResolver::builder();
    if let Some(server) = args.dns_server {
        resolver = resolver.name_server(NameServer::udp(server));
    }
    let resolver = resolver.build()?;
    let mut _discovery: Option<Discovery> = None;
    let mut backend_tls = args.backend_tls;
    match &args.discover {
        Some(source) => {
            if let Some(path) = source.strip_prefix("file:") {
                let file = discover::file(path).interval(Duration::from_millis(200));
                lb.set(file.read().context("read the endpoints file")?);
                _discovery = Some(file.spawn(lb.clone()));
            } else if let Some(rest) = source.strip_prefix("etcd:") {
                let uri: http::Uri = rest.parse().context("--discover etcd: not a URL")?;
                let base = format!(
                    "{}://{}",
                    uri.scheme_str().unwrap_or("http"),
                    uri.authority()
                        .context("--discover etcd: the URL needs a host")?
                );
                let source = discover::etcd(&base, uri.path())?;
                _discovery = Some(source.spawn(lb.clone()));
            } else if let Some(name) = source.strip_prefix("srv:") {
                _discovery = Some(discover::srv(name, resolver.clone()).spawn(lb.clone()));
            } else {
                bail!("--discover: expected file:PATH, etcd:URL/PREFIX or srv:NAME");
            }
        }
        None => {
            if args.upstream.is_empty() {
                bail!("give --upstream URL (repeatable) or --discover SOURCE");
            }
            let backends = args
                .upstream
                .iter()
                .map(|u| parse_upstream(u))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if backends.iter().any(|b| b.2 != backends[0].2) {
                bail!("--upstream: all http:// or all https://");
            }
            if args.backend_tls && !backends[0].2 {
                bail!("--backend-tls: give https:// upstreams");
            }
            backend_tls |= backends[0].2;
            lb.set(backends.into_iter().map(|(a, w, _)| (a, w)));
        }
    }
    let connect_timeout = seconds(args.connect_timeout, "--connect-timeout")?;
    // Answers pass through as they are: redirects and encodings are the
    // client's business, not the proxy's.
    let proxies = match &args.backend_proxy {
        Some(url) => {
            let proxy = Proxy::parse(url).context("--backend-proxy")?;
            // An HTTP proxy forwards plain requests itself (one pool for
            // all backends, no CONNECT): only tunnels are meant here.
            if url.starts_with("http://") && !backend_tls {
                bail!(
                    "--backend-proxy http://: for https:// backends only (a SOCKS proxy for http:// ones)"
                );
            }
            Proxies::chain([proxy])
        }
        None => Proxies::none(),
    };
    if args.backend_cacert.is_some() && !backend_tls {
        bail!("--backend-cacert: for TLS backends (https:// upstreams or --backend-tls)");
    }
    let tls = crate::tls::trust(
        TlsConnector::builder().tls12(true),
        args.backend_cacert.as_deref(),
        &[],
        false,
    )
    .build()
    .context("--backend-cacert")?;
    // Requests wait for a connection at most as long as one takes to make.
    let mut pool = PoolConfig::default();
    pool.name = "backends".into();
    pool.max_per_key = args.max_conns_per_backend;
    let builder = || {
        let mut client = Client::builder()
            .proxies(proxies.clone())
            .redirect(RedirectPolicy::none())
            .decompress(false)
            .connect_timeout(Some(connect_timeout))
            .pool_wait_timeout(Some(connect_timeout))
            .tls(tls.clone());
        if args.dns_server.is_some() {
            client = client.resolver(resolver.clone());
        }
        client
    };
    let client = builder().pool(pool).build()?;
    // Probes have their own connections: a backend whose connections are
    // all busy is not down.
    let mut probes = PoolConfig::default();
    probes.name = "health".into();
    let prober = builder().pool(probes).build()?;
    let interval = seconds(args.health_interval, "--health-interval")?;
    let check = match &args.health_path {
        Some(path) if backend_tls => HealthCheck::https_get(prober, path, StatusCode::OK),
        Some(path) => HealthCheck::http_get(prober, path, StatusCode::OK),
        None => {
            let mut connector = tetsuo::connect::Connector::builder().proxies(proxies);
            if args.dns_server.is_some() {
                connector = connector.resolver(resolver.clone());
            }
            HealthCheck::tcp(connector.build())
        }
    };
    let _health = check
        .interval(interval)
        .timeout(connect_timeout)
        .thresholds(1, 1)
        .on_change(|e| {
            let state = if e.healthy { "up" } else { "down" };
            if e.healthy {
                tracing::info!(backend = %e.endpoint, "backend {} is {state}", e.endpoint);
            } else {
                tracing::warn!(backend = %e.endpoint, "backend {} is {state}", e.endpoint);
            }
        })
        .spawn(lb.clone());

    if let Some(admin) = args.admin {
        let listener = tokio::net::TcpListener::bind(admin)
            .await
            .with_context(|| format!("listen on {admin}"))?;
        eprintln!("{NAME}: admin on http://{}", listener.local_addr()?);
        tokio::spawn(serve_admin(listener, lb.clone(), prometheus));
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    eprintln!("{NAME}: listening on http://{}", listener.local_addr()?);
    let retries = args.retries;
    let scheme = if backend_tls { "https" } else { "http" };
    let service = service_fn(move |req: Request<Body>| {
        let (lb, client) = (lb.clone(), client.clone());
        async move {
            telemetry::adopt(&req);
            let res = forward(lb, client, retries, scheme, req).await;
            telemetry::record_status(res.status());
            Ok::<_, Infallible>(res)
        }
    });
    let server = Server::builder().max_connections_per_ip(0).build();
    let handle = server.handle();
    let mut signals = Signals::new()?;
    tokio::select! {
        result = server.serve_tcp(listener, service) => result?,
        signal = async {
            loop {
                if let Signal::Stop = signals.next().await? {
                    return anyhow::Ok(());
                }
            }
        } => signal?,
    }
    handle.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// The admin listener: `/metrics` and `/backends`.
async fn serve_admin(
    listener: tokio::net::TcpListener,
    lb: Balancer<String>,
    prometheus: PrometheusHandle,
) {
    let service = service_fn(move |req: Request<Body>| {
        let (lb, prometheus) = (lb.clone(), prometheus.clone());
        async move {
            let body = match req.uri().path() {
                "/metrics" => prometheus.render(),
                "/backends" => lb
                    .endpoints()
                    .iter()
                    .map(|e| {
                        format!(
                            "{} weight={} outstanding={} {}\n",
                            e.endpoint,
                            e.weight,
                            e.outstanding,
                            if e.draining {
                                "draining"
                            } else if !e.healthy {
                                "down"
                            } else if e.ejected {
                                "ejected"
                            } else {
                                "up"
                            }
                        )
                    })
                    .collect(),
                _ => {
                    let mut res = Response::new(Body::from("not found\n"));
                    *res.status_mut() = StatusCode::NOT_FOUND;
                    return Ok::<_, Infallible>(res);
                }
            };
            Ok(Response::new(Body::from(body)))
        }
    });
    let _ = Server::builder().build().serve_tcp(listener, service).await;
}
