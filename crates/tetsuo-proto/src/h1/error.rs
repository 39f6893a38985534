//! Why a message was rejected, and the answer each rejection gets on the wire.

use std::fmt;

use http::StatusCode;

/// A violation of HTTP/1.1 by the peer (or a message beyond our [`Limits`]).
///
/// Each error knows its wire answer ([`Error::status`], for a server to
/// send) and every one of them ends the connection: once a message is
/// rejected, where the next one starts is unknown ([`Error::must_close`]).
/// The variants cite the rule they enforce.
///
/// [`Limits`]: super::Limits
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The method is not a token (RFC 9112 §3.1, RFC 9110 §9.1).
    InvalidMethod,
    /// The request-target has bytes outside RFC 3986, malformed
    /// percent-encoding, or a form its method does not allow (RFC 9112 §3.2).
    InvalidTarget,
    /// The version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    InvalidVersion,
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1 (RFC 9110 §15.6.6).
    UnsupportedVersion,
    /// A request line without a version: HTTP/0.9 is not spoken (RFC 9112 §2.3).
    Http09,
    /// The status code is not three digits (RFC 9112 §4).
    InvalidStatus,
    /// The reason phrase has a forbidden byte (RFC 9112 §4).
    InvalidReason,
    /// The start line does not have the right number of single-space
    /// separated parts (RFC 9112 §3, §4).
    InvalidStartLine,
    /// A field name is empty or not a token (RFC 9110 §5.1).
    InvalidFieldName,
    /// A field value has NUL, a bare CR or another control byte (RFC 9110 §5.5).
    InvalidFieldValue,
    /// A field line has no colon (RFC 9112 §5).
    MissingColon,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1: MUST reject).
    WhitespaceBeforeColon,
    /// A field line starts with whitespace: obsolete line folding, or
    /// whitespace before the first field (RFC 9112 §5.2, §2.2).
    ObsFold,
    /// A line ends in LF without CR. tetsuo accepts only CRLF, in heads and
    /// in chunked framing alike (RFC 9112 §2.2 allows either policy).
    BareLf,
    /// A CR not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2: MUST reject).
    MissingHost,
    /// More than one Host field line (RFC 9112 §3.2: MUST reject).
    DuplicateHost,
    /// A Host value that is not `host[:port]` (RFC 9112 §3.2: MUST reject).
    InvalidHost,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1, §6.3: the
    /// classic request-smuggling vector; rejected on both sides).
    ContentLengthAndTransferEncoding,
    /// Content-Length is not a decimal number, or differs between its
    /// values (RFC 9110 §8.6, RFC 9112 §6.3).
    InvalidContentLength,
    /// Transfer-Encoding whose final coding is not `chunked`, or `chunked`
    /// applied twice (RFC 9112 §6.3: MUST reject).
    ChunkedNotFinal,
    /// Transfer-Encoding with a coding other than `chunked` (RFC 9112 §6.1:
    /// SHOULD answer 501).
    UnsupportedTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: framing is
    /// faulty).
    TransferEncodingInHttp10,
    /// A chunk size that is not hexadecimal (RFC 9112 §7.1).
    InvalidChunkSize,
    /// A chunk size beyond 2^64 - 1, or written with more than 64 digits.
    ChunkSizeOverflow,
    /// A malformed chunk extension (RFC 9112 §7.1.1).
    InvalidChunkExtension,
    /// Chunk data not followed by CRLF (RFC 9112 §7.1).
    InvalidChunkEnd,
    /// An Expect value other than `100-continue` (RFC 9110 §10.1.1).
    UnsupportedExpectation,
    /// The request line is longer than [`Limits::max_start_line`](super::Limits).
    StartLineTooLong,
    /// The status line is longer than [`Limits::max_start_line`](super::Limits).
    StatusLineTooLong,
    /// More field lines than [`Limits::max_headers`](super::Limits).
    TooManyHeaders,
    /// The head is larger than [`Limits::max_head`](super::Limits).
    HeadTooLarge,
    /// One field line is longer than [`Limits::max_field`](super::Limits).
    FieldTooLarge,
    /// The trailer section is larger than [`Limits::max_trailers`](super::Limits).
    TrailersTooLarge,
    /// Chunk extensions in one body exceed [`Limits::max_chunk_ext`](super::Limits).
    ChunkExtensionsTooLarge,
    /// The body is larger than [`Limits::max_body`](super::Limits).
    BodyTooLarge,
    /// The connection closed in the middle of a message (RFC 9112 §8).
    Incomplete,
    /// Bytes arrived where no message may start: after a close-delimited
    /// response or a `Connection: close` message.
    UnexpectedData,
    /// A response arrived with no request outstanding.
    UnsolicitedResponse,
    /// A `101 Switching Protocols` to a request that did not ask to switch.
    UnexpectedSwitch,
}

impl Error {
    /// The status a server answers with.
    pub fn status(self) -> StatusCode {
        use Error::*;
        match self {
            UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            UnsupportedExpectation => StatusCode::EXPECTATION_FAILED,
            StartLineTooLong => StatusCode::URI_TOO_LONG,
            TooManyHeaders | HeadTooLarge | FieldTooLarge | TrailersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether the connection must close after this error: always, since the
    /// framing of whatever follows a rejected message is unknown.
    pub fn must_close(self) -> bool {
        true
    }

    /// A short description.
    pub fn as_str(self) -> &'static str {
        use Error::*;
        match self {
            InvalidMethod => "invalid method",
            InvalidTarget => "invalid request-target",
            InvalidVersion => "invalid HTTP version",
            UnsupportedVersion => "unsupported HTTP version",
            Http09 => "HTTP/0.9 request",
            InvalidStatus => "invalid status code",
            InvalidReason => "invalid reason phrase",
            InvalidStartLine => "malformed start line",
            InvalidFieldName => "invalid field name",
            InvalidFieldValue => "invalid field value",
            MissingColon => "field line without colon",
            WhitespaceBeforeColon => "whitespace before colon",
            ObsFold => "obsolete line folding",
            BareLf => "bare LF line ending",
            BareCr => "bare CR",
            MissingHost => "missing Host",
            DuplicateHost => "duplicate Host",
            InvalidHost => "invalid Host",
            ContentLengthAndTransferEncoding => "both Content-Length and Transfer-Encoding",
            InvalidContentLength => "invalid Content-Length",
            ChunkedNotFinal => "chunked is not the final transfer coding",
            UnsupportedTransferCoding => "unsupported transfer coding",
            TransferEncodingInHttp10 => "Transfer-Encoding in HTTP/1.0",
            InvalidChunkSize => "invalid chunk size",
            ChunkSizeOverflow => "chunk size overflow",
            InvalidChunkExtension => "invalid chunk extension",
            InvalidChunkEnd => "chunk data not followed by CRLF",
            UnsupportedExpectation => "unsupported expectation",
            StartLineTooLong => "request line too long",
            StatusLineTooLong => "status line too long",
            TooManyHeaders => "too many header fields",
            HeadTooLarge => "head too large",
            FieldTooLarge => "field line too large",
            TrailersTooLarge => "trailer section too large",
            ChunkExtensionsTooLarge => "chunk extensions too large",
            BodyTooLarge => "body too large",
            Incomplete => "connection closed mid-message",
            UnexpectedData => "unexpected data after the last message",
            UnsolicitedResponse => "response without a request",
            UnexpectedSwitch => "protocol switch that was not asked for",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Error {}

/// A caller tried to put something on the wire that HTTP/1.1 forbids: the
/// message is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// A header name that is not a token.
    InvalidFieldName,
    /// A header value with CR, LF, NUL or another control byte (header
    /// injection).
    InvalidFieldValue,
    /// A request-target with whitespace or control bytes.
    InvalidTarget,
    /// A reason phrase with CR, LF or control bytes.
    InvalidReason,
    /// More body bytes than the declared Content-Length.
    BodyTooLong,
    /// The message ended before the declared Content-Length was sent.
    BodyTooShort,
    /// Body bytes for a message that cannot have a body (HEAD, 204, 304, ...).
    BodyNotAllowed,
    /// The call does not fit the connection's state (e.g. a second response
    /// head, data before a head).
    WrongState,
    /// The message declares framing tetsuo does not produce (a
    /// Transfer-Encoding other than `chunked`, or with Content-Length).
    InvalidFraming,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::InvalidFieldName => "invalid header name",
            EncodeError::InvalidFieldValue => "invalid header value",
            EncodeError::InvalidTarget => "invalid request-target",
            EncodeError::InvalidReason => "invalid reason phrase",
            EncodeError::BodyTooLong => "body longer than Content-Length",
            EncodeError::BodyTooShort => "body shorter than Content-Length",
            EncodeError::BodyNotAllowed => "message cannot have a body",
            EncodeError::WrongState => "call out of order for the connection state",
            EncodeError::InvalidFraming => "unsupported message framing",
        })
    }
}

impl std::error::Error for EncodeError {}
