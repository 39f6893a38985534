//! Certificate pinning by SHA-256 of the SubjectPublicKeyInfo (`sha256/BASE64`,
//! the format of HPKP and curl's `--pinnedpubkey`).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::error::{Error, ErrorKind, Result};

/// A SHA-256 pin of a public key, written `sha256/BASE64`.
///
/// A pin names a key, not a certificate: it keeps matching when the server
/// renews its certificate with the same key.
///
/// ```
/// use tetsuo::tls::Pin;
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let pin = Pin::of_certificate(cert.cert.der()).unwrap();
/// let text = pin.to_string();
/// assert!(text.starts_with("sha256/"));
/// assert_eq!(text.parse::<Pin>().unwrap(), pin);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

impl Pin {
    /// The pin of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Pin {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
        let mut pin = [0; 32];
        pin.copy_from_slice(digest.as_ref());
        Pin(pin)
    }

    /// The pin of the public key in a DER-encoded certificate.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Pin> {
        Ok(Pin::of_spki(&spki_of(cert_der)?))
    }

    /// The 32 bytes of the SHA-256 digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The DER SubjectPublicKeyInfo of a DER certificate.
pub(crate) fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>> {
    let bad = |e: der::Error| {
        Error::new(ErrorKind::InvalidInput, "read public key of certificate")
            .with_detail(format!("malformed certificate: {e}"))
    };
    let cert = Certificate::from_der(cert_der).map_err(bad)?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)
}

impl FromStr for Pin {
    type Err = Error;

    fn from_str(s: &str) -> Result<Pin> {
        let invalid = |detail: &str| {
            Error::new(ErrorKind::InvalidInput, "parse pin")
                .with_name(s.to_owned())
                .with_detail(detail.to_owned())
        };
        let b64 = s
            .strip_prefix("sha256/")
            .ok_or_else(|| invalid("expected sha256/BASE64"))?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| invalid("not valid base64"))?;
        let pin: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("a SHA-256 digest is 32 bytes"))?;
        Ok(Pin(pin))
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256/{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_curl_format() {
        let text = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let pin: Pin = text.parse().unwrap();
        // That is the SHA-256 of the empty string.
        assert_eq!(pin, Pin::of_spki(b""));
        assert_eq!(pin.to_string(), text);
    }

    #[test]
    fn rejects_malformed_pins() {
        for bad in ["47DEQpj8HBSa", "sha1/AAAA", "sha256/!!!", "sha256/AAAA"] {
            let err = bad.parse::<Pin>().unwrap_err();
            assert!(err.is_invalid_input(), "{bad}: {err}");
        }
    }
}
