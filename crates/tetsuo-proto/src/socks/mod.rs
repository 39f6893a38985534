//! SOCKS4, SOCKS4a and SOCKS5 (RFC 1928, with RFC 1929 username/password
//! authentication) without I/O: a [`Client`] and a [`Server`] machine.
//!
//! Both machines take bytes with `handle_input`, which consumes whole
//! messages only and answers how many bytes it used (0: more are needed),
//! and give bytes to send with `take_transmit`. Nothing is read past the
//! end of the handshake: once a machine is done, the bytes that follow
//! belong to the tunnelled stream.
//!
//! Every malformed, truncated or unexpected message is an [`Error`]; names
//! and credentials longer than the protocol's 255-byte fields are refused,
//! never truncated.

mod client;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use client::{Client, Version};
pub use server::{Request, Server, ServerEvent};

/// Where a tunnel goes: an IP address, or a name the proxy resolves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A host name (at most 255 bytes) and port.
    Domain(String, u16),
}

impl Address {
    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            Address::Ip(addr) => addr.port(),
            Address::Domain(_, port) => *port,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(addr) => write!(f, "{addr}"),
            Address::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// The reply code of a SOCKS5 server (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// 0x00: succeeded.
    Succeeded,
    /// 0x01: general SOCKS server failure.
    GeneralFailure,
    /// 0x02: connection not allowed by ruleset.
    NotAllowed,
    /// 0x03: network unreachable.
    NetworkUnreachable,
    /// 0x04: host unreachable.
    HostUnreachable,
    /// 0x05: connection refused.
    ConnectionRefused,
    /// 0x06: TTL expired.
    TtlExpired,
    /// 0x07: command not supported.
    CommandNotSupported,
    /// 0x08: address type not supported.
    AddressTypeNotSupported,
    /// Any other (unassigned) code.
    Other(u8),
}

impl Reply {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Reply::Succeeded => 0,
            Reply::GeneralFailure => 1,
            Reply::NotAllowed => 2,
            Reply::NetworkUnreachable => 3,
            Reply::HostUnreachable => 4,
            Reply::ConnectionRefused => 5,
            Reply::TtlExpired => 6,
            Reply::CommandNotSupported => 7,
            Reply::AddressTypeNotSupported => 8,
            Reply::Other(code) => code,
        }
    }

    /// The reply a code on the wire stands for.
    pub fn from_code(code: u8) -> Reply {
        match code {
            0 => Reply::Succeeded,
            1 => Reply::GeneralFailure,
            2 => Reply::NotAllowed,
            3 => Reply::NetworkUnreachable,
            4 => Reply::HostUnreachable,
            5 => Reply::ConnectionRefused,
            6 => Reply::TtlExpired,
            7 => Reply::CommandNotSupported,
            8 => Reply::AddressTypeNotSupported,
            code => Reply::Other(code),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reply::Succeeded => "succeeded",
            Reply::GeneralFailure => "general SOCKS server failure",
            Reply::NotAllowed => "connection not allowed by ruleset",
            Reply::NetworkUnreachable => "network unreachable",
            Reply::HostUnreachable => "host unreachable",
            Reply::ConnectionRefused => "connection refused",
            Reply::TtlExpired => "TTL expired",
            Reply::CommandNotSupported => "command not supported",
            Reply::AddressTypeNotSupported => "address type not supported",
            Reply::Other(_) => "unassigned reply code",
        })
    }
}

/// A SOCKS4 reply code (the `CD` field).
pub const SOCKS4_GRANTED: u8 = 90;
/// SOCKS4: request rejected or failed.
pub const SOCKS4_REJECTED: u8 = 91;

/// Everything that can go wrong in a SOCKS exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A message carried a protocol version other than the one expected.
    BadVersion(u8),
    /// The server accepted none of the offered authentication methods.
    NoAcceptableMethod,
    /// The server chose an authentication method the client did not offer.
    UnofferedMethod(u8),
    /// The username/password sub-negotiation reply had a version other
    /// than 1.
    BadAuthVersion(u8),
    /// The server rejected the username and password.
    AuthFailed,
    /// The SOCKS5 server refused the request.
    Refused(Reply),
    /// The SOCKS4 server refused the request with this code (91–93).
    Socks4Refused(u8),
    /// An address type other than IPv4 (1), domain (3) or IPv6 (4).
    BadAddressType(u8),
    /// A host name, user name or password is longer than 255 bytes.
    TooLong {
        /// What was too long: `"host name"`, `"user name"`, `"password"`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A host name is empty or contains a NUL byte.
    BadName,
    /// SOCKS4 (without a) can only reach IPv4 addresses.
    Socks4NeedsIpv4,
    /// A SOCKS5 greeting offered no method.
    NoMethods,
    /// A request asked for a command other than CONNECT (server side; the
    /// reply has been queued).
    UnsupportedCommand(u8),
    /// Bytes arrived when the machine expected none (or after it failed).
    Unexpected,
    /// The server requires a password, which SOCKS4 cannot send (server
    /// side; the refusal has been queued).
    AuthRequired,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadVersion(v) => write!(f, "unexpected SOCKS version {v}"),
            Error::NoAcceptableMethod => {
                f.write_str("the proxy accepted none of our authentication methods")
            }
            Error::UnofferedMethod(m) => write!(
                f,
                "the proxy chose authentication method {m:#04x}, which we did not offer"
            ),
            Error::BadAuthVersion(v) => write!(
                f,
                "unexpected username/password sub-negotiation version {v}"
            ),
            Error::AuthFailed => f.write_str("the proxy rejected the username or password"),
            Error::Refused(reply) => {
                write!(f, "the proxy refused: {reply} (code {})", reply.code())
            }
            Error::Socks4Refused(code) => {
                write!(f, "the SOCKS4 proxy refused the request (code {code})")
            }
            Error::BadAddressType(t) => write!(f, "unknown address type {t}"),
            Error::TooLong { field, len } => {
                write!(f, "{field} is {len} bytes long; SOCKS allows at most 255")
            }
            Error::BadName => f.write_str("host name is empty or contains a NUL byte"),
            Error::Socks4NeedsIpv4 => {
                f.write_str("SOCKS4 can only reach IPv4 addresses (use socks4a or socks5)")
            }
            Error::NoMethods => f.write_str("the greeting offered no authentication method"),
            Error::UnsupportedCommand(c) => write!(f, "unsupported SOCKS command {c}"),
            Error::Unexpected => f.write_str("unexpected bytes in the SOCKS exchange"),
            Error::AuthRequired => {
                f.write_str("a password is required, and SOCKS4 cannot send one")
            }
        }
    }
}

impl std::error::Error for Error {}

/// SOCKS5 method: no authentication.
const NO_AUTH: u8 = 0x00;
/// SOCKS5 method: username/password (RFC 1929).
const USER_PASS: u8 = 0x02;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

fn check_len(field: &'static str, bytes: &[u8]) -> Result<u8, Error> {
    u8::try_from(bytes.len()).map_err(|_| Error::TooLong {
        field,
        len: bytes.len(),
    })
}

/// Appends a SOCKS5 address (ATYP, address, port).
fn put_address(dst: &mut Vec<u8>, addr: &Address) -> Result<(), Error> {
    match addr {
        Address::Ip(SocketAddr::V4(a)) => {
            dst.push(ATYP_IPV4);
            dst.extend_from_slice(&a.ip().octets());
        }
        Address::Ip(SocketAddr::V6(a)) => {
            dst.push(ATYP_IPV6);
            dst.extend_from_slice(&a.ip().octets());
        }
        Address::Domain(name, _) => {
            let len = check_len("host name", name.as_bytes())?;
            dst.push(ATYP_DOMAIN);
            dst.push(len);
            dst.extend_from_slice(name.as_bytes());
        }
    }
    dst.extend_from_slice(&addr.port().to_be_bytes());
    Ok(())
}

/// Parses a SOCKS5 address at the start of `buf`: `Ok(None)` when more
/// bytes are needed, else the address and the bytes it took.
fn parse_address(buf: &[u8]) -> Result<Option<(Address, usize)>, Error> {
    let Some(&atyp) = buf.first() else {
        return Ok(None);
    };
    let (len, start) = match atyp {
        ATYP_IPV4 => (4, 1),
        ATYP_IPV6 => (16, 1),
        ATYP_DOMAIN => match buf.get(1) {
            Some(&n) => (usize::from(n), 2),
            None => return Ok(None),
        },
        other => return Err(Error::BadAddressType(other)),
    };
    let end = start + len + 2;
    if buf.len() < end {
        return Ok(None);
    }
    let host = &buf[start..start + len];
    let port = u16::from_be_bytes([buf[end - 2], buf[end - 1]]);
    let addr = match atyp {
        ATYP_IPV4 => {
            let octets: [u8; 4] = host.try_into().map_err(|_| Error::Unexpected)?;
            Address::Ip(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(octets)), port))
        }
        ATYP_IPV6 => {
            let octets: [u8; 16] = host.try_into().map_err(|_| Error::Unexpected)?;
            Address::Ip(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => Address::Domain(domain(host)?, port),
    };
    Ok(Some((addr, end)))
}

/// A host name from the wire: not empty, no NUL, UTF-8.
fn domain(bytes: &[u8]) -> Result<String, Error> {
    if bytes.is_empty() || bytes.contains(&0) {
        return Err(Error::BadName);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::BadName)
}

#[cfg(test)]
mod tests;
