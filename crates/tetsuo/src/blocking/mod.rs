//! The blocking facade: tetsuo for code that does not run an async runtime.
//!
//! Socket builders in [`net`](crate::net) already have `*_blocking` methods
//! that return the standard library's types. This module adds what those
//! types lack: [`TimeoutStream`], per-operation timeouts combined with an
//! absolute deadline for a blocking socket; and (feature `http`) the
//! blocking HTTP client: [`get`], [`Client`].

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use socket2::SockRef;

#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
pub use client::{Client, RequestBuilder, Response, get};

/// A blocking socket whose reads and writes time out, individually and
/// against an overall deadline.
///
/// Each operation waits at most the smaller of its timeout and the time left
/// until the deadline, then fails with `io::ErrorKind::TimedOut`. It works by
/// setting `SO_RCVTIMEO`/`SO_SNDTIMEO` before the operation (only when the
/// figure changes), so the socket must be in blocking mode.
///
/// ```
/// use std::io::Read;
/// use std::time::Duration;
/// use tetsuo::blocking::TimeoutStream;
/// use tetsuo::net::{TcpConnector, TcpListenerBuilder};
///
/// let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap()).bind_blocking()?;
/// let stream = TcpConnector::new().connect_blocking(listener.local_addr().unwrap())?;
/// let mut stream = TimeoutStream::new(stream);
/// stream.set_read_timeout(Some(Duration::from_millis(20)));
/// // The listener never answers.
/// let err = stream.read(&mut [0; 8]).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # Ok::<(), tetsuo::Error>(())
/// ```
#[derive(Debug)]
pub struct TimeoutStream<S> {
    io: S,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// What the socket currently holds, to skip redundant `setsockopt`s.
    applied_read: Option<Option<Duration>>,
    applied_write: Option<Option<Duration>>,
}

impl<S> TimeoutStream<S>
where
    for<'a> SockRef<'a>: From<&'a S>,
{
    /// Wraps a blocking socket with no timeouts set.
    pub fn new(io: S) -> TimeoutStream<S> {
        TimeoutStream {
            io,
            read_timeout: None,
            write_timeout: None,
            deadline: None,
            applied_read: None,
            applied_write: None,
        }
    }

    /// Fails a read that waits longer than `timeout`; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Fails a write that waits longer than `timeout`; `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Fails every operation once `deadline` has passed; `None` removes it.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The wrapped socket.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The wrapped socket, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Unwraps the socket; it keeps the last `SO_RCVTIMEO`/`SO_SNDTIMEO` set.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// The wait allowed for the next operation: its timeout bounded by the
    /// deadline. `Err` once the deadline has passed.
    fn budget(&self, timeout: Option<Duration>) -> io::Result<Option<Duration>> {
        let left = match self.deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "I/O deadline has passed",
                    ));
                }
            },
            None => None,
        };
        // A zero timeout means "wait forever" to the OS: never pass one.
        // Windows counts whole milliseconds, Unix microseconds.
        let min = if cfg!(windows) {
            Duration::from_millis(1)
        } else {
            Duration::from_micros(1)
        };
        let floor = |d: Duration| d.max(min);
        Ok(match (timeout, left) {
            (Some(a), Some(b)) => Some(floor(a.min(b))),
            (a, b) => a.or(b).map(floor),
        })
    }
}

fn timed_out(e: io::Error) -> io::Error {
    // SO_RCVTIMEO/SO_SNDTIMEO expiry surfaces as EAGAIN.
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        io::Error::new(io::ErrorKind::TimedOut, "I/O operation timed out")
    } else {
        e
    }
}

impl<S: Read> Read for TimeoutStream<S>
where
    for<'a> SockRef<'a>: From<&'a S>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let budget = self.budget(self.read_timeout)?;
        if self.applied_read != Some(budget) {
            SockRef::from(&self.io).set_read_timeout(budget)?;
            self.applied_read = Some(budget);
        }
        self.io.read(buf).map_err(timed_out)
    }
}

impl<S: Write> Write for TimeoutStream<S>
where
    for<'a> SockRef<'a>: From<&'a S>,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let budget = self.budget(self.write_timeout)?;
        if self.applied_write != Some(budget) {
            SockRef::from(&self.io).set_write_timeout(budget)?;
            self.applied_write = Some(budget);
        }
        self.io.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.budget(self.write_timeout)?;
        self.io.flush()
    }
}
