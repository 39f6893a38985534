//! Two proxies in one program.
//!
//! **forward**: HTTP CONNECT, plain-HTTP forwarding and SOCKS5 on one port
//! (the first byte tells them apart), with optional username/password,
//! the client addresses allowed to use it, and the destination networks
//! allowed or denied. Without `--allow`/`--deny` it goes anywhere its host
//! can reach, loopback and cloud metadata addresses included: on a shared
//! host, deny `127.0.0.0/8`, `::1`, `169.254.0.0/16` and your private ranges.
//!
//! ```sh
//! cargo run --example proxy -- forward --listen 127.0.0.1:3128 --user alice --password secret \
//!     --client 127.0.0.0/8 --deny 10.0.0.0/8
//! curl -p -x http://alice:secret@127.0.0.1:3128 https://example.com/   # CONNECT
//! curl -x http://alice:secret@127.0.0.1:3128 http://example.com/       # plain HTTP
//! curl -x socks5h://alice:secret@127.0.0.1:3128 https://example.com/   # SOCKS5
//! ```
//!
//! **reverse**: spreads requests over backends (`--policy rr`, `lor` for the
//! fewest in flight, or `p2c`), checks each backend with `GET --health`
//! every second (two failures take one out, two successes bring it back),
//! and tries a GET or HEAD that could not reach its backend again (with
//! round-robin, on the next one). A request counts as in flight on its
//! backend until its response body has been passed on. A backend that
//! fails 5 requests in a row (connection failures and 5xx answers) is also
//! left out for 5 s by its circuit breaker (then one request probes it),
//! unless its health checks see it go down and come back first.
//!
//! ```sh
//! cargo run --example proxy -- reverse --listen 127.0.0.1:8000 \
//!     --backend 127.0.0.1:9001 --backend 127.0.0.1:9002 --health /healthz
//! curl http://127.0.0.1:8000/hello
//! ```
//!
//! Both print `listening on ...` when ready and stop on Ctrl-C (the reverse
//! proxy drains first).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use tetsuo::balance::health::HealthCheck;
use tetsuo::balance::{Balancer, Policy};
use tetsuo::dns::{Query, Resolve, Resolving, SystemResolver};
use tetsuo::http::client::{Client, RedirectPolicy};
use tetsuo::http::server::{ClientAddr, Server};
use tetsuo::http::{Body, remove_hop_by_hop, service_fn};
use tetsuo::net::TcpConnector;
use tetsuo::proxy::{IpNet, SocksServer};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut opts = Options::default();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => opts.listen = Some(value.parse()?),
            "--user" => opts.user = Some(value),
            "--password" => opts.password = Some(value),
            "--client" => opts.clients.push(value.parse()?),
            "--allow" => opts.allow.push(value.parse()?),
            "--deny" => opts.deny.push(value.parse()?),
            "--backend" => opts.backends.push(value),
            "--policy" => opts.policy = value,
            "--health" => opts.health = value,
            _ => return Err(format!("unknown flag {flag}; see examples/proxy/main.rs").into()),
        }
    }
    match mode.as_str() {
        "forward" => forward(opts).await,
        "reverse" => reverse(opts).await,
        _ => Err(
            "usage: proxy forward|reverse [--listen ADDR] ...; see examples/proxy/main.rs".into(),
        ),
    }
}

#[derive(Default)]
struct Options {
    listen: Option<SocketAddr>,
    user: Option<String>,
    password: Option<String>,
    clients: Vec<IpNet>,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    backends: Vec<String>,
    policy: String,
    health: String,
}

// ---------------------------------------------------------------- forward

/// What both kinds of forward proxy share: who may use it.
struct Rules {
    /// `Basic base64(user:password)`, when authentication is on.
    credentials: Option<String>,
    destinations: Destinations,
}

/// Where the proxy may connect: a resolver that gives out only allowed
/// addresses. The HTTP client resolves through it too, so a name that also
/// has a denied address, or answers differently on a second lookup, cannot
/// lead anywhere the rules forbid.
#[derive(Debug, Clone)]
struct Destinations {
    allow: Arc<Vec<IpNet>>,
    deny: Arc<Vec<IpNet>>,
}

impl Destinations {
    /// Denied networks win over allowed ones. As in tetsuo's SOCKS server,
    /// the unspecified addresses (`0.0.0.0/8`, `::`), which reach this very
    /// host on Linux, are never allowed.
    fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let unspecified = match ip {
            IpAddr::V4(v4) => v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_unspecified(),
        };
        !unspecified
            && !self.deny.iter().any(|n| n.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip)))
    }
}

impl Resolve for Destinations {
    fn lookup<'a>(&'a self, host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
        Box::pin(async move {
            let ips = SystemResolver.lookup(host, query).await?;
            let allowed: Vec<IpAddr> = ips.iter().copied().filter(|ip| self.allows(*ip)).collect();
            if allowed.is_empty() && !ips.is_empty() {
                let denied = std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host}: destination not allowed"),
                );
                return Err(denied.into());
            }
            Ok(allowed)
        })
    }
}

/// 403 for a destination the rules refuse, 504 for a timeout, else 502.
fn upstream_status(e: &tetsuo::Error) -> StatusCode {
    match e.io_error().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::PermissionDenied) => StatusCode::FORBIDDEN,
        _ if e.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl Rules {
    fn authorized(&self, req: &Request<Body>) -> bool {
        let Some(expected) = &self.credentials else {
            return true;
        };
        req.headers()
            .get(header::PROXY_AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes())
    }

    /// Connects to the first allowed address of `host:port` that answers.
    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, StatusCode> {
        let ips = match host.parse::<IpAddr>() {
            Ok(ip) if self.destinations.allows(ip) => vec![ip],
            Ok(_) => return Err(StatusCode::FORBIDDEN),
            Err(_) => self
                .destinations
                .lookup(host, Query::Any)
                .await
                .map_err(|e| upstream_status(&e))?,
        };
        let connector = TcpConnector::new().connect_timeout(Duration::from_secs(10));
        for ip in ips {
            if let Ok(stream) = connector.connect(SocketAddr::new(ip, port)).await {
                return Ok(stream);
            }
        }
        Err(StatusCode::BAD_GATEWAY)
    }
}

async fn forward(opts: Options) -> Result<(), Error> {
    let listen = opts.listen.unwrap_or("127.0.0.1:3128".parse()?);
    let mut socks = SocksServer::builder();
    let credentials = match (&opts.user, &opts.password) {
        (Some(user), Some(password)) => {
            socks = socks.auth(user, password);
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(format!("Basic {token}"))
        }
        (None, None) => None,
        _ => return Err("--user and --password go together".into()),
    };
    for net in &opts.allow {
        socks = socks.allow(*net);
    }
    for net in &opts.deny {
        socks = socks.deny(*net);
    }
    let socks = socks.build();
    let destinations = Destinations {
        allow: Arc::new(opts.allow),
        deny: Arc::new(opts.deny),
    };
    let rules = Arc::new(Rules {
        credentials,
        destinations: destinations.clone(),
    });
    let http = Server::builder().build();
    // Redirects go back to the client, which decides (and comes through the
    // proxy again, under the same rules).
    let client = Client::builder()
        .no_proxy()
        .resolver(destinations)
        .redirect(RedirectPolicy::none())
        .build()?;
    let service = service_fn(move |req| {
        let (rules, client) = (rules.clone(), client.clone());
        async move { Ok::<_, Infallible>(http_proxy(req, &rules, &client).await) }
    });

    let listener = tetsuo::net::TcpListenerBuilder::new(listen)
        .nodelay(true)
        .bind()?;
    println!(
        "listening on {} (HTTP CONNECT, HTTP and SOCKS5)",
        listener.local_addr()?
    );
    let accept = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !opts.clients.is_empty() && !opts.clients.iter().any(|n| n.contains(peer.ip())) {
                continue; // not ours to serve: closed at once
            }
            let (socks, http, service) = (socks.clone(), http.clone(), service.clone());
            tokio::spawn(async move {
                // SOCKS5 greetings start with the version, 5; HTTP with a
                // method name. Peeking leaves the byte for the parser.
                let mut first = [0u8; 1];
                match tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut first)).await {
                    Ok(Ok(1)) if first[0] == 5 => {
                        let _ = socks.serve_connection(stream, peer).await;
                    }
                    Ok(Ok(1)) => {
                        let _ = http.serve_connection(stream, Some(peer), service).await;
                    }
                    _ => {} // closed or silent
                }
            });
        }
    };
    tokio::select! {
        _ = accept => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// One request to the HTTP side of the forward proxy.
async fn http_proxy(mut req: Request<Body>, rules: &Rules, client: &Client) -> Response<Body> {
    if !rules.authorized(&req) {
        let mut res = status(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        res.headers_mut().insert(
            header::PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"proxy\""),
        );
        return res;
    }
    if req.method() == Method::CONNECT {
        // CONNECT host:port: connect first, so that a failure is a status.
        let Some((host, port)) = req
            .uri()
            .authority()
            .and_then(|a| Some((a.host().to_owned(), a.port_u16()?)))
        else {
            return status(StatusCode::BAD_REQUEST);
        };
        let mut upstream = match rules.connect(host.trim_matches(['[', ']']), port).await {
            Ok(stream) => stream,
            Err(code) => return status(code),
        };
        let upgrade = tetsuo::http::upgrade::on(&mut req);
        tokio::spawn(async move {
            // Once our 200 is out, the client's connection is the tunnel.
            if let Ok(mut tunnel) = upgrade.await {
                let _ = tokio::io::copy_bidirectional(&mut tunnel, &mut upstream).await;
            }
        });
        return Response::new(Body::empty());
    }
    // Plain HTTP in absolute form: `GET http://host/path`.
    let uri = req.uri().clone();
    let (Some("http"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // Names are checked as the client resolves them; addresses here.
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>()
        && !rules.destinations.allows(ip)
    {
        return status(StatusCode::FORBIDDEN);
    }
    remove_hop_by_hop(req.headers_mut());
    // The URI names the origin (RFC 9112 §3.2.2): the client sets Host from it.
    req.headers_mut().remove(header::HOST);
    match client.execute(req).await {
        Ok(res) => {
            let mut res = res.into_http();
            remove_hop_by_hop(res.headers_mut());
            res
        }
        Err(e) => status(upstream_status(&e)),
    }
}

// ---------------------------------------------------------------- reverse

async fn reverse(opts: Options) -> Result<(), Error> {
    if opts.backends.is_empty() {
        return Err("give at least one --backend HOST:PORT".into());
    }
    let policy = match opts.policy.as_str() {
        "" | "rr" => Policy::RoundRobin,
        "lor" => Policy::LeastOutstanding,
        "p2c" => Policy::PowerOfTwoChoices,
        other => return Err(format!("unknown policy {other}: rr, lor or p2c").into()),
    };
    let balancer = Balancer::new(policy);
    for backend in &opts.backends {
        balancer.insert(backend.clone(), 1);
    }
    let client = Client::builder()
        .no_proxy()
        .redirect(RedirectPolicy::none()) // a backend's redirect is the client's to follow
        .connect_timeout(Some(Duration::from_secs(2)))
        .timeout(Duration::from_secs(30))
        .build()?;
    // Active health checks: a backend that fails two probes in a row gets no
    // requests until it passes two.
    let health = if opts.health.is_empty() {
        "/"
    } else {
        &opts.health
    };
    let _checker = HealthCheck::http_get(
        Client::builder().no_proxy().build()?,
        health,
        StatusCode::OK,
    )
    .interval(Duration::from_secs(1))
    .timeout(Duration::from_secs(1))
    .thresholds(2, 2)
    .on_change(|event| println!("backend {:?} healthy: {}", event.endpoint, event.healthy))
    .spawn(balancer.clone());

    let server = Server::builder().build();
    let handle = server.handle();
    let service = service_fn(move |req| {
        let (balancer, client) = (balancer.clone(), client.clone());
        async move { Ok::<_, Infallible>(proxy_to_backend(req, &balancer, &client).await) }
    });
    let listen = opts.listen.unwrap_or("127.0.0.1:8000".parse()?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tokio::spawn(async move { server.serve_tcp(listener, service).await });
    tokio::signal::ctrl_c().await?;
    handle.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// Sends the request to a backend the balancer picks; a GET or HEAD
/// without a body that could not reach it is tried again (up to 3 times).
/// The pick counts as in flight until the response body has been passed
/// on (what `lor` and `p2c` compare), and its end reports the outcome.
async fn proxy_to_backend(
    req: Request<Body>,
    balancer: &Balancer<String>,
    client: &Client,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let peer = parts.extensions.get::<ClientAddr>().map(|a| a.0.ip());
    remove_hop_by_hop(&mut parts.headers);
    if let Some(ip) = peer {
        parts.headers.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(&ip.to_string()).unwrap(),
        );
    }
    let retryable = matches!(parts.method, Method::GET | Method::HEAD) && body_is_empty(&body);
    let mut body = Some(body);
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    for _ in 0..3 {
        let Some(pick) = balancer.pick(None) else {
            return status(StatusCode::SERVICE_UNAVAILABLE); // every backend is down
        };
        let Ok(uri) = format!("http://{}{path}", pick.endpoint()).parse::<Uri>() else {
            return status(StatusCode::BAD_GATEWAY);
        };
        let mut req = Request::from_parts(parts.clone(), body.take().unwrap_or_default());
        *req.uri_mut() = uri;
        req.headers_mut().remove(header::HOST); // the client sets the backend's
        match client.execute(req).await {
            Ok(res) => {
                let mut res = res.into_http();
                remove_hop_by_hop(res.headers_mut());
                // A 5xx counts against the backend (its breaker), but is
                // passed on: the request may have run.
                if res.status().is_server_error() {
                    pick.failure();
                    return res;
                }
                // In flight until the body has been passed on, whose end
                // reports the outcome.
                return res.map(|body| pick.track(body));
            }
            Err(e) => {
                pick.failure();
                if !(retryable && e.is_retryable()) {
                    return status(if e.is_timeout() {
                        StatusCode::GATEWAY_TIMEOUT
                    } else {
                        StatusCode::BAD_GATEWAY
                    });
                }
            }
        }
    }
    status(StatusCode::BAD_GATEWAY)
}

fn body_is_empty(body: &Body) -> bool {
    http_body::Body::is_end_stream(body)
}

fn status(code: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::from(format!("{code}\n")));
    *res.status_mut() = code;
    res
}
