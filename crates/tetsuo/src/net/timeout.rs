//! Read/write timeouts and deadlines for any async stream.
//!
//! [`TimeoutStream`] wraps an `AsyncRead + AsyncWrite` and fails an operation
//! with `io::ErrorKind::TimedOut` when it waits longer than its timeout (the
//! clock starts when the operation first has to wait and stops when it makes
//! progress), or when an absolute deadline passes. It uses tokio's timer, so
//! tests can run it on paused time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// One direction's timer.
#[derive(Debug)]
struct Timer {
    timeout: Option<Duration>,
    /// Created on first use, so that a stream without timeouts needs no
    /// runtime timer (nor a runtime to be wrapped).
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            timeout: None,
            sleep: None,
            armed: false,
        }
    }

    /// Called when the operation is pending: arms the timer on the first wait
    /// and reports whether it has fired.
    fn poll_expired(
        &mut self,
        deadline: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.armed {
            let by_timeout = self.timeout.map(|t| Instant::now() + t);
            let expiry = match (by_timeout, deadline) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(at) => at,
                    None => return Poll::Pending,
                },
            };
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(expiry),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(expiry))),
            }
            self.armed = true;
        }
        let Some(sleep) = &mut self.sleep else {
            return Poll::Pending;
        };
        ready!(sleep.as_mut().poll(cx));
        self.armed = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "I/O operation timed out",
        )))
    }
}

/// An async stream whose reads and writes time out.
///
/// ```
/// use std::time::Duration;
/// use tokio::io::AsyncReadExt;
/// use tetsuo::net::TimeoutStream;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let (client, _server) = tokio::io::duplex(64);
/// let mut client = TimeoutStream::new(client);
/// client.set_read_timeout(Some(Duration::from_secs(5)));
/// // Nothing is ever written by the server: the read fails after 5 s.
/// let err = client.read_u8().await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # }
/// ```
#[derive(Debug)]
pub struct TimeoutStream<S> {
    io: S,
    read: Timer,
    write: Timer,
    deadline: Option<Instant>,
}

impl<S> TimeoutStream<S> {
    /// Wraps `io` with no timeouts set.
    pub fn new(io: S) -> TimeoutStream<S> {
        TimeoutStream {
            io,
            read: Timer::new(),
            write: Timer::new(),
            deadline: None,
        }
    }

    /// Fails a read that waits longer than `timeout`; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read.timeout = timeout;
        self.read.armed = false;
    }

    /// Fails a write, flush or shutdown that waits longer than `timeout`;
    /// `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write.timeout = timeout;
        self.write.armed = false;
    }

    /// Fails every operation once `deadline` has passed; `None` removes it.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.read.armed = false;
        self.write.armed = false;
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read.timeout
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write.timeout
    }

    /// The deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.io
    }

    fn past_deadline(&self) -> io::Result<()> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "I/O deadline has passed",
            )),
            _ => Ok(()),
        }
    }
}

/// Runs one poll of an operation under `timer`.
fn timed<T>(
    timer: &mut Timer,
    deadline: Option<Instant>,
    cx: &mut Context<'_>,
    poll: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match poll {
        Poll::Ready(result) => {
            timer.armed = false;
            Poll::Ready(result)
        }
        Poll::Pending => match timer.poll_expired(deadline, cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Pending,
        },
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimeoutStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.past_deadline()?;
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        timed(&mut this.read, this.deadline, cx, poll)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimeoutStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.past_deadline()?;
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        timed(&mut this.write, this.deadline, cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.past_deadline()?;
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        timed(&mut this.write, this.deadline, cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.past_deadline()?;
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        timed(&mut this.write, this.deadline, cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.past_deadline()?;
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        timed(&mut this.write, this.deadline, cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn read_timeout_restarts_after_progress() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut client = TimeoutStream::new(client);
        client.set_read_timeout(Some(Duration::from_secs(10)));
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            // Each byte arrives 8 s after the previous one: never 10 s of silence.
            for b in 0..3u8 {
                tokio::time::sleep(Duration::from_secs(8)).await;
                server.write_all(&[b]).await.unwrap();
            }
            server
        });
        for expected in 0..3u8 {
            assert_eq!(client.read_u8().await.unwrap(), expected);
        }
        assert_eq!(start.elapsed(), Duration::from_secs(24));
        let _server = writer.await.unwrap();
        let err = client.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(34));
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_bounds_every_operation() {
        let (client, _server) = tokio::io::duplex(4);
        let mut client = TimeoutStream::new(client);
        let start = Instant::now();
        client.set_deadline(Some(start + Duration::from_secs(3)));
        // The pipe holds 4 bytes; the 5th write waits and hits the deadline.
        client.write_all(b"1234").await.unwrap();
        let err = client.write_all(b"5").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // Past the deadline, even an operation that could proceed fails.
        let err = client.flush().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        client.set_deadline(None);
        client.flush().await.unwrap();
    }

    #[test]
    fn wrapping_needs_no_runtime() {
        let (client, _server) = tokio::io::duplex(8);
        let stream = TimeoutStream::new(client);
        assert_eq!(stream.read_timeout(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn write_timeout_fires_when_peer_stops_reading() {
        let (client, _server) = tokio::io::duplex(2);
        let mut client = TimeoutStream::new(client);
        client.set_write_timeout(Some(Duration::from_millis(500)));
        let start = Instant::now();
        let err = client.write_all(b"abc").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }
}
