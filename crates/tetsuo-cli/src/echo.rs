//! `tetsuo echo` and, until HTTP lands, `tetsuo serve`: echo services over
//! TCP, TLS, UDP and Unix sockets.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tetsuo::net::{TcpListenerBuilder, UdpBuilder};
use tetsuo::tls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::signals::{Signal, Signals};
use crate::tls::ServerTlsArgs;

/// Arguments of `tetsuo echo`.
#[derive(Debug, Args)]
pub(crate) struct EchoArgs {
    /// Address to listen on (repeatable); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: Vec<SocketAddr>,
    /// Echo UDP datagrams instead of TCP streams.
    #[arg(long, conflicts_with_all = ["unix", "tls"])]
    udp: bool,
    /// Listen on this Unix socket path (or @name for a Linux abstract name)
    /// instead of TCP; a stale socket file is replaced.
    #[arg(long, value_name = "PATH")]
    unix: Option<String>,
    /// Speak TLS on the TCP listeners (SIGHUP reloads --cert/--key/--ocsp-response).
    #[arg(long)]
    tls: bool,
    #[command(flatten)]
    tls_args: ServerTlsArgs,
}

const ECHO: &str = "tetsuo echo";

/// Runs the echo service until SIGINT or SIGTERM.
pub(crate) async fn run(args: EchoArgs) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    let mut cleanup = None;
    let acceptor = if args.tls {
        Some(args.tls_args.acceptor(ECHO)?)
    } else {
        None
    };
    if let Some(path) = &args.unix {
        cleanup = serve_unix(&mut tasks, path, acceptor.clone())?;
    } else {
        for addr in &args.listen {
            if args.udp {
                let sock = UdpBuilder::new(*addr).bind()?;
                eprintln!("{ECHO}: listening on udp://{}", sock.local_addr()?);
                tasks.spawn(echo_datagrams(sock));
            } else {
                spawn_tcp(&mut tasks, *addr, acceptor.clone(), ECHO)?;
            }
        }
    }
    supervise(tasks, acceptor.map(|a| (a, args.tls_args)), cleanup, ECHO).await
}

/// Waits for a listener to fail or a signal to stop; reloads TLS material
/// on SIGHUP. Removes `cleanup` (a socket file) on the way out.
async fn supervise(
    mut tasks: JoinSet<anyhow::Result<()>>,
    tls: Option<(TlsAcceptor, ServerTlsArgs)>,
    cleanup: Option<PathBuf>,
    who: &str,
) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let outcome = loop {
        tokio::select! {
            done = tasks.join_next() => break match done {
                Some(Ok(result)) => result,
                Some(Err(e)) => Err(e.into()),
                None => Ok(()),
            },
            signal = signals.next() => match signal? {
                Signal::Stop => break Ok(()),
                Signal::Reload => if let Some((acceptor, args)) = &tls {
                    match args.reload(acceptor, who) {
                        Ok(true) => eprintln!("{who}: reloaded certificate, key and OCSP response"),
                        Ok(false) => eprintln!("{who}: nothing to reload (generated certificate)"),
                        // A bad file must not take the running service down.
                        Err(e) => eprintln!("{who}: reload failed, keeping the old certificate: {e:#}"),
                    }
                },
            },
        }
    };
    if let Some(file) = cleanup {
        let _ = std::fs::remove_file(file);
    }
    outcome
}

/// Listens on `addr` and echoes every connection, after a TLS handshake when
/// `tls` is given.
fn spawn_tcp(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    who: &'static str,
) -> anyhow::Result<()> {
    let listener = TcpListenerBuilder::new(addr).nodelay(true).bind()?;
    let scheme = if tls.is_some() { "tls" } else { "tcp" };
    eprintln!("{who}: listening on {scheme}://{}", listener.local_addr()?);
    tasks.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) if tls.is_none() => {
                    tokio::spawn(async move {
                        if let Err(e) = echo_tcp(stream).await
                            && !matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionReset
                                    | std::io::ErrorKind::BrokenPipe
                            )
                        {
                            eprintln!("{who}: {peer}: {e}");
                        }
                    });
                }
                Ok((stream, peer)) => {
                    tokio::spawn(echo_connection(stream, tls.clone(), peer.to_string(), who));
                }
                Err(e) => accept_failed(who, &e).await,
            }
        }
    });
    Ok(())
}

/// Out of descriptors, or a connection reset before accept: say so, pause
/// briefly (so a persistent failure does not spin), and keep serving.
async fn accept_failed(who: &str, e: &std::io::Error) {
    eprintln!("{who}: accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

async fn echo_connection<S>(stream: S, tls: Option<TlsAcceptor>, peer: String, who: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = match tls {
        None => echo_stream(stream).await.map_err(tetsuo::Error::from),
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls) => echo_stream(tls).await.map_err(tetsuo::Error::from),
            Err(e) => Err(e),
        },
    };
    // Peers that simply disconnect are not worth a line.
    if let Err(e) = result
        && !e.is_closed()
    {
        eprintln!("{who}: {peer}: {e}");
    }
}

/// Echoes a plain TCP connection until the peer half-closes, then closes
/// our side. A buffer exists only while there is something to echo: an idle
/// connection holds none (a copy loop would keep its 8 KiB for good).
async fn echo_tcp(mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    loop {
        stream.readable().await?;
        let mut buf = Vec::with_capacity(16 * 1024);
        if stream.read_buf(&mut buf).await? == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf).await?;
    }
}

/// Echoes one stream until the peer half-closes, then closes our side.
async fn echo_stream<S>(stream: S) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite,
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
            eprintln!("{ECHO}: send to {from}: {e}");
        }
    }
}

/// Starts the Unix echo listener; returns the socket file to remove at exit.
#[cfg(unix)]
fn serve_unix(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    spec: &str,
    tls: Option<TlsAcceptor>,
) -> anyhow::Result<Option<PathBuf>> {
    let (listener, file) = bind_unix(spec)?;
    eprintln!("{ECHO}: listening on unix:{spec}");
    tasks.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let peer = "unix peer".to_owned();
                    tokio::spawn(echo_connection(stream, tls.clone(), peer, ECHO));
                }
                Err(e) => accept_failed(ECHO, &e).await,
            }
        }
    });
    Ok(file)
}

#[cfg(not(unix))]
fn serve_unix(
    _: &mut JoinSet<anyhow::Result<()>>,
    _: &str,
    _: Option<TlsAcceptor>,
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
