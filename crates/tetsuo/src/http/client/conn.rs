//! One client connection: a request out through `h1::Connection`, the
//! response head back, and the response body as an `http_body::Body` that
//! reads the socket as it is polled (no task per request) and returns the
//! connection to its pool at the end.

use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use tetsuo_proto::h1::{Connection, Event, Limits, ResponseHead, Side};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::pool::Pooled;
use crate::http::Body;
use crate::http::upgrade::Io;
use crate::{Error, ErrorKind};

const READ_CHUNK: usize = 16 * 1024;

/// A connection to one origin, idle or carrying one exchange.
pub(crate) struct ClientConn {
    io: Box<dyn Io>,
    conn: Connection,
    write_buf: Vec<u8>,
    pub(crate) info: super::ConnectionInfo,
}

/// Why a request failed, and whether sending it again on a fresh
/// connection is safe.
pub(crate) struct SendError {
    pub(crate) error: Error,
    /// The connection was closed before any byte of a response arrived, so
    /// the server cannot have acted on a request it may never have read.
    pub(crate) before_response: bool,
}

impl From<Error> for SendError {
    fn from(error: Error) -> SendError {
        SendError {
            error,
            before_response: false,
        }
    }
}

impl ClientConn {
    pub(crate) fn new(io: Box<dyn Io>, limits: Limits, info: super::ConnectionInfo) -> ClientConn {
        ClientConn {
            io,
            conn: Connection::new(Side::Client, limits),
            write_buf: Vec::new(),
            info,
        }
    }

    /// Whether the server closed the connection (or sent something
    /// unasked) while it sat in the pool: a quick, non-blocking look.
    pub(crate) async fn is_stale(&mut self) -> bool {
        poll_fn(|cx| {
            let mut byte = [MaybeUninit::<u8>::uninit(); 1];
            let mut buf = ReadBuf::uninit(&mut byte);
            // End of stream, an unexpected byte, or an error: all stale.
            Poll::Ready(Pin::new(&mut self.io).poll_read(cx, &mut buf).is_ready())
        })
        .await
    }

    /// Whether the connection may carry another request.
    pub(crate) fn reusable(&self) -> bool {
        !self.conn.wants_close() && !self.conn.is_upgraded()
    }

    async fn flush_out(&mut self) -> Result<(), Error> {
        self.conn.poll_transmit(&mut self.write_buf);
        if !self.write_buf.is_empty() {
            self.io
                .write_all(&self.write_buf)
                .await
                .map_err(|e| Error::io("send a request to", e))?;
            self.write_buf.clear();
        }
        self.io
            .flush()
            .await
            .map_err(|e| Error::io("send a request to", e))
    }

    /// Sends the request (head and body) and reads the response head.
    /// Informational responses (100, 103) are skipped.
    pub(crate) async fn send(
        &mut self,
        method: &Method,
        target: &str,
        headers: &mut HeaderMap,
        mut body: Body,
        deadline: Option<Instant>,
    ) -> Result<ResponseHead, SendError> {
        frame_request(method, headers, &body);
        self.conn
            .send_request(method, target, headers)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, "send a request").with_source(e))?;
        let written = with_deadline(deadline, async {
            self.flush_out().await?;
            while let Some(frame) = body.frame().await {
                let frame = frame?;
                match frame.into_data() {
                    Ok(data) => {
                        self.conn.send_data(&data).map_err(|e| {
                            Error::new(ErrorKind::InvalidInput, "send a request body")
                                .with_source(e)
                        })?;
                    }
                    Err(frame) => {
                        let trailers = frame.into_trailers().ok();
                        self.conn.send_end(trailers.as_ref()).map_err(|e| {
                            Error::new(ErrorKind::InvalidInput, "send request trailers")
                                .with_source(e)
                        })?;
                    }
                }
                if self.write_buf.len() >= 64 * 1024 {
                    self.flush_out().await?;
                }
            }
            // Ends the body (already ended by trailers or a bodiless head:
            // fine); a body shorter than its Content-Length is an error.
            match self.conn.send_end(None) {
                Ok(()) | Err(tetsuo_proto::h1::EncodeError::WrongState) => {}
                Err(e) => {
                    return Err(
                        Error::new(ErrorKind::InvalidInput, "send a request body").with_source(e)
                    );
                }
            }
            self.flush_out().await
        })
        .await;
        if let Err(error) = written {
            // A reused connection the server had already closed fails here.
            let before_response = error.is_closed();
            return Err(SendError {
                error,
                before_response,
            });
        }
        let mut received_any = false;
        let head = with_deadline(deadline, async {
            loop {
                while let Some(event) = self.conn.poll_event() {
                    match event {
                        Event::Response(head)
                            if head.status().is_informational()
                                && head.status() != StatusCode::SWITCHING_PROTOCOLS =>
                        {
                            continue;
                        }
                        Event::Response(head) => return Ok(head),
                        _ => {}
                    }
                }
                let n = self.read_some().await?;
                received_any |= n > 0;
            }
        })
        .await;
        head.map_err(|error| SendError {
            before_response: !received_any && (error.is_closed()),
            error,
        })
    }

    /// Reads once from the socket into the protocol machine; 0 at the end
    /// of the stream.
    async fn read_some(&mut self) -> Result<usize, Error> {
        poll_fn(|cx| self.poll_read_some(cx)).await
    }

    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Error>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read_buf = ReadBuf::uninit(&mut buf);
        match Pin::new(&mut self.io).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io("read a response from", e))),
            Poll::Ready(Ok(())) => {
                let bytes = read_buf.filled();
                if bytes.is_empty() {
                    self.conn
                        .handle_eof()
                        .map_err(|e| closed_early(e.to_string()))?;
                    return Poll::Ready(Ok(0));
                }
                self.conn
                    .handle_input(bytes)
                    .map_err(|e| Error::h1("read a response", e))?;
                Poll::Ready(Ok(bytes.len()))
            }
        }
    }

    /// Takes the connection over for another protocol (after `101` or a
    /// successful CONNECT): the raw stream and the bytes already read.
    pub(crate) fn into_upgraded(mut self) -> crate::http::upgrade::Upgraded {
        let mut rest = Bytes::new();
        while let Some(event) = self.conn.poll_event() {
            if let Event::Upgraded(bytes) = event {
                rest = bytes;
            }
        }
        crate::http::upgrade::Upgraded::new(self.io, rest)
    }
}

fn closed_early(detail: String) -> Error {
    Error::new(ErrorKind::Closed, "read a response").with_detail(format!(
        "the server closed the connection before the response ended ({detail})"
    ))
}

/// Declares the body's framing when the caller did not: its exact length,
/// or chunked for a stream, or `Content-Length: 0` for methods that
/// usually carry a body.
fn frame_request(method: &Method, headers: &mut HeaderMap, body: &Body) {
    if headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING) {
        return;
    }
    match body.size_hint().exact() {
        Some(0) if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {}
        Some(n) => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        None => {
            headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
    }
}

async fn with_deadline<T>(
    deadline: Option<Instant>,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, f).await.unwrap_or_else(|_| {
            Err(Error::new(ErrorKind::Timeout, "send a request")
                .with_detail("the request timed out"))
        }),
        None => f.await,
    }
}

/// A response body read from the connection as it is polled; at its end
/// the connection goes back to the pool (or is closed).
pub(crate) struct ResponseBody {
    conn: Option<Pooled>,
    /// Events read before the body was polled.
    queued: std::collections::VecDeque<Event>,
    /// No body at all (HEAD, 204, 304...): the connection is returned at
    /// once.
    done: bool,
    size: SizeHint,
}

impl ResponseBody {
    pub(crate) fn new(mut conn: Pooled, size: SizeHint) -> ResponseBody {
        // Events that came with the head: body bytes, or the end of a
        // message without a body (which returns the connection at once).
        let mut queued = std::collections::VecDeque::new();
        if let Some(c) = conn.get_mut() {
            while let Some(event) = c.conn.poll_event() {
                queued.push_back(event);
            }
        }
        let done = matches!(queued.front(), Some(Event::End(None))) || conn.get_mut().is_none();
        let mut body = ResponseBody {
            conn: Some(conn),
            queued,
            done,
            size,
        };
        if done {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        self.done = true;
        if let Some(conn) = self.conn.take() {
            conn.release();
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(conn) = this.conn.as_mut().and_then(Pooled::get_mut) else {
                return Poll::Ready(None);
            };
            while let Some(event) = this.queued.pop_front().or_else(|| conn.conn.poll_event()) {
                match event {
                    Event::Data(data) => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Event::End(trailers) => {
                        this.finish();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    _ => {}
                }
            }
            match conn.poll_read_some(cx) {
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    // The connection is not reusable.
                    this.conn = None;
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.size
    }
}
