//! The examples RFC 9112 and RFC 9110 give, parsed as the RFCs describe them.

use http::{Method, StatusCode, Version};
use tetsuo_proto::h1::{
    BodyDecoder, Connection, Event, Framing, HeadParser, Kind, Limits, Side, Status,
    request_framing,
};

fn parse_request(bytes: &[u8]) -> (String, String, Vec<(String, String)>) {
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    assert_eq!(
        parser.parse(bytes).unwrap(),
        Status::Complete(bytes.len()),
        "{:?}",
        String::from_utf8_lossy(bytes)
    );
    let req = parser.request(bytes).unwrap();
    let headers = req
        .headers()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();
    (req.method().to_owned(), req.target().to_owned(), headers)
}

#[test]
fn request_target_forms_rfc9112_3_2() {
    // §3.2.1 origin-form
    let (m, t, h) = parse_request(b"GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    assert_eq!((m.as_str(), t.as_str()), ("GET", "/where?q=now"));
    assert_eq!(h, [("Host".to_owned(), "www.example.org".to_owned())]);
    // §3.2.2 absolute-form
    let (_, t, _) = parse_request(b"GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    assert_eq!(t, "http://www.example.org/pub/WWW/TheProject.html");
    // §3.2.3 authority-form
    let (m, t, _) =
        parse_request(b"CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!((m.as_str(), t.as_str()), ("CONNECT", "www.example.com:80"));
    // §3.2.4 asterisk-form
    let (m, t, _) = parse_request(b"OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n");
    assert_eq!((m.as_str(), t.as_str()), ("OPTIONS", "*"));
}

#[test]
fn field_values_lose_surrounding_whitespace_rfc9110_5_5() {
    // RFC 9110 §5.5: "Example-Field: Foo, Bar" and OWS around the value.
    let (_, _, h) =
        parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nExample-Field:  \t Foo, Bar \t \r\n\r\n");
    assert_eq!(h[1], ("Example-Field".to_owned(), "Foo, Bar".to_owned()));
}

#[test]
fn chunked_example_with_trailer_rfc9112_7() {
    // §7.1 and §7.1.2: chunks, an extension, and a trailer field.
    let body = b"4\r\nWiki\r\n6;name=value\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n";
    let mut decoder = BodyDecoder::new(Framing::Chunked, &Limits::default()).unwrap();
    let mut data = Vec::new();
    let mut rest = &body[..];
    while !decoder.is_done() {
        let step = decoder.decode(rest).unwrap();
        if let Some(range) = step.data.clone() {
            data.extend_from_slice(&rest[range]);
        }
        rest = &rest[step.consumed..];
    }
    assert!(rest.is_empty());
    assert_eq!(data, b"Wikipedia in \r\n\r\nchunks.");
    let trailers = decoder.trailer_map().unwrap();
    assert_eq!(trailers["expires"], "Wed, 21 Oct 2015 07:28:00 GMT");
}

#[test]
fn message_body_length_rules_rfc9112_6_3() {
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    let with_length = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n";
    parser.parse(with_length).unwrap();
    assert_eq!(request_framing(parser.head()), Framing::Length(42));
    parser.reset();
    // Item 6: a request with neither has no body.
    parser.parse(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(request_framing(parser.head()), Framing::Empty);

    // Items 1-2 and 8: HEAD, 204, 304 and 2xx-to-CONNECT responses have no
    // body; a response with neither header runs to the close.
    let response = |bytes: &[u8], method: Method| {
        let mut conn = Connection::new(Side::Client, Limits::default());
        conn.send_request(
            &method,
            if method == Method::CONNECT {
                "a:443"
            } else {
                "/"
            },
            &http::HeaderMap::new(),
        )
        .unwrap();
        conn.handle_input(bytes).unwrap();
        conn.handle_eof().ok();
        std::iter::from_fn(|| conn.poll_event()).collect::<Vec<_>>()
    };
    let evs = response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        Method::HEAD,
    );
    assert!(matches!(evs[1], Event::End(None)));
    let evs = response(
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        Method::GET,
    );
    assert!(matches!(evs[1], Event::End(None)));
    let evs = response(b"HTTP/1.0 200 OK\r\n\r\nall of it", Method::GET);
    assert!(matches!(&evs[1], Event::Data(d) if &d[..] == b"all of it"));
    let evs = response(
        b"HTTP/1.1 200 Connection Established\r\n\r\ntunnel",
        Method::CONNECT,
    );
    assert!(matches!(&evs[1], Event::Upgraded(d) if &d[..] == b"tunnel"));
}

#[test]
fn status_line_rfc9112_4() {
    let mut parser = HeadParser::new(Kind::Response, Limits::default());
    let bytes = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    parser.parse(bytes).unwrap();
    let res = parser.response(bytes).unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.reason(), b"Not Found");
    assert_eq!(res.version(), Version::HTTP_11);
    // The reason phrase may be empty, and some servers omit its space.
    for bytes in [&b"HTTP/1.1 204 \r\n\r\n"[..], b"HTTP/1.1 204\r\n\r\n"] {
        let mut parser = HeadParser::new(Kind::Response, Limits::default());
        assert!(matches!(parser.parse(bytes), Ok(Status::Complete(_))));
        assert_eq!(parser.response(bytes).unwrap().reason(), b"");
    }
}

#[test]
fn leading_empty_lines_are_ignored_rfc9112_2_2() {
    let (m, t, _) = parse_request(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((m.as_str(), t.as_str()), ("GET", "/"));
}
