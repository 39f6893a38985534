//! The WebSocket connection machine: messages both ways, fragmentation,
//! control frames, the closing handshake, and every violation answered
//! with its close code.

use bytes::Bytes;
use proptest::prelude::*;
use tetsuo_proto::ws::deflate::Params;
use tetsuo_proto::ws::{
    CloseCode, CloseFrame, Connection, Error, Event, FrameHeader, Limits, Opcode, Role, SendError,
    apply_mask,
};

fn pair(deflate: bool) -> (Connection, Connection) {
    let params = deflate.then_some((
        Params {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        },
        1,
    ));
    (
        Connection::new(Role::Client, Limits::default(), params),
        Connection::new(Role::Server, Limits::default(), params),
    )
}

fn flow(from: &mut Connection, to: &mut Connection) -> Result<Vec<Event>, Error> {
    let mut wire = Vec::new();
    from.poll_transmit(&mut wire);
    to.handle_input(&wire)?;
    Ok(std::iter::from_fn(|| to.poll_event()).collect())
}

/// A frame as a client (masked) sends it.
fn frame(fin: bool, rsv1: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    FrameHeader {
        fin,
        rsv1,
        rsv23: false,
        opcode,
        mask: Some(key),
        len: payload.len() as u64,
    }
    .encode(&mut wire);
    let start = wire.len();
    wire.extend_from_slice(payload);
    apply_mask(&mut wire[start..], key, 0);
    wire
}

fn server() -> Connection {
    Connection::new(Role::Server, Limits::default(), None)
}

/// The close code a server sent after failing (after any pongs).
fn sent_code(server: &mut Connection) -> u16 {
    while server.poll_event().is_some() {}
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    let mut at = 0;
    loop {
        let (h, n) = FrameHeader::parse(&out[at..]).unwrap().unwrap();
        if h.opcode == Opcode::Close {
            return u16::from_be_bytes([out[at + n], out[at + n + 1]]);
        }
        at += n + h.len as usize;
    }
}

#[test]
fn messages_both_ways_with_and_without_deflate() {
    for deflate in [false, true] {
        let (mut client, mut server) = pair(deflate);
        client.send_text("héllo").unwrap();
        client.send_binary(&[1, 2, 3]).unwrap();
        assert_eq!(
            flow(&mut client, &mut server).unwrap(),
            [
                Event::Text("héllo".into()),
                Event::Binary(Bytes::from_static(&[1, 2, 3]))
            ]
        );
        let big = vec![b'x'; 200_000];
        server.send_binary(&big).unwrap();
        assert_eq!(
            flow(&mut server, &mut client).unwrap(),
            [Event::Binary(Bytes::from(big))]
        );
    }
}

#[test]
fn fragments_with_interleaved_control_frames() {
    let mut s = server();
    let mut wire = frame(false, false, Opcode::Text, "frag".as_bytes());
    wire.extend(frame(true, false, Opcode::Ping, b"p"));
    wire.extend(frame(false, false, Opcode::Continuation, "men".as_bytes()));
    wire.extend(frame(true, false, Opcode::Continuation, "ted".as_bytes()));
    // Byte by byte: the same result.
    for b in &wire {
        s.handle_input(std::slice::from_ref(b)).unwrap();
    }
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::Ping(Bytes::from_static(b"p")),
            Event::Text("fragmented".into())
        ]
    );
    // The ping was answered.
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert_eq!(out, [0x8A, 1, b'p']);
}

#[test]
fn violations_get_their_close_codes() {
    let cases: Vec<(Vec<u8>, Error, u16)> = vec![
        // A 2^63 length: refused before anything is allocated.
        (
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            Error::BadLength,
            1002,
        ),
        // Unmasked client frame.
        (vec![0x81, 0x02, b'h', b'i'], Error::BadMasking, 1002),
        (
            frame(true, false, Opcode::Continuation, b"x"),
            Error::BadFragmentation,
            1002,
        ),
        (
            frame(false, false, Opcode::Ping, b"x"),
            Error::BadControlFrame,
            1002,
        ),
        (
            frame(true, false, Opcode::Ping, &[0; 126]),
            Error::BadControlFrame,
            1002,
        ),
        (
            frame(true, true, Opcode::Text, b"x"),
            Error::ReservedBits,
            1002,
        ),
        (
            frame(true, false, Opcode::Close, &[3]),
            Error::BadCloseFrame,
            1002,
        ),
        (
            frame(true, false, Opcode::Close, &[0x03, 0xED]),
            Error::BadCloseFrame,
            1002,
        ),
        (
            frame(true, false, Opcode::Close, &[0x03, 0xE8, 0xFF]),
            Error::InvalidUtf8,
            1007,
        ),
        (
            frame(true, false, Opcode::Text, b"\xC3\x28"),
            Error::InvalidUtf8,
            1007,
        ),
        (
            [
                frame(false, false, Opcode::Text, b"a"),
                frame(true, false, Opcode::Text, b"b"),
            ]
            .concat(),
            Error::BadFragmentation,
            1002,
        ),
    ];
    for (wire, error, code) in cases {
        let mut s = server();
        assert_eq!(s.handle_input(&wire), Err(error), "{wire:?}");
        assert_eq!(sent_code(&mut s), code, "{error}");
        assert!(s.is_closed());
        // Nothing more is read after a failure.
        assert_eq!(s.handle_input(&wire), Ok(()));
    }
}

#[test]
fn invalid_utf8_fails_in_the_fragment_that_brings_it() {
    let mut s = server();
    // "κόσμε" then a lone continuation byte, split across fragments: the
    // second fragment fails before the message ends.
    s.handle_input(&frame(false, false, Opcode::Text, "κό".as_bytes()))
        .unwrap();
    s.handle_input(&frame(false, false, Opcode::Continuation, &[0xCF]))
        .unwrap();
    assert_eq!(
        s.handle_input(&frame(false, false, Opcode::Continuation, &[0x28])),
        Err(Error::InvalidUtf8)
    );
    assert_eq!(sent_code(&mut s), 1007);
    // Even inside one frame still arriving: the bad byte's chunk fails it.
    let mut s = server();
    let wire = frame(true, false, Opcode::Text, b"abc\xFFdefghijkl");
    s.handle_input(&wire[..6 + 3]).unwrap();
    assert_eq!(s.handle_input(&wire[9..10]), Err(Error::InvalidUtf8));
}

#[test]
fn limits_and_floods() {
    let mut limits = Limits::default();
    limits.max_frame = 1000;
    limits.max_message = 1500;
    limits.max_queued_control = 10;
    let mut s = Connection::new(Role::Server, limits, None);
    assert_eq!(
        s.handle_input(&frame(true, false, Opcode::Binary, &[0; 1001])[..8]),
        Err(Error::FrameTooBig)
    );
    assert_eq!(sent_code(&mut s), 1009);
    let mut s = Connection::new(Role::Server, limits, None);
    s.handle_input(&frame(false, false, Opcode::Binary, &[0; 1000]))
        .unwrap();
    assert_eq!(
        s.handle_input(&frame(true, false, Opcode::Continuation, &[0; 600])),
        Err(Error::MessageTooBig)
    );
    // Pings answered but never read back: a flood.
    let mut s = Connection::new(Role::Server, limits, None);
    let pings: Vec<u8> = (0..11)
        .flat_map(|_| frame(true, false, Opcode::Ping, b""))
        .collect();
    assert_eq!(s.handle_input(&pings), Err(Error::ControlFlood));
    assert_eq!(sent_code(&mut s), 1008);
}

#[test]
fn a_compression_bomb_is_refused_while_inflating() {
    let params = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut limits = Limits::default();
    limits.max_message = 1 << 20;
    let mut client = Connection::new(Role::Client, Limits::default(), Some((params, 9)));
    let mut server = Connection::new(Role::Server, limits, Some((params, 9)));
    client.send_binary(&vec![0u8; 16 << 20]).unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    assert!(wire.len() < 100_000, "{}", wire.len());
    assert_eq!(server.handle_input(&wire), Err(Error::MessageTooBig));
    assert_eq!(sent_code(&mut server), 1009);
}

#[test]
fn closing_handshake() {
    let (mut client, mut server) = pair(false);
    client.close(CloseCode::NORMAL, "bye");
    assert_eq!(client.send_text("late"), Err(SendError::Closing));
    assert_eq!(
        flow(&mut client, &mut server).unwrap(),
        [Event::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        }))]
    );
    assert!(server.is_closed());
    // The server echoed the code; the client is done too.
    assert_eq!(
        flow(&mut server, &mut client).unwrap(),
        [Event::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        }))]
    );
    assert!(client.is_closed());
}

proptest! {
    /// Any bytes: no panic, and splitting the input never changes what is
    /// decided.
    #[test]
    fn any_input_any_split(data in proptest::collection::vec(any::<u8>(), 0..300), cut in any::<prop::sample::Index>(), deflate in any::<bool>()) {
        let run = |pieces: &[&[u8]]| {
            let (_, mut s) = pair(deflate);
            let mut result = Ok(());
            for p in pieces {
                result = s.handle_input(p);
                if result.is_err() { break; }
            }
            let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
            (result, events)
        };
        let at = cut.index(data.len() + 1);
        let whole = run(&[&data]);
        let split = run(&[&data[..at], &data[at..]]);
        // UTF-8 may fail earlier when split (fail-fast), with the same error.
        prop_assert_eq!(whole.0, split.0);
        if whole.0.is_ok() {
            prop_assert_eq!(whole.1, split.1);
        }
    }
}

#[test]
fn messages_before_a_close_can_still_be_answered() {
    // Text and close in one read: the reply to the text goes out before
    // the close answer, which waits until the close event is taken.
    let (mut client, mut server) = pair(false);
    client.send_text("last words").unwrap();
    client.close(CloseCode::NORMAL, "");
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    server.handle_input(&wire).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Text("last words".into())));
    server.send_text("echo: last words").unwrap();
    assert!(!server.is_closed());
    assert!(matches!(server.poll_event(), Some(Event::Close(_))));
    assert!(server.is_closed());
    assert_eq!(
        flow(&mut server, &mut client).unwrap(),
        [
            Event::Text("echo: last words".into()),
            Event::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: String::new()
            }))
        ]
    );
    // A code that may not be sent goes out as a close without a code.
    let (mut client, mut server) = pair(false);
    client.close(CloseCode::ABNORMAL, "x");
    assert_eq!(
        flow(&mut client, &mut server).unwrap(),
        [Event::Close(None)]
    );
}

#[test]
fn a_violation_is_answered_after_the_messages_before_it() {
    let mut s = server();
    let wire = [
        frame(true, false, Opcode::Text, b"fine"),
        vec![0x83, 0x80, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(s.handle_input(&wire), Err(Error::UnknownOpcode(3)));
    // Nothing sent yet: the message before the violation can be answered.
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(out.is_empty());
    assert_eq!(s.poll_event(), Some(Event::Text("fine".into())));
    s.send_text("fine too").unwrap();
    assert_eq!(s.poll_event(), None);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
    assert_eq!(h.opcode, Opcode::Text);
    assert_eq!(&out[n + h.len as usize..][..4], &[0x88, 0x02, 0x03, 0xEA]);
    assert!(s.is_closed());
}

/// Concatenates a fragment-mode receiver's events into messages, checking
/// `first` and `fin` mark each message's ends.
fn join_fragments(events: Vec<Event>) -> Vec<(bool, Vec<u8>)> {
    let mut messages = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    for event in events {
        let Event::Fragment(f) = event else {
            panic!("a whole message in fragment mode: {event:?}");
        };
        assert_eq!(f.first, current.is_none(), "first marks the start");
        let (text, data) = current.get_or_insert((f.text, Vec::new()));
        assert_eq!(*text, f.text);
        data.extend_from_slice(&f.data);
        if f.fin {
            messages.push(current.take().unwrap());
        }
    }
    assert!(current.is_none(), "an unfinished message");
    messages
}

proptest! {
    /// Messages sent in any fragments, compressed or not, arrive whole
    /// (reassembled) or as pieces (fragment mode) with the same bytes,
    /// however the wire is cut.
    #[test]
    fn fragmented_messages_round_trip(
        messages in proptest::collection::vec(
            (any::<bool>(), "[a-zé€😀 ]{0,200}", proptest::collection::vec(0usize..64, 0..5)),
            1..6,
        ),
        deflate in any::<bool>(),
        no_context in any::<bool>(),
        cuts in proptest::collection::vec(1usize..50, 1..20),
    ) {
        let params = deflate.then_some((
            Params {
                server_no_context_takeover: no_context,
                client_no_context_takeover: no_context,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            },
            6,
        ));
        let mut client = Connection::new(Role::Client, Limits::default(), params);
        let mut whole = Connection::new(Role::Server, Limits::default(), params);
        let mut pieces = Connection::new(Role::Server, Limits::default(), params).with_fragments(true);
        let mut expected = Vec::new();
        for (text, content, splits) in &messages {
            let bytes = content.as_bytes();
            // Cut points anywhere, even inside a character.
            let mut at: Vec<usize> = splits.iter().map(|s| s * bytes.len() / 64).collect();
            at.sort_unstable();
            let mut start = 0;
            for (i, &end) in at.iter().chain([&bytes.len()]).enumerate() {
                let end = end.max(start);
                client
                    .send_fragment(*text, i == 0, i == at.len(), &bytes[start..end])
                    .unwrap();
                start = end;
            }
            if !text {
                // A ping between messages, for good measure.
                client.send_ping(b"x").unwrap();
            }
            expected.push((*text, bytes.to_vec()));
        }
        let mut wire = Vec::new();
        client.poll_transmit(&mut wire);
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at == wire.len() {
                break;
            }
            let end = (at + cut).min(wire.len());
            whole.handle_input(&wire[at..end]).unwrap();
            pieces.handle_input(&wire[at..end]).unwrap();
            at = end;
        }
        let got: Vec<(bool, Vec<u8>)> = std::iter::from_fn(|| whole.poll_event())
            .filter_map(|e| match e {
                Event::Text(t) => Some((true, t.into_bytes())),
                Event::Binary(b) => Some((false, b.to_vec())),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&got, &expected);
        let events = std::iter::from_fn(|| pieces.poll_event())
            .filter(|e| !matches!(e, Event::Ping(_)))
            .collect();
        prop_assert_eq!(join_fragments(events), expected);
    }
}

#[test]
fn fragments_must_be_sent_in_order() {
    let (mut client, mut server) = pair(true);
    assert_eq!(
        client.send_fragment(false, false, true, b"orphan"),
        Err(SendError::OutOfOrder)
    );
    client.send_fragment(false, true, false, b"one").unwrap();
    assert_eq!(
        client.send_fragment(false, true, false, b"again"),
        Err(SendError::OutOfOrder)
    );
    assert_eq!(client.send_binary(b"whole"), Err(SendError::OutOfOrder));
    client.send_fragment(false, false, true, b" two").unwrap();
    // Text pieces may split a character but must be UTF-8 together; a
    // refused piece is not sent and the message can go on.
    let e = "é".as_bytes();
    client.send_fragment(true, true, false, &e[..1]).unwrap();
    assert_eq!(
        client.send_fragment(true, false, false, b"\xFF"),
        Err(SendError::InvalidUtf8)
    );
    assert_eq!(
        client.send_fragment(true, false, true, b""),
        Err(SendError::InvalidUtf8),
        "ends inside a character"
    );
    client.send_fragment(true, false, true, &e[1..]).unwrap();
    client.send_text("after").unwrap();
    assert_eq!(
        flow(&mut client, &mut server).unwrap(),
        [
            Event::Binary(Bytes::from_static(b"one two")),
            Event::Text("é".into()),
            Event::Text("after".into()),
        ]
    );
    client.close(CloseCode::NORMAL, "");
    assert_eq!(
        client.send_fragment(false, true, true, b"late"),
        Err(SendError::Closing)
    );
}

#[test]
fn fragment_mode_hands_data_out_as_it_arrives() {
    let mut s = Connection::new(Role::Server, Limits::default(), None).with_fragments(true);
    // One large frame arriving in three reads: three pieces, nothing held.
    let payload = vec![7u8; 3000];
    let wire = frame(true, false, Opcode::Binary, &payload);
    for part in wire.chunks(1200) {
        s.handle_input(part).unwrap();
    }
    assert_eq!(s.buffered(), 0);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert_eq!(events.len(), 3);
    assert_eq!(join_fragments(events), [(false, payload)]);
    // Bad UTF-8 fails in the piece that brings it, across frames.
    let mut s = Connection::new(Role::Server, Limits::default(), None).with_fragments(true);
    s.handle_input(&frame(
        false,
        false,
        Opcode::Text,
        "κ".as_bytes()[..1].as_ref(),
    ))
    .unwrap();
    assert_eq!(
        s.handle_input(&frame(true, false, Opcode::Continuation, b"x")),
        Err(Error::InvalidUtf8)
    );
    assert_eq!(sent_code(&mut s), 1007);
    // Text that ends inside a character fails at its end.
    let mut s = Connection::new(Role::Server, Limits::default(), None).with_fragments(true);
    assert_eq!(
        s.handle_input(&frame(
            true,
            false,
            Opcode::Text,
            "κ".as_bytes()[..1].as_ref()
        )),
        Err(Error::InvalidUtf8)
    );
    // The empty message is one piece, first and last.
    let mut s = Connection::new(Role::Server, Limits::default(), None).with_fragments(true);
    s.handle_input(&frame(true, false, Opcode::Text, b""))
        .unwrap();
    assert_eq!(
        join_fragments(vec![s.poll_event().unwrap()]),
        [(true, vec![])]
    );
}

#[test]
fn fragment_mode_bounds_each_inflated_piece() {
    let params = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut limits = Limits::default();
    limits.max_message = 1 << 20;
    let mut client = Connection::new(Role::Client, Limits::default(), Some((params, 9)));
    let mut server = Connection::new(Role::Server, limits, Some((params, 9))).with_fragments(true);
    // 4 MiB in 1 MiB fragments goes through: the limit is per piece.
    for i in 0..4 {
        client
            .send_fragment(false, i == 0, i == 3, &vec![i as u8; 1 << 20])
            .unwrap();
    }
    let events = flow(&mut client, &mut server).unwrap();
    let got = join_fragments(events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), 4 << 20);
    // A piece inflating past it is a bomb.
    client.send_binary(&vec![0u8; 16 << 20]).unwrap();
    assert_eq!(flow(&mut client, &mut server), Err(Error::MessageTooBig));
    assert_eq!(sent_code(&mut server), 1009);
}
