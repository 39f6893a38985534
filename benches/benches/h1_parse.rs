//! Request-head parsing: tetsuo-proto's strict parser against httparse, on
//! the same realistic requests, each parsed into usable header values.
//!
//! `cargo bench -p tetsuo-benches --bench h1_parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tetsuo_benches::corpus;
use tetsuo_proto::h1::{HeadParser, Kind, Limits, Status};

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("h1_request_head");
    for (name, req) in corpus::ALL {
        group.throughput(Throughput::Bytes(req.len() as u64));
        group.bench_function(format!("tetsuo/{name}"), |b| {
            let mut parser = HeadParser::new(Kind::Request, Limits::default());
            b.iter(|| {
                parser.reset();
                let status = parser.parse(black_box(req)).unwrap();
                assert!(matches!(status, Status::Complete(_)));
                let request = parser.request(req).unwrap();
                // Touch what a server uses: method, target, every header.
                let mut sum = request.method().len() + request.target().len();
                for (name, value) in request.headers() {
                    sum += name.len() + value.len();
                }
                black_box(sum)
            })
        });
        group.bench_function(format!("httparse/{name}"), |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                let status = request.parse(black_box(req)).unwrap();
                assert!(status.is_complete());
                let mut sum = request.method.unwrap().len() + request.path.unwrap().len();
                for header in request.headers.iter() {
                    sum += header.name.len() + header.value.len();
                }
                black_box(sum)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
