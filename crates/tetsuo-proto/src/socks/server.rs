//! The server side of a SOCKS handshake: SOCKS5 with optional
//! username/password, and SOCKS4/4a on the same port.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{
    Address, Error, NO_AUTH, Reply, SOCKS4_GRANTED, SOCKS4_REJECTED, USER_PASS, Version, domain,
    parse_address, put_address,
};

const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 1;
/// Longest SOCKS4 USERID or SOCKS4a host name (with its NUL).
const MAX_FIELD: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Auth,
    /// Waiting for the application's verdict on the credentials.
    Verifying,
    Request,
    /// Waiting for the application's reply to the request.
    Replying(Version),
    Done,
    Failed,
}

/// A CONNECT request a client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The dialect the client spoke.
    pub version: Version,
    /// Where the client wants to go.
    pub target: Address,
    /// The SOCKS4 USERID (empty for SOCKS5).
    pub user_id: Vec<u8>,
}

/// What the application must decide.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Check these credentials and call [`Server::authenticated`].
    Authenticate {
        /// The user name.
        username: Vec<u8>,
        /// The password.
        password: Vec<u8>,
    },
    /// Open the tunnel (or not) and call [`Server::reply`].
    Request(Request),
}

impl std::fmt::Debug for ServerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerEvent::Authenticate { username, .. } => f
                .debug_struct("Authenticate")
                .field("username", &String::from_utf8_lossy(username))
                .field("password", &"***")
                .finish(),
            ServerEvent::Request(request) => f.debug_tuple("Request").field(request).finish(),
        }
    }
}

/// A SOCKS server handshake for one client connection.
///
/// ```
/// use tetsuo_proto::socks::{Address, Reply, Server, ServerEvent};
///
/// let mut server = Server::new(false);
/// assert_eq!(server.handle_input(&[5, 1, 0]).unwrap(), 3);
/// assert_eq!(server.take_transmit(), [5, 0]);
/// let request = [5, 1, 0, 3, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0, 80];
/// assert_eq!(server.handle_input(&request).unwrap(), request.len());
/// let Some(ServerEvent::Request(req)) = server.poll_event() else { panic!() };
/// assert_eq!(req.target, Address::Domain("localhost".into(), 80));
/// server.reply(Reply::Succeeded, "127.0.0.1:50000".parse().unwrap());
/// assert_eq!(server.take_transmit(), [5, 0, 0, 1, 127, 0, 0, 1, 0xc3, 0x50]);
/// assert!(server.is_done());
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    require_auth: bool,
    state: State,
    events: VecDeque<ServerEvent>,
    transmit: Vec<u8>,
}

impl Server {
    /// A server handshake; with `require_auth` SOCKS5 clients must offer
    /// username/password (the application checks them) and SOCKS4/4a
    /// clients, which cannot, are refused.
    pub fn new(require_auth: bool) -> Server {
        Server {
            require_auth,
            state: State::Greeting,
            events: VecDeque::new(),
            transmit: Vec::new(),
        }
    }

    /// Feeds bytes from the client. Consumes one complete message and
    /// answers how many bytes it took (0: incomplete). On an error a reply
    /// may be waiting in [`take_transmit`](Self::take_transmit); send it,
    /// then close.
    pub fn handle_input(&mut self, buf: &[u8]) -> Result<usize, Error> {
        let result = self.step(buf);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<usize, Error> {
        match self.state {
            State::Greeting => match buf.first() {
                None => Ok(0),
                Some(5) => self.greeting(buf),
                Some(4) => self.socks4(buf),
                Some(&v) => Err(Error::BadVersion(v)),
            },
            State::Auth => self.auth(buf),
            State::Request => self.request(buf),
            State::Verifying | State::Replying(_) | State::Done | State::Failed => {
                if buf.is_empty() {
                    Ok(0)
                } else {
                    Err(Error::Unexpected)
                }
            }
        }
    }

    fn greeting(&mut self, buf: &[u8]) -> Result<usize, Error> {
        let Some(&n) = buf.get(1) else {
            return Ok(0);
        };
        let Some(methods) = buf.get(2..2 + usize::from(n)) else {
            return Ok(0);
        };
        if methods.is_empty() {
            self.transmit.extend_from_slice(&[5, NO_ACCEPTABLE]);
            return Err(Error::NoMethods);
        }
        let wanted = if self.require_auth {
            USER_PASS
        } else {
            NO_AUTH
        };
        if !methods.contains(&wanted) {
            self.transmit.extend_from_slice(&[5, NO_ACCEPTABLE]);
            return Err(Error::NoAcceptableMethod);
        }
        self.transmit.extend_from_slice(&[5, wanted]);
        self.state = if self.require_auth {
            State::Auth
        } else {
            State::Request
        };
        Ok(2 + methods.len())
    }

    fn auth(&mut self, buf: &[u8]) -> Result<usize, Error> {
        let Some(&version) = buf.first() else {
            return Ok(0);
        };
        if version != 1 {
            self.transmit.extend_from_slice(&[1, 1]);
            return Err(Error::BadAuthVersion(version));
        }
        let Some(&ulen) = buf.get(1) else {
            return Ok(0);
        };
        let ulen = usize::from(ulen);
        let Some(&plen) = buf.get(2 + ulen) else {
            return Ok(0);
        };
        let end = 3 + ulen + usize::from(plen);
        if buf.len() < end {
            return Ok(0);
        }
        self.events.push_back(ServerEvent::Authenticate {
            username: buf[2..2 + ulen].to_vec(),
            password: buf[3 + ulen..end].to_vec(),
        });
        self.state = State::Verifying;
        Ok(end)
    }

    /// The application's verdict on [`ServerEvent::Authenticate`]; a
    /// rejection is sent and the handshake fails.
    pub fn authenticated(&mut self, ok: bool) {
        if self.state != State::Verifying {
            return;
        }
        self.transmit
            .extend_from_slice(&[1, if ok { 0 } else { 1 }]);
        self.state = if ok { State::Request } else { State::Failed };
    }

    fn request(&mut self, buf: &[u8]) -> Result<usize, Error> {
        if buf.len() < 4 {
            return Ok(0);
        }
        if buf[0] != 5 {
            return Err(Error::BadVersion(buf[0]));
        }
        let target = match parse_address(&buf[3..]) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(0),
            Err(e) => {
                let reply = match e {
                    Error::BadAddressType(_) => Reply::AddressTypeNotSupported,
                    _ => Reply::GeneralFailure,
                };
                self.socks5_reply(reply, unspecified());
                return Err(e);
            }
        };
        if buf[1] != CONNECT {
            self.socks5_reply(Reply::CommandNotSupported, unspecified());
            return Err(Error::UnsupportedCommand(buf[1]));
        }
        self.events.push_back(ServerEvent::Request(Request {
            version: Version::V5,
            target: target.0,
            user_id: Vec::new(),
        }));
        self.state = State::Replying(Version::V5);
        Ok(3 + target.1)
    }

    fn socks4(&mut self, buf: &[u8]) -> Result<usize, Error> {
        let Some(fixed) = buf.get(..8) else {
            return Ok(0);
        };
        let Some((user_id, mut end)) = nul_terminated(&buf[8..])? else {
            return Ok(0);
        };
        end += 8;
        let port = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ip = Ipv4Addr::new(fixed[4], fixed[5], fixed[6], fixed[7]);
        // 0.0.0.x with x != 0: a SOCKS4a name follows the USERID.
        let (version, target) = if ip.octets()[..3] == [0, 0, 0] && ip.octets()[3] != 0 {
            let Some((name, len)) = nul_terminated(&buf[end..])? else {
                return Ok(0);
            };
            end += len;
            (Version::V4a, Address::Domain(domain(name)?, port))
        } else {
            (
                Version::V4,
                Address::Ip(SocketAddr::new(IpAddr::V4(ip), port)),
            )
        };
        if fixed[1] != CONNECT {
            self.socks4_reply(false);
            return Err(Error::UnsupportedCommand(fixed[1]));
        }
        // SOCKS4 has no password: where one is required, it is refused.
        if self.require_auth {
            self.socks4_reply(false);
            return Err(Error::AuthRequired);
        }
        self.events.push_back(ServerEvent::Request(Request {
            version,
            target,
            user_id: user_id.to_vec(),
        }));
        self.state = State::Replying(version);
        Ok(end)
    }

    /// The next decision the application must make.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Answers the [`ServerEvent::Request`]: [`Reply::Succeeded`] with the
    /// address the tunnel connects from, or a refusal (sent, then the
    /// handshake fails). SOCKS4 clients get 90 or 91.
    pub fn reply(&mut self, reply: Reply, bound: SocketAddr) {
        let State::Replying(version) = self.state else {
            return;
        };
        let ok = reply == Reply::Succeeded;
        match version {
            Version::V5 => self.socks5_reply(reply, bound),
            Version::V4 | Version::V4a => self.socks4_reply(ok),
        }
        self.state = if ok { State::Done } else { State::Failed };
    }

    fn socks5_reply(&mut self, reply: Reply, bound: SocketAddr) {
        self.transmit.extend_from_slice(&[5, reply.code(), 0]);
        // An IP address always fits.
        let _ = put_address(&mut self.transmit, &Address::Ip(bound));
    }

    fn socks4_reply(&mut self, ok: bool) {
        let code = if ok { SOCKS4_GRANTED } else { SOCKS4_REJECTED };
        self.transmit
            .extend_from_slice(&[0, code, 0, 0, 0, 0, 0, 0]);
    }

    /// Bytes to send now.
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmit)
    }

    /// True once a successful reply has been queued: the tunnel is open.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}

/// A NUL-terminated field of at most 255 bytes: the field and the bytes
/// taken with its NUL, or `None` when the NUL has not arrived yet.
fn nul_terminated(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Error> {
    match buf.iter().take(MAX_FIELD).position(|&b| b == 0) {
        Some(n) => Ok(Some((&buf[..n], n + 1))),
        None if buf.len() >= MAX_FIELD => Err(Error::TooLong {
            field: "SOCKS4 field",
            len: buf.len(),
        }),
        None => Ok(None),
    }
}
