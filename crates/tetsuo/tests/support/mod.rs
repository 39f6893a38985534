//! Helpers shared by the integration tests.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

#[cfg(feature = "tls")]
pub mod pki;

use std::net::SocketAddr;

/// An ephemeral-port address on each loopback family: IPv4 and IPv6.
pub fn loopbacks() -> [SocketAddr; 2] {
    ["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()]
}

/// This process's effective uid and gid, from /proc/self/status.
pub fn effective_ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        // Fields: real, effective, saved, filesystem.
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    (field("Uid:"), field("Gid:"))
}

/// A TCP listener whose accept queue is full: SYNs to it go unanswered, so a
/// connect to it can only time out. Returns the listener (keep it alive), the
/// queued connections (keep them too) and its address.
pub fn unanswering_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
    unanswering_listener_at("127.0.0.1:0".parse().unwrap())
}

/// [`unanswering_listener`] bound to `addr`.
pub fn unanswering_listener_at(
    addr: SocketAddr,
) -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
    use std::time::Duration;
    let listener = tetsuo::net::TcpListenerBuilder::new(addr)
        .backlog(0)
        .bind_blocking()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    // With backlog 0 Linux queues one connection; fill until a SYN is dropped.
    let probe = tetsuo::net::TcpConnector::new().connect_timeout(Duration::from_millis(200));
    for _ in 0..16 {
        match probe.connect_blocking(addr) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.is_timeout() => return (listener, queued, addr),
            Err(e) => panic!("unexpected error filling the backlog: {e}"),
        }
    }
    panic!("accept queue never filled");
}

/// A stream over any iterator (for streamed bodies, without futures-util).
pub struct IterStream<I>(pub I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}
