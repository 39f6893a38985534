//! The client side of a SOCKS handshake.

use std::net::{Ipv4Addr, SocketAddr};

use super::{
    Address, Error, NO_AUTH, Reply, SOCKS4_GRANTED, USER_PASS, check_len, domain, parse_address,
    put_address,
};

/// Which SOCKS dialect to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// SOCKS4: IPv4 targets only, resolved by the client.
    V4,
    /// SOCKS4a: SOCKS4 plus host names resolved by the proxy.
    V4a,
    /// SOCKS5 (RFC 1928): IPv4, IPv6 or names; optional username/password.
    V5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// SOCKS5: waiting for the method selection.
    Method,
    /// SOCKS5: waiting for the username/password verdict.
    Auth,
    /// Waiting for the reply to the CONNECT request.
    Reply,
    Done,
    Failed,
}

/// A SOCKS client handshake for one tunnel.
///
/// ```
/// use tetsuo_proto::socks::{Address, Client, Version};
///
/// let target = Address::Domain("example.com".into(), 443);
/// let mut client = Client::new(Version::V5, target, None).unwrap();
/// assert_eq!(client.take_transmit(), [5, 1, 0]); // greeting: no authentication
/// assert_eq!(client.handle_input(&[5, 0]).unwrap(), 2);
/// let request = client.take_transmit();
/// assert_eq!(&request[..5], &[5, 1, 0, 3, 11]); // CONNECT, domain of 11 bytes
/// let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
/// assert_eq!(client.handle_input(&reply[..4]).unwrap(), 0); // not yet complete
/// assert_eq!(client.handle_input(&reply).unwrap(), reply.len());
/// assert!(client.is_done());
/// assert_eq!(client.bound().unwrap().to_string(), "127.0.0.1:8080");
/// ```
#[derive(Clone)]
pub struct Client {
    version: Version,
    target: Address,
    credentials: Option<(Vec<u8>, Vec<u8>)>,
    state: State,
    transmit: Vec<u8>,
    bound: Option<Address>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.version)
            .field("target", &self.target)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a handshake to open a tunnel to `target`, with a user name and
    /// password (SOCKS5; for SOCKS4 the user name is the USERID and the
    /// password is ignored). The first message is ready in
    /// [`take_transmit`](Self::take_transmit).
    ///
    /// Fails when a field is longer than 255 bytes, a name is empty or has a
    /// NUL byte, or SOCKS4 is asked for a name or an IPv6 address.
    pub fn new(
        version: Version,
        target: Address,
        credentials: Option<(&[u8], &[u8])>,
    ) -> Result<Client, Error> {
        if let Address::Domain(name, _) = &target {
            check_len("host name", name.as_bytes())?;
            domain(name.as_bytes())?;
        }
        if let Some((user, pass)) = credentials {
            check_len("user name", user)?;
            check_len("password", pass)?;
            if version != Version::V5 && user.contains(&0) {
                return Err(Error::BadName);
            }
        }
        let mut client = Client {
            version,
            target,
            credentials: credentials.map(|(u, p)| (u.to_vec(), p.to_vec())),
            state: State::Reply,
            transmit: Vec::new(),
            bound: None,
        };
        match version {
            Version::V5 => {
                client.state = State::Method;
                client.transmit.extend_from_slice(&[5, 1, NO_AUTH]);
                if client.credentials.is_some() {
                    client.transmit[1] = 2;
                    client.transmit.push(USER_PASS);
                }
            }
            Version::V4 | Version::V4a => client.socks4_request()?,
        }
        Ok(client)
    }

    fn socks4_request(&mut self) -> Result<(), Error> {
        let userid = self.credentials.as_ref().map_or(&[][..], |(u, _)| u);
        let out = &mut self.transmit;
        out.extend_from_slice(&[4, 1]);
        out.extend_from_slice(&self.target.port().to_be_bytes());
        match (&self.target, self.version) {
            (Address::Ip(SocketAddr::V4(a)), _) => {
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(userid);
                out.push(0);
            }
            (Address::Domain(name, _), Version::V4a) => {
                // 0.0.0.1: "the name follows" (SOCKS4a).
                out.extend_from_slice(&Ipv4Addr::new(0, 0, 0, 1).octets());
                out.extend_from_slice(userid);
                out.push(0);
                out.extend_from_slice(name.as_bytes());
                out.push(0);
            }
            _ => return Err(Error::Socks4NeedsIpv4),
        }
        Ok(())
    }

    /// Bytes to send now (empty when waiting for the proxy).
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmit)
    }

    /// Feeds bytes from the proxy. Consumes one complete message and
    /// answers how many bytes it took; 0 means the message is incomplete
    /// (call again with more). Bytes after the final reply are not taken.
    pub fn handle_input(&mut self, buf: &[u8]) -> Result<usize, Error> {
        let result = self.step(buf);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<usize, Error> {
        match (self.state, self.version) {
            (State::Method, _) => {
                let [version, method, ..] = *buf else {
                    return Ok(0);
                };
                if version != 5 {
                    return Err(Error::BadVersion(version));
                }
                match method {
                    NO_AUTH => self.connect_request()?,
                    USER_PASS if self.credentials.is_some() => {
                        let (user, pass) = self.credentials.as_ref().expect("checked above");
                        let out = &mut self.transmit;
                        out.push(1);
                        out.push(check_len("user name", user)?);
                        out.extend_from_slice(user);
                        out.push(check_len("password", pass)?);
                        out.extend_from_slice(pass);
                        self.state = State::Auth;
                    }
                    0xff => return Err(Error::NoAcceptableMethod),
                    other => return Err(Error::UnofferedMethod(other)),
                }
                Ok(2)
            }
            (State::Auth, _) => {
                let [version, status, ..] = *buf else {
                    return Ok(0);
                };
                if version != 1 {
                    return Err(Error::BadAuthVersion(version));
                }
                if status != 0 {
                    return Err(Error::AuthFailed);
                }
                self.connect_request()?;
                Ok(2)
            }
            (State::Reply, Version::V5) => {
                if buf.len() < 4 {
                    return Ok(0);
                }
                if buf[0] != 5 {
                    return Err(Error::BadVersion(buf[0]));
                }
                // A refusal is the answer, whatever address follows it.
                match Reply::from_code(buf[1]) {
                    Reply::Succeeded => {}
                    refusal => return Err(Error::Refused(refusal)),
                }
                let Some((bound, len)) = parse_address(&buf[3..])? else {
                    return Ok(0);
                };
                self.bound = Some(bound);
                self.state = State::Done;
                Ok(3 + len)
            }
            (State::Reply, _) => {
                let Some(reply) = buf.get(..8) else {
                    return Ok(0);
                };
                // The reply's version byte is 0; some servers send 4.
                if reply[0] != 0 && reply[0] != 4 {
                    return Err(Error::BadVersion(reply[0]));
                }
                if reply[1] != SOCKS4_GRANTED {
                    return Err(Error::Socks4Refused(reply[1]));
                }
                let port = u16::from_be_bytes([reply[2], reply[3]]);
                let ip = Ipv4Addr::new(reply[4], reply[5], reply[6], reply[7]);
                self.bound = Some(Address::Ip(SocketAddr::new(ip.into(), port)));
                self.state = State::Done;
                Ok(8)
            }
            (State::Done | State::Failed, _) => {
                if buf.is_empty() {
                    Ok(0)
                } else {
                    Err(Error::Unexpected)
                }
            }
        }
    }

    fn connect_request(&mut self) -> Result<(), Error> {
        self.transmit.extend_from_slice(&[5, 1, 0]);
        put_address(&mut self.transmit, &self.target)?;
        self.state = State::Reply;
        Ok(())
    }

    /// True once the proxy granted the tunnel.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The address the proxy says it connected from (`BND.ADDR`), once done.
    pub fn bound(&self) -> Option<&Address> {
        self.bound.as_ref()
    }
}
