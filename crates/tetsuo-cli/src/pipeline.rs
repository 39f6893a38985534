//! The connect-pipeline flags `get` and `connect` share (`--proxy`,
//! `--resolve`, `--noproxy`) and the connection story of `-v`.

use std::time::Duration;

use clap::Args;
use tetsuo::connect::{AttemptOutcome, ConnectInfo};
use tetsuo::dns::Overrides;
use tetsuo::proxy::{NoProxy, Proxies, Proxy};

/// Proxies and name overrides.
#[derive(Debug, Args)]
pub(crate) struct PipelineArgs {
    /// Go through this proxy: socks4://, socks4a://, socks5://, socks5h://
    /// or http:// (CONNECT), with user:pass@ if needed. Repeat for a chain
    /// (the first is connected to). Default: the *_proxy variables.
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    proxy: Vec<String>,
    /// Hosts that bypass the proxies (comma-separated names, domains,
    /// addresses, CIDRs; "*" for all), instead of $NO_PROXY.
    #[arg(long, value_name = "LIST")]
    noproxy: Option<String>,
    /// Resolve HOST:PORT to these addresses (IPv6 in brackets); all take
    /// part in Happy Eyeballs. Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR...]")]
    resolve: Vec<String>,
}

impl PipelineArgs {
    /// The proxies: `--proxy` if given, else the environment's.
    pub(crate) fn proxies(&self) -> anyhow::Result<Proxies> {
        let proxies = if self.proxy.is_empty() {
            Proxies::from_env()?
        } else {
            let chain = self
                .proxy
                .iter()
                .map(|url| Proxy::parse(url))
                .collect::<tetsuo::Result<Vec<_>>>()?;
            Proxies::chain(chain)
        };
        Ok(match &self.noproxy {
            Some(list) => proxies.no_proxy(NoProxy::parse(list)),
            None => proxies,
        })
    }

    /// The `--resolve` overrides.
    pub(crate) fn overrides(&self) -> anyhow::Result<Overrides> {
        let mut overrides = Overrides::new();
        for spec in &self.resolve {
            overrides.insert_spec(spec)?;
        }
        Ok(overrides)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The connection story on stderr: resolution, the Happy Eyeballs race,
/// proxy hops, TLS, timings.
pub(crate) fn tell(info: &ConnectInfo) {
    let resolved: Vec<String> = info.resolved.iter().map(ToString::to_string).collect();
    let first_hop = if info.proxies.is_empty() {
        format!("{}:{}", info.host, info.port)
    } else {
        format!("proxy {}", info.proxies[0])
    };
    eprintln!(
        "* resolved {first_hop} to {} in {:.1} ms",
        resolved.join(", "),
        ms(info.dns)
    );
    for attempt in &info.attempts {
        let outcome = match &attempt.outcome {
            AttemptOutcome::Connected => "connected".to_owned(),
            AttemptOutcome::Cancelled => "cancelled (another address won)".to_owned(),
            AttemptOutcome::Failed(why) => format!("failed: {why}"),
            _ => "ended".to_owned(),
        };
        eprintln!(
            "*   attempt {} at +{:.1} ms: {outcome} after {:.1} ms",
            attempt.addr,
            ms(attempt.started),
            ms(attempt.duration)
        );
    }
    match info.local_addr {
        Some(local) => eprintln!(
            "* connected to {} from {local} in {:.1} ms",
            info.remote_addr,
            ms(info.connect)
        ),
        None => eprintln!(
            "* connected to {} in {:.1} ms",
            info.remote_addr,
            ms(info.connect)
        ),
    }
    for (i, proxy) in info.proxies.iter().enumerate() {
        let next = info
            .proxies
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| format!("{}:{}", info.host, info.port));
        eprintln!("* tunnel through {proxy} to {next}");
    }
    if !info.proxies.is_empty() {
        eprintln!("* proxy handshakes took {:.1} ms", ms(info.proxy));
    }
    if let Some(proxy) = &info.forward_proxy {
        eprintln!("* requests go to HTTP proxy {proxy}, which forwards them");
    }
    if let Some(tls) = &info.tls {
        let alpn = tls.alpn.as_deref().map_or_else(
            || "none".to_owned(),
            |a| String::from_utf8_lossy(a).into_owned(),
        );
        eprintln!(
            "* TLS {} {} ALPN {alpn}{} in {:.1} ms",
            tls.version,
            tls.cipher_suite,
            if tls.resumed { " (resumed)" } else { "" },
            ms(tls.handshake)
        );
    }
    eprintln!("* connection ready after {:.1} ms", ms(info.total));
}
