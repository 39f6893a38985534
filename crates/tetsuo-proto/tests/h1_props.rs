//! Property tests: encode -> parse round trips, and every split of the input
//! (two pieces at every boundary, and byte by byte) gives the same events as
//! one piece — for valid messages and for corrupted ones alike.

use http::{HeaderMap, Method, StatusCode, Version};
use proptest::prelude::*;
use tetsuo_proto::h1::{
    Connection, Error, Event, Limits, Side, encode_chunk, encode_last_chunk, encode_request_head,
    encode_response_head,
};

type Fields = Vec<(String, Vec<u8>)>;

/// Field lines as they arrive: name and value bytes.
type RawFields = Vec<(Vec<u8>, Vec<u8>)>;

/// A generated request: method, target, fields, body, body framing.
type GenRequest = (String, String, Fields, Vec<u8>, BodyFraming);

/// What a message looks like on arrival, with body data merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Request {
        method: String,
        target: String,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Response {
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Body(Vec<u8>),
    End(Vec<(String, Vec<u8>)>),
    Upgraded(Vec<u8>),
    Closed,
}

/// Feeds `pieces` to a fresh connection, then end of stream if `eof`;
/// returns what was seen and the first error.
fn run(
    side: Side,
    setup: impl Fn(&mut Connection),
    pieces: &[&[u8]],
    eof: bool,
) -> (Vec<Seen>, Option<Error>) {
    let mut conn = Connection::new(side, Limits::default());
    setup(&mut conn);
    let mut seen: Vec<Seen> = Vec::new();
    let mut error = None;
    let drain = |conn: &mut Connection, seen: &mut Vec<Seen>| {
        while let Some(event) = conn.poll_event() {
            let item = match event {
                Event::Request(r) => {
                    let v = r.view();
                    Seen::Request {
                        method: v.method().to_owned(),
                        target: v.target().to_owned(),
                        headers: v.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
                    }
                }
                Event::Response(r) => Seen::Response {
                    status: r.status().as_u16(),
                    headers: r
                        .view()
                        .headers()
                        .map(|(n, v)| (n.to_vec(), v.to_vec()))
                        .collect(),
                },
                Event::Data(d) => {
                    if let Some(Seen::Body(b)) = seen.last_mut() {
                        b.extend_from_slice(&d);
                        continue;
                    }
                    Seen::Body(d.to_vec())
                }
                Event::End(trailers) => Seen::End(
                    trailers
                        .map(|t| {
                            t.iter()
                                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Event::Upgraded(rest) => Seen::Upgraded(rest.to_vec()),
                Event::Closed => Seen::Closed,
                _ => continue,
            };
            seen.push(item);
        }
    };
    for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() && error.is_none() {
            match conn.handle_input(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) => error = Some(e),
            }
            drain(&mut conn, &mut seen);
        }
        if error.is_some() {
            break;
        }
    }
    if eof
        && error.is_none()
        && let Err(e) = conn.handle_eof()
    {
        error = Some(e);
    }
    drain(&mut conn, &mut seen);
    (seen, error)
}

/// Asserts that every two-piece split and the byte-by-byte feed of `input`
/// see what one piece sees.
fn splits_agree(
    side: Side,
    setup: impl Fn(&mut Connection) + Copy,
    input: &[u8],
    eof: bool,
) -> Result<(), TestCaseError> {
    let whole = run(side, setup, &[input], eof);
    for k in 0..=input.len() {
        let split = run(side, setup, &[&input[..k], &input[k..]], eof);
        prop_assert_eq!(&split, &whole, "split at {}", k);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    prop_assert_eq!(run(side, setup, &bytes, eof), whole, "byte by byte");
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}"
}

fn field_name() -> impl Strategy<Value = String> {
    token().prop_filter("framing fields are generated separately", |n| {
        ![
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "expect",
            "upgrade",
        ]
        .contains(&n.to_ascii_lowercase().as_str())
    })
}

/// A field value as the parser returns it: no leading/trailing whitespace.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(prop_oneof![0x21u8..0x7f, 0x80u8..=0xff], 1..2).prop_flat_map(
            |edge| {
                proptest::collection::vec(
                    prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff],
                    0..40,
                )
                .prop_map(move |mut middle| {
                    let mut v = edge.clone();
                    v.append(&mut middle);
                    v.extend_from_slice(&edge);
                    v
                })
            }
        ),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    proptest::collection::vec((field_name(), field_value()), 0..8)
}

fn target() -> impl Strategy<Value = String> {
    "/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,30}(\\?[A-Za-z0-9=&%2F]{0,20})?"
        .prop_filter("percent signs need hex digits", |t| {
            !t.contains('%') || t.contains("%2F")
        })
        .prop_map(|t| t.replace('%', "%25").replace("%252F", "%2F"))
}

#[derive(Debug, Clone)]
enum BodyFraming {
    Length,
    /// Chunk sizes to cut the body into, and trailer fields.
    Chunked(Vec<usize>, Vec<(String, Vec<u8>)>),
}

fn framing() -> impl Strategy<Value = BodyFraming> {
    prop_oneof![
        Just(BodyFraming::Length),
        (proptest::collection::vec(1usize..20, 0..6), fields())
            .prop_map(|(cuts, t)| BodyFraming::Chunked(cuts, t)),
    ]
}

/// Writes a body with `framing`, returning the header that declares it.
fn encode_body(out: &mut Vec<u8>, body: &[u8], framing: &BodyFraming) {
    match framing {
        BodyFraming::Length => out.extend_from_slice(body),
        BodyFraming::Chunked(cuts, trailers) => {
            let mut rest = body;
            for cut in cuts.iter().cycle().take(body.len() + 1) {
                if rest.is_empty() {
                    break;
                }
                let n = (*cut).min(rest.len());
                encode_chunk(out, &rest[..n]);
                rest = &rest[n..];
            }
            encode_chunk(out, rest);
            let mut map = HeaderMap::new();
            for (name, value) in trailers {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_bytes(value),
                ) {
                    map.append(n, v);
                }
            }
            encode_last_chunk(out, (!map.is_empty()).then_some(&map)).unwrap();
        }
    }
}

fn framing_field(body: &[u8], framing: &BodyFraming) -> (String, Vec<u8>) {
    match framing {
        BodyFraming::Length => ("Content-Length".into(), body.len().to_string().into_bytes()),
        BodyFraming::Chunked(..) => ("Transfer-Encoding".into(), b"chunked".to_vec()),
    }
}

fn request_strategy() -> impl Strategy<Value = GenRequest> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            "[A-Z]{1,10}"
        ],
        target(),
        fields(),
        proptest::collection::vec(any::<u8>(), 0..120),
        framing(),
    )
}

fn encode_request(
    method: &str,
    target: &str,
    fields: &[(String, Vec<u8>)],
    body: &[u8],
    framing: &BodyFraming,
) -> (Vec<u8>, RawFields) {
    let mut all: Vec<(String, Vec<u8>)> = vec![("Host".into(), b"example.com".to_vec())];
    all.extend(fields.iter().cloned());
    all.push(framing_field(body, framing));
    let extra: Vec<(&str, &[u8])> = all
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let mut out = Vec::new();
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    encode_request_head(
        &mut out,
        &method,
        target,
        Version::HTTP_11,
        &HeaderMap::new(),
        &extra,
    )
    .unwrap();
    encode_body(&mut out, body, framing);
    let expected = all.into_iter().map(|(n, v)| (n.into_bytes(), v)).collect();
    (out, expected)
}

/// Trailers as they go on the wire: through a `HeaderMap`, which groups
/// repeated names.
fn expected_trailers(framing: &BodyFraming) -> Vec<(String, Vec<u8>)> {
    match framing {
        BodyFraming::Chunked(_, trailers) => {
            let mut map = HeaderMap::new();
            for (name, value) in trailers {
                map.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    http::HeaderValue::from_bytes(value).unwrap(),
                );
            }
            map.iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect()
        }
        BodyFraming::Length => Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn requests_round_trip_and_any_split_agrees((method, target, fields, body, framing) in request_strategy()) {
        let (wire, headers) = encode_request(&method, &target, &fields, &body, &framing);
        let (seen, error) = run(Side::Server, |_| {}, &[&wire], false);
        prop_assert_eq!(error, None);
        let mut expected = vec![Seen::Request { method, target, headers }];
        if !body.is_empty() {
            expected.push(Seen::Body(body.clone()));
        }
        expected.push(Seen::End(expected_trailers(&framing)));
        prop_assert_eq!(&seen, &expected);
        splits_agree(Side::Server, |_| {}, &wire, false)?;
    }

    #[test]
    fn responses_round_trip_and_any_split_agrees(
        status in 200u16..600,
        fields in fields(),
        body in proptest::collection::vec(any::<u8>(), 1..120),
        framing in prop_oneof![framing().prop_map(Some), Just(None)],
    ) {
        let status = StatusCode::from_u16(status).unwrap();
        prop_assume!(status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED);
        let mut all = fields.clone();
        if let Some(framing) = &framing {
            all.push(framing_field(&body, framing));
        }
        let extra: Vec<(&str, &[u8])> = all.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let mut wire = Vec::new();
        encode_response_head(&mut wire, status, None, Version::HTTP_11, &HeaderMap::new(), &extra).unwrap();
        match &framing {
            Some(framing) => encode_body(&mut wire, &body, framing),
            // Close-delimited: the body runs to end of stream.
            None => wire.extend_from_slice(&body),
        }
        let setup = |c: &mut Connection| {
            c.send_request(&Method::GET, "/", &HeaderMap::new()).unwrap();
        };
        let (seen, error) = run(Side::Client, setup, &[&wire], true);
        prop_assert_eq!(error, None);
        let headers = all.into_iter().map(|(n, v)| (n.into_bytes(), v)).collect();
        let trailers = framing.as_ref().map(expected_trailers).unwrap_or_default();
        let expected = vec![
            Seen::Response { status: status.as_u16(), headers },
            Seen::Body(body.clone()),
            Seen::End(trailers),
            Seen::Closed,
        ];
        prop_assert_eq!(&seen, &expected);
        splits_agree(Side::Client, setup, &wire, true)?;
    }

    #[test]
    fn corrupted_requests_fail_the_same_way_however_split(
        (method, target, fields, body, framing) in request_strategy(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(0u8), Just(b' '), Just(b'\t'), Just(b':'), Just(b';'),
            Just(b'0'), Just(b'f'), Just(0x7f), Just(0xff), any::<u8>(),
        ], any::<bool>()), 1..4),
    ) {
        let (mut wire, _) = encode_request(&method, &target, &fields, &body, &framing);
        for (at, byte, insert) in edits {
            let i = at.index(wire.len());
            if insert { wire.insert(i, byte) } else { wire[i] = byte }
        }
        splits_agree(Side::Server, |_| {}, &wire, true)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = run(Side::Server, |_| {}, &[&bytes], true);
        let setup = |c: &mut Connection| { c.send_request(&Method::GET, "/", &HeaderMap::new()).unwrap(); };
        let _ = run(Side::Client, setup, &[&bytes], true);
    }
}
