//! The connection state machine, server and client side.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tetsuo_proto::h1::{Connection, EncodeError, Error, Event, Limits, Side};

fn server() -> Connection {
    Connection::new(Side::Server, Limits::default())
}

fn client() -> Connection {
    Connection::new(Side::Client, Limits::default())
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn wire(conn: &mut Connection) -> String {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    String::from_utf8(out).unwrap()
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

/// The body bytes among `events`.
fn body(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Data(d) => Some(d.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut conn = server();
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(conn.handle_input(input).unwrap(), input.len());
    let first = events(&mut conn);
    assert_eq!(
        first.len(),
        2,
        "only the first request until it is answered: {first:?}"
    );
    let Event::Request(req) = &first[0] else {
        panic!("{first:?}")
    };
    assert_eq!(req.view().target(), "/a");
    assert!(matches!(first[1], Event::End(None)));

    conn.send_response(StatusCode::OK, &headers(&[("content-length", "1")]))
        .unwrap();
    conn.send_data(b"a").unwrap();
    conn.send_end(None).unwrap();
    let second = events(&mut conn);
    let Event::Request(req) = &second[0] else {
        panic!("{second:?}")
    };
    assert_eq!(req.view().target(), "/b");
    conn.send_response(StatusCode::OK, &headers(&[("content-length", "1")]))
        .unwrap();
    conn.send_data(b"b").unwrap();
    conn.send_end(None).unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\naHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"
    );
    assert!(!conn.wants_close());
}

#[test]
fn chunked_request_body_with_trailers() {
    let mut conn = server();
    conn.handle_input(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nChecksum: abc\r\n\r\n",
    )
    .unwrap();
    let evs = events(&mut conn);
    assert_eq!(body(&evs), b"hello world");
    let Some(Event::End(Some(trailers))) = evs.last() else {
        panic!("{evs:?}")
    };
    assert_eq!(trailers["checksum"], "abc");
}

#[test]
fn responses_without_length_are_chunked_on_1_1_and_close_delimited_on_1_0() {
    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    events(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new())
        .unwrap();
    conn.send_data(b"abc").unwrap();
    conn.send_end(None).unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    assert!(!conn.wants_close());

    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    events(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new())
        .unwrap();
    conn.send_data(b"abc").unwrap();
    conn.send_end(None).unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nabc"
    );
    assert!(conn.wants_close());
}

#[test]
fn http_1_0_keep_alive_is_honoured() {
    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    events(&mut conn);
    conn.send_response(StatusCode::OK, &headers(&[("content-length", "0")]))
        .unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
    );
    assert!(!conn.wants_close());
}

#[test]
fn connection_close_ends_the_connection_after_the_response() {
    let mut conn = server();
    conn.handle_input(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n",
    )
    .unwrap();
    events(&mut conn);
    conn.send_response(StatusCode::NO_CONTENT, &HeaderMap::new())
        .unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"
    );
    assert!(conn.wants_close());
    assert!(
        events(&mut conn).is_empty(),
        "nothing is parsed after Connection: close"
    );
}

#[test]
fn expect_100_continue() {
    let mut conn = server();
    conn.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let evs = events(&mut conn);
    let Event::Request(req) = &evs[0] else {
        panic!()
    };
    assert!(req.head().expects_continue());
    conn.send_response(StatusCode::CONTINUE, &HeaderMap::new())
        .unwrap();
    assert_eq!(wire(&mut conn), "HTTP/1.1 100 Continue\r\n\r\n");
    conn.handle_input(b"abc").unwrap();
    assert_eq!(body(&events(&mut conn)), b"abc");
    conn.send_response(StatusCode::CREATED, &headers(&[("content-length", "0")]))
        .unwrap();
    assert_eq!(
        wire(&mut conn),
        "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn upgrade_hands_the_following_bytes_to_the_new_protocol() {
    let mut conn = server();
    conn.handle_input(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    )
    .unwrap();
    let evs = events(&mut conn);
    let Event::Request(req) = &evs[0] else {
        panic!()
    };
    assert!(req.head().wants_upgrade());
    conn.send_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &headers(&[("upgrade", "websocket"), ("connection", "upgrade")]),
    )
    .unwrap();
    let evs = events(&mut conn);
    let Some(Event::Upgraded(rest)) = evs.last() else {
        panic!("{evs:?}")
    };
    assert_eq!(rest, &Bytes::from_static(b"\x81\x05hello"));
    assert!(conn.is_upgraded());
    // 101 is refused to a request that did not ask to switch.
    let mut plain = server();
    plain
        .handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        plain.send_response(StatusCode::SWITCHING_PROTOCOLS, &HeaderMap::new()),
        Err(EncodeError::WrongState)
    );
}

#[test]
fn connect_2xx_opens_a_tunnel_on_both_sides() {
    let mut conn = server();
    conn.handle_input(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
    )
    .unwrap();
    events(&mut conn);
    conn.send_response(StatusCode::OK, &HeaderMap::new())
        .unwrap();
    assert_eq!(wire(&mut conn), "HTTP/1.1 200 OK\r\n\r\n");
    let Some(Event::Upgraded(rest)) = conn.poll_event() else {
        panic!()
    };
    assert_eq!(&rest[..], b"\x16\x03\x01");

    let mut cl = client();
    cl.send_request(
        &Method::CONNECT,
        "example.com:443",
        &headers(&[("host", "example.com:443")]),
    )
    .unwrap();
    cl.handle_input(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03")
        .unwrap();
    let evs = events(&mut cl);
    assert!(matches!(&evs[0], Event::Response(r) if r.status() == StatusCode::OK));
    assert!(matches!(&evs[1], Event::Upgraded(rest) if &rest[..] == b"\x16\x03\x03"));
}

#[test]
fn protocol_errors_get_their_status_and_close() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400 Bad Request",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "501 Not Implemented",
        ),
        (b"GET / HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported"),
    ];
    for (input, status) in cases {
        let mut conn = server();
        assert!(conn.handle_input(input).is_err());
        assert_eq!(
            wire(&mut conn),
            format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        );
        assert!(conn.wants_close());
        // The error sticks.
        assert!(conn.handle_input(b"GET / HTTP/1.1\r\n").is_err());
    }
}

#[test]
fn too_large_bodies_get_413() {
    let mut limits = Limits::default();
    limits.max_body = Some(4);
    let mut conn = Connection::new(Side::Server, limits);
    let err = conn
        .handle_input(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap_err();
    assert_eq!(err, Error::BodyTooLarge);
    assert!(wire(&mut conn).starts_with("HTTP/1.1 413 Payload Too Large\r\n"));
}

#[test]
fn outgoing_bodies_must_match_their_framing() {
    let mut conn = server();
    conn.handle_input(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.send_response(StatusCode::OK, &headers(&[("content-length", "10")]))
        .unwrap();
    // A response to HEAD has no body, whatever its Content-Length says.
    assert_eq!(conn.send_data(b"x"), Err(EncodeError::WrongState));

    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.send_response(StatusCode::OK, &headers(&[("content-length", "2")]))
        .unwrap();
    assert_eq!(conn.send_data(b"abc"), Err(EncodeError::BodyTooLong));
    conn.send_data(b"a").unwrap();
    assert_eq!(conn.send_end(None), Err(EncodeError::BodyTooShort));
    assert_eq!(
        conn.send_response(StatusCode::OK, &HeaderMap::new()),
        Err(EncodeError::WrongState)
    );

    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let both = headers(&[("content-length", "2"), ("transfer-encoding", "chunked")]);
    assert_eq!(
        conn.send_response(StatusCode::OK, &both),
        Err(EncodeError::InvalidFraming)
    );
    let gzip = headers(&[("transfer-encoding", "gzip")]);
    assert_eq!(
        conn.send_response(StatusCode::OK, &gzip),
        Err(EncodeError::InvalidFraming)
    );
}

#[test]
fn client_reads_responses_by_their_framing() {
    let mut cl = client();
    let host = headers(&[("host", "x")]);
    cl.send_request(&Method::GET, "/a", &host).unwrap();
    cl.send_request(&Method::HEAD, "/b", &host).unwrap();
    cl.send_request(&Method::GET, "/c", &host).unwrap();
    assert_eq!(
        wire(&mut cl),
        "GET /a HTTP/1.1\r\nhost: x\r\n\r\nHEAD /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n"
    );
    cl.handle_input(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
          HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
          HTTP/1.1 200 OK\r\n\r\nuntil close",
    )
    .unwrap();
    cl.handle_eof().unwrap();
    let evs = events(&mut cl);
    let ends = evs.iter().filter(|e| matches!(e, Event::End(_))).count();
    assert_eq!(ends, 3, "{evs:?}");
    assert_eq!(body(&evs), b"hiuntil close");
    assert!(matches!(evs.last(), Some(Event::Closed)));
    assert!(cl.wants_close());
}

#[test]
fn client_sees_informational_responses_first() {
    let mut cl = client();
    cl.send_request(
        &Method::PUT,
        "/f",
        &headers(&[
            ("host", "x"),
            ("content-length", "3"),
            ("expect", "100-continue"),
        ]),
    )
    .unwrap();
    cl.handle_input(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
    assert!(
        matches!(cl.poll_event(), Some(Event::Response(r)) if r.status() == StatusCode::CONTINUE)
    );
    cl.send_data(b"abc").unwrap();
    cl.send_end(None).unwrap();
    cl.handle_input(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert!(
        matches!(cl.poll_event(), Some(Event::Response(r)) if r.status() == StatusCode::CREATED)
    );
    assert!(matches!(cl.poll_event(), Some(Event::End(None))));
}

#[test]
fn unsolicited_or_truncated_responses_are_errors() {
    let mut cl = client();
    assert_eq!(
        cl.handle_input(b"HTTP/1.1 200 OK\r\n\r\n").unwrap_err(),
        Error::UnsolicitedResponse
    );

    let mut cl = client();
    cl.send_request(&Method::GET, "/", &headers(&[("host", "x")]))
        .unwrap();
    cl.handle_input(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    assert_eq!(cl.handle_eof().unwrap_err(), Error::Incomplete);
}

#[test]
fn request_heads_convert_to_http_types_without_copying_values() {
    let mut conn = server();
    conn.handle_input(
        b"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n",
    )
    .unwrap();
    let Some(Event::Request(req)) = conn.poll_event() else {
        panic!()
    };
    let parts = req.to_parts().unwrap();
    assert_eq!(parts.method, Method::GET);
    assert_eq!(parts.uri.path(), "/p");
    assert_eq!(parts.uri.query(), Some("q=1"));
    assert_eq!(parts.headers["host"], "example.com");
    let multi: Vec<_> = parts.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
}

#[test]
fn a_server_buffers_at_most_one_head_of_pipelined_input() {
    let mut limits = Limits::default();
    limits.max_head = 64;
    let mut conn = Connection::new(Side::Server, limits);
    let first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    conn.handle_input(first).unwrap();
    // While the first request waits for its response, more input is taken
    // only up to one head's worth.
    let flood = vec![b'G'; 1000];
    assert_eq!(conn.handle_input(&flood).unwrap(), 64);
    assert_eq!(conn.handle_input(&flood).unwrap(), 0);
}

#[test]
fn after_a_switch_input_is_left_to_the_new_protocol() {
    let mut conn = server();
    conn.handle_input(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    events(&mut conn);
    conn.send_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &headers(&[("upgrade", "websocket")]),
    )
    .unwrap();
    assert!(conn.is_upgraded());
    assert_eq!(conn.handle_input(b"\x81\x00").unwrap(), 0);
}

#[test]
fn a_client_refuses_data_after_a_closing_response() {
    // Found by fuzzing: whether the extra bytes came with the response or
    // later, they are the same error.
    for pieces in [
        &[&b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA"[..]][..],
        &[
            &b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
            &b"EXTRA"[..],
        ],
    ] {
        let mut cl = client();
        cl.send_request(&Method::GET, "/", &headers(&[("host", "x")]))
            .unwrap();
        let result: Result<Vec<usize>, Error> = pieces.iter().map(|p| cl.handle_input(p)).collect();
        assert_eq!(result, Err(Error::UnexpectedData));
        assert!(cl.wants_close());
    }
}

#[test]
fn no_switch_before_the_request_body_is_read() {
    let mut conn = server();
    conn.handle_input(
        b"POST /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 10\r\n\r\nabc",
    )
    .unwrap();
    events(&mut conn);
    assert_eq!(
        conn.send_response(StatusCode::SWITCHING_PROTOCOLS, &HeaderMap::new()),
        Err(EncodeError::WrongState)
    );
    conn.handle_input(b"defghij").unwrap();
    assert!(matches!(events(&mut conn).last(), Some(Event::End(None))));
    conn.send_response(StatusCode::SWITCHING_PROTOCOLS, &HeaderMap::new())
        .unwrap();
    assert!(conn.is_upgraded());
}

#[test]
fn an_answered_request_gets_no_second_response_on_error() {
    let mut conn = server();
    conn.handle_input(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        .unwrap();
    events(&mut conn);
    // An early answer; then the body turns out to be broken.
    conn.send_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &headers(&[("content-length", "0")]),
    )
    .unwrap();
    let answer = wire(&mut conn);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(conn.handle_input(b"loXX").is_err());
    assert_eq!(wire(&mut conn), "", "no second response");
    assert!(conn.wants_close());
}

#[test]
fn a_half_close_still_gets_every_pipelined_answer() {
    let mut conn = server();
    conn.handle_input(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.handle_eof().unwrap();
    let mut targets = Vec::new();
    loop {
        let evs = events(&mut conn);
        let mut answered = false;
        for e in &evs {
            match e {
                Event::Request(r) => targets.push(r.view().target().to_owned()),
                Event::End(_) => answered = true,
                _ => {}
            }
        }
        if matches!(evs.last(), Some(Event::Closed)) {
            break;
        }
        assert!(answered, "stuck: {evs:?}");
        conn.send_response(StatusCode::NO_CONTENT, &HeaderMap::new())
            .unwrap();
    }
    assert_eq!(targets, ["/a", "/b"]);
    assert_eq!(wire(&mut conn).matches("HTTP/1.1 204").count(), 2);
    assert!(conn.wants_close());
}

#[test]
fn http_1_0_gets_no_chunks_no_1xx_and_no_switch() {
    let mut conn = server();
    conn.handle_input(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    let Some(Event::Request(req)) = conn.poll_event() else {
        panic!()
    };
    assert!(
        !req.head().wants_upgrade(),
        "Upgrade is ignored in HTTP/1.0"
    );
    assert_eq!(
        conn.send_response(StatusCode::CONTINUE, &HeaderMap::new()),
        Err(EncodeError::WrongState)
    );
    assert_eq!(
        conn.send_response(StatusCode::SWITCHING_PROTOCOLS, &HeaderMap::new()),
        Err(EncodeError::WrongState)
    );
    let chunked = headers(&[("transfer-encoding", "chunked")]);
    assert_eq!(
        conn.send_response(StatusCode::OK, &chunked),
        Err(EncodeError::InvalidFraming)
    );
}

#[test]
fn a_client_sends_nothing_after_close_or_switch() {
    let mut cl = client();
    cl.send_request(
        &Method::GET,
        "/",
        &headers(&[("host", "x"), ("connection", "close")]),
    )
    .unwrap();
    assert_eq!(
        cl.send_request(&Method::GET, "/", &headers(&[("host", "x")])),
        Err(EncodeError::WrongState)
    );

    let mut cl = client();
    cl.send_request(
        &Method::GET,
        "/ws",
        &headers(&[
            ("host", "x"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
        ]),
    )
    .unwrap();
    cl.handle_input(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    )
    .unwrap();
    assert!(cl.is_upgraded());
    assert_eq!(
        cl.send_request(&Method::GET, "/", &headers(&[("host", "x")])),
        Err(EncodeError::WrongState)
    );
}

#[test]
fn a_client_refuses_a_switch_it_did_not_ask_for() {
    let mut cl = client();
    cl.send_request(&Method::GET, "/", &headers(&[("host", "x")]))
        .unwrap();
    let err = cl
        .handle_input(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        .unwrap_err();
    assert_eq!(err, Error::UnexpectedSwitch);
}

#[test]
fn recycled_heads_carry_the_same_requests() {
    // Heads given back serve the next ones; what the requests say is
    // unchanged, whatever their field counts.
    let mut conn = server();
    let mut seen = Vec::new();
    for fields in [1usize, 20, 0, 3, 40, 2] {
        let mut req = String::from("GET /x HTTP/1.1\r\nHost: a\r\n");
        for i in 0..fields {
            req.push_str(&format!("X-F{i}: {i}\r\n"));
        }
        req.push_str("\r\n");
        conn.handle_input(req.as_bytes()).unwrap();
        let Some(Event::Request(head)) = conn.poll_event() else {
            panic!("no request")
        };
        let parts = head.to_parts().unwrap();
        seen.push(parts.headers.len());
        assert_eq!(parts.headers.get("x-f0").is_some(), fields > 0);
        conn.recycle(head);
        while conn.poll_event().is_some() {}
        conn.send_response(StatusCode::OK, &headers(&[("content-length", "0")]))
            .unwrap();
        wire(&mut conn);
    }
    assert_eq!(seen, [2, 21, 1, 4, 41, 3]);
}
