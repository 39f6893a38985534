//! `tetsuo connect`: stdin to a TCP (or TLS) connection, the connection to
//! stdout.

use anyhow::Context;
use clap::Args;
use tetsuo::connect::{Connector, Target};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, copy};

use crate::pipeline::PipelineArgs;
use crate::tls::ClientTlsArgs;

/// Arguments of `tetsuo connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Where to connect: HOST:PORT (IPv6 literals in brackets, e.g. `[::1]:7000`).
    target: String,
    /// Give up after this many seconds to resolve and connect (all
    /// addresses race; Happy Eyeballs).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Tell the connection story on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// Connects through the connect pipeline (resolution, Happy Eyeballs,
/// proxies, TLS), then copies stdin to the connection and the connection
/// to stdout. At the end of stdin the sending side is shut down (a TCP
/// half-close) and output continues until the peer closes.
pub(crate) async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let timeout = crate::positive_secs(args.connect_timeout, "--connect-timeout")?;
    let (host, port) = split_target(&args.target)?;
    let mut connector = Connector::builder()
        .proxies(args.pipeline.proxies()?)
        .overrides(args.pipeline.overrides()?)
        .connect_timeout(Some(timeout));
    let target = if args.tls.tls {
        // TLS settings are checked before any connection is made.
        connector = connector.tls(args.tls.connector()?);
        let target = Target::tls(host, port);
        match &args.tls.sni {
            Some(name) => target.server_name(name.clone()),
            None => target,
        }
    } else {
        Target::tcp(host, port)
    };
    let (stream, info) = connector.build().connect_to(&target).await?;
    if args.verbose {
        crate::pipeline::tell(&info);
        if let Some(info) = stream.tls_info() {
            eprintln!("* server name {}", info.server_name().unwrap_or("none"));
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
    }
    pump(stream, args.verbose).await
}

/// HOST:PORT (IPv6 in brackets) to its parts.
fn split_target(target: &str) -> anyhow::Result<(String, u16)> {
    let parsed = target
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty());
    let (host, port) = parsed.with_context(|| format!("{target:?} is not HOST:PORT"))?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6,
        None if host.contains(':') => {
            anyhow::bail!("{target:?}: put an IPv6 address in brackets ([::1]:PORT)")
        }
        None => host,
    };
    Ok((host.to_owned(), port))
}

/// How long stdin may still be sent once the peer has closed its side.
const UPLOAD_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies stdin to `stream` and `stream` to stdout, half-closing at the end
/// of stdin, until the peer closes (and stdin's input ready by then is sent).
async fn pump<S>(stream: S, verbose: bool) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut from_peer, mut to_peer) = tokio::io::split(stream);
    let mut upload = tokio::spawn(async move {
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
    } else if tokio::time::timeout(UPLOAD_GRACE, &mut upload)
        .await
        .is_err()
    {
        // The peer closed its side first. Input already on stdin still
        // goes out (a half-closed peer may read it) within a grace period,
        // as with socat's -t; a stdin that stays open (a terminal) does not
        // hold the exit. What the upload meets now (the peer gone
        // altogether) is no error of ours.
        upload.abort();
    }
    if verbose {
        eprintln!("* connection closed by peer");
    }
    Ok(())
}
