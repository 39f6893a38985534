//! Byte classes of RFC 9110/9112/3986, as lookup tables, and a
//! word-at-a-time scan for the long runs of field values.

/// `tchar` (RFC 9110 §5.6.2): what tokens (methods, field names) are made of.
pub(crate) static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// Bytes allowed in a request-target (RFC 3986 `unreserved`, `reserved`
/// without `#`, and `%` for percent-encoding).
pub(crate) static URI: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        i += 1;
    }
    t
};

/// Request-target bytes other than `%` (scanned in runs; `%` is checked for
/// its two hex digits).
pub(crate) static URI_PLAIN: [bool; 256] = {
    let mut t = URI;
    t[b'%' as usize] = false;
    t
};

/// `reg-name` bytes of a host (RFC 3986 §3.2.2: unreserved, sub-delims,
/// and `%` of pct-encoded).
pub(crate) static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    t
};

/// Field-value bytes (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB.
pub(crate) static FIELD_VALUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i == 0x09 || (i >= 0x20 && i != 0x7f);
        i += 1;
    }
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Per-byte flags (the high bit of each byte) for bytes of `w` below `n`
/// (n <= 128). Flags above the lowest flagged byte may be spurious; the
/// lowest one is exact.
#[inline(always)]
fn less_mask(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS
}

/// Per-byte flags for bytes of `w` equal to `b` (lowest one exact).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The position of the first flagged byte in consecutive words of flags
/// (little-endian: the lowest flag of the first non-zero word).
#[inline(always)]
fn first_stop(masks: &[u64]) -> usize {
    let mut base = 0;
    for &m in masks {
        if m != 0 {
            return base + (m.trailing_zeros() / 8) as usize;
        }
        base += 8;
    }
    base
}

/// The length of the leading run of `s` in which every byte is a plain
/// field-value byte other than HTAB (0x20..=0x7e or >= 0x80), eight bytes at
/// a time. The caller looks at the byte that stopped the run.
#[inline]
pub(crate) fn plain_value_run(s: &[u8]) -> usize {
    let stops = |w: u64| less_mask(w, 0x20) | eq_mask(w, 0x7f);
    let mut i = 0;
    // Thirty-two bytes per round with one branch, then sixteen, then eight,
    // then byte by byte.
    for block in s.chunks_exact(32) {
        let m = [
            stops(word(&block[..8])),
            stops(word(&block[8..16])),
            stops(word(&block[16..24])),
            stops(word(&block[24..])),
        ];
        if m[0] | m[1] | m[2] | m[3] != 0 {
            return i + first_stop(&m);
        }
        i += 32;
    }
    if let Some(pair) = s.get(i..i + 16) {
        let m = [stops(word(&pair[..8])), stops(word(&pair[8..]))];
        if m[0] | m[1] != 0 {
            return i + first_stop(&m);
        }
        i += 16;
    }
    if let Some(chunk) = s.get(i..i + 8) {
        let a = stops(word(chunk));
        if a != 0 {
            return i + (a.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..]
        .iter()
        .position(|&b| b < 0x20 || b == 0x7f)
        .unwrap_or(s.len() - i)
}

/// Eight bytes as a little-endian word.
#[inline(always)]
pub(crate) fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// Per-byte flags of the bytes of `w` in `lo..=hi`, exact, for words whose
/// bytes are all below 0x80 (no carries cross bytes).
#[inline(always)]
fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let ge_lo = w.wrapping_add(ONES * u64::from(0x80 - lo));
    let gt_hi = w.wrapping_add(ONES * u64::from(0x7f - hi));
    ge_lo & !gt_hi & HIGHS
}

/// The length of the leading run of token bytes (`tchar`) of `s`. Letters
/// and `-` (what field names are made of) are recognised a word at a time;
/// the first other byte ends the run unless it is one of the rarer token
/// bytes (digits, `_`, `.`, ...), in which case the table takes over.
#[inline(always)]
pub(crate) fn token_run(s: &[u8]) -> usize {
    let mut i = 0;
    for chunk in s.chunks_exact(8) {
        let w = word(chunk);
        let lower = w | (ONES * 0x20);
        let ok = in_range(lower, b'a', b'z') | in_range(w, b'-', b'-');
        // Bytes >= 0x80 upset the ranges at and above themselves only; they
        // are flagged as stops, so the lowest stop is exact.
        let stop = (!ok & HIGHS) | (w & HIGHS);
        if stop != 0 {
            let at = i + (stop.trailing_zeros() / 8) as usize;
            return if TCHAR[s[at] as usize] {
                at + run(&s[at..], &TCHAR)
            } else {
                at
            };
        }
        i += 8;
    }
    i + run(&s[i..], &TCHAR)
}

/// The length of the leading run of `s` whose bytes are in `table`.
#[inline(always)]
pub(crate) fn run(s: &[u8], table: &[bool; 256]) -> usize {
    s.iter()
        .position(|&b| !table[b as usize])
        .unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain_value_run_slow(s: &[u8]) -> usize {
        s.iter()
            .position(|&b| b < 0x20 || b == 0x7f)
            .unwrap_or(s.len())
    }

    proptest! {
        #[test]
        fn word_scans_match_byte_scans(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(plain_value_run(&s), plain_value_run_slow(&s));
        }

        #[test]
        fn token_run_matches_the_table(
            s in proptest::collection::vec(prop_oneof![
                8 => prop_oneof![b'a'..=b'z', b'A'..=b'Z', b'0'..=b'9', Just(b'-')],
                1 => any::<u8>(),
            ], 0..40)
        ) {
            let slow = s.iter().position(|&b| !TCHAR[b as usize]).unwrap_or(s.len());
            prop_assert_eq!(token_run(&s), slow);
        }

        #[test]
        fn word_scans_match_on_mostly_plain_text(
            s in proptest::collection::vec(prop_oneof![9 => 0x20u8..0x7f, 1 => any::<u8>()], 0..64)
        ) {
            prop_assert_eq!(plain_value_run(&s), plain_value_run_slow(&s));
        }
    }

    #[test]
    fn tables_follow_the_rfcs() {
        assert!(TCHAR[b'a' as usize] && TCHAR[b'~' as usize] && !TCHAR[b':' as usize]);
        assert!(!TCHAR[b' ' as usize] && !TCHAR[b'"' as usize] && !TCHAR[0x80]);
        assert!(URI[b'/' as usize] && URI[b'%' as usize] && !URI[b'#' as usize]);
        assert!(!URI[b'{' as usize] && !URI[b' ' as usize] && !URI[0xff]);
        assert!(FIELD_VALUE[b'\t' as usize] && FIELD_VALUE[0xff] && !FIELD_VALUE[0]);
        assert!(!FIELD_VALUE[b'\r' as usize] && !FIELD_VALUE[0x7f]);
    }
}
