//! The TLS client: [`TlsConnector`] and its builder.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

use super::errors::handshake_error;
use super::identity::{Identity, add_roots, certs_from_pem, certs_from_pem_file};
use super::pin::Pin;
use super::stream::{TlsInfo, TlsStream};
use super::verify::{self, Seen, Verifier};
use crate::error::{Error, ErrorKind, Result, TlsCause};

/// Configures a [`TlsConnector`].
///
/// Defaults: TLS 1.3 only, chain validation against the built-in roots
/// (webpki-roots, with the default `tls-webpki-roots` feature), SNI on, no
/// ALPN, an in-memory session cache of 256 entries, no handshake timeout.
#[derive(Debug)]
pub struct TlsConnectorBuilder {
    tls12: bool,
    alpn: Vec<Vec<u8>>,
    webpki_roots: bool,
    native_roots: bool,
    extra_cas: Vec<CertificateDer<'static>>,
    client_identity: Option<Identity>,
    pins: Vec<Pin>,
    chain_validation: bool,
    danger_accept_invalid_certs: bool,
    require_ocsp_staple: bool,
    keylog_from_env: bool,
    session_cache_size: usize,
    sni: bool,
    handshake_timeout: Option<Duration>,
    load_error: Option<Error>,
}

impl Default for TlsConnectorBuilder {
    fn default() -> TlsConnectorBuilder {
        TlsConnectorBuilder {
            tls12: false,
            alpn: Vec::new(),
            webpki_roots: cfg!(feature = "tls-webpki-roots"),
            native_roots: false,
            extra_cas: Vec::new(),
            client_identity: None,
            pins: Vec::new(),
            chain_validation: true,
            danger_accept_invalid_certs: false,
            require_ocsp_staple: false,
            keylog_from_env: false,
            session_cache_size: 256,
            sni: true,
            handshake_timeout: None,
            load_error: None,
        }
    }
}

impl TlsConnectorBuilder {
    /// Also allows TLS 1.2 (TLS 1.3 stays preferred).
    pub fn tls12(mut self, allow: bool) -> Self {
        self.tls12 = allow;
        self
    }

    /// The ALPN protocols to offer, most preferred first (e.g. `["h2",
    /// "http/1.1"]`).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Trusts Mozilla's root certificates compiled into the binary (feature
    /// `tls-webpki-roots`, on by default).
    pub fn webpki_roots(mut self, on: bool) -> Self {
        self.webpki_roots = on;
        self
    }

    /// Trusts the operating system's root certificates (feature
    /// `tls-native-roots`).
    pub fn native_roots(mut self, on: bool) -> Self {
        self.native_roots = on;
        self
    }

    /// Trusts a CA certificate (DER).
    pub fn add_ca_der(mut self, cert: CertificateDer<'static>) -> Self {
        self.extra_cas.push(cert);
        self
    }

    /// Trusts every CA certificate in a PEM text.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Self {
        match certs_from_pem(pem, "CA PEM") {
            Ok(certs) => self.extra_cas.extend(certs),
            Err(e) => self.load_error = self.load_error.or(Some(e)),
        }
        self
    }

    /// Trusts every CA certificate in a PEM file (as curl's `--cacert`).
    pub fn add_ca_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        match certs_from_pem_file(path.as_ref()) {
            Ok(certs) => self.extra_cas.extend(certs),
            Err(e) => self.load_error = self.load_error.or(Some(e)),
        }
        self
    }

    /// Presents this certificate and key when the server asks (mTLS).
    pub fn client_identity(mut self, identity: Identity) -> Self {
        self.client_identity = Some(identity);
        self
    }

    /// Requires the server's public key to match `pin` (or another pin
    /// added): checked on the leaf certificate, in addition to chain
    /// validation unless [`chain_validation(false)`](Self::chain_validation).
    pub fn pin(mut self, pin: Pin) -> Self {
        self.pins.push(pin);
        self
    }

    /// With `false`, the pins alone authenticate the server: no chain or
    /// name check (for self-signed servers whose key you know). Building
    /// fails if no pin is set.
    pub fn chain_validation(mut self, on: bool) -> Self {
        self.chain_validation = on;
        self
    }

    /// Accepts any certificate, valid or not, for any name. The handshake
    /// still proves the server holds the certificate's key, but nothing
    /// proves who the server is: for tests and debugging only. Pins and
    /// [`require_ocsp_staple`](Self::require_ocsp_staple), if set, are still
    /// enforced.
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.danger_accept_invalid_certs = on;
        self
    }

    /// Rejects servers that staple no OCSP response, or one that is not
    /// valid and current. (A valid staple saying *revoked* is always
    /// rejected.) Session resumption is turned off, since a resumed session
    /// carries no staple. With [`chain_validation(false)`](Self::chain_validation)
    /// the staple's issuer is whatever the server sends, so the check then
    /// proves little.
    pub fn require_ocsp_staple(mut self, on: bool) -> Self {
        self.require_ocsp_staple = on;
        self
    }

    /// Writes session secrets to the file named by `SSLKEYLOGFILE`, when
    /// that variable is set (for Wireshark).
    pub fn keylog_from_env(mut self, on: bool) -> Self {
        self.keylog_from_env = on;
        self
    }

    /// How many sessions the shared resumption cache holds; 0 disables
    /// resumption.
    pub fn session_cache_size(mut self, entries: usize) -> Self {
        self.session_cache_size = entries;
        self
    }

    /// Sends the server name (SNI). It is never sent for IP addresses.
    pub fn sni(mut self, on: bool) -> Self {
        self.sni = on;
        self
    }

    /// Fails a handshake that takes longer than `timeout` with
    /// [`TlsCause::HandshakeTimeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        #[cfg(feature = "tls-webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(not(feature = "tls-webpki-roots"))]
        if self.webpki_roots {
            return Err(Error::new(ErrorKind::Unsupported, "load webpki roots")
                .with_detail("built without the tls-webpki-roots feature"));
        }
        if self.native_roots {
            native_roots(&mut roots)?;
        }
        add_roots(&mut roots, &self.extra_cas)?;
        Ok(roots)
    }

    /// Builds the connector.
    pub fn build(self) -> Result<TlsConnector> {
        if let Some(e) = self.load_error {
            return Err(e);
        }
        let provider = super::provider();
        let chain = if self.chain_validation && !self.danger_accept_invalid_certs {
            let roots = self.roots()?;
            if roots.is_empty() {
                return Err(Error::new(ErrorKind::InvalidInput, "build TLS client")
                    .with_detail("no trusted root certificates: enable a root store or add a CA"));
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| {
                        Error::new(ErrorKind::InvalidInput, "build TLS client")
                            .with_detail(e.to_string())
                    })?;
            Some(verifier)
        } else {
            None
        };
        if !self.chain_validation && self.pins.is_empty() && !self.danger_accept_invalid_certs {
            return Err(Error::new(ErrorKind::InvalidInput, "build TLS client")
                .with_detail("chain validation is off but no pin is set"));
        }
        let verifier = Arc::new(Verifier {
            chain,
            pins: self.pins,
            require_ocsp: self.require_ocsp_staple,
            danger: self.danger_accept_invalid_certs,
            extra_cas: self.extra_cas,
            provider: provider.clone(),
        });
        // TLS 1.3 is always on for a client; 1.2 by option.
        let versions = super::versions(true, self.tls12).unwrap_or_default();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| {
                Error::new(ErrorKind::InvalidInput, "build TLS client").with_detail(e.to_string())
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match self.client_identity {
            Some(identity) => {
                let (chain, key) = identity.into_parts();
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, "load client certificate")
                        .with_detail(e.to_string())
                })?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        config.enable_sni = self.sni;
        // A resumed session carries no staple and skips every certificate
        // check: when staples are required, every handshake is a full one.
        config.resumption = if self.session_cache_size == 0 || self.require_ocsp_staple {
            Resumption::disabled()
        } else {
            Resumption::in_memory_sessions(self.session_cache_size)
        };
        if self.keylog_from_env {
            config.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        Ok(TlsConnector {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

#[cfg(feature = "tls-native-roots")]
fn native_roots(roots: &mut RootCertStore) -> Result<()> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let detail = match found.errors.first() {
            Some(e) => format!("no system root certificates found ({e})"),
            None => "no system root certificates found".to_owned(),
        };
        return Err(Error::new(ErrorKind::Io, "load system root certificates").with_detail(detail));
    }
    roots.add_parsable_certificates(found.certs);
    Ok(())
}

#[cfg(not(feature = "tls-native-roots"))]
fn native_roots(_: &mut RootCertStore) -> Result<()> {
    Err(
        Error::new(ErrorKind::Unsupported, "load system root certificates")
            .with_detail("built without the tls-native-roots feature"),
    )
}

/// Opens TLS sessions over any stream. Cheap to clone; clones share the
/// session cache, so a second connection to the same server resumes.
///
/// ```no_run
/// use tetsuo::net::TcpConnector;
/// use tetsuo::tls::TlsConnector;
///
/// # async fn demo() -> tetsuo::Result<()> {
/// let tls = TlsConnector::builder().alpn(["h2", "http/1.1"]).build()?;
/// let tcp = TcpConnector::new().connect("93.184.215.14:443".parse().unwrap()).await?;
/// let stream = tls.connect("example.com", tcp).await?;
/// println!("{} {}", stream.info().version(), stream.info().cipher_suite());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Option<Duration>,
}

impl TlsConnector {
    /// A builder with the defaults described on [`TlsConnectorBuilder`].
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder::default()
    }

    /// The rustls configuration in use.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the TLS handshake over `stream` for `server_name` (a DNS name or
    /// an IP address; brackets around IPv6 are accepted) and returns the
    /// encrypted stream.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the handshake; the stream is dropped too.
    pub async fn connect<S>(&self, server_name: &str, stream: S) -> Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let bare = server_name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
            Error::new(ErrorKind::InvalidInput, "TLS handshake with")
                .with_name(server_name.to_owned())
                .with_detail("not a valid DNS name or IP address")
        })?;
        let slot = Arc::new(Mutex::new(Seen::default()));
        let mut handshake =
            tokio_rustls::TlsConnector::from(self.config.clone()).connect(name, stream);
        let run = std::future::poll_fn(|cx| {
            verify::with_slot(&slot, || std::pin::Pin::new(&mut handshake).poll(cx))
        });
        let result = match self.handshake_timeout {
            Some(timeout) => match tokio::time::timeout(timeout, run).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::tls(TlsCause::HandshakeTimeout, "TLS handshake with")
                        .with_name(server_name.to_owned())
                        .with_detail(format!("handshake timed out after {timeout:?}")));
                }
            },
            None => run.await,
        };
        let stream = result.map_err(|e| {
            handshake_error("TLS handshake with", e).with_name(server_name.to_owned())
        })?;
        let seen = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let info = TlsInfo::new(
            stream.get_ref().1,
            Some(bare.to_owned()),
            seen.ocsp,
            seen.ocsp_good,
        );
        Ok(TlsStream::new(
            tokio_rustls::TlsStream::Client(stream),
            info,
        ))
    }
}
