//! Frame headers (RFC 6455 §5.2) and masking (§5.3).

use super::Error;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: a text message (UTF-8).
    Text,
    /// 0x2: a binary message.
    Binary,
    /// 0x8: the closing handshake.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Result<Opcode, Error> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(Error::UnknownOpcode(other)),
        })
    }

    /// The opcode's four bits.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// True for Close, Ping and Pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of its message.
    pub fin: bool,
    /// RSV1 (permessage-deflate: the message is compressed).
    pub rsv1: bool,
    /// RSV2 and RSV3 (no extension defines them here; always an error).
    pub rsv23: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, if the payload is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

impl FrameHeader {
    /// Parses a header at the start of `buf`: `Ok(None)` when more bytes
    /// are needed, else the header and its length in bytes (2 to 14). A
    /// 64-bit length with its top bit set is refused here, before anything
    /// is allocated for it.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let opcode = Opcode::from_bits(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(b);
                    let len = u64::from_be_bytes(n);
                    if len >> 63 != 0 {
                        return Err(Error::BadLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                rsv23: b0 & 0x30 != 0,
                opcode,
                mask,
                len,
            },
            at,
        )))
    }

    /// Appends this header.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let b0 = (u8::from(self.fin) << 7) | (u8::from(self.rsv1) << 6) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        dst.push(b0);
        if self.len < 126 {
            dst.push(mask_bit | self.len as u8);
        } else if let Ok(len) = u16::try_from(self.len) {
            dst.push(mask_bit | 126);
            dst.extend_from_slice(&len.to_be_bytes());
        } else {
            dst.push(mask_bit | 127);
            dst.extend_from_slice(&self.len.to_be_bytes());
        }
        if let Some(key) = self.mask {
            dst.extend_from_slice(&key);
        }
    }
}

/// XORs `data` with `key`, as if `data` started `offset` bytes into the
/// payload (so a payload can be unmasked piece by piece). Eight bytes at a
/// time.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut rotated = [0u8; 4];
    for (i, b) in rotated.iter_mut().enumerate() {
        *b = key[(offset + i) % 4];
    }
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(bytes) ^ word;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rotated[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_and_the_top_bit() {
        for len in [0u64, 125, 126, 65535, 65536, 1 << 40] {
            let h = FrameHeader {
                fin: true,
                rsv1: false,
                rsv23: false,
                opcode: Opcode::Binary,
                mask: Some([1, 2, 3, 4]),
                len,
            };
            let mut wire = Vec::new();
            h.encode(&mut wire);
            assert_eq!(FrameHeader::parse(&wire).unwrap(), Some((h, wire.len())));
            for cut in 0..wire.len() {
                assert_eq!(FrameHeader::parse(&wire[..cut]).unwrap(), None);
            }
        }
        let huge = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::parse(&huge), Err(Error::BadLength));
        assert_eq!(FrameHeader::parse(&[0x83, 0]), Err(Error::UnknownOpcode(3)));
    }

    proptest! {
        #[test]
        fn masking_piecewise_equals_bytewise(data in proptest::collection::vec(any::<u8>(), 0..100), key in any::<[u8; 4]>(), split in 0usize..100) {
            let expect: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
            let mut got = data.clone();
            let split = split.min(got.len());
            let (a, b) = got.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            prop_assert_eq!(got, expect);
        }
    }
}
