//! HTTP CONNECT through an HTTP proxy (RFC 9110 §9.3.6), without I/O.
//!
//! [`encode_connect`] writes the request; [`TunnelParser`] reads the
//! proxy's answer. A 2xx ends at its head — whatever Content-Length or
//! Transfer-Encoding it claims, no body is read and the bytes after the head
//! belong to the tunnel. Interim 1xx answers are skipped. Anything else is a
//! [`TunnelError::Refused`] carrying the status; a malformed head is a
//! [`TunnelError::Malformed`].

use std::fmt;

use http::{HeaderMap, Method, StatusCode, Version};

use crate::h1::{self, EncodeError, HeadParser, Kind, Limits, Status};

/// Writes `CONNECT authority HTTP/1.1` with `Host: authority` and
/// `headers` (for example `Proxy-Authorization`).
///
/// `authority` is `host:port`, an IPv6 host in brackets.
///
/// ```
/// use http::HeaderMap;
///
/// let mut wire = Vec::new();
/// tetsuo_proto::tunnel::encode_connect(&mut wire, "example.com:443", &HeaderMap::new()).unwrap();
/// assert_eq!(wire, b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n");
/// ```
pub fn encode_connect(
    dst: &mut Vec<u8>,
    authority: &str,
    headers: &HeaderMap,
) -> Result<(), EncodeError> {
    let port_ok = authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(EncodeError::InvalidTarget);
    }
    h1::encode_request_head(
        dst,
        &Method::CONNECT,
        authority,
        Version::HTTP_11,
        headers,
        &[("host", authority.as_bytes())],
    )
}

/// Why a proxy did not open the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelError {
    /// The proxy answered with this non-2xx status (407: it wants
    /// credentials).
    Refused {
        /// The proxy's status.
        status: StatusCode,
    },
    /// The answer is not a valid HTTP/1.1 response head.
    Malformed(h1::Error),
}

impl fmt::Display for TunnelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelError::Refused { status } => write!(f, "the proxy answered {status}"),
            TunnelError::Malformed(e) => write!(f, "malformed proxy response: {e}"),
        }
    }
}

impl std::error::Error for TunnelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TunnelError::Malformed(e) => Some(e),
            TunnelError::Refused { .. } => None,
        }
    }
}

/// Reads a proxy's answer to CONNECT.
///
/// ```
/// use tetsuo_proto::h1::Limits;
/// use tetsuo_proto::tunnel::{TunnelError, TunnelParser};
///
/// let mut parser = TunnelParser::new(Limits::default());
/// let answer = b"HTTP/1.1 200 Connection established\r\nContent-Length: 99\r\n\r\n\x16\x03\x01";
/// // The head is 61 bytes; what follows is the tunnel's.
/// assert_eq!(parser.parse(answer).unwrap(), Some(answer.len() - 3));
///
/// let mut parser = TunnelParser::new(Limits::default());
/// let err = parser.parse(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").unwrap_err();
/// assert_eq!(err, TunnelError::Refused { status: http::StatusCode::PROXY_AUTHENTICATION_REQUIRED });
/// ```
#[derive(Debug, Clone)]
pub struct TunnelParser {
    parser: HeadParser,
    /// Bytes of interim (1xx) answers already passed over.
    skipped: usize,
}

impl TunnelParser {
    /// A parser bounded by `limits` (head size, field count, line length).
    pub fn new(limits: Limits) -> TunnelParser {
        TunnelParser {
            parser: HeadParser::new(Kind::Response, limits),
            skipped: 0,
        }
    }

    /// Parses the answer so far (`buf` holds everything received, from its
    /// first byte). `Ok(None)`: more bytes needed; `Ok(Some(n))`: the tunnel
    /// is open and its data starts at `buf[n..]`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, TunnelError> {
        loop {
            let rest = buf.get(self.skipped..).unwrap_or_default();
            let len = match self.parser.parse(rest).map_err(TunnelError::Malformed)? {
                Status::Partial => return Ok(None),
                Status::Complete(len) => len,
            };
            let status = self
                .parser
                .response(rest)
                .map(|r| r.status())
                .ok_or(TunnelError::Malformed(h1::Error::InvalidStatus))?;
            if status.is_informational() {
                self.skipped += len;
                self.parser.reset();
                continue;
            }
            if !status.is_success() {
                return Err(TunnelError::Refused { status });
            }
            return Ok(Some(self.skipped + len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn interim_answers_are_skipped_and_splits_do_not_matter() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nDATA";
        for split in 0..answer.len() - 4 {
            let mut parser = TunnelParser::new(Limits::default());
            assert_eq!(
                parser.parse(&answer[..split]).unwrap(),
                None,
                "split {split}"
            );
            assert_eq!(parser.parse(answer).unwrap(), Some(answer.len() - 4));
        }
    }

    #[test]
    fn malformed_and_oversized_answers() {
        let mut parser = TunnelParser::new(Limits::default());
        assert!(matches!(
            parser.parse(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(TunnelError::Malformed(_))
        ));
        let mut parser = TunnelParser::new(Limits::default());
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..2000 {
            huge.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert!(matches!(
            parser.parse(&huge),
            Err(TunnelError::Malformed(_))
        ));
        let mut parser = TunnelParser::new(Limits::default());
        assert_eq!(
            parser.parse(b"HTTP/1.0 502 Bad Gateway\r\n\r\n"),
            Err(TunnelError::Refused {
                status: StatusCode::BAD_GATEWAY
            })
        );
    }

    #[test]
    fn the_request_refuses_bad_authorities_and_headers() {
        let mut wire = Vec::new();
        assert!(encode_connect(&mut wire, "example.com", &HeaderMap::new()).is_err());
        assert!(encode_connect(&mut wire, "a b:1", &HeaderMap::new()).is_err());
        assert!(wire.is_empty());
        let mut headers = HeaderMap::new();
        headers.insert("proxy-authorization", "Basic dTpw".parse().unwrap());
        encode_connect(&mut wire, "[::1]:8443", &headers).unwrap();
        assert_eq!(
            wire,
            b"CONNECT [::1]:8443 HTTP/1.1\r\nproxy-authorization: Basic dTpw\r\nhost: [::1]:8443\r\n\r\n"
        );
    }

    proptest! {
        #[test]
        fn any_answer_is_handled(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut parser = TunnelParser::new(Limits::default());
            if let Ok(Some(n)) = parser.parse(&input) {
                prop_assert!(n <= input.len());
            }
        }
    }
}
