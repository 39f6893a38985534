//! The HTTP/2 connection machine, client and server in memory: requests,
//! flow control, push, extended CONNECT, graceful shutdown, malformed
//! heads, and one test per abuse the limits stop.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use tetsuo_proto::h2::frame::{self, FrameHeader, Priority, kind};
use tetsuo_proto::h2::{
    Config, Connection, Error, ErrorCode, Event, Protocol, Role, SendError, StreamId,
};
use tetsuo_proto::hpack;

/// Moves bytes both ways until neither side has anything to send; the
/// events each side got, in order.
fn pump(client: &mut Connection, server: &mut Connection) -> (Vec<Event>, Vec<Event>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    loop {
        let mut c2s = Vec::new();
        client.poll_transmit(&mut c2s);
        let mut s2c = Vec::new();
        server.poll_transmit(&mut s2c);
        if c2s.is_empty() && s2c.is_empty() {
            break;
        }
        let _ = server.handle_input(&c2s);
        let _ = client.handle_input(&s2c);
        se.extend(std::iter::from_fn(|| server.poll_event()));
        ce.extend(std::iter::from_fn(|| client.poll_event()));
    }
    (ce, se)
}

fn connected(cc: Config, sc: Config) -> (Connection, Connection) {
    let mut client = Connection::new(Role::Client, cc);
    let mut server = Connection::new(Role::Server, sc);
    pump(&mut client, &mut server);
    (client, server)
}

fn get(uri: &str) -> http::request::Parts {
    Request::get(uri).body(()).unwrap().into_parts().0
}

fn ok() -> http::response::Parts {
    Response::new(()).into_parts().0
}

fn requests(events: &[Event]) -> Vec<(StreamId, &http::request::Parts, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Request {
                stream,
                head,
                end_stream,
            } => Some((*stream, head, *end_stream)),
            _ => None,
        })
        .collect()
}

fn body(events: &[Event], of: StreamId) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut ended = false;
    for e in events {
        if let Event::Data {
            stream,
            data: d,
            end_stream,
        } = e
            && *stream == of
        {
            data.extend_from_slice(d);
            ended |= end_stream;
        }
        if let Event::Trailers { stream, .. } = e
            && *stream == of
        {
            ended = true;
        }
    }
    (data, ended)
}

fn resets(events: &[Event]) -> Vec<(StreamId, ErrorCode, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reset {
                stream,
                code,
                remote,
            } => Some((*stream, *code, *remote)),
            _ => None,
        })
        .collect()
}

#[test]
fn request_response_with_bodies_and_trailers() {
    let (mut client, mut server) = connected(Config::default(), Config::default());
    let mut head = Request::post("https://example.com/upload?x=1")
        .header("content-type", "text/plain")
        .header("connection", "keep-alive") // dropped: connection-specific
        .header("te", "trailers")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    head.headers
        .insert("authorization", HeaderValue::from_static("secret"));
    let id = client.send_request(&head, false).unwrap();
    assert_eq!(id, 1);
    assert_eq!(client.send_data(id, b"hello ", false), Ok(6));
    assert_eq!(client.send_data(id, b"world", false), Ok(5));
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    client.send_trailers(id, &trailers).unwrap();
    let (_, se) = pump(&mut client, &mut server);
    let reqs = requests(&se);
    assert_eq!(reqs.len(), 1);
    let (stream, req, end) = reqs[0];
    assert!(!end);
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.uri, "https://example.com/upload?x=1");
    assert_eq!(req.headers["content-type"], "text/plain");
    assert!(req.headers.get("connection").is_none());
    assert!(req.headers["authorization"].is_sensitive());
    assert_eq!(body(&se, stream), (b"hello world".to_vec(), true));
    assert!(
        se.iter().any(
            |e| matches!(e, Event::Trailers { trailers, .. } if trailers["x-checksum"] == "abc")
        )
    );
    // A 103 first, then the response with a body and trailers.
    let mut early = ok();
    early.status = StatusCode::EARLY_HINTS;
    server.send_response(stream, &early, false).unwrap();
    server.send_response(stream, &ok(), false).unwrap();
    server.send_data(stream, b"done", false).unwrap();
    server.send_trailers(stream, &trailers).unwrap();
    let (ce, _) = pump(&mut client, &mut server);
    let statuses: Vec<u16> = ce
        .iter()
        .filter_map(|e| match e {
            Event::Response { head, .. } => Some(head.status.as_u16()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [103, 200]);
    assert_eq!(body(&ce, id), (b"done".to_vec(), true));
    assert_eq!(client.open_streams(), 0);
    assert_eq!(server.open_streams(), 0);
}

#[test]
fn a_large_body_under_flow_control() {
    // 64 KiB windows: a 1 MiB upload goes in window-sized steps.
    let mut small = Config::default();
    small.initial_window_size = 65_535;
    small.connection_window_size = 65_535;
    let (mut client, mut server) = connected(Config::default(), small);
    let id = client.send_request(&get("https://a/"), false).unwrap();
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut sent = client.send_data(id, &data, true).unwrap();
    assert_eq!(sent, 65_535, "one window");
    let mut received = Vec::new();
    let mut rounds = 0;
    while received.len() < data.len() {
        rounds += 1;
        assert!(rounds < 100);
        let (ce, se) = pump(&mut client, &mut server);
        for e in &se {
            if let Event::Data { stream, data, .. } = e {
                received.extend_from_slice(data);
                server.release_capacity(*stream, data.len());
            }
        }
        let (ce2, _) = pump(&mut client, &mut server);
        if sent < data.len()
            && ce
                .iter()
                .chain(&ce2)
                .any(|e| matches!(e, Event::SendReady { stream } if *stream == id))
        {
            sent += client.send_data(id, &data[sent..], true).unwrap();
        }
    }
    assert_eq!(received, data);
    assert!(rounds > 10, "{rounds} rounds: flow control held it back");
}

#[test]
fn streams_multiplex_and_the_peer_limit_is_kept() {
    let mut sc = Config::default();
    sc.max_concurrent_streams = 3;
    let (mut client, mut server) = connected(Config::default(), sc);
    assert_eq!(client.peer_max_concurrent_streams(), 3);
    let ids: Vec<StreamId> = (0..3)
        .map(|i| {
            client
                .send_request(&get(&format!("https://a/{i}")), true)
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 3, 5]);
    assert!(!client.can_open_stream());
    assert_eq!(
        client.send_request(&get("https://a/x"), true),
        Err(SendError::ConcurrencyLimit)
    );
    let (_, se) = pump(&mut client, &mut server);
    assert_eq!(requests(&se).len(), 3);
    // Answered in reverse order, interleaved.
    for &id in ids.iter().rev() {
        server.send_response(id, &ok(), false).unwrap();
    }
    for &id in &ids {
        server
            .send_data(id, format!("body {id}").as_bytes(), true)
            .unwrap();
    }
    let (ce, _) = pump(&mut client, &mut server);
    for &id in &ids {
        assert_eq!(body(&ce, id), (format!("body {id}").into_bytes(), true));
    }
    assert!(client.can_open_stream());
}

#[test]
fn server_push_to_a_client_that_enabled_it() {
    let mut cc = Config::default();
    cc.enable_push = true;
    let (mut client, mut server) = connected(cc, Config::default());
    let id = client
        .send_request(&get("https://a/index.html"), true)
        .unwrap();
    pump(&mut client, &mut server);
    let promised = server
        .push_promise(id, &get("https://a/style.css"))
        .unwrap();
    assert_eq!(promised, 2);
    server.send_response(id, &ok(), false).unwrap();
    server.send_data(id, b"<html>", true).unwrap();
    server.send_response(promised, &ok(), false).unwrap();
    server.send_data(promised, b"body{}", true).unwrap();
    let (ce, _) = pump(&mut client, &mut server);
    assert!(ce.iter().any(|e| matches!(e, Event::PushPromise { stream: 1, promised: 2, head } if head.uri.path() == "/style.css")));
    assert_eq!(body(&ce, 2), (b"body{}".to_vec(), true));
    assert_eq!(body(&ce, 1), (b"<html>".to_vec(), true));
    assert_eq!(client.open_streams(), 0);
    // Push to a client that did not enable it is refused here.
    let (mut client, mut server) = connected(Config::default(), Config::default());
    let id = client.send_request(&get("https://a/"), true).unwrap();
    pump(&mut client, &mut server);
    assert_eq!(
        server.push_promise(id, &get("https://a/x")),
        Err(SendError::PushDisabled)
    );
}

#[test]
fn extended_connect_for_websocket_over_http2() {
    let mut sc = Config::default();
    sc.enable_connect_protocol = true;
    let (mut client, mut server) = connected(Config::default(), sc);
    assert!(client.peer_enables_connect_protocol());
    let mut head = Request::builder()
        .method(Method::CONNECT)
        .uri("https://a/chat")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    head.extensions.insert(Protocol::new("websocket"));
    let id = client.send_request(&head, false).unwrap();
    let (_, se) = pump(&mut client, &mut server);
    let (stream, req, _) = requests(&se)[0];
    assert_eq!(req.method, Method::CONNECT);
    assert_eq!(
        req.extensions.get::<Protocol>().unwrap().as_str(),
        "websocket"
    );
    assert_eq!(req.uri.path(), "/chat");
    // A length on a 2xx to CONNECT means nothing (RFC 9110 §9.3.6).
    let mut answer = ok();
    answer
        .headers
        .insert("content-length", HeaderValue::from_static("0"));
    server.send_response(stream, &answer, false).unwrap();
    server.send_data(stream, b"\x81\x02hi", false).unwrap();
    client.send_data(id, b"\x81\x82....", false).unwrap();
    let (ce, se) = pump(&mut client, &mut server);
    assert_eq!(body(&ce, id).0, b"\x81\x02hi");
    assert_eq!(body(&se, stream).0, b"\x81\x82....");
    // Without the setting, :protocol makes the request malformed.
    let (mut client, mut server) = connected(Config::default(), Config::default());
    client.send_request(&head, false).unwrap();
    let (ce, se) = pump(&mut client, &mut server);
    assert!(requests(&se).is_empty());
    assert_eq!(resets(&ce), [(1, ErrorCode::PROTOCOL_ERROR, true)]);
}

#[test]
fn graceful_shutdown_finishes_open_streams() {
    let (mut client, mut server) = connected(Config::default(), Config::default());
    let id = client.send_request(&get("https://a/slow"), true).unwrap();
    pump(&mut client, &mut server);
    server.shutdown();
    let (ce, _) = pump(&mut client, &mut server);
    let goaways: Vec<StreamId> = ce
        .iter()
        .filter_map(|e| match e {
            Event::GoAway { last_stream, .. } => Some(*last_stream),
            _ => None,
        })
        .collect();
    // First 2^31-1, then (after the PING) the last stream served.
    assert_eq!(goaways, [(1 << 31) - 1, 1]);
    assert_eq!(
        client.send_request(&get("https://a/more"), true),
        Err(SendError::GoingAway)
    );
    assert!(!server.is_closed(), "a stream is still open");
    server.send_response(id, &ok(), true).unwrap();
    let (ce, _) = pump(&mut client, &mut server);
    assert!(ce.iter().any(|e| matches!(
        e,
        Event::Response {
            end_stream: true,
            ..
        }
    )));
    assert!(server.is_closed());
}

#[test]
fn a_goaway_refuses_the_streams_after_its_last() {
    let (mut client, server) = connected(Config::default(), Config::default());
    for _ in 0..3 {
        client.send_request(&get("https://a/"), true).unwrap();
    }
    // The server saw only stream 1 before going away.
    let mut c2s = Vec::new();
    client.poll_transmit(&mut c2s);
    let mut s2c = Vec::new();
    frame::encode_goaway(1, ErrorCode::NO_ERROR, b"", &mut s2c);
    client.handle_input(&s2c).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    let mut refused = resets(&events);
    refused.sort_unstable_by_key(|r| r.0);
    assert_eq!(
        refused,
        [
            (3, ErrorCode::REFUSED_STREAM, true),
            (5, ErrorCode::REFUSED_STREAM, true)
        ]
    );
    drop(server);
}

/// A client-side connection and a raw writer of frames to a server.
struct Raw {
    server: Connection,
    encoder: hpack::Encoder,
}

impl Raw {
    fn new(config: Config) -> Raw {
        let mut server = Connection::new(Role::Server, config);
        let mut wire = frame::PREFACE.to_vec();
        frame::encode_settings(&Default::default(), &mut wire);
        // The server's SETTINGS acknowledged, as a client does.
        frame::encode_settings_ack(&mut wire);
        server.handle_input(&wire).unwrap();
        Raw {
            server,
            encoder: hpack::Encoder::new(),
        }
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        self.encoder.encode(
            fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut block,
        );
        block
    }

    fn request_block(&mut self, path: &str) -> Vec<u8> {
        self.block(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", path),
        ])
    }

    fn send(&mut self, wire: &[u8]) -> Result<Vec<Event>, Error> {
        let r = self.server.handle_input(wire);
        let events = std::iter::from_fn(|| self.server.poll_event()).collect();
        r.map(|()| events)
    }

    /// What the server sent, as (type, stream, error code if RST/GOAWAY).
    fn sent(&mut self) -> Vec<(u8, StreamId, Option<ErrorCode>)> {
        let mut out = Vec::new();
        self.server.poll_transmit(&mut out);
        let mut at = 0;
        let mut frames = Vec::new();
        while let Some(h) = FrameHeader::parse(&out[at..]) {
            let p = &out[at + 9..at + 9 + h.len as usize];
            let code = match h.kind {
                kind::RST_STREAM => Some(ErrorCode(u32::from_be_bytes(p[..4].try_into().unwrap()))),
                kind::GOAWAY => Some(ErrorCode(u32::from_be_bytes(p[4..8].try_into().unwrap()))),
                _ => None,
            };
            frames.push((h.kind, h.stream, code));
            at += 9 + h.len as usize;
        }
        frames
    }
}

fn headers_frame(stream: StreamId, block: &[u8], end_stream: bool) -> Vec<u8> {
    let mut w = Vec::new();
    frame::encode_headers(stream, block, end_stream, 16_384, &mut w);
    w
}

fn rst(stream: StreamId) -> Vec<u8> {
    let mut w = Vec::new();
    frame::encode_rst_stream(stream, ErrorCode::CANCEL, &mut w);
    w
}

fn goaway_code(sent: &[(u8, StreamId, Option<ErrorCode>)]) -> Option<ErrorCode> {
    sent.iter()
        .find(|(k, _, _)| *k == kind::GOAWAY)
        .and_then(|(_, _, c)| *c)
}

#[test]
fn malformed_requests_are_reset_with_protocol_error() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "uppercase name",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", "/"),
                ("X-Up", "1"),
            ],
        ),
        (
            "connection header",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", "/"),
                ("connection", "close"),
            ],
        ),
        (
            "te other than trailers",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", "/"),
                ("te", "gzip"),
            ],
        ),
        (
            "missing :path",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
            ],
        ),
        (
            "empty :path",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", ""),
            ],
        ),
        (
            "pseudo after regular",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                ("accept", "*/*"),
                (":path", "/"),
            ],
        ),
        (
            "unknown pseudo",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                (":nope", "1"),
            ],
        ),
        (
            "repeated pseudo",
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
            ],
        ),
        (
            "response pseudo",
            &[
                (":status", "200"),
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
            ],
        ),
        (
            "CONNECT with a path",
            &[
                (":method", "CONNECT"),
                (":authority", "a:443"),
                (":path", "/"),
            ],
        ),
        (
            "value with a newline",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("x", "a\nb"),
            ],
        ),
        (
            "value with leading space",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("x", " a"),
            ],
        ),
        (
            "host differs from :authority",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "a"),
                (":path", "/"),
                ("host", "b"),
            ],
        ),
        (
            "two content-lengths",
            &[
                (":method", "POST"),
                (":scheme", "https"),
                (":path", "/"),
                ("content-length", "1"),
                ("content-length", "2"),
            ],
        ),
        (
            "a length and no body (END_STREAM on the head)",
            &[
                (":method", "POST"),
                (":scheme", "https"),
                (":path", "/"),
                ("content-length", "5"),
            ],
        ),
    ];
    for (i, (what, fields)) in cases.iter().enumerate() {
        let mut raw = Raw::new(Config::default());
        let block = raw.block(fields);
        let events = raw.send(&headers_frame(1, &block, true)).unwrap();
        assert!(requests(&events).is_empty(), "{what}");
        assert_eq!(
            raw.sent().last(),
            Some(&(kind::RST_STREAM, 1, Some(ErrorCode::PROTOCOL_ERROR))),
            "{what} (case {i})"
        );
    }
    // Content-length against the DATA that came.
    let mut raw = Raw::new(Config::default());
    let block = raw.block(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/"),
        ("content-length", "3"),
    ]);
    raw.send(&headers_frame(1, &block, false)).unwrap();
    let mut data = Vec::new();
    frame::encode_data(1, b"four", true, &mut data);
    let events = raw.send(&data).unwrap();
    assert_eq!(resets(&events), [(1, ErrorCode::PROTOCOL_ERROR, false)]);
}

#[test]
fn bad_prefaces_and_first_frames_end_the_connection() {
    let mut server = Connection::new(Role::Server, Config::default());
    let err = server.handle_input(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.code, ErrorCode::PROTOCOL_ERROR);
    let mut server = Connection::new(Role::Server, Config::default());
    let mut wire = frame::PREFACE.to_vec();
    frame::encode_ping(false, [0; 8], &mut wire);
    assert_eq!(
        server.handle_input(&wire).unwrap_err().code,
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn rapid_reset_is_stopped() {
    let mut raw = Raw::new(Config::default());
    let mut last = Ok(Vec::new());
    for i in 0..101u32 {
        let id = 1 + 2 * i;
        let block = raw.request_block("/");
        let mut wire = headers_frame(id, &block, true);
        wire.extend(rst(id));
        last = raw.send(&wire);
        raw.sent();
        if last.is_err() {
            assert_eq!(i, 100, "stopped at the 101st reset");
            break;
        }
    }
    assert_eq!(last.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
    // Streams that complete pay the counter back: 200 resets among 200
    // answered streams are fine.
    let mut raw = Raw::new(Config::default());
    for i in 0..400u32 {
        let id = 1 + 2 * i;
        let block = raw.request_block("/");
        raw.send(&headers_frame(id, &block, true)).unwrap();
        if i % 2 == 0 {
            raw.send(&rst(id)).unwrap();
        } else {
            raw.server.send_response(id, &ok(), true).unwrap();
        }
        raw.sent();
    }
}

#[test]
fn refused_streams_over_the_limit_count_as_resets() {
    let mut sc = Config::default();
    sc.max_concurrent_streams = 1;
    let mut raw = Raw::new(sc);
    let block = raw.request_block("/");
    raw.send(&headers_frame(1, &block, true)).unwrap();
    raw.sent();
    let mut result = Ok(Vec::new());
    for i in 1..=101u32 {
        let block = raw.request_block("/");
        result = raw.send(&headers_frame(1 + 2 * i, &block, true));
        let sent = raw.sent();
        if result.is_ok() {
            assert_eq!(
                sent,
                [(kind::RST_STREAM, 1 + 2 * i, Some(ErrorCode::REFUSED_STREAM))]
            );
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn made_you_reset_is_stopped() {
    // Each stream gets a WINDOW_UPDATE that overflows its window: we must
    // reset it (MadeYouReset's trigger). The 101st ends the connection.
    let mut raw = Raw::new(Config::default());
    let mut result = Ok(Vec::new());
    for i in 0..101u32 {
        let id = 1 + 2 * i;
        let block = raw.request_block("/");
        let mut wire = headers_frame(id, &block, true);
        frame::encode_window_update(id, (1 << 31) - 1, &mut wire);
        result = raw.send(&wire);
        let sent = raw.sent();
        if result.is_ok() {
            assert!(sent.contains(&(kind::RST_STREAM, id, Some(ErrorCode::FLOW_CONTROL_ERROR))));
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn continuation_flood_is_stopped() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/");
    let mut wire = Vec::new();
    FrameHeader {
        len: block.len() as u32,
        kind: kind::HEADERS,
        flags: 0,
        stream: 1,
    }
    .encode(&mut wire);
    wire.extend_from_slice(&block);
    raw.send(&wire).unwrap();
    let mut result = Ok(Vec::new());
    for _ in 0..33 {
        let mut c = Vec::new();
        FrameHeader {
            len: 1,
            kind: kind::CONTINUATION,
            flags: 0,
            stream: 1,
        }
        .encode(&mut c);
        c.push(0x82);
        result = raw.send(&c);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
    // A block growing past the limit in bytes, too.
    let mut sc = Config::default();
    sc.max_header_list_size = 16 * 1024;
    let mut raw = Raw::new(sc);
    let mut wire = Vec::new();
    FrameHeader {
        len: 16_000,
        kind: kind::HEADERS,
        flags: 0,
        stream: 1,
    }
    .encode(&mut wire);
    wire.extend(std::iter::repeat_n(0x82, 16_000));
    FrameHeader {
        len: 1_000,
        kind: kind::CONTINUATION,
        flags: 0,
        stream: 1,
    }
    .encode(&mut wire);
    wire.extend(std::iter::repeat_n(0x82, 1_000));
    assert_eq!(
        raw.send(&wire).unwrap_err().code,
        ErrorCode::ENHANCE_YOUR_CALM
    );
}

#[test]
fn hpack_bomb_gets_431_and_the_connection_serves_on() {
    let mut sc = Config::default();
    sc.max_header_list_size = 16 * 1024;
    let mut raw = Raw::new(sc);
    // A 3000-byte entry, then a block that references it 50 times.
    let big = "a".repeat(3000);
    let mut block = raw.request_block("/");
    raw.encoder
        .encode([(&b"x-big"[..], big.as_bytes(), false)], &mut block);
    raw.send(&headers_frame(1, &block, true)).unwrap();
    raw.server.send_response(1, &ok(), true).unwrap();
    raw.sent();
    let mut bomb = raw.request_block("/");
    bomb.extend(std::iter::repeat_n(0xBE, 50)); // index 62: x-big
    let events = raw.send(&headers_frame(3, &bomb, true)).unwrap();
    assert!(requests(&events).is_empty());
    let sent = raw.sent();
    assert_eq!(sent, [(kind::HEADERS, 3, None)], "a 431 response");
    // The table stayed in step: the next request decodes.
    let block = raw.request_block("/after");
    let events = raw.send(&headers_frame(5, &block, true)).unwrap();
    assert_eq!(requests(&events)[0].1.uri.path(), "/after");
}

#[test]
fn floods_of_frames_without_work_are_stopped() {
    type Maker = fn(&mut Vec<u8>, u32);
    let floods: &[(&str, Maker)] = &[
        ("PING", |w, i| {
            frame::encode_ping(false, (i as u64).to_be_bytes(), w)
        }),
        ("SETTINGS", |w, _| {
            frame::encode_settings(&Default::default(), w)
        }),
        ("PRIORITY", |w, i| {
            frame::encode_priority(
                1 + 2 * i,
                Priority {
                    dependency: 0,
                    exclusive: false,
                    weight: 1,
                },
                w,
            )
        }),
        ("WINDOW_UPDATE", |w, _| frame::encode_window_update(0, 1, w)),
        ("unknown type", |w, _| {
            FrameHeader {
                len: 0,
                kind: 0xAA,
                flags: 0,
                stream: 0,
            }
            .encode(w)
        }),
    ];
    for (i, (what, make)) in floods.iter().enumerate() {
        let mut raw = Raw::new(Config::default());
        let mut result = Ok(Vec::new());
        if i < 2 {
            // PING and SETTINGS: a burst, answers piling up within it.
            let mut w = Vec::new();
            for j in 0..1_002 {
                make(&mut w, j);
            }
            result = raw.send(&w);
        } else {
            for j in 0..1_001 {
                let mut w = Vec::new();
                make(&mut w, j);
                result = raw.send(&w);
                // The flooder reads everything: only the frame count stops it.
                raw.sent();
                if result.is_err() {
                    break;
                }
            }
        }
        assert_eq!(
            result.unwrap_err().code,
            ErrorCode::ENHANCE_YOUR_CALM,
            "{what}"
        );
    }
    // Keepalive PINGs, one at a time and answered, never are a flood (a
    // gRPC connection may live for days on them).
    let mut raw = Raw::new(Config::default());
    for i in 0..5_000u64 {
        let mut w = Vec::new();
        frame::encode_ping(false, i.to_be_bytes(), &mut w);
        raw.send(&w).unwrap();
        raw.sent();
    }
    // Empty DATA frames on an open stream.
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/");
    raw.send(&headers_frame(1, &block, false)).unwrap();
    let mut empty = Vec::new();
    frame::encode_data(1, b"", false, &mut empty);
    let mut result = Ok(Vec::new());
    for _ in 0..1_001 {
        result = raw.send(&empty);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
    // Useful work pays back: PINGs among requests are fine.
    let mut raw = Raw::new(Config::default());
    for i in 0..3_000u32 {
        let mut w = Vec::new();
        frame::encode_ping(false, [0; 8], &mut w);
        if i % 10 == 0 {
            let block = raw.request_block("/");
            w.extend(headers_frame(1 + 2 * (i / 10), &block, true));
        }
        raw.send(&w).unwrap();
        if i % 10 == 0 {
            raw.server
                .send_response(1 + 2 * (i / 10), &ok(), true)
                .unwrap();
        }
        raw.sent();
    }
}

#[test]
fn answers_a_peer_does_not_read_are_bounded() {
    let mut sc = Config::default();
    sc.limits.max_idle_frames = 1_000_000;
    let mut raw = Raw::new(sc);
    let mut result = Ok(Vec::new());
    for i in 0..1_001u64 {
        let mut w = Vec::new();
        frame::encode_ping(false, i.to_be_bytes(), &mut w);
        // Never `sent()`: the PING answers pile up.
        result = raw.send(&w);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn a_zero_window_holds_no_data_in_the_connection() {
    // The client opens no window: the server can send nothing, and the
    // connection buffers nothing for it (slow-read defence: the data stays
    // with the application, which a driver times out).
    let mut cc = Config::default();
    cc.initial_window_size = 0;
    let (mut client, mut server) = connected(cc, Config::default());
    let id = client.send_request(&get("https://a/"), true).unwrap();
    pump(&mut client, &mut server);
    server.send_response(id, &ok(), false).unwrap();
    let before = server.pending_transmit();
    assert_eq!(server.capacity(id), 0);
    assert_eq!(server.send_data(id, &vec![0; 1 << 20], true), Ok(0));
    assert_eq!(server.pending_transmit(), before);
    // Once the client opens the window, data flows and SendReady says so.
    client.release_capacity(id, 0);
    let mut w = Vec::new();
    frame::encode_window_update(id, 1000, &mut w);
    server.handle_input(&w).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SendReady { stream } if *stream == id))
    );
    assert_eq!(server.capacity(id), 1000);
}

#[test]
fn frames_in_flight_on_a_stream_we_reset_are_ignored() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/");
    raw.send(&headers_frame(1, &block, false)).unwrap();
    raw.server.reset(1, ErrorCode::CANCEL);
    raw.sent();
    let mut data = Vec::new();
    frame::encode_data(1, b"late", false, &mut data);
    assert!(raw.send(&data).unwrap().is_empty());
    assert!(
        raw.sent().is_empty(),
        "no answer to frames on a stream we reset"
    );
    // But DATA on a stream that never existed ends the connection.
    let mut data = Vec::new();
    frame::encode_data(9, b"x", false, &mut data);
    assert_eq!(raw.send(&data).unwrap_err().code, ErrorCode::PROTOCOL_ERROR);
    assert_eq!(goaway_code(&raw.sent()), Some(ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn trailers_must_end_the_stream_and_bodies_match_content_length() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/");
    raw.send(&headers_frame(1, &block, false)).unwrap();
    let trailers = raw.block(&[("x-t", "1")]);
    let events = raw.send(&headers_frame(1, &trailers, false)).unwrap();
    assert_eq!(resets(&events), [(1, ErrorCode::PROTOCOL_ERROR, false)]);
    // A response whose DATA falls short of its content-length.
    let (mut client, mut server) = connected(Config::default(), Config::default());
    let id = client.send_request(&get("https://a/"), true).unwrap();
    pump(&mut client, &mut server);
    let mut head = ok();
    head.headers
        .insert("content-length", HeaderValue::from_static("10"));
    server.send_response(id, &head, false).unwrap();
    server.send_data(id, b"short", true).unwrap();
    let (ce, _) = pump(&mut client, &mut server);
    assert_eq!(resets(&ce), [(id, ErrorCode::PROTOCOL_ERROR, false)]);
    let _ = Bytes::new();
}

#[test]
fn bodiless_responses_may_announce_a_length() {
    // A HEAD's response and a 304 carry the length of a body they do not
    // send; an empty DATA frame ends them.
    for (method, status) in [
        (Method::HEAD, StatusCode::OK),
        (Method::GET, StatusCode::NOT_MODIFIED),
    ] {
        let (mut client, mut server) = connected(Config::default(), Config::default());
        let mut head = get("https://a/");
        head.method = method.clone();
        let id = client.send_request(&head, true).unwrap();
        pump(&mut client, &mut server);
        let mut res = ok();
        res.status = status;
        res.headers
            .insert("content-length", HeaderValue::from_static("1234"));
        server.send_response(id, &res, false).unwrap();
        server.send_data(id, b"", true).unwrap();
        let (ce, _) = pump(&mut client, &mut server);
        assert!(resets(&ce).is_empty(), "{method} {status}");
        assert_eq!(body(&ce, id), (Vec::new(), true));
    }
}

#[test]
fn trailers_over_the_limit_reset_a_stream_the_application_knows() {
    let mut sc = Config::default();
    sc.max_header_list_size = 1024;
    let mut raw = Raw::new(sc);
    let block = raw.request_block("/");
    let events = raw.send(&headers_frame(1, &block, false)).unwrap();
    assert_eq!(requests(&events).len(), 1);
    let big = "v".repeat(2000);
    let trailers = raw.block(&[("x-big", big.as_str())]);
    let events = raw.send(&headers_frame(1, &trailers, true)).unwrap();
    assert_eq!(resets(&events), [(1, ErrorCode::PROTOCOL_ERROR, false)]);
}

#[test]
fn a_stream_depending_on_itself_is_reset_even_across_continuation() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/self");
    let (a, b) = block.split_at(block.len() / 2);
    let mut w = Vec::new();
    FrameHeader {
        len: (5 + a.len()) as u32,
        kind: kind::HEADERS,
        flags: frame::flags::PRIORITY | frame::flags::END_STREAM,
        stream: 1,
    }
    .encode(&mut w);
    w.extend_from_slice(&1u32.to_be_bytes()); // depends on stream 1: itself
    w.push(15);
    w.extend_from_slice(a);
    FrameHeader {
        len: b.len() as u32,
        kind: kind::CONTINUATION,
        flags: frame::flags::END_HEADERS,
        stream: 1,
    }
    .encode(&mut w);
    w.extend_from_slice(b);
    let events = raw.send(&w).unwrap();
    assert!(requests(&events).is_empty());
    assert!(
        raw.sent()
            .contains(&(kind::RST_STREAM, 1, Some(ErrorCode::PROTOCOL_ERROR)))
    );
    // The table stayed in step, and stream 1 counts as used.
    let block = raw.request_block("/next");
    let mut w = Vec::new();
    frame::encode_headers(3, &block, true, 16_384, &mut w);
    let events = raw.send(&w).unwrap();
    assert_eq!(requests(&events)[0].1.uri.path(), "/next");
}

#[test]
fn data_a_byte_at_a_time_does_not_pay_for_a_flood() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/upload");
    let mut w = Vec::new();
    frame::encode_headers(1, &block, false, 16_384, &mut w);
    raw.send(&w).unwrap();
    let mut result = Ok(Vec::new());
    for i in 0..1_100 {
        let mut w = Vec::new();
        let priority = Priority {
            dependency: 0,
            exclusive: false,
            weight: 1,
        };
        frame::encode_priority(3 + 2 * i, priority, &mut w);
        frame::encode_data(1, b"x", false, &mut w);
        result = raw.send(&w);
        let _ = raw.sent();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().code, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn frames_on_streams_past_our_goaway_are_ignored() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/first");
    let mut w = Vec::new();
    frame::encode_headers(1, &block, false, 16_384, &mut w);
    raw.send(&w).unwrap();
    raw.server.shutdown();
    let _ = raw.sent();
    // The drain PING answered: the final GOAWAY names stream 1.
    let mut w = Vec::new();
    frame::encode_ping(true, *b"tsdrain!", &mut w);
    raw.send(&w).unwrap();
    assert!(
        raw.sent()
            .contains(&(kind::GOAWAY, 0, Some(ErrorCode::NO_ERROR)))
    );
    // A stream opened too late, and plenty of data on it.
    let block = raw.request_block("/late");
    let mut w = Vec::new();
    frame::encode_headers(3, &block, false, 16_384, &mut w);
    for _ in 0..300 {
        frame::encode_data(3, b"late data", false, &mut w);
    }
    let events = raw.send(&w).unwrap();
    assert!(requests(&events).is_empty());
    let sent = raw.sent();
    assert!(
        sent.iter()
            .all(|f| f.0 != kind::RST_STREAM && f.0 != kind::GOAWAY),
        "{sent:?}"
    );
    // Stream 1 is still served.
    raw.server.send_response(1, &ok(), true).unwrap();
    assert!(raw.sent().iter().any(|f| f.0 == kind::HEADERS && f.1 == 1));
}

#[test]
fn a_drain_ping_never_answered_is_not_waited_for() {
    let mut raw = Raw::new(Config::default());
    let block = raw.request_block("/first");
    let mut w = Vec::new();
    frame::encode_headers(1, &block, true, 16_384, &mut w);
    raw.send(&w).unwrap();
    raw.server.shutdown();
    assert!(raw.server.is_shutdown_pending());
    let first = raw.sent();
    assert!(first.contains(&(kind::GOAWAY, 0, Some(ErrorCode::NO_ERROR))));
    // No PING answer: the driver gives up waiting.
    raw.server.finish_shutdown();
    assert!(!raw.server.is_shutdown_pending());
    let mut out = Vec::new();
    raw.server.poll_transmit(&mut out);
    let last = u32::from_be_bytes(out[9..13].try_into().unwrap());
    assert_eq!((out[3], last), (kind::GOAWAY, 1));
    raw.server.send_response(1, &ok(), true).unwrap();
    assert!(raw.server.is_closed());
}

#[test]
fn no_window_update_of_zero_with_tiny_windows() {
    let mut config = Config::default();
    config.initial_window_size = 1;
    let mut raw = Raw::new(config);
    let block = raw.request_block("/upload");
    let mut w = Vec::new();
    frame::encode_headers(1, &block, false, 16_384, &mut w);
    raw.send(&w).unwrap();
    let _ = raw.sent();
    raw.server.release_capacity(1, 0);
    assert!(raw.sent().iter().all(|f| f.0 != kind::WINDOW_UPDATE));
    raw.server.release_capacity(1, 1);
    assert!(raw.sent().contains(&(kind::WINDOW_UPDATE, 1, None)));
}
