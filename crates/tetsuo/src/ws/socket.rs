//! The WebSocket stream: messages over a byte stream.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use tetsuo_proto::ws::deflate::{DeflateConfig, Params};
use tetsuo_proto::ws::{
    CloseCode, CloseFrame, Connection, Event, Fragment, Limits, Role, SendError,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::http::upgrade::Io;
use crate::{Error, ErrorKind, Result};

/// Settings shared by clients and servers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsConfig {
    /// Frame, message and control-frame limits.
    pub limits: Limits,
    /// permessage-deflate: offered by clients, accepted by servers
    /// (default on; `None` turns it off).
    pub deflate: Option<DeflateConfig>,
    /// Send a ping after this long without hearing from the peer (default
    /// none).
    pub ping_interval: Option<Duration>,
    /// Give the peer up if nothing arrives this long after a keepalive
    /// ping (default 20 s).
    pub ping_timeout: Duration,
    /// Receive data as it arrives, in [`Message::Fragment`]s, instead of
    /// whole messages — for messages too large to hold (default off).
    /// [`Limits::max_message`] then bounds each frame (after inflating),
    /// not the message.
    pub fragments: bool,
}

impl Default for WsConfig {
    fn default() -> WsConfig {
        WsConfig {
            limits: Limits::default(),
            deflate: Some(DeflateConfig::default()),
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            fragments: false,
        }
    }
}

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text.
    Text(String),
    /// Binary data.
    Binary(Bytes),
    /// A ping (answered already when received).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame (received), or ours (sent with
    /// [`WebSocket::send`]).
    Close(Option<CloseFrame>),
    /// A piece of a message too large to hold whole: sent, starting with
    /// `first` and ending with `fin` (other messages wait until then; pings
    /// may go between), and received in place of `Text` and `Binary` when
    /// [`WsConfig::fragments`] is on.
    Fragment(Fragment),
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.to_owned())
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data.into())
    }
}

/// Bytes read per system call, into uninitialised stack space (an idle
/// connection keeps no read buffer); large enough for a 16 KiB message
/// and its header in one read.
const READ_CHUNK: usize = 64 * 1024;
/// Queued bytes past which `Sink::poll_ready` waits for the socket.
const HIGH_WATER: usize = 256 * 1024;
/// An output buffer grown past this is freed once written.
const SHRINK_ABOVE: usize = 64 * 1024;

/// A WebSocket connection.
///
/// `recv` yields messages until the closing handshake is over (then
/// `None`); pings are answered by themselves. `send` queues and writes a
/// message. It is also a `futures` `Stream` of `Result<Message>` and a
/// `Sink<Message>`.
pub struct WebSocket {
    io: Box<dyn Io>,
    conn: Connection,
    out: Vec<u8>,
    written: usize,
    protocol: Option<String>,
    eof: bool,
    shut_down: bool,
    keepalive: Option<Keepalive>,
    /// A protocol error found after messages still to be handed out.
    failed: Option<Error>,
    /// A task waiting in the `Sink` for the socket: the reader may drain
    /// the queue and must wake it.
    writer: Option<Waker>,
}

struct Keepalive {
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    /// A ping is out, unanswered since this instant.
    waiting: bool,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.conn.role())
            .field("protocol", &self.protocol)
            .field("closed", &self.conn.is_closed())
            .finish_non_exhaustive()
    }
}

fn ws_error(op: &'static str, e: tetsuo_proto::ws::Error) -> Error {
    let kind = match e {
        tetsuo_proto::ws::Error::FrameTooBig
        | tetsuo_proto::ws::Error::MessageTooBig
        | tetsuo_proto::ws::Error::ControlFlood => ErrorKind::Limit,
        _ => ErrorKind::Protocol,
    };
    Error::new(kind, op)
        .with_detail(format!("{e} (closed with {})", e.close_code()))
        .with_source(e)
}

impl WebSocket {
    /// A WebSocket over a stream whose opening handshake is done, for
    /// `role`, with the permessage-deflate parameters agreed (if any) and
    /// bytes already read past the handshake.
    pub(crate) fn new(
        io: Box<dyn Io>,
        role: Role,
        config: &WsConfig,
        deflate: Option<Params>,
        protocol: Option<String>,
        leftover: &[u8],
    ) -> Result<WebSocket> {
        let level = config.deflate.map_or(1, |d| d.level);
        let mut conn = Connection::new(role, config.limits, deflate.map(|p| (p, level)))
            .with_fragments(config.fragments);
        // Frames that came with the handshake's answer: a violation among
        // them is reported after the messages before it, like any other.
        let failed = match conn.handle_input(leftover) {
            Ok(()) => None,
            Err(e) => Some(ws_error("read a WebSocket frame", e)),
        };
        let keepalive = config.ping_interval.map(|interval| Keepalive {
            interval,
            timeout: config.ping_timeout,
            timer: Box::pin(tokio::time::sleep(interval)),
            waiting: false,
        });
        Ok(WebSocket {
            io,
            conn,
            out: Vec::new(),
            written: 0,
            protocol,
            eof: false,
            shut_down: false,
            keepalive,
            failed,
            writer: None,
        })
    }

    /// A server-side WebSocket over `stream`, whose opening handshake the
    /// caller has already done (without permessage-deflate).
    pub fn from_stream<S>(stream: S, config: &WsConfig) -> WebSocket
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        WebSocket::new(Box::new(stream), Role::Server, config, None, None, &[])
            .unwrap_or_else(|_| unreachable!("no bytes to parse yet"))
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// True once the closing handshake is over.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Writes queued frames; Ready once all are written.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            if self.written == self.out.len() {
                if self.out.capacity() > SHRINK_ABOVE {
                    // A large message went out: do not keep its buffer.
                    self.out = Vec::new();
                } else {
                    self.out.clear();
                }
                self.written = 0;
                self.conn.poll_transmit(&mut self.out);
                if self.out.is_empty() {
                    return Pin::new(&mut self.io)
                        .poll_flush(cx)
                        .map_err(|e| Error::io("write to WebSocket", e));
                }
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..]))
                .map_err(|e| Error::io("write to WebSocket", e))?;
            if n == 0 {
                return Poll::Ready(Err(Error::new(ErrorKind::Closed, "write to WebSocket")));
            }
            self.written += n;
        }
    }

    /// The next message; `None` once the connection is closed (after the
    /// closing handshake, or an error already returned).
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Writes what is queued without waiting for the socket; wakes a
    /// writer task when the queue drained.
    fn push_out(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        match self.poll_write_out(cx) {
            Poll::Ready(Err(e)) => Some(e),
            Poll::Ready(Ok(())) => {
                if let Some(w) = self.writer.take() {
                    w.wake();
                }
                None
            }
            Poll::Pending => None,
        }
    }

    /// Receives the next message.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            if let Some(event) = self.conn.poll_event() {
                if let Some(k) = &mut self.keepalive {
                    k.waiting = false;
                    let at = Instant::now() + k.interval;
                    k.timer.as_mut().reset(at);
                }
                // Answers (pongs, the close echo) go out as soon as possible.
                let _ = self.push_out(cx);
                return Poll::Ready(Some(Ok(match event {
                    Event::Text(t) => Message::Text(t),
                    Event::Binary(b) => Message::Binary(b),
                    Event::Ping(p) => Message::Ping(p),
                    Event::Pong(p) => Message::Pong(p),
                    Event::Close(f) => Message::Close(f),
                    Event::Fragment(f) => Message::Fragment(f),
                })));
            }
            if let Some(e) = self.failed.take() {
                // After the messages that arrived before the failure.
                let _ = self.push_out(cx);
                self.shut_down = true;
                return Poll::Ready(Some(Err(e)));
            }
            if self.shut_down {
                return Poll::Ready(None);
            }
            // Queued frames go out, but reading goes on even if the peer is
            // slow to read ours (a bounded number of answers can queue).
            if let Some(e) = self.push_out(cx) {
                self.shut_down = true;
                return Poll::Ready(Some(Err(e)));
            }
            if self.conn.is_closed() {
                // Everything is written once the close frames are; then the
                // stream is shut down (the server closes TCP first, RFC 6455
                // §7.1.1; a client does not wait for it).
                if self.written < self.out.len() || self.conn.pending_transmit() > 0 {
                    ready!(self.poll_write_out(cx)).ok();
                }
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.shut_down = true;
                return Poll::Ready(None);
            }
            if let Some(k) = &mut self.keepalive
                && k.timer.as_mut().poll(cx).is_ready()
            {
                if k.waiting {
                    let timeout = k.timeout;
                    self.conn.close(CloseCode::GOING_AWAY, "ping timeout");
                    let _ = self.push_out(cx);
                    self.shut_down = true;
                    return Poll::Ready(Some(Err(Error::new(
                        ErrorKind::Timeout,
                        "wait for the WebSocket peer",
                    )
                    .with_detail(format!("no answer to a ping within {timeout:?}")))));
                }
                k.waiting = true;
                let at = Instant::now() + k.timeout;
                k.timer.as_mut().reset(at);
                let _ = self.conn.send_ping(b"tetsuo");
                continue;
            }
            if self.eof {
                self.shut_down = true;
                return Poll::Ready(Some(Err(Error::new(
                    ErrorKind::Closed,
                    "read from WebSocket",
                )
                .with_detail("the connection ended without a close frame (1006)"))));
            }
            // Uninitialised: no 16 KiB memset per read.
            let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Err(e) => {
                    self.shut_down = true;
                    return Poll::Ready(Some(Err(Error::io("read from WebSocket", e))));
                }
                Ok(()) if buf.filled().is_empty() => self.eof = true,
                Ok(()) => {
                    if let Err(e) = self.conn.handle_input(buf.filled()) {
                        // Our close frame is queued; reported after the
                        // messages before it.
                        self.failed = Some(ws_error("read a WebSocket frame", e));
                    }
                }
            }
        }
    }

    fn queue(&mut self, msg: Message) -> Result<()> {
        let queued = match msg {
            Message::Text(t) => self.conn.send_text(&t),
            Message::Binary(b) => self.conn.send_binary(&b),
            Message::Ping(p) => self.conn.send_ping(&p),
            Message::Pong(p) => self.conn.send_pong(&p),
            Message::Fragment(f) => self.conn.send_fragment(f.text, f.first, f.fin, &f.data),
            Message::Close(f) => {
                let (code, reason) =
                    f.map_or((CloseCode::NORMAL, String::new()), |f| (f.code, f.reason));
                self.conn.close(code, &reason);
                Ok(())
            }
        };
        queued.map_err(|e| {
            let kind = match e {
                SendError::Closing => ErrorKind::Closed,
                _ => ErrorKind::InvalidInput,
            };
            Error::new(kind, "send a WebSocket message")
                .with_detail(e.to_string())
                .with_source(e)
        })
    }

    /// Sends a message (and waits until it is written).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<()> {
        self.queue(msg.into())?;
        std::future::poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// Closes with `code` and `reason`: sends the close frame, waits for
    /// the peer's, then closes the stream — all within 10 s, after which
    /// the stream is shut down regardless. Messages arriving meanwhile are
    /// dropped.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.conn.close(code, reason);
        let handshake = async {
            std::future::poll_fn(|cx| self.poll_write_out(cx)).await?;
            while let Some(msg) = self.recv().await {
                msg?;
            }
            Ok::<_, Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), handshake).await {
            Ok(result) => result,
            Err(_) => {
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.io).await;
                self.shut_down = true;
                Ok(())
            }
        }
    }
}

impl futures_core::Stream for WebSocket {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl futures_sink::Sink<Message> for WebSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.out.len() - this.written + this.conn.pending_transmit() >= HIGH_WATER {
            this.writer = Some(cx.waker().clone());
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        // A reader task polling the same socket may take the write waker
        // and drain the queue: it wakes this one then.
        this.writer = Some(cx.waker().clone());
        let result = ready!(this.poll_write_out(cx));
        this.writer = None;
        Poll::Ready(result)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.conn.close(CloseCode::NORMAL, "");
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io)
            .poll_shutdown(cx)
            .map_err(|e| Error::io("close WebSocket", e))
    }
}
