//! Sockets with every option production code needs, in async and blocking
//! form.
//!
//! - [`TcpListenerBuilder`] and [`TcpConnector`]: TCP with nodelay, keepalive
//!   timings, address/port reuse, buffer sizes, linger, Fast Open, deferred
//!   accept, user timeout, dual-stack control, interface binding and
//!   congestion control; connect with a timeout.
//! - [`UdpBuilder`]: bound or connected UDP sockets, broadcast, multicast
//!   membership (IPv4 and IPv6), TTL and hop limits.
//! - [`unix`]: Unix domain stream and datagram sockets on filesystem paths
//!   and Linux abstract names, and peer credentials; [`fd`]: passing open
//!   descriptors (a listening socket, say) to another process.
//! - [`TimeoutStream`]: read/write timeouts and deadlines for any async
//!   stream; [`blocking::TimeoutStream`](crate::blocking::TimeoutStream) is
//!   its blocking twin.
//!
//! The builders return tokio's socket types from their async methods and the
//! standard library's from the `*_blocking` ones, so everything that works
//! with those types works with tetsuo's sockets. Every option is applied
//! before `bind`/`connect` and an option the platform lacks is an
//! [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) error, never a
//! silent no-op. To read an option back, use `socket2::SockRef::from(&sock)`,
//! or [`linux`] for the options `socket2` does not know.
//!
//! This module does no name resolution, no retries and no TLS: those belong
//! to the connect pipeline built on top of it.

mod sockopt;
mod tcp;
mod timeout;
mod udp;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod fd;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod handover;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(unix)]
pub mod unix;

pub use tcp::{Keepalive, TcpConnector, TcpListenerBuilder};
pub use timeout::TimeoutStream;
pub use udp::UdpBuilder;
#[cfg(unix)]
pub use unix::{PeerCred, UnixAddr};
