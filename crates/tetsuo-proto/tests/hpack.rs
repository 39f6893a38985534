//! HPACK against RFC 7541 Appendix C, round trips, and the decoder's rules
//! and limits.

use bytes::Bytes;
use proptest::prelude::*;
use tetsuo_proto::hpack::{Decoder, Encoder, Error, Field, huffman};

fn hex(s: &str) -> Bytes {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<_>>()
        .into()
}

fn pairs(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            (
                String::from_utf8(f.name.to_vec()).unwrap(),
                String::from_utf8(f.value.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn decode(d: &mut Decoder, block: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    d.decode(&hex(block), &mut fields).unwrap();
    pairs(&fields)
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn appendix_c2_field_representations() {
    // C.2.1: literal with indexing.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(
            &mut d,
            "400a637573746f6d2d6b65790d637573746f6d2d686561646572"
        ),
        owned(&[("custom-key", "custom-header")])
    );
    assert_eq!(d.table_size(), 55);
    // C.2.2: literal without indexing.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, "040c2f73616d706c652f70617468"),
        owned(&[(":path", "/sample/path")])
    );
    assert_eq!(d.table_size(), 0);
    // C.2.3: never indexed — and marked so.
    let mut d = Decoder::new(4096);
    let mut fields = Vec::new();
    d.decode(&hex("100870617373776f726406736563726574"), &mut fields)
        .unwrap();
    assert_eq!(pairs(&fields), owned(&[("password", "secret")]));
    assert!(fields[0].sensitive);
    assert_eq!(d.table_size(), 0);
    // C.2.4: indexed.
    assert_eq!(decode(&mut d, "82"), owned(&[(":method", "GET")]));
}

const REQUEST_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQUEST_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQUEST_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn appendix_c3_and_c4_requests_plain_and_huffman() {
    for blocks in [
        [
            "828684410f7777772e6578616d706c652e636f6d",
            "828684be58086e6f2d6361636865",
            "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        ],
        [
            "828684418cf1e3c2e5f23a6ba0ab90f4ff",
            "828684be5886a8eb10649cbf",
            "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        ],
    ] {
        let mut d = Decoder::new(4096);
        for (block, (expected, size)) in
            blocks
                .iter()
                .zip([(REQUEST_1, 57), (REQUEST_2, 110), (REQUEST_3, 164)])
        {
            assert_eq!(decode(&mut d, block), owned(expected));
            assert_eq!(d.table_size(), size);
        }
    }
}

#[test]
fn the_encoder_writes_appendix_c4_byte_for_byte() {
    let mut e = Encoder::new();
    for (list, expected) in [
        (REQUEST_1, "828684418cf1e3c2e5f23a6ba0ab90f4ff"),
        (REQUEST_2, "828684be5886a8eb10649cbf"),
        (
            REQUEST_3,
            "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        ),
    ] {
        let mut block = Vec::new();
        e.encode(
            list.iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut block,
        );
        assert_eq!(Bytes::from(block), hex(expected));
    }
}

#[test]
fn appendix_c5_and_c6_responses_with_evictions() {
    const RESPONSE_1: &[(&str, &str)] = &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESPONSE_2: &[(&str, &str)] = &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESPONSE_3: &[(&str, &str)] = &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];
    for blocks in [
        [
            "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
            "4803333037c1c0bf",
            "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        ],
        [
            "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
            "4883640effc1c0bf",
            "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ],
    ] {
        // SETTINGS_HEADER_TABLE_SIZE 256: the second and third responses
        // evict entries.
        let mut d = Decoder::new(256);
        for (block, (expected, size)) in
            blocks
                .iter()
                .zip([(RESPONSE_1, 222), (RESPONSE_2, 222), (RESPONSE_3, 215)])
        {
            assert_eq!(decode(&mut d, block), owned(expected));
            assert_eq!(d.table_size(), size);
        }
    }
}

#[test]
fn table_size_updates() {
    // An update after a field, or above what we allow.
    let mut d = Decoder::new(4096);
    assert_eq!(
        d.decode(&hex("823f00"), &mut Vec::new()),
        Err(Error::InvalidSizeUpdate)
    );
    let mut d = Decoder::new(100);
    // 0x3f 0xe1 0x1f = update to 4096.
    assert_eq!(
        d.decode(&hex("3fe11f82"), &mut Vec::new()),
        Err(Error::InvalidSizeUpdate)
    );
    // Lowering our limit obliges the peer to announce it.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    assert_eq!(
        d.decode(&hex("82"), &mut Vec::new()),
        Err(Error::MissingSizeUpdate)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    assert_eq!(decode(&mut d, "2082"), owned(&[(":method", "GET")]));
    // The encoder announces the smallest size since the last block, then
    // the final one; the decoder follows.
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut block = Vec::new();
    e.encode([(&b"x-a"[..], &b"1"[..], false)], &mut block);
    d.decode(&block.into(), &mut Vec::new()).unwrap();
    assert_ne!(d.table_size(), 0);
    d.set_max_table_size(0);
    e.set_max_table_size(0);
    d.set_max_table_size(2048);
    e.set_max_table_size(2048);
    let mut block = Vec::new();
    e.encode([(&b"x-b"[..], &b"2"[..], false)], &mut block);
    assert_eq!(&block[..3], &[0x20, 0x3f, 0xe1], "0, then 2048");
    let mut fields = Vec::new();
    d.decode(&block.into(), &mut fields).unwrap();
    assert_eq!(pairs(&fields), owned(&[("x-b", "2")]));
    assert_eq!(d.table_size(), 3 + 1 + 32, "the old entry was evicted");
}

#[test]
fn bad_blocks_are_typed_errors() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        d.decode(&hex("80"), &mut Vec::new()),
        Err(Error::InvalidIndex(0))
    );
    assert_eq!(
        d.decode(&hex("be"), &mut Vec::new()),
        Err(Error::InvalidIndex(62))
    );
    assert_eq!(
        d.decode(&hex("4a"), &mut Vec::new()).unwrap_err(),
        Error::Truncated
    );
    assert_eq!(
        d.decode(&hex("0085f2b24a87ff"), &mut Vec::new()),
        Err(Error::Truncated),
        "a value missing"
    );
    // A Huffman string of EOS.
    assert_eq!(
        d.decode(&hex("0084ffffffff0161"), &mut Vec::new()),
        Err(Error::InvalidHuffman)
    );
    // Every strict prefix of a block either decodes fewer fields or fails
    // with a typed error.
    let block = hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf");
    for end in 0..block.len() {
        let mut d = Decoder::new(4096);
        let mut fields = Vec::new();
        match d.decode(&block.slice(..end), &mut fields) {
            Ok(()) => assert!(fields.len() < 5),
            Err(e) => assert!(e.is_fatal(), "{e}"),
        }
    }
}

#[test]
fn hpack_bomb_and_tiny_fields_hit_the_list_limit_and_the_table_stays_in_step() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    d.set_max_header_list_size(16 * 1024);
    // One 3000-byte entry, then a block referencing it 100 times: 300 KB
    // of headers from ~100 bytes.
    let big = vec![b'a'; 3000];
    let mut block = Vec::new();
    e.encode([(&b"x-big"[..], &big[..], false)], &mut block);
    d.decode(&block.into(), &mut Vec::new()).unwrap();
    let bomb = Bytes::from(vec![0xBE; 100]);
    assert_eq!(bomb.len(), 100);
    let mut fields = Vec::new();
    assert_eq!(d.decode(&bomb, &mut fields), Err(Error::HeaderListTooLarge));
    assert!(fields.is_empty());
    assert!(!Error::HeaderListTooLarge.is_fatal());
    // Many tiny fields: each costs 32 bytes of the limit.
    let tiny: Vec<(&[u8], &[u8], bool)> = (0..600).map(|_| (&b"a"[..], &b""[..], false)).collect();
    let mut block = Vec::new();
    e.encode(tiny, &mut block);
    assert_eq!(
        d.decode(&block.into(), &mut Vec::new()),
        Err(Error::HeaderListTooLarge)
    );
    // The table is still in step with the encoder.
    let mut block = Vec::new();
    e.encode(
        [(&b"x-big"[..], &big[..], false), (b"a", b"", false)],
        &mut block,
    );
    let mut fields = Vec::new();
    d.decode(&block.into(), &mut fields).unwrap();
    assert_eq!(fields[0].value.len(), 3000);
}

#[test]
fn sensitive_fields_go_never_indexed() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for _ in 0..2 {
        let mut block = Vec::new();
        e.encode(
            [
                (&b"authorization"[..], &b"Basic dXNlcjpwYXNz"[..], false),
                (b"cookie", b"sid=42", false),
                (b"cookie", b"long-enough-session-id=0123456789abcdef", false),
                (b"x-api-key", b"k", true),
            ],
            &mut block,
        );
        let mut fields = Vec::new();
        d.decode(&block.into(), &mut fields).unwrap();
        let flags: Vec<bool> = fields.iter().map(|f| f.sensitive).collect();
        assert_eq!(flags, [true, true, false, true]);
    }
    // Only the long cookie entered the table.
    assert_eq!(d.table_size(), 6 + 39 + 32);
}

fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
    let name = prop_oneof![
        Just(b":path".to_vec()),
        Just(b":status".to_vec()),
        Just(b"content-type".to_vec()),
        Just(b"cookie".to_vec()),
        Just(b"accept-encoding".to_vec()),
        "[a-z0-9-]{1,12}".prop_map(String::into_bytes),
    ];
    let value = prop_oneof![
        Just(b"gzip, deflate".to_vec()),
        Just(b"200".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
        "[ -~]{0,300}".prop_map(String::into_bytes),
    ];
    (name, value, any::<bool>())
}

proptest! {
    /// Blocks through one encoder and decoder, with table size changes in
    /// between, decode to what went in; sensitive fields stay marked.
    #[test]
    fn round_trips(
        blocks in proptest::collection::vec(
            (proptest::collection::vec(field(), 0..20), prop::option::of(0usize..5000)),
            1..8,
        )
    ) {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096);
        for (fields, resize) in blocks {
            if let Some(size) = resize {
                d.set_max_table_size(size);
                e.set_max_table_size(size);
            }
            let mut block = Vec::new();
            e.encode(fields.iter().map(|(n, v, s)| (&n[..], &v[..], *s)), &mut block);
            let mut out = Vec::new();
            d.decode(&block.into(), &mut out).unwrap();
            prop_assert_eq!(out.len(), fields.len());
            for (got, (n, v, s)) in out.iter().zip(&fields) {
                prop_assert_eq!(&got.name[..], &n[..]);
                prop_assert_eq!(&got.value[..], &v[..]);
                if *s {
                    prop_assert!(got.sensitive);
                }
            }
            prop_assert!(d.table_size() <= 4096);
        }
    }

    #[test]
    fn huffman_round_trips(data in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut wire = Vec::new();
        huffman::encode(&data, &mut wire);
        prop_assert_eq!(wire.len(), huffman::encoded_len(&data));
        let mut back = Vec::new();
        huffman::decode(&wire, &mut back).unwrap();
        prop_assert_eq!(back, data);
    }

    /// Any bytes: a typed error or fields, never a panic.
    #[test]
    fn any_block(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut d = Decoder::new(4096);
        d.set_max_header_list_size(8192);
        let _ = d.decode(&data.into(), &mut Vec::new());
    }
}
