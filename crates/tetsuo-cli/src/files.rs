//! `/files/` of `tetsuo serve`: static files under `--root`, with single
//! byte ranges (RFC 9110 §14), `If-Range`, and conditional GET (§13:
//! `If-None-Match`, `If-Modified-Since`).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::StreamBody;
use tetsuo::http::Body;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::serve::text;

/// Serves `rel` (the path after `/files/`, still percent-encoded) from
/// `root`.
pub(crate) async fn serve(root: &Path, rel: String, req: &Request<Body>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let Some(path) = resolve(root, &rel) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let Ok(meta) = file.metadata().await else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    if !meta.is_file() {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    let len = meta.len();
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{nanos:x}\"");
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        headers.insert(LAST_MODIFIED, v);
    }

    if not_modified(req.headers(), &etag, modified) {
        return with_headers(StatusCode::NOT_MODIFIED, headers, Body::empty());
    }

    let range = req
        .headers()
        .get(RANGE)
        .filter(|_| req.method() == Method::GET)
        .filter(|_| if_range_holds(req.headers(), &etag, modified))
        .map(|r| parse_range(r.as_bytes(), len));
    let (status, start, count) = match range {
        None | Some(Range::Ignore) => (StatusCode::OK, 0, len),
        Some(Range::Unsatisfiable) => {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ASCII"),
            );
            headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
            return with_headers(StatusCode::RANGE_NOT_SATISFIABLE, headers, Body::empty());
        }
        Some(Range::Bytes(first, last)) => {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")).expect("ASCII"),
            );
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(count));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    if req.method() == Method::HEAD {
        return with_headers(status, headers, Body::empty());
    }
    let mut file = file;
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "seek failed\n");
    }
    let stream = ReaderStream::with_capacity(file.take(count), 64 * 1024);
    let body = StreamBody::new(MapFrames(stream));
    with_headers(status, headers, Body::wrap(body))
}

/// `rel` under `root`, refusing anything that could leave it: `..`, `.`,
/// empty segments, NUL, backslashes.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rel)?;
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains('\0')
            || segment.contains('\\')
        {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 9110 §13.1.2/§13.1.3: `If-None-Match` wins over `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers.get(IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm.trim() == "*"
            || inm
                .split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == etag);
    }
    headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| truncate(modified) <= since)
}

/// RFC 9110 §13.1.5: the range applies only if the validator still matches
/// (strong comparison for entity tags).
fn if_range_holds(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    let Some(value) = headers.get(IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let value = value.trim();
    if value.starts_with('"') {
        return value == etag;
    }
    httpdate::parse_http_date(value).is_ok_and(|date| truncate(modified) == date)
}

/// HTTP dates have one-second resolution.
fn truncate(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Serve the whole file (a syntax this server does not act on, such as
    /// several ranges, which a server may ignore).
    Ignore,
    Unsatisfiable,
    /// First and last byte, inclusive.
    Bytes(u64, u64),
}

/// One `bytes=` range of RFC 9110 §14.1.2 against a file of `len` bytes.
fn parse_range(value: &[u8], len: u64) -> Range {
    let Some(spec) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Ignore;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        // Suffix: the last N bytes.
        ("", n) => match number(n) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if len > 0 => Range::Bytes(len.saturating_sub(n), len - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignore,
        },
        (a, "") => match number(a) {
            Some(a) if a < len => Range::Bytes(a, len - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignore,
        },
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) if a <= b && a < len => Range::Bytes(a, b.min(len - 1)),
            (Some(a), Some(b)) if a <= b => Range::Unsatisfiable,
            _ => Range::Ignore,
        },
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

/// File chunks as body frames.
struct MapFrames<S>(S);

impl<S> futures_core::Stream for MapFrames<S>
where
    S: futures_core::Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<http_body::Frame<Bytes>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Range::Bytes(0, 9));
        assert_eq!(parse_range(b"bytes=90-", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-500", 100), Range::Bytes(0, 99));
        assert_eq!(parse_range(b"bytes=50-500", 100), Range::Bytes(50, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Range::Ignore);
        assert_eq!(parse_range(b"items=0-1", 100), Range::Ignore);
        assert_eq!(parse_range(b"bytes=5-1", 100), Range::Ignore);
        assert_eq!(parse_range(b"bytes=x-1", 100), Range::Ignore);
    }

    #[test]
    fn paths_cannot_leave_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            resolve(root, "a/b.txt"),
            Some(PathBuf::from("/srv/a/b.txt"))
        );
        assert_eq!(resolve(root, "a%20b"), Some(PathBuf::from("/srv/a b")));
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "%2e%2e/x",
            "a//b",
            "",
            "a%00",
            "a%5cb",
            "%zz",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}
