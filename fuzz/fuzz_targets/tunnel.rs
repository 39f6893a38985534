//! A proxy's answer to CONNECT: never panics, the tunnel's data never
//! starts past the input, and any split gives the same outcome as the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h1::Limits;
use tetsuo_proto::tunnel::TunnelParser;

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let whole = TunnelParser::new(Limits::default()).parse(bytes);
    if let Ok(Some(n)) = whole {
        assert!(n <= bytes.len());
    }
    let k = (usize::from(cut) * bytes.len()) / 255;
    let mut split = TunnelParser::new(Limits::default());
    match split.parse(&bytes[..k]) {
        // Not decided by the prefix: the whole input decides, as in one piece.
        Ok(None) => assert_eq!(split.parse(bytes), whole, "split at {k}"),
        // Decided by the prefix: the whole input says the same.
        decided => assert_eq!(decided, whole, "split at {k}"),
    }
});
