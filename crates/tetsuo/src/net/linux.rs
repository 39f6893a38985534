//! Linux TCP options that neither `std`, `socket2` nor `rustix` expose.
//!
//! TCP Fast Open (`TCP_FASTOPEN`, `TCP_FASTOPEN_CONNECT`) and deferred accept
//! (`TCP_DEFER_ACCEPT`) are plain integer options; this module sets and reads
//! them with `setsockopt(2)`/`getsockopt(2)`. It is the only place in the crate
//! that calls libc directly, because no safe wrapper crate covers these
//! options. The builders in [`net`](super) call the setters; the getters are
//! public so that an application (or a test) can check what the kernel
//! actually holds.

use std::io;

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// Sets an `int`-valued socket option.
fn set_int(
    fd: impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let fd = fd.as_fd();
    // SAFETY: `fd` is a live descriptor borrowed for the duration of the call;
    // the option value points at a local `c_int` whose size we pass, so the
    // kernel reads exactly that many bytes from valid memory.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an `int`-valued socket option.
fn get_int(fd: impl AsFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let fd = fd.as_fd();
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is a live descriptor borrowed for the duration of the call;
    // `value` and `len` are locals, `len` holds the size of `value`, so the
    // kernel writes at most that many bytes into valid, aligned memory.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn clamp_int(value: u64) -> libc::c_int {
    libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX)
}

/// Enables TCP Fast Open on a listening socket with a queue of `qlen` pending
/// Fast Open requests (`TCP_FASTOPEN`); `0` disables it.
///
/// The system-wide `net.ipv4.tcp_fastopen` sysctl must have bit `0x2` set for
/// the server side to accept data in SYNs.
pub fn set_fastopen(fd: impl AsFd, qlen: u32) -> io::Result<()> {
    set_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_FASTOPEN,
        clamp_int(qlen.into()),
    )
}

/// The Fast Open queue length of a listening socket (`TCP_FASTOPEN`).
///
/// ```
/// let listener = tetsuo::net::TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
///     .fastopen(64)
///     .bind_blocking()
///     .unwrap();
/// assert_eq!(tetsuo::net::linux::fastopen(&listener).unwrap(), 64);
/// ```
pub fn fastopen(fd: impl AsFd) -> io::Result<u32> {
    get_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN).map(|v| v.max(0) as u32)
}

/// Makes `connect` on this (not yet connected) socket use TCP Fast Open
/// (`TCP_FASTOPEN_CONNECT`): the SYN goes out with the first write and carries
/// its data when the client holds a cookie for the server.
pub fn set_fastopen_connect(fd: impl AsFd, enabled: bool) -> io::Result<()> {
    set_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_FASTOPEN_CONNECT,
        enabled.into(),
    )
}

/// Whether `TCP_FASTOPEN_CONNECT` is set.
pub fn fastopen_connect(fd: impl AsFd) -> io::Result<bool> {
    get_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT).map(|v| v != 0)
}

/// Wakes `accept` only once the client has sent data, for at most `timeout`
/// (`TCP_DEFER_ACCEPT`); zero disables it. The kernel keeps the value as a
/// number of SYN-ACK retransmissions, so [`defer_accept`] may read back a
/// rounded-up figure.
pub fn set_defer_accept(fd: impl AsFd, timeout: Duration) -> io::Result<()> {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    set_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        clamp_int(secs),
    )
}

/// The deferred-accept timeout the kernel holds (`TCP_DEFER_ACCEPT`).
pub fn defer_accept(fd: impl AsFd) -> io::Result<Duration> {
    get_int(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)
        .map(|v| Duration::from_secs(v.max(0) as u64))
}
