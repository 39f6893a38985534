//! Turning rustls failures into `tetsuo::Error`s with a [`TlsCause`].

use std::io;

use rustls::{AlertDescription, CertificateError, OtherError};

use super::verify::Failure;
use crate::error::{Error, TlsCause};

/// The cause of a rustls error.
pub(crate) fn classify(err: &rustls::Error) -> TlsCause {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsCause::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsCause::NotYetValid
            }
            CertificateError::UnknownIssuer => TlsCause::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsCause::NameMismatch
            }
            CertificateError::Revoked => TlsCause::Revoked,
            CertificateError::Other(OtherError(inner)) => {
                match (&**inner as &(dyn std::error::Error + 'static)).downcast_ref::<Failure>() {
                    Some(Failure::PinMismatch) => TlsCause::PinMismatch,
                    Some(Failure::OcspMissing) => TlsCause::OcspStapleMissing,
                    Some(Failure::OcspInvalid) => TlsCause::OcspStapleInvalid,
                    None => TlsCause::BadCertificate,
                }
            }
            _ => TlsCause::BadCertificate,
        },
        E::NoCertificatesPresented => TlsCause::CertificateRequired,
        E::NoApplicationProtocol => TlsCause::NoCommonAlpn,
        E::PeerIncompatible(_) => TlsCause::Incompatible,
        E::AlertReceived(alert) => match alert {
            AlertDescription::NoApplicationProtocol => TlsCause::NoCommonAlpn,
            AlertDescription::CertificateRequired => TlsCause::CertificateRequired,
            AlertDescription::ProtocolVersion | AlertDescription::InsufficientSecurity => {
                TlsCause::Incompatible
            }
            _ => TlsCause::PeerRejected,
        },
        _ => TlsCause::Other,
    }
}

/// The error of a failed handshake: a TLS cause when rustls reported one, the
/// plain I/O classification (reset, closed...) otherwise.
pub(crate) fn handshake_error(op: &'static str, err: io::Error) -> Error {
    let cause = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .map(classify);
    match cause {
        Some(cause) => Error::tls(cause, op).with_source(err),
        None => Error::io(op, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn certificate_errors_map_to_causes() {
        let cert = |e| rustls::Error::InvalidCertificate(e);
        assert_eq!(
            classify(&cert(CertificateError::Expired)),
            TlsCause::Expired
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidYet)),
            TlsCause::NotYetValid
        );
        assert_eq!(
            classify(&cert(CertificateError::UnknownIssuer)),
            TlsCause::UnknownIssuer
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidForName)),
            TlsCause::NameMismatch
        );
        assert_eq!(
            classify(&cert(CertificateError::Revoked)),
            TlsCause::Revoked
        );
        let pin = CertificateError::Other(OtherError(Arc::new(Failure::PinMismatch)));
        assert_eq!(classify(&cert(pin)), TlsCause::PinMismatch);
        let alert = rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol);
        assert_eq!(classify(&alert), TlsCause::NoCommonAlpn);
    }

    #[test]
    fn handshake_errors_keep_the_io_classification_when_not_tls() {
        let err = handshake_error("TLS handshake with", io::ErrorKind::ConnectionReset.into());
        assert!(err.is_closed() && err.tls_cause().is_none());
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let err = handshake_error("TLS handshake with", tls);
        assert_eq!(err.tls_cause(), Some(TlsCause::Expired));
        assert!(err.is_tls() && !err.is_retryable());
        assert_eq!(
            err.to_string(),
            "TLS handshake with: certificate has expired"
        );
    }
}
