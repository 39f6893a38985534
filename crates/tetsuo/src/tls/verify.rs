//! The client's server-certificate verifier: chain validation (webpki), then
//! pins, then the stapled OCSP response.
//!
//! One verifier serves every connection of a [`TlsConnector`](super::TlsConnector)
//! (rustls resumes sessions only under the verifier that checked them). What a
//! handshake learns that rustls does not keep — the stapled OCSP response and
//! its verdict — is written to the *current connection's* slot: the connector
//! sets a thread-local slot around each poll of its handshake, and rustls
//! calls the verifier synchronously inside that poll.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::ocsp::{self, Staple};
use super::pin::{Pin, spki_of};

/// What the verifier saw during one handshake.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    pub(crate) ocsp: Option<Vec<u8>>,
    pub(crate) ocsp_good: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Mutex<Seen>>>> = const { RefCell::new(None) };
}

/// Runs `f` with `slot` as the current handshake's slot.
pub(crate) fn with_slot<T>(slot: &Arc<Mutex<Seen>>, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.replace(Some(slot.clone())));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    out
}

fn record(seen: Seen) {
    CURRENT.with(|c| {
        if let Some(slot) = &*c.borrow() {
            // A poisoned slot only means another poll panicked; the data is plain.
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        }
    });
}

/// Failures of our own checks, carried through rustls as `OtherError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    PinMismatch,
    OcspMissing,
    OcspInvalid,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::PinMismatch => "the server's public key matches none of the pins",
            Failure::OcspMissing => "the server stapled no OCSP response",
            Failure::OcspInvalid => "the stapled OCSP response is not acceptable",
        })
    }
}

impl std::error::Error for Failure {}

fn fail(failure: Failure) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(failure))))
}

#[derive(Debug)]
pub(crate) struct Verifier {
    /// `None` when chain validation is off (pins only, or danger mode).
    pub(crate) chain: Option<Arc<WebPkiServerVerifier>>,
    pub(crate) pins: Vec<Pin>,
    pub(crate) require_ocsp: bool,
    /// Accept anything (`danger_accept_invalid_certs`).
    pub(crate) danger: bool,
    /// CA certificates added explicitly: candidate OCSP issuers.
    pub(crate) extra_cas: Vec<CertificateDer<'static>>,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut seen = Seen {
            ocsp: (!ocsp_response.is_empty()).then(|| ocsp_response.to_vec()),
            ocsp_good: false,
        };
        // Danger mode skips chain and name checks only; pins and the OCSP
        // requirement, when set, still apply.
        if let Some(chain) = self.chain.as_ref().filter(|_| !self.danger) {
            chain.verify_server_cert(end_entity, intermediates, server_name, &[], now)?;
        }
        if !self.pins.is_empty() {
            let spki = spki_of(end_entity)
                .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
            if !self.pins.contains(&Pin::of_spki(&spki)) {
                return Err(fail(Failure::PinMismatch));
            }
        }
        if !ocsp_response.is_empty() {
            let mut candidates: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
            candidates.extend(self.extra_cas.iter().map(|c| c.as_ref()));
            match ocsp::check(ocsp_response, end_entity, &candidates, now.as_secs()) {
                Staple::Good => seen.ocsp_good = true,
                // A valid, signed statement that the certificate is revoked
                // is never ignored.
                Staple::Revoked => {
                    return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
                }
                Staple::Invalid(_) if self.require_ocsp => return Err(fail(Failure::OcspInvalid)),
                Staple::Invalid(_) => {}
            }
        } else if self.require_ocsp {
            return Err(fail(Failure::OcspMissing));
        }
        record(seen);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        None
    }
}
