//! Field lists to and from `http` heads, with RFC 9113 §8's rules.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, StatusCode, Uri, Version};

use crate::hpack::{Encoder, Field};

/// The `:protocol` of an extended CONNECT request (RFC 8441), found in the
/// request's extensions (`websocket` for WebSocket over HTTP/2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Protocol(Bytes);

impl Protocol {
    /// A protocol name such as `websocket`.
    pub fn new(name: &str) -> Protocol {
        Protocol(Bytes::copy_from_slice(name.as_bytes()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Why a field list is not a valid request, response or trailers (a stream
/// error of type PROTOCOL_ERROR; a server may answer 400 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A name with uppercase letters or characters outside a token.
    BadName,
    /// A value with NUL, CR or LF, or leading or trailing whitespace.
    BadValue,
    /// A connection-specific field (`connection`, `transfer-encoding`, ...)
    /// or `te` other than `trailers`.
    ConnectionSpecific,
    /// A pseudo-header that is unknown, repeated, after a regular field,
    /// in trailers, or of the wrong kind (request vs response).
    BadPseudo,
    /// A required pseudo-header missing (`:method`, `:scheme`, `:path`,
    /// `:status`, or `:authority` for CONNECT).
    MissingPseudo,
    /// A method, scheme, authority, path or status that does not parse.
    BadPseudoValue,
    /// `:protocol` without extended CONNECT enabled, or not with CONNECT.
    BadProtocol,
    /// `host` and `:authority` name different things.
    HostMismatch,
    /// `content-length` that is not one number, or not what the DATA
    /// frames added up to.
    BadContentLength,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::BadName => "invalid field name",
            Malformed::BadValue => "invalid field value",
            Malformed::ConnectionSpecific => "connection-specific field",
            Malformed::BadPseudo => "misplaced, unknown or repeated pseudo-header",
            Malformed::MissingPseudo => "required pseudo-header missing",
            Malformed::BadPseudoValue => "invalid pseudo-header value",
            Malformed::BadProtocol => ":protocol not allowed",
            Malformed::HostMismatch => "host differs from :authority",
            Malformed::BadContentLength => "invalid or wrong content-length",
        })
    }
}

impl std::error::Error for Malformed {}

fn is_connection_specific(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Turns a regular field into a name and value, with §8.2's checks.
fn regular(f: Field) -> Result<(HeaderName, HeaderValue), Malformed> {
    if f.name.iter().any(u8::is_ascii_uppercase) {
        return Err(Malformed::BadName);
    }
    let name = HeaderName::from_bytes(&f.name).map_err(|_| Malformed::BadName)?;
    let v = &f.value[..];
    if v.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
        || v.first().is_some_and(|&b| b == b' ' || b == b'\t')
        || v.last().is_some_and(|&b| b == b' ' || b == b'\t')
    {
        return Err(Malformed::BadValue);
    }
    if is_connection_specific(&name) || (name == header::TE && v != b"trailers") {
        return Err(Malformed::ConnectionSpecific);
    }
    let mut value = HeaderValue::from_maybe_shared(f.value).map_err(|_| Malformed::BadValue)?;
    value.set_sensitive(f.sensitive);
    Ok((name, value))
}

/// The content-length of a head, if any (every value the same number).
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Malformed> {
    let mut found = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        let n: u64 = std::str::from_utf8(v.as_bytes())
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(Malformed::BadContentLength)?;
        if found.is_some_and(|m| m != n) {
            return Err(Malformed::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// The pseudo-headers of a request, then its regular fields.
#[derive(Default)]
struct RequestPseudo {
    method: Option<Bytes>,
    scheme: Option<Bytes>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    protocol: Option<Bytes>,
}

/// Splits `fields` (emptied) into pseudo-headers (through `take`) and
/// regular fields.
fn split_fields(
    fields: &mut Vec<Field>,
    mut take: impl FnMut(&[u8], Bytes) -> Result<(), Malformed>,
) -> Result<HeaderMap, Malformed> {
    let count = fields
        .iter()
        .filter(|f| f.name.first() != Some(&b':'))
        .count();
    let mut headers = HeaderMap::with_capacity(count);
    let mut regular_seen = false;
    for f in fields.drain(..) {
        if f.name.first() == Some(&b':') {
            if regular_seen {
                return Err(Malformed::BadPseudo);
            }
            take(&f.name, f.value)?;
        } else {
            regular_seen = true;
            let (name, value) = regular(f)?;
            headers.append(name, value);
        }
    }
    Ok(headers)
}

fn set_once(slot: &mut Option<Bytes>, value: Bytes) -> Result<(), Malformed> {
    if slot.replace(value).is_some() {
        return Err(Malformed::BadPseudo);
    }
    Ok(())
}

/// A request from its decoded fields; `connect_protocol`: extended
/// CONNECT is enabled (we advertised it).
pub(crate) fn request(
    fields: &mut Vec<Field>,
    connect_protocol: bool,
) -> Result<http::request::Parts, Malformed> {
    let mut p = RequestPseudo::default();
    let headers = split_fields(fields, |name, value| match name {
        b":method" => set_once(&mut p.method, value),
        b":scheme" => set_once(&mut p.scheme, value),
        b":authority" => set_once(&mut p.authority, value),
        b":path" => set_once(&mut p.path, value),
        b":protocol" => set_once(&mut p.protocol, value),
        _ => Err(Malformed::BadPseudo),
    })?;
    let method = Method::from_bytes(p.method.as_deref().ok_or(Malformed::MissingPseudo)?)
        .map_err(|_| Malformed::BadPseudoValue)?;
    let authority = p
        .authority
        .map(|a| Authority::from_maybe_shared(a).map_err(|_| Malformed::BadPseudoValue))
        .transpose()?;
    let mut uri = http::uri::Parts::default();
    let mut extensions = http::Extensions::new();
    if method == Method::CONNECT && p.protocol.is_none() {
        // Plain CONNECT: :authority only (§8.5).
        if p.scheme.is_some() || p.path.is_some() {
            return Err(Malformed::BadPseudo);
        }
        let authority = authority.clone().ok_or(Malformed::MissingPseudo)?;
        uri.authority = Some(authority);
    } else {
        if let Some(protocol) = p.protocol {
            if !connect_protocol || method != Method::CONNECT {
                return Err(Malformed::BadProtocol);
            }
            extensions.insert(Protocol(protocol));
        }
        let scheme = p.scheme.ok_or(Malformed::MissingPseudo)?;
        let path = p
            .path
            .filter(|p| !p.is_empty())
            .ok_or(Malformed::MissingPseudo)?;
        let scheme = Scheme::try_from(&scheme[..]).map_err(|_| Malformed::BadPseudoValue)?;
        let path = PathAndQuery::from_maybe_shared(path).map_err(|_| Malformed::BadPseudoValue)?;
        if let Some(a) = &authority {
            uri.scheme = Some(scheme);
            uri.authority = Some(a.clone());
        }
        uri.path_and_query = Some(path);
    }
    if let (Some(a), Some(host)) = (&authority, headers.get(header::HOST))
        && !a.as_str().eq_ignore_ascii_case(host.to_str().unwrap_or(""))
    {
        return Err(Malformed::HostMismatch);
    }
    content_length(&headers)?;
    let uri = Uri::from_parts(uri).map_err(|_| Malformed::BadPseudoValue)?;
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = Version::HTTP_2;
    parts.headers = headers;
    parts.extensions = extensions;
    Ok(parts)
}

/// A response (or an informational 1xx) from its decoded fields.
pub(crate) fn response(fields: &mut Vec<Field>) -> Result<http::response::Parts, Malformed> {
    let mut status = None;
    let headers = split_fields(fields, |name, value| match name {
        b":status" => set_once(&mut status, value),
        _ => Err(Malformed::BadPseudo),
    })?;
    let status = status.ok_or(Malformed::MissingPseudo)?;
    let status = (status.len() == 3)
        .then(|| StatusCode::from_bytes(&status).ok())
        .flatten()
        .filter(|s| *s != StatusCode::SWITCHING_PROTOCOLS)
        .ok_or(Malformed::BadPseudoValue)?;
    content_length(&headers)?;
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = Version::HTTP_2;
    parts.headers = headers;
    Ok(parts)
}

/// Trailers from their decoded fields (no pseudo-headers).
pub(crate) fn trailers(fields: &mut Vec<Field>) -> Result<HeaderMap, Malformed> {
    split_fields(fields, |_, _| Err(Malformed::BadPseudo))
}

/// The regular fields of `headers` that HTTP/2 may carry, to the encoder's
/// input: connection-specific fields and `host` (carried as `:authority`)
/// are left out; `te` only as `trailers`.
fn regular_fields(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8], bool)> {
    headers
        .iter()
        .filter(|(n, v)| {
            !is_connection_specific(n)
                && *n != header::HOST
                && (*n != header::TE || v.as_bytes() == b"trailers")
        })
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes(), v.is_sensitive()))
}

/// Why a head could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsendable {
    /// A request without an authority (and no `host`), or a scheme.
    NoAuthority,
}

/// Encodes a request's field block into `dst`.
pub(crate) fn encode_request(
    parts: &http::request::Parts,
    encoder: &mut Encoder,
    dst: &mut Vec<u8>,
) -> Result<(), Unsendable> {
    let host = parts.headers.get(header::HOST).map(HeaderValue::as_bytes);
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or(host)
        .ok_or(Unsendable::NoAuthority)?;
    let method = parts.method.as_str().as_bytes();
    let protocol = parts.extensions.get::<Protocol>();
    let mut pseudo: Vec<(&[u8], &[u8], bool)> = vec![(b":method", method, false)];
    if parts.method == Method::CONNECT && protocol.is_none() {
        pseudo.push((b":authority", authority, false));
    } else {
        let scheme = parts.uri.scheme_str().unwrap_or("https").as_bytes();
        let path = parts
            .uri
            .path_and_query()
            .map_or(&b"/"[..], |p| p.as_str().as_bytes());
        pseudo.push((b":scheme", scheme, false));
        pseudo.push((b":authority", authority, false));
        pseudo.push((b":path", path, false));
        if let Some(p) = protocol {
            pseudo.push((b":protocol", &p.0, false));
        }
    }
    encoder.encode(
        pseudo.into_iter().chain(regular_fields(&parts.headers)),
        dst,
    );
    Ok(())
}

/// Encodes a response's field block into `dst`.
pub(crate) fn encode_response(
    parts: &http::response::Parts,
    encoder: &mut Encoder,
    dst: &mut Vec<u8>,
) {
    let status = parts.status.as_str().as_bytes();
    let pseudo = [(&b":status"[..], status, false)];
    encoder.encode(
        pseudo.into_iter().chain(regular_fields(&parts.headers)),
        dst,
    );
}

/// Encodes trailers into `dst`.
pub(crate) fn encode_trailers(trailers: &HeaderMap, encoder: &mut Encoder, dst: &mut Vec<u8>) {
    encoder.encode(regular_fields(trailers), dst);
}
