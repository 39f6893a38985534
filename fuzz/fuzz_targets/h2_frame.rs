//! HTTP/2 frames from a peer: never a panic, never a payload buffered past
//! the frame size limit, the same frames (or error) however the input is
//! split; and every frame parsed, written again by our encoders, parses to
//! the same frame (padding aside).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tetsuo_proto::h2::frame::{self, Frame, FrameError};

const MAX: u32 = 16_384;

fn run(pieces: &[&[u8]]) -> (Vec<Frame>, Option<FrameError>) {
    let mut input = BytesMut::new();
    let mut frames = Vec::new();
    for p in pieces {
        input.extend_from_slice(p);
        loop {
            match frame::read(&mut input, MAX) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
            assert!(input.capacity() <= (MAX as usize + 9) * 2 + p.len());
        }
    }
    (frames, None)
}

/// The frame written by our encoders (None: a type without one).
fn reencode(f: &Frame) -> Option<Vec<u8>> {
    let mut w = Vec::new();
    match f {
        Frame::Data {
            stream,
            end_stream,
            data,
            ..
        } => frame::encode_data(*stream, data, *end_stream, &mut w),
        Frame::Priority { stream, priority } => frame::encode_priority(*stream, *priority, &mut w),
        Frame::RstStream { stream, code } => frame::encode_rst_stream(*stream, *code, &mut w),
        Frame::Settings { ack: true, .. } => frame::encode_settings_ack(&mut w),
        Frame::Settings {
            ack: false,
            settings,
        } => frame::encode_settings(settings, &mut w),
        Frame::Ping { ack, payload } => frame::encode_ping(*ack, *payload, &mut w),
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => frame::encode_goaway(*last_stream, *code, debug, &mut w),
        Frame::WindowUpdate { stream, increment } => {
            frame::encode_window_update(*stream, *increment, &mut w)
        }
        _ => return None,
    }
    Some(w)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let k = usize::from(cut) * bytes.len() / 255;
    let whole = run(&[bytes]);
    assert_eq!(whole, run(&[&bytes[..k], &bytes[k..]]), "split at {k}");
    for f in &whole.0 {
        let Some(wire) = reencode(f) else { continue };
        let mut again = BytesMut::from(&wire[..]);
        let back = frame::read(&mut again, MAX)
            .expect("our frame parses")
            .expect("whole");
        match (f, &back) {
            (
                Frame::Data {
                    stream,
                    end_stream,
                    data,
                    ..
                },
                Frame::Data {
                    stream: s,
                    end_stream: e,
                    data: d,
                    ..
                },
            ) => {
                assert_eq!((stream, end_stream, data), (s, e, d));
            }
            _ => assert_eq!(f, &back),
        }
    }
});
