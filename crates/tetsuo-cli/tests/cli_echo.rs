//! `tetsuo echo`, `tetsuo serve` and `tetsuo connect`, run as the user runs
//! them: as processes.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use support::{BIN, Server, connect};

#[test]
fn connect_round_trips_through_tcp_echo() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let v4 = server.addr().to_string();
    let out = connect(&[&v4], b"abc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"abc");

    // A larger payload, written before anything is read back, survives too.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let out = connect(&[&v4], &payload);
    assert!(out.status.success());
    assert_eq!(out.stdout, payload);
}

#[test]
fn connect_still_sends_stdin_to_a_peer_that_closed_its_side_first() {
    // A peer like `nc -l -N`: it greets, shuts down its sending side at
    // once, and reads what comes until the end. Many rounds: the input is
    // ready on stdin, but the peer's end of stream often arrives first.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let rounds = 20;
    let peer = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..rounds {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"greeting").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut heard = Vec::new();
            s.read_to_end(&mut heard).unwrap();
            got.push(heard);
        }
        got
    });
    for _ in 0..rounds {
        let out = connect(&[&addr], b"from tetsuo");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"greeting");
    }
    for heard in peer.join().unwrap() {
        assert_eq!(heard, b"from tetsuo");
    }
}

#[test]
fn echo_listens_on_every_address_given() {
    let server = Server::start(&["echo", "--listen", "[::1]:0"]);
    let addr = server.addr();
    assert!(addr.is_ipv6());
    let out = connect(&["-v", &addr.to_string()], b"six");
    assert_eq!(out.stdout, b"six");
    let story = String::from_utf8(out.stderr).unwrap();
    assert!(story.contains(&format!("* connected to {addr}")), "{story}");
}

#[test]
fn udp_echo_answers_datagrams() {
    let server = Server::start(&["echo", "--udp", "--listen", "127.0.0.1:0"]);
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(b"datagram", server.addr()).unwrap();
    let mut buf = [0; 32];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"datagram"[..], server.addr()));
}

#[test]
fn unix_echo_replaces_a_stale_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    // A socket file left behind by a process that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let _server = Server::start(&["echo", "--unix", path.to_str().unwrap()]);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream.write_all(b"local").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"local");
}

#[test]
fn refused_connection_is_one_line_and_exit_7() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = connect(&[&addr.to_string()], b"");
    assert_eq!(out.status.code(), Some(7));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!("tetsuo: connect to {addr}: connection refused\n")
    );
}

#[test]
fn connect_timeout_is_one_line_and_exit_28() {
    // A listener with a full accept queue leaves SYNs unanswered.
    let listener = tetsuo::net::TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .backlog(0)
        .bind_blocking()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let probe = tetsuo::net::TcpConnector::new().connect_timeout(Duration::from_millis(200));
    let mut queued = Vec::new();
    loop {
        match probe.connect_blocking(addr) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.is_timeout() => break,
            Err(e) => panic!("{e}"),
        }
        assert!(queued.len() < 16, "accept queue never filled");
    }
    let out = connect(&["--connect-timeout", "0.5", &addr.to_string()], b"");
    assert_eq!(out.status.code(), Some(28));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!("tetsuo: connect to {addr}: not connected within 500ms: {addr} (no answer)\n")
    );
}

#[test]
fn connect_goes_through_proxies_and_tells_the_story() {
    let echo = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let socks = Server::start(&["socks", "--listen", "127.0.0.1:0"]);
    let hops = socks.endpoint.replace("socks5://", "socks4a://");
    let target = format!("localhost:{}", echo.addr().port());
    let out = connect(&["-v", "--proxy", &hops, &target], b"through socks4a");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"through socks4a");
    let story = String::from_utf8(out.stderr).unwrap();
    assert!(
        story.contains(&format!("tunnel through {hops} to {target}")),
        "{story}"
    );

    // A SOCKS server that refuses the destination: exit 97, one line.
    let strict = Server::start(&["socks", "--listen", "127.0.0.1:0", "--deny", "127.0.0.0/8"]);
    let out = connect(&["--proxy", &strict.endpoint, &target], b"");
    assert_eq!(out.status.code(), Some(97), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("not allowed by ruleset") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn help_documents_the_subcommands() {
    for sub in ["echo", "connect", "serve", "get", "socks"] {
        let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Usage: tetsuo"), "{help}");
    }
    let out = Command::new(BIN)
        .arg("echo")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--listen", "--udp", "--unix"] {
        assert!(help.contains(flag), "{flag} missing from: {help}");
    }
}
