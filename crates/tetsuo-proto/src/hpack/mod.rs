//! HPACK, header compression for HTTP/2 (RFC 7541), without I/O.
//!
//! - [`Decoder`]: a field block in, [`Field`]s out. It keeps the dynamic
//!   table in step with the peer's encoder, enforces the table size we
//!   advertised (and the size update owed after we lower it), and bounds
//!   the decoded list ([`Decoder::set_max_header_list_size`]): a block over
//!   the bound is still decoded (the table must stay in step) but its
//!   fields are dropped and [`Error::HeaderListTooLarge`] is returned, the
//!   one error that leaves the connection usable.
//! - [`Encoder`]: fields in, a block out. Exact matches are indexed; other
//!   fields are added to the dynamic table unless they are large or of a
//!   kind that seldom repeats (`:path`, `date`, `etag`, ...); sensitive
//!   fields — marked by the caller, plus `authorization`,
//!   `proxy-authorization` and cookies under 20 bytes — are sent
//!   never-indexed (§7.1.3), so no intermediary stores them either. Strings
//!   are Huffman-coded when that is shorter.
//! - The Huffman code (Appendix B) is decoded four bits at a time by a
//!   table-driven state machine that also enforces the padding rules.
//!
//! ```
//! use tetsuo_proto::hpack::{Decoder, Encoder};
//!
//! let mut encoder = Encoder::new();
//! let mut block = Vec::new();
//! encoder.encode(
//!     [
//!         (&b":method"[..], &b"GET"[..], false),
//!         (b":path", b"/index.html", false),
//!         (b"authorization", b"Bearer secret", false),
//!     ],
//!     &mut block,
//! );
//! let mut decoder = Decoder::new(4096);
//! let mut fields = Vec::new();
//! decoder.decode(&block.into(), &mut fields).unwrap();
//! assert_eq!(fields[1].value, "/index.html");
//! assert!(fields[2].sensitive, "credentials go never-indexed");
//! ```

mod decoder;
mod encoder;
pub mod huffman;
mod table;

use std::fmt;

use bytes::Bytes;

pub use decoder::Decoder;
pub use encoder::Encoder;

/// The dynamic table size both sides start with (RFC 7541 §4.2,
/// SETTINGS_HEADER_TABLE_SIZE's initial value).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// A decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as sent (HTTP/2 requires lowercase; the caller checks).
    pub name: Bytes,
    /// The value.
    pub value: Bytes,
    /// It came never-indexed: whoever forwards it must send it that way.
    pub sensitive: bool,
}

/// An HPACK decoding failure. All but [`HeaderListTooLarge`] leave the
/// dynamic table out of step: HTTP/2 answers them with a connection error
/// of type COMPRESSION_ERROR.
///
/// [`HeaderListTooLarge`]: Error::HeaderListTooLarge
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The block ends inside a field's representation.
    Truncated,
    /// An integer over 2^32.
    IntegerOverflow,
    /// An index that is 0 or past the end of both tables.
    InvalidIndex(usize),
    /// Huffman-coded bytes that do not decode: EOS inside, or padding that
    /// is too long or not all ones.
    InvalidHuffman,
    /// A dynamic table size update after a field, or above the size we
    /// advertised.
    InvalidSizeUpdate,
    /// We lowered the table size and the block does not open with the
    /// update that acknowledges it.
    MissingSizeUpdate,
    /// The decoded list is over the limit (names, values and 32 bytes per
    /// field). The table stayed in step; only the fields were dropped.
    HeaderListTooLarge,
}

impl Error {
    /// True if the dynamic table can no longer be trusted (the connection
    /// must end).
    pub fn is_fatal(self) -> bool {
        self != Error::HeaderListTooLarge
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("field block ends inside a field"),
            Error::IntegerOverflow => f.write_str("integer too large"),
            Error::InvalidIndex(i) => write!(f, "no table entry at index {i}"),
            Error::InvalidHuffman => f.write_str("invalid Huffman-coded string"),
            Error::InvalidSizeUpdate => f.write_str("misplaced or too large table size update"),
            Error::MissingSizeUpdate => f.write_str("table size update missing"),
            Error::HeaderListTooLarge => f.write_str("header list over the size limit"),
        }
    }
}

impl std::error::Error for Error {}

/// Reads an integer with an `n`-bit prefix (RFC 7541 §5.1) at `*at`.
fn read_int(block: &[u8], at: &mut usize, n: u32) -> Result<usize, Error> {
    let mask = (1u32 << n) - 1;
    let first = *block.get(*at).ok_or(Error::Truncated)?;
    *at += 1;
    let mut value = u64::from(u32::from(first) & mask);
    if value < u64::from(mask) {
        return Ok(value as usize);
    }
    let mut shift = 0;
    loop {
        let b = *block.get(*at).ok_or(Error::Truncated)?;
        *at += 1;
        value += u64::from(b & 0x7F) << shift;
        if value > u64::from(u32::MAX) {
            return Err(Error::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value as usize);
        }
        shift += 7;
        if shift > 28 {
            return Err(Error::IntegerOverflow);
        }
    }
}

/// Writes `value` with an `n`-bit prefix; `flags` fills the first byte's
/// other bits.
fn write_int(value: usize, n: u32, flags: u8, dst: &mut Vec<u8>) {
    let mask = (1usize << n) - 1;
    if value < mask {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7F) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_in_rfc_7541_appendix_c1() {
        // C.1.1: 10 with a 5-bit prefix.
        let mut out = Vec::new();
        write_int(10, 5, 0, &mut out);
        assert_eq!(out, [0b01010]);
        // C.1.2: 1337 with a 5-bit prefix.
        out.clear();
        write_int(1337, 5, 0, &mut out);
        assert_eq!(out, [0b11111, 0b1001_1010, 0b0000_1010]);
        assert_eq!(read_int(&out, &mut 0, 5), Ok(1337));
        // C.1.3: 42 at an octet boundary.
        out.clear();
        write_int(42, 8, 0, &mut out);
        assert_eq!(out, [42]);
        // Limits.
        assert_eq!(read_int(&[0x1F], &mut 0, 5), Err(Error::Truncated));
        assert_eq!(
            read_int(&[0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], &mut 0, 5),
            Err(Error::IntegerOverflow)
        );
        assert_eq!(
            read_int(&[0x1F, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut 0, 5),
            Err(Error::IntegerOverflow),
            "too many continuation bytes"
        );
    }
}
