//! The protocol cores beside the nearest peer crate, on the same input:
//!
//! - `hpack_encode` / `hpack_decode`: a browser-like request's header list
//!   (first on a fresh connection, then again with the dynamic table warm),
//!   tetsuo-proto's HPACK against the `hpack` crate (h2's HPACK is not
//!   public). Both decoders read the same Huffman-coded blocks; the `hpack`
//!   crate's encoder does not Huffman-code, so it does less work and its
//!   blocks are larger (the sizes are printed).
//! - `ws_frame_header`: parsing a masked client frame header, tetsuo-proto
//!   against tungstenite's `FrameHeader::parse`; encoding one, against
//!   `FrameHeader::format`.
//! - `ws_mask`: unmasking payloads of 64 B, 1 KiB and 64 KiB, tetsuo-proto's
//!   `apply_mask` against the plain byte-by-byte loop RFC 6455 describes
//!   (tungstenite's own masking code is private).
//! - `utf8`: validating text, tetsuo-proto's incremental validator (fed in
//!   one piece and in 1 KiB pieces) against `std::str::from_utf8`.
//! - `deflate`: permessage-deflate of a 16 KiB JSON message, tetsuo-proto's
//!   `Deflate` against flate2 driven directly with the same settings (the
//!   cost of the wrapper).
//!
//! `cargo bench -p tetsuo-benches --bench cores`

use std::hint::black_box;
use std::io::Cursor;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tetsuo_proto::hpack;
use tetsuo_proto::ws::deflate::{Deflate, Params};
use tetsuo_proto::ws::{self, FrameHeader, Opcode, Utf8Validator};

/// A browser's request as HTTP/2 fields.
const FIELDS: &[(&[u8], &[u8])] = &[
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"www.example.com"),
    (b":path", b"/articles/2026/11/http-parsing?ref=home"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    (
        b"accept",
        b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    (b"accept-language", b"en-GB,en;q=0.7,fr;q=0.3"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"referer", b"https://www.example.com/"),
    (
        b"cookie",
        b"session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=yes",
    ),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
    (b"upgrade-insecure-requests", b"1"),
];

fn hpack_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("hpack_encode");
    g.throughput(Throughput::Elements(FIELDS.len() as u64));
    g.bench_function("tetsuo-proto/fresh", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let mut enc = hpack::Encoder::new();
            out.clear();
            enc.encode(FIELDS.iter().map(|(n, v)| (*n, *v, false)), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("hpack-crate/fresh", |b| {
        b.iter(|| {
            let mut enc = ::hpack::Encoder::new();
            black_box(enc.encode(FIELDS.iter().copied()).len())
        })
    });
    g.bench_function("tetsuo-proto/warm", |b| {
        let mut enc = hpack::Encoder::new();
        let mut out = Vec::with_capacity(1024);
        enc.encode(FIELDS.iter().map(|(n, v)| (*n, *v, false)), &mut out);
        b.iter(|| {
            out.clear();
            enc.encode(FIELDS.iter().map(|(n, v)| (*n, *v, false)), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("hpack-crate/warm", |b| {
        let mut enc = ::hpack::Encoder::new();
        enc.encode(FIELDS.iter().copied());
        b.iter(|| black_box(enc.encode(FIELDS.iter().copied()).len()))
    });
    g.finish();
}

fn hpack_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("hpack_decode");
    g.throughput(Throughput::Elements(FIELDS.len() as u64));
    // The same blocks for both decoders, Huffman-coded as browsers send
    // them (tetsuo-proto's encoder): the first fills the dynamic table,
    // the second only indexes it.
    let mut ours = hpack::Encoder::new();
    let mut first = Vec::new();
    ours.encode(FIELDS.iter().map(|(n, v)| (*n, *v, false)), &mut first);
    let mut second = Vec::new();
    ours.encode(FIELDS.iter().map(|(n, v)| (*n, *v, false)), &mut second);
    let their_first = ::hpack::Encoder::new().encode(FIELDS.iter().copied());
    eprintln!(
        "hpack blocks: tetsuo-proto {} then {} bytes; hpack crate (no Huffman) {} bytes",
        first.len(),
        second.len(),
        their_first.len()
    );
    let (first, second) = (Bytes::from(first), Bytes::from(second));

    g.bench_function("tetsuo-proto/fresh", |b| {
        let mut fields = Vec::with_capacity(32);
        b.iter(|| {
            let mut dec = hpack::Decoder::new(4096);
            fields.clear();
            dec.decode(&first, &mut fields).unwrap();
            black_box(fields.len())
        })
    });
    g.bench_function("hpack-crate/fresh", |b| {
        b.iter(|| {
            let mut dec = ::hpack::Decoder::new();
            black_box(dec.decode(&first).unwrap().len())
        })
    });
    g.bench_function("tetsuo-proto/warm", |b| {
        let mut fields = Vec::with_capacity(32);
        let mut dec = hpack::Decoder::new(4096);
        dec.decode(&first, &mut fields).unwrap();
        b.iter(|| {
            fields.clear();
            // Indexes only: the table stays as it was, every iteration
            // sees the same state.
            dec.decode(&second, &mut fields).unwrap();
            black_box(fields.len())
        })
    });
    g.bench_function("hpack-crate/warm", |b| {
        let mut dec = ::hpack::Decoder::new();
        dec.decode(&first).unwrap();
        b.iter(|| black_box(dec.decode(&second).unwrap().len()))
    });
    g.finish();
}

fn ws_frame_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_frame_header");
    // A masked binary frame of 1000 bytes, as a client sends it.
    let header = FrameHeader {
        fin: true,
        rsv1: false,
        rsv23: false,
        opcode: Opcode::Binary,
        mask: Some([1, 2, 3, 4]),
        len: 1000,
    };
    let mut wire = Vec::new();
    header.encode(&mut wire);
    g.bench_function("parse/tetsuo-proto", |b| {
        b.iter(|| black_box(FrameHeader::parse(black_box(&wire)).unwrap().unwrap().1))
    });
    g.bench_function("parse/tungstenite", |b| {
        b.iter(|| {
            let mut cursor = Cursor::new(black_box(&wire[..]));
            black_box(
                tungstenite::protocol::frame::FrameHeader::parse(&mut cursor)
                    .unwrap()
                    .unwrap()
                    .1,
            )
        })
    });
    let (theirs, len) =
        tungstenite::protocol::frame::FrameHeader::parse(&mut Cursor::new(&wire[..]))
            .unwrap()
            .unwrap();
    let mut out = Vec::with_capacity(16);
    g.bench_function("encode/tetsuo-proto", |b| {
        b.iter(|| {
            out.clear();
            black_box(&header).encode(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("encode/tungstenite", |b| {
        b.iter(|| {
            out.clear();
            black_box(&theirs).format(len, &mut out).unwrap();
            black_box(out.len())
        })
    });
    g.finish();
}

/// RFC 6455 §5.3's masking, byte by byte.
fn mask_bytewise(data: &mut [u8], key: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn ws_mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_mask");
    for size in [64usize, 1024, 65536] {
        let mut data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("tetsuo-proto", size), &size, |b, _| {
            b.iter(|| ws::apply_mask(black_box(&mut data), [1, 2, 3, 4], 0))
        });
        g.bench_with_input(BenchmarkId::new("bytewise", size), &size, |b, _| {
            b.iter(|| mask_bytewise(black_box(&mut data), [1, 2, 3, 4]))
        });
    }
    g.finish();
}

fn text(size: usize) -> Vec<u8> {
    // Mostly ASCII with some two-, three- and four-byte characters.
    let piece = "The quick brown fox — «über» 速い 🦊 jumps over the lazy dog. ";
    piece.repeat(size / piece.len() + 1).as_bytes()[..]
        .iter()
        .copied()
        .take(size)
        .collect::<Vec<u8>>()
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let mut data = text(64 * 1024);
    // Cut at a character boundary so the whole is valid.
    while std::str::from_utf8(&data).is_err() {
        data.pop();
    }
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("tetsuo-proto/whole", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::new();
            black_box(v.feed(black_box(&data)) && v.is_complete())
        })
    });
    g.bench_function("tetsuo-proto/1KiB-pieces", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::new();
            let ok = data.chunks(1024).all(|piece| v.feed(piece));
            black_box(ok && v.is_complete())
        })
    });
    g.bench_function("std::str::from_utf8", |b| {
        b.iter(|| black_box(std::str::from_utf8(black_box(&data)).is_ok()))
    });
    g.finish();
}

fn message() -> Vec<u8> {
    let mut json = String::from("[");
    let mut i = 0;
    while json.len() < 16 * 1024 {
        json.push_str(&format!(
            "{{\"id\":{i},\"name\":\"sensor-{i}\",\"value\":{}.{},\"ok\":true}},",
            i * 7 % 100,
            i % 10
        ));
        i += 1;
    }
    json.push_str("{}]");
    json.into_bytes()
}

fn deflate(c: &mut Criterion) {
    let mut g = c.benchmark_group("deflate");
    let data = message();
    g.throughput(Throughput::Bytes(data.len() as u64));
    let params = Params {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let mut out = Vec::with_capacity(data.len());
    g.bench_function("compress/tetsuo-proto", |b| {
        let mut d = Deflate::new(&params, true, 1);
        b.iter(|| {
            out.clear();
            d.compress(black_box(&data), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("compress/flate2", |b| {
        let mut z = Compress::new(Compression::new(1), false);
        b.iter(|| {
            out.clear();
            z.reset();
            z.compress_vec(black_box(&data), &mut out, FlushCompress::Sync)
                .unwrap();
            black_box(out.len())
        })
    });
    let mut compressed = Vec::new();
    Deflate::new(&params, true, 1).compress(&data, &mut compressed);
    let mut plain = Vec::with_capacity(data.len() * 2);
    g.bench_function("decompress/tetsuo-proto", |b| {
        let mut d = Deflate::new(&params, false, 1);
        b.iter(|| {
            plain.clear();
            d.decompress(black_box(&compressed), &mut plain, 1 << 20)
                .unwrap();
            black_box(plain.len())
        })
    });
    let mut with_tail = compressed.clone();
    with_tail.extend_from_slice(&[0, 0, 0xff, 0xff]);
    g.bench_function("decompress/flate2", |b| {
        let mut z = Decompress::new(false);
        b.iter(|| {
            plain.clear();
            z.reset(false);
            z.decompress_vec(black_box(&with_tail), &mut plain, FlushDecompress::Sync)
                .unwrap();
            black_box(plain.len())
        })
    });
    g.finish();
}

criterion_group!(
    cores,
    hpack_encode,
    hpack_decode,
    ws_frame_header,
    ws_mask,
    utf8,
    deflate
);
criterion_main!(cores);
