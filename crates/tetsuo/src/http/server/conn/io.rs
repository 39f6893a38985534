//! The driver's socket side: writing what the protocol machine produced,
//! reading while the machine and the request-body pipe can take more, the
//! upgrade hand-off, giving idle buffers back, and the lingering close.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::{Driver, End, HIGH_WATER, stats};
use crate::http::server::HttpService;
use crate::http::upgrade::Upgraded;

/// Largest single read.
const READ_CHUNK: usize = 16 * 1024;
/// How long, and how many bytes, a closing connection reads and discards
/// so that the client sees the response rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

impl<T, S> Driver<T, S>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        let Some(io) = &mut self.io else {
            return Err(End::Abort);
        };
        let mut progress = false;
        while self.written < self.write_buf.len() {
            match Pin::new(&mut *io).poll_write(cx, &self.write_buf[self.written..]) {
                Poll::Ready(Ok(0)) => return Err(End::Abort),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.bytes_out += n as u64;
                    self.flushed = false;
                    self.write_deadline = None;
                    progress = true;
                }
                Poll::Ready(Err(_)) => return Err(End::Abort),
                Poll::Pending => {
                    if self.write_deadline.is_none() {
                        self.write_deadline =
                            self.shared.config.write_timeout.map(|t| Instant::now() + t);
                    }
                    return Ok(progress);
                }
            }
        }
        if !self.write_buf.is_empty() {
            // Keep a small buffer for the next response; give a large one back.
            if self.write_buf.capacity() > 4 * HIGH_WATER {
                self.write_buf = Vec::new();
            } else {
                self.write_buf.clear();
            }
            self.written = 0;
        }
        if !self.flushed {
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.flushed = true;
                    progress = true;
                }
                Poll::Ready(Err(_)) => return Err(End::Abort),
                Poll::Pending => {}
            }
        }
        Ok(progress)
    }

    /// Gives back the memory of empty buffers while the connection idles.
    pub(super) fn release_buffers(&mut self) {
        self.released = true;
        self.spare = None;
        // The last service future (finished) waits in its box for the next
        // request; an idle connection lets it go.
        if self.exchange.is_none() {
            self.service_future = None;
        }
        // Between requests with nothing buffered the machine is in its
        // initial state: a new one is made when the next request arrives.
        // Otherwise (part of a pipelined head is buffered) it stays.
        if self.conn.as_ref().is_some_and(|c| c.is_idle()) {
            self.conn = None;
        } else if let Some(conn) = &mut self.conn {
            conn.release_buffers();
        }
        if self.write_buf.is_empty() {
            self.write_buf = Vec::new();
        }
        if self.pending_input.is_empty() {
            self.pending_input = BytesMut::new();
        }
    }

    /// Gives the socket to whoever awaits the upgrade.
    pub(super) fn hand_over(&mut self) -> End {
        let mut prefix = BytesMut::from(&self.upgraded.take().unwrap_or_default()[..]);
        prefix.extend_from_slice(&self.pending_input);
        let tx = self.exchange.take().and_then(|ex| ex.upgrade_tx);
        match (tx, self.io.take()) {
            (Some(tx), Some(io)) => {
                stats::request_done(StatusCode::SWITCHING_PROTOCOLS, None);
                // Nobody waiting: the connection is simply dropped.
                let _ = tx.send(Upgraded::new(Box::new(io), prefix.freeze()));
                End::Upgraded
            }
            _ => End::Abort,
        }
    }

    pub(super) fn wants_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.read_eof
            || self.failed
            || self.close_when_flushed
            || self.upgraded.is_some()
            || self.conn.as_ref().is_some_and(|c| c.is_upgraded())
            || !self.pending_input.is_empty()
            || self.waiting_head.is_some()
        {
            return false;
        }
        match self.exchange.as_ref().and_then(|ex| ex.body_tx.as_ref()) {
            // Backpressure: read on once the service has consumed.
            Some(tx) => tx.poll_room(cx).is_ready(),
            None => true,
        }
    }

    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        let mut progress = false;
        if !self.pending_input.is_empty() && !self.failed {
            match conn!(self).handle_input(&self.pending_input) {
                Ok(n) => {
                    self.pending_input.advance(n);
                    if self.pending_input.is_empty() {
                        // Give the memory back.
                        self.pending_input = BytesMut::new();
                    }
                    progress |= n > 0;
                }
                Err(e) => {
                    self.fail_input(e);
                    return Ok(true);
                }
            }
        }
        if !self.wants_read(cx) {
            return Ok(progress);
        }
        let Some(io) = &mut self.io else {
            return Err(End::Abort);
        };
        // Uninitialised: zeroing 16 KiB per read costs more than the parse.
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read_buf = ReadBuf::uninit(&mut buf);
        match Pin::new(io).poll_read(cx, &mut read_buf) {
            Poll::Pending => Ok(progress),
            Poll::Ready(Err(_)) => Err(End::Abort),
            Poll::Ready(Ok(())) => {
                let bytes = read_buf.filled();
                if bytes.is_empty() {
                    self.read_eof = true;
                    if let Err(e) = conn!(self).handle_eof() {
                        self.fail_input(e);
                    }
                    return Ok(true);
                }
                self.bytes_in += bytes.len() as u64;
                self.released = false;
                if self.served == 0
                    && self.shared.config.http2
                    && self.exchange.is_none()
                    && self.conn.as_ref().is_none_or(|c| c.is_idle())
                    && is_http2_preface(bytes)
                {
                    self.pending_input.extend_from_slice(bytes);
                    return Err(End::Http2);
                }
                if self.exchange.is_none() && self.head_started.is_none() {
                    self.head_started = Some(Instant::now());
                }
                match conn!(self).handle_input(bytes) {
                    Ok(n) => {
                        if n < bytes.len() {
                            self.pending_input.extend_from_slice(&bytes[n..]);
                        }
                    }
                    Err(e) => self.fail_input(e),
                }
                Ok(true)
            }
        }
    }

    /// The client broke the protocol (the machine queued its answer), or
    /// the connection ended mid-message: a service reading the body learns
    /// why.
    pub(super) fn fail_input(&mut self, e: tetsuo_proto::h1::Error) {
        self.failed = true;
        tracing::debug!(error = %e, "bad input");
        if let Some(tx) = self.exchange.as_mut().and_then(|ex| ex.body_tx.take()) {
            tx.fail(crate::Error::h1("read the request body", e));
        }
    }
}

/// The first read of a connection begins with HTTP/2's preface (at least
/// `PRI ` of it: no HTTP/1.1 method is `PRI`).
fn is_http2_preface(bytes: &[u8]) -> bool {
    let preface = tetsuo_proto::h2::frame::PREFACE;
    let n = bytes.len().min(preface.len());
    n >= 4 && bytes[..n] == preface[..n]
}

/// Shuts the write side down and, unless the client already finished
/// sending, reads and discards what it still sends for a moment (lingering
/// close), so that the kernel does not answer it with a reset that could
/// destroy the response in flight.
pub(super) async fn close<T: AsyncRead + AsyncWrite + Unpin>(mut io: T, linger: bool) {
    let _ = tokio::time::timeout(LINGER_TIME, io.shutdown()).await;
    if linger {
        let _ = tokio::time::timeout(LINGER_TIME, async {
            let mut buf = vec![0u8; 4096];
            let mut total = 0;
            while let Ok(n) = io.read(&mut buf).await {
                total += n;
                if n == 0 || total > LINGER_BYTES {
                    break;
                }
            }
        })
        .await;
    }
}
