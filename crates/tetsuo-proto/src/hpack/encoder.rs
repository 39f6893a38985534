//! Fields in, field blocks out.

use bytes::Bytes;

use super::table::{Dynamic, STATIC, entry_size, static_name};
use super::{DEFAULT_TABLE_SIZE, huffman, write_int};

/// Names whose values seldom repeat: indexing them would only push useful
/// entries out of the table. (`date` is indexed: a busy server sends the
/// same one many times a second.)
const NOT_INDEXED: &[&[u8]] = &[
    b":path",
    b"age",
    b"content-length",
    b"content-range",
    b"etag",
    b"expires",
    b"if-modified-since",
    b"if-none-match",
    b"last-modified",
    b"link",
    b"location",
    b"set-cookie",
];

/// Cookies shorter than this are sent never-indexed: short values are
/// guessable by probing the table (RFC 7541 §7.1.3).
const SHORT_COOKIE: usize = 20;

/// Encodes the field blocks of one direction of a connection.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: Dynamic,
    /// The largest table we use, whatever the peer allows.
    cap: usize,
    /// Size changes to announce at the start of the next block: the
    /// smallest since the last block, then the final one.
    pending: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the initial table size (4096 bytes), which it never
    /// exceeds even if the peer allows more.
    pub fn new() -> Encoder {
        Encoder {
            table: Dynamic::new(DEFAULT_TABLE_SIZE),
            cap: DEFAULT_TABLE_SIZE,
            pending: None,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the table follows it
    /// (up to 4096 bytes), announced at the start of the next block.
    pub fn set_max_table_size(&mut self, peer_max: usize) {
        let size = peer_max.min(self.cap);
        let min = match self.pending {
            Some((min, _)) => min.min(size),
            None if size == self.table.max_size() => return,
            None => size.min(self.table.max_size()),
        };
        self.pending = Some((min, size));
    }

    /// Appends the block for `fields` — (name, value, sensitive) — to
    /// `dst`. Names must already be lowercase for HTTP/2.
    pub fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
        dst: &mut Vec<u8>,
    ) {
        if let Some((min, size)) = self.pending.take() {
            if min < size {
                write_int(min, 5, 0x20, dst);
                self.table.set_max_size(min);
            }
            write_int(size, 5, 0x20, dst);
            self.table.set_max_size(size);
        }
        for (name, value, sensitive) in fields {
            self.encode_field(name, value, sensitive, dst);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], sensitive: bool, dst: &mut Vec<u8>) {
        let sensitive = sensitive
            || name == b"authorization"
            || name == b"proxy-authorization"
            || (name == b"cookie" && value.len() < SHORT_COOKIE);
        let statics = static_name(name);
        // A whole entry already in a table: one index (not for a sensitive
        // field, which must arrive marked so).
        if let Some((first, count)) = statics
            && !sensitive
            && let Some(i) = (first..first + count).find(|&i| STATIC[i - 1].1.as_bytes() == value)
        {
            write_int(i, 7, 0x80, dst);
            return;
        }
        let mut name_index = statics.map(|(first, _)| first);
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n.as_ref() == name {
                if v.as_ref() == value && !sensitive {
                    write_int(62 + i, 7, 0x80, dst);
                    return;
                }
                name_index = name_index.or(Some(62 + i));
            }
        }
        let index = !sensitive
            && !NOT_INDEXED.contains(&name)
            && entry_size(name, value) <= self.table.max_size() * 3 / 4;
        let (prefix, flags) = match (index, sensitive) {
            (true, _) => (6, 0x40),
            (false, true) => (4, 0x10),
            (false, false) => (4, 0x00),
        };
        match name_index {
            Some(i) => write_int(i, prefix, flags, dst),
            None => {
                write_int(0, prefix, flags, dst);
                write_string(name, dst);
            }
        }
        write_string(value, dst);
        if index {
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
    }
}

/// A string literal, Huffman-coded when that is shorter.
fn write_string(s: &[u8], dst: &mut Vec<u8>) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        write_int(coded, 7, 0x80, dst);
        huffman::encode(s, dst);
    } else {
        write_int(s.len(), 7, 0, dst);
        dst.extend_from_slice(s);
    }
}
