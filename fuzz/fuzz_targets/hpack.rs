//! HPACK: arbitrary field blocks into a decoder (with a table size and a
//! header list limit from the first bytes): a typed error or fields, never
//! a panic, the table within its size; after a non-fatal error the next
//! block still decodes. And the fields it decoded, encoded again and
//! decoded by a fresh pair, come back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetsuo_proto::hpack::{Decoder, Encoder, Error};

fuzz_target!(|input: &[u8]| {
    let Some((&[size, limit], rest)) = input.split_first_chunk::<2>() else {
        return;
    };
    let table = usize::from(size) * 32;
    let mut d = Decoder::new(table);
    d.set_max_header_list_size(usize::from(limit) * 64 + 64);
    // Blocks are separated by 0xFF 0xFF 0x00 (rare in a block).
    let mut blocks = Vec::new();
    let mut rest = rest;
    while let Some(at) = rest.windows(3).position(|w| w == [0xFF, 0xFF, 0x00]) {
        blocks.push(&rest[..at]);
        rest = &rest[at + 3..];
    }
    blocks.push(rest);
    let mut all = Vec::new();
    for block in blocks {
        let mut fields = Vec::new();
        match d.decode(&block.to_vec().into(), &mut fields) {
            Ok(()) => all.push(fields),
            Err(Error::HeaderListTooLarge) => assert!(fields.is_empty()),
            Err(_) => break,
        }
        assert!(d.table_size() <= table);
    }
    // What decoded round-trips through a fresh encoder and decoder.
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for fields in all {
        let mut block = Vec::new();
        e.encode(
            fields
                .iter()
                .map(|f| (&f.name[..], &f.value[..], f.sensitive)),
            &mut block,
        );
        let mut back = Vec::new();
        d.decode(&block.into(), &mut back)
            .expect("our own block decodes");
        assert_eq!(back.len(), fields.len());
        for (a, b) in back.iter().zip(&fields) {
            assert_eq!((&a.name, &a.value), (&b.name, &b.value));
            assert!(a.sensitive || !b.sensitive);
        }
    }
});
