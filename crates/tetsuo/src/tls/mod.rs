//! TLS 1.3 and 1.2 clients and servers on rustls, over any stream.
//!
//! - [`TlsConnector`]: TLS 1.3 by default (1.2 by option), SNI (never sent
//!   for IP addresses), ALPN, roots from webpki-roots and/or the system
//!   store plus CA files, client certificates, **SPKI pinning**
//!   ([`Pin`], `sha256/BASE64`) with or instead of chain validation,
//!   **session resumption** through a shared cache, the **stapled OCSP
//!   response** exposed and checked (`require_ocsp_staple`), `SSLKEYLOGFILE`,
//!   and a `danger_accept_invalid_certs` escape hatch.
//! - [`TlsAcceptor`]: certificates from PEM/DER ([`Identity`]), several
//!   certificates chosen by **SNI** with a default, ALPN, **OCSP stapling**,
//!   optional or required client certificates ([`ClientAuth`]), session
//!   tickets and a session cache, **hot reload** of certificates and staples
//!   without touching running connections, and a handshake timeout.
//! - [`TlsStream`] and [`TlsInfo`]: the encrypted stream and what its
//!   handshake settled (version, cipher suite, ALPN, server name, peer
//!   certificates, resumed or not).
//!
//! Handshake failures are [`Error`](crate::Error)s of kind
//! [`ErrorKind::Tls`](crate::ErrorKind::Tls) whose
//! [`tls_cause`](crate::Error::tls_cause) says why: expired, not yet valid,
//! unknown issuer, name mismatch, pin mismatch, revoked, handshake timeout,
//! no common ALPN, and more ([`TlsCause`](crate::TlsCause)).
//!
//! # Crypto provider
//!
//! tetsuo uses rustls with **ring**. ring builds with nothing but a C
//! compiler, quickly, on every platform tetsuo targets, and provides every
//! TLS 1.3 and 1.2 suite, key exchange and signature scheme that public
//! servers use; its digest and signature primitives also serve the OCSP and
//! pin checks here. aws-lc-rs (rustls's default) would add FIPS mode and
//! post-quantum key exchange, at the cost of a much longer build (CMake-style
//! C builds of AWS-LC) — a trade worth revisiting behind a feature when those
//! are asked for.
//!
//! # Example
//!
//! ```
//! use tetsuo::tls::{Identity, Pin, TlsAcceptor, TlsConnector};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let pin = Pin::of_certificate(cert.cert.der())?;
//! let identity = Identity::from_pem(
//!     cert.cert.pem().as_bytes(),
//!     cert.signing_key.serialize_pem().as_bytes(),
//! )?;
//! let acceptor = TlsAcceptor::builder().identity(identity).alpn(["h2"]).build()?;
//! // A self-signed server: trust its key by pin instead of a CA chain.
//! let connector = TlsConnector::builder()
//!     .pin(pin)
//!     .chain_validation(false)
//!     .alpn(["h2"])
//!     .build()?;
//!
//! let (client_io, server_io) = tokio::io::duplex(4096);
//! let server = tokio::spawn(async move {
//!     let mut tls = acceptor.accept(server_io).await?;
//!     tls.write_all(b"hi").await.unwrap();
//!     tls.shutdown().await.unwrap();
//!     Ok::<_, tetsuo::Error>(())
//! });
//! let mut tls = connector.connect("localhost", client_io).await?;
//! assert_eq!(tls.info().alpn_protocol(), Some(&b"h2"[..]));
//! let mut text = String::new();
//! tls.read_to_string(&mut text).await.unwrap();
//! assert_eq!(text, "hi");
//! server.await.unwrap()?;
//! # Ok(()) }
//! ```

mod client;
mod errors;
mod identity;
mod ocsp;
mod pin;
mod server;
mod stream;
mod verify;

pub use client::{TlsConnector, TlsConnectorBuilder};
pub(crate) use errors::handshake_error;
pub use identity::Identity;
pub use pin::Pin;
pub use server::{ClientAuth, TlsAcceptor, TlsAcceptorBuilder};
pub use stream::{TlsInfo, TlsStream, Version};

pub use rustls;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use std::sync::Arc;

/// The crypto provider every tetsuo TLS configuration uses (see "Crypto
/// provider" above).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions to offer or accept, newest first; `None` when both
/// are off.
fn versions(
    tls13: bool,
    tls12: bool,
) -> Option<&'static [&'static rustls::SupportedProtocolVersion]> {
    static BOTH: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    match (tls13, tls12) {
        (true, true) => Some(&BOTH),
        (true, false) => Some(&BOTH[..1]),
        (false, true) => Some(&BOTH[1..]),
        (false, false) => None,
    }
}
