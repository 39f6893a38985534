//! Certificates and keys: loading them from PEM or DER, in files or memory.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, ErrorKind, Result};

/// A certificate chain with its private key, and optionally a stapled OCSP
/// response: what a server presents (or a client, for mTLS).
///
/// ```
/// # fn main() -> tetsuo::Result<()> {
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let identity = tetsuo::tls::Identity::from_pem(
///     cert.cert.pem().as_bytes(),
///     cert.signing_key.serialize_pem().as_bytes(),
/// )?;
/// assert_eq!(identity.chain().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ocsp: Option<Vec<u8>>,
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ocsp: self.ocsp.clone(),
        }
    }
}

impl Identity {
    /// From a DER chain (leaf first) and a DER private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Identity> {
        if chain.is_empty() {
            return Err(
                Error::new(ErrorKind::InvalidInput, "load certificate chain")
                    .with_detail("the chain is empty"),
            );
        }
        Ok(Identity {
            chain,
            key,
            ocsp: None,
        })
    }

    /// From PEM text: every `CERTIFICATE` block of `chain_pem` (leaf first)
    /// and the first private key of `key_pem`.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Identity> {
        let chain = certs_from_pem(chain_pem, "certificate PEM")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| pem_error("load private key from", "key PEM", e))?;
        Identity::from_der(chain, key)
    }

    /// From PEM files.
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Identity> {
        let (chain, key) = (chain.as_ref(), key.as_ref());
        let chain_pem = read(chain)?;
        let key_pem = read(key)?;
        let certs = certs_from_pem(&chain_pem, &chain.display().to_string())?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| pem_error("load private key from", &key.display().to_string(), e))?;
        Identity::from_der(certs, key)
    }

    /// Staples this DER-encoded OCSP response to the handshake (servers only).
    pub fn with_ocsp(mut self, response: Vec<u8>) -> Identity {
        self.ocsp = Some(response);
        self
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The OCSP response to staple, if any.
    pub fn ocsp(&self) -> Option<&[u8]> {
        self.ocsp.as_deref()
    }

    /// The chain and key as rustls wants them, checking that they match.
    pub(crate) fn certified_key(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>> {
        let key = provider
            .key_provider
            .load_private_key(self.key.clone_key())
            .map_err(|e| {
                Error::new(ErrorKind::InvalidInput, "load private key")
                    .with_detail(format!("unusable key: {e}"))
            })?;
        let mut certified = CertifiedKey::new(self.chain.clone(), key);
        certified.keys_match().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "load certificate and key").with_detail(format!(
                "the private key does not belong to the certificate ({e})"
            ))
        })?;
        certified.ocsp = self.ocsp.clone();
        Ok(Arc::new(certified))
    }

    pub(crate) fn into_parts(self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain, self.key)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", e).with_path(path))
}

fn pem_error(op: &'static str, what: &str, e: rustls_pki_types::pem::Error) -> Error {
    Error::new(ErrorKind::InvalidInput, op)
        .with_name(what.to_owned())
        .with_detail(match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM block of the expected type".to_owned()
            }
            other => format!("malformed PEM ({other:?})"),
        })
}

/// Every `CERTIFICATE` block of a PEM text.
pub(crate) fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error("load certificates from", what, e))?;
    if certs.is_empty() {
        return Err(pem_error(
            "load certificates from",
            what,
            rustls_pki_types::pem::Error::NoItemsFound,
        ));
    }
    Ok(certs)
}

/// Every certificate of a PEM file.
pub(crate) fn certs_from_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    certs_from_pem(&read(path)?, &path.display().to_string())
}

/// Adds certificates to a root store, failing on any that is not a usable
/// trust anchor.
pub(crate) fn add_roots(
    store: &mut RootCertStore,
    certs: &[CertificateDer<'static>],
) -> Result<()> {
    for cert in certs {
        store.add(cert.clone()).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "add CA certificate")
                .with_detail(format!("not a usable trust anchor: {e}"))
        })?;
    }
    Ok(())
}
