//! Running a proxy handshake over a stream.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use tetsuo_proto::h1::Limits;
use tetsuo_proto::socks::{self, Address, Client, Version};
use tetsuo_proto::tunnel::{TunnelError, TunnelParser, encode_connect};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Proxy, ProxyKind, Rewind};
use crate::dns::{Overrides, Query, Resolve, ip_literal};
use crate::{Error, ErrorKind, Result};

/// Longest answer a proxy may send before the tunnel opens.
const MAX_REPLY: usize = 16 * 1024;

fn proxy_error(proxy: &Proxy, detail: String) -> Error {
    Error::new(ErrorKind::Proxy, "open a tunnel through")
        .with_name(proxy.to_string())
        .with_detail(detail)
}

/// Asks `proxy` (at the other end of `io`) for a tunnel to `host:port`.
/// Bytes of the tunnel that arrive with the proxy's reply stay in `io`.
pub(crate) async fn tunnel<S>(
    io: &mut Rewind<S>,
    proxy: &Proxy,
    host: &str,
    port: u16,
    resolver: &dyn Resolve,
    overrides: &Overrides,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match proxy.kind() {
        ProxyKind::Http => http_connect(io, proxy, host, port).await,
        kind => {
            let (version, local) = match kind {
                ProxyKind::Socks4 => (Version::V4, true),
                ProxyKind::Socks4a => (Version::V4a, false),
                ProxyKind::Socks5 => (Version::V5, true),
                _ => (Version::V5, false),
            };
            let target = match ip_literal(host) {
                Some(ip) => Address::Ip(SocketAddr::new(ip, port)),
                None if local => {
                    let ip = match overrides.get(host, port) {
                        Some(ips) => pick(ips, version).ok_or_else(|| {
                            Error::new(ErrorKind::Dns, "resolve")
                                .with_name(host)
                                .with_detail(
                                    "its --resolve addresses have no IPv4 one (SOCKS4 needs one)",
                                )
                        })?,
                        None => resolve_here(resolver, host, version).await?,
                    };
                    Address::Ip(SocketAddr::new(ip, port))
                }
                None => Address::Domain(host.to_owned(), port),
            };
            let creds = proxy
                .credentials()
                .map(|(u, p)| (u.as_bytes(), p.as_bytes()));
            let client = Client::new(version, target, creds)
                .map_err(|e| proxy_error(proxy, e.to_string()).with_source(e))?;
            socks_handshake(io, proxy, client).await
        }
    }
}

/// The address to send: SOCKS4 takes the first IPv4 one, SOCKS5 the first.
fn pick(ips: &[IpAddr], version: Version) -> Option<IpAddr> {
    ips.iter()
        .copied()
        .find(|ip| version != Version::V4 || ip.is_ipv4())
}

/// `socks4://` and `socks5://` send an address: the name is resolved here
/// (SOCKS4 takes IPv4 only).
async fn resolve_here(resolver: &dyn Resolve, host: &str, version: Version) -> Result<IpAddr> {
    let query = if version == Version::V4 {
        Query::V4
    } else {
        Query::Any
    };
    let ips = resolver.lookup(host, query).await?;
    pick(&ips, version).ok_or_else(|| {
        Error::new(ErrorKind::Dns, "resolve")
            .with_name(host)
            .with_detail(if version == Version::V4 {
                "no IPv4 address (SOCKS4 needs one; use socks4a to let the proxy resolve)"
            } else {
                "no addresses"
            })
    })
}

async fn socks_handshake<S>(io: &mut Rewind<S>, proxy: &Proxy, mut client: Client) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(64);
    loop {
        let out = client.take_transmit();
        if !out.is_empty() {
            io.write_all(&out)
                .await
                .map_err(|e| Error::io("write to proxy", e).with_name(proxy.to_string()))?;
        }
        if client.is_done() {
            io.rewind(&buf);
            return Ok(());
        }
        match client.handle_input(&buf) {
            Ok(0) => read_more(io, proxy, &mut buf).await?,
            Ok(n) => {
                buf.drain(..n);
            }
            Err(e) => return Err(proxy_error(proxy, e.to_string()).with_source(e)),
        }
    }
}

async fn read_more<S>(io: &mut Rewind<S>, proxy: &Proxy, buf: &mut Vec<u8>) -> Result<()>
where
    S: AsyncRead + Unpin,
{
    if buf.len() >= MAX_REPLY {
        return Err(proxy_error(proxy, "the proxy's reply is too long".into()));
    }
    let mut chunk = [0u8; 1024];
    let n = io
        .read(&mut chunk)
        .await
        .map_err(|e| Error::io("read from proxy", e).with_name(proxy.to_string()))?;
    if n == 0 {
        return Err(Error::new(ErrorKind::Proxy, "open a tunnel through")
            .with_name(proxy.to_string())
            .with_detail("the proxy closed the connection in the middle of its reply"));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn http_connect<S>(io: &mut Rewind<S>, proxy: &Proxy, host: &str, port: u16) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = crate::connect::authority(host, port);
    let mut headers = HeaderMap::new();
    if let Some((user, pass)) = proxy.credentials() {
        let value = super::basic_auth_value(user, pass)
            .parse()
            .map_err(|_| proxy_error(proxy, "credentials cannot be sent in a header".into()))?;
        headers.insert(http::header::PROXY_AUTHORIZATION, value);
    }
    let mut request = Vec::with_capacity(128);
    encode_connect(&mut request, &authority, &headers)
        .map_err(|e| proxy_error(proxy, format!("cannot ask for {authority}: {e}")))?;
    io.write_all(&request)
        .await
        .map_err(|e| Error::io("write to proxy", e).with_name(proxy.to_string()))?;
    let mut limits = Limits::default();
    limits.max_head = MAX_REPLY;
    let mut parser = TunnelParser::new(limits);
    let mut buf = Vec::with_capacity(256);
    loop {
        match parser.parse(&buf) {
            Ok(Some(n)) => {
                io.rewind(&buf[n..]);
                return Ok(());
            }
            Ok(None) => read_more(io, proxy, &mut buf).await?,
            Err(e) => {
                let detail = match &e {
                    TunnelError::Refused { status } if status.as_u16() == 407 => {
                        format!("{e} (it wants credentials: user:pass@ in the proxy URL)")
                    }
                    _ => e.to_string(),
                };
                return Err(proxy_error(proxy, detail).with_source(e));
            }
        }
    }
}

/// The status a refusing HTTP proxy answered, if `err` is such a refusal.
pub(crate) fn refused_status(err: &(dyn std::error::Error + 'static)) -> Option<http::StatusCode> {
    match err.downcast_ref::<TunnelError>()? {
        TunnelError::Refused { status } => Some(*status),
        TunnelError::Malformed(_) => None,
    }
}

/// The SOCKS failure behind `err`, if it is one.
pub(crate) fn socks_error(err: &(dyn std::error::Error + 'static)) -> Option<socks::Error> {
    err.downcast_ref::<socks::Error>().copied()
}
