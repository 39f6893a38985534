//! Unix domain sockets: paths and abstract names, stream and datagram, peer
//! credentials.

mod support;

use tetsuo::net::{UnixAddr, unix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::effective_ids;

fn abstract_name(tag: &str) -> UnixAddr {
    format!("@tetsuo-test-{tag}-{}", std::process::id())
        .parse()
        .unwrap()
}

async fn round_trip(addr: &UnixAddr) {
    let listener = unix::bind(addr).unwrap();
    let mut client = unix::connect(addr).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    client.write_all(b"over unix").await.unwrap();
    let mut buf = [0; 9];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"over unix");

    // Each side sees this very process, with its uid and gid.
    let (uid, gid) = effective_ids();
    for cred in [
        unix::peer_cred(&server).unwrap(),
        unix::peer_cred(&client).unwrap(),
    ] {
        assert_eq!(cred.pid(), Some(std::process::id() as i32));
        assert_eq!((cred.uid(), cred.gid()), (uid, gid));
    }
}

#[tokio::test]
async fn stream_on_a_filesystem_path() {
    let dir = tempfile::tempdir().unwrap();
    let addr = UnixAddr::Path(dir.path().join("s.sock"));
    round_trip(&addr).await;
    // The path is taken: binding it again fails, naming the path.
    let err = unix::bind(&addr).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::AddrInUse
    );
    assert_eq!(err.path(), Some(dir.path().join("s.sock").as_path()));
}

#[tokio::test]
async fn stream_on_an_abstract_name() {
    let addr = abstract_name("stream");
    round_trip(&addr).await;
    // No file appears anywhere for an abstract name.
    assert!(!std::path::Path::new(&addr.to_string()).exists());
}

#[tokio::test]
async fn connecting_where_nobody_listens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = UnixAddr::Path(dir.path().join("none.sock"));
    let err = unix::connect(&missing).await.unwrap_err();
    assert!(err.is_refused(), "{err:?}");
    let err = unix::connect(&abstract_name("nobody")).await.unwrap_err();
    assert!(err.is_refused(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("connect to @tetsuo-test-nobody-"),
        "{err}"
    );
}

#[test]
fn blocking_stream_and_peer_credentials() {
    use std::io::{Read, Write};
    let addr = abstract_name("blocking");
    let listener = unix::bind_blocking(&addr).unwrap();
    let mut client = unix::connect_blocking(&addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"sync").unwrap();
    let mut buf = [0; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"sync");
    let cred = unix::peer_cred(&server).unwrap();
    assert_eq!(cred.pid(), Some(std::process::id() as i32));
    assert_eq!((cred.uid(), cred.gid()), effective_ids());
}

#[tokio::test]
async fn datagrams_on_paths_and_abstract_names() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = [
        (
            UnixAddr::Path(dir.path().join("a.sock")),
            UnixAddr::Path(dir.path().join("b.sock")),
        ),
        (abstract_name("dgram-a"), abstract_name("dgram-b")),
    ];
    for (a, b) in pairs {
        let sock_a = unix::bind_datagram(&a).unwrap();
        let sock_b = unix::bind_datagram_blocking(&b).unwrap();
        sock_b.connect_addr(&a.to_std().unwrap()).unwrap();
        sock_b.send(b"one datagram").unwrap();
        let mut buf = [0; 32];
        let (n, from) = sock_a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one datagram");
        let from = std::os::unix::net::SocketAddr::from(from);
        match &b {
            UnixAddr::Path(path) => assert_eq!(from.as_pathname(), Some(path.as_path())),
            UnixAddr::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                assert_eq!(from.as_abstract_name(), Some(name.as_slice()));
            }
        }
    }
}
