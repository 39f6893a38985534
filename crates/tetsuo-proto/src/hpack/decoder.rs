//! Field blocks in, fields out.

use bytes::Bytes;

use super::table::{Dynamic, STATIC, entry_size};
use super::{Error, Field, huffman, read_int};

/// Decodes the field blocks of one direction of a connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: Dynamic,
    /// The largest table the peer may use: our SETTINGS_HEADER_TABLE_SIZE.
    max_table_size: usize,
    /// We lowered the limit below the table's size: the next block must
    /// open with a size update.
    update_required: bool,
    max_list_size: usize,
}

impl Decoder {
    /// A decoder whose peer may use a table of up to `max_table_size`
    /// bytes (what we advertise; [`DEFAULT_TABLE_SIZE`] unless we said
    /// otherwise). The header list is unbounded until
    /// [`set_max_header_list_size`](Self::set_max_header_list_size).
    ///
    /// [`DEFAULT_TABLE_SIZE`]: super::DEFAULT_TABLE_SIZE
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: Dynamic::new(max_table_size),
            max_table_size,
            update_required: false,
            max_list_size: usize::MAX,
        }
    }

    /// Changes the table size we allow (once the peer acknowledged the
    /// SETTINGS that said so). A limit below the table's current maximum
    /// obliges the peer to open its next block with a size update.
    pub fn set_max_table_size(&mut self, max: usize) {
        if max < self.table.max_size() {
            self.update_required = true;
        }
        self.max_table_size = max;
    }

    /// Bounds the decoded header list: names, values and 32 bytes per field
    /// (RFC 9113 §6.5.2's SETTINGS_MAX_HEADER_LIST_SIZE measure).
    pub fn set_max_header_list_size(&mut self, max: usize) {
        self.max_list_size = max;
    }

    /// The dynamic table's current size in bytes.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete field block (a HEADERS frame's fragment and its
    /// CONTINUATIONs joined), appending its fields to `fields`. Strings
    /// that are not Huffman-coded are slices of `block`, not copies.
    ///
    /// On [`Error::HeaderListTooLarge`] the block was decoded to the end
    /// (the table is in step) and nothing was appended; any other error
    /// leaves the table unusable.
    pub fn decode(&mut self, block: &Bytes, fields: &mut Vec<Field>) -> Result<(), Error> {
        let start_len = fields.len();
        let mut at = 0;
        let mut list_size = 0usize;
        let mut too_large = false;
        let mut seen_field = false;
        while at < block.len() {
            let b = block[at];
            if b & 0xE0 == 0x20 {
                // Dynamic table size update (§6.3): only before the fields.
                if seen_field {
                    return Err(Error::InvalidSizeUpdate);
                }
                let size = read_int(block, &mut at, 5)?;
                if size > self.max_table_size {
                    return Err(Error::InvalidSizeUpdate);
                }
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            }
            if self.update_required {
                return Err(Error::MissingSizeUpdate);
            }
            seen_field = true;
            let field = if b & 0x80 != 0 {
                // Indexed (§6.1).
                let index = read_int(block, &mut at, 7)?;
                let (name, value) = self.entry(index)?;
                Field {
                    name,
                    value,
                    sensitive: false,
                }
            } else {
                // Literal (§6.2): with incremental indexing (01), without
                // (0000) or never indexed (0001).
                let (prefix, indexing, sensitive) = if b & 0x40 != 0 {
                    (6, true, false)
                } else {
                    (4, false, b & 0x10 != 0)
                };
                let index = read_int(block, &mut at, prefix)?;
                let name = if index == 0 {
                    read_string(block, &mut at)?
                } else {
                    self.entry(index)?.0
                };
                let value = read_string(block, &mut at)?;
                if indexing {
                    self.table.insert(name.clone(), value.clone());
                }
                Field {
                    name,
                    value,
                    sensitive,
                }
            };
            if too_large {
                continue;
            }
            list_size = list_size.saturating_add(entry_size(&field.name, &field.value));
            if list_size > self.max_list_size {
                // Decode on (the table must stay in step), keep nothing.
                too_large = true;
                fields.truncate(start_len);
                continue;
            }
            fields.push(field);
        }
        if self.update_required {
            return Err(Error::MissingSizeUpdate);
        }
        if too_large {
            return Err(Error::HeaderListTooLarge);
        }
        Ok(())
    }

    /// The entry at `index`: static 1..=61, dynamic from 62.
    fn entry(&self, index: usize) -> Result<(Bytes, Bytes), Error> {
        match index {
            0 => Err(Error::InvalidIndex(0)),
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                ))
            }
            _ => self
                .table
                .get(index - 62)
                .cloned()
                .ok_or(Error::InvalidIndex(index)),
        }
    }
}

/// A string literal (§5.2): a slice of the block, or Huffman-decoded.
fn read_string(block: &Bytes, at: &mut usize) -> Result<Bytes, Error> {
    let huffman = *block.get(*at).ok_or(Error::Truncated)? & 0x80 != 0;
    let len = read_int(block, at, 7)?;
    let end = at
        .checked_add(len)
        .filter(|&e| e <= block.len())
        .ok_or(Error::Truncated)?;
    let raw = &block[*at..end];
    let s = if huffman {
        let mut out = Vec::new();
        huffman::decode(raw, &mut out)?;
        Bytes::from(out)
    } else {
        block.slice(*at..end)
    };
    *at = end;
    Ok(s)
}
