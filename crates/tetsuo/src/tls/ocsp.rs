//! Checking a stapled OCSP response (RFC 6960) against the certificate it
//! vouches for.
//!
//! A staple is accepted as *good* only if it is a successful basic response,
//! signed by the certificate's issuer (or by a responder certificate that the
//! issuer signed for OCSP signing), names the certificate by issuer key hash
//! and serial number, and is current (`thisUpdate <= now <= nextUpdate`, with
//! five minutes of clock skew allowed). A staple that passes every check but
//! says *revoked* is [`Staple::Revoked`]; anything short of that is
//! [`Staple::Invalid`] with the reason.
//!
//! The issuer must be among the certificates the server sent or the CA
//! certificates added to the client explicitly (built-in root stores carry
//! keys, not certificates, and cannot be searched here), and is recognised by
//! name *and* by its signature on the certificate.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::Certificate;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId};

/// What a staple says, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Staple {
    /// Valid, current, and the certificate is good.
    Good,
    /// Valid and current, and the certificate is revoked.
    Revoked,
    /// Not acceptable, for the reason given.
    Invalid(String),
}

const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const CURVE_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const CURVE_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Allowed clock difference between us and the responder.
const SKEW_SECS: u64 = 300;

/// Checks `response` for the certificate `leaf`, looking for its issuer among
/// `candidates` (DER certificates), at `now` (seconds since the Unix epoch).
pub(crate) fn check(response: &[u8], leaf: &[u8], candidates: &[&[u8]], now: u64) -> Staple {
    match check_inner(response, leaf, candidates, now) {
        Ok(staple) => staple,
        Err(reason) => Staple::Invalid(reason),
    }
}

fn check_inner(
    response: &[u8],
    leaf: &[u8],
    candidates: &[&[u8]],
    now: u64,
) -> Result<Staple, String> {
    let malformed = |e: der::Error| format!("malformed OCSP response: {e}");
    let response = OcspResponse::from_der(response).map_err(malformed)?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!(
            "responder status is {:?}",
            response.response_status
        ));
    }
    let bytes = response
        .response_bytes
        .ok_or("successful response without a body")?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!("unsupported response type {}", bytes.response_type));
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(malformed)?;

    let leaf = Certificate::from_der(leaf).map_err(|e| format!("malformed certificate: {e}"))?;
    // The issuer is the candidate that carries the leaf's issuer name *and*
    // whose key signed the leaf: a name alone can be claimed by anyone.
    let leaf_tbs = leaf.tbs_certificate.to_der().map_err(malformed)?;
    let leaf_sig = leaf
        .signature
        .as_bytes()
        .ok_or("certificate signature malformed")?;
    let issuer = candidates
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .find(|c| {
            c.tbs_certificate.subject == leaf.tbs_certificate.issuer
                && verify(
                    &leaf.signature_algorithm.oid,
                    &c.tbs_certificate.subject_public_key_info,
                    &leaf_tbs,
                    leaf_sig,
                )
        })
        .ok_or("the certificate's issuer is not available to check the response")?;
    let issuer_spki = &issuer.tbs_certificate.subject_public_key_info;

    let signer = signer_key(&basic, &issuer)?;
    let tbs = basic.tbs_response_data.to_der().map_err(malformed)?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or("signature has unused bits")?;
    if !verify(&basic.signature_algorithm.oid, &signer, &tbs, sig) {
        return Err("response signature does not verify".into());
    }

    let serial = &leaf.tbs_certificate.serial_number;
    let issuer_name = issuer.tbs_certificate.subject.to_der().map_err(malformed)?;
    let issuer_key = issuer_spki.subject_public_key.raw_bytes();
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            let id = &r.cert_id;
            &id.serial_number == serial
                && digest(&id.hash_algorithm.oid, issuer_key).as_deref()
                    == Some(id.issuer_key_hash.as_bytes())
                && digest(&id.hash_algorithm.oid, &issuer_name).as_deref()
                    == Some(id.issuer_name_hash.as_bytes())
        })
        .ok_or("response does not cover this certificate")?;

    let this_update = single.this_update.0.to_unix_duration().as_secs();
    if this_update > now + SKEW_SECS {
        return Err("response is not valid yet".into());
    }
    let next_update = single.next_update.ok_or("response has no nextUpdate")?;
    if next_update.0.to_unix_duration().as_secs() + SKEW_SECS < now {
        return Err("response has expired".into());
    }
    match single.cert_status {
        CertStatus::Good(_) => Ok(Staple::Good),
        CertStatus::Revoked(_) => Ok(Staple::Revoked),
        CertStatus::Unknown(_) => Err("responder does not know the certificate".into()),
    }
}

/// The key that must have signed the response: the issuer's own, or that of
/// a delegated responder certificate the issuer signed for OCSP signing.
fn signer_key(
    basic: &BasicOcspResponse,
    issuer: &Certificate,
) -> Result<SubjectPublicKeyInfoOwned, String> {
    let names = |c: &Certificate| match &basic.tbs_response_data.responder_id {
        ResponderId::ByName(name) => *name == c.tbs_certificate.subject,
        ResponderId::ByKey(hash) => {
            let key = c
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
            digest(&ID_SHA1, key).as_deref() == Some(hash.as_bytes())
        }
    };
    let issuer_spki = &issuer.tbs_certificate.subject_public_key_info;
    if names(issuer) {
        return Ok(issuer_spki.clone());
    }
    let delegate = basic
        .certs
        .iter()
        .flatten()
        .find(|c| names(c))
        .ok_or("response is signed by an unknown responder")?;
    if delegate.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err("responder certificate was not issued by the certificate's issuer".into());
    }
    let tbs = delegate
        .tbs_certificate
        .to_der()
        .map_err(|e| e.to_string())?;
    let sig = delegate
        .signature
        .as_bytes()
        .ok_or("responder certificate signature malformed")?;
    if !verify(&delegate.signature_algorithm.oid, issuer_spki, &tbs, sig) {
        return Err("responder certificate signature does not verify".into());
    }
    let ocsp_signing = delegate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .any(|ext| {
            ext.extn_id == ID_CE_EXT_KEY_USAGE
                && ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                    .is_ok_and(|eku| eku.0.contains(&ID_KP_OCSP_SIGNING))
        });
    if !ocsp_signing {
        return Err("responder certificate is not authorised for OCSP signing".into());
    }
    Ok(delegate.tbs_certificate.subject_public_key_info.clone())
}

fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    let alg = match *alg {
        ID_SHA1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        ID_SHA256 => &ring::digest::SHA256,
        _ => return None,
    };
    Some(ring::digest::digest(alg, data).as_ref().to_vec())
}

/// Verifies `sig` over `msg` with the key in `spki`, for the signature
/// algorithms CAs use.
fn verify(
    alg: &ObjectIdentifier,
    spki: &SubjectPublicKeyInfoOwned,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let alg: &'static dyn VerificationAlgorithm = match (*alg, curve) {
        (ECDSA_SHA256, Some(CURVE_P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        (ECDSA_SHA256, Some(CURVE_P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        (ECDSA_SHA384, Some(CURVE_P256)) => &signature::ECDSA_P256_SHA384_ASN1,
        (ECDSA_SHA384, Some(CURVE_P384)) => &signature::ECDSA_P384_SHA384_ASN1,
        (RSA_SHA256, _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA_SHA384, _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RSA_SHA512, _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (ED25519, _) => &signature::ED25519,
        _ => return false,
    };
    UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes())
        .verify(msg, sig)
        .is_ok()
}
