//! Parses the corpus in a loop: a target for profilers (callgrind, perf).
//!
//! `cargo run --release -p tetsuo-benches --example h1_parse_loop -- 100000 [tetsuo|httparse] [corpus name]`

use std::hint::black_box;
use tetsuo_benches::corpus;
use tetsuo_proto::h1::{HeadParser, Kind, Limits};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    let mut sum = 0;
    let only = std::env::args().nth(3);
    let minimal: (&str, &[u8]) = ("minimal", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    // "fields" : a minimal request plus 30 identical 31-byte fields, to
    // measure the marginal cost of one field against "minimal".
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for _ in 0..30 {
        many.extend_from_slice(b"X-Field-Name: some-value-here\r\n");
    }
    many.extend_from_slice(b"\r\n");
    let fields: (&str, &[u8]) = ("fields", &many);
    let corpus: Vec<&[u8]> = corpus::ALL
        .iter()
        .chain([&minimal, &fields])
        .filter(|(name, _)| {
            only.as_deref()
                .map_or(!matches!(*name, "minimal" | "fields"), |o| o == *name)
        })
        .map(|(_, req)| *req)
        .collect();
    if std::env::args().nth(2).as_deref() == Some("httparse") {
        for _ in 0..rounds {
            for req in &corpus {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                request.parse(black_box(req)).unwrap();
                sum += request.method.unwrap().len() + request.path.unwrap().len();
                for header in request.headers.iter() {
                    sum += header.name.len() + header.value.len();
                }
            }
        }
        println!("{sum}");
        return;
    }
    for _ in 0..rounds {
        for req in &corpus {
            parser.reset();
            parser.parse(black_box(req)).unwrap();
            let request = parser.request(req).unwrap();
            sum += request.method().len() + request.target().len();
            for (name, value) in request.headers() {
                sum += name.len() + value.len();
            }
        }
    }
    println!("{sum}");
}
