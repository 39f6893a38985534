//! A listening socket sent over a Unix socket to a separate child process
//! accepts connections there.
//!
//! The child is this same test binary, re-run with `--ignored --exact` on the
//! helper test below; the socket path reaches it through an environment
//! variable.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use tetsuo::net::{TcpConnector, TcpListenerBuilder, UnixAddr, fd, unix};

const SOCKET_ENV: &str = "TETSUO_FD_PASSING_SOCKET";
const CHILD_TEST: &str = "child_accepts_on_the_received_listener";

#[tokio::test]
async fn listener_sent_to_a_child_process_accepts_there() {
    let dir = tempfile::tempdir().unwrap();
    let control_path = dir.path().join("control.sock");
    let control = unix::bind(&UnixAddr::Path(control_path.clone())).unwrap();
    let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .bind_blocking()
        .unwrap();
    let addr = listener.local_addr().unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            CHILD_TEST,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SOCKET_ENV, &control_path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let (channel, _) = tokio::time::timeout(Duration::from_secs(30), control.accept())
        .await
        .expect("child never connected")
        .unwrap();
    // The child is a different process: the kernel says so.
    let child_pid = unix::peer_cred(&channel).unwrap().pid().unwrap();
    assert_eq!(child_pid, child.id() as i32);
    assert_ne!(child_pid, std::process::id() as i32);

    fd::send_fds(&channel, b"L", &[listener.as_fd()])
        .await
        .unwrap();
    // The parent never accepts on its copy; close it to prove the child's
    // descriptor stands on its own.
    drop(listener);

    let stream = TcpConnector::new()
        .connect_timeout(Duration::from_secs(5))
        .connect_blocking(addr)
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    assert_eq!(line, format!("accepted by pid {child_pid}\n"));
    assert!(child.wait().unwrap().success());
}

/// Runs only in the child process started above.
#[test]
#[ignore = "helper: runs in a child process of listener_sent_to_a_child_process_accepts_there"]
fn child_accepts_on_the_received_listener() {
    let Some(path) = std::env::var_os(SOCKET_ENV) else {
        eprintln!("{CHILD_TEST} only does something when started by its parent test");
        return;
    };
    let channel = unix::connect_blocking(&UnixAddr::Path(path.into())).unwrap();
    let mut buf = [0u8; 1];
    let mut fds = Vec::new();
    let n = fd::recv_fds_blocking(&channel, &mut buf, &mut fds).unwrap();
    assert_eq!((n, &buf, fds.len()), (1, b"L", 1));
    let listener = std::net::TcpListener::from(fds.pop().unwrap());
    let (mut conn, _) = listener.accept().unwrap();
    writeln!(conn, "accepted by pid {}", std::process::id()).unwrap();
}

#[test]
fn descriptor_passing_rejects_bad_input() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let err = fd::send_fds_blocking(&a, b"", &[file.as_fd()]).unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    let many = vec![file.as_fd(); fd::MAX_FDS + 1];
    let err = fd::send_fds_blocking(&a, b"x", &many).unwrap_err();
    assert_eq!(err.kind(), tetsuo::ErrorKind::Limit);
}

#[test]
fn several_descriptors_travel_in_one_message() {
    use std::io::{Read, Seek};
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut files: Vec<std::fs::File> = (0..3).map(|_| tempfile::tempfile().unwrap()).collect();
    for (i, f) in files.iter_mut().enumerate() {
        write!(f, "file {i}").unwrap();
    }
    let fds: Vec<_> = files.iter().map(AsFd::as_fd).collect();
    assert_eq!(fd::send_fds_blocking(&a, b"abc", &fds).unwrap(), 3);
    let mut buf = [0u8; 8];
    let mut received = Vec::new();
    let n = fd::recv_fds_blocking(&b, &mut buf, &mut received).unwrap();
    assert_eq!(&buf[..n], b"abc");
    assert_eq!(received.len(), 3);
    for (i, owned) in received.into_iter().enumerate() {
        let mut f = std::fs::File::from(owned);
        f.rewind().unwrap();
        let mut text = String::new();
        f.read_to_string(&mut text).unwrap();
        assert_eq!(text, format!("file {i}"));
    }
}

#[test]
fn an_empty_receive_buffer_is_refused() {
    let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = fd::recv_fds_blocking(&b, &mut [], &mut Vec::new()).unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
}
