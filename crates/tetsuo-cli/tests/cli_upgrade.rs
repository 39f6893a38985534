//! Zero-downtime restart: a new `tetsuo serve --upgrade-socket` takes the
//! listeners of the running one, which drains and exits, while a client
//! keeps sending requests — none fails; and socket activation by systemd's
//! own `systemd-socket-activate`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::Server;

/// One request on a fresh connection: whether a 200 came back whole.
fn hello(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).is_ok()
        && out.starts_with(b"HTTP/1.1 200 OK\r\n")
        && out.ends_with(b"Hello, World!")
}

#[test]
fn a_successor_takes_the_listeners_and_no_request_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("upgrade.sock");
    let sock = sock.to_str().unwrap();
    let mut old = Server::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upgrade-socket",
        sock,
        "--drain-timeout",
        "5",
    ]);
    let addr = old.addr();
    // Requests all along, each on a new connection.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if hello(addr) {
                    ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // (--listen 127.0.0.1:0: a failed take-over must not bind a real port.)
    let new = Server::start(&["serve", "--listen", "127.0.0.1:0", "--upgrade-socket", sock]);
    assert_eq!(new.addr(), addr, "the same listener, taken over");
    // The old process drains and exits by itself.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = old.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the old process did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(300));
    // And the new one can hand over again.
    let newer = Server::start(&["serve", "--listen", "127.0.0.1:0", "--upgrade-socket", sock]);
    assert_eq!(newer.addr(), addr);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert!(ok > 20, "{ok} requests");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    drop(new);
}

#[test]
fn systemd_socket_activation() {
    let tool = which("systemd-socket-activate")
        .expect("systemd-socket-activate is needed (apt-get install systemd)");
    // A free port for the supervisor to bind.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(tool)
        .args(["-l", &listen, support::BIN, "serve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = listen.parse().unwrap();
    // The supervisor listens at once; tetsuo starts on the first connection.
    let served = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        hello(addr)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(served, "no answer through the activated listener");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
