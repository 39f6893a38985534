//! Writing heads, chunks and trailers (RFC 9112 §3, §4, §5, §7).
//!
//! Everything the application hands over is checked before it reaches the
//! wire: a header value or reason phrase with CR, LF, NUL or another control
//! byte, or a request-target with whitespace, is an [`EncodeError`] and
//! nothing is written (no header injection, whatever `unsafe` constructor
//! built the value).

use http::{HeaderMap, Method, StatusCode, Version};

use super::EncodeError;
use super::chars::{FIELD_VALUE, TCHAR, plain_value_run};

/// Writes `method SP target SP version CRLF`, the fields, and the empty line.
///
/// ```
/// use http::{HeaderMap, Method, Version, header::HOST};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, "example.com".parse().unwrap());
/// let mut wire = Vec::new();
/// tetsuo_proto::h1::encode_request_head(&mut wire, &Method::GET, "/", Version::HTTP_11, &headers, &[])
///     .unwrap();
/// assert_eq!(wire, b"GET / HTTP/1.1\r\nhost: example.com\r\n\r\n");
/// ```
pub fn encode_request_head(
    dst: &mut Vec<u8>,
    method: &Method,
    target: &str,
    version: Version,
    headers: &HeaderMap,
    extra: &[(&str, &[u8])],
) -> Result<(), EncodeError> {
    let start = dst.len();
    let result = (|| {
        if target.is_empty() || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(EncodeError::InvalidTarget);
        }
        dst.extend_from_slice(method.as_str().as_bytes());
        dst.push(b' ');
        dst.extend_from_slice(target.as_bytes());
        dst.push(b' ');
        dst.extend_from_slice(version_bytes(version));
        dst.extend_from_slice(b"\r\n");
        write_fields(dst, headers, extra)
    })();
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

/// Writes `version SP status SP reason CRLF`, the fields, and the empty
/// line. The reason defaults to the status's canonical one.
pub fn encode_response_head(
    dst: &mut Vec<u8>,
    status: StatusCode,
    reason: Option<&str>,
    version: Version,
    headers: &HeaderMap,
    extra: &[(&str, &[u8])],
) -> Result<(), EncodeError> {
    let start = dst.len();
    let result = (|| {
        // The most common status lines, whole.
        let line: Option<&[u8]> = match (reason, version, status.as_u16()) {
            (None, Version::HTTP_11, 200) => Some(b"HTTP/1.1 200 OK\r\n"),
            (None, Version::HTTP_11, 204) => Some(b"HTTP/1.1 204 No Content\r\n"),
            (None, Version::HTTP_11, 304) => Some(b"HTTP/1.1 304 Not Modified\r\n"),
            (None, Version::HTTP_11, 404) => Some(b"HTTP/1.1 404 Not Found\r\n"),
            _ => None,
        };
        if let Some(line) = line {
            dst.extend_from_slice(line);
        } else {
            // Canonical reasons are valid text; a caller's is checked.
            let reason = match reason {
                Some(r) if !r.bytes().all(|b| FIELD_VALUE[b as usize]) => {
                    return Err(EncodeError::InvalidReason);
                }
                Some(r) => r,
                None => status.canonical_reason().unwrap_or(""),
            };
            dst.extend_from_slice(version_bytes(version));
            dst.push(b' ');
            dst.extend_from_slice(status.as_str().as_bytes());
            dst.push(b' ');
            dst.extend_from_slice(reason.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
        write_fields(dst, headers, extra)
    })();
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

fn version_bytes(version: Version) -> &'static [u8] {
    if version == Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    }
}

fn write_fields(
    dst: &mut Vec<u8>,
    headers: &HeaderMap,
    extra: &[(&str, &[u8])],
) -> Result<(), EncodeError> {
    for (name, value) in headers {
        // `HeaderName` holds a valid token by construction; its value is
        // checked (an unchecked constructor could have let CR/LF in).
        write_field(dst, name.as_str(), value.as_bytes())?;
    }
    for (name, value) in extra {
        if name.is_empty() || !name.bytes().all(|b| TCHAR[b as usize]) {
            return Err(EncodeError::InvalidFieldName);
        }
        write_field(dst, name, value)?;
    }
    dst.extend_from_slice(b"\r\n");
    Ok(())
}

#[inline]
fn write_field(dst: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), EncodeError> {
    if !valid_value(value) {
        return Err(EncodeError::InvalidFieldValue);
    }
    dst.reserve(name.len() + value.len() + 4);
    dst.extend_from_slice(name.as_bytes());
    // Single bytes are stores; two-byte slices would be `memcpy` calls.
    dst.push(b':');
    dst.push(b' ');
    dst.extend_from_slice(value);
    dst.push(b'\r');
    dst.push(b'\n');
    Ok(())
}

/// A field value's bytes are all VCHAR, obs-text, SP or HTAB.
#[inline]
fn valid_value(value: &[u8]) -> bool {
    let plain = plain_value_run(value);
    plain == value.len() || value[plain..].iter().all(|&b| FIELD_VALUE[b as usize])
}

/// Writes one chunk of a chunked body: size in hex, CRLF, data, CRLF. An
/// empty `data` writes nothing (an empty chunk would end the body).
pub fn encode_chunk(dst: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut size = [0u8; 16];
    let mut n = data.len();
    let mut i = size.len();
    while n > 0 || i == size.len() {
        i -= 1;
        size[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    dst.extend_from_slice(&size[i..]);
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the last chunk, the trailer fields, and the final empty line.
pub fn encode_last_chunk(
    dst: &mut Vec<u8>,
    trailers: Option<&HeaderMap>,
) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.extend_from_slice(b"0\r\n");
    let result = match trailers {
        Some(trailers) => write_fields(dst, trailers, &[]),
        None => {
            dst.extend_from_slice(b"\r\n");
            Ok(())
        }
    };
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn chunks_are_hex_framed() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, &[b'x'; 26]);
        encode_chunk(&mut out, b"");
        encode_last_chunk(&mut out, None).unwrap();
        let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn trailers_follow_the_last_chunk() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let mut out = Vec::new();
        encode_last_chunk(&mut out, Some(&trailers)).unwrap();
        assert_eq!(out, b"0\r\ngrpc-status: 0\r\n\r\n");
    }

    #[test]
    fn injection_is_refused_and_nothing_is_written() {
        let mut out = b"kept".to_vec();
        let headers = HeaderMap::new();
        let evil: &[u8] = b"x\r\nSet-Cookie: evil=1";
        let err = encode_response_head(
            &mut out,
            StatusCode::OK,
            None,
            Version::HTTP_11,
            &headers,
            &[("x-a", evil)],
        )
        .unwrap_err();
        assert_eq!(err, EncodeError::InvalidFieldValue);
        assert_eq!(out, b"kept");
        let err = encode_response_head(
            &mut out,
            StatusCode::OK,
            Some("OK\r\nX: y"),
            Version::HTTP_11,
            &headers,
            &[],
        )
        .unwrap_err();
        assert_eq!(err, EncodeError::InvalidReason);
        let err = encode_request_head(
            &mut out,
            &Method::GET,
            "/a b",
            Version::HTTP_11,
            &headers,
            &[],
        )
        .unwrap_err();
        assert_eq!(err, EncodeError::InvalidTarget);
        let err = encode_request_head(
            &mut out,
            &Method::GET,
            "/",
            Version::HTTP_11,
            &headers,
            &[("bad name", b"v")],
        )
        .unwrap_err();
        assert_eq!(err, EncodeError::InvalidFieldName);
        assert_eq!(out, b"kept");
    }
}
