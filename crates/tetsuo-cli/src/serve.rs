//! `tetsuo serve`: tetsuo's HTTP/1.1 server with the endpoints of CLI.md,
//! its limits as flags, Prometheus metrics, and graceful drain on
//! SIGINT/SIGTERM.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use std::os::fd::AsFd;
use tetsuo::http::server::{Handle, HttpService, Server};
use tetsuo::http::{Body, service_fn};

use tetsuo::net::TcpListenerBuilder;
use tetsuo::net::handover::{self, Handover};

use crate::files;
use crate::signals::{Signal, Signals};
use crate::telemetry::{self, Telemetry, TelemetryArgs};
use crate::tls::ServerTlsArgs;

const SERVE: &str = "tetsuo serve";

/// Arguments of `tetsuo serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Plain HTTP address to listen on (repeatable); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: Vec<SocketAddr>,
    /// HTTPS address to listen on (repeatable; with --tls the default is
    /// 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    tls_listen: Vec<SocketAddr>,
    /// Serve HTTPS too (SIGHUP reloads --cert/--key/--ocsp-response).
    #[arg(long)]
    tls: bool,
    #[command(flatten)]
    tls_args: ServerTlsArgs,
    /// Serve the files under DIR at /files/ (with ranges and conditional GET).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Most connections open at once (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_conns: usize,
    /// Most connections open at once from one client IP (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_conns_per_ip: usize,
    /// New connections per second from one client IP (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 0.0)]
    conn_rate_per_ip: f64,
    /// Longest time to receive a request head, from its first byte (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    header_timeout: f64,
    /// Longest wait for the next request on a keep-alive connection (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    idle_timeout: f64,
    /// Longest a graceful drain waits for requests in flight.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    drain_timeout: f64,
    /// Worker threads of the runtime (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// One single-threaded runtime per core, each with its own
    /// SO_REUSEPORT listener, for the plain listeners (--threads of them).
    #[arg(long, conflicts_with = "upgrade_socket")]
    thread_per_core: bool,
    #[command(flatten)]
    telemetry: TelemetryArgs,
    /// Zero-downtime restart: take the listeners of the `tetsuo serve`
    /// behind this Unix socket (which then drains and exits) instead of
    /// binding; then listen here for the next version to take them.
    #[arg(long, value_name = "PATH")]
    upgrade_socket: Option<PathBuf>,
}

/// Seconds from a flag, 0 meaning none.
fn secs(value: f64) -> anyhow::Result<Option<Duration>> {
    anyhow::ensure!(
        value.is_finite() && value >= 0.0,
        "a duration must be a non-negative number of seconds, not {value}"
    );
    Ok((value > 0.0).then(|| Duration::from_secs_f64(value)))
}

/// Runs `tetsuo serve` to the end of its drain; builds its own runtime(s).
pub(crate) fn main(args: ServeArgs) -> anyhow::Result<()> {
    // Before any other thread runs: listenfd edits the environment.
    let activated = handover::activated().context("take the activated listeners")?;
    let telemetry = Telemetry::start(&args.telemetry, "tetsuo-serve")?;
    let server = Server::builder()
        .max_connections(args.max_conns)
        .max_connections_per_ip(args.max_conns_per_ip)
        .connection_rate_per_ip(args.conn_rate_per_ip, args.conn_rate_per_ip.ceil() as u32)
        .header_read_timeout(secs(args.header_timeout)?)
        .idle_timeout(secs(args.idle_timeout)?)
        .build();
    let drain_timeout = secs(args.drain_timeout)?.unwrap_or(Duration::ZERO);
    let cores = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut builder = if args.thread_per_core {
        // The main runtime only waits for signals and serves TLS.
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_all();
        b
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.enable_all().worker_threads(cores.max(1));
        b
    };
    let runtime = builder.build().context("start the runtime")?;
    let app = App::new(server.handle(), args.root.clone(), telemetry.prometheus());
    let result = runtime.block_on(run(args, server, app, cores, drain_timeout, activated));
    runtime.shutdown_timeout(Duration::from_secs(1));
    telemetry.finish();
    result
}

async fn run(
    args: ServeArgs,
    server: Server,
    app: App,
    cores: usize,
    drain_timeout: Duration,
    activated: Vec<(Option<String>, std::os::fd::OwnedFd)>,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let service = app.service();
    let header_timeout = secs(args.header_timeout)?;
    let mut per_core = Vec::new();
    // Listeners from a running predecessor or from a supervisor (systemd
    // socket activation) replace binding. Each keeps a duplicate for the
    // next hand-over.
    let mut given: Vec<(String, std::os::fd::OwnedFd)> = Vec::new();
    let taken = match &args.upgrade_socket {
        Some(path) => handover::take(path)
            .await
            .with_context(|| format!("take the listeners at {}", path.display()))?,
        None => None,
    };
    let mut inherited: Vec<(String, std::os::fd::OwnedFd)> = Vec::new();
    if let Some(t) = &taken {
        tracing::info!(listeners = t.listeners.len(), "taking the listeners over");
    }
    let mut taken = taken;
    if let Some(t) = &mut taken {
        inherited.append(&mut t.listeners);
    }
    for (name, fd) in activated {
        inherited.push((name.unwrap_or_else(|| "http".to_owned()), fd));
    }
    // The hand-over socket for the next version, bound before serving.
    // Taking over, it is bound beside the predecessor's and renamed over it
    // only once the predecessor let go: if this process fails first, the
    // predecessor can still be upgraded.
    let upgrade = match &args.upgrade_socket {
        Some(path) => {
            let at = if taken.is_some() {
                let mut tmp = path.clone().into_os_string();
                tmp.push(".next");
                PathBuf::from(tmp)
            } else {
                path.clone()
            };
            let upgrade = Handover::bind(&at)
                .with_context(|| format!("listen for upgrades at {}", at.display()))?;
            tracing::info!(path = %path.display(), "upgrades at {}", path.display());
            Some((upgrade, at))
        }
        None => None,
    };
    let inheriting = !inherited.is_empty();
    let mut tls_inherited = Vec::new();
    for (name, fd) in inherited {
        let std_listener = std::net::TcpListener::from(fd);
        if name.starts_with("https") {
            tls_inherited.push((name, std_listener));
            continue;
        }
        given.push((name, std_listener.try_clone()?.into()));
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        eprintln!("{SERVE}: listening on http://{}", listener.local_addr()?);
        let (server, service) = (server.clone(), service.clone());
        tokio::spawn(async move { server.serve_tcp(listener, service).await });
    }
    for addr in args.listen.iter().filter(|_| !inheriting) {
        let builder = listener_builder(*addr, header_timeout);
        if args.thread_per_core {
            let cores = server.serve_per_core(builder, cores, service.clone())?;
            eprintln!("{SERVE}: listening on http://{}", cores.local_addr());
            per_core.push(cores);
        } else {
            let std_listener = builder.bind_blocking()?;
            given.push((
                format!("http:{}", std_listener.local_addr()?),
                std_listener.try_clone()?.into(),
            ));
            std_listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            eprintln!("{SERVE}: listening on http://{}", listener.local_addr()?);
            let (server, service) = (server.clone(), service.clone());
            tokio::spawn(async move { server.serve_tcp(listener, service).await });
        }
    }
    let mut tls_listen = args.tls_listen.clone();
    if args.tls && tls_listen.is_empty() {
        tls_listen.push("127.0.0.1:8443".parse().expect("a valid literal address"));
    }
    // Taken-over TLS listeners are served even without --tls (with the
    // generated certificate unless --cert says otherwise).
    let acceptor = if tls_listen.is_empty() && tls_inherited.is_empty() {
        None
    } else {
        let mut tls_args = args.tls_args.clone();
        if tls_args.alpn.is_empty() {
            // HTTP/2 when the client offers it, else HTTP/1.1.
            tls_args.alpn = vec!["h2".to_owned(), "http/1.1".to_owned()];
        }
        Some(tls_args.acceptor(SERVE)?)
    };
    if let Some(acceptor) = &acceptor {
        let mut tls_listeners = Vec::new();
        for (_, std_listener) in tls_inherited {
            tls_listeners.push(std_listener);
        }
        for addr in tls_listen.iter().filter(|_| !inheriting) {
            tls_listeners.push(listener_builder(*addr, header_timeout).bind_blocking()?);
        }
        for std_listener in tls_listeners {
            given.push((
                format!("https:{}", std_listener.local_addr()?),
                std_listener.try_clone()?.into(),
            ));
            std_listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            eprintln!("{SERVE}: listening on https://{}", listener.local_addr()?);
            let (server, service, acceptor) = (server.clone(), service.clone(), acceptor.clone());
            tokio::spawn(async move { server.serve_tls(listener, acceptor, service).await });
        }
    }
    // Serving: the predecessor may go; then this process answers at PATH.
    if let Some(t) = taken {
        match t.ready().await {
            Ok(()) => tracing::info!("took over; the predecessor drains"),
            // This process holds the listeners now: it serves on.
            Err(e) => tracing::warn!(error = %e, "the predecessor did not acknowledge"),
        }
        if let (Some((_, at)), Some(path)) = (&upgrade, &args.upgrade_socket) {
            std::fs::rename(at, path)
                .with_context(|| format!("move the upgrade socket to {}", path.display()))?;
        }
    }
    // A successor takes the listeners: then drain.
    let (handed_tx, mut handed_rx) = tokio::sync::oneshot::channel::<()>();
    let mut handing_over = upgrade.is_some();
    if let Some((upgrade, _)) = upgrade {
        tokio::spawn(async move {
            let fds: Vec<(&str, std::os::fd::BorrowedFd<'_>)> = given
                .iter()
                .map(|(name, fd)| (name.as_str(), fd.as_fd()))
                .collect();
            match upgrade.give(&fds).await {
                Ok(()) => {
                    let _ = handed_tx.send(());
                }
                Err(e) => tracing::warn!(error = %e, "hand-overs stopped"),
            }
        });
    } else {
        drop(given);
        drop(handed_tx);
    }

    let mut signals = Signals::new()?;
    loop {
        let signal = tokio::select! {
            signal = signals.next() => signal?,
            handed = &mut handed_rx, if handing_over => {
                if handed.is_ok() {
                    tracing::info!("a successor took the listeners over");
                    break;
                }
                // The hand-over task ended: no more polling of its channel.
                handing_over = false;
                continue;
            }
        };
        match signal {
            Signal::Stop => break,
            Signal::Reload => match &acceptor {
                Some(acceptor) => match args.tls_args.reload(acceptor, SERVE) {
                    Ok(true) => tracing::info!("reloaded certificate, key and OCSP response"),
                    Ok(false) => tracing::info!("nothing to reload (generated certificate)"),
                    Err(e) => {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "reload failed, keeping the old certificate"
                        )
                    }
                },
                None => tracing::info!("nothing to reload"),
            },
        }
    }
    tracing::info!(
        connections = handle.open_connections(),
        timeout = ?drain_timeout,
        "draining"
    );
    let report = handle.shutdown(drain_timeout).await;
    for cores in per_core {
        tokio::task::spawn_blocking(move || cores.join()).await?;
    }
    tracing::info!(
        elapsed = ?report.elapsed,
        closed_at_deadline = report.forced,
        "drained"
    );
    Ok(())
}

/// A listener with Nagle off and, on Linux, `TCP_DEFER_ACCEPT`: a
/// connection that sends nothing is not even handed to the server until it
/// does (or the header timeout passes).
fn listener_builder(addr: SocketAddr, header_timeout: Option<Duration>) -> TcpListenerBuilder {
    let builder = TcpListenerBuilder::new(addr).nodelay(true);
    #[cfg(target_os = "linux")]
    let builder = match header_timeout {
        Some(t) => builder.defer_accept(t),
        None => builder,
    };
    #[cfg(not(target_os = "linux"))]
    let _ = header_timeout;
    builder
}

/// What the endpoints need.
#[derive(Clone)]
struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    handle: Handle,
    root: Option<PathBuf>,
    prometheus: PrometheusHandle,
}

impl App {
    fn new(handle: Handle, root: Option<PathBuf>, prometheus: PrometheusHandle) -> App {
        App {
            inner: Arc::new(AppInner {
                handle,
                root,
                prometheus,
            }),
        }
    }

    fn service(&self) -> impl HttpService {
        let app = self.clone();
        service_fn(move |req: Request<Body>| {
            let app = app.clone();
            async move {
                telemetry::adopt(&req);
                let res = app.route(req).await;
                telemetry::record_status(res.status());
                Ok::<_, Infallible>(res)
            }
        })
    }

    async fn route(&self, req: Request<Body>) -> Response<Body> {
        let path = req.uri().path();
        match path {
            "/" => only_get(&req).unwrap_or_else(|| {
                html(crate::dashboard::page(
                    &self.inner.handle,
                    self.inner.root.is_some(),
                ))
            }),
            "/ws/stats" => crate::dashboard::live(
                req,
                self.inner.handle.clone(),
                self.inner.prometheus.clone(),
            ),
            "/hello" => only_get(&req).unwrap_or_else(|| text(StatusCode::OK, "Hello, World!")),
            "/echo" => echo(req),
            "/ws" => ws_echo(req),
            "/healthz" => {
                if self.inner.handle.is_ready() {
                    text(StatusCode::OK, "ok\n")
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
                }
            }
            "/metrics" => only_get(&req).unwrap_or_else(|| {
                let mut res = Response::new(Body::from(self.inner.prometheus.render()));
                res.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                res
            }),
            _ => match (path.strip_prefix("/files/"), &self.inner.root) {
                (Some(rel), Some(root)) => files::serve(root, rel.to_owned(), &req).await,
                _ => text(StatusCode::NOT_FOUND, "not found\n"),
            },
        }
    }
}

/// `405` unless GET or HEAD.
fn only_get(req: &Request<Body>) -> Option<Response<Body>> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return None;
    }
    let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    res.headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(res)
}

/// The request body, streamed back as it arrives.
fn echo(req: Request<Body>) -> Response<Body> {
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    let mut res = Response::new(req.into_body());
    if let Some(ct) = content_type {
        res.headers_mut().insert(CONTENT_TYPE, ct);
    }
    res
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn html(page: String) -> Response<Body> {
    let mut res = Response::new(Body::from(Bytes::from(page)));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

/// `/ws`: a WebSocket echo (text and binary, permessage-deflate offered).
fn ws_echo(mut req: Request<Body>) -> Response<Body> {
    match tetsuo::ws::upgrade(&mut req, &tetsuo::ws::ServerConfig::default()) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                let Ok(mut ws) = pending.await else { return };
                while let Some(Ok(msg)) = ws.recv().await {
                    if matches!(
                        msg,
                        tetsuo::ws::Message::Text(_) | tetsuo::ws::Message::Binary(_)
                    ) && ws.send(msg).await.is_err()
                    {
                        break;
                    }
                }
            });
            response
        }
        Err(refusal) => refusal,
    }
}
