//! permessage-deflate (RFC 7692): negotiation and the per-message codec.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::Error;

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const NAME: &str = "permessage-deflate";

/// The four bytes a sync flush ends with, removed from each compressed
/// message and put back before inflating (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// What a side asks for or agrees to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask the server to reset its compressor after each message.
    pub server_no_context_takeover: bool,
    /// Reset the client's compressor after each message.
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window the server may use (9–15).
    pub server_max_window_bits: u8,
    /// The largest LZ77 window the client may use (9–15).
    pub client_max_window_bits: u8,
    /// The compression level (0–9, default 6... fast messages favour 1).
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 1,
        }
    }
}

/// The parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's window (9–15).
    pub server_max_window_bits: u8,
    /// The client's window (9–15).
    pub client_max_window_bits: u8,
}

/// One extension offer or answer: its name and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits a `Sec-WebSocket-Extensions` value into offers.
fn offers(value: &str) -> Vec<Offer<'_>> {
    value
        .split(',')
        .filter_map(|ext| {
            let mut parts = ext.split(';').map(str::trim);
            let name = parts.next().filter(|n| !n.is_empty())?;
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                })
                .collect();
            Some(Offer { name, params })
        })
        .collect()
}

/// A window-bits value: 8–15 (8 is legal on the wire).
fn bits(value: Option<&str>) -> Option<u8> {
    let v: u8 = value?.parse().ok()?;
    (8..=15).contains(&v).then_some(v)
}

/// The client's offer: `permessage-deflate` with the configured parameters.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = Params {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: config.server_max_window_bits,
        client_max_window_bits: 15,
    }
    .header();
    // We can limit our window if the server asks.
    offer.push_str("; client_max_window_bits");
    offer
}

impl Params {
    /// `permessage-deflate` with these parameters (windows of 15, the
    /// default, left out): the server's answer, or a client's offer.
    pub fn header(&self) -> String {
        let mut value = String::from(NAME);
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            value.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        value
    }
}

/// The server's choice among the client's offers (the values of every
/// `Sec-WebSocket-Extensions` header): the first permessage-deflate offer
/// it can honour, the parameters and the answer to send; `None` to go on
/// without compression.
pub fn server_accept<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Params, String)> {
    for value in headers {
        'offer: for offer in offers(value) {
            if !offer.name.eq_ignore_ascii_case(NAME) {
                continue;
            }
            let mut params = Params {
                server_no_context_takeover: config.server_no_context_takeover,
                client_no_context_takeover: config.client_no_context_takeover,
                server_max_window_bits: config.server_max_window_bits.clamp(9, 15),
                client_max_window_bits: 15,
            };
            let mut seen = Vec::new();
            for (key, value) in &offer.params {
                if seen.contains(key) {
                    continue 'offer;
                }
                seen.push(*key);
                match *key {
                    "server_no_context_takeover" if value.is_none() => {
                        params.server_no_context_takeover = true;
                    }
                    "client_no_context_takeover" if value.is_none() => {
                        params.client_no_context_takeover = true;
                    }
                    "server_max_window_bits" => match bits(*value) {
                        // zlib's smallest raw window is 9: an 8 cannot be honoured.
                        Some(8) | None => continue 'offer,
                        Some(b) => {
                            params.server_max_window_bits = params.server_max_window_bits.min(b)
                        }
                    },
                    "client_max_window_bits" => match value {
                        None => {}
                        Some(_) => match bits(*value) {
                            Some(b) => params.client_max_window_bits = b,
                            None => continue 'offer,
                        },
                    },
                    _ => continue 'offer,
                }
            }
            let answer = params.header();
            return Some((params, answer));
        }
    }
    None
}

/// The server's answer is not one the client can accept (unknown or
/// repeated parameters, a window the client cannot use, several answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAnswer;

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unacceptable permessage-deflate answer")
    }
}

impl std::error::Error for BadAnswer {}

/// The client's reading of the server's answer: the agreed parameters, or
/// [`BadAnswer`].
pub fn client_accept(answer: &str, config: &DeflateConfig) -> Result<Params, BadAnswer> {
    let offers = offers(answer);
    let [offer] = offers.as_slice() else {
        return Err(BadAnswer);
    };
    if !offer.name.eq_ignore_ascii_case(NAME) {
        return Err(BadAnswer);
    }
    let mut params = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: 15,
        client_max_window_bits: config.client_max_window_bits.clamp(9, 15),
    };
    let mut seen = Vec::new();
    for (key, value) in &offer.params {
        if seen.contains(key) {
            return Err(BadAnswer);
        }
        seen.push(*key);
        match *key {
            "server_no_context_takeover" if value.is_none() => {
                params.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if value.is_none() => {
                params.client_no_context_takeover = true;
            }
            "server_max_window_bits" => {
                params.server_max_window_bits = bits(*value).ok_or(BadAnswer)?
            }
            "client_max_window_bits" => match bits(*value) {
                // We cannot compress within a 256-byte window.
                Some(8) | None => return Err(BadAnswer),
                Some(b) => params.client_max_window_bits = params.client_max_window_bits.min(b),
            },
            _ => return Err(BadAnswer),
        }
    }
    if config.server_no_context_takeover && !params.server_no_context_takeover {
        return Err(BadAnswer);
    }
    Ok(params)
}

/// Compresses outgoing and inflates incoming messages of one connection.
pub struct Deflate {
    compress: Compress,
    decompress: Decompress,
    /// Our compressor resets after each message.
    reset_compress: bool,
    /// The peer's compressor resets after each message (so may ours to
    /// inflate; harmless either way).
    reset_decompress: bool,
    /// Compressed bytes of the current incoming message were inflated.
    inflating: bool,
    /// The incoming message's deflate stream ended (a final block): what
    /// follows until the message's end is ignored.
    ended: bool,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("reset_compress", &self.reset_compress)
            .field("reset_decompress", &self.reset_decompress)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    /// The codec for the side that is (`server`) or is not the server.
    pub fn new(params: &Params, server: bool, level: u32) -> Deflate {
        let (our_bits, our_reset, their_reset) = if server {
            (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            )
        } else {
            (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            )
        };
        Deflate {
            compress: Compress::new_with_window_bits(
                Compression::new(level.min(9)),
                false,
                our_bits.clamp(9, 15),
            ),
            decompress: Decompress::new_with_window_bits(false, 15),
            reset_compress: our_reset,
            reset_decompress: their_reset,
            inflating: false,
            ended: false,
        }
    }

    /// Appends the message `data` compressed (without the sync-flush tail)
    /// to `out`.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.compress_part(data, out, true);
    }

    /// Appends one fragment of a message compressed to `out`: flushed to a
    /// byte boundary, and for the last fragment (`fin`) without the
    /// sync-flush tail (RFC 7692 §7.2.1). The fragments' payloads together
    /// are the message's compressed payload.
    pub fn compress_part(&mut self, data: &[u8], out: &mut Vec<u8>, fin: bool) {
        let start = out.len();
        let before_in = self.compress.total_in();
        loop {
            let consumed = (self.compress.total_in() - before_in) as usize;
            out.reserve(256 + (data.len() - consumed) / 2);
            let room = out.capacity() - out.len();
            let before_out = out.len();
            // Output space is always given: compression cannot fail here.
            let _ = self
                .compress
                .compress_vec(&data[consumed..], out, FlushCompress::Sync);
            let consumed = (self.compress.total_in() - before_in) as usize;
            let produced = out.len() - before_out;
            if consumed == data.len() && produced < room {
                break;
            }
        }
        if !fin {
            return;
        }
        if out.len() - start >= 4 && out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            // Nothing new to flush (an empty message after another, or an
            // empty last fragment): an empty stored block's first byte
            // (RFC 7692 §7.2.3.6).
            out.push(0x00);
        }
        if self.reset_compress {
            self.compress.reset();
        }
    }

    /// Inflates a whole message's payload into `out`, refusing to produce
    /// more than `max` bytes: the limit holds while inflating (the buffer
    /// never grows past it), so a compression bomb never gets its memory.
    pub fn decompress(&mut self, data: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), Error> {
        self.decompress_part(data, out, max, true)
    }

    /// Inflates one piece of a message's payload into `out`, refusing to
    /// produce more than `max` bytes for it; `fin` marks the message's
    /// last piece. An empty message leaves the inflater untouched.
    pub fn decompress_part(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        fin: bool,
    ) -> Result<(), Error> {
        self.inflating |= !data.is_empty();
        // The tail alone is not a valid block: only after some payload.
        let tail: &[u8] = if fin && self.inflating { &TAIL } else { &[] };
        for input in [data, tail] {
            let mut consumed = 0;
            while !self.ended {
                // One byte more than allowed tells a message over the limit.
                let allowed = max.saturating_add(1).saturating_sub(out.len());
                if allowed == 0 {
                    return Err(Error::MessageTooBig);
                }
                if out.capacity() == out.len() {
                    out.reserve_exact(out.len().clamp(1024, 1 << 20).min(allowed));
                }
                let spare = out.capacity() - out.len();
                let (before_in, before_out) = (self.decompress.total_in(), out.len());
                let status = self
                    .decompress
                    .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                    .map_err(|_| Error::BadCompression)?;
                consumed += (self.decompress.total_in() - before_in) as usize;
                if out.len() > max {
                    return Err(Error::MessageTooBig);
                }
                self.ended = status == Status::StreamEnd;
                if consumed == input.len() && out.len() - before_out < spare {
                    break;
                }
            }
        }
        if fin {
            if self.reset_decompress || self.ended {
                self.decompress.reset(false);
            }
            self.inflating = false;
            self.ended = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_context() {
        for reset in [false, true] {
            let params = Params {
                server_no_context_takeover: reset,
                client_no_context_takeover: reset,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            };
            let mut server = Deflate::new(&params, true, 6);
            let mut client = Deflate::new(&params, false, 6);
            for msg in [&b"Hello"[..], b"", b"Hello", &[7u8; 100_000]] {
                let mut wire = Vec::new();
                server.compress(msg, &mut wire);
                let mut back = Vec::new();
                client
                    .decompress(&wire, &mut back, 1 << 20)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{e} for {} bytes, reset {reset}, wire {:x?}",
                            msg.len(),
                            &wire[..wire.len().min(16)]
                        )
                    });
                assert_eq!(back, msg);
            }
        }
        // RFC 7692 §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
        let params = Params {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut d = Deflate::new(&params, true, 6);
        let mut out = Vec::new();
        d.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let params = Params {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut c = Deflate::new(&params, false, 9);
        let mut wire = Vec::new();
        c.compress(&vec![0u8; 16 << 20], &mut wire);
        assert!(wire.len() < 50_000, "{}", wire.len());
        let mut s = Deflate::new(&params, true, 9);
        let mut out = Vec::new();
        assert_eq!(
            s.decompress(&wire, &mut out, 1 << 20),
            Err(Error::MessageTooBig)
        );
        assert!(out.capacity() <= (1 << 20) + 1);
        let mut garbage = Vec::new();
        assert_eq!(
            Deflate::new(&params, true, 1).decompress(&[0xff; 20], &mut garbage, 1 << 20),
            Err(Error::BadCompression)
        );
    }

    #[test]
    fn negotiation() {
        let config = DeflateConfig::default();
        let (p, answer) =
            server_accept(["permessage-deflate; client_max_window_bits"], &config).unwrap();
        assert_eq!(answer, "permessage-deflate");
        assert_eq!(p.server_max_window_bits, 15);
        let (p, answer) = server_accept(
            ["x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10; server_no_context_takeover"],
            &config,
        )
        .unwrap();
        assert_eq!(
            answer,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(p.server_no_context_takeover);
        // Unknown or repeated parameters, a window of 8: that offer is declined.
        assert!(server_accept(["permessage-deflate; foo"], &config).is_none());
        assert!(
            server_accept(
                ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                &config
            )
            .is_none()
        );
        let (_, answer) = server_accept(
            ["permessage-deflate; server_max_window_bits=8, permessage-deflate"],
            &config,
        )
        .unwrap();
        assert_eq!(answer, "permessage-deflate");
        // The client's side.
        let p = client_accept("permessage-deflate; server_max_window_bits=12", &config).unwrap();
        assert_eq!(p.server_max_window_bits, 12);
        assert!(client_accept("permessage-deflate; client_max_window_bits=8", &config).is_err());
        assert!(client_accept("permessage-deflate, permessage-deflate", &config).is_err());
        assert!(client_accept("x-other", &config).is_err());
    }
}
