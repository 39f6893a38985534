//! An HTTP/2 server connection fed arbitrary frames after a valid preface
//! and SETTINGS: never a panic, bounded output, the same events and
//! outcome however the input is split; and once more answering every
//! request it hands out, so the send paths run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h2::{Config, Connection, Event, Role, frame};

fn run(pieces: &[&[u8]], answer: bool) -> (Vec<String>, Option<String>) {
    let mut config = Config::default();
    config.enable_connect_protocol = true;
    config.max_header_list_size = 8 * 1024;
    let mut server = Connection::new(Role::Server, config);
    let mut start = frame::PREFACE.to_vec();
    frame::encode_settings(&Default::default(), &mut start);
    server.handle_input(&start).expect("a valid start");
    let mut log = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        let result = server.handle_input(piece);
        while let Some(event) = server.poll_event() {
            if let Event::Request { stream, .. } = &event
                && answer
            {
                let head = http::Response::new(()).into_parts().0;
                let _ = server.send_response(*stream, &head, false);
                let _ = server.send_data(*stream, b"hello", true);
            }
            if let Event::Data { stream, data, .. } = &event {
                server.release_capacity(*stream, data.len());
            }
            log.push(format!("{event:?}"));
        }
        out.clear();
        server.poll_transmit(&mut out);
        assert!(out.len() < 64 * 1024 + piece.len() * 64, "output bounded");
        if let Err(e) = result {
            return (log, Some(e.to_string()));
        }
    }
    (log, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let k = usize::from(cut) * bytes.len() / 255;
    // Split anywhere: the same events and outcome (without answers, which
    // would come at different points).
    assert_eq!(
        run(&[bytes], false),
        run(&[&bytes[..k], &bytes[k..]], false),
        "split at {k}"
    );
    // Answering every request runs the send paths.
    run(&[&bytes[..k], &bytes[k..]], true);
});
