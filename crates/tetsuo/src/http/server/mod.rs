//! The HTTP server: serves any `tower` service over HTTP/1.1 and HTTP/2
//! (h2c by prior knowledge on plain listeners, `h2` by ALPN on TLS; see
//! [`Builder::http2`]) on TCP, TLS and Unix listeners, with production
//! limits and graceful drain.
//!
//! A [`Server`] is built once ([`Server::builder`]) and may serve any number
//! of listeners at the same time (`serve_tcp`, `serve_tls`, `serve_unix`,
//! each until the server drains); they share its limits, counters and
//! drain. Each accepted connection runs as its own task:
//!
//! 1. admission — the global cap, the per-IP cap and the per-IP rate of new
//!    connections are checked before a byte is read; a refused plain-text
//!    connection gets a static `503` and is closed, without running the
//!    service;
//! 2. the exchange loop — requests are parsed by `tetsuo_proto::h1`, handed
//!    to the service with a streaming [`Body`], answered in order
//!    (pipelining), with `100 Continue` sent when the service first reads
//!    the body of a request that expects it, and the `Date` header added;
//! 3. timeouts — idle keep-alive, header read (from the first byte of a
//!    head: slowloris), body read progress, and write progress;
//! 4. the end — `Connection: close` from either side, an error (answered
//!    with its status), the request limit per connection, or drain.
//!
//! # Graceful shutdown
//!
//! [`Handle::shutdown`] stops the accept loops, closes idle connections at
//! once, lets in-flight requests finish (answering them with `Connection:
//! close`), and after the grace period closes whatever is left. Requests
//! that arrive on an open connection while draining are still answered,
//! with `Connection: close`. [`Handle::is_ready`] turns false as soon as
//! draining starts, for health endpoints.
//!
//! # Metrics
//!
//! Through the `metrics` facade (no cost until the application installs a
//! recorder): `tetsuo_server_connections_accepted_total`,
//! `tetsuo_server_connections_refused_total{reason}`,
//! `tetsuo_server_connections_open` (gauge),
//! `tetsuo_http_requests_total{class}` (`1xx`..`5xx`),
//! `tetsuo_http_request_duration_seconds` (histogram, head received to
//! response end), `tetsuo_server_bytes_received_total`,
//! `tetsuo_server_bytes_sent_total`. Tracing: a `debug` span per connection
//! (`http.conn`, with the peer address) and per request (`http.request`,
//! method and target).

mod config;
mod conn;
mod gate;
mod h2;
mod stats;

pub use config::Builder;
use config::Config;
pub use h2::Push;

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::body::{Body, BoxError};
use crate::Result;
use gate::{Gate, Refusal};

pub use tetsuo_proto::h1::Limits;

/// The client's address, in the extensions of every request served over
/// TCP or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

struct Shared {
    config: Config,
    gate: Arc<Gate>,
    /// Fired when draining starts: accept loops end, idle connections close.
    drain: CancellationToken,
    /// Set when the grace period ends: every connection closes.
    stopped: AtomicBool,
    /// Cancelled at the same moment, for tasks that are not connection
    /// drivers yet (TLS handshakes).
    stop_token: CancellationToken,
    tracker: TaskTracker,
    draining: AtomicBool,
    /// Refusals in progress (see `Server::refuse`).
    refusing: AtomicUsize,
    /// Connection tasks to wake when the drain starts, by entry id.
    drain_wakers: Mutex<HashMap<u64, Waker>>,
    next_waker: AtomicU64,
}

impl Shared {
    /// Registers a connection task for the drain's wake-up; its id.
    fn register_drain_waker(&self, waker: &Waker) -> u64 {
        let id = self.next_waker.fetch_add(1, Ordering::Relaxed);
        self.drain_wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, waker.clone());
        id
    }

    fn unregister_drain_waker(&self, id: u64) {
        self.drain_wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Starts the drain: the flag first, then the wake-ups (a connection
    /// registering after them sees the flag).
    fn start_drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.drain.cancel();
        self.wake_connections();
    }

    /// Ends the grace period: every connection closes at its next wake-up,
    /// which comes now.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop_token.cancel();
        self.wake_connections();
    }

    fn wake_connections(&self) {
        let wakers = self.drain_wakers.lock().unwrap_or_else(|p| p.into_inner());
        for waker in wakers.values() {
            waker.wake_by_ref();
        }
    }
}

/// An HTTP/1.1 and HTTP/2 server. Cheap to clone: clones share limits,
/// counters and drain.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.shared.config)
            .field("open_connections", &self.shared.gate.open())
            .finish()
    }
}

/// What a service must be for the server to run it: a `tower` service of
/// `Request<Body>` whose responses have any body with `Bytes`-convertible
/// data. An axum `Router` is one.
pub trait HttpService:
    Service<
        Request<Body>,
        Response = Response<Self::ResBody>,
        Error = Self::Err,
        Future = Self::Fut,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type ResBody: http_body::Body<Data = Self::Data, Error = Self::BodyError> + Send + 'static;
    /// The response body's data.
    type Data: bytes::Buf + Into<Bytes> + Send;
    /// The response body's error.
    type BodyError: Into<BoxError>;
    /// The service's error.
    type Err: Into<BoxError>;
    /// The service's future.
    type Fut: Future<Output = std::result::Result<Response<Self::ResBody>, Self::Err>>
        + Send
        + 'static;
}

impl<S, B, E> HttpService for S
where
    S: Service<Request<Body>, Response = Response<B>, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes> + Send,
    B::Error: Into<BoxError>,
    E: Into<BoxError>,
{
    type ResBody = B;
    type Data = B::Data;
    type BodyError = B::Error;
    type Err = E;
    type Fut = S::Future;
}

impl Server {
    /// A builder with the default limits.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A handle to drain the server and watch its state.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts connections on a TCP listener and serves them with clones of
    /// `service` until the server drains. Accept errors (out of file
    /// descriptors, ...) are retried after a short pause.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting; connections already accepted
    /// run on (they are separate tasks; drain them with the [`Handle`]).
    pub async fn serve_tcp<S: HttpService>(
        &self,
        listener: tokio::net::TcpListener,
        service: S,
    ) -> Result<()> {
        while let Some((stream, peer)) = self.next_accepted(|| listener.accept()).await {
            let _ = stream.set_nodelay(true);
            match self.admit(Some(peer.ip())) {
                Admission::Admitted(permit) => {
                    self.spawn(stream, Some(peer), service.clone(), Some(permit));
                }
                Admission::Refused => self.refuse(stream),
            }
        }
        Ok(())
    }

    /// Accepts TLS connections on a TCP listener: the handshake runs in the
    /// connection's task (bounded by the TLS handshake timeout), so a slow
    /// client never holds up the accept loop. Refused connections are
    /// closed before the handshake.
    ///
    /// # Cancel safety
    ///
    /// As [`serve_tcp`](Server::serve_tcp).
    #[cfg(feature = "tls")]
    pub async fn serve_tls<S: HttpService>(
        &self,
        listener: tokio::net::TcpListener,
        acceptor: crate::tls::TlsAcceptor,
        service: S,
    ) -> Result<()> {
        while let Some((stream, peer)) = self.next_accepted(|| listener.accept()).await {
            let _ = stream.set_nodelay(true);
            let Admission::Admitted(permit) = self.admit(Some(peer.ip())) else {
                continue;
            };
            let acceptor = acceptor.clone();
            let shared = self.shared.clone();
            let service = service.clone();
            let timeout = shared.config.tls_handshake_timeout;
            self.shared.tracker.spawn(async move {
                // The end of a drain's grace period cuts handshakes too.
                let tls = {
                    let handshake = acceptor.accept(stream);
                    let mut bounded = pin!(async {
                        match timeout {
                            Some(t) => tokio::time::timeout(t, handshake).await.ok(),
                            None => Some(handshake.await),
                        }
                    });
                    let mut stopped = pin!(shared.stop_token.clone().cancelled_owned());
                    poll_fn(|cx| {
                        if stopped.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(None);
                        }
                        bounded.as_mut().poll(cx)
                    })
                    .await
                };
                let Some(tls) = tls else {
                    return;
                };
                let Ok(tls) = tls else {
                    metrics::counter!("tetsuo_server_tls_handshake_failures_total").increment(1);
                    return;
                };
                if shared.config.http2 && tls.info().alpn_protocol() == Some(b"h2") {
                    run_http2(shared, tls, Some(peer), service, permit).await;
                    return;
                }
                run_connection(shared, tls, Some(peer), service, Some(permit)).await;
            });
        }
        Ok(())
    }

    /// Accepts connections on a Unix stream listener (no per-IP limits
    /// apply; the global cap does).
    ///
    /// # Cancel safety
    ///
    /// As [`serve_tcp`](Server::serve_tcp).
    #[cfg(unix)]
    pub async fn serve_unix<S: HttpService>(
        &self,
        listener: tokio::net::UnixListener,
        service: S,
    ) -> Result<()> {
        while let Some((stream, _)) = self.next_accepted(|| listener.accept()).await {
            match self.admit(None) {
                Admission::Admitted(permit) => {
                    self.spawn(stream, None, service.clone(), Some(permit))
                }
                Admission::Refused => self.refuse(stream),
            }
        }
        Ok(())
    }

    /// Thread-per-core serving: binds `threads` TCP listeners on the
    /// builder's address with `SO_REUSEPORT` (the kernel spreads new
    /// connections across them) and serves each from its own thread running
    /// a current-thread tokio runtime — no work stealing, no cross-thread
    /// wake-ups. Returns once every listener is bound (port 0 picks one
    /// port for all); the threads serve until the server drains.
    ///
    /// ```no_run
    /// use http::{Request, Response};
    /// use tetsuo::http::{Body, server::Server, service_fn};
    /// use tetsuo::net::TcpListenerBuilder;
    ///
    /// let server = Server::builder().build();
    /// let hello = service_fn(|_: Request<Body>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Body::from("hi")))
    /// });
    /// let listener = TcpListenerBuilder::new("127.0.0.1:8080".parse().unwrap());
    /// let cores = server.serve_per_core(listener, 4, hello)?;
    /// println!("serving on {}", cores.local_addr());
    /// cores.join();
    /// # Ok::<_, tetsuo::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn serve_per_core<S: HttpService>(
        &self,
        listener: crate::net::TcpListenerBuilder,
        threads: usize,
        service: S,
    ) -> Result<PerCore> {
        let builder = listener.reuse_port(true).nodelay(true);
        let first = builder.bind_blocking()?;
        let local = first
            .local_addr()
            .map_err(|e| crate::Error::io("read the local address of", e))?;
        let mut listeners = vec![first];
        let builder = builder.with_addr(local);
        for _ in 1..threads.max(1) {
            listeners.push(builder.bind_blocking()?);
        }
        let mut handles = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            listener
                .set_nonblocking(true)
                .map_err(|e| crate::Error::io("set O_NONBLOCK on", e))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::Error::io("start a runtime for", e))?;
            let server = self.clone();
            let service = service.clone();
            let handle = std::thread::Builder::new()
                .name(format!("tetsuo-core-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                            return;
                        };
                        let _ = server.serve_tcp(listener, service).await;
                        // Connections of this thread finish on this runtime.
                        server.shared.tracker.clone().wait().await;
                    });
                })
                .map_err(|e| crate::Error::io("spawn a serving thread for", e))?;
            handles.push(handle);
        }
        Ok(PerCore {
            local,
            threads: handles,
        })
    }

    /// Serves one connection the caller accepted (any stream: a TLS stream
    /// from elsewhere, an in-memory duplex in tests). Limits on connection
    /// counts do not apply; timeouts and drain do. Resolves when the
    /// connection ends.
    pub async fn serve_connection<T, S>(&self, io: T, peer: Option<SocketAddr>, service: S)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
        S: HttpService,
    {
        run_connection(self.shared.clone(), io, peer, service, None).await;
    }

    /// `f`'s output, or `None` once the server drains.
    async fn until_drain<F: Future>(&self, f: F) -> Option<F::Output> {
        let mut f = pin!(f);
        let mut drained = pin!(self.shared.drain.cancelled());
        poll_fn(|cx| {
            if drained.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            f.as_mut().poll(cx).map(Some)
        })
        .await
    }

    /// The next accepted connection, or `None` once the server drains.
    /// An accept error (out of file descriptors, ...) is logged and
    /// followed by a short pause instead of a spin.
    async fn next_accepted<T, F, Fut>(&self, mut accept: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::io::Result<T>>,
    {
        loop {
            match self.until_drain(accept()).await? {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    self.until_drain(tokio::time::sleep(Duration::from_millis(50)))
                        .await?;
                }
            }
        }
    }

    /// A connection accepted as the drain began is served all the same
    /// (its first request answered with `Connection: close`): refusing it
    /// would fail a request the client had every reason to send — the
    /// moment of a hand-over to a new process, say.
    fn admit(&self, ip: Option<IpAddr>) -> Admission {
        match self.shared.gate.admit(ip, Instant::now()) {
            Ok(permit) => {
                metrics::counter!("tetsuo_server_connections_accepted_total").increment(1);
                Admission::Admitted(permit)
            }
            Err(refusal) => self.refused(refusal),
        }
    }

    fn refused(&self, refusal: Refusal) -> Admission {
        metrics::counter!("tetsuo_server_connections_refused_total", "reason" => refusal.as_str())
            .increment(1);
        tracing::debug!(reason = refusal.as_str(), "connection refused");
        Admission::Refused
    }

    /// Tells a refused plain-text client why (`503`) and closes, reading
    /// briefly what it sent so that the close is not a reset that hides the
    /// answer. Bounded: at most [`MAX_REFUSING`] at once, each for at most
    /// [`REFUSE_LINGER`]; beyond that the connection is simply closed.
    fn refuse<T>(&self, mut stream: T)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let refusing = &self.shared.refusing;
        if refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = tokio::time::timeout(REFUSE_LINGER, async {
                stream.write_all(REFUSED).await?;
                stream.shutdown().await?;
                let mut buf = [0u8; 1024];
                while stream.read(&mut buf).await? > 0 {}
                Ok::<_, std::io::Error>(())
            })
            .await;
            shared.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }

    fn spawn<T, S>(&self, io: T, peer: Option<SocketAddr>, service: S, permit: Option<gate::Permit>)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
        S: HttpService,
    {
        let shared = self.shared.clone();
        self.shared
            .tracker
            .spawn(run_connection(shared, io, peer, service, permit));
    }
}

/// The threads of [`Server::serve_per_core`].
#[derive(Debug)]
pub struct PerCore {
    local: SocketAddr,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PerCore {
    /// The address every thread's listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Blocks until every serving thread has finished (after a drain).
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

enum Admission {
    Admitted(gate::Permit),
    Refused,
}

/// Refused connections being told so at once, at most.
const MAX_REFUSING: usize = 256;
/// How long a refused connection is given to read its answer.
const REFUSE_LINGER: Duration = Duration::from_millis(500);

/// What a refused plain-text connection is told before it is closed.
const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

fn run_connection<T, S>(
    shared: Arc<Shared>,
    io: T,
    peer: Option<SocketAddr>,
    service: S,
    permit: Option<gate::Permit>,
) -> impl Future<Output = ()> + Send + 'static
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    use tracing::Instrument;
    let span = tracing::debug_span!("http.conn", peer = ?peer);
    let h2_shared = shared.clone();
    // Boxed once, so that the task holds one copy of the driver (an async
    // fn or an awaited capture would hold two).
    let run = Box::pin(
        conn::Driver::new(io, service, peer, shared)
            .run()
            .instrument(span.clone()),
    );
    async move {
        metrics::gauge!("tetsuo_server_connections_open").increment(1.0);
        if let Some((io, prefix, service)) = run.await {
            // HTTP/2 with prior knowledge; boxed, so that HTTP/1.1
            // connections do not carry its state.
            Box::pin(h2::serve(h2_shared, io, prefix, peer, service).instrument(span)).await;
        }
        metrics::gauge!("tetsuo_server_connections_open").decrement(1.0);
        drop(permit);
    }
}

/// Serves a connection that chose HTTP/2 (TLS with ALPN `h2`).
#[cfg(feature = "tls")]
async fn run_http2<T, S>(
    shared: Arc<Shared>,
    io: T,
    peer: Option<SocketAddr>,
    service: S,
    permit: gate::Permit,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    use tracing::Instrument;
    let span = tracing::debug_span!("http.conn", peer = ?peer, protocol = "h2");
    metrics::gauge!("tetsuo_server_connections_open").increment(1.0);
    Box::pin(h2::serve(shared, io, Bytes::new(), peer, service).instrument(span)).await;
    metrics::gauge!("tetsuo_server_connections_open").decrement(1.0);
    drop(permit);
}

/// Drains a [`Server`] and reports on it.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("draining", &self.is_draining())
            .field("open_connections", &self.open_connections())
            .finish()
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open at the deadline, closed by force.
    pub forced: usize,
    /// How long the drain took.
    pub elapsed: Duration,
}

impl Handle {
    /// True while the server accepts and serves normally; false once
    /// draining started. Health endpoints answer 503 when false.
    pub fn is_ready(&self) -> bool {
        !self.is_draining()
    }

    /// True once [`shutdown`](Handle::shutdown) was called.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    /// Connections open now, all listeners together.
    pub fn open_connections(&self) -> usize {
        self.shared.tracker.len()
    }

    /// Drains the server: stops accepting, closes idle connections, lets
    /// requests in flight finish for up to `grace`, then closes the rest.
    /// Resolves when every connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the drain, and connections that
    /// outlive `grace` are then not closed by force.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let started = Instant::now();
        self.shared.start_drain();
        self.shared.tracker.close();
        let forced = match tokio::time::timeout(grace, self.shared.tracker.wait()).await {
            Ok(()) => 0,
            Err(_) => {
                let left = self.shared.tracker.len();
                self.shared.stop();
                self.shared.tracker.wait().await;
                left
            }
        };
        ShutdownReport {
            forced,
            elapsed: started.elapsed(),
        }
    }

    /// Resolves once a drain has started.
    pub async fn draining(&self) {
        self.shared.drain.cancelled().await;
    }
}
