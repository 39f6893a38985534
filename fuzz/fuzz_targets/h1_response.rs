//! Response parsing through the client-side connection (after a GET and a
//! HEAD): never panics, and any split gives the same events as the whole.
#![no_main]

use http::{HeaderMap, Method};
use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::{Connection, Error, Event, Limits, Side};

/// Events as text; body data merged, and so are the bytes that belong to
/// a protocol the connection switched to.
fn drain(conn: &mut Connection, seen: &mut Vec<String>, data: &mut Vec<u8>) {
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Data(d) | Event::Upgraded(d) => data.extend_from_slice(&d),
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

fn run(pieces: &[&[u8]]) -> (Vec<String>, Vec<u8>, Option<Error>) {
    let mut conn = Connection::new(Side::Client, Limits::default());
    conn.send_request(&Method::GET, "/", &HeaderMap::new())
        .unwrap();
    conn.send_request(&Method::HEAD, "/", &HeaderMap::new())
        .unwrap();
    let (mut seen, mut data) = (Vec::new(), Vec::new());
    for piece in pieces {
        let result = conn.handle_input(piece);
        drain(&mut conn, &mut seen, &mut data);
        match result {
            // Bytes after a switch belong to the new protocol.
            Ok(n) => data.extend_from_slice(&piece[n..]),
            Err(e) => return (seen, data, Some(e)),
        }
    }
    let eof = conn.handle_eof().err();
    drain(&mut conn, &mut seen, &mut data);
    (seen, data, eof)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let whole = run(&[bytes]);
    let k = (cut as usize * bytes.len()) / 255;
    assert_eq!(whole, run(&[&bytes[..k], &bytes[k..]]), "split at {k}");
});
