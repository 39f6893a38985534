//! UTF-8 validation across fragments, failing at the first bad byte.

/// Validates text arriving in pieces. A sequence that can no longer become
/// valid is reported at once, inside the piece that breaks it; one cut at
/// the end of a piece waits for the next.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    len: usize,
}

/// The length of the sequence a lead byte starts (0: not a lead byte).
fn width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Checks the next piece; `false` as soon as the text cannot be valid.
    pub fn feed(&mut self, mut data: &[u8]) -> bool {
        if self.len > 0 {
            let need = width(self.pending[0]);
            let take = (need - self.len).min(data.len());
            self.pending[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
            match std::str::from_utf8(&self.pending[..self.len]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_none() && self.len < need => return true,
                Err(_) => return false,
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let rest = &data[e.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.len = rest.len();
                true
            }
        }
    }

    /// True if the text ended on a character boundary.
    pub fn is_complete(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fails_fast_inside_a_piece() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"h\xC3"));
        assert!(!v.is_complete());
        assert!(v.feed(b"\xA9llo"));
        assert!(v.is_complete());
        // An invalid continuation is caught in the piece that brings it.
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xF0\x9F"));
        assert!(!v.feed(b"\x28"));
        // A surrogate (ED A0..) can never become valid.
        assert!(!Utf8Validator::new().feed(b"\xED\xA0"));
        // Beyond U+10FFFF.
        assert!(!Utf8Validator::new().feed(b"\xF4\x90"));
    }

    proptest! {
        #[test]
        fn any_split_agrees_with_std(data in proptest::collection::vec(any::<u8>(), 0..40), cuts in proptest::collection::vec(0usize..40, 0..4)) {
            let valid = std::str::from_utf8(&data).is_ok();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let mut v = Utf8Validator::new();
            let mut ok = true;
            let mut at = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                ok &= v.feed(&data[at..cut]);
                at = cut;
                if !ok { break; }
            }
            prop_assert_eq!(ok && v.is_complete(), valid);
        }
    }
}
