//! Response parsing through the client-side connection (after a GET and a
//! HEAD): never panics, and any split gives the same events as the whole.
#![no_main]

use http::{HeaderMap, Method};
use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::{Connection, Event, Limits, Side};

fn run(pieces: &[&[u8]]) -> (Vec<String>, Option<tetsuo_proto::h1::Error>) {
    let mut conn = Connection::new(Side::Client, Limits::default());
    conn.send_request(&Method::GET, "/", &HeaderMap::new())
        .unwrap();
    conn.send_request(&Method::HEAD, "/", &HeaderMap::new())
        .unwrap();
    let mut seen = Vec::new();
    let mut data = Vec::new();
    for piece in pieces {
        if let Err(e) = conn.handle_input(piece) {
            return (seen, Some(e));
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Data(d) => data.extend_from_slice(&d),
                Event::Response(r) => {
                    let v = r.view();
                    seen.push(format!(
                        "{} {:?}",
                        v.status(),
                        v.headers().collect::<Vec<_>>()
                    ));
                    r.to_parts()
                        .expect("parsed response converts to http types");
                }
                other => seen.push(format!("{other:?}")),
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
    assert_eq!(whole, run(&[&bytes[..k], &bytes[k..]]), "split at {k}");
});
