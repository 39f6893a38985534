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

/// A streaming decoder writing decoded bytes into a buffer.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    /// HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2).
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    fn for_coding(coding: &[u8]) -> Option<Decoder> {
        match coding.to_ascii_lowercase().as_slice() {
            b"gzip" | b"x-gzip" => Some(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new()))),
            b"deflate" => Some(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            )),
            b"br" => Some(Decoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Vec::new(), 8 * 1024),
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
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Deflate(d) => {
                d.write_all(data)?;
                d.flush()?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Brotli(d) => {
                d.write_all(data)?;
                d.flush()?;
                Ok(std::mem::take(d.get_mut()))
            }
        }
    }

    /// The end of the compressed stream: what is left, or an error if the
    /// stream was cut short.
    fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Decoder::Gzip(d) => {
                d.try_finish()?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Deflate(d) => {
                d.try_finish()?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Brotli(d) => {
                d.close()?;
                Ok(std::mem::take(d.get_mut()))
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
    let Some(decoder) = Decoder::for_coding(coding.as_bytes().trim_ascii()) else {
        return body;
    };
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    Body::wrap(Decoded {
        inner: body,
        decoder,
        decoded: 0,
        max,
        done: false,
    })
}

struct Decoded {
    inner: Body,
    decoder: Decoder,
    decoded: u64,
    max: Option<u64>,
    done: bool,
}

fn corrupt(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Protocol, "decode a response body").with_source(e)
}

impl Decoded {
    fn output(&mut self, bytes: Vec<u8>) -> Result<Option<Frame<Bytes>>, Error> {
        self.decoded += bytes.len() as u64;
        if self.max.is_some_and(|max| self.decoded > max) {
            return Err(Error::new(ErrorKind::Limit, "decode a response body")
                .with_detail("the decoded body exceeds the body size limit"));
        }
        Ok((!bytes.is_empty()).then(|| Frame::data(Bytes::from(bytes))))
    }
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
                            Err(e) => return Poll::Ready(Some(Err(corrupt(e)))),
                        };
                        match this.output(out) {
                            Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                            Ok(None) => continue,
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    // Trailers pass through.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let out = match this.decoder.finish() {
                        Ok(out) => out,
                        Err(e) => return Poll::Ready(Some(Err(corrupt(e)))),
                    };
                    return Poll::Ready(this.output(out).transpose());
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
