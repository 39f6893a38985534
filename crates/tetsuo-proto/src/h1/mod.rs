//! HTTP/1.1 (RFC 9112) without I/O: a strict, zero-copy parser, body
//! framing, an encoder, and a connection state machine.
//!
//! - [`HeadParser`] parses request and response heads into spans over the
//!   caller's buffer ([`Request`], [`Response`] views), with no allocation
//!   per field.
//! - [`BodyDecoder`] delimits bodies ([`Framing`]: Content-Length, chunked
//!   with extensions and trailers, close-delimited), reporting data as
//!   ranges of its input.
//! - [`encode_request_head`], [`encode_response_head`], [`encode_chunk`],
//!   [`encode_last_chunk`] write messages, refusing anything that would let
//!   the application inject a line.
//! - [`Connection`] ties them together for one connection, client or server
//!   ([`Side`]), in the `handle_*`/`poll_*` shape: keep-alive, pipelining,
//!   `Expect: 100-continue`, `Upgrade` and CONNECT hand-off, HTTP/1.0 rules.
//!
//! # Strictness
//!
//! Everything RFC 9112/9110 says a recipient MUST reject, and everything that
//! lets two parsers disagree about where a message ends, is an [`Error`]
//! with its status (400, 413, 414, 417, 431, 501, 505), and ends the
//! connection. Each variant of [`Error`] cites its rule. In particular:
//! Content-Length with Transfer-Encoding; Content-Length lists with
//! different values; any Transfer-Encoding but a single final `chunked`;
//! chunk sizes that are not hex or overflow; anything but CRLF after chunk
//! data; whitespace before a colon; obsolete line folding; NUL, bare CR and
//! other control bytes anywhere; versions other than 1.0/1.1; HTTP/0.9;
//! missing, repeated or malformed Host in HTTP/1.1 requests.
//!
//! **Line endings:** only CRLF. A bare LF is rejected ([`Error::BareLf`]) in
//! the head, in chunk-size lines, after chunk data and in trailers alike
//! (RFC 9112 §2.2 lets a recipient accept it; accepting it is how
//! front-ends and back-ends come to disagree).
//!
//! # Limits
//!
//! [`Limits`] bounds the start line, the field count, each field line, the
//! head, chunk extensions, trailers and (optionally) the body.

mod body;
mod chars;
mod conn;
mod encode;
mod error;
mod head;
mod limits;

pub use body::{BodyDecoder, Decoded, Framing, request_framing, response_framing};
pub use conn::{Connection, Event, RequestHead, ResponseExtras, ResponseHead, Side};
pub use encode::{encode_chunk, encode_last_chunk, encode_request_head, encode_response_head};
pub use error::{EncodeError, Error};
pub use head::{Head, HeadParser, Kind, Request, Response, Status};
pub use limits::Limits;
