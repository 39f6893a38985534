//! Parsing request and response heads (RFC 9112 §2–5, RFC 9110 §5).
//!
//! [`HeadParser`] parses a head line by line, in one pass when the whole head
//! is at hand, resuming at the first incomplete line when it is not, into a
//! [`Head`]: spans into the caller's buffer, no copies, no allocation per
//! field (the parser keeps its field list from message to message;
//! [`HeadParser::take_head`] hands it over and starts a new one). The
//! same pass records what the framing and the connection need
//! (Content-Length, Transfer-Encoding, Connection, Host, Expect, Upgrade) and
//! applies the strictness rules listed on [`Error`].

use http::{StatusCode, Version};

use super::chars::{
    FIELD_VALUE, TCHAR, eq_folded, plain_value_run, reg_name_run, run, token_run, uri_plain_run,
    word,
};
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
    /// Everything but the field list.
    fn clone_without_fields(&self) -> Head {
        Head {
            start: self.start,
            version: self.version,
            fields: Vec::new(),
            meta: self.meta,
            len: self.len,
        }
    }

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
        // RFC 9110 §7.8: Upgrade in an HTTP/1.0 message is ignored.
        self.meta.upgrade && self.meta.connection_upgrade && self.version == Version::HTTP_11
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
///
/// # How it scans
///
/// Lines are parsed left to right, each as soon as it is complete, so the
/// first violation in byte order is the one reported, however the input is
/// split. Limits are windows: a line may not extend past its limit, nor the
/// head past [`Limits::max_head`]; running into a window's edge is the limit
/// error. Complete lines are never parsed twice; an incomplete line is
/// parsed again from its start when more bytes arrive, so the cost of a head
/// trickled in byte by byte is bounded by its line limits (unlike parsers
/// that restart the whole head), and errors do not depend on how the input
/// was split.
#[derive(Debug, Clone)]
pub struct HeadParser {
    kind: Kind,
    limits: Limits,
    head: Head,
    stage: Stage,
    /// Where the next unparsed line starts.
    pos: usize,
    framing: FramingFields,
    /// A field list handed back with [`recycle`](Self::recycle), for the
    /// next [`take_head`](Self::take_head).
    spare: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Empty lines before a request-line (RFC 9112 §2.2).
    Leading,
    StartLine,
    Fields,
}

/// What stopped a bounded parse: the end of the bytes at hand.
type More<T> = Result<Option<T>, Error>;

impl HeadParser {
    /// A parser for heads of `kind`, enforcing `limits`.
    pub fn new(kind: Kind, mut limits: Limits) -> HeadParser {
        // Spans are 32-bit: heads beyond 2 GiB are refused, whatever asked.
        limits.max_head = limits.max_head.min(u32::MAX as usize / 2);
        // Room for a typical head; a larger one grows the list once, and
        // the parser keeps it for the heads that follow. Idle connections
        // stay small.
        let capacity = limits.max_headers.min(16);
        HeadParser {
            kind,
            limits,
            head: Head::empty(capacity),
            stage: Stage::Leading,
            pos: 0,
            framing: FramingFields::default(),
            spare: Vec::new(),
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
        self.stage = Stage::Leading;
        self.pos = 0;
        self.framing = FramingFields::default();
    }

    /// Gives the field list's memory back (for a connection going idle);
    /// the next head reserves it again.
    pub fn release(&mut self) {
        if self.head.fields.is_empty() {
            self.head.fields = Vec::new();
        }
        self.spare = Vec::new();
    }

    /// Parses the head at the start of `buf`. After [`Status::Partial`],
    /// call again with the same buffer, extended; parsing resumes where it
    /// stopped.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Status, Error> {
        if self.head.fields.capacity() == 0 {
            // After `release`: room for a typical head at once, rather
            // than growing 4, 8, 16.
            self.head.fields.reserve(self.limits.max_headers.min(16));
        }
        let head_window = buf.len().min(self.limits.max_head);
        let buf_over_head = buf.len() > self.limits.max_head;
        let win = &buf[..head_window];
        loop {
            if self.stage == Stage::Leading {
                if self.kind == Kind::Response {
                    self.stage = Stage::StartLine;
                    continue;
                }
                match &win[self.pos..] {
                    [b'\r', b'\n', ..] => self.pos += 2,
                    [b'\n', ..] => return Err(Error::BareLf),
                    [b'\r'] | [] => return self.incomplete(false, buf_over_head),
                    _ => {
                        self.stage = Stage::StartLine;
                    }
                }
                continue;
            }
            if self.stage == Stage::StartLine {
                // The line may hold `max_start_line` bytes and its CRLF.
                let line_cap = self
                    .pos
                    .saturating_add(self.limits.max_start_line)
                    .saturating_add(2);
                let line = &win[..win.len().min(line_cap)];
                match self.start_line(line)? {
                    Some(next) => {
                        self.pos = next;
                        self.stage = Stage::Fields;
                    }
                    None => return self.incomplete(line.len() == line_cap, buf_over_head),
                }
            }
            return self.fields(buf, win, buf_over_head);
        }
    }

    /// The field lines, in a tight loop over locals; progress is written
    /// back once, when the head ends or the bytes run out.
    fn fields(&mut self, buf: &[u8], win: &[u8], buf_over_head: bool) -> Result<Status, Error> {
        let max_field = self.limits.max_field;
        let max_headers = self.limits.max_headers;
        let mut pos = self.pos;
        let head = &mut self.head;
        let framing = &mut self.framing;
        let stop = loop {
            let line_cap = pos.saturating_add(max_field).saturating_add(2);
            let line = &win[..win.len().min(line_cap)];
            match line.get(pos) {
                None => {
                    break Stop::Incomplete {
                        at_line_cap: line.len() == line_cap,
                    };
                }
                Some(b'\r') => match line.get(pos + 1) {
                    None => {
                        break Stop::Incomplete {
                            at_line_cap: line.len() == line_cap,
                        };
                    }
                    Some(b'\n') => {
                        pos += 2;
                        break Stop::End;
                    }
                    Some(_) => return Err(Error::BareCr),
                },
                Some(b'\n') => return Err(Error::BareLf),
                Some(b' ' | b'\t') => return Err(Error::ObsFold),
                Some(_) => {}
            }
            let Some((field, next)) = parse_field(line, pos)? else {
                break Stop::Incomplete {
                    at_line_cap: line.len() == line_cap,
                };
            };
            if head.fields.len() == max_headers {
                return Err(Error::TooManyHeaders);
            }
            if FramingFields::may_note(line, &field) {
                framing.note(line, &field, &mut head.meta)?;
            }
            head.fields.push(field);
            pos = next;
        };
        self.pos = pos;
        match stop {
            Stop::Incomplete { at_line_cap } => self.incomplete(at_line_cap, buf_over_head),
            Stop::End => {
                let framing = std::mem::take(&mut self.framing);
                framing.finish(buf, self.kind, &mut self.head)?;
                self.head.len = pos;
                Ok(Status::Complete(pos))
            }
        }
    }

    /// The bytes at hand end mid-line: a limit error if a window's edge was
    /// reached, else a need for more.
    fn incomplete(&self, at_line_cap: bool, buf_over_head: bool) -> Result<Status, Error> {
        if at_line_cap {
            Err(match (self.stage, self.kind) {
                (Stage::Fields, _) => Error::FieldTooLarge,
                (_, Kind::Request) => Error::StartLineTooLong,
                (_, Kind::Response) => Error::StatusLineTooLong,
            })
        } else if buf_over_head {
            Err(Error::HeadTooLarge)
        } else {
            Ok(Status::Partial)
        }
    }

    /// Parses the start line at `self.pos`; returns where the next line starts.
    fn start_line(&mut self, line: &[u8]) -> More<usize> {
        let parsed = match self.kind {
            Kind::Request => {
                parse_request_line(line, self.pos)?.map(|(method, target, version, next)| {
                    (StartLine::Request { method, target }, version, next)
                })
            }
            Kind::Response => {
                parse_status_line(line, self.pos)?.map(|(status, reason, version, next)| {
                    (StartLine::Response { status, reason }, version, next)
                })
            }
        };
        Ok(parsed.map(|(start, version, next)| {
            self.head.start = start;
            self.head.version = version;
            next
        }))
    }

    /// The head parsed last (after [`Status::Complete`]).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Takes the head parsed last, leaving the parser reset.
    ///
    /// The head leaves with the parser's field list; the parser goes on
    /// with the list last given back to [`recycle`](Self::recycle) or, if
    /// none, a right-sized copy leaves instead. A caller that recycles
    /// every head parses without allocating.
    pub fn take_head(&mut self) -> Head {
        let head = if self.spare.capacity() >= self.head.fields.len().max(1) {
            let fields = std::mem::take(&mut self.spare);
            let fields = std::mem::replace(&mut self.head.fields, fields);
            Head {
                fields,
                ..self.head.clone_without_fields()
            }
        } else {
            self.head.clone()
        };
        self.reset();
        head
    }

    /// Gives a head's field list back for the next
    /// [`take_head`](Self::take_head).
    pub fn recycle(&mut self, head: Head) {
        if head.fields.capacity() > self.spare.capacity() {
            self.spare = head.fields;
        }
    }

    /// A view of the request just parsed from `buf`.
    pub fn request<'a>(&'a self, buf: &'a [u8]) -> Option<Request<'a>> {
        Request::new(&self.head, buf)
    }

    /// A view of the response just parsed from `buf`.
    pub fn response<'a>(&'a self, buf: &'a [u8]) -> Option<Response<'a>> {
        Response::new(&self.head, buf)
    }
}

/// Why the field loop stopped.
enum Stop {
    /// The bytes ran out mid-line, at the line's limit or not.
    Incomplete { at_line_cap: bool },
    /// The empty line: the head is complete.
    End,
}

/// `method SP request-target SP HTTP-version CRLF` (RFC 9112 §3) at `pos`.
fn parse_request_line(line: &[u8], pos: usize) -> More<(Span, Span, Version, usize)> {
    let i = pos + run(&line[pos..], &TCHAR);
    let Some(&after_method) = line.get(i) else {
        return Ok(None);
    };
    match after_method {
        b' ' if i > pos => {}
        b'\r' | b'\n' => return Err(Error::InvalidStartLine),
        b' ' => return Err(Error::InvalidStartLine),
        _ => return Err(Error::InvalidMethod),
    }
    let method = Span::new(pos, i);
    let target_start = i + 1;
    let mut j = target_start;
    loop {
        j += uri_plain_run(&line[j..]);
        if line.get(j) != Some(&b'%') {
            break;
        }
        match line.get(j + 1..j + 3) {
            Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => j += 3,
            Some(_) => return Err(Error::InvalidTarget),
            // The two digits may still come.
            None if line.get(j + 1).is_none_or(u8::is_ascii_hexdigit) => return Ok(None),
            None => return Err(Error::InvalidTarget),
        }
    }
    let Some(&after_target) = line.get(j) else {
        return Ok(None);
    };
    match after_target {
        b' ' if j > target_start => {}
        b' ' => return Err(Error::InvalidStartLine),
        // "GET /path" and the line ends: an HTTP/0.9 simple request.
        b'\r' | b'\n' if j > target_start => return Err(Error::Http09),
        _ => return Err(Error::InvalidTarget),
    }
    let target = Span::new(target_start, j);
    check_target(method.of(line), target.of(line))?;
    let Some(version) = line.get(j + 1..j + 9) else {
        return Ok(None);
    };
    let version = parse_version(version)?;
    crlf(line, j + 9).map(|end| end.map(|next| (method, target, version, next)))
}

/// CRLF at `pos`: where the next line starts.
#[inline]
fn crlf(line: &[u8], pos: usize) -> More<usize> {
    match (line.get(pos), line.get(pos + 1)) {
        (Some(b'\r'), Some(b'\n')) => Ok(Some(pos + 2)),
        (Some(b'\r'), None) | (None, _) => Ok(None),
        (Some(b'\r'), Some(_)) => Err(Error::BareCr),
        (Some(b'\n'), _) => Err(Error::BareLf),
        (Some(_), _) => Err(Error::InvalidVersion),
    }
}

/// `HTTP-version SP status-code SP [ reason-phrase ] CRLF` (RFC 9112 §4) at
/// `pos`. The SP after the code is optional here: servers that omit it are
/// common and the framing is unaffected.
fn parse_status_line(line: &[u8], pos: usize) -> More<(u16, Span, Version, usize)> {
    let Some(version) = line.get(pos..pos + 8) else {
        return Ok(None);
    };
    let version = parse_version(version)?;
    match line.get(pos + 8) {
        None => return Ok(None),
        Some(b' ') => {}
        Some(_) => return Err(Error::InvalidStartLine),
    }
    let mut status = 0u16;
    for k in 0..3 {
        match line.get(pos + 9 + k) {
            None => return Ok(None),
            Some(d) if d.is_ascii_digit() && !(k == 0 && *d == b'0') => {
                status = status * 10 + u16::from(d - b'0');
            }
            Some(_) => return Err(Error::InvalidStatus),
        }
    }
    let mut i = pos + 12;
    let reason_start = match line.get(i) {
        None => return Ok(None),
        Some(b' ') => i + 1,
        Some(b'\r') => i,
        Some(b'\n') => return Err(Error::BareLf),
        Some(_) => return Err(Error::InvalidStatus),
    };
    i = reason_start;
    while i < line.len() && FIELD_VALUE[line[i] as usize] {
        i += 1;
    }
    match line.get(i) {
        None => Ok(None),
        Some(b'\r') => match line.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((status, Span::new(reason_start, i), version, i + 2))),
            Some(_) => Err(Error::BareCr),
        },
        Some(b'\n') => Err(Error::BareLf),
        Some(_) => Err(Error::InvalidReason),
    }
}

/// `HTTP/1.1` or `HTTP/1.0`; other `HTTP/d.d` are unsupported, anything else
/// is malformed (RFC 9112 §2.3).
fn parse_version(v: &[u8]) -> Result<Version, Error> {
    const HTTP_11: u64 = u64::from_le_bytes(*b"HTTP/1.1");
    const HTTP_10: u64 = u64::from_le_bytes(*b"HTTP/1.0");
    match word(v) {
        HTTP_11 => Ok(Version::HTTP_11),
        HTTP_10 => Ok(Version::HTTP_10),
        _ => match v {
            [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                Err(Error::UnsupportedVersion)
            }
            _ => Err(Error::InvalidVersion),
        },
    }
}

/// The request-target's form against the method (RFC 9112 §3.2):
/// origin-form `/...`, absolute-form `scheme://...`, authority-form
/// `host:port` for CONNECT only, asterisk-form `*` for OPTIONS only. (Its
/// bytes were checked while scanning.)
fn check_target(method: &[u8], target: &[u8]) -> Result<(), Error> {
    let connect = method == b"CONNECT";
    match target[0] {
        b'/' if !connect => Ok(()),
        b'*' if target.len() == 1 && method == b"OPTIONS" => Ok(()),
        _ if connect => check_authority(target, target.len(), true),
        b if b.is_ascii_alphabetic() => {
            let colon = target
                .iter()
                .position(|&b| b == b':')
                .ok_or(Error::InvalidTarget)?;
            let scheme_ok = target[..colon]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            // HTTP's URIs always have an authority, and it is not empty
            // (RFC 9110 §4.2.1): "host:port" is not mistaken for a scheme,
            // and "x:///" is refused.
            let authority = target.get(colon + 3);
            if scheme_ok
                && target[colon..].starts_with(b"://")
                && authority.is_some_and(|b| !matches!(b, b'/' | b'?' | b'#'))
            {
                Ok(())
            } else {
                Err(Error::InvalidTarget)
            }
        }
        _ => Err(Error::InvalidTarget),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2-3) in `rest[..len]` (the rest
/// of the head may follow, for a faster scan); `require_port` for CONNECT's
/// authority-form.
fn check_authority(rest: &[u8], len: usize, require_port: bool) -> Result<(), Error> {
    let s = &rest[..len];
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
        let end = reg_name_run(rest, len);
        let reg_name_ok = matches!(s.get(end), None | Some(b':'));
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

/// `field-name ":" OWS field-value OWS CRLF` at `pos` (RFC 9112 §5);
/// returns the field and where the next line starts, or `None` if the line
/// runs past the bytes at hand.
#[inline]
fn parse_field(line: &[u8], pos: usize) -> More<(Field, usize)> {
    let len = line.len();
    let mut i = pos + token_run(&line[pos..]);
    let Some(&after_name) = line.get(i) else {
        return Ok(None);
    };
    match after_name {
        b':' if i > pos => {}
        b' ' | b'\t' if i > pos => return Err(Error::WhitespaceBeforeColon),
        b'\r' | b'\n' if i > pos => return Err(Error::MissingColon),
        _ => return Err(Error::InvalidFieldName),
    }
    let name = Span::new(pos, i);
    i += 1;
    // Usually exactly one space; the loop only for anything else.
    if line.get(i) == Some(&b' ') {
        i += 1;
    }
    if matches!(line.get(i), Some(b' ' | b'\t')) {
        while i < len && matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
    }
    let value_start = i;
    loop {
        i += plain_value_run(&line[i..]);
        match line.get(i) {
            None => return Ok(None),
            Some(b'\t') => i += 1,
            Some(b'\r') => match line.get(i + 1) {
                None => return Ok(None),
                Some(b'\n') => break,
                Some(_) => return Err(Error::BareCr),
            },
            Some(b'\n') => return Err(Error::BareLf),
            Some(_) => return Err(Error::InvalidFieldValue),
        }
    }
    let mut value_end = i;
    while value_end > value_start && matches!(line[value_end - 1], b' ' | b'\t') {
        value_end -= 1;
    }
    Ok(Some((
        Field {
            name,
            value: Span::new(value_start, value_end),
        },
        i + 2,
    )))
}

/// The framing-relevant fields seen so far.
#[derive(Debug, Default, Clone)]
struct FramingFields {
    hosts: usize,
    /// Transfer-Encoding: a coding after which chunked appeared / the last
    /// coding was chunked.
    chunked_seen: bool,
    chunked_last: bool,
}

impl FramingFields {
    /// Whether a field's name has the length and first letter of one
    /// [`note`](Self::note) looks at: a cheap filter that keeps the call off
    /// most fields.
    #[inline(always)]
    fn may_note(line: &[u8], field: &Field) -> bool {
        let first = line[field.name.start as usize] | 0x20;
        matches!(
            (field.name.end - field.name.start, first),
            (4, b'h') | (6, b'e') | (7, b'u') | (10, b'c') | (14, b'c') | (17, b't')
        )
    }

    fn note(&mut self, buf: &[u8], field: &Field, meta: &mut Meta) -> Result<(), Error> {
        let name = field.name.of(buf);
        let value = field.value.of(buf);
        match name.len() {
            4 if eq_folded(name, b"host") => {
                self.hosts += 1;
                if self.hosts > 1 {
                    return Err(Error::DuplicateHost);
                }
                meta.host = Some(field.value);
            }
            6 if eq_folded(name, b"expect") => {
                if eq_folded(value, b"100-continue") {
                    meta.expect_continue = true;
                } else {
                    return Err(Error::UnsupportedExpectation);
                }
            }
            7 if eq_folded(name, b"upgrade") => meta.upgrade = true,
            10 if eq_folded(name, b"connection") => {
                // One option is the common case; lists take the long way.
                if has_comma(value) {
                    for option in list(value) {
                        connection_option(option, meta);
                    }
                } else {
                    connection_option(value, meta);
                }
            }
            14 if eq_folded(name, b"content-length") => {
                let n = if has_comma(value) {
                    length_list(value)?
                } else {
                    parse_length(value)?
                };
                match meta.content_length {
                    Some(m) if m != n => return Err(Error::InvalidContentLength),
                    _ => meta.content_length = Some(n),
                }
            }
            17 if eq_folded(name, b"transfer-encoding") => {
                meta.has_transfer_encoding = true;
                if list(value).next().is_none() {
                    // An empty Transfer-Encoding line: refused rather than
                    // ignored, since another parser may keep only this one.
                    return Err(Error::ChunkedNotFinal);
                }
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
                Some(host) => check_authority(
                    &buf[host.start as usize..],
                    (host.end - host.start) as usize,
                    false,
                )?,
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

/// Records a `Connection` option that matters to framing.
#[inline]
fn connection_option(option: &[u8], meta: &mut Meta) {
    if eq_folded(option, b"close") {
        meta.close = true;
    } else if eq_folded(option, b"keep-alive") {
        meta.keep_alive = true;
    } else if eq_folded(option, b"upgrade") {
        meta.connection_upgrade = true;
    }
}

/// Whether a (short) value is a list: a plain loop is cheaper than the
/// `memchr` behind `contains` on the few bytes of a Connection or
/// Content-Length value.
#[inline]
#[allow(clippy::manual_contains)]
fn has_comma(value: &[u8]) -> bool {
    value.iter().any(|&b| b == b',')
}

/// A Content-Length list (`5, 5`): every element the same number.
fn length_list(value: &[u8]) -> Result<u64, Error> {
    let mut n = None;
    for item in value.split(|&b| b == b',') {
        let m = parse_length(trim_ows(item))?;
        if n.is_some_and(|n| n != m) {
            return Err(Error::InvalidContentLength);
        }
        n = Some(m);
    }
    n.ok_or(Error::InvalidContentLength)
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
        let method = self.spans().0.of(self.buf);
        // The registered methods without a UTF-8 check.
        match method {
            b"GET" => "GET",
            b"POST" => "POST",
            b"PUT" => "PUT",
            b"HEAD" => "HEAD",
            b"DELETE" => "DELETE",
            b"OPTIONS" => "OPTIONS",
            b"PATCH" => "PATCH",
            b"CONNECT" => "CONNECT",
            b"TRACE" => "TRACE",
            _ => ascii(method),
        }
    }

    /// The request-target, as sent (ASCII).
    pub fn target(&self) -> &'a str {
        ascii(self.target_bytes())
    }

    /// The request-target's bytes, without the UTF-8 check `target` pays
    /// for (what `http::Uri::from_maybe_shared` takes).
    pub fn target_bytes(&self) -> &'a [u8] {
        self.spans().1.of(self.buf)
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The field lines in order: names (tokens, as sent) and values (OWS
    /// trimmed; may hold obs-text). Both are bytes: names go straight into
    /// comparisons or `http::HeaderName::from_bytes` without a UTF-8 check.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + 'a {
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

    /// The field lines in order: names and values, as bytes.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + 'a {
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
) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + 'a {
    head.fields
        .iter()
        .map(move |f| (f.name.of(buf), f.value.of(buf)))
}

fn header<'a>(head: &'a Head, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.fields
        .iter()
        .find(|f| f.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value.of(buf))
}
