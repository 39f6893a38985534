//! `tetsuo bench URL`: a load generator for `http://` and `https://`
//! (HTTP/1.1, or HTTP/2 with `-m` streams per connection), `ws://` and
//! `wss://` (echo round trips) and `tcp://` (echo round trips).
//!
//! Like wrk, each of `--threads` threads runs an event loop of its own
//! (a single-threaded runtime) with its share of the connections; each
//! thread keeps its own HDR histogram and counts, merged at the end, so
//! the hot path touches nothing shared but one counter for the progress
//! bar. With `--rate` the load is open-loop: requests are due on a fixed
//! schedule and each latency is measured from when its request was due,
//! not when it could be sent (coordinated omission, as wrk2 corrects it).

mod http1;
mod http2;
mod stream;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use tetsuo::tls::TlsConnector;

/// Arguments of `tetsuo bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// http://, https://, ws://, wss:// or tcp://HOST:PORT.
    url: String,
    /// Connections kept open.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 50)]
    connections: usize,
    /// Seconds to run (default 10, unless -n is given).
    #[arg(short = 'd', long, value_name = "SECS", conflicts_with = "requests")]
    duration: Option<f64>,
    /// Requests (round trips) to make in all, instead of a duration.
    #[arg(short = 'n', long, value_name = "N")]
    requests: Option<u64>,
    /// Threads, each with its share of the connections (default: one per
    /// CPU).
    #[arg(short = 't', long, value_name = "N")]
    threads: Option<usize>,
    /// HTTP/2: requests in flight on each connection.
    #[arg(short = 'm', long, value_name = "N", default_value_t = 1)]
    streams: usize,
    /// Speak HTTP/2 (h2c with prior knowledge on http://, ALPN h2 on
    /// https://).
    #[arg(long)]
    http2: bool,
    /// The request method.
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET")]
    method: String,
    /// An extra request header (repeatable).
    #[arg(short = 'H', long, value_name = "NAME: VALUE")]
    header: Vec<String>,
    /// Bytes in each message: the request body (HTTP) or the message echoed
    /// (WebSocket, TCP; default 64 there).
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Open loop: this many requests per second in all, on a fixed
    /// schedule; latency counts from when each was due.
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// Longest wait for one answer; longer counts as a timeout error.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    timeout: f64,
    /// Trust the CAs in this PEM file instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// Accept any server certificate.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http1,
    Http2,
    WebSocket,
    Tcp,
}

/// Everything a connection needs, shared by all.
pub(super) struct Plan {
    mode: Mode,
    url: String,
    addrs: Vec<SocketAddr>,
    /// The host as written (SNI, Host).
    host: String,
    tls: Option<TlsConnector>,
    /// HTTP/1.1: the whole request, encoded once.
    request: Bytes,
    /// HTTP/2: the request's head.
    parts: http::request::Parts,
    /// The request body (HTTP) or the message (WebSocket, TCP).
    body: Bytes,
    streams: usize,
    timeout: Duration,
    /// Each connection's interval between requests (open loop).
    interval: Option<Duration>,
    limit: Option<u64>,
    issued: AtomicU64,
    stop: AtomicBool,
    /// Milliseconds from `started` to the latest answer (or to the start).
    last_answer: AtomicU64,
    started: Instant,
    deadline: Option<Instant>,
}

impl Plan {
    /// A permit for one more request, unless the run is over.
    pub(super) fn permit(&self) -> bool {
        if self.stopped() {
            return false;
        }
        match self.limit {
            Some(limit) => {
                if self.issued.fetch_add(1, Ordering::Relaxed) < limit {
                    true
                } else {
                    self.stop.store(true, Ordering::Relaxed);
                    false
                }
            }
            None => true,
        }
    }

    /// Whether the run is over (by the clock, a limit, or an error).
    pub(super) fn stopped(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            self.stop.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long to wait for input when nothing is in flight: the timeout,
    /// but not past the end of the run.
    pub(super) fn idle_wait(&self) -> Duration {
        match self.deadline {
            Some(deadline) => self
                .timeout
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => self.timeout,
        }
    }

    /// Nothing has been answered for longer than the timeout while
    /// connections keep failing: the run gives up rather than spin (with
    /// `-n` it would never end).
    fn stalled(&self) -> bool {
        let last = self.last_answer.load(Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64;
        now.saturating_sub(last) > self.timeout.as_millis() as u64
    }

    pub(super) fn request(&self) -> &[u8] {
        &self.request
    }

    pub(super) fn parts(&self) -> &http::request::Parts {
        &self.parts
    }

    pub(super) fn body(&self) -> &Bytes {
        &self.body
    }

    pub(super) fn streams(&self) -> usize {
        self.streams
    }

    pub(super) fn method(&self) -> &http::Method {
        &self.parts.method
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }
}

/// When each request of a connection is due (open loop), or none.
pub(super) struct Pacer {
    next: Option<Instant>,
    interval: Option<Duration>,
}

impl Pacer {
    fn new(plan: &Plan, index: usize, connections: usize) -> Pacer {
        // Connections start spread over one interval, not all at once.
        let next = plan
            .interval
            .map(|i| plan.started + i.mul_f64(index as f64 / connections.max(1) as f64));
        Pacer {
            next,
            interval: plan.interval,
        }
    }

    /// Waits until the next request is due (open loop; closed loop: now)
    /// and returns the instant its latency counts from: when it was due if
    /// the connection was still busy then (the server held it back: the
    /// wait is the server's), else when it is sent (our timer's lateness,
    /// up to a millisecond, is nobody's latency). Never sleeps past the end
    /// of the run; ask [`Plan::permit`] after it.
    pub(super) async fn due(&mut self, plan: &Plan) -> Instant {
        match (self.next.as_mut(), self.interval) {
            (Some(next), Some(interval)) => {
                let at = *next;
                *next += interval;
                if at > Instant::now() {
                    let wake = plan.deadline.map_or(at, |d| d.min(at));
                    tokio::time::sleep_until(wake).await;
                    Instant::now()
                } else {
                    at
                }
            }
            _ => Instant::now(),
        }
    }

    /// The next due instant without waiting (HTTP/2 schedules while it
    /// reads).
    pub(super) fn peek(&self) -> Option<Instant> {
        self.next
    }
}

/// One thread's counts.
pub(super) struct Tally {
    latency: Histogram<u64>,
    pub(super) responses: u64,
    pub(super) bad_status: u64,
    pub(super) read: u64,
    pub(super) written: u64,
    errors: BTreeMap<&'static str, u64>,
    progress: Arc<AtomicU64>,
    /// When the latest answer came.
    last: Option<Instant>,
    /// Told when answers come (at most once a millisecond per thread).
    plan: Option<Arc<Plan>>,
    published_ms: u64,
}

impl Tally {
    fn new(progress: Arc<AtomicU64>, plan: Option<Arc<Plan>>) -> Tally {
        Tally {
            // 1 µs to 1 hour, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            responses: 0,
            bad_status: 0,
            read: 0,
            written: 0,
            errors: BTreeMap::new(),
            progress,
            last: None,
            plan,
            published_ms: 0,
        }
    }

    /// A round trip that started (or was due) at `since`.
    pub(super) fn done(&mut self, since: Instant, ok: bool) {
        let now = Instant::now();
        self.last = Some(now);
        if let Some(plan) = &self.plan {
            let ms = now.duration_since(plan.started).as_millis() as u64;
            if ms != self.published_ms {
                self.published_ms = ms;
                plan.last_answer.fetch_max(ms, Ordering::Relaxed);
            }
        }
        let micros = now.duration_since(since).as_micros().max(1) as u64;
        self.latency.saturating_record(micros);
        self.responses += 1;
        if !ok {
            self.bad_status += 1;
        }
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// A round trip that moved `read` and `written` bytes.
    pub(super) fn exchanged(&mut self, since: Instant, ok: bool, read: u64, written: u64) {
        self.done(since, ok);
        self.read += read;
        self.written += written;
    }

    pub(super) fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn merge(&mut self, other: &Tally) {
        let _ = self.latency.add(&other.latency);
        self.responses += other.responses;
        self.bad_status += other.bad_status;
        self.read += other.read;
        self.written += other.written;
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.last = self.last.max(other.last);
    }
}

/// One round trip under `--timeout`: its result, or why the connection
/// ends (`timeout`, or the kind of error the round trip failed with).
pub(super) async fn bounded<T>(
    plan: &Plan,
    round: impl Future<Output = Result<T, &'static str>>,
) -> Result<T, Ended> {
    match tokio::time::timeout(plan.timeout(), round).await {
        Err(_) => Err(Ended::Failed("timeout")),
        Ok(Err(kind)) => Err(Ended::Failed(kind)),
        Ok(Ok(value)) => Ok(value),
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// The run is over.
    Stop,
    /// The server closed it (or asked to); open another.
    Closed,
    /// An error of this kind; open another.
    Failed(&'static str),
}

/// Runs `tetsuo bench` on its own threads; prints the summary.
pub(crate) fn main(args: BenchArgs) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    anyhow::ensure!(args.connections > 0, "-c must be at least 1");
    anyhow::ensure!(args.streams > 0, "-m must be at least 1");
    let threads = threads.min(args.connections);
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let plan = Arc::new(setup.block_on(plan(&args))?);
    drop(setup);

    let progress: Vec<Arc<AtomicU64>> = (0..threads).map(|_| Arc::default()).collect();
    let bar = progress_bar(&args, &plan);
    let mut handles = Vec::new();
    for (t, counter) in progress.iter().enumerate() {
        let plan = plan.clone();
        let counter = counter.clone();
        let mine: Vec<usize> = (t..args.connections).step_by(threads).collect();
        let connections = args.connections;
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || run_thread(plan, mine, connections, counter))
                .context("start a thread")?,
        );
    }
    // The progress bar, until every thread is done.
    let total = |p: &[Arc<AtomicU64>]| p.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
    let mut last = (std::time::Instant::now(), 0u64);
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::time::Instant::now();
        if now.duration_since(last.0) >= Duration::from_secs(1) {
            let done = total(&progress);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, done);
            bar.set_message(format!("{done} done, {rate:.0}/s"));
        }
        match (plan.limit, plan.deadline) {
            (Some(_), _) => bar.set_position(total(&progress)),
            (None, Some(_)) => bar.set_position(plan.started.elapsed().as_millis() as u64),
            _ => {}
        }
    }
    bar.finish_and_clear();
    let mut all = Tally::new(Arc::default(), None);
    for h in handles {
        let tally = h
            .join()
            .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        all.merge(&tally);
    }
    // The run lasted until its latest answer (not until the threads were
    // seen to end, nor through closing handshakes).
    let elapsed = all
        .last
        .map_or_else(|| plan.started.elapsed(), |last| last - plan.started)
        .max(Duration::from_micros(1));
    if args.json {
        println!("{}", json(&args, &plan, threads, elapsed, &all));
    } else {
        print!("{}", summary(&args, &plan, threads, elapsed, &all));
    }
    if all.responses == 0 {
        bail!("no request was answered");
    }
    Ok(())
}

fn progress_bar(args: &BenchArgs, plan: &Plan) -> indicatif::ProgressBar {
    let bar = match (plan.limit, plan.deadline) {
        (Some(n), _) => indicatif::ProgressBar::new(n),
        (None, Some(d)) => {
            indicatif::ProgressBar::new(d.duration_since(plan.started).as_millis() as u64)
        }
        _ => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(if args.json {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    });
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {percent:>3}% {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Resolves, encodes the request once, makes the TLS connector.
async fn plan(args: &BenchArgs) -> anyhow::Result<Plan> {
    let uri: http::Uri = args
        .url
        .parse()
        .with_context(|| format!("{}: not a URL", args.url))?;
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let (mode, tls, default_port) = match scheme.as_str() {
        "http" if args.http2 => (Mode::Http2, false, 80),
        "http" => (Mode::Http1, false, 80),
        "https" if args.http2 => (Mode::Http2, true, 443),
        "https" => (Mode::Http1, true, 443),
        "ws" => (Mode::WebSocket, false, 80),
        "wss" => (Mode::WebSocket, true, 443),
        "tcp" => (Mode::Tcp, false, 0),
        _ => bail!("{}: http://, https://, ws://, wss:// or tcp://", args.url),
    };
    if args.streams > 1 && mode != Mode::Http2 {
        bail!("-m is for HTTP/2 (--http2)");
    }
    let authority = uri
        .authority()
        .with_context(|| format!("{}: no host", args.url))?;
    let host = authority.host().to_owned();
    let port = authority.port_u16().unwrap_or(default_port);
    anyhow::ensure!(port != 0, "{}: give a port", args.url);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .with_context(|| format!("resolve {host}"))?
        .collect();
    anyhow::ensure!(!addrs.is_empty(), "{host}: no address");

    let method: http::Method = args
        .method
        .parse()
        .with_context(|| format!("-X {}: not a method", args.method))?;
    let default_size = match mode {
        Mode::WebSocket | Mode::Tcp => 64,
        _ => 0,
    };
    let size = args.size.unwrap_or(default_size);
    if size == 0 && matches!(mode, Mode::WebSocket | Mode::Tcp) {
        bail!("--size: an echo round trip needs at least one byte");
    }
    let body = Bytes::from(vec![b'x'; size]);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(format!("{scheme}://{authority}{path}"));
    let mut extra = String::new();
    for h in &args.header {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("-H {h}: NAME: VALUE"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("-H {h}: not a header name"))?;
        let value = http::HeaderValue::from_str(value.trim())
            .with_context(|| format!("-H {h}: not a header value"))?;
        extra.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
        builder = builder.header(name, value);
    }
    let mut parts = builder.body(()).context("the request")?.into_parts().0;
    if !body.is_empty() {
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, body.len().into());
    }
    let mut request = if parts.headers.contains_key(http::header::HOST) {
        format!("{method} {path} HTTP/1.1\r\n{extra}")
    } else {
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{extra}")
    };
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(&body);

    let tls = if tls {
        let alpn: &[&str] = match mode {
            Mode::Http2 => &["h2"],
            Mode::Http1 | Mode::WebSocket => &["http/1.1"],
            Mode::Tcp => &[],
        };
        Some(
            crate::tls::trust(
                TlsConnector::builder().alpn(alpn).tls12(true),
                args.cacert.as_deref(),
                &[],
                args.insecure,
            )
            .build()?,
        )
    } else {
        None
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let interval = match args.rate {
        Some(rate) => {
            anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be positive");
            // Each connection its share (on HTTP/2 a connection's requests
            // share its schedule, whatever -m).
            Some(
                Duration::try_from_secs_f64(args.connections as f64 / rate)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .context("--rate: out of range")?,
            )
        }
        None => None,
    };
    let duration = match (args.duration, args.requests) {
        (_, Some(_)) => None,
        (Some(d), None) => Some(
            Duration::try_from_secs_f64(d)
                .ok()
                .filter(|d| !d.is_zero())
                .context("-d must be a positive number of seconds")?,
        ),
        (None, None) => Some(Duration::from_secs(10)),
    };
    let started = Instant::now();
    Ok(Plan {
        mode,
        url: args.url.clone(),
        addrs,
        host,
        tls,
        request: Bytes::from(request),
        parts,
        body,
        streams: args.streams,
        timeout,
        interval,
        limit: args.requests,
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        last_answer: AtomicU64::new(0),
        started,
        deadline: duration.map(|d| started + d),
    })
}

/// One thread: its connections on a runtime of its own.
fn run_thread(
    plan: Arc<Plan>,
    mine: Vec<usize>,
    connections: usize,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Tally> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tally = Rc::new(RefCell::new(Tally::new(progress, Some(plan.clone()))));
    let local = tokio::task::LocalSet::new();
    for index in mine {
        let (plan, tally) = (plan.clone(), tally.clone());
        local.spawn_local(async move {
            let mut pacer = Pacer::new(&plan, index, connections);
            connection(&plan, index, &mut pacer, &tally).await;
        });
    }
    runtime.block_on(local);
    let tally = Rc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("a connection outlived its thread"))?
        .into_inner();
    Ok(tally)
}

/// One connection slot: connects, runs, and connects again after a close
/// or an error, until the run is over.
async fn connection(plan: &Plan, index: usize, pacer: &mut Pacer, tally: &RefCell<Tally>) {
    let addr = plan.addrs[index % plan.addrs.len()];
    loop {
        if plan.stopped() {
            return;
        }
        let ended = match plan.mode {
            Mode::WebSocket => stream::websocket(plan, pacer, tally).await,
            _ => match connect(plan, addr).await {
                Ok(Io::Plain(tcp)) => drive(plan, tcp, pacer, tally).await,
                Ok(Io::Tls(tls)) => drive(plan, tls, pacer, tally).await,
                Err(kind) => Ended::Failed(kind),
            },
        };
        match ended {
            Ended::Stop => return,
            Ended::Closed => {}
            Ended::Failed(kind) => {
                tally.borrow_mut().error(kind);
                // A failing server is not hammered in a tight loop, and a
                // run that gets no answer for longer than the timeout ends.
                if plan.stalled() {
                    plan.stop.store(true, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn drive<S>(plan: &Plan, io: S, pacer: &mut Pacer, tally: &RefCell<Tally>) -> Ended
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match plan.mode {
        Mode::Http1 => http1::run(plan, io, pacer, tally).await,
        Mode::Http2 => http2::run(plan, io, pacer, tally).await,
        Mode::Tcp => stream::tcp(plan, io, pacer, tally).await,
        Mode::WebSocket => unreachable!("WebSocket connects through tetsuo::ws"),
    }
}

enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tetsuo::tls::TlsStream<tokio::net::TcpStream>>),
}

async fn connect(plan: &Plan, addr: SocketAddr) -> Result<Io, &'static str> {
    let tcp = tokio::time::timeout(plan.timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| "connect")?
        .map_err(|_| "connect")?;
    let _ = tcp.set_nodelay(true);
    match &plan.tls {
        None => Ok(Io::Plain(tcp)),
        Some(tls) => {
            let stream = tokio::time::timeout(
                plan.timeout,
                tls.connect(plan.host.trim_start_matches('[').trim_end_matches(']'), tcp),
            )
            .await
            .map_err(|_| "tls")?
            .map_err(|_| "tls")?;
            if plan.mode == Mode::Http2 && stream.info().alpn_protocol() != Some(b"h2") {
                return Err("no h2 (ALPN)");
            }
            Ok(Io::Tls(Box::new(stream)))
        }
    }
}

/// Latency figures in microseconds.
struct Figures {
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
    stdev: f64,
}

fn figures(h: &Histogram<u64>) -> Figures {
    Figures {
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
        stdev: h.stdev(),
    }
}

fn micros(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2}s", us / 1_000_000.0)
    } else if us >= 1_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{us:.0}us")
    }
}

fn bytes_per_sec(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}/s", UNITS[unit])
}

fn what(plan: &Plan) -> &'static str {
    match plan.mode {
        Mode::Http1 => "HTTP/1.1 requests",
        Mode::Http2 => "HTTP/2 requests",
        Mode::WebSocket => "WebSocket echo round trips",
        Mode::Tcp => "TCP echo round trips",
    }
}

fn summary(args: &BenchArgs, plan: &Plan, threads: usize, elapsed: Duration, t: &Tally) -> String {
    let secs = elapsed.as_secs_f64();
    let f = figures(&t.latency);
    let mut out = format!(
        "{} {} to {}\n  {} connections{}, {} threads, {}{}\n",
        t.responses,
        what(plan),
        plan.url(),
        args.connections,
        if plan.mode == Mode::Http2 {
            format!(" x {} streams", plan.streams())
        } else {
            String::new()
        },
        threads,
        match args.rate {
            Some(r) => format!("open loop at {r} req/s, "),
            None => String::new(),
        },
        format_args!("{secs:.2}s"),
    );
    out.push_str(&format!(
        "  Requests/sec: {:.2}\n  Transfer/sec: {} read, {} written\n",
        t.responses as f64 / secs,
        bytes_per_sec(t.read as f64 / secs),
        bytes_per_sec(t.written as f64 / secs),
    ));
    out.push_str(&format!(
        "  Latency: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}, stdev {})\n",
        micros(f.p50 as f64),
        micros(f.p90 as f64),
        micros(f.p99 as f64),
        micros(f.p999 as f64),
        micros(f.max as f64),
        micros(f.mean),
        micros(f.stdev),
    ));
    if t.bad_status > 0 {
        out.push_str(&format!("  Non-2xx or 3xx responses: {}\n", t.bad_status));
    }
    if t.errors.is_empty() {
        out.push_str("  Errors: none\n");
    } else {
        let list: Vec<String> = t.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("  Errors: {}\n", list.join(", ")));
    }
    out
}

fn json(args: &BenchArgs, plan: &Plan, threads: usize, elapsed: Duration, t: &Tally) -> String {
    let secs = elapsed.as_secs_f64();
    let f = figures(&t.latency);
    serde_json::json!({
        "url": plan.url(),
        "mode": what(plan),
        "connections": args.connections,
        "streams": plan.streams(),
        "threads": threads,
        "rate": args.rate,
        "seconds": secs,
        "requests": t.responses,
        "requests_per_sec": t.responses as f64 / secs,
        "bytes_read": t.read,
        "bytes_written": t.written,
        "non_2xx_3xx": t.bad_status,
        "latency_us": {
            "p50": f.p50, "p90": f.p90, "p99": f.p99, "p99_9": f.p999,
            "max": f.max, "mean": f.mean, "stdev": f.stdev,
        },
        "errors": t.errors,
    })
    .to_string()
}
