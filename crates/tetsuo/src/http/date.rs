//! The `Date` header (RFC 9110 §6.6.1), formatted once per second per
//! thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

thread_local! {
    static CACHE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Now, as an HTTP-date header value.
pub(crate) fn now() -> HeaderValue {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let text = httpdate::fmt_http_date(now);
            // An HTTP-date is ASCII letters, digits, spaces, commas and colons.
            if let Ok(value) = HeaderValue::from_str(&text) {
                *cache = (secs, value);
            }
        }
        cache.1.clone()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_imf_fixdate() {
        let value = super::now();
        let text = value.to_str().unwrap();
        // "Sun, 06 Nov 1994 08:49:37 GMT"
        assert_eq!(text.len(), 29, "{text}");
        assert!(text.ends_with(" GMT"));
        assert!(httpdate::parse_http_date(text).is_ok());
    }
}
