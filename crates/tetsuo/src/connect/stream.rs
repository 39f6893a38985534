//! The stream a [`Connector`](super::Connector) returns.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::proxy::Rewind;

/// A connection made by a [`Connector`](super::Connector): TCP, possibly
/// through proxies, possibly with TLS on top.
#[derive(Debug)]
pub struct Stream {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(Rewind<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsStream<Rewind<TcpStream>>>),
}

impl Stream {
    pub(super) fn plain(io: Rewind<TcpStream>) -> Stream {
        Stream {
            inner: Inner::Plain(io),
        }
    }

    #[cfg(feature = "tls")]
    pub(super) fn tls(io: crate::tls::TlsStream<Rewind<TcpStream>>) -> Stream {
        Stream {
            inner: Inner::Tls(Box::new(io)),
        }
    }

    /// The TCP socket underneath (its peer is the first proxy when the
    /// connection is proxied), for socket options and addresses.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(io) => io.get_ref(),
            #[cfg(feature = "tls")]
            Inner::Tls(io) => io.get_ref().get_ref(),
        }
    }

    /// True if TLS runs over the connection.
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Plain(_))
    }

    /// The TLS session's details, for TLS connections.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<&crate::tls::TlsInfo> {
        match &self.inner {
            Inner::Plain(_) => None,
            Inner::Tls(io) => Some(io.info()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match &mut $self.get_mut().inner {
            Inner::Plain($io) => {
                let $io = Pin::new($io);
                $call
            }
            #[cfg(feature = "tls")]
            Inner::Tls($io) => {
                let $io = Pin::new(&mut **$io);
                $call
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(io) => io.is_write_vectored(),
            #[cfg(feature = "tls")]
            Inner::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_shutdown(cx))
    }
}
