//! WebSocket frames from a peer, into either side, with and without
//! permessage-deflate (the inflating path included): never panics, never
//! holds more than its limits, and any split of the input decides the same
//! (invalid UTF-8 may only be caught earlier, with the same error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::ws::deflate::Params;
use tetsuo_proto::ws::{Connection, Event, Limits, Role};

fn run(selector: u8, pieces: &[&[u8]]) -> (Result<(), tetsuo_proto::ws::Error>, Vec<Event>) {
    let role = if selector & 1 == 0 { Role::Server } else { Role::Client };
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
    let mut conn = Connection::new(role, limits, deflate, 1);
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
    (result, events)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let whole = run(selector, &[bytes]);
    let k = (usize::from(selector >> 4) * bytes.len()) / 15;
    let split = run(selector, &[&bytes[..k], &bytes[k..]]);
    assert_eq!(whole.0, split.0, "split at {k}");
    if whole.0.is_ok() {
        assert_eq!(whole.1, split.1, "split at {k}");
    }
});
