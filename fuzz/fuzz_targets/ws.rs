//! WebSocket frames from a peer, into either side, with and without
//! permessage-deflate (the inflating path included), reassembling
//! messages or handing out fragments: never panics, never holds more than
//! its limits, and any split of the input decides the same (invalid UTF-8
//! may only be caught earlier). Fragments joined are the messages the
//! reassembling side hands out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::ws::deflate::Params;
use tetsuo_proto::ws::{Connection, Error, Event, Limits, Role};

fn run(selector: u8, fragments: bool, pieces: &[&[u8]]) -> (Result<(), Error>, Vec<Item>) {
    let role = if selector & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let deflate = (selector & 2 != 0).then_some((
        Params {
            server_no_context_takeover: selector & 4 != 0,
            client_no_context_takeover: selector & 8 != 0,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        },
        1,
    ));
    let mut limits = Limits::default();
    limits.max_frame = 1 << 16;
    limits.max_message = 1 << 18;
    let mut conn = Connection::new(role, limits, deflate).with_fragments(fragments);
    let mut result = Ok(());
    let mut events = Vec::new();
    for piece in pieces {
        result = conn.handle_input(piece);
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        if result.is_err() {
            break;
        }
    }
    (result, join(events))
}

#[derive(Debug, PartialEq)]
enum Item {
    Message(bool, Vec<u8>),
    Other(Event),
}

/// Whole messages as (text, bytes); fragments joined into them (an
/// unfinished one left out).
fn join(events: Vec<Event>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    for event in events {
        match event {
            Event::Text(t) => items.push(Item::Message(true, t.into_bytes())),
            Event::Binary(b) => items.push(Item::Message(false, b.to_vec())),
            Event::Fragment(f) => {
                assert_eq!(f.first, current.is_none(), "first marks the start");
                let (_, data) = current.get_or_insert((f.text, Vec::new()));
                data.extend_from_slice(&f.data);
                if f.fin {
                    let (text, data) = current.take().unwrap();
                    if text {
                        assert!(std::str::from_utf8(&data).is_ok(), "text is UTF-8");
                    }
                    items.push(Item::Message(text, data));
                }
            }
            other => items.push(Item::Other(other)),
        }
    }
    items
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let k = (usize::from(selector >> 4) * bytes.len()) / 15;
    let mut results = Vec::new();
    for fragments in [false, true] {
        let whole = run(selector, fragments, &[bytes]);
        let split = run(selector, fragments, &[&bytes[..k], &bytes[k..]]);
        if fragments && whole.0 != split.0 {
            // Pieces are checked as they inflate: bad UTF-8 in the first
            // part may be found before a fault further on.
            assert_eq!(split.0, Err(Error::InvalidUtf8), "split at {k}");
            assert!(whole.0.is_err(), "split at {k}");
        } else {
            assert_eq!(whole.0, split.0, "split at {k}, fragments {fragments}");
        }
        if whole.0.is_ok() {
            assert_eq!(whole.1, split.1, "split at {k}, fragments {fragments}");
        }
        results.push(whole);
    }
    // The limit bounds a message when reassembling, a frame in fragments;
    // otherwise both modes see the same.
    if let [(Ok(()), messages), (Ok(()), pieces)] = &results[..] {
        assert_eq!(messages, pieces);
    }
});
