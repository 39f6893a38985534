//! Proxies: SOCKS4, SOCKS4a, SOCKS5 (with username/password; local or
//! proxy-side name resolution) and HTTP CONNECT (with Basic auth), over any
//! stream; proxy settings from URLs and from the environment.
//!
//! [`Proxy`] is one proxy parsed from a URL (`socks5h://user:pass@host:1080`).
//! [`Proxies`] says which proxy (or chain of proxies) a connection to a
//! given target goes through — a fixed chain, or `ALL_PROXY`,
//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` read as curl and reqwest do.
//! The connector ([`crate::connect::Connector`]) runs the handshakes; the
//! protocol machines are `tetsuo_proto::socks` and `tetsuo_proto::tunnel`.
//! [`SocksServer`] is the other side: a SOCKS5/4/4a server (`tetsuo socks`).

mod env;
mod handshake;
mod rewind;
mod server;

use std::fmt;

use crate::{Error, ErrorKind, Result};

pub use env::{NoProxy, Proxies};
pub(crate) use handshake::{refused_status, socks_error, tunnel};
pub(crate) use rewind::Rewind;
pub use server::{IpNet, SocksServer, SocksServerBuilder};

/// The protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// `socks4://`: IPv4 targets, resolved here.
    Socks4,
    /// `socks4a://`: names resolved by the proxy.
    Socks4a,
    /// `socks5://`: names resolved here, the proxy gets an address.
    Socks5,
    /// `socks5h://`: names resolved by the proxy.
    Socks5h,
    /// `http://`: HTTP CONNECT.
    Http,
}

impl ProxyKind {
    fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Socks4 => "socks4",
            ProxyKind::Socks4a => "socks4a",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
            ProxyKind::Http => "http",
        }
    }
}

/// One proxy: its protocol, address and credentials.
///
/// ```
/// use tetsuo::proxy::{Proxy, ProxyKind};
///
/// let proxy = Proxy::parse("socks5h://alice:s%3Acret@proxy.example:1080").unwrap();
/// assert_eq!(proxy.kind(), ProxyKind::Socks5h);
/// assert_eq!(proxy.host(), "proxy.example");
/// assert_eq!(proxy.credentials(), Some(("alice", "s:cret")));
/// // The password never reaches logs.
/// assert_eq!(proxy.to_string(), "socks5h://alice:***@proxy.example:1080");
/// // Without a port: 1080, as curl assumes.
/// assert_eq!(Proxy::parse("http://[::1]").unwrap().port(), 1080);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses `scheme://[user[:password]@]host[:port]` with scheme
    /// `socks4`, `socks4a`, `socks5`, `socks5h` or `http` (no scheme:
    /// `http`). User and password may be percent-encoded. The port
    /// defaults to 1080.
    pub fn parse(url: &str) -> Result<Proxy> {
        let bad = |detail: &str| {
            Error::new(ErrorKind::InvalidInput, "parse proxy URL")
                .with_name(redact(url))
                .with_detail(detail.to_owned())
        };
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "socks4" => ProxyKind::Socks4,
            "socks4a" => ProxyKind::Socks4a,
            "socks5" => ProxyKind::Socks5,
            "socks5h" | "socks" => ProxyKind::Socks5h,
            "http" => ProxyKind::Http,
            "https" => {
                return Err(bad(
                    "HTTPS proxies (TLS to the proxy) are not supported yet; use http://",
                ));
            }
            _ => {
                return Err(bad(
                    "unknown scheme (socks4, socks4a, socks5, socks5h or http)",
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(bad("a proxy URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let credentials = match userinfo {
            Some(u) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                Some((
                    percent_decode(user).ok_or_else(|| bad("bad percent-encoding"))?,
                    percent_decode(pass).ok_or_else(|| bad("bad percent-encoding"))?,
                ))
            }
            None => None,
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        Ok(Proxy {
            kind,
            host,
            port: port.unwrap_or(1080),
            credentials,
        })
    }

    /// Its protocol.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// Its host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// User name and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

impl fmt::Display for Proxy {
    /// The URL with the password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.kind.scheme())?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// `host[:port]`, `[v6][:port]`: the host (brackets removed) and the port.
pub(crate) fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@' || c == '/') {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host.to_owned(), port))
}

/// `Basic base64(user:password)`, the value of an `Authorization` or
/// `Proxy-Authorization` header.
pub(crate) fn basic_auth_value(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// Percent-decoded text (`%zz` and the like stay as written, as in
/// curl); `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A proxy URL with any password hidden, for error messages: whatever
/// follows the first `:` of the user information (before the last `@`).
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].rfind('@') {
        Some(at) => {
            let at = start + at;
            let userinfo = &url[start..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[at..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("socks4a://10.0.0.1:9050").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Socks4a, "10.0.0.1", 9050)
        );
        assert_eq!(p.credentials(), None);
        let p = Proxy::parse("proxy.local:3128").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Http, 3128));
        let p = Proxy::parse("SOCKS5://u@[::1]:1/").unwrap();
        assert_eq!((p.host(), p.credentials()), ("::1", Some(("u", ""))));
        assert_eq!(p.to_string(), "socks5://u:***@[::1]:1");
        for bad in [
            "ftp://x",
            "http://",
            "http://h:99999",
            "http://h/path",
            "socks5://u:%ff@h",
            "https://h",
        ] {
            let err = Proxy::parse(bad).unwrap_err();
            assert!(err.is_invalid_input(), "{bad}");
        }
        for leaky in [
            "gopher://user:secret@h",
            "user:secret@h:99999",
            "socks5:/user:secret@h",
        ] {
            let err = Proxy::parse(leaky).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }
}
