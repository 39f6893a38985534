//! Name resolution: the [`Resolve`] trait, the system resolver, static
//! overrides, and (feature `dns-hickory`) a caching DNS client.
//!
//! The connect pipeline asks a resolver for a host's addresses. The default
//! [`SystemResolver`] calls `getaddrinfo` on tokio's blocking threads, so
//! `/etc/hosts`, nsswitch and the system's DNS settings apply. With the
//! `dns-hickory` feature, `HickoryResolver` talks DNS itself: AAAA and A
//! are asked separately (Happy Eyeballs starts on the first answer),
//! answers are cached for their TTL (negative answers too), the name
//! servers are configurable (UDP/TCP, DNS-over-TLS, DNS-over-HTTPS), and
//! SRV records can be looked up. [`Overrides`] pins `host:port` pairs to
//! fixed addresses in front of any resolver (curl's `--resolve`).

#[cfg(feature = "dns-hickory")]
mod hickory;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Error, ErrorKind, Result};

#[cfg(feature = "dns-hickory")]
pub use hickory::{HickoryResolver, HickoryResolverBuilder, NameServer, Transport};

/// Which address families to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// Both (AAAA and A).
    Any,
    /// IPv6 only (AAAA).
    V6,
    /// IPv4 only (A).
    V4,
}

impl Query {
    /// True if `ip` belongs to the families asked for.
    pub fn matches(self, ip: &IpAddr) -> bool {
        match self {
            Query::Any => true,
            Query::V6 => ip.is_ipv6(),
            Query::V4 => ip.is_ipv4(),
        }
    }
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of equal priority.
    pub weight: u16,
    /// The service's port.
    pub port: u16,
    /// The host that offers it.
    pub target: String,
}

/// A boxed future a resolver returns.
pub type Resolving<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Something that turns host names into addresses.
///
/// Errors are [`ErrorKind::Dns`] (no such name, no addresses, server
/// failure) or [`ErrorKind::Timeout`].
///
/// ```
/// use std::net::IpAddr;
/// use tetsuo::dns::{Query, Resolve, Resolving};
///
/// /// Every name is loopback.
/// #[derive(Debug)]
/// struct Loopback;
///
/// impl Resolve for Loopback {
///     fn lookup<'a>(&'a self, _host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
///         let all: [IpAddr; 2] = ["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()];
///         Box::pin(async move { Ok(all.into_iter().filter(|ip| query.matches(ip)).collect()) })
///     }
/// }
/// ```
pub trait Resolve: Send + Sync + fmt::Debug + 'static {
    /// The addresses of `host` in the families of `query`. An empty list
    /// is allowed (the name exists, without such addresses).
    fn lookup<'a>(&'a self, host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>>;

    /// True if [`Query::V6`] and [`Query::V4`] are separate, cheap
    /// questions (a DNS client); Happy Eyeballs then asks both at once and
    /// starts on the first answer. False (the default) means one
    /// [`Query::Any`] call answers for both (`getaddrinfo`).
    fn splits_families(&self) -> bool {
        false
    }

    /// The SRV records of `name` (for example `_imaps._tcp.example.com`).
    /// The default answers [`ErrorKind::Unsupported`].
    fn lookup_srv<'a>(&'a self, name: &'a str) -> Resolving<'a, Vec<Srv>> {
        Box::pin(async move {
            Err(Error::new(ErrorKind::Unsupported, "look up SRV records of")
                .with_name(name)
                .with_detail(
                    "this resolver cannot look up SRV records (use the dns-hickory feature)",
                ))
        })
    }
}

impl<R: Resolve + ?Sized> Resolve for Arc<R> {
    fn lookup<'a>(&'a self, host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
        (**self).lookup(host, query)
    }

    fn splits_families(&self) -> bool {
        (**self).splits_families()
    }

    fn lookup_srv<'a>(&'a self, name: &'a str) -> Resolving<'a, Vec<Srv>> {
        (**self).lookup_srv(name)
    }
}

/// The operating system's resolver: `getaddrinfo` on tokio's blocking
/// threads (`/etc/hosts`, nsswitch, the system's DNS servers). Nothing is
/// cached here; the system may cache (nscd, systemd-resolved).
///
/// ```
/// use tetsuo::dns::{Query, Resolve, SystemResolver};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// let addrs = SystemResolver.lookup("localhost", Query::V4).await?;
/// assert!(addrs.contains(&"127.0.0.1".parse().unwrap()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
        Box::pin(async move {
            if let Some(ip) = ip_literal(host) {
                return Ok(Vec::from_iter(Some(ip).filter(|ip| query.matches(ip))));
            }
            let found = tokio::net::lookup_host((host, 0)).await.map_err(|e| {
                Error::new(ErrorKind::Dns, "resolve")
                    .with_name(host)
                    .with_detail(e.to_string())
                    .with_source(e)
            })?;
            let mut ips: Vec<IpAddr> = Vec::new();
            for addr in found {
                if query.matches(&addr.ip()) && !ips.contains(&addr.ip()) {
                    ips.push(addr.ip());
                }
            }
            Ok(ips)
        })
    }
}

/// An IP address written as a host (`127.0.0.1`, `::1` or `[::1]`).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Fixed addresses for `host:port` pairs, consulted before the resolver
/// (curl's `--resolve HOST:PORT:ADDR[,ADDR...]`). Host names match
/// case-insensitively.
///
/// ```
/// use tetsuo::dns::Overrides;
///
/// let mut overrides = Overrides::new();
/// overrides.insert_spec("example.com:443:[::1],127.0.0.1").unwrap();
/// let ips = overrides.get("EXAMPLE.com", 443).unwrap();
/// assert_eq!(ips, ["::1".parse::<std::net::IpAddr>().unwrap(), "127.0.0.1".parse().unwrap()]);
/// assert!(overrides.get("example.com", 80).is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    map: HashMap<(String, u16), Vec<IpAddr>>,
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Overrides {
        Overrides::default()
    }

    /// Pins `host:port` to `addrs`.
    pub fn insert(&mut self, host: &str, port: u16, addrs: Vec<IpAddr>) {
        self.map.insert((host.to_ascii_lowercase(), port), addrs);
    }

    /// Parses and adds curl's `HOST:PORT:ADDR[,ADDR...]` (IPv6 addresses
    /// in brackets or bare).
    pub fn insert_spec(&mut self, spec: &str) -> Result<()> {
        let bad = |detail: &str| {
            Error::new(ErrorKind::InvalidInput, "parse --resolve")
                .with_name(spec)
                .with_detail(format!("{detail} (expected HOST:PORT:ADDR[,ADDR...])"))
        };
        let (host, rest) = spec.split_once(':').ok_or_else(|| bad("no port"))?;
        let (port, addrs) = rest.split_once(':').ok_or_else(|| bad("no address"))?;
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        let addrs = addrs
            .split(',')
            .map(|a| ip_literal(a.trim()).ok_or_else(|| bad("bad address")))
            .collect::<Result<Vec<_>>>()?;
        self.insert(host, port, addrs);
        Ok(())
    }

    /// The pinned addresses of `host:port`, if any.
    pub fn get(&self, host: &str, port: u16) -> Option<&[IpAddr]> {
        let key = (host.to_ascii_lowercase(), port);
        self.map.get(&key).map(Vec::as_slice)
    }

    /// True if nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_specs() {
        let mut o = Overrides::new();
        o.insert_spec("h:80:::1").unwrap();
        assert_eq!(o.get("h", 80).unwrap(), ["::1".parse::<IpAddr>().unwrap()]);
        for bad in [
            "h",
            "h:80",
            "h:x:1.2.3.4",
            ":80:1.2.3.4",
            "h:80:nope",
            "h:80:1.2.3.4,",
        ] {
            assert!(o.insert_spec(bad).unwrap_err().is_invalid_input(), "{bad}");
        }
    }

    #[tokio::test]
    async fn system_resolver_answers_literals_and_localhost() {
        let r = SystemResolver;
        assert_eq!(
            r.lookup("[::1]", Query::Any).await.unwrap(),
            ["::1".parse::<IpAddr>().unwrap()]
        );
        assert!(r.lookup("127.0.0.1", Query::V6).await.unwrap().is_empty());
        let err = r
            .lookup("no-such-host.invalid", Query::Any)
            .await
            .unwrap_err();
        assert!(err.is_dns(), "{err:?}");
        assert!(
            r.lookup_srv("_x._tcp.localhost")
                .await
                .unwrap_err()
                .is_unsupported()
        );
    }
}
