//! TCP builders on loopback: every option is read back from the kernel.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use socket2::SockRef;
use tetsuo::ErrorKind;
use tetsuo::net::{Keepalive, TcpConnector, TcpListenerBuilder, linux};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::{loopbacks, unanswering_listener};

const SNDBUF: usize = 32 * 1024;
const RCVBUF: usize = 48 * 1024;

fn keepalive() -> Keepalive {
    Keepalive::new()
        .idle(Duration::from_secs(30))
        .interval(Duration::from_secs(7))
        .count(4)
}

/// The congestion control algorithm's name, without the kernel's NUL padding.
fn congestion(sock: &SockRef<'_>) -> String {
    let raw = sock.tcp_congestion().unwrap();
    String::from_utf8(raw.into_iter().take_while(|&b| b != 0).collect()).unwrap()
}

/// Asserts the options shared by listeners and connections.
fn assert_common(sock: &SockRef<'_>, label: &str) {
    assert!(sock.tcp_nodelay().unwrap(), "{label}: TCP_NODELAY");
    assert!(sock.keepalive().unwrap(), "{label}: SO_KEEPALIVE");
    assert_eq!(
        sock.tcp_keepalive_time().unwrap(),
        Duration::from_secs(30),
        "{label}: KEEPIDLE"
    );
    assert_eq!(
        sock.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(7),
        "{label}"
    );
    assert_eq!(sock.tcp_keepalive_retries().unwrap(), 4, "{label}: KEEPCNT");
    // Linux doubles the request to account for bookkeeping.
    assert_eq!(
        sock.send_buffer_size().unwrap(),
        2 * SNDBUF,
        "{label}: SO_SNDBUF"
    );
    assert_eq!(
        sock.recv_buffer_size().unwrap(),
        2 * RCVBUF,
        "{label}: SO_RCVBUF"
    );
    assert_eq!(
        sock.linger().unwrap(),
        Some(Duration::from_secs(5)),
        "{label}: SO_LINGER"
    );
    assert_eq!(
        sock.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(9)),
        "{label}"
    );
    assert_eq!(
        sock.device().unwrap().as_deref(),
        Some(&b"lo"[..]),
        "{label}: BINDTODEVICE"
    );
    assert_eq!(congestion(sock), "reno", "{label}: TCP_CONGESTION");
}

#[tokio::test]
async fn listener_options_are_set_on_v4_and_v6() {
    for addr in loopbacks() {
        let listener = TcpListenerBuilder::new(addr)
            .nodelay(true)
            .keepalive(keepalive())
            .send_buffer_size(SNDBUF)
            .recv_buffer_size(RCVBUF)
            .linger(Some(Duration::from_secs(5)))
            .reuse_address(true)
            .reuse_port(true)
            .only_v6(true)
            .user_timeout(Duration::from_secs(9))
            .bind_device("lo")
            .congestion("reno")
            .fastopen(32)
            .defer_accept(Duration::from_secs(3))
            .backlog(64)
            .bind()
            .unwrap();
        let label = format!("listener {addr}");
        let sock = SockRef::from(&listener);
        assert_common(&sock, &label);
        assert!(sock.reuse_address().unwrap(), "{label}: SO_REUSEADDR");
        assert!(sock.reuse_port().unwrap(), "{label}: SO_REUSEPORT");
        assert_eq!(
            linux::fastopen(&listener).unwrap(),
            32,
            "{label}: TCP_FASTOPEN"
        );
        // The kernel rounds the timeout up to whole SYN-ACK retransmissions.
        assert!(
            linux::defer_accept(&listener).unwrap() >= Duration::from_secs(3),
            "{label}"
        );
        if addr.is_ipv6() {
            assert!(sock.only_v6().unwrap(), "{label}: IPV6_V6ONLY");
        }

        // Accepted connections inherit the listener's options.
        let bound = listener.local_addr().unwrap();
        let client = TcpConnector::new().connect(bound).await.unwrap();
        // TCP_DEFER_ACCEPT holds the connection back until data arrives.
        let mut client = client;
        client.write_all(b"x").await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let accepted_sock = SockRef::from(&accepted);
        assert!(
            accepted_sock.tcp_nodelay().unwrap(),
            "{label}: accepted TCP_NODELAY"
        );
        assert!(
            accepted_sock.keepalive().unwrap(),
            "{label}: accepted SO_KEEPALIVE"
        );
        assert_eq!(congestion(&accepted_sock), "reno", "{label}: accepted CC");
    }
}

#[test]
fn dual_stack_is_controlled_by_only_v6() {
    // A v4-mapped IPv6 address on loopback: with IPV6_V6ONLY off, an IPv6
    // socket serves an IPv4 client.
    let mapped = "[::ffff:127.0.0.1]:0".parse().unwrap();
    let listener = TcpListenerBuilder::new(mapped)
        .only_v6(false)
        .bind_blocking()
        .unwrap();
    assert!(!SockRef::from(&listener).only_v6().unwrap());
    let port = listener.local_addr().unwrap().port();
    let v4 = TcpConnector::new()
        .connect_blocking(([127, 0, 0, 1], port).into())
        .unwrap();
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(
        peer.to_string(),
        format!("[::ffff:127.0.0.1]:{}", v4.local_addr().unwrap().port())
    );

    // With it on, the same bind is refused by the kernel.
    let err = TcpListenerBuilder::new(mapped)
        .only_v6(true)
        .bind_blocking()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");

    // Binding one specific IPv6 address makes the kernel set V6ONLY itself.
    let listener = TcpListenerBuilder::new("[::1]:0".parse().unwrap())
        .bind_blocking()
        .unwrap();
    assert!(SockRef::from(&listener).only_v6().unwrap());
    // On an IPv4 address the option is ignored rather than an error.
    TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .only_v6(true)
        .bind_blocking()
        .unwrap();
}

#[test]
fn two_listeners_share_a_port_with_reuse_port() {
    let first = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .reuse_port(true)
        .bind_blocking()
        .unwrap();
    let addr = first.local_addr().unwrap();
    let second = TcpListenerBuilder::new(addr)
        .reuse_port(true)
        .bind_blocking()
        .unwrap();
    assert_eq!(second.local_addr().unwrap(), addr);
    // Without SO_REUSEPORT the same bind fails.
    let err = TcpListenerBuilder::new(addr).bind_blocking().unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::AddrInUse
    );
    assert_eq!(err.addr(), Some(addr));
}

#[tokio::test]
async fn connector_options_are_set_on_v4_and_v6() {
    for addr in loopbacks() {
        let listener = TcpListenerBuilder::new(addr).bind().unwrap();
        let target = listener.local_addr().unwrap();
        let local = std::net::SocketAddr::new(target.ip(), 0);
        let connector = TcpConnector::new()
            .reuse_address(true)
            .only_v6(true)
            .nodelay(true)
            .keepalive(keepalive())
            .send_buffer_size(SNDBUF)
            .recv_buffer_size(RCVBUF)
            .linger(Some(Duration::from_secs(5)))
            .user_timeout(Duration::from_secs(9))
            .bind_device("lo")
            .congestion("reno")
            .local_addr(local)
            .connect_timeout(Duration::from_secs(5));
        let stream = connector.connect(target).await.unwrap();
        let label = format!("connection to {target}");
        let sock = SockRef::from(&stream);
        assert_common(&sock, &label);
        assert!(sock.reuse_address().unwrap(), "{label}: SO_REUSEADDR");
        if target.is_ipv6() {
            assert!(sock.only_v6().unwrap(), "{label}: IPV6_V6ONLY");
        }
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());

        let blocking = connector.connect_blocking(target).unwrap();
        assert_common(&SockRef::from(&blocking), &format!("blocking {label}"));
    }
}

#[tokio::test]
async fn fast_open_connect_defers_the_syn_to_the_first_write() {
    let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .fastopen(16)
        .bind()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut stream = TcpConnector::new()
        .fastopen(true)
        .connect(addr)
        .await
        .unwrap();
    assert!(linux::fastopen_connect(&stream).unwrap());
    stream.write_all(b"hello").await.unwrap();
    let (mut accepted, _) = listener.accept().await.unwrap();
    let mut buf = [0; 5];
    accepted.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
}

#[tokio::test]
async fn unknown_congestion_algorithm_is_unsupported() {
    let err = TcpConnector::new()
        .congestion("tetsuo-no-such-algorithm")
        .connect("127.0.0.1:9".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string().contains("tetsuo-no-such-algorithm"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn refused_connection_is_typed() {
    // Bind a port, then close it: nothing listens there any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = TcpConnector::new().connect(addr).await.unwrap_err();
    assert!(err.is_refused(), "{err:?}");
    assert_eq!(err.addr(), Some(addr));
    assert_eq!(
        err.to_string(),
        format!("connect to {addr}: connection refused")
    );
    let err = TcpConnector::new().connect_blocking(addr).unwrap_err();
    assert!(err.is_refused(), "{err:?}");
}

#[tokio::test]
async fn connect_times_out_when_syns_go_unanswered() {
    let (_listener, _queued, addr) = unanswering_listener();
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = TcpConnector::new()
        .connect_timeout(timeout)
        .connect(addr)
        .await
        .unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert!(start.elapsed() >= timeout);
    assert_eq!(err.addr(), Some(addr));
    assert_eq!(
        err.to_string(),
        format!("connect to {addr}: timed out after 300ms")
    );

    let err = TcpConnector::new()
        .connect_timeout(timeout)
        .connect_blocking(addr)
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[test]
fn blocking_stream_honours_read_timeout_and_deadline() {
    let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .bind_blocking()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpConnector::new().connect_blocking(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut stream = tetsuo::blocking::TimeoutStream::new(stream);

    server.write_all(b"ok").unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0; 2];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    let err = stream.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

    // A deadline shorter than the timeout wins, and stays passed.
    stream.set_read_timeout(Some(Duration::from_secs(30)));
    let start = Instant::now();
    stream.set_deadline(Some(start + Duration::from_millis(80)));
    let err = stream.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(5));
    let err = stream.write(b"late").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

    stream.set_deadline(None);
    stream.write_all(b"again").unwrap();
    let mut got = [0; 5];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"again");
}
