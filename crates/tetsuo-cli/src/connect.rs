//! `tetsuo connect`: stdin to a TCP (or TLS) connection, the connection to
//! stdout.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use tetsuo::net::TcpConnector;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, copy};

use crate::tls::ClientTlsArgs;

/// Arguments of `tetsuo connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Where to connect: HOST:PORT (IPv6 literals in brackets, e.g. `[::1]:7000`).
    target: String,
    /// Give up connecting after this many seconds (per address tried).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Tell the connection story on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// Resolves the target, connects to its addresses in turn, then copies
/// stdin to the connection and the connection to stdout. At the end of stdin
/// the sending side is shut down (a TCP half-close) and output continues
/// until the peer closes.
pub(crate) async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let timeout = crate::positive_secs(args.connect_timeout, "--connect-timeout")?;
    let addrs = resolve(&args.target).await?;
    if args.verbose {
        let list: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        eprintln!("* resolved {} to {}", args.target, list.join(", "));
    }
    // TLS settings are checked before any connection is made.
    let tls = if args.tls.tls {
        Some(args.tls.connector()?)
    } else {
        None
    };
    let connector = TcpConnector::new().nodelay(true).connect_timeout(timeout);
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        if args.verbose {
            eprintln!("* connecting to {addr}");
        }
        match connector.connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                if args.verbose {
                    eprintln!("* {e}");
                }
                last_error = Some(e);
            }
        }
    }
    let stream = match (stream, last_error) {
        (Some(stream), _) => stream,
        (None, Some(e)) => return Err(e.into()),
        (None, None) => anyhow::bail!("{} resolved to no addresses", args.target),
    };
    if args.verbose {
        eprintln!(
            "* connected to {} from {}",
            stream.peer_addr().context("read peer address")?,
            stream.local_addr().context("read local address")?
        );
    }

    let Some(connector) = tls else {
        return pump(stream, args.verbose).await;
    };
    let name = match &args.tls.sni {
        Some(name) => name.clone(),
        None => host_of(&args.target).to_owned(),
    };
    let tls = connector.connect(&name, stream).await?;
    if args.verbose {
        let info = tls.info();
        let alpn = info.alpn_protocol().map(String::from_utf8_lossy);
        eprintln!(
            "* TLS {} {} ALPN {} server name {} resumed {}",
            info.version(),
            info.cipher_suite(),
            alpn.as_deref().unwrap_or("none"),
            info.server_name().unwrap_or("none"),
            if info.is_resumed() { "yes" } else { "no" },
        );
        match info.ocsp_response() {
            Some(der) if info.ocsp_verified() => {
                eprintln!(
                    "* OCSP staple: {} bytes, verified: certificate good",
                    der.len()
                )
            }
            Some(der) => eprintln!("* OCSP staple: {} bytes, not verified", der.len()),
            None => eprintln!("* OCSP staple: none"),
        }
    }
    pump(tls, args.verbose).await
}

/// Copies stdin to `stream` and `stream` to stdout, half-closing at the end
/// of stdin, until the peer closes.
async fn pump<S>(stream: S, verbose: bool) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut from_peer, mut to_peer) = tokio::io::split(stream);
    let upload = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let sent = copy(&mut stdin, &mut to_peer).await;
        // Half-close: the peer sees end of stream and can finish its answer.
        let _ = to_peer.shutdown().await;
        sent
    });
    let mut stdout = tokio::io::stdout();
    let received = copy(&mut from_peer, &mut stdout).await;
    stdout.flush().await.context("write to stdout")?;
    // A TLS failure after the handshake (say, a rejected client
    // certificate) arrives here as an I/O error: classify it.
    received.map_err(tetsuo::Error::from)?;
    if upload.is_finished() {
        upload
            .await
            .context("stdin task")?
            .map_err(tetsuo::Error::from)?;
    } else {
        // The peer closed first; stdin is still open. Nothing more can be sent.
        upload.abort();
    }
    if verbose {
        eprintln!("* connection closed by peer");
    }
    Ok(())
}

/// The host part of HOST:PORT, without IPv6 brackets.
fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// HOST:PORT to addresses, through the system resolver.
async fn resolve(target: &str) -> anyhow::Result<Vec<SocketAddr>> {
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (host, port) = target
        .rsplit_once(':')
        .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        .with_context(|| format!("{target:?} is not HOST:PORT"))?;
    match tokio::net::lookup_host(target).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(e) => Err(ResolveError(format!("could not resolve {host} (port {port}): {e}")).into()),
    }
}

/// Name resolution failed (exit code 6, as curl).
#[derive(Debug)]
pub(crate) struct ResolveError(String);

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResolveError {}
