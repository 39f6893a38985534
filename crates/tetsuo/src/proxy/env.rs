//! Which proxy a connection uses: fixed chains and the environment.

use std::net::IpAddr;

use super::Proxy;
use crate::Result;

/// Which proxies a connection goes through, by target.
///
/// ```
/// use tetsuo::proxy::Proxies;
///
/// let env = [
///     ("https_proxy", "http://proxy.corp:3128"),
///     ("ALL_PROXY", "socks5h://127.0.0.1:1080"),
///     ("NO_PROXY", "localhost,.internal.corp,10.0.0.0/8"),
/// ];
/// let proxies = Proxies::from_vars(|name| {
///     env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
/// })
/// .unwrap();
/// assert_eq!(proxies.select("https", "example.com")[0].to_string(), "http://proxy.corp:3128");
/// // Plain HTTP and other protocols fall back to ALL_PROXY.
/// assert_eq!(proxies.select("http", "example.com")[0].to_string(), "socks5h://127.0.0.1:1080");
/// assert!(proxies.select("https", "git.internal.corp").is_empty());
/// assert!(proxies.select("tcp", "10.1.2.3").is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    all: Vec<Proxy>,
    http: Option<Vec<Proxy>>,
    https: Option<Vec<Proxy>>,
    no_proxy: NoProxy,
}

impl Proxies {
    /// Direct connections.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// Every connection goes through this chain: the first proxy is
    /// connected to, each next one is reached through the previous, and
    /// the last one opens the tunnel to the target.
    pub fn chain(chain: impl IntoIterator<Item = Proxy>) -> Proxies {
        Proxies {
            all: chain.into_iter().collect(),
            ..Proxies::default()
        }
    }

    /// The proxies of the environment, as curl reads them: `https_proxy`
    /// for `https` targets, `http_proxy` for `http` targets, `all_proxy`
    /// for the rest (and as their fallback), `no_proxy` for exceptions.
    /// Lowercase names win over uppercase; `HTTP_PROXY` is ignored in CGI
    /// programs (`REQUEST_METHOD` set), where a client could set it.
    pub fn from_env() -> Result<Proxies> {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Proxies> {
        Proxies::read(get, true)
    }

    /// [`from_env`](Self::from_env), skipping (with a warning) a variable
    /// that does not parse: for constructors that cannot fail.
    #[cfg(feature = "http")]
    pub(crate) fn from_env_lenient() -> Proxies {
        Proxies::read(|name| std::env::var(name).ok(), false).unwrap_or_default()
    }

    fn read(get: impl Fn(&str) -> Option<String>, strict: bool) -> Result<Proxies> {
        let var = |lower: &str, upper: &str| {
            get(lower)
                .or_else(|| get(upper))
                .filter(|v| !v.trim().is_empty())
        };
        let parse = |value: Option<String>| match value.map(|v| Proxy::parse(v.trim())) {
            Some(Err(e)) if !strict => {
                warn_skipped(&e);
                Ok(None)
            }
            other => other.transpose(),
        };
        let cgi = get("REQUEST_METHOD").is_some();
        let http = if cgi {
            get("http_proxy").filter(|v| !v.trim().is_empty())
        } else {
            var("http_proxy", "HTTP_PROXY")
        };
        Ok(Proxies {
            all: parse(var("all_proxy", "ALL_PROXY"))?.into_iter().collect(),
            http: parse(http)?.map(|p| vec![p]),
            https: parse(var("https_proxy", "HTTPS_PROXY"))?.map(|p| vec![p]),
            no_proxy: NoProxy::parse(&var("no_proxy", "NO_PROXY").unwrap_or_default()),
        })
    }

    /// Replaces the exceptions.
    pub fn no_proxy(mut self, no_proxy: NoProxy) -> Proxies {
        self.no_proxy = no_proxy;
        self
    }

    /// The chain for a connection to `host` for `scheme` (`"http"`,
    /// `"https"`, anything else for plain TCP); empty for a direct
    /// connection.
    pub fn select(&self, scheme: &str, host: &str) -> &[Proxy] {
        if self.is_empty() || self.no_proxy.matches(host) {
            return &[];
        }
        let specific = match scheme {
            "https" | "wss" => self.https.as_deref(),
            "http" | "ws" => self.http.as_deref(),
            _ => None,
        };
        specific.unwrap_or(&self.all)
    }

    /// True if no connection uses a proxy.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.http.is_none() && self.https.is_none()
    }
}

fn warn_skipped(e: &crate::Error) {
    #[cfg(feature = "http")]
    tracing::warn!(error = %e, "ignoring a proxy variable that does not parse");
    #[cfg(not(feature = "http"))]
    let _ = e;
}

/// Hosts that bypass the proxies (`NO_PROXY`): `*` for all, domain names
/// (`example.com` and `.example.com` both cover the domain and its
/// subdomains), IP addresses and CIDR blocks (`10.0.0.0/8`, `fd00::/8`).
///
/// ```
/// use tetsuo::proxy::NoProxy;
///
/// let no = NoProxy::parse("example.com, 192.168.0.0/16 ,::1");
/// assert!(no.matches("api.example.com") && no.matches("EXAMPLE.com"));
/// assert!(!no.matches("notexample.com"));
/// assert!(no.matches("192.168.7.7") && no.matches("[::1]"));
/// assert!(!no.matches("192.169.0.1"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct NoProxy {
    all: bool,
    domains: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// Parses a comma- or space-separated list; unusable entries are
    /// skipped.
    pub fn parse(list: &str) -> NoProxy {
        let mut no = NoProxy::default();
        for entry in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                no.all = true;
            } else if let Some(net) = parse_cidr(entry) {
                no.nets.push(net);
            } else {
                // A port is not part of the match: `host:port`, `[v6]:port`.
                let host = match super::split_host_port(entry) {
                    Some((host, Some(_))) => host,
                    _ => entry.to_owned(),
                };
                if let Some(net) = parse_cidr(&host) {
                    no.nets.push(net);
                    continue;
                }
                let domain = host
                    .trim_start_matches("*.")
                    .trim_start_matches('.')
                    .trim_end_matches('.');
                if !domain.is_empty() {
                    no.domains.push(domain.to_ascii_lowercase());
                }
            }
        }
        no
    }

    /// True if `host` (a name or an IP address, IPv6 with or without
    /// brackets) bypasses the proxies.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        if let Some(ip) = crate::dns::ip_literal(host) {
            return self.nets.iter().any(|&(net, len)| in_net(ip, net, len));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| {
            host == *d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
    }
}

pub(super) fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match entry.split_once('/') {
        Some((ip, len)) => (crate::dns::ip_literal(ip)?, len.parse::<u8>().ok()?),
        None => {
            let ip = crate::dns::ip_literal(entry)?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return None;
    }
    // An IPv4-mapped network is the IPv4 network it maps.
    match ip {
        IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Some((IpAddr::V4(v4), len - 96)),
            None => Some((ip, len)),
        },
        _ => Some((ip, len)),
    }
}

pub(super) fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| in_net(IpAddr::V4(v4), net, len)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_rules() {
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "http://a:1"),
            ("http_proxy", "http://b:2"),
        ]))
        .unwrap();
        assert_eq!(p.select("http", "x")[0].port(), 2);
        assert!(p.select("https", "x").is_empty());
        // CGI: HTTP_PROXY may come from a request header (httpoxy).
        let p = Proxies::from_vars(vars(&[
            ("HTTP_PROXY", "http://a:1"),
            ("REQUEST_METHOD", "GET"),
        ]))
        .unwrap();
        assert!(p.is_empty());
        assert!(Proxies::from_vars(vars(&[("ALL_PROXY", "gopher://x")])).is_err());
        // Lenient reading skips the bad variable and keeps the good ones.
        let p = Proxies::read(
            vars(&[("ALL_PROXY", "gopher://x"), ("https_proxy", "http://h:3")]),
            false,
        )
        .unwrap();
        assert_eq!(p.select("https", "x")[0].port(), 3);
        assert!(p.select("tcp", "x").is_empty());
        let p =
            Proxies::from_vars(vars(&[("ALL_PROXY", "socks5://h"), ("NO_PROXY", "*")])).unwrap();
        assert!(p.select("tcp", "anything").is_empty());
    }

    #[test]
    fn cidrs_and_domains() {
        let no = NoProxy::parse("[::1]:8080 ::ffff:192.168.0.0/112 example.org.");
        assert!(no.matches("::1") && no.matches("192.168.3.4") && no.matches("www.example.org"));
        let no = NoProxy::parse("10.0.0.0/8 fd00::/8 .corp:8080 0.0.0.0/0x");
        assert!(no.matches("10.255.0.1") && !no.matches("11.0.0.1"));
        assert!(no.matches("fd12::1") && !no.matches("fe80::1"));
        assert!(no.matches("::ffff:10.1.1.1"));
        assert!(no.matches("a.b.corp") && no.matches("corp."));
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8"));
        assert!(!NoProxy::parse("").matches("x"));
    }
}
