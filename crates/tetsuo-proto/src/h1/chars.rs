//! Byte classes of RFC 9110/9112/3986, as lookup tables, and word-at-a-time
//! scans for the long runs (targets, field values).

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

/// True if any byte of `w` is below `n` (n <= 128; exact as a whole-word test).
#[inline(always)]
fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS != 0
}

/// True if any byte of `w` equals `b`.
#[inline(always)]
fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// The length of the leading run of `s` in which every byte is a plain
/// field-value byte other than HTAB (0x20..=0x7e or >= 0x80), eight bytes at
/// a time. The caller looks at the byte that stopped the run.
#[inline]
pub(crate) fn plain_value_run(s: &[u8]) -> usize {
    let mut i = 0;
    for chunk in s.chunks_exact(8) {
        let w = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        if has_less(w, 0x20) || has_byte(w, 0x7f) {
            break;
        }
        i += 8;
    }
    while i < s.len() && s[i] >= 0x20 && s[i] != 0x7f {
        i += 1;
    }
    i
}

/// The length of the leading run of `s` made of bytes 0x21..=0x7e other
/// than `#`, `"`, `<`, `>`, `\\`, `^`, `` ` ``, `{`, `|`, `}` (a fast
/// pre-scan; the caller checks the exact URI class on the run).
#[inline]
pub(crate) fn visible_run(s: &[u8]) -> usize {
    let mut i = 0;
    for chunk in s.chunks_exact(8) {
        let w = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        // Stop at SP and below, DEL, and anything >= 0x80.
        if has_less(w, 0x21) || has_byte(w, 0x7f) || w & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    while i < s.len() && s[i] > 0x20 && s[i] < 0x7f {
        i += 1;
    }
    i
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

    fn visible_run_slow(s: &[u8]) -> usize {
        s.iter()
            .position(|&b| !(0x21..0x7f).contains(&b))
            .unwrap_or(s.len())
    }

    proptest! {
        #[test]
        fn word_scans_match_byte_scans(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(plain_value_run(&s), plain_value_run_slow(&s));
            prop_assert_eq!(visible_run(&s), visible_run_slow(&s));
        }

        #[test]
        fn word_scans_match_on_mostly_plain_text(
            s in proptest::collection::vec(prop_oneof![9 => 0x20u8..0x7f, 1 => any::<u8>()], 0..64)
        ) {
            prop_assert_eq!(plain_value_run(&s), plain_value_run_slow(&s));
            prop_assert_eq!(visible_run(&s), visible_run_slow(&s));
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
