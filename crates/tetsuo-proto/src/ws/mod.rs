//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692), without I/O.
//!
//! - [`Connection`]: one side of a connection after the opening handshake —
//!   frames in, messages out; messages in, frames out. It reassembles
//!   fragments, validates text incrementally (a bad byte fails the message
//!   in the fragment that brings it), answers pings, runs the closing
//!   handshake, enforces [`Limits`] (a frame's length is checked before
//!   anything is allocated for it; a compressed message is checked while it
//!   inflates), and turns every protocol violation into the close code
//!   RFC 6455 §7.4 prescribes. With [`Connection::with_fragments`] it
//!   hands data out as it arrives ([`Fragment`]s) instead of whole
//!   messages, for messages too large to hold; it sends messages in
//!   fragments either way.
//! - [`handshake`]: the opening handshake — the client's key and request
//!   headers, the server's checks and `Sec-WebSocket-Accept`, subprotocol
//!   and extension negotiation.
//! - [`deflate`]: permessage-deflate parameters and the per-message codec.
//! - [`FrameHeader`], [`apply_mask`], [`Utf8Validator`]: the pieces, for
//!   those who drive frames themselves.

mod conn;
pub mod deflate;
mod frame;
pub mod handshake;
mod utf8;

use std::fmt;

pub use conn::{CloseFrame, Connection, Event, Fragment, Limits, Role};
pub use frame::{FrameHeader, Opcode, apply_mask};
pub use utf8::Utf8Validator;

/// A close code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (a server shutting down, a page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// 1003: a data type that cannot be accepted.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: no code was given (never sent).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (bad UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a policy was violated.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not agree to.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// True if the code may appear in a close frame: 1000–1003, 1007–1014,
    /// 3000–4999.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A WebSocket protocol failure; [`Error::close_code`] is the code to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A 64-bit length with its most significant bit set.
    BadLength,
    /// RSV bits set without an extension that defines them.
    ReservedBits,
    /// A control frame that is fragmented or longer than 125 bytes.
    BadControlFrame,
    /// A continuation frame without a message to continue, or a new message
    /// before the previous one ended.
    BadFragmentation,
    /// A client frame that is not masked, or a server frame that is.
    BadMasking,
    /// A close frame with a one-byte payload, or a code that may not be
    /// sent.
    BadCloseFrame,
    /// Text (or a close reason) that is not UTF-8.
    InvalidUtf8,
    /// A frame longer than [`Limits::max_frame`].
    FrameTooBig,
    /// A message longer than [`Limits::max_message`] (inflated size for
    /// compressed messages).
    MessageTooBig,
    /// A compressed message that does not inflate.
    BadCompression,
    /// Data after the closing handshake.
    AfterClose,
    /// The peer sent more control frames than [`Limits::max_queued_control`]
    /// without reading our answers.
    ControlFlood,
}

impl Error {
    /// The close code this failure is answered with.
    pub fn close_code(self) -> CloseCode {
        match self {
            Error::InvalidUtf8 | Error::BadCompression => CloseCode::INVALID_PAYLOAD,
            Error::FrameTooBig | Error::MessageTooBig => CloseCode::TOO_BIG,
            Error::ControlFlood => CloseCode::POLICY,
            _ => CloseCode::PROTOCOL,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            Error::BadLength => f.write_str("frame length with the most significant bit set"),
            Error::ReservedBits => f.write_str("reserved bits set without an extension"),
            Error::BadControlFrame => f.write_str("control frame fragmented or over 125 bytes"),
            Error::BadFragmentation => f.write_str("fragments out of order"),
            Error::BadMasking => f.write_str("frame masking wrong for its direction"),
            Error::BadCloseFrame => f.write_str("malformed close frame"),
            Error::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            Error::FrameTooBig => f.write_str("frame over the size limit"),
            Error::MessageTooBig => f.write_str("message over the size limit"),
            Error::BadCompression => f.write_str("compressed message does not inflate"),
            Error::AfterClose => f.write_str("data after the closing handshake"),
            Error::ControlFlood => f.write_str("too many unanswered control frames"),
        }
    }
}

impl std::error::Error for Error {}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The closing handshake began: no more messages may be sent.
    Closing,
    /// Fragments out of order: a continuation with no message begun, a
    /// first fragment or a whole message while a fragmented one is
    /// unfinished.
    OutOfOrder,
    /// Text fragments that are not UTF-8 (checked across fragments).
    InvalidUtf8,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closing => "the closing handshake has begun",
            SendError::OutOfOrder => "fragment out of order",
            SendError::InvalidUtf8 => "text fragment is not valid UTF-8",
        })
    }
}

impl std::error::Error for SendError {}
