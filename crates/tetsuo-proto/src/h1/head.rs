//! Parsing request and response heads (RFC 9112 §2–5, RFC 9110 §5).
//!
//! [`HeadParser`] first looks for the end of the head (the empty line),
//! resuming where it stopped when more bytes arrive, so a head fed byte by
//! byte is scanned once; limits are enforced while it is still partial. Then
//! it parses the complete head in one pass into a [`Head`]: spans into the
//! caller's buffer, no copies, no allocation per field (the field list is a
//! vector reused from message to message). The same pass records what the
//! framing and the connection need (Content-Length, Transfer-Encoding,
//! Connection, Host, Expect, Upgrade) and applies the strictness rules
//! listed on [`Error`].

use http::{StatusCode, Version};

use super::chars::{FIELD_VALUE, TCHAR, URI, plain_value_run, visible_run};
use super::{Error, Limits};

/// A byte range within the buffer a head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Heads are bounded by Limits::max_head, far below u32::MAX; the
        // parser rejects longer input before making spans.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    #[inline]
    pub(crate) fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// One field line: spans of its name and its value (OWS trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

/// Whether a head is a request's or a response's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request: request-line, then fields.
    Request,
    /// A response: status-line, then fields.
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request { method: Span, target: Span },
    Response { status: u16, reason: Span },
}

/// What a head says about framing and about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
    pub(crate) has_transfer_encoding: bool,
    /// Transfer-Encoding names a coding other than chunked.
    pub(crate) unsupported_coding: bool,
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    pub(crate) connection_upgrade: bool,
    pub(crate) upgrade: bool,
    pub(crate) expect_continue: bool,
    pub(crate) host: Option<Span>,
}

/// A parsed head: the start line and the field lines, as spans into the
/// buffer it was parsed from, plus what the framing needs.
#[derive(Debug, Clone)]
pub struct Head {
    pub(crate) start: StartLine,
    pub(crate) version: Version,
    pub(crate) fields: Vec<Field>,
    pub(crate) meta: Meta,
    /// Bytes from the start of the buffer to the end of the empty line.
    pub(crate) len: usize,
}

impl Head {
    fn empty(capacity: usize) -> Head {
        Head {
            start: StartLine::Response {
                status: 0,
                reason: Span::default(),
            },
            version: Version::HTTP_11,
            fields: Vec::with_capacity(capacity),
            meta: Meta::default(),
            len: 0,
        }
    }

    /// The length of the head in bytes, leading empty lines and the final
    /// empty line included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a head that has not been parsed (never the case for a head
    /// returned by a parser).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The version, HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The number of field lines.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The Content-Length, if the head has one.
    pub fn content_length(&self) -> Option<u64> {
        self.meta.content_length
    }

    /// True if the body is chunked.
    pub fn is_chunked(&self) -> bool {
        self.meta.chunked
    }

    /// True if the message asks for `100 Continue` before its body
    /// (`Expect: 100-continue` in an HTTP/1.1 request).
    pub fn expects_continue(&self) -> bool {
        self.meta.expect_continue
    }

    /// True if the message asks to switch protocols (`Connection: upgrade`
    /// and an `Upgrade` field).
    pub fn wants_upgrade(&self) -> bool {
        self.meta.upgrade && self.meta.connection_upgrade
    }

    /// Whether the connection may carry another message after this one
    /// (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
    /// with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.meta.close {
            false
        } else if self.version == Version::HTTP_10 {
            self.meta.keep_alive
        } else {
            true
        }
    }

    /// The status code, for a response head.
    pub fn status(&self) -> Option<StatusCode> {
        match self.start {
            StartLine::Response { status, .. } => StatusCode::from_u16(status).ok(),
            StartLine::Request { .. } => None,
        }
    }
}

/// The outcome of feeding bytes to a parser: a complete head of the given
/// length, or a need for more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The head is complete and occupies this many bytes.
    Complete(usize),
    /// More bytes are needed.
    Partial,
}

/// Parses heads, one message at a time.
///
/// ```
/// use tetsuo_proto::h1::{HeadParser, Kind, Limits, Status};
///
/// let mut parser = HeadParser::new(Kind::Request, Limits::default());
/// let buf = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
/// assert_eq!(parser.parse(&buf[..20]).unwrap(), Status::Partial);
/// assert_eq!(parser.parse(buf).unwrap(), Status::Complete(buf.len()));
/// let req = parser.request(buf).unwrap();
/// assert_eq!(req.method(), "GET");
/// assert_eq!(req.target(), "/index.html");
/// assert_eq!(req.header("accept"), Some(&b"*/*"[..]));
/// parser.reset();
/// ```
#[derive(Debug, Clone)]
pub struct HeadParser {
    kind: Kind,
    limits: Limits,
    head: Head,
    /// Where the next search for LF starts.
    scanned: usize,
    /// Where the start line begins, once leading empty lines are skipped.
    first_line: Option<usize>,
    /// Where the current (unterminated) line starts.
    line_start: usize,
    /// How many lines of the head have ended so far.
    lines: usize,
}

impl HeadParser {
    /// A parser for heads of `kind`, enforcing `limits`.
    pub fn new(kind: Kind, limits: Limits) -> HeadParser {
        let capacity = limits.max_headers.min(128);
        HeadParser {
            kind,
            limits,
            head: Head::empty(capacity),
            scanned: 0,
            first_line: None,
            line_start: 0,
            lines: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets the current message (keeping the field list's memory), to
    /// parse the next one from the start of a new buffer.
    pub fn reset(&mut self) {
        self.head.fields.clear();
        self.head.meta = Meta::default();
        self.head.len = 0;
        self.scanned = 0;
        self.first_line = None;
        self.line_start = 0;
        self.lines = 0;
    }

    /// Parses the head at the start of `buf`. Call again with the same
    /// buffer, extended, after [`Status::Partial`]; the scan resumes where it
    /// stopped.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Status, Error> {
        match self.find_end(buf)? {
            Some(end) => {
                self.parse_complete(buf, end)?;
                Ok(Status::Complete(end))
            }
            None => Ok(Status::Partial),
        }
    }

    /// The head parsed last (after [`Status::Complete`]).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Takes the head parsed last, leaving the parser reset.
    pub fn take_head(&mut self) -> Head {
        let capacity = self.head.fields.capacity();
        let head = std::mem::replace(&mut self.head, Head::empty(capacity));
        self.reset();
        head
    }

    /// A view of the request just parsed from `buf`.
    pub fn request<'a>(&'a self, buf: &'a [u8]) -> Option<Request<'a>> {
        Request::new(&self.head, buf)
    }

    /// A view of the response just parsed from `buf`.
    pub fn response<'a>(&'a self, buf: &'a [u8]) -> Option<Response<'a>> {
        Response::new(&self.head, buf)
    }

    /// Finds the end of the head, enforcing the size limits on the way.
    fn find_end(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        if self.first_line.is_none() {
            let mut pos = 0;
            if self.kind == Kind::Request {
                // RFC 9112 §2.2: ignore empty lines before a request-line.
                loop {
                    match &buf[pos..] {
                        [b'\r', b'\n', ..] => pos += 2,
                        [b'\n', ..] => return Err(Error::BareLf),
                        [b'\r'] | [] => {
                            if pos > self.limits.max_head {
                                return Err(Error::HeadTooLarge);
                            }
                            return Ok(None);
                        }
                        _ => break,
                    }
                }
            }
            self.first_line = Some(pos);
            self.line_start = pos;
            self.scanned = pos;
        }
        let mut from = self.scanned;
        while let Some(offset) = memchr::memchr(b'\n', &buf[from..]) {
            let lf = from + offset;
            self.check_line(lf - self.line_start)?;
            self.lines += 1;
            if self.lines > self.limits.max_headers + 1 {
                return Err(Error::TooManyHeaders);
            }
            if lf + 1 > self.limits.max_head {
                return Err(Error::HeadTooLarge);
            }
            self.line_start = lf + 1;
            match &buf[lf + 1..] {
                [b'\r', b'\n', ..] => return Ok(Some(lf + 3)),
                // An empty line ended by a bare LF: found, and rejected by the parse.
                [b'\n', ..] => return Ok(Some(lf + 2)),
                [] | [b'\r'] => {
                    self.scanned = lf + 1;
                    return self.partial_limits(buf).map(|()| None);
                }
                _ => {}
            }
            from = lf + 1;
        }
        self.scanned = buf.len();
        self.partial_limits(buf).map(|()| None)
    }

    /// Limits on a line that has ended: `len` bytes before its LF.
    fn check_line(&self, len: usize) -> Result<(), Error> {
        if self.lines == 0 {
            if len > self.limits.max_start_line + 1 {
                return Err(self.start_line_too_long());
            }
        } else if len > self.limits.max_field + 1 {
            return Err(Error::FieldTooLarge);
        }
        Ok(())
    }

    fn start_line_too_long(&self) -> Error {
        match self.kind {
            Kind::Request => Error::StartLineTooLong,
            Kind::Response => Error::StatusLineTooLong,
        }
    }

    /// Limits on a head still incomplete: the unterminated line and the
    /// whole so far.
    fn partial_limits(&self, buf: &[u8]) -> Result<(), Error> {
        let line = buf.len() - self.line_start;
        if self.lines == 0 {
            if line > self.limits.max_start_line + 1 {
                return Err(self.start_line_too_long());
            }
        } else if line > self.limits.max_field + 1 {
            return Err(Error::FieldTooLarge);
        }
        if buf.len() > self.limits.max_head {
            return Err(Error::HeadTooLarge);
        }
        Ok(())
    }

    /// Parses the complete head `buf[..end]`.
    fn parse_complete(&mut self, buf: &[u8], end: usize) -> Result<(), Error> {
        let head = &mut self.head;
        head.fields.clear();
        head.meta = Meta::default();
        head.len = end;
        let mut pos = self.first_line.unwrap_or(0);
        let eol = line_end(buf, pos)?;
        match self.kind {
            Kind::Request => {
                let (method, target, version) = parse_request_line(buf, pos, eol)?;
                head.start = StartLine::Request { method, target };
                head.version = version;
            }
            Kind::Response => {
                let (status, reason, version) = parse_status_line(buf, pos, eol)?;
                head.start = StartLine::Response { status, reason };
                head.version = version;
            }
        }
        pos = eol + 2;
        let mut framing = FramingFields::default();
        loop {
            match buf[pos] {
                // The empty line: find_end guarantees a LF follows the CR.
                b'\r' => break,
                b'\n' => return Err(Error::BareLf),
                b' ' | b'\t' => return Err(Error::ObsFold),
                _ => {}
            }
            let (field, next) = parse_field(buf, pos)?;
            if head.fields.len() == self.limits.max_headers {
                return Err(Error::TooManyHeaders);
            }
            framing.note(buf, &field, &mut head.meta)?;
            head.fields.push(field);
            pos = next;
        }
        if buf.get(pos + 1) != Some(&b'\n') {
            return Err(Error::BareCr);
        }
        framing.finish(buf, self.kind, head)
    }
}

/// The position of the CR that ends the line starting at `pos` (its LF
/// follows); errors on a bare LF or a CR inside the line.
fn line_end(buf: &[u8], pos: usize) -> Result<usize, Error> {
    let lf = match memchr::memchr(b'\n', &buf[pos..]) {
        Some(offset) => pos + offset,
        None => return Err(Error::BareCr),
    };
    if lf == pos || buf[lf - 1] != b'\r' {
        return Err(Error::BareLf);
    }
    Ok(lf - 1)
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(
    buf: &[u8],
    start: usize,
    eol: usize,
) -> Result<(Span, Span, Version), Error> {
    let line = &buf[..eol];
    let mut pos = start;
    while pos < eol && TCHAR[line[pos] as usize] {
        pos += 1;
    }
    if pos == start {
        return Err(if pos < eol && line[pos] == b' ' {
            Error::InvalidMethod
        } else {
            Error::InvalidStartLine
        });
    }
    match line.get(pos) {
        Some(b' ') => {}
        None => return Err(Error::InvalidStartLine),
        Some(_) => return Err(Error::InvalidMethod),
    }
    let method = Span::new(start, pos);
    let target_start = pos + 1;
    let run = visible_run(&line[target_start..]);
    let target_end = target_start + run;
    if run == 0 {
        return Err(if target_end < eol && line[target_end] == b' ' {
            Error::InvalidStartLine
        } else {
            Error::InvalidTarget
        });
    }
    match line.get(target_end) {
        Some(b' ') => {}
        // "GET /path" and nothing else: an HTTP/0.9 simple request.
        None => return Err(Error::Http09),
        Some(_) => return Err(Error::InvalidTarget),
    }
    let target = Span::new(target_start, target_end);
    check_target(method.of(buf), target.of(buf))?;
    let version = parse_version(&line[target_end + 1..])?;
    Ok((method, target, version))
}

/// `HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 §4). The SP
/// after the code is optional here: servers that omit it are common and the
/// framing is unaffected.
fn parse_status_line(buf: &[u8], start: usize, eol: usize) -> Result<(u16, Span, Version), Error> {
    let line = &buf[start..eol];
    let version = parse_version(line.get(..8).ok_or(Error::InvalidVersion)?)?;
    if line.get(8) != Some(&b' ') {
        return Err(Error::InvalidStartLine);
    }
    let code = line.get(9..12).ok_or(Error::InvalidStatus)?;
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(Error::InvalidStatus);
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let reason = match line.get(12) {
        None => Span::new(eol, eol),
        Some(b' ') => {
            if !line[13..].iter().all(|&b| FIELD_VALUE[b as usize]) {
                return Err(Error::InvalidReason);
            }
            Span::new(start + 13, eol)
        }
        Some(_) => return Err(Error::InvalidStatus),
    };
    Ok((status, reason, version))
}

/// `HTTP/1.1` or `HTTP/1.0`; other `HTTP/d.d` are unsupported, anything else
/// is malformed (RFC 9112 §2.3).
fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::HTTP_11),
        b"HTTP/1.0" => Ok(Version::HTTP_10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(Error::UnsupportedVersion)
        }
        _ => Err(Error::InvalidVersion),
    }
}

/// The request-target's bytes and its form against the method (RFC 9112
/// §3.2): origin-form `/...`, absolute-form `scheme://...`, authority-form
/// `host:port` for CONNECT only, asterisk-form `*` for OPTIONS only.
fn check_target(method: &[u8], target: &[u8]) -> Result<(), Error> {
    let mut i = 0;
    while i < target.len() {
        let b = target[i];
        if !URI[b as usize] {
            return Err(Error::InvalidTarget);
        }
        if b == b'%' {
            match target.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 2,
                _ => return Err(Error::InvalidTarget),
            }
        }
        i += 1;
    }
    let connect = method == b"CONNECT";
    match target[0] {
        b'/' if !connect => Ok(()),
        b'*' if target.len() == 1 && method == b"OPTIONS" => Ok(()),
        _ if connect => check_authority(target, true),
        b if b.is_ascii_alphabetic() => {
            // absolute-form: scheme ":" hier-part
            let colon = target
                .iter()
                .position(|&b| b == b':')
                .ok_or(Error::InvalidTarget)?;
            let scheme_ok = target[..colon]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            // HTTP's URIs always have an authority: "host:port" is not
            // mistaken for a scheme.
            if scheme_ok && target[colon..].starts_with(b"://") {
                Ok(())
            } else {
                Err(Error::InvalidTarget)
            }
        }
        _ => Err(Error::InvalidTarget),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2-3); `require_port` for CONNECT's
/// authority-form.
fn check_authority(s: &[u8], require_port: bool) -> Result<(), Error> {
    let bad = if require_port {
        Error::InvalidTarget
    } else {
        Error::InvalidHost
    };
    let host_end = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&b| b == b']').ok_or(bad)?;
        let inside = &s[1..close];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad);
        }
        close + 1
    } else {
        let end = s.iter().position(|&b| b == b':').unwrap_or(s.len());
        let reg_name_ok = s[..end].iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        });
        if !reg_name_ok {
            return Err(bad);
        }
        end
    };
    match &s[host_end..] {
        [] if !require_port => Ok(()),
        [b':', port @ ..]
            if port.iter().all(u8::is_ascii_digit) && (!require_port || !port.is_empty()) =>
        {
            if require_port && host_end == 0 {
                Err(bad)
            } else {
                Ok(())
            }
        }
        _ => Err(bad),
    }
}

/// `field-name ":" OWS field-value OWS CRLF` starting at `pos` (RFC 9112
/// §5); returns the field and where the next line starts.
#[inline]
fn parse_field(buf: &[u8], pos: usize) -> Result<(Field, usize), Error> {
    let mut i = pos;
    while TCHAR[buf[i] as usize] {
        i += 1;
    }
    match buf[i] {
        b':' if i > pos => {}
        b':' => return Err(Error::InvalidFieldName),
        b' ' | b'\t' if i > pos => return Err(Error::WhitespaceBeforeColon),
        b'\r' | b'\n' => return Err(Error::MissingColon),
        _ => return Err(Error::InvalidFieldName),
    }
    let name = Span::new(pos, i);
    i += 1;
    while matches!(buf[i], b' ' | b'\t') {
        i += 1;
    }
    let value_start = i;
    loop {
        i += plain_value_run(&buf[i..]);
        match buf[i] {
            b'\t' => i += 1,
            b'\r' if buf.get(i + 1) == Some(&b'\n') => break,
            b'\r' => return Err(Error::BareCr),
            b'\n' => return Err(Error::BareLf),
            _ => return Err(Error::InvalidFieldValue),
        }
    }
    let mut value_end = i;
    while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
        value_end -= 1;
    }
    Ok((
        Field {
            name,
            value: Span::new(value_start, value_end),
        },
        i + 2,
    ))
}

/// The framing-relevant fields seen so far.
#[derive(Debug, Default)]
struct FramingFields {
    hosts: usize,
    /// Transfer-Encoding: a coding after which chunked appeared / the last
    /// coding was chunked.
    chunked_seen: bool,
    chunked_last: bool,
}

impl FramingFields {
    fn note(&mut self, buf: &[u8], field: &Field, meta: &mut Meta) -> Result<(), Error> {
        let name = field.name.of(buf);
        let value = field.value.of(buf);
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.hosts += 1;
                if self.hosts > 1 {
                    return Err(Error::DuplicateHost);
                }
                meta.host = Some(field.value);
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    meta.expect_continue = true;
                } else {
                    return Err(Error::UnsupportedExpectation);
                }
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => meta.upgrade = true,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for option in list(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        meta.close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        meta.keep_alive = true;
                    } else if option.eq_ignore_ascii_case(b"upgrade") {
                        meta.connection_upgrade = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                for item in value.split(|&b| b == b',') {
                    let n = parse_length(trim_ows(item))?;
                    match meta.content_length {
                        Some(m) if m != n => return Err(Error::InvalidContentLength),
                        _ => meta.content_length = Some(n),
                    }
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                meta.has_transfer_encoding = true;
                for coding in list(value) {
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        if self.chunked_seen {
                            // chunked applied twice.
                            return Err(Error::ChunkedNotFinal);
                        }
                        self.chunked_seen = true;
                        self.chunked_last = true;
                    } else {
                        if self.chunked_seen {
                            return Err(Error::ChunkedNotFinal);
                        }
                        meta.unsupported_coding = true;
                        self.chunked_last = false;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks that need the whole head.
    fn finish(self, buf: &[u8], kind: Kind, head: &mut Head) -> Result<(), Error> {
        let meta = &mut head.meta;
        if meta.has_transfer_encoding {
            if head.version == Version::HTTP_10 {
                return Err(Error::TransferEncodingInHttp10);
            }
            if meta.content_length.is_some() {
                return Err(Error::ContentLengthAndTransferEncoding);
            }
            if meta.unsupported_coding {
                return Err(if kind == Kind::Request && !self.chunked_last {
                    Error::ChunkedNotFinal
                } else {
                    Error::UnsupportedTransferCoding
                });
            }
            if !self.chunked_last {
                // An empty Transfer-Encoding value.
                return Err(Error::ChunkedNotFinal);
            }
            meta.chunked = true;
        }
        if kind == Kind::Request {
            match meta.host {
                None if head.version == Version::HTTP_11 => return Err(Error::MissingHost),
                Some(host) => check_authority(host.of(buf), false)?,
                None => {}
            }
            if head.version == Version::HTTP_10 {
                // RFC 9110 §10.1.1: ignore 100-continue in an HTTP/1.0 request.
                meta.expect_continue = false;
            }
        }
        Ok(())
    }
}

/// `1*DIGIT`, without overflow.
fn parse_length(s: &[u8]) -> Result<u64, Error> {
    if s.is_empty() {
        return Err(Error::InvalidContentLength);
    }
    s.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(Error::InvalidContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(Error::InvalidContentLength)
    })
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1).
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty())
}

/// A parsed request, borrowed from the buffer it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    head: &'a Head,
    buf: &'a [u8],
}

impl<'a> Request<'a> {
    /// A view of `head` over `buf`; `None` if `head` is a response's.
    pub fn new(head: &'a Head, buf: &'a [u8]) -> Option<Request<'a>> {
        match head.start {
            StartLine::Request { .. } if buf.len() >= head.len => Some(Request { head, buf }),
            _ => None,
        }
    }

    fn spans(&self) -> (Span, Span) {
        match self.head.start {
            StartLine::Request { method, target } => (method, target),
            // Request::new only accepts request heads.
            StartLine::Response { .. } => (Span::default(), Span::default()),
        }
    }

    /// The method, as sent (a token, so ASCII).
    pub fn method(&self) -> &'a str {
        ascii(self.spans().0.of(self.buf))
    }

    /// The request-target, as sent (ASCII).
    pub fn target(&self) -> &'a str {
        ascii(self.spans().1.of(self.buf))
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The field lines in order: names (ASCII, as sent) and values (OWS
    /// trimmed; may hold obs-text, so bytes).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
        headers(self.head, self.buf)
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        header(self.head, self.buf, name)
    }

    /// The head the view is over.
    pub fn head(&self) -> &'a Head {
        self.head
    }
}

/// A parsed response, borrowed from the buffer it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    head: &'a Head,
    buf: &'a [u8],
}

impl<'a> Response<'a> {
    /// A view of `head` over `buf`; `None` if `head` is a request's.
    pub fn new(head: &'a Head, buf: &'a [u8]) -> Option<Response<'a>> {
        match head.start {
            StartLine::Response { .. } if buf.len() >= head.len => Some(Response { head, buf }),
            _ => None,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head
            .status()
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The reason phrase, as bytes (it may hold obs-text).
    pub fn reason(&self) -> &'a [u8] {
        match self.head.start {
            StartLine::Response { reason, .. } => reason.of(self.buf),
            StartLine::Request { .. } => b"",
        }
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The field lines in order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
        headers(self.head, self.buf)
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        header(self.head, self.buf, name)
    }

    /// The head the view is over.
    pub fn head(&self) -> &'a Head {
        self.head
    }
}

/// Bytes the parser validated as ASCII (tokens, targets) as `&str`.
fn ascii(bytes: &[u8]) -> &str {
    // Only tchar or URI bytes reach here, all ASCII; the fallback is never taken.
    std::str::from_utf8(bytes).unwrap_or("")
}

fn headers<'a>(
    head: &'a Head,
    buf: &'a [u8],
) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
    head.fields
        .iter()
        .map(move |f| (ascii(f.name.of(buf)), f.value.of(buf)))
}

fn header<'a>(head: &'a Head, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.fields
        .iter()
        .find(|f| f.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value.of(buf))
}
