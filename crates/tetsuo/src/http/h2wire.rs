//! What the HTTP/2 drivers (server and client) share: the bytes between a
//! socket and a `tetsuo_proto::h2::Connection`, with a bound on what may
//! wait to be written.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use tetsuo_proto::h2;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read per system call.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes waiting to be written (ours and the connection's) past which the
/// drivers stop reading the socket and polling bodies: a peer that does
/// not read cannot make answers pile up.
pub(crate) const HIGH_WATER: usize = 256 * 1024;

/// The socket and the frames waiting for it.
pub(crate) struct Wire<T> {
    pub(crate) io: T,
    buf: Vec<u8>,
    written: usize,
}

/// What a write round did.
pub(crate) struct Written {
    /// Some bytes went out.
    pub(crate) progress: bool,
    /// The socket took less than was queued (it is full).
    pub(crate) blocked: bool,
}

/// What a read did.
pub(crate) enum Read {
    /// Nothing to read now (or reading is held back).
    Nothing,
    /// The peer closed its side.
    Eof,
    /// Bytes were fed to the connection; a connection error if they broke
    /// it (its GOAWAY is queued).
    Fed(Result<(), h2::Error>),
}

impl<T: AsyncRead + AsyncWrite + Unpin> Wire<T> {
    pub(crate) fn new(io: T) -> Wire<T> {
        Wire {
            io,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Takes the frames the connection has to send.
    pub(crate) fn transmit(&mut self, conn: &mut h2::Connection) {
        conn.poll_transmit(&mut self.buf);
    }

    /// Everything taken was written.
    pub(crate) fn all_written(&self) -> bool {
        self.written == self.buf.len()
    }

    /// Bytes waiting to be written: taken, and still in the connection.
    pub(crate) fn backlog(&self, conn: &h2::Connection) -> usize {
        self.buf.len() - self.written + conn.pending_transmit()
    }

    /// Writes what was taken, as far as the socket accepts; flushes once
    /// all of it went.
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>) -> io::Result<Written> {
        let mut progress = false;
        while self.written < self.buf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..]) {
                Poll::Pending => {
                    return Ok(Written {
                        progress,
                        blocked: true,
                    });
                }
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    progress = true;
                }
            }
        }
        if self.written > 0 {
            self.buf.clear();
            self.written = 0;
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
                return Err(e);
            }
        }
        Ok(Written {
            progress,
            blocked: false,
        })
    }

    /// Reads once into `conn`, unless more than [`HIGH_WATER`] waits to be
    /// written.
    pub(crate) fn poll_read(
        &mut self,
        conn: &mut h2::Connection,
        cx: &mut Context<'_>,
    ) -> io::Result<Read> {
        if self.backlog(conn) > HIGH_WATER {
            return Ok(Read::Nothing);
        }
        // Uninitialised: no memset per read.
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Pending => Ok(Read::Nothing),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Ok(Read::Eof),
            Poll::Ready(Ok(())) => Ok(Read::Fed(conn.handle_input(buf.filled()))),
        }
    }
}

/// A stream's incoming data under flow control: bytes handed to the
/// application's pipe, and how many of them went back to the peer as
/// window. What the application took is given back as it takes it; what it
/// never read, when the stream is forgotten.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Credit {
    delivered: u64,
    released: u64,
}

impl Credit {
    /// `n` more bytes went into the pipe.
    pub(crate) fn delivered(&mut self, n: usize) {
        self.delivered += n as u64;
    }

    /// With `queued` bytes still unread in the pipe: the bytes taken since
    /// the last call, to give back now.
    pub(crate) fn take_consumed(&mut self, queued: usize) -> usize {
        let consumed = self.delivered.saturating_sub(queued as u64);
        let n = consumed.saturating_sub(self.released);
        self.released += n;
        n as usize
    }

    /// Everything not given back yet (the stream is forgotten).
    pub(crate) fn take_rest(&mut self) -> usize {
        let n = self.delivered - self.released;
        self.released = self.delivered;
        n as usize
    }

    /// All that came was taken.
    pub(crate) fn settled(&self) -> bool {
        self.delivered == self.released
    }
}
