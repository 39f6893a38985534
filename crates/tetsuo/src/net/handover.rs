//! Zero-downtime restarts: a running process hands its listening sockets to
//! its successor over a Unix socket, so no connection is refused while one
//! process replaces the other.
//!
//! The old process serves [`Handover::bind`] at a path and, in
//! [`Handover::give`], waits for a successor. The new process calls
//! [`take`] on the same path: it receives the listeners (each with the name
//! the old process gave it, such as its address), starts accepting on
//! them, and calls [`Taken::ready`]; `give` then returns and the old
//! process drains and exits, while the new one binds the path for the next
//! restart. Connections waiting in the listen queue are never lost: both
//! processes hold the same sockets.
//!
//! ```no_run
//! # async fn demo() -> tetsuo::Result<()> {
//! use std::os::fd::AsFd;
//! use tetsuo::net::handover::{self, Handover};
//!
//! let path = "/run/myapp/upgrade.sock";
//! // A successor takes the listeners of the running process, if there is one.
//! let listener = match handover::take(path).await? {
//!     Some(mut taken) => {
//!         let (_name, fd) = taken.listeners.remove(0);
//!         let listener = std::net::TcpListener::from(fd);
//!         listener.set_nonblocking(true).unwrap();
//!         let listener = tokio::net::TcpListener::from_std(listener).unwrap();
//!         // ... start serving on `listener`, then:
//!         taken.ready().await?;
//!         listener
//!     }
//!     None => tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap(),
//! };
//! // Later, when the next version asks, give the listener away and drain.
//! let handover = Handover::bind(path)?;
//! handover.give(&[("127.0.0.1:8080", listener.as_fd())]).await?;
//! # Ok(()) }
//! ```

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::fd::{recv_fds, send_fds};
use crate::{Error, ErrorKind, Result};

const TAKE: &[u8] = b"TAKE\n";
const READY: &[u8] = b"READY\n";
const BYE: &[u8] = b"BYE\n";
/// The most bytes the list of names may take.
const MAX_NAMES: usize = 64 * 1024;
/// The longest either side waits for the other at one step.
const STEP: std::time::Duration = std::time::Duration::from_secs(10);

fn protocol(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, "hand listeners over").with_detail(detail)
}

/// The old process's side: a Unix socket where a successor asks for the
/// listeners.
#[derive(Debug)]
pub struct Handover {
    listener: UnixListener,
    path: PathBuf,
}

impl Handover {
    /// Listens at `path` (a socket file left by a process that exited is
    /// replaced).
    pub fn bind(path: impl AsRef<Path>) -> Result<Handover> {
        use std::os::unix::fs::FileTypeExt;
        let path = path.as_ref();
        let stale = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
            && std::os::unix::net::UnixStream::connect(path)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        if stale {
            // A socket nobody listens on any more (never another file).
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| Error::io("listen for a hand-over at", e).with_path(path))?;
        Ok(Handover {
            listener,
            path: path.to_owned(),
        })
    }

    /// The path it listens at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for a successor, sends it `listeners` (a name each, then the
    /// descriptors), and returns once it says it is serving on them: the
    /// caller then stops accepting, drains and exits. A connection that
    /// does not follow the protocol is dropped and the wait goes on.
    pub async fn give(self, listeners: &[(&str, BorrowedFd<'_>)]) -> Result<()> {
        loop {
            let mut stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of descriptors, say: try again shortly.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            // A peer that stalls cannot hold the hand-over up for long.
            match tokio::time::timeout(STEP, Self::serve(&mut stream, listeners)).await {
                Ok(Ok(())) => {
                    // The successor answers at the path next.
                    return Ok(());
                }
                Ok(Err(_)) | Err(_) => continue,
            }
        }
    }

    async fn serve(stream: &mut UnixStream, listeners: &[(&str, BorrowedFd<'_>)]) -> Result<()> {
        let mut ask = [0u8; TAKE.len()];
        stream
            .read_exact(&mut ask)
            .await
            .map_err(|e| Error::io("read a hand-over request", e))?;
        if ask != TAKE {
            return Err(protocol("not a hand-over request"));
        }
        let mut names = format!("{}\n", listeners.len());
        for (name, _) in listeners {
            if name.contains('\n') {
                return Err(Error::new(ErrorKind::InvalidInput, "hand listeners over")
                    .with_detail("a listener's name holds a newline"));
            }
            names.push_str(name);
            names.push('\n');
        }
        let fds: Vec<BorrowedFd<'_>> = listeners.iter().map(|(_, fd)| *fd).collect();
        // The names and the descriptors in one message.
        let sent = send_fds(stream, names.as_bytes(), &fds).await?;
        if sent < names.len() {
            stream
                .write_all(&names.as_bytes()[sent..])
                .await
                .map_err(|e| Error::io("send the listeners' names", e))?;
        }
        let mut ready = [0u8; READY.len()];
        stream
            .read_exact(&mut ready)
            .await
            .map_err(|e| Error::io("wait for the successor", e))?;
        if ready != READY {
            return Err(protocol("the successor did not say it was ready"));
        }
        stream
            .write_all(BYE)
            .await
            .map_err(|e| Error::io("say goodbye to the successor", e))?;
        Ok(())
    }
}

/// The successor's side: the listeners it took.
#[derive(Debug)]
pub struct Taken {
    /// Each listener with the name the old process gave it.
    pub listeners: Vec<(String, OwnedFd)>,
    stream: UnixStream,
}

/// Asks the process behind `path` for its listeners. `Ok(None)` if nobody
/// listens there (a first start: bind as usual).
pub async fn take(path: impl AsRef<Path>) -> Result<Option<Taken>> {
    let path = path.as_ref();
    match tokio::time::timeout(STEP, take_inner(path)).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(ErrorKind::Timeout, "ask for listeners at")
            .with_path(path)
            .with_detail("the running process did not answer")),
    }
}

async fn take_inner(path: &Path) -> Result<Option<Taken>> {
    let mut stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Error::io("ask for listeners at", e).with_path(path)),
    };
    stream
        .write_all(TAKE)
        .await
        .map_err(|e| Error::io("ask for listeners at", e).with_path(path))?;
    let mut fds = Vec::new();
    let mut names = Vec::new();
    let mut buf = vec![0u8; 4096];
    // The count line, then as many names.
    let expected = loop {
        let n = recv_fds(&stream, &mut buf, &mut fds).await?;
        if n == 0 {
            return Err(protocol("the running process closed the hand-over"));
        }
        names.extend_from_slice(&buf[..n]);
        if names.len() > MAX_NAMES {
            return Err(protocol("the list of names is too long"));
        }
        let text = String::from_utf8_lossy(&names);
        let mut lines = text.split('\n');
        if let Some(count) = lines.next()
            && text.contains('\n')
        {
            let count: usize = count
                .parse()
                .map_err(|_| protocol("the listener count is not a number"))?;
            if text.matches('\n').count() > count {
                break count;
            }
        }
    };
    let text = String::from_utf8_lossy(&names).into_owned();
    let names: Vec<String> = text
        .split('\n')
        .skip(1)
        .take(expected)
        .map(str::to_owned)
        .collect();
    if fds.len() != expected || names.len() != expected {
        return Err(protocol(format!(
            "expected {expected} listeners, got {} descriptors and {} names",
            fds.len(),
            names.len()
        )));
    }
    Ok(Some(Taken {
        listeners: names.into_iter().zip(fds).collect(),
        stream,
    }))
}

impl Taken {
    /// Tells the old process this one is serving: it stops accepting and
    /// drains. Returns once it acknowledged, so that the path can be bound
    /// for the next hand-over.
    pub async fn ready(mut self) -> Result<()> {
        self.stream
            .write_all(READY)
            .await
            .map_err(|e| Error::io("tell the old process to go", e))?;
        let mut bye = [0u8; BYE.len()];
        match tokio::time::timeout(STEP, self.stream.read_exact(&mut bye)).await {
            Ok(Ok(_)) if bye == BYE => Ok(()),
            Ok(Ok(_)) => Err(protocol("the old process did not say goodbye")),
            Ok(Err(e)) => Err(Error::io("wait for the old process's goodbye", e)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                "wait for the old process's goodbye",
            )),
        }
    }
}

/// Listeners a supervisor created and passed as systemd does
/// (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`; descriptors from 3 on),
/// with their names (`None` where none was given). Empty when the
/// variables are absent or meant for another process.
pub fn activated() -> Result<Vec<(Option<String>, OwnedFd)>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let (Some(pid), Some(count)) = (pid, count) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let count: usize = count.trim().parse().map_err(|_| {
        Error::new(ErrorKind::InvalidInput, "take activated listeners")
            .with_detail("LISTEN_FDS is not a number")
    })?;
    // listenfd (what systemfd and cargo-watch use) turns the descriptors
    // 3.. into owned sockets, checking that each is a listening socket.
    let mut fds = listenfd::ListenFd::from_env();
    let names: Vec<Option<String>> = match names {
        Some(n) => n.split(':').map(|s| Some(s.to_owned())).collect(),
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let fd = take_fd(&mut fds, i)?;
        out.push((names.get(i).cloned().flatten(), fd));
    }
    // The variables stay (removing them is unsafe once threads run):
    // LISTEN_PID names this process only, so children ignore them.
    Ok(out)
}

fn take_fd(fds: &mut listenfd::ListenFd, i: usize) -> Result<OwnedFd> {
    let not_a_socket = || {
        Error::new(ErrorKind::InvalidInput, "take activated listeners")
            .with_detail(format!("descriptor {} is not a listening socket", i + 3))
    };
    if let Ok(Some(l)) = fds.take_tcp_listener(i) {
        return Ok(OwnedFd::from(l));
    }
    if let Ok(Some(l)) = fds.take_unix_listener(i) {
        return Ok(OwnedFd::from(l));
    }
    Err(not_a_socket())
}
