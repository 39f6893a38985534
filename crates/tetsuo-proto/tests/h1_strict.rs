//! One test per strictness rule: the bytes, the error, the status.

use tetsuo_proto::h1::{
    BodyDecoder, Error, Framing, HeadParser, Kind, Limits, Status, request_framing,
};

fn request(bytes: &[u8]) -> Result<Status, Error> {
    HeadParser::new(Kind::Request, Limits::default()).parse(bytes)
}

fn response(bytes: &[u8]) -> Result<Status, Error> {
    HeadParser::new(Kind::Response, Limits::default()).parse(bytes)
}

/// Asserts that `bytes` is rejected with `error`, answered with `status`.
#[track_caller]
fn rejects(bytes: &[u8], error: Error, status: u16) {
    assert_eq!(
        request(bytes),
        Err(error),
        "{:?}",
        String::from_utf8_lossy(bytes)
    );
    assert_eq!(error.status().as_u16(), status, "{error:?}");
    assert!(error.must_close());
}

#[test]
fn both_content_length_and_transfer_encoding_rfc9112_6_1() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        Error::ContentLengthAndTransferEncoding,
        400,
    );
    // The order does not matter, nor does it for responses.
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        Error::ContentLengthAndTransferEncoding,
        400,
    );
    assert_eq!(
        response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(Error::ContentLengthAndTransferEncoding)
    );
}

#[test]
fn malformed_or_conflicting_content_length_rfc9110_8_6() {
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    ];
    for case in cases {
        rejects(case, Error::InvalidContentLength, 400);
    }
    // Identical repeated values are one value (RFC 9110 §8.6).
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    let ok = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n";
    assert!(matches!(parser.parse(ok), Ok(Status::Complete(_))));
    assert_eq!(request_framing(parser.head()), Framing::Length(5));
}

#[test]
fn transfer_encoding_other_than_final_chunked_rfc9112_6_3() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        Error::ChunkedNotFinal,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        Error::ChunkedNotFinal,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        Error::ChunkedNotFinal,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n",
        Error::ChunkedNotFinal,
        400,
    );
    // A coding we do not implement, with chunked last: 501 (RFC 9112 §6.1).
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Error::UnsupportedTransferCoding,
        501,
    );
    rejects(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Error::TransferEncodingInHttp10,
        400,
    );
    // Case and list syntax are fine.
    let mut parser = HeadParser::new(Kind::Request, Limits::default());
    let ok = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,  CHUNKED \r\n\r\n";
    assert!(matches!(parser.parse(ok), Ok(Status::Complete(_))));
    assert_eq!(request_framing(parser.head()), Framing::Chunked);
}

#[test]
fn malformed_chunk_sizes_and_overflow_rfc9112_7_1() {
    let decode = |body: &[u8]| -> Result<(), Error> {
        let mut decoder = BodyDecoder::new(Framing::Chunked, &Limits::default())?;
        let mut rest = body;
        loop {
            let step = decoder.decode(rest)?;
            if step.done || step.consumed == 0 {
                return Ok(());
            }
            rest = &rest[step.consumed..];
        }
    };
    let cases: &[(&[u8], Error)] = &[
        (b"x\r\n", Error::InvalidChunkSize),
        (b"\r\n", Error::InvalidChunkSize),
        (b"-1\r\n", Error::InvalidChunkSize),
        (b"0x5\r\nhello\r\n", Error::InvalidChunkSize),
        (b"5 5\r\n", Error::InvalidChunkSize),
        (b"10000000000000000\r\n", Error::ChunkSizeOverflow),
        (b"5\r\nhelloXX0\r\n\r\n", Error::InvalidChunkEnd),
        (b"5\r\nhello\rX", Error::InvalidChunkEnd),
        (b"5\nhello\r\n", Error::BareLf),
        (b"5\r\nhello\n0\r\n\r\n", Error::BareLf),
        (b"5\rhello", Error::BareCr),
        (b"5;\r\nhello\r\n", Error::InvalidChunkExtension),
        (b"5;a=\"unterminated\r\n", Error::InvalidChunkExtension),
        (b"5;=v\r\n", Error::InvalidChunkExtension),
        (b"0\r\nTrailer: ok\n\r\n", Error::BareLf),
        (b"0\r\n Folded: no\r\n\r\n", Error::ObsFold),
        (b"0\r\nBad Name: x\r\n\r\n", Error::WhitespaceBeforeColon),
        (b"0\r\nBad\x00Name: x\r\n\r\n", Error::InvalidFieldName),
    ];
    for (body, error) in cases {
        assert_eq!(
            decode(body),
            Err(*error),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(error.status().as_u16(), 400);
    }
    // Extensions done right are accepted (and ignored).
    decode(b"5 ; name=token ; q=\"quoted \\\" text\"\r\nhello\r\n0;last\r\n\r\n").unwrap();
}

#[test]
fn whitespace_before_colon_rfc9112_5_1() {
    rejects(
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        Error::WhitespaceBeforeColon,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n",
        Error::WhitespaceBeforeColon,
        400,
    );
}

#[test]
fn obs_fold_and_leading_whitespace_rfc9112_5_2_and_2_2() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
        Error::ObsFold,
        400,
    );
    rejects(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Error::ObsFold, 400);
    rejects(b"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", Error::ObsFold, 400);
}

#[test]
fn invalid_bytes_in_method_target_names_and_values_rfc9110_5() {
    rejects(
        b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidMethod,
        400,
    );
    rejects(
        b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidMethod,
        400,
    );
    rejects(
        b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET /% HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET \t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-\x00: b\r\n\r\n",
        Error::InvalidFieldName,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
        Error::InvalidFieldName,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: b\r\n\r\n",
        Error::InvalidFieldName,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
        Error::InvalidFieldValue,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n",
        Error::InvalidFieldValue,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n",
        Error::InvalidFieldValue,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
        Error::BareCr,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n",
        Error::WhitespaceBeforeColon,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nNocolon\r\n\r\n",
        Error::MissingColon,
        400,
    );
    // Forms that do not fit the method (RFC 9112 §3.2).
    rejects(
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
    rejects(
        b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidTarget,
        400,
    );
}

#[test]
fn bare_lf_policy_is_reject_everywhere_rfc9112_2_2() {
    rejects(b"GET / HTTP/1.1\nHost: a\r\n\r\n", Error::BareLf, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: a\n\r\n", Error::BareLf, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: a\r\n\n", Error::BareLf, 400);
    rejects(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Error::BareLf, 400);
    assert_eq!(
        response(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        Err(Error::BareLf)
    );
}

#[test]
fn bad_versions_rfc9112_2_3() {
    rejects(
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        Error::UnsupportedVersion,
        505,
    );
    rejects(
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        Error::UnsupportedVersion,
        505,
    );
    rejects(
        b"GET / http/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidVersion,
        400,
    );
    rejects(
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        Error::InvalidVersion,
        400,
    );
    rejects(
        b"GET / HTTP/11\r\nHost: a\r\n\r\n",
        Error::InvalidVersion,
        400,
    );
    rejects(
        b"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
        Error::InvalidVersion,
        400,
    );
    rejects(
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        Error::InvalidStartLine,
        400,
    );
    rejects(
        b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        Error::InvalidVersion,
        400,
    );
    assert_eq!(
        response(b"HTTP/1.1 20 OK\r\n\r\n"),
        Err(Error::InvalidStatus)
    );
    assert_eq!(
        response(b"HTTP/1.1 099 OK\r\n\r\n"),
        Err(Error::InvalidStatus)
    );
    assert_eq!(
        response(b"HTTP/1.1 2000 OK\r\n\r\n"),
        Err(Error::InvalidStatus)
    );
    assert_eq!(
        response(b"HTTP/1.1 200 O\x00K\r\n\r\n"),
        Err(Error::InvalidReason)
    );
    assert_eq!(
        response(b"HTTP/3.0 200 OK\r\n\r\n"),
        Err(Error::UnsupportedVersion)
    );
    assert_eq!(response(b"ICY 200 OK\r\n\r\n"), Err(Error::InvalidVersion));
}

#[test]
fn host_missing_repeated_or_invalid_rfc9112_3_2() {
    rejects(b"GET / HTTP/1.1\r\n\r\n", Error::MissingHost, 400);
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        Error::DuplicateHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n",
        Error::DuplicateHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        Error::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        Error::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        Error::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n",
        Error::InvalidHost,
        400,
    );
    rejects(
        b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        Error::InvalidHost,
        400,
    );
    // HTTP/1.0 may omit Host; an empty Host is valid (RFC 9112 §3.2).
    for ok in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
    ] {
        assert!(
            matches!(request(ok), Ok(Status::Complete(_))),
            "{:?}",
            String::from_utf8_lossy(ok)
        );
    }
}

#[test]
fn http_0_9_is_refused_rfc9112_2_3() {
    rejects(b"GET /index.html\r\n\r\n", Error::Http09, 400);
}

#[test]
fn unsupported_expectation_rfc9110_10_1_1() {
    rejects(
        b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
        Error::UnsupportedExpectation,
        417,
    );
}

#[test]
fn limits_answer_414_431_413() {
    let mut limits = Limits::default();
    limits.max_start_line = 32;
    limits.max_headers = 2;
    limits.max_field = 40;
    limits.max_head = 100;
    limits.max_body = Some(10);
    let parse = |bytes: &[u8]| HeadParser::new(Kind::Request, limits.clone()).parse(bytes);

    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40));
    assert_eq!(parse(long_target.as_bytes()), Err(Error::StartLineTooLong));
    assert_eq!(Error::StartLineTooLong.status().as_u16(), 414);
    // Rejected as soon as the line is too long, before its end arrives.
    assert_eq!(
        parse(&long_target.as_bytes()[..36]),
        Err(Error::StartLineTooLong)
    );

    let many = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_eq!(parse(many), Err(Error::TooManyHeaders));
    assert_eq!(Error::TooManyHeaders.status().as_u16(), 431);

    let long_field = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(50));
    assert_eq!(parse(long_field.as_bytes()), Err(Error::FieldTooLarge));
    assert_eq!(
        parse(&long_field.as_bytes()[..70]),
        Err(Error::FieldTooLarge)
    );

    let mut roomy = limits.clone();
    roomy.max_headers = 10;
    let parse_roomy = |bytes: &[u8]| HeadParser::new(Kind::Request, roomy.clone()).parse(bytes);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\nY: {}\r\n\r\n",
        "v".repeat(35),
        "w".repeat(35)
    );
    assert_eq!(parse_roomy(big.as_bytes()), Err(Error::HeadTooLarge));
    assert_eq!(
        parse_roomy(&big.as_bytes()[..101]),
        Err(Error::HeadTooLarge)
    );

    assert_eq!(
        BodyDecoder::new(Framing::Length(11), &limits).unwrap_err(),
        Error::BodyTooLarge
    );
    assert_eq!(Error::BodyTooLarge.status().as_u16(), 413);
    let mut chunked = BodyDecoder::new(Framing::Chunked, &limits).unwrap();
    assert_eq!(chunked.decode(b"b\r\n").unwrap_err(), Error::BodyTooLarge);

    limits.max_chunk_ext = 4;
    let mut chunked = BodyDecoder::new(Framing::Chunked, &limits).unwrap();
    assert_eq!(
        chunked.decode(b"1;abcdef\r\n").unwrap_err(),
        Error::ChunkExtensionsTooLarge
    );

    limits.max_trailers = 8;
    let mut chunked = BodyDecoder::new(Framing::Chunked, &limits).unwrap();
    assert_eq!(
        chunked
            .decode(b"0\r\nTrailer: too long\r\n\r\n")
            .unwrap_err(),
        Error::TrailersTooLarge
    );
    assert_eq!(Error::TrailersTooLarge.status().as_u16(), 431);
}

#[test]
fn bytes_after_a_chunked_body_are_left_alone() {
    // Found by fuzzing: the decoder read past the end of the trailer section.
    let mut decoder = BodyDecoder::new(Framing::Chunked, &Limits::default()).unwrap();
    let input = b"0\r\n\r\nGET / HTTP/1.1\r\n";
    let step = decoder.decode(input).unwrap();
    assert!(step.done);
    assert_eq!(step.consumed, 5);
}

#[test]
fn every_error_describes_itself_and_maps_to_a_client_or_server_status() {
    use std::collections::HashSet;
    let all = [
        Error::InvalidMethod,
        Error::InvalidTarget,
        Error::InvalidVersion,
        Error::UnsupportedVersion,
        Error::Http09,
        Error::InvalidStatus,
        Error::InvalidReason,
        Error::InvalidStartLine,
        Error::InvalidFieldName,
        Error::InvalidFieldValue,
        Error::MissingColon,
        Error::WhitespaceBeforeColon,
        Error::ObsFold,
        Error::BareLf,
        Error::BareCr,
        Error::MissingHost,
        Error::DuplicateHost,
        Error::InvalidHost,
        Error::ContentLengthAndTransferEncoding,
        Error::InvalidContentLength,
        Error::ChunkedNotFinal,
        Error::UnsupportedTransferCoding,
        Error::TransferEncodingInHttp10,
        Error::InvalidChunkSize,
        Error::ChunkSizeOverflow,
        Error::InvalidChunkExtension,
        Error::InvalidChunkEnd,
        Error::UnsupportedExpectation,
        Error::StartLineTooLong,
        Error::StatusLineTooLong,
        Error::TooManyHeaders,
        Error::HeadTooLarge,
        Error::FieldTooLarge,
        Error::TrailersTooLarge,
        Error::ChunkExtensionsTooLarge,
        Error::BodyTooLarge,
        Error::Incomplete,
        Error::UnexpectedData,
        Error::UnsolicitedResponse,
        Error::UnexpectedSwitch,
    ];
    let texts: HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), all.len(), "every error has its own words");
    for e in all {
        assert!(
            e.status().is_client_error() || e.status().is_server_error(),
            "{e:?}"
        );
        assert!(e.must_close());
    }
}

#[test]
fn chunk_lines_allow_whitespace_only_before_an_extension_rfc9112_7_1_1() {
    let decode = |body: &[u8]| -> Result<(), Error> {
        let mut decoder = BodyDecoder::new(Framing::Chunked, &Limits::default())?;
        decoder.decode(body).map(|_| ())
    };
    assert_eq!(decode(b"5 \r\nhello\r\n"), Err(Error::InvalidChunkSize));
    assert_eq!(
        decode(b"5;a \r\nhello\r\n"),
        Err(Error::InvalidChunkExtension)
    );
    assert_eq!(
        decode(b"5;a=b \r\nhello\r\n"),
        Err(Error::InvalidChunkExtension)
    );
    assert_eq!(
        decode(b"5;a=\"b\" \r\nhello\r\n"),
        Err(Error::InvalidChunkExtension)
    );
    decode(b"5 ;a = b ; c=\"d\"\r\nhello\r\n").unwrap();
    // Leading zeros cannot make a chunk-size line endless.
    let zeros = [b"0".repeat(70), b"5\r\n".to_vec()].concat();
    assert_eq!(decode(&zeros), Err(Error::ChunkSizeOverflow));
    // Whitespace after the size counts against the extension limit.
    let mut limits = Limits::default();
    limits.max_chunk_ext = 8;
    let mut decoder = BodyDecoder::new(Framing::Chunked, &limits).unwrap();
    assert_eq!(
        decoder
            .decode(&[b"5".as_slice(), &[b' '; 20]].concat())
            .unwrap_err(),
        Error::ChunkExtensionsTooLarge
    );
}

#[test]
fn an_empty_transfer_encoding_line_is_refused() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
        Error::ChunkedNotFinal,
        400,
    );
}

#[test]
fn absolute_form_needs_an_authority_rfc9110_4_2_1() {
    // Found by the h1_request fuzz target: "P://" parsed but is no URI the
    // `http` crate (or RFC 9110) accepts.
    for target in ["P://", "http:///x", "http://?q", "http://#f"] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        rejects(req.as_bytes(), Error::InvalidTarget, 400);
    }
    assert!(request(b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
}
