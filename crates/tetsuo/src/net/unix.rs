//! Unix domain sockets: filesystem and Linux abstract addresses, stream and
//! datagram sockets, and peer credentials.
//!
//! Addresses are [`UnixAddr`] values, parsed from the usual spelling: a path,
//! or `@name` for a name in Linux's abstract namespace (no file, gone when the
//! last socket closes). The functions hand back tokio's or std's own Unix
//! socket types. Passing file descriptors over these sockets lives in
//! [`fd`](super::fd).

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net as std_unix;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// The address of a Unix domain socket.
///
/// ```
/// use tetsuo::net::UnixAddr;
///
/// let path: UnixAddr = "/run/app.sock".parse().unwrap();
/// assert_eq!(path, UnixAddr::Path("/run/app.sock".into()));
/// let abstract_name: UnixAddr = "@app".parse().unwrap();
/// assert_eq!(abstract_name, UnixAddr::Abstract(b"app".to_vec()));
/// assert_eq!(abstract_name.to_string(), "@app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file in the filesystem.
    Path(PathBuf),
    /// A name in Linux's abstract namespace, written `@name`.
    Abstract(Vec<u8>),
}

impl FromStr for UnixAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<UnixAddr> {
        if s.is_empty() {
            return Err(
                Error::new(ErrorKind::InvalidInput, "parse Unix socket address")
                    .with_detail("empty address"),
            );
        }
        Ok(match s.strip_prefix('@') {
            Some(name) => UnixAddr::Abstract(name.as_bytes().to_vec()),
            None => UnixAddr::Path(PathBuf::from(s)),
        })
    }
}

impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(path) => write!(f, "{}", path.display()),
            UnixAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

impl From<PathBuf> for UnixAddr {
    fn from(path: PathBuf) -> UnixAddr {
        UnixAddr::Path(path)
    }
}

impl From<&std::path::Path> for UnixAddr {
    fn from(path: &std::path::Path) -> UnixAddr {
        UnixAddr::Path(path.to_owned())
    }
}

impl UnixAddr {
    /// The standard library's form of this address.
    pub fn to_std(&self) -> Result<std_unix::SocketAddr> {
        let result = match self {
            UnixAddr::Path(path) => std_unix::SocketAddr::from_pathname(path),
            UnixAddr::Abstract(name) => abstract_addr(name),
        };
        result.map_err(|e| self.annotate(Error::io("use Unix socket address", e)))
    }

    /// Attaches this address to an error as its path or name.
    fn annotate(&self, err: Error) -> Error {
        match self {
            UnixAddr::Path(path) => err.with_path(path.clone()),
            UnixAddr::Abstract(_) => err.with_name(self.to_string()),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<std_unix::SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std_unix::SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_: &[u8]) -> io::Result<std_unix::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract Unix socket names exist only on Linux",
    ))
}

/// Listens for stream connections on `addr`, for blocking use.
///
/// A path that already exists fails with `AddrInUse`; removing a stale socket
/// file is the caller's decision.
pub fn bind_blocking(addr: &UnixAddr) -> Result<std_unix::UnixListener> {
    std_unix::UnixListener::bind_addr(&addr.to_std()?)
        .map_err(|e| addr.annotate(Error::io("bind", e)))
}

/// Listens for stream connections on `addr`; must be called inside a tokio
/// runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// use tetsuo::net::unix;
///
/// let addr = format!("@tetsuo-doc-{}", std::process::id()).parse()?;
/// let listener = unix::bind(&addr)?;
/// let client = unix::connect(&addr).await?;
/// let (server, _) = listener.accept().await.unwrap();
/// let cred = unix::peer_cred(&server)?;
/// assert_eq!(cred.pid(), Some(std::process::id() as i32));
/// # drop(client); Ok(()) }
/// ```
pub fn bind(addr: &UnixAddr) -> Result<tokio::net::UnixListener> {
    let listener = bind_blocking(addr)?;
    listener
        .set_nonblocking(true)
        .map_err(|e| addr.annotate(Error::io("set O_NONBLOCK on", e)))?;
    tokio::net::UnixListener::from_std(listener)
        .map_err(|e| addr.annotate(Error::io("register with tokio", e)))
}

/// Connects to the stream socket at `addr`.
///
/// # Cancel safety
///
/// Dropping the future closes the unconnected socket; nothing else is lost.
pub async fn connect(addr: &UnixAddr) -> Result<tokio::net::UnixStream> {
    tokio::net::UnixStream::connect_addr(&addr.to_std()?.into())
        .await
        .map_err(|e| addr.annotate(connect_error(e)))
}

/// Connects to the stream socket at `addr`, blocking the calling thread.
pub fn connect_blocking(addr: &UnixAddr) -> Result<std_unix::UnixStream> {
    std_unix::UnixStream::connect_addr(&addr.to_std()?).map_err(|e| addr.annotate(connect_error(e)))
}

/// A missing socket file means nobody listens there: a refusal, as with TCP.
fn connect_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::new(ErrorKind::Refused, "connect to")
            .with_detail("no socket at this path")
            .with_source(e)
    } else {
        Error::io("connect to", e)
    }
}

/// Binds a datagram socket to `addr`; must be called inside a tokio runtime.
pub fn bind_datagram(addr: &UnixAddr) -> Result<tokio::net::UnixDatagram> {
    let sock = bind_datagram_blocking(addr)?;
    sock.set_nonblocking(true)
        .map_err(|e| addr.annotate(Error::io("set O_NONBLOCK on", e)))?;
    tokio::net::UnixDatagram::from_std(sock)
        .map_err(|e| addr.annotate(Error::io("register with tokio", e)))
}

/// Binds a datagram socket to `addr`, for blocking use.
pub fn bind_datagram_blocking(addr: &UnixAddr) -> Result<std_unix::UnixDatagram> {
    std_unix::UnixDatagram::bind_addr(&addr.to_std()?)
        .map_err(|e| addr.annotate(Error::io("bind", e)))
}

/// Who is on the other end of a Unix socket, as the kernel recorded it when
/// the connection was made (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    pid: Option<i32>,
    uid: u32,
    gid: u32,
}

impl PeerCred {
    /// The peer's process id, when the kernel knows it.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// The peer's effective user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}

/// The credentials of the peer of a connected Unix stream socket (async or
/// blocking; anything with a file descriptor).
///
/// Linux only here; on other Unix systems tokio's `UnixStream::peer_cred`
/// covers the same need.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_cred(sock: impl AsFd) -> Result<PeerCred> {
    let cred = rustix::net::sockopt::socket_peercred(sock.as_fd())
        .map_err(|e| Error::io("read SO_PEERCRED of", io::Error::from(e)).with_name("socket"))?;
    Ok(PeerCred {
        pid: Some(cred.pid.as_raw_pid()),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// The credentials of the peer of a connected Unix stream socket.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer_cred(_: impl AsFd) -> Result<PeerCred> {
    Err(super::sockopt::unsupported("read SO_PEERCRED of"))
}
