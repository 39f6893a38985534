//! HTTP/2 (RFC 9113), without I/O.
//!
//! - [`frame`]: the frame layer — every frame type parsed with the checks
//!   RFC 9113 §6 puts on its length, stream and flags (each failure carries
//!   the error code and whether it ends the connection or one stream),
//!   unknown types passed over, the client preface, and the encoders,
//!   including a field block split into HEADERS and CONTINUATION frames.
//! - [`Settings`]: the SETTINGS parameters with their bounds, RFC 8441's
//!   extended CONNECT and RFC 9218's priority opt-out among them.
//! - [`Connection`]: one side of a connection — the preface and SETTINGS
//!   exchange, stream states (§5.1), connection and stream flow control
//!   (WINDOW_UPDATE once half a window is consumed), field blocks across
//!   CONTINUATION, heads checked per §8 and handed out as `http` types,
//!   trailers, content-length against DATA, server push, extended CONNECT
//!   (RFC 8441), PING, a two-phase GOAWAY for graceful shutdown, and
//!   [`Limits`] against the published floods (Rapid Reset, MadeYouReset,
//!   CONTINUATION, PING/SETTINGS/empty-frame floods, PRIORITY spam).

mod conn;
pub mod frame;
mod headers;
mod settings;

use std::fmt;

pub use conn::{Config, Connection, Error, Event, Limits, Role, SendError};
pub use headers::{Malformed, Protocol};
pub use settings::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW, Settings};

/// A stream identifier (31 bits; 0 is the connection).
pub type StreamId = u32;

/// A map keyed by stream, hashed by a multiply instead of SipHash: keys
/// are the peer's, but it may only open increasing identifiers and at most
/// SETTINGS_MAX_CONCURRENT_STREAMS at a time, so collisions stay bounded.
pub type StreamMap<V> = std::collections::HashMap<StreamId, V, BuildStreamHasher>;

/// The hasher of [`StreamMap`].
pub type BuildStreamHasher = std::hash::BuildHasherDefault<StreamHasher>;

/// Fibonacci hashing of a stream identifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamHasher(u64);

impl std::hash::Hasher for StreamHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// An HTTP/2 error code (RFC 9113 §7); unknown codes are kept as they
/// came.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or no error.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// A protocol error not covered by a more specific code.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// An unexpected internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// Flow control was violated.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// SETTINGS were not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// A frame on a stream that was half-closed.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// A frame of the wrong size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// The stream was refused before any processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// The field block could not be decompressed (HPACK).
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// The tunnel of a CONNECT request failed.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// The peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// The transport's security is inadequate (TLS requirements).
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// HTTP/1.1 is required for this request.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The code's name in RFC 9113 (`None` for a code it does not define).
    ///
    /// ```
    /// use tetsuo_proto::h2::ErrorCode;
    /// assert_eq!(ErrorCode::ENHANCE_YOUR_CALM.name(), Some("ENHANCE_YOUR_CALM"));
    /// assert_eq!(ErrorCode(0x99).name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
