//! The frame layer (RFC 9113 §4 and §6).
//!
//! ```
//! use bytes::BytesMut;
//! use tetsuo_proto::h2::frame::{self, Frame};
//!
//! let mut wire = Vec::new();
//! frame::encode_headers(1, b"\x82\x86\x84", true, 16_384, &mut wire);
//! frame::encode_ping(false, *b"tetsuo!!", &mut wire);
//! let mut input = BytesMut::from(&wire[..]);
//! let Some(Frame::Headers(h)) = frame::read(&mut input, 16_384).unwrap() else { panic!() };
//! assert!(h.end_stream && h.end_headers);
//! assert_eq!(frame::read(&mut input, 16_384).unwrap(), Some(Frame::Ping { ack: false, payload: *b"tetsuo!!" }));
//! assert_eq!(frame::read(&mut input, 16_384).unwrap(), None);
//! ```

use bytes::{Buf, Bytes, BytesMut};

use super::{ErrorCode, Settings, StreamId};

/// What a client sends first (RFC 9113 §3.4), before its SETTINGS.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub const HEADER_LEN: usize = 9;

/// Frame types.
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flags {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// The nine bytes before every frame's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The payload's length (24 bits).
    pub len: u32,
    /// The frame type.
    pub kind: u8,
    /// The flags.
    pub flags: u8,
    /// The stream (the reserved bit cleared).
    pub stream: StreamId,
}

impl FrameHeader {
    /// The header at the start of `buf`, if nine bytes are there.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7FFF_FFFF,
        })
    }

    /// Appends the nine bytes.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.len.to_be_bytes()[1..]);
        dst.push(self.kind);
        dst.push(self.flags);
        dst.extend_from_slice(&(self.stream & 0x7FFF_FFFF).to_be_bytes());
    }
}

/// A stream's priority as RFC 7540 defined it (deprecated by RFC 9113, still
/// parsed: it may arrive in HEADERS and PRIORITY frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on.
    pub dependency: StreamId,
    /// The dependency is exclusive.
    pub exclusive: bool,
    /// The weight, 1 to 256, minus one.
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8]) -> Priority {
        let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Priority {
            dependency: word & 0x7FFF_FFFF,
            exclusive: word & 0x8000_0000 != 0,
            weight: b[4],
        }
    }
}

/// A HEADERS frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The stream.
    pub stream: StreamId,
    /// The last frame the sender sends on this stream.
    pub end_stream: bool,
    /// The field block is complete (no CONTINUATION follows).
    pub end_headers: bool,
    /// A priority, if the PRIORITY flag was set (a dependency on the stream
    /// itself is the connection's to refuse).
    pub priority: Option<Priority>,
    /// The field block fragment (padding removed).
    pub fragment: Bytes,
}

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// DATA.
    Data {
        /// The stream.
        stream: StreamId,
        /// The last frame on this stream.
        end_stream: bool,
        /// The data (padding removed).
        data: Bytes,
        /// What flow control counts: the whole payload, padding included.
        flow_len: u32,
    },
    /// HEADERS.
    Headers(Headers),
    /// PRIORITY (to be ignored, RFC 9113 §5.3.2, but counted: it can be
    /// spam).
    Priority {
        /// The stream.
        stream: StreamId,
        /// Its priority.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// The stream.
        stream: StreamId,
        /// Why.
        code: ErrorCode,
    },
    /// SETTINGS.
    Settings {
        /// An acknowledgement (no parameters).
        ack: bool,
        /// The parameters.
        settings: Settings,
    },
    /// PUSH_PROMISE.
    PushPromise {
        /// The stream the promise is made on.
        stream: StreamId,
        /// The stream promised.
        promised: StreamId,
        /// The field block is complete.
        end_headers: bool,
        /// The field block fragment.
        fragment: Bytes,
    },
    /// PING.
    Ping {
        /// An answer.
        ack: bool,
        /// The opaque data, echoed in the answer.
        payload: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// The last stream the sender may have processed.
        last_stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// Debug data.
        debug: Bytes,
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// The stream, or 0 for the connection.
        stream: StreamId,
        /// The increment (1 to 2^31 - 1).
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// The stream.
        stream: StreamId,
        /// The field block is complete.
        end_headers: bool,
        /// The field block fragment.
        fragment: Bytes,
    },
    /// A frame of a type this implementation does not know: ignored
    /// (RFC 9113 §4.1), but reported so that a flood of them can be
    /// counted.
    Unknown {
        /// Its type.
        kind: u8,
        /// Its stream.
        stream: StreamId,
    },
}

/// A frame that breaks RFC 9113: the code to answer with, and the stream
/// if only that stream fails (else the whole connection does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    /// The error code for GOAWAY or RST_STREAM.
    pub code: ErrorCode,
    /// `Some(stream)`: a stream error (RST_STREAM); `None`: a connection
    /// error (GOAWAY).
    pub stream: Option<StreamId>,
}

impl FrameError {
    /// A connection error.
    pub fn connection(code: ErrorCode) -> FrameError {
        FrameError { code, stream: None }
    }

    /// A stream error.
    pub fn stream(stream: StreamId, code: ErrorCode) -> FrameError {
        FrameError {
            code,
            stream: Some(stream),
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stream {
            Some(s) => write!(f, "stream {s} error: {}", self.code),
            None => write!(f, "connection error: {}", self.code),
        }
    }
}

impl std::error::Error for FrameError {}

/// Takes the next whole frame off `input`: `Ok(None)` until it is all
/// there. A frame longer than `max_frame_size` (our
/// SETTINGS_MAX_FRAME_SIZE) is refused from its header, before its
/// payload is waited for.
pub fn read(input: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(header) = FrameHeader::parse(input) else {
        return Ok(None);
    };
    if header.len > max_frame_size {
        return Err(FrameError::connection(ErrorCode::FRAME_SIZE_ERROR));
    }
    if input.len() < HEADER_LEN + header.len as usize {
        input.reserve(HEADER_LEN + header.len as usize - input.len());
        return Ok(None);
    }
    input.advance(HEADER_LEN);
    let payload = input.split_to(header.len as usize).freeze();
    parse(header, payload).map(Some)
}

/// Removes the padding of a PADDED frame: the payload after the pad length
/// byte and the `fixed` bytes that follow it, without the padding.
fn unpad(flags: u8, mut payload: Bytes, fixed: usize) -> Result<(Bytes, Bytes), FrameError> {
    let pad = if flags & flags::PADDED != 0 {
        let Some(&pad) = payload.first() else {
            return Err(FrameError::connection(ErrorCode::FRAME_SIZE_ERROR));
        };
        payload.advance(1);
        usize::from(pad)
    } else {
        0
    };
    if payload.len() < fixed {
        return Err(FrameError::connection(ErrorCode::FRAME_SIZE_ERROR));
    }
    let head = payload.split_to(fixed);
    if pad > payload.len() {
        // The padding is as long as the payload or longer.
        return Err(FrameError::connection(ErrorCode::PROTOCOL_ERROR));
    }
    payload.truncate(payload.len() - pad);
    Ok((head, payload))
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses a frame's payload with the checks of RFC 9113 §6.
pub fn parse(h: FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
    let protocol = || FrameError::connection(ErrorCode::PROTOCOL_ERROR);
    let size = || FrameError::connection(ErrorCode::FRAME_SIZE_ERROR);
    let on_stream = |ok: bool| if ok { Ok(()) } else { Err(protocol()) };
    Ok(match h.kind {
        kind::DATA => {
            on_stream(h.stream != 0)?;
            let (_, data) = unpad(h.flags, payload, 0)?;
            Frame::Data {
                stream: h.stream,
                end_stream: h.flags & flags::END_STREAM != 0,
                data,
                flow_len: h.len,
            }
        }
        kind::HEADERS => {
            on_stream(h.stream != 0)?;
            let prioritised = h.flags & flags::PRIORITY != 0;
            let (head, fragment) = unpad(h.flags, payload, if prioritised { 5 } else { 0 })?;
            Frame::Headers(Headers {
                stream: h.stream,
                end_stream: h.flags & flags::END_STREAM != 0,
                end_headers: h.flags & flags::END_HEADERS != 0,
                priority: prioritised.then(|| Priority::parse(&head)),
                fragment,
            })
        }
        kind::PRIORITY => {
            on_stream(h.stream != 0)?;
            if payload.len() != 5 {
                return Err(FrameError::stream(h.stream, ErrorCode::FRAME_SIZE_ERROR));
            }
            let priority = Priority::parse(&payload);
            if priority.dependency == h.stream {
                return Err(FrameError::stream(h.stream, ErrorCode::PROTOCOL_ERROR));
            }
            Frame::Priority {
                stream: h.stream,
                priority,
            }
        }
        kind::RST_STREAM => {
            on_stream(h.stream != 0)?;
            if payload.len() != 4 {
                return Err(size());
            }
            Frame::RstStream {
                stream: h.stream,
                code: ErrorCode(u32_at(&payload)),
            }
        }
        kind::SETTINGS => {
            on_stream(h.stream == 0)?;
            let ack = h.flags & flags::ACK != 0;
            if (ack && !payload.is_empty()) || !payload.len().is_multiple_of(6) {
                return Err(size());
            }
            Frame::Settings {
                ack,
                settings: Settings::parse(&payload)?,
            }
        }
        kind::PUSH_PROMISE => {
            on_stream(h.stream != 0)?;
            let (head, fragment) = unpad(h.flags, payload, 4)?;
            Frame::PushPromise {
                stream: h.stream,
                promised: u32_at(&head) & 0x7FFF_FFFF,
                end_headers: h.flags & flags::END_HEADERS != 0,
                fragment,
            }
        }
        kind::PING => {
            on_stream(h.stream == 0)?;
            let payload: [u8; 8] = payload[..].try_into().map_err(|_| size())?;
            Frame::Ping {
                ack: h.flags & flags::ACK != 0,
                payload,
            }
        }
        kind::GOAWAY => {
            on_stream(h.stream == 0)?;
            if payload.len() < 8 {
                return Err(size());
            }
            Frame::GoAway {
                last_stream: u32_at(&payload) & 0x7FFF_FFFF,
                code: ErrorCode(u32_at(&payload[4..])),
                debug: payload.slice(8..),
            }
        }
        kind::WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(size());
            }
            let increment = u32_at(&payload) & 0x7FFF_FFFF;
            if increment == 0 {
                return Err(match h.stream {
                    0 => protocol(),
                    s => FrameError::stream(s, ErrorCode::PROTOCOL_ERROR),
                });
            }
            Frame::WindowUpdate {
                stream: h.stream,
                increment,
            }
        }
        kind::CONTINUATION => {
            on_stream(h.stream != 0)?;
            Frame::Continuation {
                stream: h.stream,
                end_headers: h.flags & flags::END_HEADERS != 0,
                fragment: payload,
            }
        }
        kind => Frame::Unknown {
            kind,
            stream: h.stream,
        },
    })
}

fn header(len: usize, kind: u8, flags: u8, stream: StreamId, dst: &mut Vec<u8>) {
    FrameHeader {
        len: len as u32,
        kind,
        flags,
        stream,
    }
    .encode(dst);
}

/// Appends a DATA frame (no padding; `data` within the peer's
/// SETTINGS_MAX_FRAME_SIZE).
pub fn encode_data(stream: StreamId, data: &[u8], end_stream: bool, dst: &mut Vec<u8>) {
    let f = if end_stream { flags::END_STREAM } else { 0 };
    header(data.len(), kind::DATA, f, stream, dst);
    dst.extend_from_slice(data);
}

/// Appends a field block as a HEADERS frame and as many CONTINUATION frames
/// as `max_frame_size` (the peer's) requires.
pub fn encode_headers(
    stream: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut Vec<u8>,
) {
    let f = if end_stream { flags::END_STREAM } else { 0 };
    encode_block(kind::HEADERS, f, stream, &[], block, max_frame_size, dst);
}

/// Appends a PUSH_PROMISE of `promised` on `stream`, split as
/// [`encode_headers`] splits.
pub fn encode_push_promise(
    stream: StreamId,
    promised: StreamId,
    block: &[u8],
    max_frame_size: u32,
    dst: &mut Vec<u8>,
) {
    let id = (promised & 0x7FFF_FFFF).to_be_bytes();
    encode_block(
        kind::PUSH_PROMISE,
        0,
        stream,
        &id,
        block,
        max_frame_size,
        dst,
    );
}

fn encode_block(
    kind: u8,
    first_flags: u8,
    stream: StreamId,
    prefix: &[u8],
    block: &[u8],
    max_frame_size: u32,
    dst: &mut Vec<u8>,
) {
    let max = (max_frame_size as usize).max(prefix.len() + 1);
    let first = block.len().min(max - prefix.len());
    let (head, mut rest) = block.split_at(first);
    let end = if rest.is_empty() {
        flags::END_HEADERS
    } else {
        0
    };
    header(
        prefix.len() + head.len(),
        kind,
        first_flags | end,
        stream,
        dst,
    );
    dst.extend_from_slice(prefix);
    dst.extend_from_slice(head);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        let end = if tail.is_empty() {
            flags::END_HEADERS
        } else {
            0
        };
        header(chunk.len(), kind::CONTINUATION, end, stream, dst);
        dst.extend_from_slice(chunk);
        rest = tail;
    }
}

/// Appends a PRIORITY frame.
pub fn encode_priority(stream: StreamId, priority: Priority, dst: &mut Vec<u8>) {
    header(5, kind::PRIORITY, 0, stream, dst);
    let e = if priority.exclusive { 0x8000_0000 } else { 0 };
    dst.extend_from_slice(&((priority.dependency & 0x7FFF_FFFF) | e).to_be_bytes());
    dst.push(priority.weight);
}

/// Appends an RST_STREAM frame.
pub fn encode_rst_stream(stream: StreamId, code: ErrorCode, dst: &mut Vec<u8>) {
    header(4, kind::RST_STREAM, 0, stream, dst);
    dst.extend_from_slice(&code.0.to_be_bytes());
}

/// Appends a SETTINGS frame with `settings`.
pub fn encode_settings(settings: &Settings, dst: &mut Vec<u8>) {
    header(settings.len() * 6, kind::SETTINGS, 0, 0, dst);
    settings.encode_payload(dst);
}

/// Appends a SETTINGS acknowledgement.
pub fn encode_settings_ack(dst: &mut Vec<u8>) {
    header(0, kind::SETTINGS, flags::ACK, 0, dst);
}

/// Appends a PING (or its answer, `ack`).
pub fn encode_ping(ack: bool, payload: [u8; 8], dst: &mut Vec<u8>) {
    header(8, kind::PING, if ack { flags::ACK } else { 0 }, 0, dst);
    dst.extend_from_slice(&payload);
}

/// Appends a GOAWAY frame.
pub fn encode_goaway(last_stream: StreamId, code: ErrorCode, debug: &[u8], dst: &mut Vec<u8>) {
    header(8 + debug.len(), kind::GOAWAY, 0, 0, dst);
    dst.extend_from_slice(&(last_stream & 0x7FFF_FFFF).to_be_bytes());
    dst.extend_from_slice(&code.0.to_be_bytes());
    dst.extend_from_slice(debug);
}

/// Appends a WINDOW_UPDATE frame (`increment` 1 to 2^31 - 1).
pub fn encode_window_update(stream: StreamId, increment: u32, dst: &mut Vec<u8>) {
    header(4, kind::WINDOW_UPDATE, 0, stream, dst);
    dst.extend_from_slice(&(increment & 0x7FFF_FFFF).to_be_bytes());
}
