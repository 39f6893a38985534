//! W3C Trace Context (`traceparent`, `tracestate`): the server takes it from
//! requests, the client passes it on to the next hop.
//!
//! A request that arrives with a valid `traceparent` carries a
//! [`TraceContext`] in its extensions, and its `http.request` span records
//! the `trace_id`. A request sent with the client that has a
//! `TraceContext` in its extensions (put there from the incoming one, say)
//! goes out with a `traceparent` of the same trace and a new span id, and
//! the same `tracestate` — unless it already has a `traceparent` header.
//!
//! ```
//! use tetsuo::http::trace::TraceContext;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert(
//!     "traceparent",
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
//! );
//! let incoming = TraceContext::from_headers(&headers).unwrap();
//! assert_eq!(incoming.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! let next = incoming.child();
//! assert_eq!(next.trace_id(), incoming.trace_id());
//! assert_ne!(next.span_id(), incoming.span_id());
//! ```

use std::fmt::Write as _;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

/// The header names, made once (a lookup by `&str` parses the name on
/// every request).
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A position in a distributed trace: the trace, the span that is the
/// parent of what comes next, the flags (sampled), and vendor state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace: [u8; 16],
    span: [u8; 8],
    flags: u8,
    state: Option<HeaderValue>,
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let r = crate::connect::random_u64().to_ne_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    // All zeros is invalid: never produce it.
    if out.iter().all(|&b| b == 0) {
        out[N - 1] = 1;
    }
    out
}

impl TraceContext {
    /// The context in `traceparent` (and `tracestate`), if valid: version
    /// `00` (or a later one, read as `00` as the spec asks), lowercase hex,
    /// neither id all zeros.
    pub fn from_headers(headers: &HeaderMap) -> Option<TraceContext> {
        // Two traceparents: none is to be trusted.
        let mut all = headers.get_all(&TRACEPARENT).iter();
        let value = all.next()?.to_str().ok()?.trim();
        if all.next().is_some() {
            return None;
        }
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace = unhex::<16>(parts.next()?)?;
        let span = unhex::<8>(parts.next()?)?;
        let flags = unhex::<1>(parts.next()?)?[0];
        let version = unhex::<1>(version)?[0];
        // Version ff is invalid; 00 has exactly four fields; later
        // versions may add fields after these.
        if version == 0xff || (version == 0 && parts.next().is_some()) {
            return None;
        }
        if trace.iter().all(|&b| b == 0) || span.iter().all(|&b| b == 0) {
            return None;
        }
        // tracestate lines combine into one list.
        let lines: Vec<&str> = headers
            .get_all(&TRACESTATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let state = match lines.as_slice() {
            [] => None,
            [one] => HeaderValue::from_str(one).ok(),
            many => HeaderValue::from_str(&many.join(",")).ok(),
        };
        Some(TraceContext {
            trace,
            span,
            // Only the sampled flag is defined (level 1): others are not
            // passed on.
            flags: flags & 1,
            state,
        })
    }

    /// A context from its parts (another tracer's span, say), without
    /// vendor state; `None` if either id is all zeros.
    ///
    /// ```
    /// use tetsuo::http::trace::TraceContext;
    ///
    /// let ctx = TraceContext::new([0xab; 16], [0x01; 8], true).unwrap();
    /// assert_eq!(
    ///     ctx.traceparent(),
    ///     "00-abababababababababababababababab-0101010101010101-01"
    /// );
    /// assert!(TraceContext::new([0; 16], [1; 8], true).is_none());
    /// ```
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<TraceContext> {
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace: trace_id,
            span: span_id,
            flags: u8::from(sampled),
            state: None,
        })
    }

    /// The same position with this vendor state (`tracestate`).
    pub fn with_tracestate(mut self, state: Option<HeaderValue>) -> TraceContext {
        self.state = state;
        self
    }

    /// The vendor state (`tracestate`), if any.
    pub fn tracestate(&self) -> Option<&HeaderValue> {
        self.state.as_ref()
    }

    /// A new trace, sampled.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace: random(),
            span: random(),
            flags: 1,
            state: None,
        }
    }

    /// The next hop's context: the same trace, a new span id.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace: self.trace,
            span: random(),
            flags: self.flags,
            state: self.state.clone(),
        }
    }

    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace)
    }

    /// The span id, 16 hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span)
    }

    /// Whether the trace is sampled (flag `01`).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The `traceparent` value.
    pub fn traceparent(&self) -> HeaderValue {
        let text = format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace),
            hex(&self.span),
            self.flags
        );
        HeaderValue::from_str(&text).expect("hex and dashes are a valid header value")
    }

    /// Writes `traceparent` and `tracestate` into `headers`.
    pub fn inject(&self, headers: &mut HeaderMap) {
        headers.insert(TRACEPARENT, self.traceparent());
        match &self.state {
            Some(state) => {
                headers.insert(TRACESTATE, state.clone());
            }
            None => {
                headers.remove(&TRACESTATE);
            }
        }
    }
}

/// Server side: the request's context into its extensions; its trace id
/// for the span.
pub(crate) fn extract(req: &mut http::Request<crate::http::Body>) -> Option<String> {
    let ctx = TraceContext::from_headers(req.headers())?;
    let id = ctx.trace_id();
    req.extensions_mut().insert(ctx);
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Option<TraceContext> {
        let mut h = HeaderMap::new();
        h.insert("traceparent", v.parse().unwrap());
        TraceContext::from_headers(&h)
    }

    #[test]
    fn valid_and_invalid_traceparents() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = parse(ok).unwrap();
        assert!(ctx.sampled());
        assert_eq!(ctx.traceparent(), ok);
        // A later version with an extra field is read as 00.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some());
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_state() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                .parse()
                .unwrap(),
        );
        h.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
        let parent = TraceContext::from_headers(&h).unwrap();
        let child = parent.child();
        let mut out = HeaderMap::new();
        child.inject(&mut out);
        let again = TraceContext::from_headers(&out).unwrap();
        assert_eq!(again.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(again.span_id(), parent.span_id());
        assert!(!again.sampled());
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
        let root = TraceContext::new_root();
        assert_ne!(root.trace_id(), TraceContext::new_root().trace_id());
    }
}
