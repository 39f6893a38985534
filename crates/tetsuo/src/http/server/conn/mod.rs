//! One server connection: bytes between the socket and `h1::Connection`,
//! requests to the service, responses back, and the timers that keep slow
//! clients from holding the server.
//!
//! The driver is a single `poll` loop over: the drain signal, the protocol
//! machine's events, the service's future, the response body, `100
//! Continue`, writing, the upgrade hand-off, reading, and the timers. It
//! reads only when the protocol machine and the request-body pipe can take
//! more (backpressure), and asks the response body for more only while
//! little is waiting to be written.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use tetsuo_proto::h1::{
    Connection, EncodeError, Event, Framing, RequestHead, ResponseExtras, request_framing,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use tracing::Instrument;

use super::{ClientAddr, HttpService, Shared, stats};
use crate::http::body::{self, Body, PipeSender};
use crate::http::date;
use crate::http::upgrade::{OnUpgrade, Upgraded};

/// Response bytes waiting to be written past which the response body is
/// not polled for more.
const HIGH_WATER: usize = 64 * 1024;

/// The connection's protocol machine, made if it was released.
macro_rules! conn {
    ($driver:ident) => {
        $driver.conn.get_or_insert_with(|| {
            Box::new(tetsuo_proto::h1::Connection::new(
                tetsuo_proto::h1::Side::Server,
                $driver.shared.config.limits.clone(),
            ))
        })
    };
}

mod io;
mod timers;

/// How a connection ends.
enum End {
    /// Everything was written: close gracefully.
    Close,
    /// Something broke: drop the socket.
    Abort,
    /// The socket went to the application.
    Upgraded,
    /// The client spoke HTTP/2 with prior knowledge: hand the socket and
    /// what was read over to the HTTP/2 driver.
    Http2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    Idle,
    Header,
    Body,
}

enum ResponseState {
    /// The service's future (in `Driver::service_future`) is running.
    Waiting,
    /// The body (in `Exchange::body`) is being sent.
    Body,
    Done,
}

/// The request being answered.
struct Exchange<S: HttpService> {
    started: Instant,
    method: Method,
    body_tx: Option<PipeSender>,
    /// `100 Continue` is still to be sent when the service reads the body.
    expect_continue: bool,
    response: ResponseState,
    /// The response body while it is sent; the box outlives it, serving
    /// the next response of the connection.
    body: Option<Pin<Box<Option<S::ResBody>>>>,
    upgrade_tx: Option<oneshot::Sender<Upgraded>>,
    /// Answer with `Connection: close`.
    close: bool,
    status: Option<StatusCode>,
    /// Body-read progress: the current window's start and bytes.
    window_start: Instant,
    window_bytes: u64,
    last_body_byte: Instant,
}

pub(super) struct Driver<T, S: HttpService> {
    shared: Arc<Shared>,
    io: Option<T>,
    /// The protocol machine; dropped while the connection idles (see
    /// `release_buffers`) and made again for the next request.
    conn: Option<Box<Connection>>,
    service: S,
    peer: Option<SocketAddr>,
    /// This connection's entry in the drain wake-up list, once registered.
    drain_entry: Option<u64>,
    draining: bool,
    /// Input read but not yet taken by the protocol machine.
    pending_input: BytesMut,
    read_eof: bool,
    /// The protocol machine failed; its error answer is queued.
    failed: bool,
    write_buf: Vec<u8>,
    written: usize,
    flushed: bool,
    /// A request head the service was not ready for yet.
    /// Boxed: rare (a service applying backpressure), and a head is big to
    /// keep inline in every connection.
    waiting_head: Option<Box<RequestHead>>,
    /// Out of line (idle connections do not carry it); the box is kept in
    /// `spare` between requests and refilled.
    exchange: Option<Box<Exchange<S>>>,
    spare: Option<Box<Exchange<S>>>,
    /// The service's future for the current request. The box is kept and
    /// refilled (`Pin::set`) for the next request: no allocation each time.
    service_future: Option<Pin<Box<tracing::instrument::Instrumented<S::Fut>>>>,
    served: u64,
    /// Bytes of the next head have arrived (since this instant).
    head_started: Option<Instant>,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
    /// When `timer` is set to fire, if armed. Deadlines that move later
    /// leave it armed (it fires early and is re-armed): resetting a tokio
    /// timer on every request costs more than that.
    armed: Option<Instant>,
    /// A write is stalled; the connection is dropped if it still is then.
    write_deadline: Option<Instant>,
    /// Idle buffers were given back (see `RELEASE_AFTER`).
    released: bool,
    /// The protocol switched; these bytes belong to the new protocol.
    upgraded: Option<Bytes>,
    /// Close once everything is written (after a timeout's answer).
    close_when_flushed: bool,
    bytes_in: u64,
    bytes_out: u64,
}

impl<T, S> Driver<T, S>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    pub(super) fn new(
        io: T,
        service: S,
        peer: Option<SocketAddr>,
        shared: Arc<Shared>,
    ) -> Driver<T, S> {
        let now = Instant::now();
        Driver {
            shared,
            io: Some(io),
            conn: None,
            service,
            peer,
            drain_entry: None,
            draining: false,
            pending_input: BytesMut::new(),
            read_eof: false,
            failed: false,
            write_buf: Vec::new(),
            written: 0,
            flushed: true,
            waiting_head: None,
            exchange: None,
            spare: None,
            service_future: None,
            served: 0,
            head_started: None,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now)),
            armed: None,
            write_deadline: None,
            released: false,
            upgraded: None,
            close_when_flushed: false,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Serves the connection to its end; if the client turns out to speak
    /// HTTP/2 (prior knowledge), returns the socket, the bytes read and
    /// the service for the HTTP/2 driver.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold the driver twice (see the comment)"
    )]
    pub(super) fn run(mut self) -> impl Future<Output = Option<(T, Bytes, S)>> {
        // An async block, not an async fn: its captured `self` is used in
        // place, where an async fn's argument would be copied into a second
        // slot of the task (rust-lang/rust#62958) — a kilobyte per
        // connection.
        async move {
            let end = poll_fn(|cx| self.poll(cx)).await;
            if let End::Http2 = end {
                let prefix = self.pending_input.split().freeze();
                return self.io.take().map(|io| (io, prefix, self.service.clone()));
            }
            metrics::counter!("tetsuo_server_bytes_received_total").increment(self.bytes_in);
            metrics::counter!("tetsuo_server_bytes_sent_total").increment(self.bytes_out);
            if let (End::Close, Some(io)) = (end, self.io.take()) {
                // Boxed: the closing steps would otherwise add their state
                // to every connection's task for its whole life.
                Box::pin(io::close(io, !self.read_eof)).await;
            }
            None
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        loop {
            let mut progress = false;

            // The task's waker is registered once for the drain's wake-up;
            // the flag is checked after registering, so no drain is missed.
            if self.drain_entry.is_none() {
                self.drain_entry = Some(self.shared.register_drain_waker(cx.waker()));
            }
            if self.shared.stopped.load(Ordering::Acquire) {
                return Poll::Ready(End::Abort);
            }
            if !self.draining && self.shared.draining.load(Ordering::Acquire) {
                self.draining = true;
                if let Some(ex) = &mut self.exchange {
                    ex.close = true;
                }
                progress = true;
            }
            // Idle between requests: closed at once. A connection that has
            // not sent its first request yet (accepted just before the
            // drain, as in a hand-over to a new process) gets to send it:
            // the client could not tell a close from a failure. The header
            // timeout bounds the wait.
            if self.draining && self.is_idle() && self.served > 0 {
                return Poll::Ready(End::Close);
            }

            progress |= self.poll_events(cx);
            match self.poll_service(cx) {
                Ok(p) => progress |= p,
                Err(end) => return Poll::Ready(end),
            }
            match self.poll_response_body(cx) {
                Ok(p) => progress |= p,
                Err(end) => return Poll::Ready(end),
            }
            progress |= self.poll_continue(cx);

            if let Some(conn) = &mut self.conn {
                conn.poll_transmit(&mut self.write_buf);
            }
            match self.poll_write(cx) {
                Ok(p) => progress |= p,
                Err(end) => return Poll::Ready(end),
            }

            if self.upgraded.is_some() && self.all_written() {
                return Poll::Ready(self.hand_over());
            }

            match self.poll_read(cx) {
                Ok(p) => progress |= p,
                Err(end) => return Poll::Ready(end),
            }

            if self.finished() {
                // The machine's last words (an error's answer) go out first.
                let more = match &mut self.conn {
                    Some(conn) => conn.poll_transmit(&mut self.write_buf),
                    None => 0,
                };
                if more > 0 {
                    progress = true;
                } else if self.all_written() {
                    return Poll::Ready(End::Close);
                }
            }

            if progress {
                continue;
            }
            // Timers only once nothing else moves: polling a tokio timer
            // registers the waker again, which costs on every round.
            match self.poll_timers(cx) {
                Ok(true) => {}
                Ok(false) => return Poll::Pending,
                Err(end) => return Poll::Ready(end),
            }
        }
    }

    /// Nothing in progress: no request, no head bytes, nothing to write.
    fn is_idle(&self) -> bool {
        self.exchange.is_none()
            && self.waiting_head.is_none()
            && self.head_started.is_none()
            && self.pending_input.is_empty()
            && self.all_written()
    }

    fn all_written(&self) -> bool {
        self.written >= self.write_buf.len() && self.flushed
    }

    /// The connection has nothing more to do once what is queued is written.
    fn finished(&self) -> bool {
        if self.exchange.is_some() || self.waiting_head.is_some() {
            return false;
        }
        // After the client's end of stream the machine still answers what
        // was pipelined before it, and says `wants_close` once done.
        self.close_when_flushed
            || self.failed
            || match &self.conn {
                Some(c) => c.wants_close(),
                None => self.read_eof && self.pending_input.is_empty(),
            }
    }

    /// Takes the protocol machine's events.
    fn poll_events(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            if let Some(head) = self.waiting_head.take() {
                if !self.offer(*head, cx) {
                    return progress;
                }
                progress = true;
                continue;
            }
            let Some(event) = self.conn.as_mut().and_then(|c| c.poll_event()) else {
                return progress;
            };
            progress = true;
            if self.failed {
                // The machine rejected the input and queued its answer: a
                // request parsed before the error is not served.
                continue;
            }
            match event {
                Event::Request(head) => {
                    self.head_started = None;
                    if !self.offer(head, cx) {
                        return progress;
                    }
                }
                Event::Data(data) => {
                    if let Some(ex) = &mut self.exchange {
                        ex.window_bytes += data.len() as u64;
                        ex.last_body_byte = Instant::now();
                        if let Some(tx) = &ex.body_tx {
                            tx.send_data(data);
                        }
                    }
                }
                Event::End(trailers) => {
                    if let Some(tx) = self.exchange.as_mut().and_then(|ex| ex.body_tx.take()) {
                        tx.finish(trailers);
                    }
                }
                Event::Upgraded(rest) => self.upgraded = Some(rest),
                Event::Closed => self.read_eof = true,
                // Responses only reach clients; later events are new.
                _ => {}
            }
        }
    }

    /// Hands a request to the service once it is ready; false (the head
    /// kept for later) while it is not.
    fn offer(&mut self, head: RequestHead, cx: &mut Context<'_>) -> bool {
        match self.service.poll_ready(cx) {
            Poll::Pending => {
                self.waiting_head = Some(Box::new(head));
                return false;
            }
            Poll::Ready(Ok(())) => self.start_exchange(head),
            Poll::Ready(Err(e)) => {
                let e: super::BoxError = e.into();
                tracing::warn!(error = %e, "service not ready");
                self.answer_error(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        true
    }

    fn start_exchange(&mut self, head: RequestHead) {
        let now = Instant::now();
        let method = head.method();
        let framing = request_framing(head.head());
        let expect_continue = head.head().expects_continue() && framing != Framing::Empty;
        let switching = head.head().wants_upgrade() || method == Method::CONNECT;
        let parts = head.to_parts();
        conn!(self).recycle(head);
        let Ok(parts) = parts else {
            // A target the `http` crate cannot represent.
            self.answer_error(StatusCode::BAD_REQUEST);
            return;
        };
        let (body, body_tx) = match framing {
            Framing::Empty => (Body::empty(), None),
            framing => {
                let length = match framing {
                    Framing::Length(n) => Some(n),
                    _ => None,
                };
                let (tx, rx) = body::pipe(self.shared.config.body_buffer, length);
                (Body::pipe(rx), Some(tx))
            }
        };
        let mut req = Request::from_parts(parts, body);
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(ClientAddr(peer));
        }
        let upgrade_tx = switching.then(|| {
            let (tx, on_upgrade) = OnUpgrade::pair();
            req.extensions_mut().insert(on_upgrade);
            tx
        });
        let max = self.shared.config.max_requests_per_connection;
        let close = self.draining || (max != 0 && self.served + 1 >= max);
        let trace_id = crate::http::trace::extract(&mut req);
        let span = tracing::debug_span!(
            "http.request",
            otel.kind = "server",
            method = %method,
            target = %req.uri(),
            trace_id = trace_id.as_deref()
        );
        let fut = self.service.call(req).instrument(span);
        match &mut self.service_future {
            Some(boxed) => boxed.as_mut().set(fut),
            None => self.service_future = Some(Box::pin(fut)),
        }
        let exchange = Exchange {
            started: now,
            method,
            body_tx,
            expect_continue,
            response: ResponseState::Waiting,
            body: None,
            upgrade_tx,
            close,
            status: None,
            window_start: now,
            window_bytes: 0,
            last_body_byte: now,
        };
        self.exchange = Some(match self.spare.take() {
            Some(mut boxed) => {
                let body = boxed.body.take();
                *boxed = exchange;
                boxed.body = body;
                boxed
            }
            None => Box::new(exchange),
        });
    }

    /// Answers the current request (whose service never ran or failed)
    /// with a bare status and `Connection: close`.
    fn answer_error(&mut self, status: StatusCode) {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        headers.insert(DATE, date::now());
        if conn!(self).send_response(status, &headers).is_err() {
            self.failed = true;
        }
        self.close_when_flushed = true;
        stats::request_done(status, None);
        if self
            .exchange
            .as_ref()
            .is_some_and(|ex| matches!(ex.response, ResponseState::Waiting))
        {
            // The service never answered: cancel it now, not at the next
            // request.
            self.service_future = None;
        }
        self.exchange = None;
    }

    fn poll_service(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        let Some(ex) = &mut self.exchange else {
            return Ok(false);
        };
        let (ResponseState::Waiting, Some(fut)) = (&ex.response, &mut self.service_future) else {
            return Ok(false);
        };
        let res = match fut.as_mut().poll(cx) {
            Poll::Pending => return Ok(false),
            Poll::Ready(Ok(res)) => res,
            Poll::Ready(Err(e)) => {
                let e: super::BoxError = e.into();
                tracing::warn!(error = %e, "service failed");
                self.answer_error(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(true);
            }
        };
        self.send_head(res)?;
        Ok(true)
    }

    fn send_head(&mut self, res: Response<S::ResBody>) -> Result<(), End> {
        let Some(ex) = &mut self.exchange else {
            return Ok(());
        };
        let (mut parts, body) = res.into_parts();
        let status = parts.status;
        let headers = &mut parts.headers;
        // A drain that started while the service ran.
        if ex.close || self.shared.draining.load(Ordering::Acquire) {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let bodiless = ex.method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || (ex.method == Method::CONNECT && status.is_success());
        // `Date` and `Content-Length` are written straight into the head
        // (unless the service set them), not inserted into the map.
        let date = date::now();
        let extras = ResponseExtras {
            // HEAD: the length the GET would have (the service's body is
            // not sent).
            length: if bodiless && ex.method != Method::HEAD {
                None
            } else {
                body.size_hint().exact()
            },
            date: Some(date.as_bytes()),
        };
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            // One response per call: an interim status cannot be the answer.
            tracing::warn!(%status, "service answered with an interim status");
            self.answer_error(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(());
        }
        // The head goes out now: no `100 Continue` after it.
        ex.expect_continue = false;
        ex.status = Some(status);
        if let Err(e) = conn!(self).send_response_with(status, headers, &extras) {
            tracing::warn!(error = %e, %status, "response refused by the HTTP/1.1 encoder");
            self.answer_error(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(());
        }
        let switching = status == StatusCode::SWITCHING_PROTOCOLS
            || (ex.method == Method::CONNECT && status.is_success());
        if switching {
            // The upgrade hand-off happens once the head is written.
            ex.response = ResponseState::Done;
        } else if bodiless || body.is_end_stream() {
            ex.response = ResponseState::Done;
            // A declared-empty body already ended the message.
            end_message(conn!(self), None).map_err(|_| End::Abort)?;
            self.finish_exchange();
        } else {
            match &mut ex.body {
                Some(slot) => slot.as_mut().set(Some(body)),
                None => ex.body = Some(Box::pin(Some(body))),
            }
            ex.response = ResponseState::Body;
        }
        Ok(())
    }

    fn poll_response_body(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        let mut progress = false;
        loop {
            if self.write_buf.len() - self.written >= HIGH_WATER {
                return Ok(progress);
            }
            let Some(ex) = &mut self.exchange else {
                return Ok(progress);
            };
            let (ResponseState::Body, Some(slot)) = (&ex.response, &mut ex.body) else {
                return Ok(progress);
            };
            let Some(body) = slot.as_mut().as_pin_mut() else {
                return Ok(progress);
            };
            let frame = match body.poll_frame(cx) {
                Poll::Pending => return Ok(progress),
                Poll::Ready(frame) => frame,
            };
            progress = true;
            match frame {
                None => {
                    end_message(conn!(self), None).map_err(|_| End::Abort)?;
                    self.finish_exchange();
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let data: Bytes = data.into();
                        if let Err(e) = conn!(self).send_data(&data) {
                            tracing::warn!(error = %e, "response body does not match its framing");
                            return Err(End::Abort);
                        }
                        conn!(self).poll_transmit(&mut self.write_buf);
                    }
                    Err(frame) => {
                        let trailers = frame.into_trailers().ok();
                        end_message(conn!(self), trailers.as_ref()).map_err(|_| End::Abort)?;
                        self.finish_exchange();
                    }
                },
                Some(Err(e)) => {
                    let e: super::BoxError = e.into();
                    tracing::warn!(error = %e, "response body failed; closing");
                    return Err(End::Abort);
                }
            }
        }
    }

    /// The response is complete.
    fn finish_exchange(&mut self) {
        if let Some(mut ex) = self.exchange.take() {
            let status = ex.status.unwrap_or(StatusCode::OK);
            stats::request_done(status, Some(ex.started.elapsed()));
            // The exchange is over: a service still reading the body sees
            // it end early, and whatever more arrives is discarded.
            ex.body_tx = None;
            ex.upgrade_tx = None;
            ex.response = ResponseState::Done;
            if let Some(slot) = &mut ex.body {
                slot.as_mut().set(None);
            }
            self.spare = Some(ex);
        }
        self.served += 1;
        self.last_activity = Instant::now();
        // Part of a pipelined head may already be buffered: the header
        // timeout runs for it from now.
        if self.conn.as_ref().is_some_and(|c| c.buffered() > 0) && self.head_started.is_none() {
            self.head_started = Some(self.last_activity);
        }
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(ex) = &mut self.exchange else {
            return false;
        };
        if !ex.expect_continue {
            return false;
        }
        let Some(tx) = &ex.body_tx else {
            return false;
        };
        if !tx.poll_wanted(cx) {
            return false;
        }
        ex.expect_continue = false;
        // Only possible before the final head, which is where we are.
        let _ = conn!(self).send_response(StatusCode::CONTINUE, &HeaderMap::new());
        true
    }
}

impl<T, S: HttpService> Drop for Driver<T, S> {
    fn drop(&mut self) {
        if let Some(id) = self.drain_entry {
            self.shared.unregister_drain_waker(id);
        }
    }
}

/// Ends the outgoing message; a message its head already ended (an empty
/// or bodiless response) is fine.
fn end_message(conn: &mut Connection, trailers: Option<&HeaderMap>) -> Result<(), EncodeError> {
    match conn.send_end(trailers) {
        Ok(()) | Err(EncodeError::WrongState) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "response body ended early");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hello(_: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
        Ok(Response::new(Body::empty()))
    }

    /// Each connection's task holds this future for the connection's life:
    /// its size is most of an idle connection's memory (docs/benchmarks-detail.md).
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let server = super::super::Server::builder().build();
        let (io, _peer) = tokio::io::duplex(64);
        let driver = Driver::new(
            io,
            crate::http::service_fn(hello),
            None,
            server.shared.clone(),
        );
        let run = driver.run();
        let size = size_of_val(&run);
        assert!(size <= 800, "the connection future grew to {size} bytes");
    }
}
