//! A caching DNS client on hickory-resolver (feature `dns-hickory`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

use super::{Query, Resolve, Resolving, Srv};
use crate::{Error, ErrorKind, Result};

/// How to reach a name server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Plain DNS over UDP (falling back to TCP for truncated answers).
    Udp,
    /// Plain DNS over TCP.
    Tcp,
    /// DNS-over-TLS (RFC 7858; feature `dns-over-tls`); the certificate
    /// must be valid for `server_name`.
    #[cfg(feature = "dns-over-tls")]
    Tls {
        /// The name the server's certificate must carry.
        server_name: String,
    },
    /// DNS-over-HTTPS (RFC 8484; feature `dns-over-https`) at
    /// `/dns-query`.
    #[cfg(feature = "dns-over-https")]
    Https {
        /// The name the server's certificate must carry.
        server_name: String,
    },
}

/// One name server: an address and a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// How to talk to it.
    pub transport: Transport,
}

impl NameServer {
    /// Plain DNS over UDP at `addr`.
    pub fn udp(addr: SocketAddr) -> NameServer {
        NameServer {
            addr,
            transport: Transport::Udp,
        }
    }

    /// Plain DNS over TCP at `addr`.
    pub fn tcp(addr: SocketAddr) -> NameServer {
        NameServer {
            addr,
            transport: Transport::Tcp,
        }
    }

    /// DNS-over-TLS at `addr` (usually port 853); the certificate must be
    /// valid for `server_name`.
    #[cfg(feature = "dns-over-tls")]
    pub fn tls(addr: SocketAddr, server_name: impl Into<String>) -> NameServer {
        NameServer {
            addr,
            transport: Transport::Tls {
                server_name: server_name.into(),
            },
        }
    }

    /// DNS-over-HTTPS at `https://server_name/dns-query`, reached at `addr`
    /// (usually port 443).
    #[cfg(feature = "dns-over-https")]
    pub fn https(addr: SocketAddr, server_name: impl Into<String>) -> NameServer {
        NameServer {
            addr,
            transport: Transport::Https {
                server_name: server_name.into(),
            },
        }
    }

    fn config(&self) -> NameServerConfig {
        let protocol = match &self.transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
            #[cfg(feature = "dns-over-tls")]
            Transport::Tls { .. } => Protocol::Tls,
            #[cfg(feature = "dns-over-https")]
            Transport::Https { .. } => Protocol::Https,
        };
        let mut config = NameServerConfig::new(self.addr, protocol);
        // A configured server's "no such name" is the answer, not a reason
        // to ask the next server.
        config.trust_negative_responses = true;
        match &self.transport {
            #[cfg(feature = "dns-over-tls")]
            Transport::Tls { server_name } => config.tls_dns_name = Some(server_name.clone()),
            #[cfg(feature = "dns-over-https")]
            Transport::Https { server_name } => {
                config.tls_dns_name = Some(server_name.clone());
                config.http_endpoint = Some("/dns-query".into());
            }
            _ => {}
        }
        config
    }
}

/// Configures a [`HickoryResolver`].
#[derive(Debug, Clone)]
pub struct HickoryResolverBuilder {
    servers: Vec<NameServer>,
    cache_size: usize,
    timeout: Duration,
    attempts: usize,
    use_hosts_file: bool,
    #[cfg(feature = "dns-over-tls")]
    tls: Option<rustls::ClientConfig>,
}

impl HickoryResolverBuilder {
    /// Adds a name server. Without any, the system's (`/etc/resolv.conf`)
    /// are used.
    pub fn name_server(mut self, server: NameServer) -> Self {
        self.servers.push(server);
        self
    }

    /// Most answers cached (default 256; 0 disables the cache).
    pub fn cache_size(mut self, entries: usize) -> Self {
        self.cache_size = entries;
        self
    }

    /// How long to wait for one server's answer (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Tries per question (default 2).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Whether `/etc/hosts` answers first (default true).
    pub fn use_hosts_file(mut self, on: bool) -> Self {
        self.use_hosts_file = on;
        self
    }

    /// The TLS client configuration for DNS-over-TLS and DNS-over-HTTPS
    /// servers (default: the built-in roots of `tls-webpki-roots`).
    #[cfg(feature = "dns-over-tls")]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Builds the resolver (reads the system configuration when no server
    /// was given).
    pub fn build(self) -> Result<HickoryResolver> {
        let config = if self.servers.is_empty() {
            let (config, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                Error::new(ErrorKind::Dns, "read the system DNS configuration")
                    .with_detail(e.to_string())
                    .with_source(e)
            })?;
            config
        } else {
            let mut config = ResolverConfig::new();
            for server in &self.servers {
                config.add_name_server(server.config());
            }
            config
        };
        let mut opts = ResolverOpts::default();
        opts.cache_size = self.cache_size;
        opts.timeout = self.timeout;
        opts.attempts = self.attempts;
        opts.use_hosts_file = if self.use_hosts_file {
            hickory_resolver::config::ResolveHosts::Always
        } else {
            hickory_resolver::config::ResolveHosts::Never
        };
        #[cfg(feature = "dns-over-tls")]
        if let Some(tls) = self.tls {
            opts.tls_config = tls;
        } else {
            opts.tls_config = default_tls();
        }
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build();
        Ok(HickoryResolver { resolver })
    }
}

#[cfg(feature = "dns-over-tls")]
fn default_tls() -> rustls::ClientConfig {
    #[cfg_attr(not(feature = "tls-webpki-roots"), allow(unused_mut))]
    let mut roots = rustls::RootCertStore::empty();
    #[cfg(feature = "tls-webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// A DNS client with a cache: AAAA and A as separate questions (so Happy
/// Eyeballs starts on the first answer), positive and negative answers
/// kept for their TTL, SRV lookups, and name servers of your choice
/// (UDP, TCP, DNS-over-TLS, DNS-over-HTTPS).
///
/// ```no_run
/// use tetsuo::dns::{HickoryResolver, NameServer, Query, Resolve};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// let resolver = HickoryResolver::builder()
///     .name_server(NameServer::udp("127.0.0.53:53".parse().unwrap()))
///     .build()?;
/// let v6 = resolver.lookup("example.com", Query::V6).await?;
/// let srv = resolver.lookup_srv("_imaps._tcp.example.com").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HickoryResolver {
    resolver: TokioResolver,
}

impl HickoryResolver {
    /// A builder: no name servers (the system's), 256 cached answers.
    pub fn builder() -> HickoryResolverBuilder {
        HickoryResolverBuilder {
            servers: Vec::new(),
            cache_size: 256,
            timeout: Duration::from_secs(5),
            attempts: 2,
            use_hosts_file: true,
            #[cfg(feature = "dns-over-tls")]
            tls: None,
        }
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.resolver.clear_cache();
    }
}

/// A fully qualified form of `host`, so that the search list of the system
/// configuration is not applied to names that already have dots.
fn fqdn(host: &str) -> String {
    if host.ends_with('.') || !host.contains('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    }
}

fn dns_error(op: &'static str, name: &str, e: ResolveError) -> Error {
    if e.is_no_records_found() {
        let detail = if e.is_nx_domain() {
            "no such name (NXDOMAIN)"
        } else {
            "no records of this type"
        };
        return Error::new(ErrorKind::Dns, op)
            .with_name(name)
            .with_detail(detail)
            .with_source(e);
    }
    let kind = if e.to_string().contains("timed out") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Dns
    };
    Error::new(kind, op)
        .with_name(name)
        .with_detail(e.to_string())
        .with_source(e)
}

impl Resolve for HickoryResolver {
    fn lookup<'a>(&'a self, host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
        Box::pin(async move {
            if let Some(ip) = super::ip_literal(host) {
                return Ok(Vec::from_iter(Some(ip).filter(|ip| query.matches(ip))));
            }
            let name = fqdn(host);
            let found: std::result::Result<Vec<IpAddr>, ResolveError> = match query {
                Query::V6 => self
                    .resolver
                    .ipv6_lookup(name.as_str())
                    .await
                    .map(|l| l.iter().map(|r| IpAddr::V6(r.0)).collect()),
                Query::V4 => self
                    .resolver
                    .ipv4_lookup(name.as_str())
                    .await
                    .map(|l| l.iter().map(|r| IpAddr::V4(r.0)).collect()),
                Query::Any => self
                    .resolver
                    .lookup_ip(name.as_str())
                    .await
                    .map(|l| l.iter().collect()),
            };
            match found {
                Ok(ips) => Ok(ips),
                // The name exists without this family: an empty answer.
                Err(e) if e.is_no_records_found() && !e.is_nx_domain() => Ok(Vec::new()),
                Err(e) => Err(dns_error("resolve", host, e)),
            }
        })
    }

    fn splits_families(&self) -> bool {
        true
    }

    fn lookup_srv<'a>(&'a self, name: &'a str) -> Resolving<'a, Vec<Srv>> {
        Box::pin(async move {
            let found = self
                .resolver
                .srv_lookup(fqdn(name).as_str())
                .await
                .map_err(|e| dns_error("look up SRV records of", name, e))?;
            let mut records: Vec<Srv> = found
                .iter()
                .map(|r| Srv {
                    priority: r.priority(),
                    weight: r.weight(),
                    port: r.port(),
                    target: r.target().to_utf8().trim_end_matches('.').to_owned(),
                })
                .collect();
            records.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
            Ok(records)
        })
    }
}
