//! One HTTP/2 server connection: bytes between the socket and
//! `tetsuo_proto::h2::Connection`, each stream's request to the service,
//! responses back under flow control.
//!
//! Every stream's service future and response body are polled by the
//! connection's task (no task per stream). Request bodies go through the
//! same pipe as HTTP/1.1's; received data is given back to flow control
//! as the application takes it, so a slow reader holds the client back
//! instead of filling memory.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, DATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use tetsuo_proto::h2::{self, ErrorCode, Event, StreamId, StreamMap};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};
use tracing::Instrument;

use super::{ClientAddr, HttpService, Shared, stats};
use crate::http::body::{self, Body, PipeSender};
use crate::http::date;
use crate::http::h2wire::{Credit, HIGH_WATER, Read, Wire};
use crate::http::upgrade::{OnUpgrade, Upgraded};

/// How long a graceful shutdown waits for the client to answer its PING
/// before sending the final GOAWAY.
const DRAIN_PING_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The HTTP/2 settings a server connection advertises.
fn config(shared: &Shared) -> h2::Config {
    let mut c = h2::Config::default();
    c.max_header_list_size = shared.config.limits.max_head.min(u32::MAX as usize) as u32;
    c.enable_connect_protocol = true;
    c
}

/// In the extensions of an HTTP/2 request whose client accepts server
/// push (RFC 9113 §8.4): promises the client responses it will want, such
/// as a page's stylesheet, before it asks.
///
/// ```no_run
/// use http::{Request, Response};
/// use tetsuo::http::Body;
/// use tetsuo::http::server::Push;
///
/// async fn page(req: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
///     if let Some(push) = req.extensions().get::<Push>() {
///         let css = Request::get("/style.css").body(()).unwrap().into_parts().0;
///         let _ = push.push(css, Response::new(Body::from("body { margin: 0 }")));
///     }
///     Ok(Response::new(Body::from("<link rel=stylesheet href=/style.css>")))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Push {
    stream: StreamId,
    authority: Option<http::uri::Authority>,
    scheme: Option<http::uri::Scheme>,
    tx: mpsc::UnboundedSender<Pushed>,
}

#[derive(Debug)]
struct Pushed {
    stream: StreamId,
    request: http::request::Parts,
    response: Response<Body>,
}

impl Push {
    /// Promises `response` to `request` (a GET or HEAD without a body;
    /// its scheme and authority default to those of the request being
    /// answered). The promise goes out before that request's response
    /// ends; it fails if the connection is gone.
    pub fn push(
        &self,
        mut request: http::request::Parts,
        response: Response<Body>,
    ) -> crate::Result<()> {
        if request.uri.authority().is_none() {
            let mut parts = request.uri.clone().into_parts();
            parts.scheme = self.scheme.clone().or(Some(http::uri::Scheme::HTTPS));
            parts.authority = self.authority.clone();
            if parts.path_and_query.is_none() {
                parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
            }
            if let Ok(uri) = http::Uri::from_parts(parts) {
                request.uri = uri;
            }
        }
        self.tx
            .send(Pushed {
                stream: self.stream,
                request,
                response,
            })
            .map_err(|_| crate::Error::closed("the connection ended"))
    }
}

/// A response body: the service's, or ours (a pushed response's, a
/// tunnel's).
enum ResBody<S: HttpService> {
    Service(Pin<Box<S::ResBody>>),
    Own(Pin<Box<Body>>),
}

type Frame = http_body::Frame<Bytes>;

impl<S: HttpService> ResBody<S> {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, super::BoxError>>> {
        match self {
            ResBody::Service(b) => b
                .as_mut()
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map(|f| f.map_data(Into::into)).map_err(Into::into))),
            ResBody::Own(b) => b
                .as_mut()
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResBody::Service(b) => b.is_end_stream(),
            ResBody::Own(b) => b.is_end_stream(),
        }
    }
}

struct StreamTask<S: HttpService> {
    started: Instant,
    method: Method,
    future: Option<Pin<Box<tracing::instrument::Instrumented<S::Fut>>>>,
    body: Option<ResBody<S>>,
    /// Data taken from the body and not yet sent (flow control).
    unsent: Bytes,
    /// The body ended after `unsent`.
    body_done: bool,
    status: Option<StatusCode>,
    /// The request body's pipe, and its bytes delivered and given back.
    request_body: Option<PipeSender>,
    /// The request body ended (its pipe stays, for flow control to be
    /// given back as the application reads what is left in it).
    request_done: bool,
    /// The request data delivered and given back.
    credit: Credit,
    /// When the client last sent request data (or the head).
    last_data: Instant,
    /// A CONNECT: the service may take the stream over (answering 2xx).
    upgrade: Option<Tunnel>,
    /// The stream is a tunnel and our side of it has ended; it is
    /// forgotten when the client's side ends too.
    sent_end: bool,
}

/// What a CONNECT's stream becomes if the service answers 2xx.
struct Tunnel {
    on_upgrade: oneshot::Sender<Upgraded>,
    /// The client's data (the request body's pipe, kept from the service).
    recv: Body,
}

/// Serves `io` as HTTP/2 until it ends: `prefix` holds bytes already read
/// (the preface sniffed on a plain connection).
pub(super) async fn serve<T, S>(
    shared: Arc<Shared>,
    io: T,
    prefix: Bytes,
    peer: Option<SocketAddr>,
    service: S,
) where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    let conn = h2::Connection::new(h2::Role::Server, config(&shared));
    let idle = shared.config.idle_timeout;
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let mut driver = Driver {
        shared,
        wire: Wire::new(io),
        conn,
        service,
        peer,
        streams: StreamMap::default(),
        ids: Vec::new(),
        push_tx,
        push_rx,
        waiting: VecDeque::new(),
        read_eof: false,
        draining_since: None,
        drain_entry: None,
        failed: false,
        timer: Box::pin(tokio::time::sleep(
            idle.unwrap_or(std::time::Duration::from_secs(3600)),
        )),
        last_activity: Instant::now(),
        write_stalled: None,
        now: Instant::now(),
    };
    if !prefix.is_empty()
        && let Err(e) = driver.conn.handle_input(&prefix)
    {
        connection_error(e);
        driver.failed = true;
    }
    std::future::poll_fn(|cx| driver.poll(cx)).await;
    if let Some(id) = driver.drain_entry {
        driver.shared.unregister_drain_waker(id);
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        tokio::io::AsyncWriteExt::shutdown(&mut driver.wire.io),
    )
    .await;
}

struct Driver<T, S: HttpService> {
    shared: Arc<Shared>,
    wire: Wire<T>,
    conn: h2::Connection,
    service: S,
    peer: Option<SocketAddr>,
    streams: StreamMap<StreamTask<S>>,
    /// The streams to poll this round (kept: no allocation per round).
    ids: Vec<StreamId>,
    /// Promises made by services ([`Push`]).
    push_tx: mpsc::UnboundedSender<Pushed>,
    push_rx: mpsc::UnboundedReceiver<Pushed>,
    /// Requests waiting for the service to be ready.
    waiting: VecDeque<(StreamId, Request<Body>)>,
    read_eof: bool,
    /// When the graceful shutdown began.
    draining_since: Option<Instant>,
    drain_entry: Option<u64>,
    /// A connection error was sent: write it, then close.
    failed: bool,
    timer: Pin<Box<Sleep>>,
    last_activity: Instant,
    write_stalled: Option<Instant>,
    /// The time at the start of this polling round.
    now: Instant,
}

impl<T, S> Driver<T, S>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // One clock read per round, for every request it handles.
            self.now = Instant::now();
            let mut progress = false;
            if self.drain_entry.is_none() {
                self.drain_entry = Some(self.shared.register_drain_waker(cx.waker()));
            }
            if self.shared.stopped.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if self.draining_since.is_none() && self.shared.draining.load(Ordering::Acquire) {
                self.draining_since = Some(Instant::now());
                self.conn.shutdown();
                progress = true;
            }
            progress |= self.poll_events(cx);
            progress |= self.poll_pushes(cx);
            progress |= self.poll_waiting(cx);
            progress |= self.poll_streams(cx);
            self.wire.transmit(&mut self.conn);
            match self.poll_write(cx) {
                Ok(p) => progress |= p,
                Err(()) => return Poll::Ready(()),
            }
            let all_written = self.wire.all_written();
            if all_written && (self.failed || self.conn.is_closed()) {
                return Poll::Ready(());
            }
            if self.read_eof && all_written && self.streams.is_empty() {
                return Poll::Ready(());
            }
            match self.poll_read(cx) {
                Ok(p) => progress |= p,
                Err(()) => return Poll::Ready(()),
            }
            if progress {
                continue;
            }
            match self.poll_timer(cx) {
                Timer::Quiet => return Poll::Pending,
                Timer::Fired => continue,
                Timer::Abort => return Poll::Ready(()),
            }
        }
    }

    fn poll_events(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some(event) = self.conn.poll_event() {
            progress = true;
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => self.request(stream, head, end_stream, cx),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let n = data.len();
                    match self.streams.get_mut(&stream) {
                        Some(s) if s.request_body.is_some() && !s.request_done => {
                            s.credit.delivered(n);
                            s.last_data = self.now;
                            let tx = s.request_body.as_ref().expect("checked");
                            tx.send_data(data);
                            if end_stream {
                                tx.finish(None);
                                s.request_done = true;
                                if s.sent_end {
                                    self.finish(stream);
                                }
                            }
                        }
                        // Nobody reads it: give the window back at once.
                        _ => self.conn.release_capacity(stream, n),
                    }
                }
                Event::Trailers { stream, trailers } => {
                    if let Some(s) = self.streams.get_mut(&stream)
                        && !s.request_done
                        && let Some(tx) = &s.request_body
                    {
                        tx.finish(Some(trailers));
                        s.request_done = true;
                        if s.sent_end {
                            self.finish(stream);
                        }
                    }
                }
                Event::Reset { stream, .. } => {
                    self.waiting.retain(|(id, _)| *id != stream);
                    if let Some(s) = self.remove_stream(stream)
                        && !s.request_done
                        && let Some(tx) = s.request_body
                    {
                        tx.fail(crate::Error::closed("the client reset the stream"));
                    }
                }
                _ => {}
            }
        }
        progress
    }

    fn request(
        &mut self,
        stream: StreamId,
        head: http::request::Parts,
        end_stream: bool,
        cx: &mut Context<'_>,
    ) {
        self.last_activity = self.now;
        let method = head.method.clone();
        let (mut body, request_body) = if end_stream {
            (Body::empty(), None)
        } else {
            let length = head
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            let (tx, rx) = body::pipe(self.shared.config.body_buffer, length);
            (Body::pipe(rx), Some(tx))
        };
        // A CONNECT (a tunnel, or an extended CONNECT such as WebSocket):
        // its data is for whoever takes the stream over, not a body.
        let mut on_upgrade = None;
        let upgrade = (method == Method::CONNECT).then(|| {
            let (tx, on) = OnUpgrade::pair();
            on_upgrade = Some(on);
            Tunnel {
                on_upgrade: tx,
                recv: std::mem::take(&mut body),
            }
        });
        let push = self.conn.peer_enables_push().then(|| Push {
            stream,
            authority: head.uri.authority().cloned(),
            scheme: head.uri.scheme().cloned(),
            tx: self.push_tx.clone(),
        });
        let mut req = Request::from_parts(head, body);
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(ClientAddr(peer));
        }
        if let Some(push) = push {
            req.extensions_mut().insert(push);
        }
        if let Some(on) = on_upgrade {
            req.extensions_mut().insert(on);
        }
        self.streams.insert(
            stream,
            StreamTask {
                started: self.now,
                method,
                future: None,
                body: None,
                unsent: Bytes::new(),
                body_done: false,
                status: None,
                request_body,
                request_done: false,
                credit: Credit::default(),
                last_data: self.now,
                upgrade,
                sent_end: false,
            },
        );
        // Straight to a ready service when nobody waits before it (the
        // request is not moved through the queue).
        if self.waiting.is_empty() {
            match self.service.poll_ready(cx) {
                Poll::Pending => {}
                Poll::Ready(Err(e)) => return self.not_ready(stream, e.into()),
                Poll::Ready(Ok(())) => return self.call(stream, req),
            }
        }
        self.waiting.push_back((stream, req));
    }

    /// Hands waiting requests to the service as it becomes ready.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Some((stream, _)) = self.waiting.front() {
            let stream = *stream;
            match self.service.poll_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(e)) => {
                    self.waiting.pop_front();
                    self.not_ready(stream, e.into());
                }
                Poll::Ready(Ok(())) => {
                    let (_, req) = self.waiting.pop_front().expect("just seen");
                    self.call(stream, req);
                }
            }
            progress = true;
        }
        progress
    }

    /// The service (ready) takes the request.
    fn call(&mut self, stream: StreamId, mut req: Request<Body>) {
        let trace_id = crate::http::trace::extract(&mut req);
        let span = tracing::debug_span!(
            "http.request",
            otel.kind = "server",
            method = %req.method(),
            target = %req.uri(),
            stream,
            trace_id = trace_id.as_deref()
        );
        let fut = self.service.call(req).instrument(span);
        if let Some(s) = self.streams.get_mut(&stream) {
            s.future = Some(Box::pin(fut));
        }
    }

    fn not_ready(&mut self, stream: StreamId, e: super::BoxError) {
        tracing::warn!(error = %e, "service not ready");
        self.answer(stream, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// A bare status for a request the service could not take.
    fn answer(&mut self, stream: StreamId, status: StatusCode) {
        let mut head = Response::new(()).into_parts().0;
        head.status = status;
        head.headers.insert(DATE, date::now());
        let _ = self.conn.send_response(stream, &head, true);
        if let Some(s) = self.remove_stream(stream) {
            stats::request_done(status, Some(self.now.saturating_duration_since(s.started)));
        }
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
        // A tunnel we ended whose reader is gone: nothing is left to do.
        if s.sent_end
            && s.request_body
                .as_ref()
                .is_some_and(|tx| tx.poll_abandoned(cx))
        {
            self.conn.reset(id, ErrorCode::NO_ERROR);
            if let Some(s) = self.remove_stream(id)
                && let Some(status) = s.status
            {
                stats::request_done(status, Some(self.now.saturating_duration_since(s.started)));
            }
            return true;
        }
        // Give back to flow control what the application took of the
        // request body.
        if let Some(tx) = &s.request_body {
            if !s.request_done {
                // Woken when the service first asks for the body: its
                // read timeout starts then.
                let _ = tx.poll_wanted(cx);
            }
            let taken = s.credit.take_consumed(tx.poll_queued(cx));
            if taken > 0 {
                self.conn.release_capacity(id, taken);
                progress = true;
            }
        }
        if let Some(fut) = &mut s.future {
            let Poll::Ready(result) = fut.as_mut().poll(cx) else {
                return progress;
            };
            s.future = None;
            progress = true;
            let response = match result {
                Ok(response) => response,
                Err(e) => {
                    let e: super::BoxError = e.into();
                    tracing::warn!(error = %e, "service failed");
                    self.answer(id, StatusCode::INTERNAL_SERVER_ERROR);
                    return true;
                }
            };
            // Promises made while the service ran go out before its
            // response can end the stream.
            self.poll_pushes(cx);
            let Some(s) = self.streams.get_mut(&id) else {
                return true;
            };
            let (mut head, body) = response.into_parts();
            if !head.headers.contains_key(DATE) {
                head.headers.insert(DATE, date::now());
            }
            if let Some(tunnel) = s.upgrade.take()
                && head.status.is_success()
            {
                // The stream is the service's now: its writes are our
                // DATA, the client's DATA its reads.
                head.headers.remove(CONTENT_LENGTH);
                s.status = Some(head.status);
                if self.conn.send_response(id, &head, false).is_err() {
                    self.remove_stream(id);
                    return true;
                }
                let (tx, rx) = body::pipe(self.shared.config.body_buffer, None);
                s.body = Some(ResBody::Own(Box::pin(Body::pipe(rx))));
                let _ = tunnel
                    .on_upgrade
                    .send(crate::http::upgrade::h2_stream(tunnel.recv, tx));
                return true;
            }
            let bodiless = s.method == Method::HEAD
                || head.status == StatusCode::NO_CONTENT
                || head.status == StatusCode::NOT_MODIFIED;
            if !bodiless
                && !head.headers.contains_key(CONTENT_LENGTH)
                && let Some(n) = body.size_hint().exact()
            {
                head.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
            }
            let end = bodiless || body.is_end_stream();
            s.status = Some(head.status);
            if self.conn.send_response(id, &head, end).is_err() {
                self.remove_stream(id);
                return true;
            }
            if end {
                self.finish(id);
                return true;
            }
            s.body = Some(ResBody::Service(Box::pin(body)));
        }
        // The response body, as flow control and the write buffer allow.
        loop {
            let Some(s) = self.streams.get_mut(&id) else {
                return progress;
            };
            if s.body.is_none() && !s.body_done {
                return progress;
            }
            if !s.unsent.is_empty() || s.body_done {
                let sent = match self.conn.send_data(id, &s.unsent, s.body_done) {
                    Ok(n) => n,
                    Err(_) => {
                        self.remove_stream(id);
                        return true;
                    }
                };
                s.unsent.advance(sent);
                progress |= sent > 0;
                if !s.unsent.is_empty() {
                    // Waiting for SendReady.
                    return progress;
                }
                if s.body_done {
                    self.finish(id);
                    return true;
                }
            }
            if self.wire.backlog(&self.conn) > HIGH_WATER {
                return progress;
            }
            let Some(body) = s.body.as_mut() else {
                return progress;
            };
            match body.poll_frame(cx) {
                Poll::Pending => return progress,
                Poll::Ready(None) => {
                    s.body = None;
                    s.body_done = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "response body failed");
                    self.conn.reset(id, ErrorCode::INTERNAL_ERROR);
                    self.remove_stream(id);
                    return true;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        s.unsent = data;
                        s.body_done = body.is_end_stream();
                        if s.body_done {
                            s.body = None;
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = self.conn.send_trailers(id, &trailers);
                            self.finish(id);
                            return true;
                        }
                    }
                },
            }
            progress = true;
        }
    }

    /// Promises the services made: PUSH_PROMISE on their request's
    /// stream, then the response on the promised one.
    fn poll_pushes(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some(p)) = self.push_rx.poll_recv(cx) {
            progress = true;
            let promised = match self.conn.push_promise(p.stream, &p.request) {
                Ok(promised) => promised,
                Err(e) => {
                    tracing::debug!(error = %e, "push not sent");
                    continue;
                }
            };
            let (mut head, body) = p.response.into_parts();
            if !head.headers.contains_key(DATE) {
                head.headers.insert(DATE, date::now());
            }
            if !head.headers.contains_key(CONTENT_LENGTH)
                && let Some(n) = body.size_hint().exact()
            {
                head.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
            }
            let end = body.is_end_stream() || p.request.method == Method::HEAD;
            if self.conn.send_response(promised, &head, end).is_err() || end {
                continue;
            }
            self.streams.insert(
                promised,
                StreamTask {
                    started: Instant::now(),
                    method: p.request.method,
                    future: None,
                    body: Some(ResBody::Own(Box::pin(body))),
                    unsent: Bytes::new(),
                    body_done: false,
                    status: Some(head.status),
                    request_body: None,
                    request_done: true,
                    credit: Credit::default(),
                    last_data: self.now,
                    upgrade: None,
                    sent_end: false,
                },
            );
        }
        progress
    }

    /// The response is complete: count it; a request body still coming is
    /// not wanted any more (RST_STREAM NO_ERROR, RFC 9113 §8.1).
    fn finish(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(&id)
            && s.request_body.is_some()
            && !s.request_done
            && s.status.is_some_and(|st| st.is_success())
            && s.method == Method::CONNECT
        {
            // A tunnel we half-closed: the client's side goes on.
            s.sent_end = true;
            s.body = None;
            s.body_done = false;
            return;
        }
        let Some(s) = self.remove_stream(id) else {
            return;
        };
        if let Some(status) = s.status {
            stats::request_done(status, Some(self.now.saturating_duration_since(s.started)));
        }
        if s.request_body.is_some() && !s.request_done {
            self.conn.reset(id, ErrorCode::NO_ERROR);
        }
        self.last_activity = self.now;
    }

    /// Forgets a stream; the request data still unread in its pipe is given
    /// back to the connection's flow control (the peer's window must not
    /// shrink for good).
    fn remove_stream(&mut self, id: StreamId) -> Option<StreamTask<S>> {
        let mut s = self.streams.remove(&id)?;
        let rest = s.credit.take_rest();
        if rest > 0 {
            self.conn.release_capacity(id, rest);
        }
        Some(s)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, ()> {
        let written = self.wire.poll_write(cx).map_err(|_| ())?;
        if written.blocked {
            self.write_stalled.get_or_insert(self.now);
        } else if written.progress {
            self.write_stalled = None;
        }
        Ok(written.progress)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, ()> {
        if self.read_eof || self.failed {
            return Ok(false);
        }
        match self.wire.poll_read(&mut self.conn, cx).map_err(|_| ())? {
            Read::Nothing => Ok(false),
            Read::Eof => {
                self.read_eof = true;
                // Nobody will read the answers of what is left.
                for (_, s) in self.streams.drain() {
                    if let Some(tx) = s.request_body {
                        tx.fail(crate::Error::closed("the client closed the connection"));
                    }
                }
                self.waiting.clear();
                Ok(true)
            }
            Read::Fed(result) => {
                self.last_activity = self.now;
                if let Err(e) = result {
                    connection_error(e);
                    self.failed = true;
                }
                Ok(true)
            }
        }
    }

    /// The idle timeout (no stream open), the write timeout, and the
    /// wait for the drain PING's answer.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Timer {
        let config = &self.shared.config;
        // A client that does not answer the drain PING gets the final
        // GOAWAY anyway after a second.
        let drain = self
            .draining_since
            .filter(|_| self.conn.is_shutdown_pending())
            .map(|since| since + DRAIN_PING_WAIT);
        let idle = config
            .idle_timeout
            .filter(|_| self.streams.is_empty() && self.conn.open_streams() == 0)
            .map(|t| self.last_activity + t);
        let write = self
            .write_stalled
            .zip(config.write_timeout)
            .map(|(since, t)| since + t);
        // A request body the service waits for and the client does not
        // send (tunnels excepted: they may be quiet for long).
        let body = config.body_read_timeout.and_then(|t| {
            self.streams
                .values()
                .filter(|s| awaits_body(s))
                .map(|s| s.last_data + t)
                .min()
        });
        let Some(deadline) = [idle, write, drain, body].into_iter().flatten().min() else {
            return Timer::Quiet;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Timer::Quiet;
        }
        let now = Instant::now();
        if write.is_some_and(|d| d <= now) {
            tracing::debug!("write timeout");
            return Timer::Abort;
        }
        if drain.is_some_and(|d| d <= now) {
            self.conn.finish_shutdown();
            return Timer::Fired;
        }
        if let Some(t) = config.body_read_timeout
            && body.is_some_and(|d| d <= now)
        {
            let late: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, s)| awaits_body(s) && s.last_data + t <= now)
                .map(|(id, _)| *id)
                .collect();
            for id in late {
                tracing::debug!(stream = id, "body read timeout");
                metrics::counter!("tetsuo_server_timeouts_total", "kind" => "body").increment(1);
                self.conn.reset(id, ErrorCode::CANCEL);
                if let Some(s) = self.remove_stream(id)
                    && let Some(tx) = s.request_body
                {
                    tx.fail(
                        crate::Error::new(crate::ErrorKind::Timeout, "read a request body")
                            .with_detail(format!("nothing arrived for {t:?}")),
                    );
                }
            }
            return Timer::Fired;
        }
        if idle.is_some_and(|d| d <= now) {
            tracing::debug!("idle timeout");
            self.conn.abort(ErrorCode::NO_ERROR);
            self.failed = true;
            return Timer::Fired;
        }
        Timer::Quiet
    }
}

/// The stream's service waits for request data the client has not sent:
/// all that arrived was read, and more is due (not a tunnel).
fn awaits_body<S: HttpService>(s: &StreamTask<S>) -> bool {
    s.request_body
        .as_ref()
        .is_some_and(|tx| tx.is_wanted() && !tx.is_abandoned())
        && !s.request_done
        && s.credit.settled()
        && s.method != Method::CONNECT
}

/// A connection error we answered with GOAWAY: logged and counted by code
/// and reason (floods show as ENHANCE_YOUR_CALM).
fn connection_error(e: h2::Error) {
    tracing::debug!(error = %e, "HTTP/2 connection error");
    metrics::counter!(
        "tetsuo_http2_connection_errors_total",
        "code" => e.code.name().unwrap_or("unknown"),
        "reason" => e.reason
    )
    .increment(1);
}

enum Timer {
    Quiet,
    Fired,
    Abort,
}
