//! The opening handshake (RFC 6455 §4): the client's request and its
//! checks of the answer, the server's checks and its answer.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use sha1::{Digest, Sha1};

use super::deflate::{self, DeflateConfig, Params};

/// The GUID RFC 6455 §1.3 appends to the key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Not a GET (server side).
    NotGet,
    /// Over HTTP/2: not an extended CONNECT with `:protocol` `websocket`
    /// (RFC 8441 §4).
    NotExtendedConnect,
    /// Older than HTTP/1.1.
    OldHttp,
    /// No `Upgrade: websocket`.
    NotWebSocket,
    /// No `Connection: upgrade`.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is not 13 (answer 426 with version 13).
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing or not 16 bytes in base64.
    BadKey,
    /// The server answered this status instead of 101 (a 2xx over
    /// HTTP/2).
    Status(StatusCode),
    /// `Sec-WebSocket-Accept` missing or wrong.
    BadAccept,
    /// The server chose a subprotocol the client did not offer.
    UnofferedProtocol,
    /// The server answered with extensions the client cannot accept.
    BadExtensions,
}

impl HandshakeError {
    /// The status a server answers this failure with.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::NotGet | HandshakeError::NotExtendedConnect => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotGet => f.write_str("a WebSocket handshake must be a GET"),
            HandshakeError::NotExtendedConnect => f.write_str(
                "a WebSocket handshake over HTTP/2 must be a CONNECT with :protocol websocket",
            ),
            HandshakeError::OldHttp => f.write_str("a WebSocket handshake needs HTTP/1.1"),
            HandshakeError::NotWebSocket => f.write_str("no `Upgrade: websocket`"),
            HandshakeError::NoConnectionUpgrade => f.write_str("no `Connection: upgrade`"),
            HandshakeError::UnsupportedVersion => {
                f.write_str("only WebSocket version 13 is supported")
            }
            HandshakeError::BadKey => f.write_str("missing or malformed Sec-WebSocket-Key"),
            HandshakeError::Status(s) => write!(f, "the server refused the WebSocket ({s})"),
            HandshakeError::BadAccept => f.write_str("wrong Sec-WebSocket-Accept"),
            HandshakeError::UnofferedProtocol => {
                f.write_str("the server chose a subprotocol we did not offer")
            }
            HandshakeError::BadExtensions => {
                f.write_str("the server answered with extensions we cannot accept")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// `base64(SHA-1(key + GUID))`: the `Sec-WebSocket-Accept` for `key`.
///
/// ```
/// // RFC 6455 §1.3's example.
/// let accept = tetsuo_proto::ws::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// True if a comma-separated header (any of its lines) lists `token`.
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// What a server agreed to in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshake {
    /// `Sec-WebSocket-Accept` (none over HTTP/2).
    pub accept: Option<String>,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
    /// permessage-deflate, if agreed: parameters and the answer's value.
    pub deflate: Option<(Params, String)>,
}

/// Checks a client's opening handshake. `protocols` are the server's
/// subprotocols, most preferred first; `deflate` enables
/// permessage-deflate.
pub fn server_handshake(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<ServerHandshake, HandshakeError> {
    if method != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    if version < Version::HTTP_11 {
        return Err(HandshakeError::OldHttp);
    }
    if !has_token(headers, UPGRADE, "websocket") {
        return Err(HandshakeError::NotWebSocket);
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    check_version(headers)?;
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .ok_or(HandshakeError::BadKey)?
        .as_bytes();
    match STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey),
    }
    Ok(ServerHandshake {
        accept: Some(accept_key(key)),
        ..agree(headers, protocols, deflate)
    })
}

/// Checks a client's opening handshake over HTTP/2 (RFC 8441): an
/// extended CONNECT whose `:protocol` is `protocol`, without the key and
/// `Upgrade` of HTTP/1.1; the server answers `200` with
/// [`response_headers`](ServerHandshake::response_headers).
pub fn server_handshake_h2(
    method: &Method,
    protocol: Option<&str>,
    headers: &HeaderMap,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<ServerHandshake, HandshakeError> {
    if method != Method::CONNECT || protocol != Some("websocket") {
        return Err(HandshakeError::NotExtendedConnect);
    }
    check_version(headers)?;
    Ok(agree(headers, protocols, deflate))
}

fn check_version(headers: &HeaderMap) -> Result<(), HandshakeError> {
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        == Some(b"13")
    {
        Ok(())
    } else {
        Err(HandshakeError::UnsupportedVersion)
    }
}

/// The subprotocol and extensions both sides agree on.
fn agree(
    headers: &HeaderMap,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> ServerHandshake {
    let offered: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim))
        .collect();
    let protocol = protocols
        .iter()
        .find(|p| offered.contains(p))
        .map(|p| (*p).to_owned());
    let deflate = deflate.and_then(|config| {
        let values = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        deflate::server_accept(values, config)
    });
    ServerHandshake {
        accept: None,
        protocol,
        deflate,
    }
}

impl ServerHandshake {
    /// The headers of the answer: `101 Switching Protocols` over
    /// HTTP/1.1, `200` over HTTP/2.
    pub fn response_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(5);
        if let Some(accept) = &self.accept {
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            let accept = HeaderValue::from_str(accept).expect("base64 is a valid header value");
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = self
            .protocol
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, p);
        }
        if let Some(v) = self
            .deflate
            .as_ref()
            .and_then(|(_, answer)| HeaderValue::from_str(answer).ok())
        {
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, v);
        }
        headers
    }
}

/// A client's opening handshake.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
}

/// What the server agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The subprotocol, if any.
    pub protocol: Option<String>,
    /// permessage-deflate's parameters, if agreed.
    pub deflate: Option<Params>,
}

impl ClientHandshake {
    /// A handshake with a key made from 16 random bytes (the caller's:
    /// this crate has no randomness), offering `protocols` and, with
    /// `deflate`, permessage-deflate.
    pub fn new(random: [u8; 16], protocols: Vec<String>, deflate: Option<DeflateConfig>) -> Self {
        ClientHandshake {
            key: STANDARD.encode(random),
            protocols,
            deflate,
        }
    }

    /// The request's headers (`host` is the `Host` value).
    pub fn request_headers(
        &self,
        host: &str,
    ) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
        let mut headers = self.request_headers_h2()?;
        headers.insert(HOST, HeaderValue::from_str(host)?);
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_str(&self.key)?);
        Ok(headers)
    }

    /// The headers of an extended CONNECT over HTTP/2 (RFC 8441 §5): the
    /// request's method is CONNECT and its `:protocol` `websocket`.
    pub fn request_headers_h2(&self) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
        let mut headers = HeaderMap::with_capacity(7);
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        if !self.protocols.is_empty() {
            headers.insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(&self.protocols.join(", "))?,
            );
        }
        if let Some(config) = &self.deflate {
            headers.insert(
                SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(&deflate::client_offer(config))?,
            );
        }
        Ok(headers)
    }

    /// Checks the server's answer.
    pub fn verify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Negotiated, HandshakeError> {
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::Status(status));
        }
        if !has_token(headers, UPGRADE, "websocket") {
            return Err(HandshakeError::NotWebSocket);
        }
        if !has_token(headers, CONNECTION, "upgrade") {
            return Err(HandshakeError::NoConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        if headers.get(SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes) != Some(expected.as_bytes())
        {
            return Err(HandshakeError::BadAccept);
        }
        self.negotiated(headers)
    }

    /// Checks the server's answer to an extended CONNECT over HTTP/2: a
    /// 2xx, and what it agreed to.
    pub fn verify_h2(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Negotiated, HandshakeError> {
        if !status.is_success() {
            return Err(HandshakeError::Status(status));
        }
        self.negotiated(headers)
    }

    fn negotiated(&self, headers: &HeaderMap) -> Result<Negotiated, HandshakeError> {
        let protocol = match headers.get(SEC_WEBSOCKET_PROTOCOL) {
            None => None,
            Some(p) => {
                let p = p.to_str().map_err(|_| HandshakeError::UnofferedProtocol)?;
                if !self.protocols.iter().any(|o| o == p) {
                    return Err(HandshakeError::UnofferedProtocol);
                }
                Some(p.to_owned())
            }
        };
        let answers: Vec<&str> = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let deflate = match (answers.as_slice(), &self.deflate) {
            ([], _) => None,
            ([answer], Some(config)) => Some(
                deflate::client_accept(answer, config)
                    .map_err(|_| HandshakeError::BadExtensions)?,
            ),
            _ => return Err(HandshakeError::BadExtensions),
        };
        Ok(Negotiated { protocol, deflate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let client = ClientHandshake::new(
            [7; 16],
            vec!["chat".into(), "superchat".into()],
            Some(DeflateConfig::default()),
        );
        let headers = client.request_headers("example.com").unwrap();
        let server = server_handshake(
            &Method::GET,
            Version::HTTP_11,
            &headers,
            &["superchat"],
            Some(&DeflateConfig::default()),
        )
        .unwrap();
        assert_eq!(server.protocol.as_deref(), Some("superchat"));
        let answer = server.response_headers();
        let negotiated = client
            .verify(StatusCode::SWITCHING_PROTOCOLS, &answer)
            .unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("superchat"));
        assert!(negotiated.deflate.is_some());
        // A forged accept is refused.
        let mut forged = answer.clone();
        forged.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static("AAAA"));
        assert_eq!(
            client.verify(StatusCode::SWITCHING_PROTOCOLS, &forged),
            Err(HandshakeError::BadAccept)
        );
        assert_eq!(
            client.verify(StatusCode::OK, &answer),
            Err(HandshakeError::Status(StatusCode::OK))
        );
    }

    #[test]
    fn server_refusals() {
        let client = ClientHandshake::new([1; 16], vec![], None);
        let good = client.request_headers("h").unwrap();
        let check = |h: &HeaderMap| server_handshake(&Method::GET, Version::HTTP_11, h, &[], None);
        assert!(check(&good).is_ok());
        let mut h = good.clone();
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            check(&h).unwrap_err().status(),
            StatusCode::UPGRADE_REQUIRED
        );
        let mut h = good.clone();
        h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("c2hvcnQ="));
        assert_eq!(check(&h), Err(HandshakeError::BadKey));
        let mut h = good.clone();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(check(&h).is_ok());
        h.remove(UPGRADE);
        assert_eq!(check(&h), Err(HandshakeError::NotWebSocket));
        assert_eq!(
            server_handshake(&Method::POST, Version::HTTP_11, &good, &[], None),
            Err(HandshakeError::NotGet)
        );
    }

    #[test]
    fn over_http2_both_sides_agree() {
        let client =
            ClientHandshake::new([3; 16], vec!["chat".into()], Some(DeflateConfig::default()));
        let headers = client.request_headers_h2().unwrap();
        for name in [HOST, UPGRADE, CONNECTION, SEC_WEBSOCKET_KEY] {
            assert!(!headers.contains_key(&name), "{name} is HTTP/1.1 only");
        }
        let check = |method: &Method, protocol| {
            server_handshake_h2(
                method,
                protocol,
                &headers,
                &["chat"],
                Some(&DeflateConfig::default()),
            )
        };
        assert_eq!(
            check(&Method::GET, Some("websocket")),
            Err(HandshakeError::NotExtendedConnect)
        );
        assert_eq!(
            check(&Method::CONNECT, None),
            Err(HandshakeError::NotExtendedConnect)
        );
        assert_eq!(
            check(&Method::CONNECT, Some("webtransport")),
            Err(HandshakeError::NotExtendedConnect)
        );
        let server = check(&Method::CONNECT, Some("websocket")).unwrap();
        assert_eq!(server.accept, None);
        let answer = server.response_headers();
        assert!(!answer.contains_key(SEC_WEBSOCKET_ACCEPT));
        assert!(!answer.contains_key(UPGRADE));
        let negotiated = client.verify_h2(StatusCode::OK, &answer).unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
        assert!(negotiated.deflate.is_some());
        assert_eq!(
            client.verify_h2(StatusCode::NOT_FOUND, &answer),
            Err(HandshakeError::Status(StatusCode::NOT_FOUND))
        );
        let mut old = headers.clone();
        old.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            server_handshake_h2(&Method::CONNECT, Some("websocket"), &old, &[], None),
            Err(HandshakeError::UnsupportedVersion)
        );
    }
}
