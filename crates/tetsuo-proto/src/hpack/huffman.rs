//! The static Huffman code of RFC 7541 Appendix B.
//!
//! The code is canonical: it follows from the code lengths alone (codes of
//! one length are consecutive, in symbol order, and each length starts where
//! the shorter ones ended), so only the lengths are written here and the
//! codes are computed at compile time.
//!
//! Decoding runs a state machine four bits at a time. Its states are the
//! 256 inner nodes of the code tree; a step yields the next state, at most
//! one symbol (no code is shorter than five bits) and whether the bits read
//! since the last symbol could be padding. The table (4096 steps, 16 KiB)
//! is built on first use.

use std::sync::OnceLock;

use super::Error;

/// Code lengths in bits of the symbols 0..=255 and EOS (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

/// The end-of-string symbol: never in a string; its first bits pad.
const EOS: usize = 256;

/// The canonical codes, right-aligned.
const CODES: [u32; 257] = canonical_codes();

const fn canonical_codes() -> [u32; 257] {
    let mut codes = [0u32; 257];
    let mut code = 0u32;
    let mut len = 1u8;
    while len <= 30 {
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] == len {
                codes[sym] = code;
                code += 1;
            }
            sym += 1;
        }
        code <<= 1;
        len += 1;
    }
    codes
}

/// The length of `data` Huffman-coded, in bytes.
pub fn encoded_len(data: &[u8]) -> usize {
    let bits: usize = data
        .iter()
        .map(|&b| usize::from(LENGTHS[usize::from(b)]))
        .sum();
    bits.div_ceil(8)
}

/// Appends `data` Huffman-coded to `dst`, padded with the EOS prefix.
pub fn encode(data: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(data));
    // Bits waiting in the low end of `acc`; at most 7 + 30 at a time.
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &b in data {
        let len = u32::from(LENGTHS[usize::from(b)]);
        acc = (acc << len) | u64::from(CODES[usize::from(b)]);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        // Pad with ones: the most significant bits of EOS.
        dst.push(((acc << (8 - bits)) as u8) | (0xFF >> bits));
    }
}

/// A decoding step: the next state, and the symbol emitted if `EMIT`.
#[derive(Clone, Copy, Default)]
struct Step {
    next: u8,
    symbol: u8,
    flags: u8,
}

/// The step emits `symbol`.
const EMIT: u8 = 1;
/// The bits do not decode (EOS reached).
const FAIL: u8 = 2;

struct Machine {
    steps: Vec<Step>,
    /// Whether the string may end in each state: the bits read since the
    /// last symbol are fewer than eight, all ones (a prefix of EOS).
    accepting: [bool; 256],
}

fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(build)
}

/// A node of the code tree: inner nodes have children, leaves a symbol.
#[derive(Clone, Copy)]
enum Node {
    Inner([u16; 2]),
    Leaf(u16),
}

fn build() -> Machine {
    // The tree: node 0 is the root; inner nodes are numbered as they are
    // made (so there are exactly 256 of them).
    let mut nodes = vec![Node::Inner([0, 0])];
    for sym in 0..257u16 {
        let (code, len) = (CODES[usize::from(sym)], LENGTHS[usize::from(sym)]);
        let mut at = 0usize;
        for i in (0..len).rev() {
            let bit = ((code >> i) & 1) as usize;
            let Node::Inner(children) = nodes[at] else {
                unreachable!("a prefix code has no leaf on another code's path");
            };
            if children[bit] != 0 {
                at = usize::from(children[bit]);
                continue;
            }
            let child = nodes.len();
            nodes.push(if i == 0 {
                Node::Leaf(sym)
            } else {
                Node::Inner([0, 0])
            });
            if let Node::Inner(c) = &mut nodes[at] {
                c[bit] = child as u16;
            }
            at = child;
        }
    }
    // Number the inner nodes 0..256 (the root is 0), and note for each its
    // depth and whether its path from the root is all ones.
    let mut ids = vec![u16::MAX; nodes.len()];
    let mut info = Vec::new();
    let mut queue = std::collections::VecDeque::from([(0usize, 0u8, true)]);
    while let Some((n, depth, ones)) = queue.pop_front() {
        if let Node::Inner(children) = nodes[n] {
            ids[n] = info.len() as u16;
            info.push((n, depth, ones));
            queue.push_back((usize::from(children[0]), depth + 1, false));
            queue.push_back((usize::from(children[1]), depth + 1, ones));
        }
    }
    assert_eq!(info.len(), 256, "257 leaves make 256 inner nodes");
    let mut accepting = [false; 256];
    for (id, &(_, depth, ones)) in info.iter().enumerate() {
        accepting[id] = ones && depth < 8;
    }
    let mut steps = vec![Step::default(); 256 * 16];
    for (id, &(start, _, _)) in info.iter().enumerate() {
        for nibble in 0..16u8 {
            let mut at = start;
            let mut step = Step::default();
            for i in (0..4).rev() {
                let bit = usize::from((nibble >> i) & 1);
                let Node::Inner(children) = nodes[at] else {
                    unreachable!()
                };
                at = usize::from(children[bit]);
                if let Node::Leaf(sym) = nodes[at] {
                    if usize::from(sym) == EOS {
                        step.flags |= FAIL;
                        break;
                    }
                    step.flags |= EMIT;
                    step.symbol = sym as u8;
                    at = 0;
                }
            }
            step.next = ids[at] as u8;
            steps[id * 16 + usize::from(nibble)] = step;
        }
    }
    Machine { steps, accepting }
}

/// Appends the Huffman-coded `data` decoded to `dst`. Fails on EOS inside
/// the string, on padding longer than seven bits or not all ones.
pub fn decode(data: &[u8], dst: &mut Vec<u8>) -> Result<(), Error> {
    let m = machine();
    dst.reserve(data.len() * 8 / 5);
    let mut state = 0usize;
    for &b in data {
        for nibble in [b >> 4, b & 0x0F] {
            let step = m.steps[state * 16 + usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(Error::InvalidHuffman);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.symbol);
            }
            state = usize::from(step.next);
        }
    }
    if m.accepting[state] {
        Ok(())
    } else {
        Err(Error::InvalidHuffman)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_complete_and_prefix_free() {
        // Kraft's equality: a complete prefix code.
        let sum: u64 = LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(sum, 1 << 30);
        // Spot checks against RFC 7541 Appendix B.
        assert_eq!((CODES[b' ' as usize], LENGTHS[b' ' as usize]), (0x14, 6));
        assert_eq!((CODES[b'a' as usize], LENGTHS[b'a' as usize]), (0x3, 5));
        assert_eq!((CODES[255], LENGTHS[255]), (0x3ff_ffee, 26));
        assert_eq!((CODES[EOS], LENGTHS[EOS]), (0x3fff_ffff, 30));
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut wire = Vec::new();
        encode(&all, &mut wire);
        assert_eq!(wire.len(), encoded_len(&all));
        let mut back = Vec::new();
        decode(&wire, &mut back).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn padding_rules() {
        // "a" is 00011 + padding 111.
        let mut back = Vec::new();
        decode(&[0b0001_1111], &mut back).unwrap();
        assert_eq!(back, b"a");
        // Padding of zeros.
        assert_eq!(
            decode(&[0b0001_1000], &mut Vec::new()),
            Err(Error::InvalidHuffman)
        );
        // Eight bits of padding (a whole byte of ones after a full symbol).
        assert_eq!(
            decode(&[0b0001_1111, 0xFF], &mut Vec::new()),
            Err(Error::InvalidHuffman)
        );
        // EOS itself (30 ones) in the string.
        assert_eq!(
            decode(&[0xFF, 0xFF, 0xFF, 0xFF], &mut Vec::new()),
            Err(Error::InvalidHuffman)
        );
        // The empty string.
        decode(&[], &mut back).unwrap();
    }
}
