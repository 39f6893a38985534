//! The TLS server: [`TlsAcceptor`], its builder, and the SNI certificate
//! store that can be reloaded while connections run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};

use super::errors::handshake_error;
use super::identity::{Identity, add_roots, certs_from_pem_file};
use super::stream::{TlsInfo, TlsStream};
use crate::error::{Error, ErrorKind, Result, TlsCause};

/// Whether the server asks clients for certificates (mTLS).
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No client certificates (the default).
    None,
    /// Asks for a certificate; a client without one is still accepted, a
    /// client with one that does not chain to these CAs is refused.
    Optional(Vec<CertificateDer<'static>>),
    /// Requires a certificate that chains to these CAs.
    Required(Vec<CertificateDer<'static>>),
}

impl ClientAuth {
    /// Requires client certificates issued by the CAs in a PEM file.
    pub fn required_pem_file(path: impl AsRef<Path>) -> Result<ClientAuth> {
        Ok(ClientAuth::Required(certs_from_pem_file(path.as_ref())?))
    }

    /// Accepts (but does not require) client certificates issued by the CAs
    /// in a PEM file.
    pub fn optional_pem_file(path: impl AsRef<Path>) -> Result<ClientAuth> {
        Ok(ClientAuth::Optional(certs_from_pem_file(path.as_ref())?))
    }
}

/// The certificates a server presents, by server name.
#[derive(Debug, Default, Clone)]
struct Certs {
    default: Option<Arc<CertifiedKey>>,
    /// Lower-case names; a key `*.example.com` matches one label.
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl Certs {
    fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(key) = self.by_name.get(&name) {
                return Some(key.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(key) = self.by_name.get(&format!("*.{parent}"))
            {
                return Some(key.clone());
            }
        }
        self.default.clone()
    }
}

/// The resolver rustls calls for every handshake; swapping its contents
/// changes what new handshakes get, while running connections keep theirs.
#[derive(Debug, Default)]
struct CertStore {
    certs: RwLock<Arc<Certs>>,
}

impl CertStore {
    fn snapshot(&self) -> Arc<Certs> {
        // Readers and writers only swap an Arc; a poisoned lock still holds
        // a consistent value.
        self.certs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut Certs)) {
        let mut guard = self.certs.write().unwrap_or_else(|e| e.into_inner());
        let mut next = (**guard).clone();
        change(&mut next);
        *guard = Arc::new(next);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.snapshot().find(hello.server_name())
    }
}

/// Configures a [`TlsAcceptor`].
///
/// Defaults: TLS 1.3 and 1.2, no ALPN, no client certificates, session
/// tickets and a 256-entry session cache (so clients resume), a 10 s
/// handshake timeout.
#[derive(Debug)]
pub struct TlsAcceptorBuilder {
    default: Option<Identity>,
    named: Vec<(String, Identity)>,
    alpn: Vec<Vec<u8>>,
    tls12: bool,
    tls13: bool,
    client_auth: ClientAuth,
    session_cache_size: usize,
    tickets: bool,
    handshake_timeout: Option<Duration>,
    keylog_from_env: bool,
}

impl Default for TlsAcceptorBuilder {
    fn default() -> TlsAcceptorBuilder {
        TlsAcceptorBuilder {
            default: None,
            named: Vec::new(),
            alpn: Vec::new(),
            tls12: true,
            tls13: true,
            client_auth: ClientAuth::None,
            session_cache_size: 256,
            tickets: true,
            handshake_timeout: Some(Duration::from_secs(10)),
            keylog_from_env: false,
        }
    }
}

impl TlsAcceptorBuilder {
    /// The certificate presented when the client sends no SNI or a name no
    /// other certificate is registered for.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.default = Some(identity);
        self
    }

    /// The certificate presented to clients asking for `server_name` (SNI);
    /// `*.example.com` matches any single label under `example.com`.
    pub fn sni_identity(mut self, server_name: impl Into<String>, identity: Identity) -> Self {
        self.named.push((server_name.into(), identity));
        self
    }

    /// The ALPN protocols the server speaks, most preferred first. A client
    /// that offers ALPN but none of these is refused (`no_application_protocol`).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Whether TLS 1.2 clients are accepted (default true).
    pub fn tls12(mut self, allow: bool) -> Self {
        self.tls12 = allow;
        self
    }

    /// Whether TLS 1.3 clients are accepted (default true; turning it off
    /// makes a TLS 1.2-only server, for compatibility testing).
    pub fn tls13(mut self, allow: bool) -> Self {
        self.tls13 = allow;
        self
    }

    /// Whether and how clients authenticate with certificates.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// How many sessions the server-side cache holds; 0 turns it off.
    pub fn session_cache_size(mut self, entries: usize) -> Self {
        self.session_cache_size = entries;
        self
    }

    /// Whether to issue stateless session tickets (default true).
    pub fn tickets(mut self, on: bool) -> Self {
        self.tickets = on;
        self
    }

    /// Fails a handshake that takes longer than `timeout` (`None`: wait
    /// forever).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Writes session secrets to the file named by `SSLKEYLOGFILE`, when
    /// that variable is set.
    pub fn keylog_from_env(mut self, on: bool) -> Self {
        self.keylog_from_env = on;
        self
    }

    /// Builds the acceptor.
    pub fn build(self) -> Result<TlsAcceptor> {
        let invalid = |detail: String| {
            Error::new(ErrorKind::InvalidInput, "build TLS server").with_detail(detail)
        };
        if self.default.is_none() && self.named.is_empty() {
            return Err(invalid("no certificate configured".into()));
        }
        let provider = super::provider();
        let mut certs = Certs {
            default: self
                .default
                .as_ref()
                .map(|id| id.certified_key(&provider))
                .transpose()?,
            by_name: HashMap::new(),
        };
        for (name, identity) in &self.named {
            certs.by_name.insert(
                name.to_ascii_lowercase(),
                identity.certified_key(&provider)?,
            );
        }
        let store = Arc::new(CertStore {
            certs: RwLock::new(Arc::new(certs)),
        });

        let versions = super::versions(self.tls13, self.tls12)
            .ok_or_else(|| invalid("both TLS 1.3 and TLS 1.2 are disabled".into()))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| invalid(e.to_string()))?;
        let builder = match &self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(cas) | ClientAuth::Required(cas) => {
                let mut roots = RootCertStore::empty();
                add_roots(&mut roots, cas)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = match self.client_auth {
                    ClientAuth::Optional(_) => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                builder.with_client_cert_verifier(
                    verifier.build().map_err(|e| invalid(e.to_string()))?,
                )
            }
        };
        let mut config = builder.with_cert_resolver(store.clone());
        config.alpn_protocols = self.alpn;
        config.session_storage = if self.session_cache_size == 0 {
            Arc::new(rustls::server::NoServerSessionStorage {})
        } else {
            ServerSessionMemoryCache::new(self.session_cache_size)
        };
        if self.tickets {
            config.ticketer = rustls::crypto::ring::Ticketer::new()
                .map_err(|e| invalid(format!("ticket keys: {e}")))?;
        }
        if self.keylog_from_env {
            config.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        Ok(TlsAcceptor {
            config: Arc::new(config),
            store,
            provider,
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// Accepts TLS sessions over any stream. Cheap to clone; clones share the
/// certificates, so a reload through one is seen by all.
///
/// ```
/// use tetsuo::tls::{Identity, TlsAcceptor};
///
/// # fn main() -> tetsuo::Result<()> {
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let identity = Identity::from_pem(
///     cert.cert.pem().as_bytes(),
///     cert.signing_key.serialize_pem().as_bytes(),
/// )?;
/// let acceptor = TlsAcceptor::builder().identity(identity).alpn(["h2", "http/1.1"]).build()?;
/// # let _ = acceptor; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    store: Arc<CertStore>,
    provider: Arc<CryptoProvider>,
    handshake_timeout: Option<Duration>,
}

impl TlsAcceptor {
    /// A builder with the defaults described on [`TlsAcceptorBuilder`].
    pub fn builder() -> TlsAcceptorBuilder {
        TlsAcceptorBuilder::default()
    }

    /// The rustls configuration in use.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server side of the handshake over `stream`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the handshake; the stream is dropped too.
    pub async fn accept<S>(&self, stream: S) -> Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = tokio_rustls::TlsAcceptor::from(self.config.clone()).accept(stream);
        let result = match self.handshake_timeout {
            Some(timeout) => match tokio::time::timeout(timeout, handshake).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::tls(TlsCause::HandshakeTimeout, "TLS handshake with")
                        .with_name("client")
                        .with_detail(format!("handshake timed out after {timeout:?}")));
                }
            },
            None => handshake.await,
        };
        let stream =
            result.map_err(|e| handshake_error("TLS handshake with", e).with_name("client"))?;
        let conn = stream.get_ref().1;
        let info = TlsInfo::new(conn, conn.server_name().map(str::to_owned), None, false);
        Ok(TlsStream::new(
            tokio_rustls::TlsStream::Server(stream),
            info,
        ))
    }

    /// Replaces the default certificate. Connections already established
    /// keep the one they have; new handshakes get this one.
    pub fn set_identity(&self, identity: Identity) -> Result<()> {
        let key = identity.certified_key(&self.provider)?;
        self.store.update(|certs| certs.default = Some(key));
        Ok(())
    }

    /// Adds or replaces the certificate for `server_name`.
    pub fn set_sni_identity(&self, server_name: &str, identity: Identity) -> Result<()> {
        let key = identity.certified_key(&self.provider)?;
        self.store.update(|certs| {
            certs.by_name.insert(server_name.to_ascii_lowercase(), key);
        });
        Ok(())
    }

    /// Replaces the stapled OCSP response of the default certificate (`None`
    /// for `server_name`) or of a named one; `response: None` stops stapling.
    pub fn set_ocsp_response(
        &self,
        server_name: Option<&str>,
        response: Option<Vec<u8>>,
    ) -> Result<()> {
        let mut found = false;
        self.store.update(|certs| {
            let slot = match server_name {
                None => certs.default.as_mut(),
                Some(name) => certs.by_name.get_mut(&name.to_ascii_lowercase()),
            };
            if let Some(key) = slot {
                let mut next = (**key).clone();
                next.ocsp = response;
                *key = Arc::new(next);
                found = true;
            }
        });
        if found {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidInput, "set OCSP response for")
                .with_name(server_name.unwrap_or("default certificate").to_owned())
                .with_detail("no such certificate"))
        }
    }
}
