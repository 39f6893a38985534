//! The chunked body decoder: never panics, and feeding byte by byte gives
//! the same data, end and error as feeding the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::{BodyDecoder, Error, Framing, Limits};

fn run(pieces: &[&[u8]]) -> (Vec<u8>, bool, Option<Error>, Vec<(Vec<u8>, Vec<u8>)>) {
    let mut limits = Limits::default();
    limits.max_body = Some(1 << 20);
    let mut decoder = BodyDecoder::new(Framing::Chunked, &limits).unwrap();
    let mut data = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() && !decoder.is_done() {
            match decoder.decode(rest) {
                Ok(step) => {
                    if let Some(range) = step.data {
                        data.extend_from_slice(&rest[range]);
                    }
                    if step.consumed == 0 {
                        break;
                    }
                    rest = &rest[step.consumed..];
                }
                Err(e) => return (data, false, Some(e), Vec::new()),
            }
        }
    }
    let trailers = decoder
        .trailers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    (data, decoder.is_done(), None, trailers)
}

fuzz_target!(|input: &[u8]| {
    let whole = run(&[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(whole, run(&bytes));
});
