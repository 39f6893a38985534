//! TLS flags shared by the subcommands, turned into tetsuo's TLS types.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tetsuo::tls::{ClientAuth, Identity, Pin, TlsAcceptor, TlsConnector, TlsConnectorBuilder};

/// Server-side TLS flags.
#[derive(Debug, Args, Clone)]
pub(crate) struct ServerTlsArgs {
    /// Certificate chain (PEM, leaf first). Without --cert/--key a
    /// self-signed certificate for localhost is generated at start-up and
    /// its pin printed.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Staple this DER-encoded OCSP response (re-read on SIGHUP).
    #[arg(long, value_name = "DER")]
    pub(crate) ocsp_response: Option<PathBuf>,
    /// ALPN protocols to accept, most preferred first (comma-separated;
    /// `tetsuo serve` offers h2,http/1.1 unless told otherwise).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) alpn: Vec<String>,
    /// Require client certificates issued by the CAs in this PEM file (mTLS).
    #[arg(long = "cacert", value_name = "PEM")]
    pub(crate) client_ca: Option<PathBuf>,
    /// With --cacert: accept clients without a certificate too.
    #[arg(long, requires = "client_ca")]
    pub(crate) client_cert_optional: bool,
    /// Refuse TLS 1.2 clients (TLS 1.3 only).
    #[arg(long)]
    pub(crate) no_tls12: bool,
}

impl ServerTlsArgs {
    /// The certificate from --cert/--key/--ocsp-response, or a fresh
    /// self-signed one (reported on stderr).
    pub(crate) fn identity(&self, who: &str) -> anyhow::Result<Identity> {
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Identity::from_pem_files(cert, key)?,
            _ => {
                let names = vec![
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                    "::1".to_owned(),
                ];
                let generated = rcgen::generate_simple_self_signed(names)
                    .context("generate a self-signed certificate")?;
                let pin = Pin::of_certificate(generated.cert.der())?;
                eprintln!(
                    "{who}: self-signed certificate for localhost, 127.0.0.1, ::1; pin {pin}"
                );
                Identity::from_pem(
                    generated.cert.pem().as_bytes(),
                    generated.signing_key.serialize_pem().as_bytes(),
                )?
            }
        };
        Ok(match &self.ocsp_response {
            Some(path) => identity.with_ocsp(
                std::fs::read(path).with_context(|| format!("read {}", path.display()))?,
            ),
            None => identity,
        })
    }

    pub(crate) fn acceptor(&self, who: &str) -> anyhow::Result<TlsAcceptor> {
        let mut builder = TlsAcceptor::builder()
            .identity(self.identity(who)?)
            .alpn(&self.alpn)
            .tls12(!self.no_tls12)
            .keylog_from_env(true);
        if let Some(ca) = &self.client_ca {
            builder = builder.client_auth(if self.client_cert_optional {
                ClientAuth::optional_pem_file(ca)?
            } else {
                ClientAuth::required_pem_file(ca)?
            });
        }
        Ok(builder.build()?)
    }

    /// Re-reads --cert/--key/--ocsp-response into `acceptor` (on SIGHUP).
    /// A generated certificate is kept as it is.
    pub(crate) fn reload(&self, acceptor: &TlsAcceptor, who: &str) -> anyhow::Result<bool> {
        if self.cert.is_some() {
            acceptor.set_identity(self.identity(who)?)?;
            return Ok(true);
        }
        // A generated certificate stays; its staple can still change.
        match &self.ocsp_response {
            Some(path) => {
                let der =
                    std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
                acceptor.set_ocsp_response(None, Some(der))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Client-side TLS flags.
#[derive(Debug, Args, Clone)]
pub(crate) struct ClientTlsArgs {
    /// Speak TLS over the connection.
    #[arg(long)]
    pub(crate) tls: bool,
    /// Trust the CAs in this PEM file instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    pub(crate) cacert: Option<PathBuf>,
    /// Require the server's public key to match (sha256/BASE64; repeatable).
    #[arg(long, value_name = "sha256/BASE64")]
    pub(crate) pin: Vec<Pin>,
    /// Server name to send (SNI) and verify, instead of the target's host.
    #[arg(long, value_name = "NAME")]
    pub(crate) sni: Option<String>,
    /// ALPN protocols to offer, most preferred first (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) alpn: Vec<String>,
    /// Skip certificate validation (with --pin: the pin alone authenticates).
    #[arg(short = 'k', long)]
    pub(crate) insecure: bool,
    /// Client certificate (PEM) for servers that ask for one.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Allow TLS 1.2 (default: TLS 1.3 only).
    #[arg(long = "tls1.2")]
    pub(crate) tls12: bool,
    /// Refuse servers that do not staple a valid OCSP response.
    #[arg(long)]
    pub(crate) require_ocsp: bool,
}

impl ClientTlsArgs {
    pub(crate) fn connector(&self) -> anyhow::Result<TlsConnector> {
        let mut builder = TlsConnector::builder()
            .alpn(&self.alpn)
            .tls12(self.tls12)
            .require_ocsp_staple(self.require_ocsp)
            .keylog_from_env(true);
        builder = trust(builder, self.cacert.as_deref(), &self.pin, self.insecure);
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            builder = builder.client_identity(Identity::from_pem_files(cert, key)?);
        }
        Ok(builder.build()?)
    }
}

/// How a client decides to trust the server, from the flags `connect` and
/// `get` share: `--cacert` replaces the built-in roots, each `--pin` must
/// match, and `--insecure` skips validation (with pins, the pins alone
/// authenticate).
pub(crate) fn trust(
    mut builder: TlsConnectorBuilder,
    cacert: Option<&std::path::Path>,
    pins: &[Pin],
    insecure: bool,
) -> TlsConnectorBuilder {
    if let Some(ca) = cacert {
        builder = builder.webpki_roots(false).add_ca_pem_file(ca);
    }
    for pin in pins {
        builder = builder.pin(*pin);
    }
    if insecure {
        builder = if pins.is_empty() {
            builder.danger_accept_invalid_certs(true)
        } else {
            builder.chain_validation(false)
        };
    }
    builder
}
