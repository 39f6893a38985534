//! `tetsuo echo` and, until HTTP lands, `tetsuo serve`: echo services.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tetsuo::net::{TcpListenerBuilder, UdpBuilder};
use tokio::io::AsyncWriteExt;

/// Arguments of `tetsuo echo`.
#[derive(Debug, Args)]
pub(crate) struct EchoArgs {
    /// Address to listen on (repeatable); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: Vec<SocketAddr>,
    /// Echo UDP datagrams instead of TCP streams.
    #[arg(long, conflicts_with = "unix")]
    udp: bool,
    /// Listen on this Unix socket path (or @name for a Linux abstract name)
    /// instead of TCP; a stale socket file is replaced.
    #[arg(long, value_name = "PATH")]
    unix: Option<String>,
}

/// Arguments of `tetsuo serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (repeatable); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: Vec<SocketAddr>,
}

/// `tetsuo serve`: HTTP is not built yet, so this serves TCP echo and says so.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    eprintln!("tetsuo serve: HTTP is not available yet; serving TCP echo instead");
    run(EchoArgs {
        listen: args.listen,
        udp: false,
        unix: None,
    })
    .await
}

/// Runs the echo service until SIGINT or SIGTERM.
pub(crate) async fn run(args: EchoArgs) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut cleanup = None;
    if let Some(path) = &args.unix {
        cleanup = serve_unix(&mut tasks, path)?;
    } else {
        for addr in &args.listen {
            if args.udp {
                let sock = UdpBuilder::new(*addr).bind()?;
                eprintln!("tetsuo echo: listening on udp://{}", sock.local_addr()?);
                tasks.spawn(echo_datagrams(sock));
            } else {
                let listener = TcpListenerBuilder::new(*addr).nodelay(true).bind()?;
                eprintln!("tetsuo echo: listening on tcp://{}", listener.local_addr()?);
                tasks.spawn(async move {
                    loop {
                        match listener.accept().await {
                            Ok((stream, _)) => {
                                tokio::spawn(echo_stream(stream));
                            }
                            // Out of descriptors or a connection reset before
                            // accept: keep serving the others.
                            Err(e) => eprintln!("tetsuo echo: accept: {e}"),
                        }
                    }
                });
            }
        }
    }
    let outcome = tokio::select! {
        done = tasks.join_next() => match done {
            Some(Ok(result)) => result,
            Some(Err(e)) => Err(e.into()),
            None => Ok(()),
        },
        signal = shutdown_signal() => signal,
    };
    if let Some(file) = cleanup {
        let _ = std::fs::remove_file(file);
    }
    outcome
}

/// Echoes one stream until the peer half-closes, then closes our side.
async fn echo_stream<S>(stream: S) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    tokio::io::copy(&mut reader, &mut writer).await?;
    writer.shutdown().await
}

async fn echo_datagrams(sock: tokio::net::UdpSocket) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await.context("receive datagram")?;
        // A peer that vanished (ICMP unreachable) must not stop the service.
        if let Err(e) = sock.send_to(&buf[..n], from).await {
            eprintln!("tetsuo echo: send to {from}: {e}");
        }
    }
}

/// Starts the Unix echo listener; returns the socket file to remove at exit.
#[cfg(unix)]
fn serve_unix(
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    spec: &str,
) -> anyhow::Result<Option<PathBuf>> {
    let (listener, file) = bind_unix(spec)?;
    eprintln!("tetsuo echo: listening on unix:{spec}");
    tasks.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.context("accept")?;
            tokio::spawn(echo_stream(stream));
        }
    });
    Ok(file)
}

#[cfg(not(unix))]
fn serve_unix(
    _: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    _: &str,
) -> anyhow::Result<Option<PathBuf>> {
    anyhow::bail!("Unix domain sockets are not available on this platform")
}

/// Binds a Unix listener, replacing a socket file nobody listens on any more.
/// Returns the file to remove at exit.
#[cfg(unix)]
fn bind_unix(spec: &str) -> anyhow::Result<(tokio::net::UnixListener, Option<PathBuf>)> {
    use std::os::unix::fs::FileTypeExt;
    use tetsuo::net::{UnixAddr, unix};

    let addr: UnixAddr = spec.parse()?;
    let file = match &addr {
        UnixAddr::Path(path) => Some(path.clone()),
        UnixAddr::Abstract(_) => None,
    };
    if let Some(path) = &file {
        let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
        if is_socket && unix::connect_blocking(&addr).is_err_and(|e| e.is_refused()) {
            std::fs::remove_file(path)
                .with_context(|| format!("remove stale {}", path.display()))?;
        }
    }
    Ok((unix::bind(&addr)?, file))
}

/// Resolves on SIGINT or SIGTERM.
#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("wait for SIGINT"),
        _ = term.recv() => Ok(()),
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")
}
