//! `tetsuo socks`: a SOCKS5 (and SOCKS4/4a) server.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use tetsuo::proxy::{IpNet, SocksServer};

use crate::signals::{Signal, Signals};

/// Arguments of `tetsuo socks`.
#[derive(Debug, Args)]
pub(crate) struct SocksArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1080")]
    listen: SocketAddr,
    /// Require SOCKS5 username/password authentication (SOCKS4 clients,
    /// which cannot send a password, are then refused).
    #[arg(long, value_name = "USER:PASS")]
    auth: Option<String>,
    /// Allow only these destinations (CIDR or address; repeatable).
    #[arg(long, value_name = "CIDR")]
    allow: Vec<IpNet>,
    /// Refuse these destinations (CIDR or address; repeatable; checked
    /// before --allow).
    #[arg(long, value_name = "CIDR")]
    deny: Vec<IpNet>,
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn run(args: SocksArgs) -> anyhow::Result<()> {
    let mut builder = SocksServer::builder();
    if let Some(auth) = &args.auth {
        let (user, pass) = auth.split_once(':').context("--auth: expected USER:PASS")?;
        builder = builder.auth(user, pass);
    }
    for net in args.allow {
        builder = builder.allow(net);
    }
    for net in args.deny {
        builder = builder.deny(net);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(tetsuo::Error::from)
        .with_context(|| format!("listen on {}", args.listen))?;
    eprintln!(
        "tetsuo socks: listening on socks5://{}",
        listener.local_addr()?
    );
    let server = builder.build();
    let mut signals = Signals::new()?;
    tokio::select! {
        result = server.serve(listener) => result?,
        signal = async {
            loop {
                if let Signal::Stop = signals.next().await? {
                    return anyhow::Ok(());
                }
            }
        } => signal?,
    }
    Ok(())
}
