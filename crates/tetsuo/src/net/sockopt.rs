//! Socket option helpers shared by the TCP and UDP builders.

use socket2::Socket;

use crate::error::{Error, ErrorKind, Result};

#[cfg_attr(
    target_os = "linux",
    allow(dead_code, reason = "used where the OS lacks an option")
)]
pub(super) fn unsupported(op: &'static str) -> Error {
    Error::new(ErrorKind::Unsupported, op).with_detail("not available on this platform")
}

#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
pub(super) fn set_reuse_port(sock: &Socket, on: bool) -> Result<()> {
    sock.set_reuse_port(on)
        .map_err(|e| Error::io("set SO_REUSEPORT on", e))
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
pub(super) fn set_reuse_port(_: &Socket, _: bool) -> Result<()> {
    Err(unsupported("set SO_REUSEPORT on"))
}

#[cfg(target_os = "linux")]
pub(super) fn set_bind_device(sock: &Socket, device: &str) -> Result<()> {
    sock.bind_device(Some(device.as_bytes()))
        .map_err(|e| Error::io("set SO_BINDTODEVICE on", e))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn set_bind_device(_: &Socket, _: &str) -> Result<()> {
    Err(unsupported("set SO_BINDTODEVICE on"))
}
