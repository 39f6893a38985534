//! Taking over a connection after the HTTP exchange that switched it: `101
//! Switching Protocols` (WebSocket, h2c) or a 2xx to CONNECT.
//!
//! The server puts an [`OnUpgrade`] into the extensions of every request
//! that asks to switch (an `Upgrade` header or the CONNECT method). The
//! service takes it with [`on`], answers `101` (or 2xx to CONNECT), and
//! awaits it: once the response head is on the wire, the future yields an
//! [`Upgraded`] stream — the raw connection, with any bytes the client sent
//! after its request (they belong to the new protocol) read first.
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tetsuo::http::{Body, upgrade};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn handle(mut req: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
//!     let on_upgrade = upgrade::on(&mut req);
//!     tokio::spawn(async move {
//!         if let Ok(mut stream) = on_upgrade.await {
//!             let mut buf = [0; 1024];
//!             while let Ok(n) = stream.read(&mut buf).await {
//!                 if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     });
//!     let mut res = Response::new(Body::empty());
//!     *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
//!     res.headers_mut().insert("upgrade", "echo".parse().unwrap());
//!     res.headers_mut().insert("connection", "upgrade".parse().unwrap());
//!     Ok(res)
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use super::body::{Body, PipeSender};

use crate::{Error, ErrorKind};

/// A byte stream tetsuo can hand over: any tokio stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection taken over from HTTP: reads first return the bytes that
/// arrived after the switching request, then come from the socket.
pub struct Upgraded {
    io: Box<dyn Io>,
    prefix: Bytes,
}

impl Upgraded {
    pub(crate) fn new(io: Box<dyn Io>, prefix: Bytes) -> Upgraded {
        Upgraded { io, prefix }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.prefix.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// An HTTP/2 stream used as a byte stream (CONNECT, RFC 9113 §8.5, and
/// extended CONNECT, RFC 8441): reads take the peer's DATA, writes send
/// DATA, shutdown ends the stream. Both directions are under the
/// connection's flow control, through the same pipes as bodies.
pub(crate) fn h2_stream(recv: Body, send: PipeSender) -> Upgraded {
    Upgraded::new(
        Box::new(H2Stream {
            recv,
            send: Some(send),
            chunk: Bytes::new(),
        }),
        Bytes::new(),
    )
}

struct H2Stream {
    recv: Body,
    /// `None` once shut down.
    send: Option<PipeSender>,
    /// Received data not yet read.
    chunk: Bytes,
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() {
            match ready!(Pin::new(&mut self.recv).poll_frame(cx)) {
                // The peer ended the stream: end of file.
                None => return Poll::Ready(Ok(())),
                Some(Err(e)) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, e)));
                }
                // Trailers carry nothing for a byte stream.
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
            }
        }
        let n = self.chunk.len().min(buf.remaining());
        buf.put_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Stream {
    /// Ends our side of the stream, as dropping a socket closes it (not a
    /// reset).
    fn drop(&mut self) {
        if let Some(send) = self.send.take() {
            send.finish(None);
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(send) = &self.send else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        ready!(send.poll_room(cx));
        if send.is_abandoned() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the HTTP/2 stream ended",
            )));
        }
        send.send_data(Bytes::copy_from_slice(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes what is queued as flow control
        // allows.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(send) = self.send.take() {
            send.finish(None);
        }
        Poll::Ready(Ok(()))
    }
}

/// The upgraded connection, once the switching response is sent. Resolves
/// to an error if the message could not switch (no `Upgrade` was asked
/// for, the response did not switch, or the connection failed first).
pub struct OnUpgrade {
    rx: Option<oneshot::Receiver<Upgraded>>,
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnUpgrade").finish_non_exhaustive()
    }
}

impl OnUpgrade {
    pub(crate) fn pair() -> (oneshot::Sender<Upgraded>, OnUpgrade) {
        let (tx, rx) = oneshot::channel();
        (tx, OnUpgrade { rx: Some(rx) })
    }

    fn none() -> OnUpgrade {
        OnUpgrade { rx: None }
    }
}

impl Clone for OnUpgrade {
    /// Only the first holder can take the connection; a clone resolves to
    /// an error. (The `http` crate wants extensions to be `Clone`.)
    fn clone(&self) -> OnUpgrade {
        OnUpgrade::none()
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = &mut self.rx else {
            return Poll::Ready(Err(not_upgradable()));
        };
        Pin::new(rx).poll(cx).map(|r| {
            r.map_err(|_| {
                Error::new(ErrorKind::Closed, "upgrade the connection")
                    .with_detail("the response did not switch protocols")
            })
        })
    }
}

fn not_upgradable() -> Error {
    Error::new(ErrorKind::InvalidInput, "upgrade the connection")
        .with_detail("the message did not ask to switch protocols")
}

/// Takes the pending upgrade out of a request's (or response's)
/// extensions. Without one, the returned future fails at once.
pub fn on<M: Extensions>(message: &mut M) -> OnUpgrade {
    message
        .extensions_mut()
        .remove::<OnUpgrade>()
        .unwrap_or_else(OnUpgrade::none)
}

/// Messages that carry extensions: `http::Request` and `http::Response`.
pub trait Extensions: sealed::Sealed {
    /// The message's extensions.
    fn extensions_mut(&mut self) -> &mut http::Extensions;
}

impl<B> Extensions for http::Request<B> {
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Request::extensions_mut(self)
    }
}

impl<B> Extensions for http::Response<B> {
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Response::extensions_mut(self)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<B> Sealed for http::Request<B> {}
    impl<B> Sealed for http::Response<B> {}
}
