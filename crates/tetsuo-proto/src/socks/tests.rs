use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> Address {
    Address::Ip(s.parse().unwrap())
}

/// Runs a client against a server machine; the server grants or refuses.
fn handshake(
    version: Version,
    target: Address,
    creds: Option<(&[u8], &[u8])>,
    require_auth: bool,
    grant: Reply,
) -> (Result<Client, Error>, Vec<ServerEvent>) {
    let mut client = Client::new(version, target, creds).unwrap();
    let mut server = Server::new(require_auth);
    let mut events = Vec::new();
    for _ in 0..10 {
        let out = client.take_transmit();
        if !out.is_empty() {
            let used = server.handle_input(&out);
            match used {
                Ok(n) => assert_eq!(n, out.len()),
                Err(_) => {
                    let back = server.take_transmit();
                    let r = client.handle_input(&back);
                    return (r.map(|_| client), events);
                }
            }
        }
        while let Some(event) = server.poll_event() {
            match &event {
                ServerEvent::Authenticate { username, password } => {
                    server.authenticated(username == b"user" && password == b"pass")
                }
                ServerEvent::Request(_) => server.reply(grant, "10.1.2.3:4567".parse().unwrap()),
            }
            events.push(event);
        }
        let back = server.take_transmit();
        if !back.is_empty()
            && let Err(e) = client.handle_input(&back)
        {
            return (Err(e), events);
        }
        if client.is_done() {
            return (Ok(client), events);
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn every_dialect_against_our_server() {
    let name = Address::Domain("example.com".into(), 443);
    let (client, events) = handshake(Version::V5, name.clone(), None, false, Reply::Succeeded);
    assert_eq!(client.unwrap().bound(), Some(&ip("10.1.2.3:4567")));
    assert_eq!(
        events,
        [ServerEvent::Request(Request {
            version: Version::V5,
            target: name.clone(),
            user_id: vec![]
        })]
    );
    let (client, events) = handshake(
        Version::V5,
        ip("[::1]:80"),
        Some((b"user", b"pass")),
        true,
        Reply::Succeeded,
    );
    assert!(client.unwrap().is_done());
    assert_eq!(events.len(), 2);
    let (client, events) = handshake(
        Version::V4a,
        name.clone(),
        Some((b"me", b"")),
        false,
        Reply::Succeeded,
    );
    assert!(client.unwrap().is_done());
    assert_eq!(
        events,
        [ServerEvent::Request(Request {
            version: Version::V4a,
            target: name,
            user_id: b"me".to_vec()
        })]
    );
    let (client, _) = handshake(
        Version::V4,
        ip("127.0.0.1:80"),
        None,
        false,
        Reply::Succeeded,
    );
    assert!(client.unwrap().is_done());
}

#[test]
fn refusals_are_typed() {
    let t = || ip("127.0.0.1:1");
    let (r, _) = handshake(
        Version::V5,
        t(),
        Some((b"user", b"wrong")),
        true,
        Reply::Succeeded,
    );
    assert_eq!(r.unwrap_err(), Error::AuthFailed);
    let (r, _) = handshake(Version::V5, t(), None, true, Reply::Succeeded);
    assert_eq!(r.unwrap_err(), Error::NoAcceptableMethod);
    let (r, _) = handshake(Version::V5, t(), None, false, Reply::ConnectionRefused);
    assert_eq!(r.unwrap_err(), Error::Refused(Reply::ConnectionRefused));
    let (r, _) = handshake(Version::V4, t(), None, false, Reply::NotAllowed);
    assert_eq!(r.unwrap_err(), Error::Socks4Refused(SOCKS4_REJECTED));
    // A server that wants a password refuses SOCKS4 by itself.
    let (r, events) = handshake(
        Version::V4a,
        Address::Domain("h".into(), 1),
        None,
        true,
        Reply::Succeeded,
    );
    assert_eq!(r.unwrap_err(), Error::Socks4Refused(SOCKS4_REJECTED));
    assert!(events.is_empty());
    // A refusal with a malformed bound address is still the refusal.
    let mut client = Client::new(Version::V5, t(), None).unwrap();
    client.handle_input(&[5, 0]).unwrap();
    assert_eq!(
        client.handle_input(&[5, 4, 0, 0]),
        Err(Error::Refused(Reply::HostUnreachable))
    );
}

#[test]
fn a_method_we_did_not_offer_is_an_error() {
    let mut client = Client::new(Version::V5, ip("127.0.0.1:1"), None).unwrap();
    client.take_transmit();
    assert_eq!(client.handle_input(&[5, 2]), Err(Error::UnofferedMethod(2)));
    // Once failed, more input is refused.
    assert_eq!(client.handle_input(&[5, 0]), Err(Error::Unexpected));
    let mut client = Client::new(Version::V5, ip("127.0.0.1:1"), None).unwrap();
    assert_eq!(client.handle_input(&[4, 0]), Err(Error::BadVersion(4)));
}

#[test]
fn overlong_names_and_credentials_are_refused_not_truncated() {
    let long = "a".repeat(256);
    let err = Client::new(Version::V5, Address::Domain(long.clone(), 80), None).unwrap_err();
    assert_eq!(
        err,
        Error::TooLong {
            field: "host name",
            len: 256
        }
    );
    assert!(Client::new(Version::V5, Address::Domain("a".repeat(255), 80), None).is_ok());
    let err = Client::new(
        Version::V5,
        ip("127.0.0.1:1"),
        Some((long.as_bytes(), b"p")),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::TooLong {
            field: "user name",
            len: 256
        }
    );
    let err = Client::new(
        Version::V5,
        ip("127.0.0.1:1"),
        Some((b"u", long.as_bytes())),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::TooLong {
            field: "password",
            len: 256
        }
    );
    assert_eq!(
        Client::new(Version::V4, Address::Domain("x".into(), 1), None).unwrap_err(),
        Error::Socks4NeedsIpv4
    );
    assert_eq!(
        Client::new(Version::V4, ip("[::1]:1"), None).unwrap_err(),
        Error::Socks4NeedsIpv4
    );
    assert_eq!(
        Client::new(Version::V5, Address::Domain("a\0b".into(), 1), None).unwrap_err(),
        Error::BadName
    );
    // A SOCKS4 server gets no USERID or name past 255 bytes.
    let mut server = Server::new(false);
    let mut req = vec![4, 1, 0, 80, 127, 0, 0, 1];
    req.extend(std::iter::repeat_n(b'u', 300));
    assert!(matches!(
        server.handle_input(&req),
        Err(Error::TooLong { .. })
    ));
}

#[test]
fn truncated_replies_wait_for_more_at_every_split() {
    let replies: [&[u8]; 3] = [
        &[5, 0, 0, 1, 1, 2, 3, 4, 0, 80],
        &[
            5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187,
        ],
        &[5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 22],
    ];
    for reply in replies {
        for split in 0..reply.len() {
            let mut client = Client::new(Version::V5, ip("127.0.0.1:1"), None).unwrap();
            client.handle_input(&[5, 0]).unwrap();
            assert_eq!(
                client.handle_input(&reply[..split]),
                Ok(0),
                "split at {split}"
            );
            assert!(!client.is_done());
            assert_eq!(client.handle_input(reply), Ok(reply.len()));
            assert!(client.is_done());
        }
    }
    let mut client = Client::new(Version::V4, ip("127.0.0.1:1"), None).unwrap();
    assert_eq!(client.handle_input(&[0, 90, 0, 0, 0, 0, 0]), Ok(0));
    // Bytes after the reply belong to the tunnel and are not taken.
    assert_eq!(client.handle_input(&[0, 90, 0, 0, 0, 0, 0, 0, b'x']), Ok(8));
}

#[test]
fn server_answers_unsupported_commands_and_address_types() {
    let mut server = Server::new(false);
    server.handle_input(&[5, 1, 0]).unwrap();
    server.take_transmit();
    // BIND is not supported: reply 7.
    assert_eq!(
        server.handle_input(&[5, 2, 0, 1, 1, 2, 3, 4, 0, 80]),
        Err(Error::UnsupportedCommand(2))
    );
    assert_eq!(server.take_transmit()[..2], [5, 7]);
    let mut server = Server::new(false);
    server.handle_input(&[5, 1, 0]).unwrap();
    server.take_transmit();
    assert_eq!(
        server.handle_input(&[5, 1, 0, 9, 0]),
        Err(Error::BadAddressType(9))
    );
    assert_eq!(server.take_transmit()[..2], [5, 8]);
    assert_eq!(
        Server::new(false).handle_input(&[6]),
        Err(Error::BadVersion(6))
    );
    assert_eq!(
        Server::new(false).handle_input(&[5, 0]),
        Err(Error::NoMethods)
    );
}

proptest! {
    /// Any bytes from a proxy: no panic, never more consumed than given,
    /// and the outcome does not depend on how the bytes were split.
    #[test]
    fn client_survives_any_reply(
        version in prop_oneof![Just(Version::V4), Just(Version::V4a), Just(Version::V5)],
        auth in any::<bool>(),
        input in proptest::collection::vec(any::<u8>(), 0..64),
        split in any::<prop::sample::Index>(),
    ) {
        let target = if version == Version::V4 { ip("127.0.0.1:1") } else { Address::Domain("h".into(), 1) };
        let creds = auth.then_some((&b"u"[..], &b"p"[..]));
        let feed = |chunks: &[&[u8]]| {
            let mut client = Client::new(version, target.clone(), creds).unwrap();
            let mut buf = Vec::new();
            let mut outcome = Ok(0);
            for chunk in chunks {
                buf.extend_from_slice(chunk);
                loop {
                    match client.handle_input(&buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            assert!(n <= buf.len());
                            buf.drain(..n);
                            outcome = Ok(n);
                        }
                        Err(e) => return (Err(e), client.is_done()),
                    }
                    if client.is_done() { break; }
                }
            }
            (outcome.map(|_| buf.len()), client.is_done())
        };
        let at = split.index(input.len() + 1);
        let whole = feed(&[&input]);
        let parts = feed(&[&input[..at], &input[at..]]);
        prop_assert_eq!(whole.1, parts.1);
        prop_assert_eq!(whole.0.is_err(), parts.0.is_err());
    }

    #[test]
    fn server_survives_any_request(
        auth in any::<bool>(),
        input in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut server = Server::new(auth);
        let mut rest = &input[..];
        while let Ok(n) = server.handle_input(rest) {
            if n == 0 { break; }
            rest = &rest[n..];
            while let Some(event) = server.poll_event() {
                match event {
                    ServerEvent::Authenticate { .. } => server.authenticated(true),
                    ServerEvent::Request(_) => server.reply(Reply::Succeeded, "127.0.0.1:1".parse().unwrap()),
                }
            }
        }
    }
}
