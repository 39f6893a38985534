//! Allocation counts on the HTTP/1.1 parse path, measured with a counting
//! global allocator: parsing a head allocates nothing per header (nothing at
//! all once the parser's field list has its capacity), and a connection's
//! allocations per request do not grow with the number of headers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tetsuo_proto::h1::{Connection, Event, HeadParser, Kind, Limits, Side, Status};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// thread-local counter is a const-initialised Cell without a destructor, so
// touching it never allocates or recurses into the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn request_with(headers: usize) -> Vec<u8> {
    let mut req = b"GET /path?query=1 HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..headers {
        req.extend_from_slice(format!("X-Header-{i}: some value number {i}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

#[test]
fn head_parsing_allocates_nothing() {
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    // The field list starts small and grows to the largest head seen; the
    // parser keeps it. After that, parsing allocates nothing.
    let largest = request_with(99);
    parser.parse(&largest).unwrap();
    for headers in [0, 10, 50, 99] {
        let req = request_with(headers);
        let n = allocations_during(|| {
            parser.reset();
            assert_eq!(parser.parse(&req).unwrap(), Status::Complete(req.len()));
            let view = parser.request(&req).unwrap();
            assert_eq!(view.headers().count(), headers + 1);
        });
        assert_eq!(n, 0, "{headers} headers");
    }
    // Fed byte by byte, still nothing.
    let req = request_with(20);
    let n = allocations_during(|| {
        parser.reset();
        for end in 1..req.len() {
            assert_eq!(parser.parse(&req[..end]).unwrap(), Status::Partial);
        }
        assert_eq!(parser.parse(&req).unwrap(), Status::Complete(req.len()));
    });
    assert_eq!(n, 0);
}

#[test]
fn connection_allocations_do_not_grow_with_headers() {
    let per_request = |headers: usize| {
        let req = request_with(headers);
        let mut conn = Connection::new(Side::Server, Limits::default());
        // Warm up: the first exchange sizes the buffers.
        let exchange = |conn: &mut Connection| {
            conn.handle_input(&req).unwrap();
            while let Some(event) = conn.poll_event() {
                if let Event::End(_) = event {
                    conn.send_response(http::StatusCode::NO_CONTENT, &http::HeaderMap::new())
                        .unwrap();
                }
            }
            let mut out = Vec::new();
            conn.poll_transmit(&mut out);
        };
        exchange(&mut conn);
        allocations_during(|| exchange(&mut conn))
    };
    let few = per_request(1);
    let many = per_request(90);
    eprintln!("connection: {few} allocations per request with 1 header, {many} with 90");
    assert_eq!(
        few, many,
        "allocations per request: {few} with 1 header, {many} with 90"
    );
    assert!(few <= 4, "{few} allocations per request");
}
