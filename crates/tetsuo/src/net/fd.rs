//! Passing open file descriptors between processes over Unix sockets
//! (`SCM_RIGHTS`).
//!
//! A process can hand a listening socket (or any open file) to another
//! process; the receiver gets its own descriptor for the same open socket and
//! can `accept` on it. This is the base of zero-downtime restarts: the new
//! server asks the old one for its listeners instead of binding afresh.
//!
//! Descriptors always travel with at least one byte of ordinary data, which
//! the receiver reads in the same call. Received descriptors are close-on-exec.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
//! use std::os::fd::AsFd;
//! use tetsuo::net::{fd, TcpListenerBuilder};
//!
//! let (a, b) = tokio::net::UnixStream::pair().unwrap();
//! let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap()).bind_blocking()?;
//! fd::send_fds(&a, b"L", &[listener.as_fd()]).await?;
//!
//! let mut buf = [0u8; 1];
//! let mut fds = Vec::new();
//! let n = fd::recv_fds(&b, &mut buf, &mut fds).await?;
//! assert_eq!((n, fds.len()), (1, 1));
//! let received = std::net::TcpListener::from(fds.pop().unwrap());
//! assert_eq!(received.local_addr().unwrap(), listener.local_addr().unwrap());
//! # Ok(()) }
//! ```

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::Interest;

use crate::error::{Error, ErrorKind, Result};

/// The most descriptors one message can carry (Linux's `SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;

fn raw_send(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        // The buffer was sized for exactly this message.
        return Err(io::Error::other("control buffer too small for descriptors"));
    }
    let flags = SendFlags::NOSIGNAL;
    Ok(rustix::net::sendmsg(
        sock,
        &[IoSlice::new(data)],
        &mut control,
        flags,
    )?)
}

fn raw_recv(sock: BorrowedFd<'_>, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    // Room for the most descriptors a message can carry, and for the
    // credentials a socket with SO_PASSCRED also receives, so the kernel
    // never has to truncate.
    let mut space =
        vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS), ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::other("descriptors were truncated by the kernel"));
    }
    Ok(msg.bytes)
}

fn check_send(data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    if data.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "send descriptors over")
            .with_name("Unix socket")
            .with_detail("at least one byte of data must travel with the descriptors"));
    }
    if fds.len() > MAX_FDS {
        return Err(Error::new(ErrorKind::Limit, "send descriptors over")
            .with_name("Unix socket")
            .with_detail(format!(
                "{} descriptors exceed the limit of {MAX_FDS}",
                fds.len()
            )));
    }
    Ok(())
}

fn send_error(e: io::Error) -> Error {
    Error::io("send descriptors over", e).with_name("Unix socket")
}

fn recv_error(e: io::Error) -> Error {
    Error::io("receive descriptors from", e).with_name("Unix socket")
}

/// Sends `data` and the descriptors `fds` over a connected Unix socket,
/// blocking the calling thread. Returns how many bytes of `data` were sent;
/// the descriptors go with the first byte.
pub fn send_fds_blocking(sock: impl AsFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize> {
    check_send(data, fds)?;
    raw_send(sock.as_fd(), data, fds).map_err(send_error)
}

/// Receives bytes into `buf` and appends any descriptors that came with them
/// to `fds`, blocking the calling thread. Returns the number of bytes read (0
/// at end of stream).
pub fn recv_fds_blocking(sock: impl AsFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> Result<usize> {
    check_recv(buf)?;
    raw_recv(sock.as_fd(), buf, fds).map_err(recv_error)
}

/// An empty buffer would make every read look like end of stream.
fn check_recv(buf: &[u8]) -> Result<()> {
    if buf.is_empty() {
        return Err(
            Error::new(ErrorKind::InvalidInput, "receive descriptors from")
                .with_name("Unix socket")
                .with_detail("the receive buffer is empty"),
        );
    }
    Ok(())
}

/// Sends `data` and the descriptors `fds` over a connected tokio Unix stream.
///
/// # Cancel safety
///
/// Cancel safe: if the future is dropped before it completes, nothing was
/// sent.
pub async fn send_fds(
    sock: &tokio::net::UnixStream,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<usize> {
    check_send(data, fds)?;
    sock.async_io(Interest::WRITABLE, || raw_send(sock.as_fd(), data, fds))
        .await
        .map_err(send_error)
}

/// Receives bytes into `buf` and appends any descriptors that came with them
/// to `fds`, from a tokio Unix stream. Returns the number of bytes read (0 at
/// end of stream).
///
/// # Cancel safety
///
/// Cancel safe: if the future is dropped before it completes, nothing was
/// received.
pub async fn recv_fds(
    sock: &tokio::net::UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize> {
    check_recv(buf)?;
    sock.async_io(Interest::READABLE, || raw_recv(sock.as_fd(), buf, fds))
        .await
        .map_err(recv_error)
}
