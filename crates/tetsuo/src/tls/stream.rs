//! A TLS stream and what its handshake settled.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::{CommonState, HandshakeKind, ProtocolVersion};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Version {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        })
    }
}

/// What a completed handshake settled: version, cipher suite, ALPN protocol,
/// server name, the peer's certificates, resumption and OCSP.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    version: Version,
    cipher_suite: &'static str,
    alpn: Option<Vec<u8>>,
    server_name: Option<String>,
    peer_certificates: Vec<CertificateDer<'static>>,
    resumed: bool,
    ocsp_response: Option<Vec<u8>>,
    ocsp_verified: bool,
}

impl TlsInfo {
    pub(crate) fn new(
        conn: &CommonState,
        server_name: Option<String>,
        ocsp_response: Option<Vec<u8>>,
        ocsp_verified: bool,
    ) -> TlsInfo {
        TlsInfo {
            version: match conn.protocol_version() {
                Some(ProtocolVersion::TLSv1_2) => Version::Tls12,
                _ => Version::Tls13,
            },
            cipher_suite: conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .unwrap_or("unknown"),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            server_name,
            peer_certificates: conn
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            ocsp_response,
            ocsp_verified,
        }
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The negotiated cipher suite's IANA name, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub fn cipher_suite(&self) -> &'static str {
        self.cipher_suite
    }

    /// The ALPN protocol both sides agreed on, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The server name: on a client, the name it asked for (sent as SNI
    /// unless it is an IP address); on a server, the SNI the client sent.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The peer's certificate chain, leaf first (empty when the peer sent
    /// none, e.g. a client without a certificate).
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// True if the session was resumed rather than fully negotiated.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The OCSP response the server stapled (clients only; `None` when the
    /// server stapled none, and on resumed sessions, which carry no staple).
    pub fn ocsp_response(&self) -> Option<&[u8]> {
        self.ocsp_response.as_deref()
    }

    /// True if the stapled OCSP response was checked and says the
    /// certificate is good (signed by its issuer, current, status good).
    pub fn ocsp_verified(&self) -> bool {
        self.ocsp_verified
    }
}

/// A TLS connection over any stream `S` (TCP, Unix, a proxy tunnel...).
///
/// Reads and writes carry application data; [`TlsStream::info`] says what
/// the handshake settled. Shutting down the write side sends `close_notify`.
#[derive(Debug)]
pub struct TlsStream<S> {
    inner: tokio_rustls::TlsStream<S>,
    info: TlsInfo,
}

impl<S> TlsStream<S> {
    pub(crate) fn new(inner: tokio_rustls::TlsStream<S>, info: TlsInfo) -> TlsStream<S> {
        TlsStream { inner, info }
    }

    /// What the handshake settled.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref().0
    }

    /// The underlying stream, mutably. Reading or writing it directly
    /// corrupts the TLS session.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut().0
    }

    /// The rustls stream, for what this type does not expose.
    pub fn into_inner(self) -> tokio_rustls::TlsStream<S> {
        self.inner
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
