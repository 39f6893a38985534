//! SOCKS handshakes fed arbitrary bytes: the client in every dialect (as if
//! the bytes came from a proxy) and the server (as if from a client). Never
//! panics; never takes more than it was given; any split of the input ends
//! in the same state as the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::socks::{Address, Client, Reply, Server, ServerEvent, Version};

#[derive(Debug, PartialEq)]
enum End {
    Done(usize),
    Failed,
    Waiting(usize),
}

/// Feeds `pieces` one after another, consuming whole messages as they
/// complete; the end state and how many bytes were left over.
fn run(mode: u8, pieces: &[&[u8]]) -> End {
    let mut buf = Vec::new();
    if mode < 6 {
        let version = [Version::V4, Version::V4a, Version::V5][usize::from(mode % 3)];
        let target = match version {
            Version::V4 => Address::Ip("127.0.0.1:80".parse().unwrap()),
            _ => Address::Domain("example.com".into(), 443),
        };
        let creds = (mode >= 3).then_some((&b"user"[..], &b"pass"[..]));
        let mut client = Client::new(version, target, creds).unwrap();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while !client.is_done() {
                match client.handle_input(&buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        assert!(n <= buf.len());
                        buf.drain(..n);
                    }
                    Err(_) => return End::Failed,
                }
            }
        }
        if client.is_done() { End::Done(buf.len()) } else { End::Waiting(buf.len()) }
    } else {
        let mut server = Server::new(mode % 2 == 0);
        for piece in pieces {
            buf.extend_from_slice(piece);
            while !server.is_done() {
                match server.handle_input(&buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        assert!(n <= buf.len());
                        buf.drain(..n);
                    }
                    Err(_) => return End::Failed,
                }
                while let Some(event) = server.poll_event() {
                    match event {
                        ServerEvent::Authenticate { username, .. } => {
                            server.authenticated(username.first() != Some(&b'x'))
                        }
                        ServerEvent::Request(_) => {
                            server.reply(Reply::Succeeded, "127.0.0.1:1".parse().unwrap())
                        }
                    }
                }
            }
        }
        if server.is_done() { End::Done(buf.len()) } else { End::Waiting(buf.len()) }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let mode = selector % 8;
    let whole = run(mode, &[bytes]);
    let k = (usize::from(selector / 8) * bytes.len()) / 31;
    assert_eq!(whole, run(mode, &[&bytes[..k], &bytes[k..]]), "split at {k}");
});
