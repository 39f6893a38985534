//! The one error type of the I/O crate.
//!
//! [`Error`] is opaque: match on [`Error::kind`] or ask a predicate
//! ([`Error::is_timeout`], [`Error::is_retryable`], ...). It carries what was
//! being done (`connect`, `bind`, `set TCP_NODELAY`), the address or path
//! involved, and the underlying cause as its [`source`](std::error::Error::source).
//! Its message text is for people, not for matching.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A `Result` whose error is [`tetsuo::Error`](Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, broadly; see [`Error::kind`].
///
/// New kinds may be added, so matches need a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O error that none of the other kinds describes.
    Io,
    /// A connect, read, write or handshake did not finish in time.
    Timeout,
    /// The peer actively refused the connection (TCP RST to a SYN, no listener
    /// on a Unix path).
    Refused,
    /// The connection was reset, aborted or closed by the peer mid-way.
    Closed,
    /// The OS or the build does not support the requested feature (a socket
    /// option missing on this platform, an unknown congestion algorithm).
    Unsupported,
    /// The caller passed a value that cannot work (an empty fd list, a
    /// malformed address).
    InvalidInput,
    /// A configured limit was exceeded.
    Limit,
    /// Name resolution failed.
    Dns,
    /// TLS failed (handshake, certificate, alert).
    Tls,
    /// A proxy refused or failed the tunnel.
    Proxy,
    /// The peer broke a protocol.
    Protocol,
    /// A circuit breaker refused the call: the target failed too often
    /// recently; it is tried again after a cool-down.
    CircuitOpen,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Refused => "connection refused",
            ErrorKind::Closed => "connection closed by peer",
            ErrorKind::Unsupported => "not supported",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Limit => "limit exceeded",
            ErrorKind::Dns => "name resolution failed",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Proxy => "proxy error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::CircuitOpen => "circuit open: the target failed too often recently",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a TLS handshake failed; see [`Error::tls_cause`].
///
/// Causes that name a certificate problem are reported by the side that
/// checked the certificate; the other side usually sees
/// [`TlsCause::PeerRejected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsCause {
    /// The peer's certificate has expired.
    Expired,
    /// The peer's certificate is not valid yet.
    NotYetValid,
    /// The peer's certificate does not chain to a trusted root.
    UnknownIssuer,
    /// The peer's certificate is not valid for the name that was asked for.
    NameMismatch,
    /// The server's public key matches none of the configured pins.
    PinMismatch,
    /// The certificate is revoked (as a stapled OCSP response says).
    Revoked,
    /// An OCSP staple was required but the server sent none.
    OcspStapleMissing,
    /// The stapled OCSP response is expired, unsigned by the issuer, for
    /// another certificate, or malformed.
    OcspStapleInvalid,
    /// The peer's certificate is malformed or otherwise unacceptable.
    BadCertificate,
    /// A client certificate was required and none was presented.
    CertificateRequired,
    /// The peer rejected our certificate or our handshake (a TLS alert).
    PeerRejected,
    /// The handshake did not finish within the configured time.
    HandshakeTimeout,
    /// Both sides offered ALPN protocols but none in common.
    NoCommonAlpn,
    /// The two sides share no TLS version or cipher suite.
    Incompatible,
    /// Any other TLS failure (see the error's source).
    Other,
}

impl TlsCause {
    fn describe(self) -> &'static str {
        match self {
            TlsCause::Expired => "certificate has expired",
            TlsCause::NotYetValid => "certificate is not valid yet",
            TlsCause::UnknownIssuer => "certificate issuer is unknown (untrusted)",
            TlsCause::NameMismatch => "certificate is not valid for this name",
            TlsCause::PinMismatch => "public key matches no pin",
            TlsCause::Revoked => "certificate is revoked",
            TlsCause::OcspStapleMissing => "server stapled no OCSP response",
            TlsCause::OcspStapleInvalid => "stapled OCSP response is invalid",
            TlsCause::BadCertificate => "certificate is unacceptable",
            TlsCause::CertificateRequired => "client certificate required",
            TlsCause::PeerRejected => "rejected by peer",
            TlsCause::HandshakeTimeout => "handshake timed out",
            TlsCause::NoCommonAlpn => "no ALPN protocol in common",
            TlsCause::Incompatible => "no TLS version or cipher suite in common",
            TlsCause::Other => "TLS failure",
        }
    }
}

impl fmt::Display for TlsCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The thing an operation was aimed at.
#[derive(Debug, Clone)]
enum Target {
    Addr(SocketAddr),
    Path(PathBuf),
    Name(String),
}

/// The error type of every fallible `tetsuo` operation.
///
/// ```
/// use std::time::Duration;
/// use tetsuo::net::TcpConnector;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Port 1 on loopback has no listener: the kernel answers with RST.
/// let err = TcpConnector::new()
///     .connect_timeout(Duration::from_secs(5))
///     .connect("127.0.0.1:1".parse().unwrap())
///     .await
///     .unwrap_err();
/// assert!(err.is_refused());
/// assert!(err.is_retryable());
/// assert_eq!(err.addr(), Some("127.0.0.1:1".parse().unwrap()));
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    op: &'static str,
    target: Option<Target>,
    detail: Option<String>,
    tls_cause: Option<TlsCause>,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` raised while doing `op` (a short verb phrase such as
    /// `"connect to"` or `"set TCP_NODELAY on"`).
    pub(crate) fn new(kind: ErrorKind, op: &'static str) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                op,
                target: None,
                detail: None,
                tls_cause: None,
                source: None,
            }),
        }
    }

    /// Classifies `err` and records that it happened while doing `op`.
    pub(crate) fn io(op: &'static str, err: io::Error) -> Error {
        Error::new(kind_of(&err), op).with_source(err)
    }

    /// What was being done.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn op(&self) -> &'static str {
        self.inner.op
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_addr(mut self, addr: SocketAddr) -> Error {
        self.inner.target = Some(Target::Addr(addr));
        self
    }

    pub(crate) fn with_path(mut self, path: impl Into<PathBuf>) -> Error {
        self.inner.target = Some(Target::Path(path.into()));
        self
    }

    pub(crate) fn with_name(mut self, name: impl Into<String>) -> Error {
        self.inner.target = Some(Target::Name(name.into()));
        self
    }

    /// Replaces the generic description of the kind with a specific one.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.inner.detail = Some(detail.into());
        self
    }

    /// The peer broke HTTP/1.1: a limit error for 413/414/431 answers,
    /// a protocol error otherwise.
    #[cfg(feature = "http")]
    pub(crate) fn h1(op: &'static str, e: tetsuo_proto::h1::Error) -> Error {
        let kind = match e.status().as_u16() {
            413 | 414 | 431 => ErrorKind::Limit,
            _ => ErrorKind::Protocol,
        };
        Error::new(kind, op).with_source(e)
    }

    /// A body failed: a tetsuo error passes through, anything else is an
    /// I/O error with the cause as its source.
    #[cfg(feature = "http")]
    pub(crate) fn body(e: BoxError) -> Error {
        match e.downcast::<Error>() {
            Ok(e) => *e,
            Err(e) => Error::new(ErrorKind::Io, "stream a body").with_source(e),
        }
    }

    /// The connection ended early.
    #[cfg(feature = "http")]
    pub(crate) fn closed(detail: &'static str) -> Error {
        Error::new(ErrorKind::Closed, "read").with_detail(detail)
    }

    /// A TLS error of `cause` while doing `op`.
    #[cfg_attr(
        not(feature = "tls"),
        allow(dead_code, reason = "used by the tls module")
    )]
    pub(crate) fn tls(cause: TlsCause, op: &'static str) -> Error {
        let mut err = Error::new(
            if cause == TlsCause::HandshakeTimeout {
                ErrorKind::Timeout
            } else {
                ErrorKind::Tls
            },
            op,
        );
        err.inner.tls_cause = Some(cause);
        err
    }

    /// Why TLS failed, for errors of kind [`ErrorKind::Tls`] (and the
    /// [`ErrorKind::Timeout`] of a handshake that ran out of time).
    pub fn tls_cause(&self) -> Option<TlsCause> {
        self.inner.tls_cause
    }

    /// The status an HTTP proxy answered when it refused a CONNECT (407
    /// when it wants credentials), for errors of kind [`ErrorKind::Proxy`].
    #[cfg(feature = "connect")]
    pub fn proxy_status(&self) -> Option<http::StatusCode> {
        crate::proxy::refused_status(self.inner.source.as_deref()?)
    }

    /// The SOCKS failure (a refusal code, a rejected password, a malformed
    /// reply), for errors of kind [`ErrorKind::Proxy`].
    #[cfg(feature = "connect")]
    pub fn socks_error(&self) -> Option<tetsuo_proto::socks::Error> {
        crate::proxy::socks_error(self.inner.source.as_deref()?)
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The socket address the failed operation was aimed at, if any.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self.inner.target {
            Some(Target::Addr(addr)) => Some(addr),
            _ => None,
        }
    }

    /// The filesystem path (e.g. a Unix socket) the failed operation was
    /// aimed at, if any.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.target {
            Some(Target::Path(path)) => Some(path),
            _ => None,
        }
    }

    /// The underlying I/O error, if this error wraps one.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.inner.source.as_deref()?.downcast_ref::<io::Error>()
    }

    /// True if the operation ran out of time.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// True if the peer refused the connection.
    pub fn is_refused(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }

    /// True if the peer reset or closed the connection.
    pub fn is_closed(&self) -> bool {
        self.kind() == ErrorKind::Closed
    }

    /// True if the platform does not support what was asked.
    pub fn is_unsupported(&self) -> bool {
        self.kind() == ErrorKind::Unsupported
    }

    /// True if the caller passed something that cannot work.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// True if name resolution failed.
    pub fn is_dns(&self) -> bool {
        self.kind() == ErrorKind::Dns
    }

    /// True if TLS failed (including a handshake that timed out).
    pub fn is_tls(&self) -> bool {
        self.kind() == ErrorKind::Tls || self.inner.tls_cause.is_some()
    }

    /// True if the peer broke a protocol.
    pub fn is_protocol(&self) -> bool {
        self.kind() == ErrorKind::Protocol
    }

    /// True if trying the same operation again (perhaps after a backoff, or
    /// against another address) may succeed: timeouts, refusals, resets and
    /// transient network errors. Configuration mistakes, unsupported
    /// features and protocol violations are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self.kind() {
            ErrorKind::Timeout | ErrorKind::Refused | ErrorKind::Closed => true,
            ErrorKind::Io => self.io_error().is_some_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable
                        | io::ErrorKind::NetworkDown
                        | io::ErrorKind::AddrNotAvailable
                )
            }),
            _ => false,
        }
    }
}

/// Maps an I/O error onto the kind a caller acts on.
fn kind_of(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
        _ => match err.raw_os_error() {
            #[cfg(unix)]
            Some(code) if code == libc::ENOPROTOOPT || code == libc::EOPNOTSUPP => {
                ErrorKind::Unsupported
            }
            _ => ErrorKind::Io,
        },
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.write_str(inner.op)?;
        match &inner.target {
            Some(Target::Addr(addr)) => write!(f, " {addr}")?,
            Some(Target::Path(path)) => write!(f, " {}", path.display())?,
            Some(Target::Name(name)) => write!(f, " {name}")?,
            None => {}
        }
        match (&inner.detail, inner.tls_cause) {
            (Some(detail), _) => write!(f, ": {detail}"),
            (None, Some(cause)) => write!(f, ": {cause}"),
            (None, None) => write!(f, ": {}", inner.kind),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("tetsuo::Error");
        d.field("kind", &self.inner.kind)
            .field("op", &self.inner.op);
        if let Some(target) = &self.inner.target {
            d.field("target", target);
        }
        if let Some(detail) = &self.inner.detail {
            d.field("detail", detail);
        }
        if let Some(cause) = &self.inner.tls_cause {
            d.field("tls_cause", cause);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<io::Error> for Error {
    /// Classifies an I/O error from a tetsuo stream. A TLS stream reports
    /// protocol failures as I/O errors (for example a TLS 1.3 server that
    /// rejects the client's certificate after the client's handshake has
    /// finished); those become [`ErrorKind::Tls`] with their
    /// [`TlsCause`].
    fn from(err: io::Error) -> Error {
        #[cfg(feature = "tls")]
        if err.get_ref().is_some_and(|e| e.is::<rustls::Error>()) {
            return crate::tls::handshake_error("use TLS connection", err);
        }
        Error::io("use connection", err)
    }
}

impl From<Error> for io::Error {
    /// Lets a `tetsuo::Error` travel through `io::Result` code; the kind maps
    /// back to the closest [`io::ErrorKind`] and the error stays the source.
    fn from(err: Error) -> io::Error {
        let kind = match err.kind() {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Refused => io::ErrorKind::ConnectionRefused,
            ErrorKind::Closed => io::ErrorKind::ConnectionReset,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            _ => err.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let refused = Error::io("connect to", io::ErrorKind::ConnectionRefused.into());
        assert!(refused.is_refused() && refused.is_retryable());
        let timeout = Error::io("connect to", io::ErrorKind::TimedOut.into());
        assert!(timeout.is_timeout() && timeout.is_retryable());
        let reset = Error::io("read from", io::ErrorKind::ConnectionReset.into());
        assert!(reset.is_closed() && reset.is_retryable());
        let denied = Error::io("bind", io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.kind(), ErrorKind::Io);
        assert!(!denied.is_retryable());
        #[cfg(unix)]
        {
            let noopt = Error::io("set X on", io::Error::from_raw_os_error(libc::ENOPROTOOPT));
            assert!(noopt.is_unsupported() && !noopt.is_retryable());
        }
    }

    #[test]
    fn message_names_operation_target_and_cause() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let err = Error::io("connect to", io::ErrorKind::ConnectionRefused.into()).with_addr(addr);
        assert_eq!(
            err.to_string(),
            "connect to 127.0.0.1:9: connection refused"
        );
        assert_eq!(err.addr(), Some(addr));
        assert!(err.source().is_some());

        let err = Error::new(ErrorKind::Unsupported, "set TCP_CONGESTION on")
            .with_name("socket")
            .with_detail("algorithm \"foo\" is not available");
        assert_eq!(
            err.to_string(),
            "set TCP_CONGESTION on socket: algorithm \"foo\" is not available"
        );
        let path = Error::new(ErrorKind::Refused, "connect to").with_path("/tmp/x.sock");
        assert_eq!(path.path(), Some(Path::new("/tmp/x.sock")));
    }

    #[test]
    fn converts_back_to_io_error() {
        let err = Error::io("connect to", io::ErrorKind::TimedOut.into());
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        assert!(io.get_ref().unwrap().downcast_ref::<Error>().is_some());
    }
}
