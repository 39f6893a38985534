//! The HTTP/2 frame layer: every type both ways, the checks of RFC 9113 §6
//! with their error codes, field blocks split into CONTINUATIONs, and any
//! input at any split.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tetsuo_proto::h2::frame::{
    self, Frame, FrameError, FrameHeader, Headers, Priority, flags, kind,
};
use tetsuo_proto::h2::{ErrorCode, Settings};

const MAX: u32 = 16_384;

type Outcome = Result<Vec<Frame>, FrameError>;

fn read_all(wire: &[u8]) -> Outcome {
    let mut input = BytesMut::from(wire);
    let mut frames = Vec::new();
    while let Some(f) = frame::read(&mut input, MAX)? {
        frames.push(f);
    }
    assert!(input.is_empty(), "{} bytes left", input.len());
    Ok(frames)
}

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    FrameHeader {
        len: payload.len() as u32,
        kind,
        flags,
        stream,
    }
    .encode(&mut wire);
    wire.extend_from_slice(payload);
    wire
}

#[test]
fn every_frame_type_round_trips() {
    let mut wire = Vec::new();
    frame::encode_data(1, b"hello", true, &mut wire);
    frame::encode_headers(3, b"\x82\x86", false, MAX, &mut wire);
    let prio = Priority {
        dependency: 1,
        exclusive: true,
        weight: 15,
    };
    frame::encode_priority(3, prio, &mut wire);
    frame::encode_rst_stream(3, ErrorCode::CANCEL, &mut wire);
    let mut settings = Settings::default();
    settings.max_concurrent_streams = Some(100);
    settings.initial_window_size = Some(1 << 20);
    settings.enable_connect_protocol = Some(true);
    frame::encode_settings(&settings, &mut wire);
    frame::encode_settings_ack(&mut wire);
    frame::encode_push_promise(1, 2, b"\x82", MAX, &mut wire);
    frame::encode_ping(true, [1, 2, 3, 4, 5, 6, 7, 8], &mut wire);
    frame::encode_goaway(5, ErrorCode::ENHANCE_YOUR_CALM, b"calm down", &mut wire);
    frame::encode_window_update(0, 65_535, &mut wire);
    wire.extend(raw(0xEE, 0xFF, 9, b"whatever"));
    let frames = read_all(&wire).unwrap();
    assert_eq!(
        frames,
        [
            Frame::Data {
                stream: 1,
                end_stream: true,
                data: Bytes::from_static(b"hello"),
                flow_len: 5
            },
            Frame::Headers(Headers {
                stream: 3,
                end_stream: false,
                end_headers: true,
                priority: None,
                fragment: Bytes::from_static(b"\x82\x86"),
            }),
            Frame::Priority {
                stream: 3,
                priority: prio
            },
            Frame::RstStream {
                stream: 3,
                code: ErrorCode::CANCEL
            },
            Frame::Settings {
                ack: false,
                settings
            },
            Frame::Settings {
                ack: true,
                settings: Settings::default()
            },
            Frame::PushPromise {
                stream: 1,
                promised: 2,
                end_headers: true,
                fragment: Bytes::from_static(b"\x82")
            },
            Frame::Ping {
                ack: true,
                payload: [1, 2, 3, 4, 5, 6, 7, 8]
            },
            Frame::GoAway {
                last_stream: 5,
                code: ErrorCode::ENHANCE_YOUR_CALM,
                debug: Bytes::from_static(b"calm down")
            },
            Frame::WindowUpdate {
                stream: 0,
                increment: 65_535
            },
            Frame::Unknown {
                kind: 0xEE,
                stream: 9
            },
        ]
    );
}

#[test]
fn a_large_field_block_is_split_into_continuations() {
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut wire = Vec::new();
    frame::encode_headers(7, &block, true, MAX, &mut wire);
    let frames = read_all(&wire).unwrap();
    assert_eq!(frames.len(), 3);
    let mut joined = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        match f {
            Frame::Headers(h) => {
                assert_eq!(i, 0);
                assert!(h.end_stream && !h.end_headers);
                joined.extend_from_slice(&h.fragment);
            }
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => {
                assert_eq!(*stream, 7);
                assert_eq!(*end_headers, i == 2);
                assert!(fragment.len() <= MAX as usize);
                joined.extend_from_slice(fragment);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(joined, block);
    // A push promise's first frame carries the promised id too.
    let mut wire = Vec::new();
    frame::encode_push_promise(1, 4, &block[..MAX as usize], MAX, &mut wire);
    let frames = read_all(&wire).unwrap();
    assert!(matches!(
        frames[0],
        Frame::PushPromise {
            promised: 4,
            end_headers: false,
            ..
        }
    ));
    assert!(matches!(
        frames[1],
        Frame::Continuation {
            end_headers: true,
            ..
        }
    ));
}

#[test]
fn padding_and_priority_are_taken_off() {
    // DATA: pad length 3, "abc", three bytes of padding.
    let wire = raw(
        kind::DATA,
        flags::PADDED | flags::END_STREAM,
        1,
        b"\x03abc\0\0\0",
    );
    assert_eq!(
        read_all(&wire).unwrap(),
        [Frame::Data {
            stream: 1,
            end_stream: true,
            data: Bytes::from_static(b"abc"),
            flow_len: 7
        }]
    );
    // HEADERS: padded and prioritised.
    let wire = raw(
        kind::HEADERS,
        flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        3,
        b"\x01\x80\x00\x00\x01\x0f\x82\0",
    );
    let [Frame::Headers(h)] = &read_all(&wire).unwrap()[..] else {
        panic!()
    };
    assert_eq!(
        h.priority,
        Some(Priority {
            dependency: 1,
            exclusive: true,
            weight: 15
        })
    );
    assert_eq!(&h.fragment[..], b"\x82");
}

#[test]
fn the_rules_of_section_6_with_their_codes() {
    let conn = |code| Err(FrameError::connection(code));
    let stream = |s, code| Err(FrameError::stream(s, code));
    let p = ErrorCode::PROTOCOL_ERROR;
    let size = ErrorCode::FRAME_SIZE_ERROR;
    let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
        ("DATA on stream 0", raw(kind::DATA, 0, 0, b"x"), conn(p)),
        (
            "padding as long as the payload",
            raw(kind::DATA, flags::PADDED, 1, b"\x03ab"),
            conn(p),
        ),
        (
            "padded without a pad length",
            raw(kind::DATA, flags::PADDED, 1, b""),
            conn(size),
        ),
        (
            "HEADERS on stream 0",
            raw(kind::HEADERS, 0, 0, b"\x82"),
            conn(p),
        ),
        (
            "HEADERS priority cut short",
            raw(kind::HEADERS, flags::PRIORITY, 1, b"\0\0"),
            conn(size),
        ),
        (
            "PRIORITY of 4 bytes",
            raw(kind::PRIORITY, 0, 1, b"\0\0\0\0"),
            stream(1, size),
        ),
        (
            "PRIORITY on itself",
            raw(kind::PRIORITY, 0, 3, b"\0\0\0\x03\x10"),
            stream(3, p),
        ),
        (
            "PRIORITY on stream 0",
            raw(kind::PRIORITY, 0, 0, b"\0\0\0\x01\x10"),
            conn(p),
        ),
        (
            "RST_STREAM on stream 0",
            raw(kind::RST_STREAM, 0, 0, b"\0\0\0\x08"),
            conn(p),
        ),
        (
            "RST_STREAM of 3 bytes",
            raw(kind::RST_STREAM, 0, 1, b"\0\0\x08"),
            conn(size),
        ),
        (
            "SETTINGS on a stream",
            raw(kind::SETTINGS, 0, 1, b""),
            conn(p),
        ),
        (
            "SETTINGS of 5 bytes",
            raw(kind::SETTINGS, 0, 0, b"\0\x03\0\0\0"),
            conn(size),
        ),
        (
            "SETTINGS ACK with a payload",
            raw(kind::SETTINGS, flags::ACK, 0, b"\0\x03\0\0\0\x01"),
            conn(size),
        ),
        (
            "ENABLE_PUSH of 2",
            raw(kind::SETTINGS, 0, 0, b"\0\x02\0\0\0\x02"),
            conn(p),
        ),
        (
            "INITIAL_WINDOW_SIZE of 2^31",
            raw(kind::SETTINGS, 0, 0, b"\0\x04\x80\0\0\0"),
            conn(ErrorCode::FLOW_CONTROL_ERROR),
        ),
        (
            "MAX_FRAME_SIZE under 16384",
            raw(kind::SETTINGS, 0, 0, b"\0\x05\0\0\x3f\xff"),
            conn(p),
        ),
        (
            "MAX_FRAME_SIZE over 2^24-1",
            raw(kind::SETTINGS, 0, 0, b"\0\x05\x01\0\0\0"),
            conn(p),
        ),
        (
            "ENABLE_CONNECT_PROTOCOL of 7",
            raw(kind::SETTINGS, 0, 0, b"\0\x08\0\0\0\x07"),
            conn(p),
        ),
        (
            "PUSH_PROMISE on stream 0",
            raw(kind::PUSH_PROMISE, 0, 0, b"\0\0\0\x02"),
            conn(p),
        ),
        (
            "PUSH_PROMISE without its id",
            raw(kind::PUSH_PROMISE, 0, 1, b"\0\0"),
            conn(size),
        ),
        (
            "PING of 7 bytes",
            raw(kind::PING, 0, 0, b"1234567"),
            conn(size),
        ),
        (
            "PING on a stream",
            raw(kind::PING, 0, 1, b"12345678"),
            conn(p),
        ),
        (
            "GOAWAY of 7 bytes",
            raw(kind::GOAWAY, 0, 0, b"\0\0\0\0\0\0\0"),
            conn(size),
        ),
        (
            "GOAWAY on a stream",
            raw(kind::GOAWAY, 0, 1, b"\0\0\0\0\0\0\0\0"),
            conn(p),
        ),
        (
            "WINDOW_UPDATE of 0 on the connection",
            raw(kind::WINDOW_UPDATE, 0, 0, b"\0\0\0\0"),
            conn(p),
        ),
        (
            "WINDOW_UPDATE of 0 on a stream",
            raw(kind::WINDOW_UPDATE, 0, 5, b"\0\0\0\0"),
            stream(5, p),
        ),
        (
            "WINDOW_UPDATE of 3 bytes",
            raw(kind::WINDOW_UPDATE, 0, 5, b"\0\0\x01"),
            conn(size),
        ),
        (
            "CONTINUATION on stream 0",
            raw(kind::CONTINUATION, 0, 0, b"\x82"),
            conn(p),
        ),
    ];
    for (what, wire, expected) in cases {
        assert_eq!(read_all(&wire), expected, "{what}");
    }
    // Unknown SETTINGS are ignored; a frame of an unknown type too.
    assert!(read_all(&raw(kind::SETTINGS, 0, 0, b"\0\x63\0\0\0\x01")).is_ok());
}

#[test]
fn an_oversized_frame_is_refused_from_its_header() {
    let mut input = BytesMut::from(&raw(kind::DATA, 0, 1, &[])[..]);
    // Rewrite the length to MAX + 1 and give no payload at all.
    input[..3].copy_from_slice(&(MAX + 1).to_be_bytes()[1..]);
    assert_eq!(
        frame::read(&mut input, MAX),
        Err(FrameError::connection(ErrorCode::FRAME_SIZE_ERROR))
    );
}

proptest! {
    /// Any bytes at any split: the same frames, or the same error, and no
    /// panic.
    #[test]
    fn any_input_any_split(data in proptest::collection::vec(any::<u8>(), 0..200), cut in any::<prop::sample::Index>()) {
        let run = |pieces: &[&[u8]]| {
            let mut input = BytesMut::new();
            let mut frames = Vec::new();
            for p in pieces {
                input.extend_from_slice(p);
                loop {
                    match frame::read(&mut input, 64) {
                        Ok(Some(f)) => frames.push(f),
                        Ok(None) => break,
                        Err(e) => return (frames, Some(e)),
                    }
                }
            }
            (frames, None)
        };
        let at = cut.index(data.len() + 1);
        prop_assert_eq!(run(&[&data]), run(&[&data[..at], &data[at..]]));
    }
}
