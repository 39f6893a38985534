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
/// field-value byte other than HTAB (0x20..=0x7e or >= 0x80). The caller
/// looks at the byte that stopped the run.
#[inline]
pub(crate) fn plain_value_run(s: &[u8]) -> usize {
    let mut i = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // Sixteen bytes per round; a short tail is scanned as the last
        // sixteen bytes, whose front was already found plain.
        while let Some(block) = s.get(i..i + 16) {
            let m = sse2::value_stops(block);
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
        if s.len() >= 16 {
            let back = s.len() - 16;
            let m = sse2::value_stops(&s[back..]);
            return if m != 0 {
                back + m.trailing_zeros() as usize
            } else {
                s.len()
            };
        }
    }
    let stops = |w: u64| less_mask(w, 0x20) | eq_mask(w, 0x7f);
    // Thirty-two bytes per round with one branch, then sixteen, then eight,
    // then byte by byte.
    for block in s[i..].chunks_exact(32) {
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

/// Sixteen bytes at a time with SSE2, which every x86-64 CPU has; safe
/// through `safe_arch`, which offers an intrinsic only where the compile
/// target enables it.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use safe_arch::{
        bitandnot_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, m128i,
        max_u8_m128i, min_u8_m128i, move_mask_i8_m128i, set_splat_i8_m128i, sub_i8_m128i,
    };

    #[inline(always)]
    fn load(block: &[u8]) -> m128i {
        // Every caller passes `s.get(i..i + 16)`: exactly sixteen bytes.
        let bytes: &[u8; 16] = block.try_into().expect("sixteen bytes");
        load_unaligned_m128i(bytes)
    }

    /// One bit per byte of a 16-byte `block` that is not a plain field-value
    /// byte (below 0x20, or DEL).
    #[inline(always)]
    pub(super) fn value_stops(block: &[u8]) -> u32 {
        let v = load(block);
        let at_least_space = cmp_eq_mask_i8_m128i(max_u8_m128i(v, set_splat_i8_m128i(0x20)), v);
        let del = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(0x7f));
        let plain = bitandnot_m128i(del, at_least_space);
        (move_mask_i8_m128i(plain) as u32) ^ 0xffff
    }

    /// Per-byte all-ones where `lo <= byte <= hi` (unsigned).
    #[inline(always)]
    fn in_range(v: m128i, lo: u8, hi: u8) -> m128i {
        let from_lo = sub_i8_m128i(v, set_splat_i8_m128i(lo as i8));
        cmp_eq_mask_i8_m128i(
            min_u8_m128i(from_lo, set_splat_i8_m128i((hi - lo) as i8)),
            from_lo,
        )
    }

    /// One bit per byte of a 16-byte `block` outside
    /// [`URI_PLAIN`](super::URI_PLAIN): printable ASCII other than
    /// `"#%<>\^`{|}`.
    #[inline(always)]
    pub(super) fn uri_stops(block: &[u8]) -> u32 {
        let v = load(block);
        let eq = |b: u8| cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b as i8));
        let excluded = bitor_m128i(
            bitor_m128i(
                bitor_m128i(in_range(v, b'"', b'#'), eq(b'%')),
                bitor_m128i(eq(b'<'), eq(b'>')),
            ),
            bitor_m128i(
                bitor_m128i(eq(b'\\'), eq(b'^')),
                bitor_m128i(eq(b'`'), in_range(v, b'{', b'}')),
            ),
        );
        let plain = bitandnot_m128i(excluded, in_range(v, b'!', b'~'));
        (move_mask_i8_m128i(plain) as u32) ^ 0xffff
    }

    /// One bit per byte of a 16-byte `block` that is not an ASCII letter,
    /// digit, `-` or `.` (what host names are made of).
    #[inline(always)]
    pub(super) fn host_stops(block: &[u8]) -> u32 {
        let v = load(block);
        let lower = bitor_m128i(v, set_splat_i8_m128i(0x20));
        let ok = bitor_m128i(
            in_range(lower, b'a', b'z'),
            bitor_m128i(in_range(v, b'0', b'9'), in_range(v, b'-', b'.')),
        );
        (move_mask_i8_m128i(ok) as u32) ^ 0xffff
    }

    /// One bit per byte of a 16-byte `block` that is neither an ASCII
    /// letter nor `-`.
    #[inline(always)]
    pub(super) fn name_stops(block: &[u8]) -> u32 {
        let v = load(block);
        let lower = bitor_m128i(v, set_splat_i8_m128i(0x20));
        let letter = in_range(lower, b'a', b'z');
        let dash = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'-' as i8));
        (move_mask_i8_m128i(bitor_m128i(letter, dash)) as u32) ^ 0xffff
    }
}

/// The length of the leading run of `s` whose bytes are in
/// [`URI_PLAIN`]: a request-target up to its first `%` or its end.
#[inline]
pub(crate) fn uri_plain_run(s: &[u8]) -> usize {
    let mut i = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(block) = s.get(i..i + 16) {
        let m = sse2::uri_stops(block);
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    i + run(&s[i..], &URI_PLAIN)
}

/// Whether `s` is `lower` but for ASCII case, given that `s` holds no
/// control bytes (tokens and field values never do) and `lower` only
/// lowercase letters, digits and `-`: setting bit 0x20 then maps exactly the
/// uppercase letters onto the lowercase ones, and no other allowed byte onto
/// a byte of `lower`. Without early exits, so short constants unroll.
#[inline(always)]
pub(crate) fn eq_folded(s: &[u8], lower: &[u8]) -> bool {
    s.len() == lower.len()
        && s.iter()
            .zip(lower)
            .fold(0, |diff, (&a, &b)| diff | ((a | 0x20) ^ b))
            == 0
}

/// The length of the leading run of [`REG_NAME`] bytes in `s[..len]`.
/// Bytes of `s` past `len` (the rest of the head) let the scan go sixteen
/// bytes at a time; they never count.
#[inline]
pub(crate) fn reg_name_run(s: &[u8], len: usize) -> usize {
    let mut i = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while i < len
        && let Some(block) = s.get(i..i + 16)
    {
        let m = sse2::host_stops(block);
        if m != 0 {
            i += m.trailing_zeros() as usize;
            break;
        }
        i += 16;
    }
    let len = len.min(s.len());
    if i >= len {
        return len;
    }
    i + run(&s[i..len], &REG_NAME)
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
/// and `-` (what field names are made of) are recognised many at a time;
/// the first other byte ends the run unless it is one of the rarer token
/// bytes (digits, `_`, `.`, ...), in which case the table takes over.
#[inline(always)]
pub(crate) fn token_run(s: &[u8]) -> usize {
    let mut i = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(block) = s.get(i..i + 16) {
        let stop = sse2::name_stops(block);
        if stop != 0 {
            return rest_of_token(s, i + stop.trailing_zeros() as usize);
        }
        i += 16;
    }
    for chunk in s[i..].chunks_exact(8) {
        let w = word(chunk);
        let lower = w | (ONES * 0x20);
        let ok = in_range(lower, b'a', b'z') | in_range(w, b'-', b'-');
        // Bytes >= 0x80 upset the ranges at and above themselves only; they
        // are flagged as stops, so the lowest stop is exact.
        let stop = (!ok & HIGHS) | (w & HIGHS);
        if stop != 0 {
            return rest_of_token(s, i + (stop.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    i + run(&s[i..], &TCHAR)
}

/// The token run of `s` given that the first byte at `at` or later that is
/// not a letter or `-` is at `at`.
#[inline(always)]
fn rest_of_token(s: &[u8], at: usize) -> usize {
    if TCHAR[s[at] as usize] {
        at + run(&s[at..], &TCHAR)
    } else {
        at
    }
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
        fn uri_run_matches_the_table(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let slow = s.iter().position(|&b| !URI_PLAIN[b as usize]).unwrap_or(s.len());
            prop_assert_eq!(uri_plain_run(&s), slow);
        }

        #[test]
        fn uri_run_matches_the_table_on_plain_text(
            s in proptest::collection::vec(prop_oneof![9 => 0x21u8..0x7f, 1 => any::<u8>()], 0..64)
        ) {
            let slow = s.iter().position(|&b| !URI_PLAIN[b as usize]).unwrap_or(s.len());
            prop_assert_eq!(uri_plain_run(&s), slow);
        }

        #[test]
        fn host_run_matches_the_table(
            s in proptest::collection::vec(prop_oneof![
                8 => prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'.'), Just(b'-')],
                1 => any::<u8>(),
            ], 0..64),
            len in 0usize..64,
        ) {
            let len = len.min(s.len());
            let slow = s[..len].iter().position(|&b| !REG_NAME[b as usize]).unwrap_or(len);
            prop_assert_eq!(reg_name_run(&s, len), slow);
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
    fn folded_comparison_is_exact_without_control_bytes() {
        for lower in [&b"keep-alive"[..], b"100-continue", b"host", b"close"] {
            let upper = lower.to_ascii_uppercase();
            assert!(eq_folded(lower, lower) && eq_folded(&upper, lower));
            assert!(!eq_folded(&lower[1..], lower));
            // Every single-byte change to a non-control byte is seen.
            for at in 0..lower.len() {
                for b in (0x20..=0xffu8).chain([b'\t']) {
                    let mut other = lower.to_vec();
                    other[at] = b;
                    assert_eq!(
                        eq_folded(&other, lower),
                        other.eq_ignore_ascii_case(lower),
                        "{other:?}"
                    );
                }
            }
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
