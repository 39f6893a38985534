//! Transparent decoding of `gzip`, `deflate` and `br` response bodies
//! (feature `decompression`), with a cap on the decoded size so that a
//! small compressed body cannot expand without bound.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http_body::{Frame, SizeHint};

use crate::http::Body;
use crate::{Error, ErrorKind};

/// What `Accept-Encoding` offers.
pub(crate) const ACCEPT: &str = "gzip, deflate, br";

/// Where decoded bytes go: a buffer that refuses to grow past what the
/// body limit still allows, so a bomb is stopped while it inflates, not
/// after a whole chunk has.
struct Sink {
    out: Vec<u8>,
    room: u64,
}

/// The error a full [`Sink`] reports, told apart from corrupt input.
#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the decoded body exceeds the body size limit")
    }
}

impl std::error::Error for OverLimit {}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() as u64 > self.room {
            return Err(std::io::Error::other(OverLimit));
        }
        self.room -= data.len() as u64;
        self.out.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streaming decoder writing decoded bytes into a [`Sink`].
enum Decoder {
    Gzip(flate2::write::GzDecoder<Sink>),
    /// HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2).
    Deflate(flate2::write::ZlibDecoder<Sink>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Sink>>),
}

impl Decoder {
    fn for_coding(coding: &[u8], max: Option<u64>) -> Option<Decoder> {
        let sink = || Sink {
            out: Vec::new(),
            room: max.unwrap_or(u64::MAX),
        };
        match coding.to_ascii_lowercase().as_slice() {
            b"gzip" | b"x-gzip" => Some(Decoder::Gzip(flate2::write::GzDecoder::new(sink()))),
            b"deflate" => Some(Decoder::Deflate(flate2::write::ZlibDecoder::new(sink()))),
            b"br" => Some(Decoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(sink(), 8 * 1024),
            ))),
            _ => None,
        }
    }

    /// Feeds compressed bytes; returns what they decoded to.
    fn feed(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Decoder::Gzip(d) => {
                d.write_all(data)?;
                d.flush()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
            Decoder::Deflate(d) => {
                d.write_all(data)?;
                d.flush()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
            Decoder::Brotli(d) => {
                d.write_all(data)?;
                d.flush()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
        }
    }

    /// The end of the compressed stream: what is left, or an error if the
    /// stream was cut short.
    fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Decoder::Gzip(d) => {
                d.try_finish()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
            Decoder::Deflate(d) => {
                d.try_finish()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
            Decoder::Brotli(d) => {
                d.close()?;
                Ok(std::mem::take(&mut d.get_mut().out))
            }
        }
    }
}

/// If the response is encoded with one coding we decode, the body that
/// decodes it (and the headers no longer describing it are removed).
pub(crate) fn wrap(headers: &mut HeaderMap, body: Body, max: Option<u64>) -> Body {
    let mut codings = headers.get_all(CONTENT_ENCODING).iter();
    let (Some(coding), None) = (codings.next(), codings.next()) else {
        return body;
    };
    let Some(decoder) = Decoder::for_coding(coding.as_bytes().trim_ascii(), max) else {
        return body;
    };
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    Body::wrap(Decoded {
        inner: body,
        decoder,
        done: false,
    })
}

struct Decoded {
    inner: Body,
    decoder: Decoder,
    done: bool,
}

/// A decoding failure: the limit, or corrupt input.
fn failed(e: std::io::Error) -> Error {
    let over = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<OverLimit>().is_some());
    if over {
        Error::new(ErrorKind::Limit, "decode a response body")
            .with_detail("the decoded body exceeds the body size limit")
    } else {
        Error::new(ErrorKind::Protocol, "decode a response body").with_source(e)
    }
}

/// Decoded bytes as a frame (none if there were none).
fn output(bytes: Vec<u8>) -> Option<Frame<Bytes>> {
    (!bytes.is_empty()).then(|| Frame::data(Bytes::from(bytes)))
}

impl http_body::Body for Decoded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = match this.decoder.feed(&data) {
                            Ok(out) => out,
                            Err(e) => return Poll::Ready(Some(Err(failed(e)))),
                        };
                        match output(out) {
                            Some(frame) => return Poll::Ready(Some(Ok(frame))),
                            None => continue,
                        }
                    }
                    // Trailers pass through.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let out = match this.decoder.finish() {
                        Ok(out) => out,
                        Err(e) => return Poll::Ready(Some(Err(failed(e)))),
                    };
                    return Poll::Ready(output(out).map(Ok));
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
