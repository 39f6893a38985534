//! A throw-away PKI for TLS tests: CAs, leaf and client certificates with
//! chosen validity, and OCSP responses, all made at run time (nothing is
//! committed).

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SigningKey,
};
use tetsuo::tls::{CertificateDer, Identity};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
};

const DAY: Duration = Duration::from_secs(86_400);

/// When a certificate is valid, relative to now.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    Current,
    Expired,
    NotYetValid,
}

impl Validity {
    fn apply(self, params: &mut CertificateParams) {
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let (from, to) = match self {
            Validity::Current => (now - day, now + 30 * day),
            Validity::Expired => (now - 30 * day, now - day),
            Validity::NotYetValid => (now + day, now + 30 * day),
        };
        params.not_before = from;
        params.not_after = to;
    }
}

/// A certificate with its key.
pub struct Leaf {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
    /// The issuing CA's certificate, sent after the leaf when it is an
    /// intermediate.
    pub chain: Vec<CertificateDer<'static>>,
}

impl Leaf {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// The leaf and any intermediates, with the key, for a server or client.
    pub fn identity(&self) -> Identity {
        let mut chain = vec![self.der()];
        chain.extend(self.chain.iter().cloned());
        let key = tetsuo::tls::PrivateKeyDer::try_from(self.key.serialize_der()).unwrap();
        Identity::from_der(chain, key).unwrap()
    }
}

/// A certificate authority.
pub struct Ca {
    params: CertificateParams,
    pub key: KeyPair,
    pub cert: rcgen::Certificate,
    /// Set for an intermediate: its own certificate goes into leaves' chains.
    intermediate: bool,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Validity::Current.apply(&mut params);
    params
}

impl Ca {
    /// A self-signed root CA.
    pub fn root(name: &str) -> Ca {
        let params = ca_params(name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            params,
            key,
            cert,
            intermediate: false,
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let params = ca_params(name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer()).unwrap();
        Ca {
            params,
            key,
            cert,
            intermediate: true,
        }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    fn sign(&self, mut params: CertificateParams, validity: Validity) -> Leaf {
        validity.apply(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer()).unwrap();
        let chain = if self.intermediate {
            vec![self.der()]
        } else {
            Vec::new()
        };
        Leaf { cert, key, chain }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str], validity: Validity) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, validity)
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, Validity::Current)
    }

    /// A signed OCSP response from this CA about `leaf`, valid from
    /// `this_update` to `next_update` (offsets from now, in days).
    pub fn ocsp(&self, leaf: &Leaf, good: bool, this_update: i64, next_update: i64) -> Vec<u8> {
        self.ocsp_signed_by(None, leaf, good, this_update, next_update)
    }

    /// A certificate for a delegated OCSP responder, issued by this CA, with
    /// or without the OCSP-signing extended key usage.
    pub fn responder(&self, ocsp_signing: bool) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "OCSP Responder");
        if ocsp_signing {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        }
        self.sign(params, Validity::Current)
    }

    /// An OCSP response about `leaf`, signed by `responder` (a delegated
    /// responder this CA issued, whose certificate travels in the response)
    /// or, with `None`, by the CA itself.
    pub fn ocsp_signed_by(
        &self,
        responder: Option<&Leaf>,
        leaf: &Leaf,
        good: bool,
        this_update: i64,
        next_update: i64,
    ) -> Vec<u8> {
        let sha1 = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
        let ca = x509_cert::Certificate::from_der(self.cert.der()).unwrap();
        let leaf = x509_cert::Certificate::from_der(leaf.cert.der()).unwrap();
        let key_bits = ca
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let sha1_of = |data: &[u8]| {
            OctetString::new(
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref(),
            )
            .unwrap()
        };
        let at = |days: i64| {
            let t = if days >= 0 {
                SystemTime::now() + DAY * days as u32
            } else {
                SystemTime::now() - DAY * (-days) as u32
            };
            let since_epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
            // GeneralizedTime has whole seconds.
            OcspGeneralizedTime(
                GeneralizedTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))
                    .unwrap(),
            )
        };
        let cert_status = if good {
            CertStatus::Good(Null)
        } else {
            CertStatus::Revoked(RevokedInfo {
                revocation_time: at(-2),
                revocation_reason: None,
            })
        };
        let tbs = ResponseData {
            version: Default::default(),
            responder_id: ResponderId::ByKey(match responder {
                Some(r) => {
                    let cert = x509_cert::Certificate::from_der(r.cert.der()).unwrap();
                    sha1_of(
                        cert.tbs_certificate
                            .subject_public_key_info
                            .subject_public_key
                            .raw_bytes(),
                    )
                }
                None => sha1_of(key_bits),
            }),
            produced_at: at(0),
            responses: vec![SingleResponse {
                cert_id: CertId {
                    hash_algorithm: AlgorithmIdentifierOwned {
                        oid: sha1,
                        parameters: None,
                    },
                    issuer_name_hash: sha1_of(&ca.tbs_certificate.subject.to_der().unwrap()),
                    issuer_key_hash: sha1_of(key_bits),
                    serial_number: leaf.tbs_certificate.serial_number.clone(),
                },
                cert_status,
                this_update: at(this_update),
                next_update: Some(at(next_update)),
                single_extensions: None,
            }],
            response_extensions: None,
        };
        let signature = match responder {
            Some(r) => r.key.sign(&tbs.to_der().unwrap()).unwrap(),
            None => self.key.sign(&tbs.to_der().unwrap()).unwrap(),
        };
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
                parameters: None,
            },
            signature: BitString::from_bytes(&signature).unwrap(),
            certs: responder.map(|r| vec![x509_cert::Certificate::from_der(r.cert.der()).unwrap()]),
        };
        OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1"),
                response: OctetString::new(basic.to_der().unwrap()).unwrap(),
            }),
        }
        .to_der()
        .unwrap()
    }
}
