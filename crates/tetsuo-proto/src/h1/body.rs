//! Message body framing (RFC 9112 §6, §7): how long a body is, and a
//! streaming decoder for Content-Length, chunked and close-delimited bodies.
//!
//! The decoder never copies body bytes: each call reports a range of the
//! input that is body data. Chunk-size lines, extensions and CRLFs are
//! checked byte by byte, so any split of the input gives the same data.
//! Only a trailer section is buffered (bounded by
//! [`Limits::max_trailers`]).

use std::ops::Range;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::chars::{FIELD_VALUE, TCHAR};
use super::head::{Field, Head, Span};
use super::{Error, Limits};

/// How a message's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the connection closes (responses only).
    CloseDelimited,
}

/// The framing of a request's body: chunked, Content-Length, or none
/// (RFC 9112 §6.3 items 4–6).
pub fn request_framing(head: &Head) -> Framing {
    if head.meta.chunked {
        Framing::Chunked
    } else {
        match head.meta.content_length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    }
}

/// The framing of a response's body, given the method of its request (RFC
/// 9112 §6.3): none for HEAD, 1xx, 204, 304 and a 2xx to CONNECT; otherwise
/// chunked, Content-Length, or until close.
pub fn response_framing(head: &Head, method: &Method) -> Framing {
    let status = head.status().unwrap_or(StatusCode::OK);
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || (method == Method::CONNECT && status.is_success())
    {
        Framing::Empty
    } else if head.meta.chunked {
        Framing::Chunked
    } else {
        match head.meta.content_length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::CloseDelimited,
        }
    }
}

/// The result of one [`BodyDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used (body data and framing).
    pub consumed: usize,
    /// The part of the input that is body data, if any.
    pub data: Option<Range<usize>>,
    /// True once the body (and any trailer section) is complete.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of a chunk size; `digits` seen so far.
    Size {
        digits: usize,
    },
    /// BWS after the size, before `;` or CRLF.
    AfterSize,
    ExtBeforeName,
    ExtName,
    ExtAfterName,
    ExtBeforeValue,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    /// Right after a quoted value: CRLF, `;` or BWS may follow.
    ExtAfterValue,
    /// BWS after a value: only `;` may follow (no whitespace before CRLF).
    ExtAfterValueWs,
    /// The LF ending a chunk-size line.
    SizeLf,
    /// Chunk data; bytes left in the chunk.
    Data,
    DataCr,
    DataLf,
    /// The trailer section, buffered until its empty line.
    Trailers,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length,
    Chunked(Chunk),
    CloseDelimited,
    Done,
}

/// Decodes one message body.
///
/// ```
/// use tetsuo_proto::h1::{BodyDecoder, Framing, Limits};
///
/// let mut body = BodyDecoder::new(Framing::Chunked, &Limits::default()).unwrap();
/// let input = b"5\r\nhello\r\n0\r\n\r\n";
/// let step = body.decode(input).unwrap();
/// assert_eq!(&input[step.data.clone().unwrap()], b"hello");
/// let rest = &input[step.consumed..];
/// let step = body.decode(rest).unwrap();
/// assert!(step.done && step.data.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Bytes left: in the body (Length) or in the current chunk (Chunked).
    remaining: u64,
    /// Body bytes so far, for `max_body`.
    total: u64,
    max_body: Option<u64>,
    ext_bytes: usize,
    max_chunk_ext: usize,
    max_trailers: usize,
    trailer_buf: Vec<u8>,
    trailer_fields: Vec<Field>,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`; fails at once if a declared
    /// Content-Length exceeds `limits.max_body`.
    pub fn new(framing: Framing, limits: &Limits) -> Result<BodyDecoder, Error> {
        let (state, remaining) = match framing {
            Framing::Empty => (State::Done, 0),
            Framing::Length(n) => {
                if limits.max_body.is_some_and(|max| n > max) {
                    return Err(Error::BodyTooLarge);
                }
                (State::Length, n)
            }
            Framing::Chunked => (State::Chunked(Chunk::Size { digits: 0 }), 0),
            Framing::CloseDelimited => (State::CloseDelimited, 0),
        };
        Ok(BodyDecoder {
            state,
            remaining,
            total: 0,
            max_body: limits.max_body,
            ext_bytes: 0,
            max_chunk_ext: limits.max_chunk_ext,
            // Trailer spans are 32-bit.
            max_trailers: limits.max_trailers.min(u32::MAX as usize / 2),
            trailer_buf: Vec::new(),
            trailer_fields: Vec::new(),
        })
    }

    /// True once the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Decodes from `input`: reports how much was used and which range is
    /// body data. Call again with the rest of the input (or more input) until
    /// `done`; a call that consumes nothing needs more input.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        match self.state {
            State::Done => Ok(Decoded {
                consumed: 0,
                data: None,
                done: true,
            }),
            State::Length => {
                let n = take(self.remaining, input.len());
                self.remaining -= n as u64;
                self.total += n as u64;
                if self.remaining == 0 {
                    self.state = State::Done;
                }
                Ok(Decoded {
                    consumed: n,
                    data: (n > 0).then_some(0..n),
                    done: self.is_done(),
                })
            }
            State::CloseDelimited => {
                self.count(input.len() as u64)?;
                let n = input.len();
                Ok(Decoded {
                    consumed: n,
                    data: (n > 0).then_some(0..n),
                    done: false,
                })
            }
            State::Chunked(_) => self.decode_chunked(input),
        }
    }

    /// The connection reached end of stream: completes a close-delimited
    /// body, and is an [`Error::Incomplete`] for any other unfinished body.
    pub fn finish_on_eof(&mut self) -> Result<(), Error> {
        match self.state {
            State::Done => Ok(()),
            State::CloseDelimited => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(Error::Incomplete),
        }
    }

    /// The trailer fields of a chunked body, once done (empty otherwise).
    pub fn trailers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.trailer_fields
            .iter()
            .map(|f| (f.name.of(&self.trailer_buf), f.value.of(&self.trailer_buf)))
    }

    /// The trailer fields as a [`HeaderMap`], or `None` if there were none.
    pub fn trailer_map(&self) -> Option<HeaderMap> {
        if self.trailer_fields.is_empty() {
            return None;
        }
        let mut map = HeaderMap::with_capacity(self.trailer_fields.len());
        for (name, value) in self.trailers() {
            // The parser accepted only tokens and field-value bytes, which
            // `http` accepts too.
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
        Some(map)
    }

    fn count(&mut self, n: u64) -> Result<(), Error> {
        self.total = self.total.saturating_add(n);
        match self.max_body {
            Some(max) if self.total > max => Err(Error::BodyTooLarge),
            _ => Ok(()),
        }
    }

    fn ext_byte(&mut self) -> Result<(), Error> {
        self.ext_bytes += 1;
        if self.ext_bytes > self.max_chunk_ext {
            return Err(Error::ChunkExtensionsTooLarge);
        }
        Ok(())
    }

    fn decode_chunked(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        let mut i = 0;
        while i < input.len() {
            let State::Chunked(chunk) = self.state else {
                break;
            };
            if chunk == Chunk::Done {
                // Bytes after the trailer section belong to the next message.
                break;
            }
            if chunk == Chunk::Data {
                let n = take(self.remaining, input.len() - i);
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = State::Chunked(Chunk::DataCr);
                }
                return Ok(Decoded {
                    consumed: i + n,
                    data: Some(i..i + n),
                    done: false,
                });
            }
            if chunk == Chunk::Trailers {
                let used = self.trailer_bytes(&input[i..])?;
                i += used;
                continue;
            }
            let b = input[i];
            i += 1;
            let next = match chunk {
                Chunk::Size { digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        // Leading zeros count too: the line stays bounded.
                        if self.remaining > u64::MAX >> 4 || digits >= 64 {
                            return Err(Error::ChunkSizeOverflow);
                        }
                        self.remaining = (self.remaining << 4) | u64::from(hex(b));
                        Chunk::Size { digits: digits + 1 }
                    }
                    _ if digits == 0 => return Err(Error::InvalidChunkSize),
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(Error::BareLf),
                    b' ' | b'\t' => self.ext(Chunk::AfterSize)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    _ => return Err(Error::InvalidChunkSize),
                },
                // BWS after the size only leads to an extension (RFC 9112
                // §7.1.1): "5 \r\n" is malformed.
                Chunk::AfterSize => match b {
                    b' ' | b'\t' => self.ext(Chunk::AfterSize)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkSize),
                },
                Chunk::ExtBeforeName => match b {
                    b' ' | b'\t' => self.ext(Chunk::ExtBeforeName)?,
                    _ if TCHAR[b as usize] => self.ext(Chunk::ExtName)?,
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtName => match b {
                    _ if TCHAR[b as usize] => self.ext(Chunk::ExtName)?,
                    b' ' | b'\t' => self.ext(Chunk::ExtAfterName)?,
                    b'=' => self.ext(Chunk::ExtBeforeValue)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkExtension),
                },
                // BWS after a name leads to "=" or ";", never to CRLF.
                Chunk::ExtAfterName => match b {
                    b' ' | b'\t' => self.ext(Chunk::ExtAfterName)?,
                    b'=' => self.ext(Chunk::ExtBeforeValue)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtBeforeValue => match b {
                    b' ' | b'\t' => self.ext(Chunk::ExtBeforeValue)?,
                    b'"' => self.ext(Chunk::ExtQuoted)?,
                    _ if TCHAR[b as usize] => self.ext(Chunk::ExtToken)?,
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtToken => match b {
                    _ if TCHAR[b as usize] => self.ext(Chunk::ExtToken)?,
                    b' ' | b'\t' => self.ext(Chunk::ExtAfterValueWs)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtQuoted => match b {
                    b'"' => self.ext(Chunk::ExtAfterValue)?,
                    b'\\' => self.ext(Chunk::ExtQuotedPair)?,
                    // qdtext: HTAB, SP, VCHAR except " and \, obs-text.
                    _ if FIELD_VALUE[b as usize] => self.ext(Chunk::ExtQuoted)?,
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtQuotedPair => match b {
                    _ if FIELD_VALUE[b as usize] => self.ext(Chunk::ExtQuoted)?,
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtAfterValue => match b {
                    b' ' | b'\t' => self.ext(Chunk::ExtAfterValueWs)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::ExtAfterValueWs => match b {
                    b' ' | b'\t' => self.ext(Chunk::ExtAfterValueWs)?,
                    b';' => self.ext(Chunk::ExtBeforeName)?,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkExtension),
                },
                Chunk::SizeLf => match b {
                    b'\n' if self.remaining == 0 => Chunk::Trailers,
                    b'\n' => {
                        self.count(self.remaining)?;
                        Chunk::Data
                    }
                    _ => return Err(Error::BareCr),
                },
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::InvalidChunkEnd),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::Size { digits: 0 },
                    _ => return Err(Error::InvalidChunkEnd),
                },
                Chunk::Data | Chunk::Trailers | Chunk::Done => unreachable_state(),
            };
            self.state = State::Chunked(next);
        }
        if self.state == State::Chunked(Chunk::Done) {
            self.state = State::Done;
        }
        Ok(Decoded {
            consumed: i,
            data: None,
            done: self.is_done(),
        })
    }

    /// Counts a chunk-extension byte, then moves to `next`.
    fn ext(&mut self, next: Chunk) -> Result<Chunk, Error> {
        self.ext_byte()?;
        Ok(next)
    }

    /// Buffers trailer-section bytes up to and including its empty line;
    /// returns how many were used.
    fn trailer_bytes(&mut self, input: &[u8]) -> Result<usize, Error> {
        for (i, &b) in input.iter().enumerate() {
            if self.trailer_buf.len() >= self.max_trailers {
                return Err(Error::TrailersTooLarge);
            }
            self.trailer_buf.push(b);
            if b != b'\n' {
                continue;
            }
            let buf = &self.trailer_buf;
            let n = buf.len();
            if n < 2 || buf[n - 2] != b'\r' {
                return Err(Error::BareLf);
            }
            // The section ends with an empty line: CRLF alone, or after a field line.
            if n == 2 || (n >= 4 && &buf[n - 4..] == b"\r\n\r\n") {
                self.parse_trailers()?;
                self.state = State::Chunked(Chunk::Done);
                return Ok(i + 1);
            }
        }
        Ok(input.len())
    }

    fn parse_trailers(&mut self) -> Result<(), Error> {
        let buf = &self.trailer_buf;
        let mut pos = 0;
        while pos + 2 < buf.len() {
            let line_end = pos
                + buf[pos..]
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or(Error::BareCr)?;
            let line = &buf[pos..line_end];
            match line.first() {
                Some(b' ' | b'\t') => return Err(Error::ObsFold),
                None => return Err(Error::BareCr),
                _ => {}
            }
            let colon = line
                .iter()
                .position(|&b| !TCHAR[b as usize])
                .ok_or(Error::MissingColon)?;
            match line[colon] {
                b':' if colon > 0 => {}
                b' ' | b'\t' if colon > 0 => return Err(Error::WhitespaceBeforeColon),
                _ => return Err(Error::InvalidFieldName),
            }
            let value = &line[colon + 1..];
            if !value.iter().all(|&b| FIELD_VALUE[b as usize]) {
                return Err(if value.contains(&b'\r') {
                    Error::BareCr
                } else {
                    Error::InvalidFieldValue
                });
            }
            let start = value
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(value.len());
            let end = value
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |e| e + 1);
            let base = pos + colon + 1;
            self.trailer_fields.push(Field {
                name: Span {
                    start: pos as u32,
                    end: (pos + colon) as u32,
                },
                value: Span {
                    start: (base + start) as u32,
                    end: (base + end) as u32,
                },
            });
            pos = line_end + 2;
        }
        Ok(())
    }
}

/// `min(remaining, available)` as a usize.
fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Data, Trailers and Done are handled before the byte loop looks at a byte.
fn unreachable_state() -> ! {
    unreachable!("byte-level states only")
}
