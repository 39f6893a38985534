//! Request parsing through the server-side connection: never panics, and
//! the input split in two (at a point the fuzzer picks) gives exactly the
//! events and error of the whole. Every request is answered (204, which
//! also opens a tunnel for CONNECT), so pipelined requests get parsed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::{Connection, Error, Event, Limits, Side};

/// Events as text; body data merged, and so are the bytes that belong to
/// a protocol the connection switched to.
fn drain(conn: &mut Connection, seen: &mut Vec<String>, data: &mut Vec<u8>) {
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Data(d) | Event::Upgraded(d) => data.extend_from_slice(&d),
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
            Event::End(trailers) => {
                seen.push(format!("End({trailers:?})"));
                let answered =
                    conn.send_response(http::StatusCode::NO_CONTENT, &http::HeaderMap::new());
                seen.push(format!("answered {answered:?}"));
            }
            other => seen.push(format!("{other:?}")),
        }
    }
}

fn run(pieces: &[&[u8]]) -> (Vec<String>, Vec<u8>, Option<Error>) {
    let mut conn = Connection::new(Side::Server, Limits::default());
    let (mut seen, mut data) = (Vec::new(), Vec::new());
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() {
            let result = conn.handle_input(rest);
            drain(&mut conn, &mut seen, &mut data);
            match result {
                Ok(0) => {
                    if conn.is_upgraded() {
                        data.extend_from_slice(rest);
                    }
                    break;
                }
                Ok(n) => rest = &rest[n..],
                Err(e) => return (seen, data, Some(e)),
            }
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
