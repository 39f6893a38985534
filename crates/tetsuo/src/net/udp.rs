//! UDP socket builder: bound or connected sockets, broadcast, multicast.
//!
//! The builder sets options before `bind`, joins multicast groups after it,
//! and optionally connects the socket to one peer (so `send`/`recv` work and
//! datagrams from other sources are dropped by the kernel). It hands back
//! `tokio::net::UdpSocket` or `std::net::UdpSocket`; both already offer
//! `send_to`/`recv_from` and runtime `join_multicast_*`/`leave_multicast_*`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::sockopt::{set_bind_device, set_reuse_port};
use crate::error::{Error, ErrorKind, Result};

#[derive(Debug, Clone, Copy)]
enum Membership {
    V4 {
        group: Ipv4Addr,
        interface: Ipv4Addr,
    },
    V6 {
        group: Ipv6Addr,
        interface: u32,
    },
}

/// Builds a UDP socket.
///
/// ```
/// use std::net::Ipv4Addr;
/// use tetsuo::net::UdpBuilder;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tetsuo::Result<()> {
/// // A receiver in multicast group 239.1.2.3 on the loopback interface.
/// let rx = UdpBuilder::new("127.0.0.1:0".parse().unwrap())
///     .join_multicast_v4(Ipv4Addr::new(239, 1, 2, 3), Ipv4Addr::LOCALHOST)
///     .bind()?;
/// // A connected sender: `send` goes to `rx` only.
/// let tx = UdpBuilder::new("127.0.0.1:0".parse().unwrap())
///     .connect(rx.local_addr().unwrap())
///     .bind()?;
/// tx.send(b"ping").await.unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = rx.recv_from(&mut buf).await.unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], tx.local_addr().unwrap()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct UdpBuilder {
    addr: SocketAddr,
    reuse_address: Option<bool>,
    reuse_port: Option<bool>,
    only_v6: Option<bool>,
    broadcast: Option<bool>,
    ttl: Option<u32>,
    multicast_ttl: Option<u32>,
    multicast_loop: Option<bool>,
    multicast_if_v4: Option<Ipv4Addr>,
    multicast_if_v6: Option<u32>,
    send_buffer_size: Option<usize>,
    recv_buffer_size: Option<usize>,
    bind_device: Option<String>,
    memberships: Vec<Membership>,
    peer: Option<SocketAddr>,
}

impl UdpBuilder {
    /// A socket that will bind `addr` (port 0 lets the kernel pick).
    pub fn new(addr: SocketAddr) -> UdpBuilder {
        UdpBuilder {
            addr,
            reuse_address: None,
            reuse_port: None,
            only_v6: None,
            broadcast: None,
            ttl: None,
            multicast_ttl: None,
            multicast_loop: None,
            multicast_if_v4: None,
            multicast_if_v6: None,
            send_buffer_size: None,
            recv_buffer_size: None,
            bind_device: None,
            memberships: Vec::new(),
            peer: None,
        }
    }

    /// `SO_REUSEADDR`: lets several receivers bind the same multicast port.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = Some(on);
        self
    }

    /// `SO_REUSEPORT`: several sockets share the address, the kernel spreads
    /// datagrams among them (Unix only).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = Some(on);
        self
    }

    /// For IPv6 addresses, `true` refuses IPv4-mapped traffic (`IPV6_V6ONLY`).
    pub fn only_v6(mut self, only: bool) -> Self {
        self.only_v6 = Some(only);
        self
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`; IPv4).
    pub fn broadcast(mut self, on: bool) -> Self {
        self.broadcast = Some(on);
        self
    }

    /// Hop limit of unicast datagrams: `IP_TTL` on IPv4, `IPV6_UNICAST_HOPS`
    /// on IPv6.
    pub fn ttl(mut self, hops: u32) -> Self {
        self.ttl = Some(hops);
        self
    }

    /// Hop limit of multicast datagrams: `IP_MULTICAST_TTL` on IPv4,
    /// `IPV6_MULTICAST_HOPS` on IPv6 (default 1: stay on the local network).
    pub fn multicast_ttl(mut self, hops: u32) -> Self {
        self.multicast_ttl = Some(hops);
        self
    }

    /// Whether this host's own multicast datagrams are looped back to its
    /// members (`IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`; default on).
    pub fn multicast_loop(mut self, on: bool) -> Self {
        self.multicast_loop = Some(on);
        self
    }

    /// The interface (by address) that outgoing IPv4 multicast leaves through
    /// (`IP_MULTICAST_IF`).
    pub fn multicast_if_v4(mut self, interface: Ipv4Addr) -> Self {
        self.multicast_if_v4 = Some(interface);
        self
    }

    /// The interface (by index; 0 lets the kernel choose) that outgoing IPv6
    /// multicast leaves through (`IPV6_MULTICAST_IF`).
    pub fn multicast_if_v6(mut self, interface: u32) -> Self {
        self.multicast_if_v6 = Some(interface);
        self
    }

    /// Joins IPv4 multicast `group` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED` lets the kernel choose) once bound.
    pub fn join_multicast_v4(mut self, group: Ipv4Addr, interface: Ipv4Addr) -> Self {
        self.memberships.push(Membership::V4 { group, interface });
        self
    }

    /// Joins IPv6 multicast `group` on interface index `interface` (0 lets the
    /// kernel choose) once bound.
    pub fn join_multicast_v6(mut self, group: Ipv6Addr, interface: u32) -> Self {
        self.memberships.push(Membership::V6 { group, interface });
        self
    }

    /// Requests a send buffer of `bytes` (`SO_SNDBUF`).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.send_buffer_size = Some(bytes);
        self
    }

    /// Requests a receive buffer of `bytes` (`SO_RCVBUF`).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = Some(bytes);
        self
    }

    /// Binds the socket to a network interface by name
    /// (`SO_BINDTODEVICE`; Linux only).
    pub fn bind_device(mut self, interface: impl Into<String>) -> Self {
        self.bind_device = Some(interface.into());
        self
    }

    /// Connects the socket to `peer` after binding, so that `send`/`recv`
    /// work and only `peer`'s datagrams arrive.
    pub fn connect(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    fn build(&self) -> Result<Socket> {
        let addr = self.addr;
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| Error::io("create socket for", e).with_addr(addr))?;
        self.apply(&sock).map_err(|e| e.with_addr(addr))?;
        sock.bind(&SockAddr::from(addr))
            .map_err(|e| Error::io("bind", e).with_addr(addr))?;
        for membership in &self.memberships {
            join(&sock, membership).map_err(|e| e.with_addr(addr))?;
        }
        if let Some(peer) = self.peer {
            sock.connect(&SockAddr::from(peer))
                .map_err(|e| Error::io("connect to", e).with_addr(peer))?;
        }
        Ok(sock)
    }

    fn apply(&self, sock: &Socket) -> Result<()> {
        let v6 = self.addr.is_ipv6();
        let fail = |op: &'static str| move |e| Error::io(op, e);
        if let Some(on) = self.reuse_address {
            sock.set_reuse_address(on)
                .map_err(fail("set SO_REUSEADDR on"))?;
        }
        if let Some(on) = self.reuse_port {
            set_reuse_port(sock, on)?;
        }
        if let Some(only) = self.only_v6
            && v6
        {
            sock.set_only_v6(only).map_err(fail("set IPV6_V6ONLY on"))?;
        }
        if let Some(on) = self.broadcast {
            sock.set_broadcast(on)
                .map_err(fail("set SO_BROADCAST on"))?;
        }
        if let Some(hops) = self.ttl {
            if v6 {
                sock.set_unicast_hops_v6(hops)
                    .map_err(fail("set IPV6_UNICAST_HOPS on"))?;
            } else {
                sock.set_ttl_v4(hops).map_err(fail("set IP_TTL on"))?;
            }
        }
        if let Some(hops) = self.multicast_ttl {
            if v6 {
                sock.set_multicast_hops_v6(hops)
                    .map_err(fail("set IPV6_MULTICAST_HOPS on"))?;
            } else {
                sock.set_multicast_ttl_v4(hops)
                    .map_err(fail("set IP_MULTICAST_TTL on"))?;
            }
        }
        if let Some(on) = self.multicast_loop {
            if v6 {
                sock.set_multicast_loop_v6(on)
                    .map_err(fail("set IPV6_MULTICAST_LOOP on"))?;
            } else {
                sock.set_multicast_loop_v4(on)
                    .map_err(fail("set IP_MULTICAST_LOOP on"))?;
            }
        }
        if let Some(interface) = self.multicast_if_v4 {
            if v6 {
                return Err(wrong_family("set IP_MULTICAST_IF on"));
            }
            sock.set_multicast_if_v4(&interface)
                .map_err(fail("set IP_MULTICAST_IF on"))?;
        }
        if let Some(index) = self.multicast_if_v6 {
            if !v6 {
                return Err(wrong_family("set IPV6_MULTICAST_IF on"));
            }
            sock.set_multicast_if_v6(index)
                .map_err(fail("set IPV6_MULTICAST_IF on"))?;
        }
        if let Some(size) = self.send_buffer_size {
            sock.set_send_buffer_size(size)
                .map_err(fail("set SO_SNDBUF on"))?;
        }
        if let Some(size) = self.recv_buffer_size {
            sock.set_recv_buffer_size(size)
                .map_err(fail("set SO_RCVBUF on"))?;
        }
        if let Some(device) = &self.bind_device {
            set_bind_device(sock, device)?;
        }
        Ok(())
    }

    /// Creates, configures and binds the socket; must be called inside a
    /// tokio runtime.
    pub fn bind(&self) -> Result<tokio::net::UdpSocket> {
        let sock = self.build()?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io("set O_NONBLOCK on", e))?;
        tokio::net::UdpSocket::from_std(sock.into())
            .map_err(|e| Error::io("register with tokio", e).with_addr(self.addr))
    }

    /// Creates, configures and binds the socket, for blocking use.
    pub fn bind_blocking(&self) -> Result<std::net::UdpSocket> {
        Ok(self.build()?.into())
    }
}

fn wrong_family(op: &'static str) -> Error {
    Error::new(ErrorKind::InvalidInput, op)
        .with_detail("option belongs to the other address family than the bound address")
}

fn join(sock: &Socket, membership: &Membership) -> Result<()> {
    match *membership {
        Membership::V4 { group, interface } => sock
            .join_multicast_v4(&group, &interface)
            .map_err(|e| Error::io("join multicast group on", e)),
        Membership::V6 { group, interface } => sock
            .join_multicast_v6(&group, interface)
            .map_err(|e| Error::io("join multicast group on", e)),
    }
}
