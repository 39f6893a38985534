//! HTTP/2 client connections: one task per connection drives
//! `tetsuo_proto::h2::Connection` over the socket; requests reach it over
//! a channel and their responses come back with a streaming body.
//!
//! A connection carries as many requests at once as the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS allows; the client opens another
//! connection when every one of an origin's is full. Response data is
//! given back to flow control as the application reads it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http_body::Body as _;
use tetsuo_proto::h2::{self, ErrorCode, Event, StreamId, StreamMap};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

use super::ConnectionInfo;
use crate::http::body::{self, Body, PipeSender};
use crate::http::h2wire::{Credit, HIGH_WATER, Read, Wire};
use crate::{Error, ErrorKind, Result};

/// Streams assumed allowed until the server's SETTINGS say.
const ASSUMED_STREAMS: u32 = 100;
/// Response body bytes buffered for the application past which its
/// stream's window is not reopened.
pub(super) const BODY_BUFFER: usize = 256 * 1024;

/// A response: its head and body.
pub(super) type Answer = Result<(http::response::Parts, Body)>;

struct Job {
    head: http::request::Parts,
    body: Body,
    respond: oneshot::Sender<Answer>,
    /// The request's place on the connection, held until its stream ends.
    guard: Guard,
    /// The server refused it once already on this connection.
    resent: bool,
}

/// A place taken among the server's concurrent streams; given back when
/// dropped.
struct Guard {
    state: Arc<State>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

struct State {
    /// Requests sent or waiting on this connection.
    in_flight: AtomicUsize,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS.
    max: AtomicU32,
    /// No new requests (GOAWAY, a connection error, the end).
    closed: AtomicBool,
    /// The server's first SETTINGS arrived (or the connection ended).
    settled: AtomicBool,
    settled_notify: tokio::sync::Notify,
}

impl State {
    fn settle(&self) {
        self.settled.store(true, Ordering::Release);
        self.settled_notify.notify_waiters();
    }
}

/// A handle to an HTTP/2 connection's task; cheap to clone.
#[derive(Clone)]
pub(super) struct H2Conn {
    tx: mpsc::UnboundedSender<Job>,
    state: Arc<State>,
    pub(super) info: ConnectionInfo,
}

/// A request slot taken on a connection; given back when its stream ends
/// (or when dropped unused).
pub(super) struct Slot {
    conn: H2Conn,
    guard: Guard,
}

impl H2Conn {
    /// Starts the connection's task over `io` (after TLS with ALPN `h2`,
    /// or plain with prior knowledge).
    pub(super) fn spawn<T>(io: T, info: ConnectionInfo) -> H2Conn
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            in_flight: AtomicUsize::new(0),
            max: AtomicU32::new(ASSUMED_STREAMS),
            closed: AtomicBool::new(false),
            settled: AtomicBool::new(false),
            settled_notify: tokio::sync::Notify::new(),
        });
        let driver = Driver {
            wire: Wire::new(io),
            conn: h2::Connection::new(h2::Role::Client, h2::Config::default()),
            rx,
            rx_open: true,
            queued: VecDeque::new(),
            streams: StreamMap::default(),
            ids: Vec::new(),
            state: state.clone(),
            read_eof: false,
            failed: None,
        };
        tokio::spawn(driver.run());
        H2Conn { tx, state, info }
    }

    /// Resolves once the server's first SETTINGS (its stream limit) are
    /// known, or the connection ended.
    pub(super) async fn settled(&self) {
        loop {
            let notified = self.state.settled_notify.notified();
            if self.state.settled.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// True while the connection takes new requests.
    pub(super) fn is_open(&self) -> bool {
        !self.state.closed.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    /// Takes a request slot if the server's stream limit leaves one.
    pub(super) fn try_reserve(&self) -> Option<Slot> {
        if !self.is_open() {
            return None;
        }
        let max = self.state.max.load(Ordering::Acquire) as usize;
        let mut n = self.state.in_flight.load(Ordering::Acquire);
        loop {
            if n >= max {
                return None;
            }
            match self.state.in_flight.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Slot {
                        conn: self.clone(),
                        guard: Guard {
                            state: self.state.clone(),
                        },
                    });
                }
                Err(now) => n = now,
            }
        }
    }
}

impl Slot {
    /// The connection's details.
    pub(super) fn info(&self) -> &ConnectionInfo {
        &self.conn.info
    }

    /// Sends a request (a full URI: scheme and authority become the
    /// pseudo-headers) and waits for its response head.
    pub(super) async fn send(self, head: http::request::Parts, body: Body) -> Answer {
        let (respond, answer) = oneshot::channel();
        let job = Job {
            head,
            body,
            respond,
            guard: self.guard,
            resent: false,
        };
        if self.conn.tx.send(job).is_err() {
            // Never sent: another connection may take it.
            return Err(refused());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(closed("the HTTP/2 connection ended")))
    }
}

/// A request the server did not process (or that was never sent): safe
/// to send again, on another connection.
fn refused() -> Error {
    Error::new(ErrorKind::Refused, UNPROCESSED)
        .with_detail("the server did not process it (REFUSED_STREAM or GOAWAY)")
}

const UNPROCESSED: &str = "send an HTTP/2 request";

/// True for [`refused`]'s errors.
pub(super) fn is_unprocessed(e: &Error) -> bool {
    e.kind() == ErrorKind::Refused && e.op() == UNPROCESSED
}

fn closed(detail: &'static str) -> Error {
    Error::new(ErrorKind::Closed, "send an HTTP/2 request").with_detail(detail)
}

struct StreamTask {
    /// The request's head, kept to send it again if the server refuses
    /// the stream unprocessed (REFUSED_STREAM, RFC 9113 §8.7).
    head: http::request::Parts,
    /// Some of the body was taken: the request cannot be sent again.
    body_started: bool,
    /// The request was refused once already.
    resent: bool,
    /// The caller waiting for the response head.
    respond: Option<oneshot::Sender<Answer>>,
    /// The request body still to send, and data taken from it not yet
    /// sent (flow control).
    body: Option<Pin<Box<Body>>>,
    unsent: Bytes,
    body_done: bool,
    /// The response body's pipe (kept after its end, for flow control to
    /// be given back as the application reads what is left), and its bytes
    /// delivered and given back.
    response: Option<PipeSender>,
    response_done: bool,
    credit: Credit,
    /// The request's place on the connection.
    _guard: Guard,
}

struct Driver<T> {
    wire: Wire<T>,
    conn: h2::Connection,
    rx: mpsc::UnboundedReceiver<Job>,
    rx_open: bool,
    /// Requests waiting for a stream.
    queued: VecDeque<Job>,
    streams: StreamMap<StreamTask>,
    ids: Vec<StreamId>,
    state: Arc<State>,
    read_eof: bool,
    /// The connection failed: why.
    failed: Option<String>,
}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Driver<T> {
    async fn run(mut self) {
        std::future::poll_fn(|cx| self.poll(cx)).await;
        self.state.closed.store(true, Ordering::Release);
        self.state.settle();
        // Requests never sent may go on another connection.
        self.rx.close();
        while let Ok(job) = self.rx.try_recv() {
            self.queued.push_back(job);
        }
        for job in self.queued.drain(..) {
            let _ = job.respond.send(Err(refused()));
        }
        let why = self
            .failed
            .clone()
            .unwrap_or_else(|| "the HTTP/2 connection ended".to_owned());
        for (_, s) in self.streams.drain() {
            let error =
                Error::new(ErrorKind::Closed, "read an HTTP/2 response").with_detail(why.clone());
            if let Some(tx) = s.respond {
                let _ = tx.send(Err(error));
            } else if let Some(pipe) = s.response
                && !s.response_done
            {
                pipe.fail(error);
            }
        }
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.wire.io).await;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progress = self.poll_jobs(cx);
            progress |= self.poll_events();
            progress |= self.poll_streams(cx);
            self.wire.transmit(&mut self.conn);
            match self.poll_write(cx) {
                Ok(p) => progress |= p,
                Err(()) => return Poll::Ready(()),
            }
            let written = self.wire.all_written();
            if written && (self.failed.is_some() || self.conn.is_closed()) {
                return Poll::Ready(());
            }
            if written && !self.rx_open && self.streams.is_empty() && self.queued.is_empty() {
                // Every handle is gone and nothing is in flight.
                self.conn.abort(ErrorCode::NO_ERROR);
                self.wire.transmit(&mut self.conn);
                let _ = self.poll_write(cx);
                return Poll::Ready(());
            }
            if self.read_eof {
                self.failed
                    .get_or_insert_with(|| "the server closed the connection".to_owned());
                return Poll::Ready(());
            }
            match self.poll_read(cx) {
                Ok(p) => progress |= p,
                Err(()) => return Poll::Ready(()),
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// New requests from the handles, onto streams while the server allows.
    fn poll_jobs(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.rx_open {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(job)) => {
                    self.queued.push_back(job);
                    progress = true;
                }
                Poll::Ready(None) => {
                    self.rx_open = false;
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        if self.conn.no_new_streams() {
            // Refused unsent: the caller may try another connection.
            self.state.closed.store(true, Ordering::Release);
            for job in self.queued.drain(..) {
                let _ = job.respond.send(Err(refused()));
            }
        }
        while let Some(front) = self.queued.front()
            && self.conn.can_open_stream()
        {
            let extended = front.head.extensions.get::<h2::Protocol>().is_some();
            if extended && !self.conn.peer_settings_received() {
                // Whether the server takes extended CONNECT is in its
                // SETTINGS (RFC 8441 §3).
                break;
            }
            let job = self.queued.pop_front().expect("not empty");
            if job.respond.is_closed() {
                // The caller gave up before it was sent.
                continue;
            }
            if extended && !self.conn.peer_enables_connect_protocol() {
                let _ = job.respond.send(Err(Error::new(
                    ErrorKind::Unsupported,
                    "send an HTTP/2 request",
                )
                .with_detail(
                    "the server does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)",
                )));
                progress = true;
                continue;
            }
            let end = job.body.is_end_stream();
            match self.conn.send_request(&job.head, end) {
                Ok(stream) => {
                    self.streams.insert(
                        stream,
                        StreamTask {
                            head: job.head,
                            body_started: false,
                            resent: job.resent,
                            respond: Some(job.respond),
                            body: (!end).then(|| Box::pin(job.body)),
                            unsent: Bytes::new(),
                            body_done: false,
                            response: None,
                            response_done: false,
                            credit: Credit::default(),
                            _guard: job.guard,
                        },
                    );
                }
                Err(e) => {
                    let _ = job.respond.send(Err(Error::new(
                        ErrorKind::InvalidInput,
                        "send an HTTP/2 request",
                    )
                    .with_detail(e.to_string())));
                }
            }
            progress = true;
        }
        progress
    }

    fn poll_events(&mut self) -> bool {
        let mut progress = false;
        while let Some(event) = self.conn.poll_event() {
            progress = true;
            match event {
                Event::Response {
                    stream,
                    head,
                    end_stream,
                } => {
                    if head.status.is_informational() {
                        continue;
                    }
                    let Some(s) = self.streams.get_mut(&stream) else {
                        continue;
                    };
                    let body = if end_stream {
                        Body::empty()
                    } else {
                        let length = head
                            .headers
                            .get(CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok()?.parse().ok());
                        let (tx, rx) = body::pipe(BODY_BUFFER, length);
                        s.response = Some(tx);
                        Body::pipe(rx)
                    };
                    if let Some(respond) = s.respond.take() {
                        let _ = respond.send(Ok((head, body)));
                    }
                    if end_stream {
                        s.response_done = true;
                        self.maybe_done(stream);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let n = data.len();
                    match self.streams.get_mut(&stream) {
                        Some(s) if s.response.is_some() && !s.response_done => {
                            s.credit.delivered(n);
                            let pipe = s.response.as_ref().expect("checked");
                            pipe.send_data(data);
                            if end_stream {
                                pipe.finish(None);
                                s.response_done = true;
                                self.maybe_done(stream);
                            }
                        }
                        _ => self.conn.release_capacity(stream, n),
                    }
                }
                Event::Trailers { stream, trailers } => {
                    if let Some(s) = self.streams.get_mut(&stream)
                        && !s.response_done
                        && let Some(pipe) = &s.response
                    {
                        pipe.finish(Some(trailers));
                        s.response_done = true;
                    }
                    self.maybe_done(stream);
                }
                Event::Reset { stream, code, .. } => {
                    if code == ErrorCode::REFUSED_STREAM
                        && let Some(s) = self.streams.get(&stream)
                        && s.respond.is_some()
                        && !s.body_started
                    {
                        // Not processed: sent again once a stream is free
                        // (once here; then, or if this connection takes
                        // no more, the caller may try another).
                        let s = self.remove_stream(stream).expect("just seen");
                        let respond = s.respond.expect("checked");
                        if s.resent {
                            let _ = respond.send(Err(refused()));
                            continue;
                        }
                        let job = Job {
                            head: s.head,
                            body: s.body.map_or_else(Body::empty, |b| *Pin::into_inner(b)),
                            respond,
                            guard: s._guard,
                            resent: true,
                        };
                        self.queued.push_front(job);
                        continue;
                    }
                    if let Some(s) = self.remove_stream(stream) {
                        let kind = if code == ErrorCode::REFUSED_STREAM {
                            ErrorKind::Refused
                        } else {
                            ErrorKind::Protocol
                        };
                        let error = Error::new(kind, "read an HTTP/2 response")
                            .with_detail(format!("the stream was reset ({code})"));
                        if let Some(tx) = s.respond {
                            // Refused: not processed, whatever of the body
                            // went; the caller may send it again.
                            let error = if code == ErrorCode::REFUSED_STREAM {
                                refused()
                            } else {
                                error
                            };
                            let _ = tx.send(Err(error));
                        } else if let Some(pipe) = s.response
                            && !s.response_done
                        {
                            pipe.fail(error);
                        }
                    }
                }
                Event::PeerSettings(settings) => {
                    if let Some(n) = settings.max_concurrent_streams {
                        self.state.max.store(n, Ordering::Release);
                    }
                    self.state.settle();
                }
                Event::GoAway { .. } => self.state.closed.store(true, Ordering::Release),
                _ => {}
            }
        }
        progress
    }

    /// Forgets a stream whose response is complete and whose request went
    /// out.
    fn maybe_done(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get(&stream)
            && s.respond.is_none()
            && s.response_done
            && (s.body.is_none() && s.unsent.is_empty())
        {
            self.remove_stream(stream);
        }
    }

    /// Forgets a stream; response data still unread in its pipe is given
    /// back to the connection's flow control.
    fn remove_stream(&mut self, stream: StreamId) -> Option<StreamTask> {
        let mut s = self.streams.remove(&stream)?;
        let rest = s.credit.take_rest();
        if rest > 0 {
            self.conn.release_capacity(stream, rest);
        }
        Some(s)
    }

    fn poll_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.streams.keys().copied());
        for &id in &ids {
            progress |= self.poll_stream(id, cx);
        }
        self.ids = ids;
        progress
    }

    fn poll_stream(&mut self, id: StreamId, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let Some(s) = self.streams.get_mut(&id) else {
            return false;
        };
        if s.respond.as_ref().is_some_and(oneshot::Sender::is_closed) {
            // The caller gave up waiting for the response.
            self.conn.reset(id, ErrorCode::CANCEL);
            self.remove_stream(id);
            return true;
        }
        if let Some(pipe) = &s.response {
            if pipe.is_abandoned() && !s.response_done {
                // Nobody reads the response any more.
                self.conn.reset(id, ErrorCode::CANCEL);
                self.remove_stream(id);
                return true;
            }
            let taken = s.credit.take_consumed(pipe.poll_queued(cx));
            if taken > 0 {
                self.conn.release_capacity(id, taken);
                progress = true;
            }
        }
        // The request body, as flow control and the write buffer allow.
        loop {
            let Some(s) = self.streams.get_mut(&id) else {
                return progress;
            };
            if !s.unsent.is_empty() || s.body_done {
                let Ok(sent) = self.conn.send_data(id, &s.unsent, s.body_done) else {
                    s.body = None;
                    s.unsent = Bytes::new();
                    return progress;
                };
                s.unsent.advance(sent);
                progress |= sent > 0;
                if !s.unsent.is_empty() {
                    return progress;
                }
                if s.body_done {
                    s.body_done = false;
                    s.body = None;
                    self.maybe_done(id);
                    return true;
                }
            }
            if self.wire.backlog(&self.conn) > HIGH_WATER {
                return progress;
            }
            let Some(body) = s.body.as_mut() else {
                return progress;
            };
            match body.as_mut().poll_frame(cx) {
                Poll::Pending => return progress,
                Poll::Ready(None) => s.body_done = true,
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "request body failed");
                    self.conn.reset(id, ErrorCode::CANCEL);
                    if let Some(s) = self.remove_stream(id)
                        && let Some(tx) = s.respond
                    {
                        let _ = tx.send(Err(Error::new(ErrorKind::Io, "send an HTTP/2 request")
                            .with_detail(format!("the request body failed: {e}"))));
                    }
                    return true;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        s.body_started = true;
                        s.unsent = data;
                        s.body_done = body.is_end_stream();
                    }
                    Err(frame) => {
                        s.body_started = true;
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = self.conn.send_trailers(id, &trailers);
                            s.body = None;
                            self.maybe_done(id);
                            return true;
                        }
                    }
                },
            }
            progress = true;
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> std::result::Result<bool, ()> {
        match self.wire.poll_write(cx) {
            Ok(written) => Ok(written.progress),
            Err(e) => {
                self.failed = Some(format!("writing to the server failed: {e}"));
                Err(())
            }
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> std::result::Result<bool, ()> {
        match self.wire.poll_read(&mut self.conn, cx) {
            Ok(Read::Nothing) => Ok(false),
            Ok(Read::Eof) => {
                self.read_eof = true;
                Ok(true)
            }
            Ok(Read::Fed(result)) => {
                if let Err(e) = result {
                    self.failed = Some(format!("HTTP/2 connection error: {e}"));
                    self.state.closed.store(true, Ordering::Release);
                }
                Ok(true)
            }
            Err(e) => {
                self.failed = Some(format!("reading from the server failed: {e}"));
                Err(())
            }
        }
    }
}
