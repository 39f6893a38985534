//! HTTP/1.1 (RFC 9112) without I/O: a strict, zero-copy parser, body
//! framing, an encoder, and a connection state machine.

mod body;
mod chars;
mod error;
mod head;
mod limits;

pub use body::{BodyDecoder, Decoded, Framing, request_framing, response_framing};
pub use error::{EncodeError, Error};
pub use head::{Head, HeadParser, Kind, Request, Response, Status};
pub use limits::Limits;
