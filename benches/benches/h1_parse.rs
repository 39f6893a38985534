//! Request-head parsing: tetsuo-proto's strict parser against httparse, on
//! the same realistic requests.
//!
//! Two groups:
//! - `h1_request_head`: the head into usable parts (method, target, every
//!   header name and value). httparse stops there.
//! - `h1_request_framing`: the same plus the facts a server needs before it
//!   can read the body or answer (Content-Length as a number,
//!   Transfer-Encoding chunked or not, Connection close/keep-alive, Host
//!   present once). tetsuo's parser computes them while parsing; for
//!   httparse they are extracted from its headers the way a server on top
//!   of it must (a minimal version of what hyper does).
//!
//! `cargo bench -p tetsuo-benches --bench h1_parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tetsuo_benches::corpus;
use tetsuo_proto::h1::{HeadParser, Kind, Limits, Status, request_framing};

/// The framing facts, as a server needs them.
#[derive(Debug, Default, PartialEq)]
struct Facts {
    content_length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
    hosts: usize,
}

fn httparse_facts(headers: &[httparse::Header<'_>]) -> Facts {
    let mut facts = Facts {
        keep_alive: true,
        ..Facts::default()
    };
    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            facts.content_length = value;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            facts.chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            {
                facts.keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            facts.hosts += 1;
        }
    }
    facts
}

/// Touches what a server uses: method, target, every header name and value.
fn touch_tetsuo(request: &tetsuo_proto::h1::Request<'_>) -> usize {
    let mut sum = request.method().len() + request.target().len();
    for (name, value) in request.headers() {
        sum += name.len() + value.len();
    }
    sum
}

/// The same for httparse.
fn touch_httparse(request: &httparse::Request<'_, '_>) -> usize {
    let mut sum = request.method.unwrap_or("").len() + request.path.unwrap_or("").len();
    for header in request.headers.iter() {
        sum += header.name.len() + header.value.len();
    }
    sum
}

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
                black_box(touch_tetsuo(&parser.request(req).unwrap()))
            })
        });
        group.bench_function(format!("httparse/{name}"), |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                let status = request.parse(black_box(req)).unwrap();
                assert!(status.is_complete());
                black_box(touch_httparse(&request))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("h1_request_framing");
    for (name, req) in corpus::ALL {
        group.throughput(Throughput::Bytes(req.len() as u64));
        group.bench_function(format!("tetsuo/{name}"), |b| {
            let mut parser = HeadParser::new(Kind::Request, Limits::default());
            b.iter(|| {
                parser.reset();
                parser.parse(black_box(req)).unwrap();
                let head = parser.head();
                let sum = touch_tetsuo(&parser.request(req).unwrap());
                black_box((sum, request_framing(head), head.keep_alive()))
            })
        });
        group.bench_function(format!("httparse/{name}"), |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                request.parse(black_box(req)).unwrap();
                let sum = touch_httparse(&request);
                let facts = httparse_facts(request.headers);
                assert_eq!(facts.hosts, 1);
                black_box((sum, facts))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
