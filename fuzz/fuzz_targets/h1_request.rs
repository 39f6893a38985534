//! Request parsing through the server-side connection: never panics, and
//! the input split in two (at a point the fuzzer picks) gives exactly the
//! events and error of the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::{Connection, Event, Limits, Side};

fn run(pieces: &[&[u8]]) -> (Vec<String>, Option<tetsuo_proto::h1::Error>) {
    let mut conn = Connection::new(Side::Server, Limits::default());
    let mut seen = Vec::new();
    let mut data = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() {
            match conn.handle_input(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) => return (seen, Some(e)),
            }
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Data(d) => data.extend_from_slice(&d),
                    Event::Request(r) => {
                        let v = r.view();
                        seen.push(format!(
                            "{} {} {:?}",
                            v.method(),
                            v.target(),
                            v.headers().collect::<Vec<_>>()
                        ));
                        // Conversion to http types must accept what the parser accepted.
                        r.to_parts().expect("parsed request converts to http types");
                    }
                    other => seen.push(format!("{other:?}")),
                }
            }
        }
    }
    let eof = conn.handle_eof().err();
    while let Some(event) = conn.poll_event() {
        seen.push(format!("{event:?}"));
    }
    seen.push(format!("body {data:?}"));
    (seen, eof)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let whole = run(&[bytes]);
    let k = (cut as usize * bytes.len()) / 255;
    let split = run(&[&bytes[..k], &bytes[k..]]);
    assert_eq!(whole, split, "split at {k}");
});
