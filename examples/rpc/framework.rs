//! A small RPC framework on tetsuo.
//!
//! **Wire**: each frame is a 4-byte big-endian length and that many bytes of
//! JSON (at most [`MAX_FRAME`]): a `call` (id, method, params, deadline), a
//! `cancel` (id) or a `reply` (id, result or error). Calls on a connection
//! are multiplexed: many may be in flight, replies come back in any order.
//!
//! **Server** ([`Service`], [`serve`]): each call runs in its own task,
//! bounded by the deadline the caller sent (at most a minute); a `cancel`,
//! or the connection closing, stops it. A connection runs at most 256
//! calls at once (the next frame waits), a server holds at most 4096
//! connections, and a frame's memory grows only as its bytes arrive. A
//! connection idle for two minutes (no call running, nothing sent) is
//! closed, and so is one whose frame takes over 30 s to arrive.
//!
//! **Client** ([`Client`]): a pool of multiplexed connections per server,
//! opened on demand, again after a failure, and anew after a minute
//! unused (before the server would close it), servers chosen by tetsuo's
//! load balancer (its circuit breaker skips one that keeps failing);
//! a call has a deadline covering everything (waiting for a connection,
//! connecting, retries), stops (and cancels on the server) when dropped,
//! and an idempotent call whose connection failed is tried again — on
//! another server, or the same one once it is back — until its deadline.
//! A call that was never sent (no connection) is tried again whatever it
//! is. A server that lets calls pass their deadline counts as failing, so
//! its breaker opens after three; a call that hangs on it is not moved
//! elsewhere before its deadline.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tetsuo::balance::{Balancer, Policy};
use tetsuo::connect::BreakerConfig;
use tetsuo::net::TcpConnector;
use tetsuo::tls::{TlsAcceptor, TlsConnector};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The largest frame either side accepts (1 MiB).
pub(crate) const MAX_FRAME: usize = 1 << 20;
/// Calls a server runs at once for one connection; the next frame is read
/// only when one of them is done (backpressure on a flooding client).
const MAX_IN_FLIGHT: usize = 256;
/// Connections a server holds at once; more are closed when accepted.
const MAX_CONNECTIONS: usize = 4096;
/// The longest a server lets a call run, whatever deadline it came with.
const MAX_DEADLINE: Duration = Duration::from_secs(60);
/// A connection with no call running that sends nothing for this long is
/// closed by the server (its place is for someone else).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A frame once begun must arrive whole within this (a client trickling
/// bytes cannot hold a connection).
pub(crate) const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// A pooled connection unused for this long is replaced rather than used:
/// well before the server's [`IDLE_TIMEOUT`], so that a call is not sent
/// just as the server closes the connection.
const CLIENT_IDLE: Duration = Duration::from_secs(60);

/// One frame on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Frame {
    Call {
        id: u64,
        method: String,
        params: Value,
        timeout_ms: u64,
    },
    Cancel {
        id: u64,
    },
    Reply {
        id: u64,
        result: Result<Value, RpcError>,
    },
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RpcError {
    pub(crate) code: Code,
    pub(crate) message: String,
}

/// The kinds of [`RpcError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Code {
    /// No such method.
    NotFound,
    /// The parameters do not fit the method.
    InvalidParams,
    /// The deadline passed before the answer.
    DeadlineExceeded,
    /// No server could be reached, or the connection failed with the call
    /// in flight (it may or may not have run).
    Unavailable,
    /// The method itself failed.
    Failed,
}

impl RpcError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// Reads one frame; `None` at a clean end of stream.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Frame>> {
    let len = match r.read_u32().await {
        Ok(len) => len as usize,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > MAX_FRAME {
        let msg = format!("frame of {len} bytes, over the {MAX_FRAME} limit");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    }
    // Memory follows the bytes that arrive, not the length announced.
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    if r.take(len as u64).read_to_end(&mut buf).await? < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes frames from `rx` until it closes, flushing whenever it is empty
/// (so a burst of replies goes out in few writes). A frame over
/// [`MAX_FRAME`], which the peer would drop the whole connection for, goes
/// to `oversized` instead, with its size: what it returns is sent in its
/// place.
async fn write_frames(
    w: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Frame>,
    oversized: impl Fn(Frame, usize) -> Option<Frame>,
) -> std::io::Result<()> {
    let mut w = BufWriter::new(w);
    while let Some(frame) = rx.recv().await {
        let mut next = Some(frame);
        while let Some(frame) = next {
            let mut json = serde_json::to_vec(&frame).expect("frames serialize");
            if json.len() > MAX_FRAME {
                json = match oversized(frame, json.len()) {
                    Some(instead) => serde_json::to_vec(&instead).expect("frames serialize"),
                    None => Vec::new(),
                };
            }
            if !json.is_empty() {
                w.write_u32(json.len() as u32).await?;
                w.write_all(&json).await?;
            }
            next = rx.try_recv().ok();
        }
        w.flush().await?;
    }
    w.shutdown().await
}

/// Anything a connection can run over: TCP, TLS, a test pipe.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

// ------------------------------------------------------------------ server

type Handler = Arc<
    dyn Fn(Value) -> Pin<Box<dyn Future<Output = Result<Value, RpcError>> + Send>> + Send + Sync,
>;

/// The methods a server offers.
#[derive(Default, Clone)]
pub(crate) struct Service {
    methods: HashMap<String, Handler>,
}

impl Service {
    /// Adds a method taking `P` and returning `R` (both JSON).
    pub(crate) fn method<P, R, F, Fut>(mut self, name: &str, f: F) -> Service
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |params| {
            let f = f.clone();
            Box::pin(async move {
                let params = serde_json::from_value(params)
                    .map_err(|e| RpcError::new(Code::InvalidParams, e.to_string()))?;
                let result = f(params).await?;
                Ok(serde_json::to_value(result).expect("results serialize"))
            })
        });
        self.methods.insert(name.to_owned(), handler);
        self
    }
}

/// Serves connections from `listener` (over TLS if `tls` is given) until
/// `shutdown` resolves; then every connection is dropped at once.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let places = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = &mut shutdown => return, // dropping the JoinSet aborts them all
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            continue; // full: closed at once
        };
        let _ = stream.set_nodelay(true);
        let (tls, service) = (tls.clone(), service.clone());
        connections.spawn(async move {
            let _place = place;
            let result = match tls {
                None => serve_connection(stream, service).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(stream, service).await,
                    Err(e) => Err(std::io::Error::other(e)),
                },
            };
            // A client that simply went away is not worth a line.
            if let Err(e) = result
                && !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                )
            {
                eprintln!("rpc connection: {e}");
            }
        });
    }
}

/// Serves one connection until the client closes it or it idles (see
/// [`IDLE_TIMEOUT`], [`FRAME_TIMEOUT`]). Dropping the future (the server
/// stopping) closes the connection and stops its calls.
pub(crate) async fn serve_connection(io: impl Io, service: Arc<Service>) -> std::io::Result<()> {
    let (reader, writer) = tokio::io::split(io);
    let mut reader = BufReader::new(reader);
    let (tx, rx) = mpsc::channel(1024);
    let running = Running::default();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let reading = async {
        let tx = tx; // dropped when reading ends: the writer then finishes
        let result = loop {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break Ok(());
            };
            // Waiting for a frame to begin (no bytes are lost if this
            // times out): idle with nothing running ends the connection.
            let began = loop {
                match tokio::time::timeout(IDLE_TIMEOUT, reader.fill_buf()).await {
                    Ok(result) => break Some(result.map(|_| ())),
                    Err(_) if running.0.lock().unwrap().is_empty() => break None,
                    Err(_) => {}
                }
            };
            let read = match began {
                Some(Ok(())) => tokio::time::timeout(FRAME_TIMEOUT, read_frame(&mut reader)).await,
                Some(Err(e)) => break Err(e),
                None => break Ok(()), // idle
            };
            let frame = match read {
                Ok(Ok(Some(frame))) => frame,
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(e)) => break Err(e),
                Err(_) => {
                    let msg = format!("a frame took over {FRAME_TIMEOUT:?} to arrive");
                    break Err(std::io::Error::new(std::io::ErrorKind::TimedOut, msg));
                }
            };
            match frame {
                Frame::Call {
                    id,
                    method,
                    params,
                    timeout_ms,
                } => {
                    let Some(handler) = service.methods.get(&method).cloned() else {
                        let result =
                            Err(RpcError::new(Code::NotFound, format!("no method {method}")));
                        let _ = tx.send(Frame::Reply { id, result }).await;
                        continue;
                    };
                    let (tx, done) = (tx.clone(), running.0.clone());
                    // Held until the entry is in: the task removes it when done.
                    let mut table = running.0.lock().unwrap();
                    let task = tokio::spawn(async move {
                        let _permit = permit; // until the reply is queued
                        let deadline = Duration::from_millis(timeout_ms).min(MAX_DEADLINE);
                        let result = match tokio::time::timeout(deadline, handler(params)).await {
                            Ok(result) => result,
                            Err(_) => Err(RpcError::new(
                                Code::DeadlineExceeded,
                                format!("{method} took over {deadline:?}"),
                            )),
                        };
                        done.lock().unwrap().remove(&id);
                        let _ = tx.send(Frame::Reply { id, result }).await;
                    });
                    table.insert(id, task.abort_handle());
                }
                Frame::Cancel { id } => {
                    if let Some(task) = running.0.lock().unwrap().remove(&id) {
                        task.abort();
                    }
                }
                Frame::Reply { .. } => {
                    break Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a reply sent to the server",
                    ));
                }
            }
        };
        // The client is gone (or broke the protocol): nobody waits for these.
        running.abort_all();
        result
    };
    // A reply too large for a frame becomes an error reply.
    let oversized = |frame, size| match frame {
        Frame::Reply { id, .. } => {
            let message = format!("a reply of {size} bytes, over the {MAX_FRAME} limit");
            Some(Frame::Reply {
                id,
                result: Err(RpcError::new(Code::Failed, message)),
            })
        }
        _ => None,
    };
    let (result, _) = tokio::join!(reading, write_frames(writer, rx, oversized));
    result
}

/// The calls in flight on a connection, stopped when it ends.
#[derive(Default)]
struct Running(Arc<Mutex<HashMap<u64, tokio::task::AbortHandle>>>);

impl Running {
    fn abort_all(&self) {
        for (_, task) in self.0.lock().unwrap().drain() {
            task.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.abort_all();
    }
}

// ------------------------------------------------------------------ client

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// One multiplexed connection to a server.
pub(crate) struct Connection {
    tx: mpsc::Sender<Frame>,
    pending: Pending,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    last_call: Mutex<Instant>,
}

impl Connection {
    /// Runs the client side over `io`.
    pub(crate) fn new(io: impl Io) -> Connection {
        let (mut reader, writer) = tokio::io::split(io);
        let (tx, rx) = mpsc::channel(1024);
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        // A call too large for a frame is not sent: its caller hears why.
        let oversized = {
            let pending = pending.clone();
            move |frame, size| {
                if let Frame::Call { id, .. } = frame
                    && let Some(waiter) = pending.lock().unwrap().remove(&id)
                {
                    let message = format!("parameters of {size} bytes, over the frame limit");
                    let _ = waiter.send(Err(RpcError::new(Code::InvalidParams, message)));
                }
                None
            }
        };
        tokio::spawn(write_frames(writer, rx, oversized));
        tokio::spawn({
            let (pending, closed) = (pending.clone(), closed.clone());
            async move {
                while let Ok(Some(Frame::Reply { id, result })) = read_frame(&mut reader).await {
                    if let Some(waiter) = pending.lock().unwrap().remove(&id) {
                        let _ = waiter.send(result);
                    }
                }
                // Closed or broken: whoever still waits learns it now.
                closed.store(true, Ordering::Release);
                pending.lock().unwrap().clear();
            }
        });
        Connection {
            tx,
            pending,
            next_id: AtomicU64::new(1),
            closed,
            last_call: Mutex::new(Instant::now()),
        }
    }

    /// Whether the connection has failed (a new one is needed).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Whether it has had no call for `CLIENT_IDLE` (and none is waiting).
    fn is_stale(&self) -> bool {
        self.last_call.lock().unwrap().elapsed() >= CLIENT_IDLE
            && self.pending.lock().unwrap().is_empty()
    }

    /// One call, answered within `timeout`. Dropping the future cancels
    /// the call on the server.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        *self.last_call.lock().unwrap() = Instant::now();
        let (reply_tx, reply) = oneshot::channel();
        {
            // Checked under the lock the reader clears `pending` with: a
            // connection that just failed cannot strand this call.
            let mut pending = self.pending.lock().unwrap();
            if self.closed.load(Ordering::Acquire) {
                return Err(RpcError::new(Code::Unavailable, "connection closed"));
            }
            pending.insert(id, reply_tx);
        }
        // From here on, leaving early (deadline, drop) cancels the call.
        let guard = CancelOnDrop { id, conn: self };
        let timeout_ms = timeout.as_millis() as u64;
        let frame = Frame::Call {
            id,
            method: method.to_owned(),
            params,
            timeout_ms,
        };
        if self.tx.send(frame).await.is_err() {
            return Err(RpcError::new(Code::Unavailable, "connection closed"));
        }
        let result = match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RpcError::new(
                Code::Unavailable,
                "connection lost with the call in flight",
            )),
            Err(_) => {
                return Err(RpcError::new(
                    Code::DeadlineExceeded,
                    format!("no answer within {timeout:.0?}"),
                ));
            }
        };
        std::mem::forget(guard); // answered: nothing to cancel
        result
    }
}

/// Tells the server to stop a call nobody waits for any more.
struct CancelOnDrop<'a> {
    id: u64,
    conn: &'a Connection,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.conn.pending.lock().unwrap().remove(&self.id).is_some() {
            let _ = self.conn.tx.try_send(Frame::Cancel { id: self.id });
        }
    }
}

/// How a [`Client`] connects.
#[derive(Clone)]
pub(crate) struct ClientConfig {
    /// Connections per server; calls share them (default 2).
    pub(crate) connections_per_server: usize,
    /// TLS to the servers, checked against this name.
    pub(crate) tls: Option<(TlsConnector, String)>,
    /// How long one connection attempt may take (default 1 s).
    pub(crate) connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            connections_per_server: 2,
            tls: None,
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// What a call asks of the [`Client`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallOptions {
    /// The whole call, retries included (default 5 s).
    pub(crate) deadline: Duration,
    /// Safe to run twice: tried again after a connection failure (default
    /// false: a call whose connection failed in flight is reported).
    pub(crate) idempotent: bool,
}

impl Default for CallOptions {
    fn default() -> CallOptions {
        CallOptions {
            deadline: Duration::from_secs(5),
            idempotent: false,
        }
    }
}

/// A place in a server's pool: empty, or a connection (maybe failed).
type Slot = tokio::sync::Mutex<Option<Arc<Connection>>>;

/// Calls servers through pooled, reconnecting, balanced connections.
#[derive(Clone)]
pub(crate) struct Client {
    balancer: Balancer<String>,
    /// Per server, its connection slots; a slot's lock is held while it
    /// (re)connects, so a failed connection is replaced once, not by every
    /// caller that notices.
    slots: Arc<HashMap<String, Vec<Slot>>>,
    next_slot: Arc<AtomicU64>,
    config: ClientConfig,
}

impl Client {
    /// A client of `servers` (`host:port`), least outstanding calls first.
    pub(crate) fn new(servers: &[String], config: ClientConfig) -> Client {
        // A server failing 3 calls in a row is skipped for 500 ms, then probed.
        let breaker = BreakerConfig {
            consecutive_failures: 3,
            cool_down: Duration::from_millis(500),
            ..Default::default()
        };
        let balancer = Balancer::with_breaker(Policy::LeastOutstanding, breaker);
        let mut slots = HashMap::new();
        for server in servers {
            balancer.insert(server.clone(), 1);
            let n = config.connections_per_server.max(1);
            slots.insert(
                server.clone(),
                (0..n).map(|_| tokio::sync::Mutex::new(None)).collect(),
            );
        }
        Client {
            balancer,
            slots: Arc::new(slots),
            next_slot: Arc::default(),
            config,
        }
    }

    /// Calls `method` with `params`; see [`CallOptions`].
    pub(crate) async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<R, RpcError> {
        let params = serde_json::to_value(params)
            .map_err(|e| RpcError::new(Code::InvalidParams, e.to_string()))?;
        let deadline = Instant::now() + options.deadline;
        let mut pause = Duration::from_millis(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RpcError::new(
                    Code::DeadlineExceeded,
                    format!("{method}: deadline passed while retrying"),
                ));
            }
            let Some(pick) = self.balancer.pick(None) else {
                // Every server is failing (its breaker open): wait below.
                let failure = RpcError::new(Code::Unavailable, "no server available");
                if !self.pause(&mut pause, deadline).await {
                    return Err(failure);
                }
                continue;
            };
            // The whole attempt, waiting for a pool slot and connecting
            // included, within what is left of the deadline.
            let attempt = tokio::time::timeout(left, async {
                match self.connection(pick.endpoint(), left).await {
                    Ok(conn) => (true, conn.call(method, params.clone(), left).await),
                    Err(e) => (false, Err(e)),
                }
            });
            let (sent, result) = attempt.await.unwrap_or_else(|_| {
                let late = RpcError::new(
                    Code::DeadlineExceeded,
                    format!("{method}: no answer in time"),
                );
                (true, Err(late))
            });
            let failure = match result {
                // Not sent at all: safe to try again, idempotent or not.
                Err(e) if !sent => {
                    pick.failure();
                    e
                }
                // Lost in flight: it may have run.
                Err(e) if e.code == Code::Unavailable => {
                    pick.failure();
                    if !options.idempotent {
                        return Err(e);
                    }
                    e
                }
                // A server that does not answer in time counts against it
                // (its breaker skips it after 3 in a row).
                Err(e) if e.code == Code::DeadlineExceeded => {
                    pick.failure();
                    return Err(e);
                }
                other => {
                    pick.success();
                    return other.and_then(|v| {
                        serde_json::from_value(v)
                            .map_err(|e| RpcError::new(Code::InvalidParams, e.to_string()))
                    });
                }
            };
            if !self.pause(&mut pause, deadline).await {
                return Err(failure);
            }
        }
    }

    /// Waits before the next try: 10 ms, doubling to 200 ms, never past
    /// the deadline; false if no time is left.
    async fn pause(&self, pause: &mut Duration, deadline: Instant) -> bool {
        let wait = (*pause).min(deadline.saturating_duration_since(Instant::now()));
        if wait.is_zero() {
            return false;
        }
        tokio::time::sleep(wait).await;
        *pause = (*pause * 2).min(Duration::from_millis(200));
        true
    }

    /// A live connection to `server` from its pool, connecting if needed.
    async fn connection(&self, server: &str, left: Duration) -> Result<Arc<Connection>, RpcError> {
        let slots = &self.slots[server];
        let slot = &slots[self.next_slot.fetch_add(1, Ordering::Relaxed) as usize % slots.len()];
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed() && !c.is_stale()) {
            return Ok(conn.clone());
        }
        *slot = None;
        let unavailable =
            |e: tetsuo::Error| RpcError::new(Code::Unavailable, format!("{server}: {e}"));
        let addr = tokio::net::lookup_host(server)
            .await
            .map_err(|e| unavailable(e.into()))?
            .next()
            .ok_or_else(|| RpcError::new(Code::Unavailable, format!("{server}: no address")))?;
        let stream = TcpConnector::new()
            .connect_timeout(self.config.connect_timeout.min(left))
            .connect(addr)
            .await
            .map_err(unavailable)?;
        let _ = stream.set_nodelay(true);
        let conn = match &self.config.tls {
            None => Connection::new(stream),
            Some((tls, name)) => {
                Connection::new(tls.connect(name, stream).await.map_err(unavailable)?)
            }
        };
        let conn = Arc::new(conn);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}
