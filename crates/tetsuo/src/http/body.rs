//! [`Body`]: the one body type of tetsuo's HTTP server and client.
//!
//! A body is empty, a buffer held whole, any other [`http_body::Body`]
//! boxed, or bytes arriving from a connection through a bounded pipe. The
//! pipe is how backpressure reaches the socket: the connection reads more
//! only while the pipe has room, and room appears as the application
//! consumes frames.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use sync_wrapper::SyncWrapper;

use crate::Error;

/// Boxed error of bodies and services handed to tetsuo.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP message body: request bodies handed to services, response bodies
/// read by the client, and a convenient body to answer with.
///
/// It implements [`http_body::Body`] with `Bytes` data, so the
/// `http-body-util` combinators (`collect`, `Limited`, ...) apply.
///
/// ```
/// use http_body_util::BodyExt;
/// use tetsuo::http::Body;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let body = Body::from("hello");
/// let bytes = body.collect().await.unwrap().to_bytes();
/// assert_eq!(&bytes[..], b"hello");
/// # }
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Pipe(PipeReceiver),
    /// Any other body. `SyncWrapper` makes `Body` `Sync` (so a `&Request`
    /// may be held across an await) by only ever touching the inner body
    /// through `&mut`; its size hint and end are recorded after each poll.
    Boxed {
        body: SyncWrapper<Pin<Box<dyn http_body::Body<Data = Bytes, Error = Error> + Send>>>,
        hint: SizeHint,
        end: bool,
    },
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// Wraps any body whose data converts to `Bytes`.
    pub fn wrap<B>(body: B) -> Body
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        let hint = body.size_hint();
        let end = body.is_end_stream();
        Body {
            kind: Kind::Boxed {
                body: SyncWrapper::new(Box::pin(Wrapped { body })),
                hint,
                end,
            },
        }
    }

    /// A copy of a body held whole (empty or a buffer), for requests that
    /// may have to be sent again (retries, redirects); `None` for a stream.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Empty => Some(Body::empty()),
            Kind::Full(bytes) => Some(Body {
                kind: Kind::Full(bytes.clone()),
            }),
            Kind::Pipe(_) | Kind::Boxed { .. } => None,
        }
    }

    pub(crate) fn pipe(pipe: PipeReceiver) -> Body {
        Body {
            kind: Kind::Pipe(pipe),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::Pipe(_) => "streaming",
            Kind::Boxed { .. } => "boxed",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        if bytes.is_empty() {
            Body::empty()
        } else {
            Body {
                kind: Kind::Full(Some(bytes)),
            }
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(s))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Pipe(pipe) => pipe.poll_frame(cx),
            Kind::Boxed { body, hint, end } => {
                let body = body.get_mut();
                let frame = body.as_mut().poll_frame(cx);
                if frame.is_ready() {
                    *hint = body.size_hint();
                    *end = body.is_end_stream();
                }
                frame
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Pipe(pipe) => pipe.is_end_stream(),
            Kind::Boxed { end, .. } => *end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Pipe(pipe) => pipe.size_hint(),
            Kind::Boxed { hint, .. } => *hint,
        }
    }
}

pin_project_lite::pin_project! {
    /// Any body as a `Body`: data into `Bytes`, errors into [`Error`], size
    /// hints and end-of-stream passed through (which `map_frame` would lose).
    struct Wrapped<B> {
        #[pin]
        body: B,
    }
}

impl<B> http_body::Body for Wrapped<B>
where
    B: http_body::Body,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.project().body.poll_frame(cx).map(|frame| {
            frame.map(|r| {
                r.map(|f| f.map_data(Into::into))
                    .map_err(|e| Error::body(e.into()))
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A bounded single-producer, single-consumer queue of body frames between
/// a connection driver and the application.
struct Pipe {
    frames: VecDeque<Frame<Bytes>>,
    /// Data bytes queued.
    queued: usize,
    /// The sender finished (the message ended) or failed.
    done: bool,
    error: Option<Error>,
    /// The receiver went away: what arrives is dropped.
    receiver_gone: bool,
    /// The receiver asked for a frame at least once (drives `100
    /// Continue`).
    polled: bool,
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
    /// Bytes still expected, when the framing says (Content-Length).
    remaining: Option<u64>,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    // A panic while holding this lock leaves only plain data behind.
    pipe.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates a pipe holding up to `capacity` data bytes before the sender is
/// told to wait; `length` is the body's declared size, if known.
pub(crate) fn pipe(capacity: usize, length: Option<u64>) -> (PipeSender, PipeReceiver) {
    let shared = Arc::new(Mutex::new(Pipe {
        frames: VecDeque::new(),
        queued: 0,
        done: false,
        error: None,
        receiver_gone: false,
        polled: false,
        receiver_waker: None,
        sender_waker: None,
        remaining: length,
    }));
    (
        PipeSender {
            shared: shared.clone(),
            capacity,
        },
        PipeReceiver { shared },
    )
}

/// The driver's end of a body pipe.
pub(crate) struct PipeSender {
    shared: Arc<Mutex<Pipe>>,
    capacity: usize,
}

impl PipeSender {
    /// Queues data (always accepted: the driver asks [`poll_room`] before
    /// reading more, so the overshoot is at most one read).
    ///
    /// [`poll_room`]: PipeSender::poll_room
    pub(crate) fn send_data(&self, data: Bytes) {
        let mut p = lock(&self.shared);
        if p.receiver_gone {
            return;
        }
        p.queued += data.len();
        if let Some(r) = &mut p.remaining {
            *r = r.saturating_sub(data.len() as u64);
        }
        p.frames.push_back(Frame::data(data));
        if let Some(w) = p.receiver_waker.take() {
            w.wake();
        }
    }

    /// Ends the body, with trailers if any.
    pub(crate) fn finish(&self, trailers: Option<HeaderMap>) {
        let mut p = lock(&self.shared);
        if let Some(t) = trailers {
            p.frames.push_back(Frame::trailers(t));
        }
        p.done = true;
        if let Some(w) = p.receiver_waker.take() {
            w.wake();
        }
    }

    /// Ends the body with an error (the connection broke mid-body).
    pub(crate) fn fail(&self, error: Error) {
        let mut p = lock(&self.shared);
        if !p.done {
            p.error = Some(error);
            p.done = true;
        }
        if let Some(w) = p.receiver_waker.take() {
            w.wake();
        }
    }

    /// Ready while the pipe has room (or nobody reads any more).
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut p = lock(&self.shared);
        if p.receiver_gone || p.queued < self.capacity {
            Poll::Ready(())
        } else {
            p.sender_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Whether the application has asked for the body (registers the
    /// driver's waker for when it does).
    pub(crate) fn poll_wanted(&self, cx: &mut Context<'_>) -> bool {
        let mut p = lock(&self.shared);
        if p.polled {
            true
        } else {
            p.sender_waker = Some(cx.waker().clone());
            false
        }
    }

    /// Whether the application has asked for the body yet.
    pub(crate) fn is_wanted(&self) -> bool {
        lock(&self.shared).polled
    }

    /// Data bytes queued and not yet taken by the application; while some
    /// are, the driver is woken when the application takes them.
    pub(crate) fn poll_queued(&self, cx: &mut Context<'_>) -> usize {
        let mut p = lock(&self.shared);
        if p.queued > 0 && !p.receiver_gone {
            p.sender_waker = Some(cx.waker().clone());
        }
        if p.receiver_gone { 0 } else { p.queued }
    }

    /// Whether the receiver was dropped; until it is, the driver is woken
    /// when it is.
    pub(crate) fn poll_abandoned(&self, cx: &mut Context<'_>) -> bool {
        let mut p = lock(&self.shared);
        if !p.receiver_gone {
            p.sender_waker = Some(cx.waker().clone());
        }
        p.receiver_gone
    }

    /// Whether the receiver was dropped.
    pub(crate) fn is_abandoned(&self) -> bool {
        lock(&self.shared).receiver_gone
    }
}

impl Drop for PipeSender {
    fn drop(&mut self) {
        let mut p = lock(&self.shared);
        if !p.done {
            p.error = Some(Error::closed("the connection ended before the body did"));
            p.done = true;
        }
        if let Some(w) = p.receiver_waker.take() {
            w.wake();
        }
    }
}

/// The application's end of a body pipe.
pub(crate) struct PipeReceiver {
    shared: Arc<Mutex<Pipe>>,
}

impl PipeReceiver {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let mut p = lock(&self.shared);
        if !p.polled {
            p.polled = true;
            // The driver may be waiting to send `100 Continue`.
            if let Some(w) = p.sender_waker.take() {
                w.wake();
            }
        }
        if let Some(frame) = p.frames.pop_front() {
            if let Some(data) = frame.data_ref() {
                p.queued -= data.len();
                // Room appeared: a waiting driver reads on.
                if let Some(w) = p.sender_waker.take() {
                    w.wake();
                }
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(e) = p.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if p.done {
            return Poll::Ready(None);
        }
        p.receiver_waker = Some(cx.waker().clone());
        if let Some(w) = p.sender_waker.take() {
            w.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let p = lock(&self.shared);
        p.done && p.frames.is_empty() && p.error.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let p = lock(&self.shared);
        match p.remaining {
            Some(r) => SizeHint::with_exact(r + p.queued as u64),
            None => SizeHint::default(),
        }
    }
}

impl Drop for PipeReceiver {
    fn drop(&mut self) {
        let mut p = lock(&self.shared);
        p.receiver_gone = true;
        p.frames.clear();
        p.queued = 0;
        if let Some(w) = p.sender_waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::future::poll_fn;

    #[tokio::test]
    async fn a_pipe_carries_frames_and_applies_backpressure() {
        let (tx, rx) = pipe(4, Some(6));
        let mut body = Body::pipe(rx);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(6));
        tx.send_data(Bytes::from_static(b"abcd"));
        // Full: the sender waits.
        assert!(poll_fn(|cx| Poll::Ready(tx.poll_room(cx).is_pending())).await);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abcd");
        assert!(poll_fn(|cx| Poll::Ready(tx.poll_room(cx).is_ready())).await);
        tx.send_data(Bytes::from_static(b"ef"));
        tx.finish(None);
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "ef");
    }

    #[test]
    fn bodies_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Body>();
    }

    #[tokio::test]
    async fn a_dropped_sender_is_an_error_not_an_end() {
        let (tx, rx) = pipe(16, None);
        tx.send_data(Bytes::from_static(b"partial"));
        drop(tx);
        let err = Body::pipe(rx).collect().await.unwrap_err();
        assert!(err.is_closed(), "{err:?}");
    }
}
