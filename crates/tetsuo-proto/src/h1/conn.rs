//! One HTTP/1.1 connection, client or server side, as a state machine.
//!
//! The driver feeds received bytes to [`Connection::handle_input`] (and end
//! of stream to [`Connection::handle_eof`]), takes [`Event`]s from
//! [`Connection::poll_event`], calls the application's intents
//! (`send_request`/`send_response`, `send_data`, `send_end`), and writes out
//! what [`Connection::poll_transmit`] hands over. After every call it polls
//! events and transmits, then closes the socket once
//! [`Connection::wants_close`] is true and nothing is left to transmit.
//!
//! The machine keeps the rules of RFC 9112 §9: responses in request order
//! (a server parses a pipelined request only after answering the one
//! before), keep-alive as the heads negotiate it, `Connection: close` and
//! close-delimited bodies ending the connection, and an error ending it
//! after (on a server) an automatic error response with the error's status.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use super::body::{BodyDecoder, Framing, request_framing, response_framing};
use super::encode::{encode_chunk, encode_last_chunk, encode_request_head, encode_response_head};
use super::head::{Head, HeadParser, Kind, Request, Response, Status};
use super::{EncodeError, Error, Limits};

/// Which end of the connection this machine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Sends requests, receives responses.
    Client,
    /// Receives requests, sends responses.
    Server,
}

/// What happened on the connection, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// (Server) a request head arrived; its body, if any, follows as
    /// [`Event::Data`] and always ends with [`Event::End`].
    Request(RequestHead),
    /// (Client) a response head arrived: informational (1xx) ones come
    /// before the final one; the final one's body follows as data and ends
    /// with [`Event::End`].
    Response(ResponseHead),
    /// A piece of the current message's body.
    Data(Bytes),
    /// The current message's body ended, with its trailer fields if it was
    /// chunked and had any.
    End(Option<HeaderMap>),
    /// The connection now carries another protocol (after `101 Switching
    /// Protocols`, or a 2xx answer to CONNECT). These bytes already arrived
    /// and belong to it; everything after goes to the new protocol too.
    Upgraded(Bytes),
    /// The peer closed the connection between messages: a normal end.
    Closed,
}

/// A received request head: the bytes it came in and where each part is.
#[derive(Debug, Clone)]
pub struct RequestHead {
    buf: Bytes,
    head: Head,
}

impl RequestHead {
    /// A borrowed view (method, target, headers).
    pub fn view(&self) -> Request<'_> {
        // The head was parsed from exactly these bytes.
        Request::new(&self.head, &self.buf).expect("a request head over its own bytes")
    }

    /// The parsed head (framing facts).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self.view().method() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "HEAD" => Method::HEAD,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            "OPTIONS" => Method::OPTIONS,
            "PATCH" => Method::PATCH,
            "CONNECT" => Method::CONNECT,
            "TRACE" => Method::TRACE,
            // A token: always a valid extension method.
            other => Method::from_bytes(other.as_bytes()).unwrap_or(Method::GET),
        }
    }

    /// Converts into `http` types without copying values or the target: the
    /// values and the URI share this head's buffer.
    pub fn to_parts(&self) -> Result<http::request::Parts, http::Error> {
        let view = self.view();
        let target = self.buf.slice_ref(view.target_bytes());
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = self.method();
        parts.uri = Uri::from_maybe_shared(target)?;
        parts.version = self.head.version();
        parts.headers = header_map(&self.buf, &self.head, view.headers())?;
        Ok(parts)
    }
}

/// A received response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    buf: Bytes,
    head: Head,
}

impl ResponseHead {
    /// A borrowed view (status, reason, headers).
    pub fn view(&self) -> Response<'_> {
        // The head was parsed from exactly these bytes.
        Response::new(&self.head, &self.buf).expect("a response head over its own bytes")
    }

    /// The parsed head (framing facts).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.view().status()
    }

    /// Converts into `http` types, sharing this head's buffer for values.
    pub fn to_parts(&self) -> Result<http::response::Parts, http::Error> {
        let view = self.view();
        let builder = http::Response::builder()
            .status(view.status())
            .version(self.head.version());
        let mut parts = builder.body(())?.into_parts().0;
        parts.headers = header_map(&self.buf, &self.head, view.headers())?;
        Ok(parts)
    }
}

/// The fields of a head as a [`HeaderMap`] whose values share `buf`.
fn header_map<'a>(
    buf: &Bytes,
    head: &Head,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<HeaderMap, http::Error> {
    let mut map = HeaderMap::with_capacity(head.field_count());
    for (name, value) in fields {
        map.append(
            HeaderName::from_bytes(name)?,
            HeaderValue::from_maybe_shared(buf.slice_ref(value))?,
        );
    }
    Ok(map)
}

#[derive(Debug)]
enum Read {
    /// Waiting for (or parsing) a head.
    Head,
    /// Reading a body.
    Body(BodyDecoder),
    /// (Server) the request is read; the next one waits for the response.
    Paused,
    /// (Server) a request that asked to switch protocols is read; the
    /// response decides.
    AwaitSwitch,
    Upgraded,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// Nothing to send for the current message (or no message started).
    Idle,
    /// A head was sent; body bytes go out framed like this.
    Length(u64),
    Chunked,
    CloseDelimited,
    /// The head said no body.
    NoBody,
}

/// An HTTP/1.1 connection without I/O.
///
/// ```
/// use tetsuo_proto::h1::{Connection, Event, Limits, Side};
/// use http::{HeaderMap, StatusCode};
///
/// let mut server = Connection::new(Side::Server, Limits::default());
/// server.handle_input(b"GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
/// let Some(Event::Request(req)) = server.poll_event() else { panic!() };
/// assert_eq!(req.view().target(), "/hello");
/// assert!(matches!(server.poll_event(), Some(Event::End(None))));
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-length", "2".parse().unwrap());
/// server.send_response(StatusCode::OK, &headers).unwrap();
/// server.send_data(b"hi").unwrap();
/// server.send_end(None).unwrap();
/// let mut wire = Vec::new();
/// server.poll_transmit(&mut wire);
/// assert_eq!(wire, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
/// ```
#[derive(Debug)]
pub struct Connection {
    side: Side,
    parser: HeadParser,
    input: BytesMut,
    events: VecDeque<Event>,
    transmit: Vec<u8>,
    read: Read,
    out: Out,
    /// Whether the connection outlives the current exchange.
    keep_alive: bool,
    /// The connection ends once the current output is transmitted.
    closing: bool,
    /// The peer sent end of stream.
    eof: bool,
    /// (Server) the request being answered: method, version, and whether
    /// its body is fully read.
    request: Option<(Method, Version)>,
    request_read: bool,
    /// (Server) the request asked to switch protocols.
    switch_requested: bool,
    /// (Client) requests whose responses are outstanding: method, and
    /// whether it asked to switch protocols.
    pending: VecDeque<(Method, bool)>,
    /// (Client) the current request's body is fully sent.
    request_sent: bool,
    error: Option<Error>,
}

impl Connection {
    /// A connection on `side`, enforcing `limits` on what the peer sends.
    pub fn new(side: Side, limits: Limits) -> Connection {
        let kind = match side {
            Side::Server => Kind::Request,
            Side::Client => Kind::Response,
        };
        Connection {
            side,
            parser: HeadParser::new(kind, limits),
            input: BytesMut::new(),
            events: VecDeque::new(),
            transmit: Vec::new(),
            read: Read::Head,
            out: Out::Idle,
            keep_alive: true,
            closing: false,
            eof: false,
            request: None,
            request_read: false,
            switch_requested: false,
            pending: VecDeque::new(),
            request_sent: true,
            error: None,
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Feeds received bytes; returns how many were taken. Fewer than given
    /// means the connection will not buffer more until the application
    /// catches up (a server answering a request while the next ones queue):
    /// offer the rest later.
    ///
    /// After [`Event::Upgraded`] nothing more is taken (`Ok(0)`): what
    /// follows belongs to the new protocol. Once a server has decided to
    /// close, further input is discarded; a client that receives bytes after
    /// a response that closed the connection reports
    /// [`Error::UnexpectedData`].
    ///
    /// An error means the peer broke the protocol; the connection is then
    /// closing, and a server has queued the error's response.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let taken = match self.read {
            // A server ignores what a client sends after asking to close.
            Read::Closed if self.side == Side::Server => return Ok(bytes.len()),
            // The bytes belong to the new protocol: hand them there.
            Read::Upgraded => return Ok(0),
            // Enough is buffered to parse the next head once allowed.
            Read::Paused | Read::AwaitSwitch => bytes.len().min(
                self.parser
                    .limits()
                    .max_head
                    .saturating_sub(self.input.len()),
            ),
            _ => bytes.len(),
        };
        self.input.extend_from_slice(&bytes[..taken]);
        self.process()?;
        Ok(taken)
    }

    /// The peer closed its sending side.
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.eof {
            return Ok(());
        }
        self.eof = true;
        if self.side == Side::Server && matches!(self.read, Read::Paused | Read::AwaitSwitch) {
            // A half-close: the request being answered and any pipelined
            // after it are still answered; `Closed` comes once they are.
            return Ok(());
        }
        self.process()?;
        let result = match &mut self.read {
            Read::Head if self.input.is_empty() => {
                if self.side == Side::Client && !self.pending.is_empty() {
                    Err(Error::Incomplete)
                } else {
                    Ok(())
                }
            }
            Read::Head => Err(Error::Incomplete),
            Read::Body(body) => match body.finish_on_eof() {
                Ok(()) => {
                    self.events.push_back(Event::End(None));
                    self.pending.pop_front();
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Read::Paused | Read::AwaitSwitch | Read::Upgraded | Read::Closed => Ok(()),
        };
        match result {
            Ok(()) => {
                if !matches!(self.read, Read::Upgraded) {
                    self.events.push_back(Event::Closed);
                    self.read = Read::Closed;
                }
                self.closing = true;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves the bytes to send into `buf` (appending); returns how many.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.transmit.len();
        if buf.is_empty() {
            std::mem::swap(buf, &mut self.transmit);
        } else {
            buf.append(&mut self.transmit);
        }
        n
    }

    /// True once the connection should be closed after transmitting what is
    /// pending: `Connection: close`, a close-delimited body, an error, or
    /// the peer's end of stream.
    pub fn wants_close(&self) -> bool {
        self.closing
    }

    /// Gives a request head back once it has been read (after
    /// [`RequestHead::to_parts`]): its memory serves the next head, so a
    /// server that recycles parses without allocating per request.
    pub fn recycle(&mut self, head: RequestHead) {
        self.parser.recycle(head.head);
    }

    /// Gives back the memory of buffers that are empty now (input, output,
    /// events, the parser's field lists), for a connection going idle: a
    /// server holding many idle keep-alive connections then holds little
    /// for each. The next message allocates them again.
    pub fn release_buffers(&mut self) {
        if self.input.is_empty() {
            self.input = BytesMut::new();
        }
        if self.transmit.is_empty() {
            self.transmit = Vec::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
        self.parser.release();
    }

    /// Received bytes not yet turned into events (part of a head, or
    /// pipelined requests waiting for their turn).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// True between messages with nothing in hand: no buffered input (not
    /// even part of a pipelined head), no events or output waiting, no
    /// message in progress. Such a machine is equivalent to a new one.
    pub fn is_idle(&self) -> bool {
        matches!(self.read, Read::Head)
            && self.input.is_empty()
            && self.events.is_empty()
            && self.transmit.is_empty()
            && self.out == Out::Idle
            && self.request.is_none()
            && self.pending.is_empty()
            && !self.closing
            && !self.eof
            && self.error.is_none()
    }

    /// True if the connection was handed to another protocol.
    pub fn is_upgraded(&self) -> bool {
        matches!(self.read, Read::Upgraded)
    }

    fn fail(&mut self, e: Error) -> Error {
        // Answer only a request that has no response yet (a broken head, or
        // a broken body whose request is still unanswered).
        let unanswered = self.request.is_some() || matches!(self.read, Read::Head);
        self.error = Some(e);
        self.closing = true;
        self.read = Read::Closed;
        if self.side == Side::Server && self.out == Out::Idle && unanswered {
            // The error's wire answer; the connection closes after it.
            let mut headers = HeaderMap::new();
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            // Static, valid fields: encoding cannot fail.
            let _ = encode_response_head(
                &mut self.transmit,
                e.status(),
                None,
                Version::HTTP_11,
                &headers,
                &[],
            );
            self.out = Out::NoBody;
        }
        e
    }

    /// Turns buffered input into events, as far as the state allows.
    fn process(&mut self) -> Result<(), Error> {
        loop {
            match &mut self.read {
                Read::Head => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    if self.side == Side::Client && self.pending.is_empty() {
                        return Err(self.fail(Error::UnsolicitedResponse));
                    }
                    let n = match self.parser.parse(&self.input) {
                        Ok(Status::Complete(n)) => n,
                        Ok(Status::Partial) => return Ok(()),
                        Err(e) => return Err(self.fail(e)),
                    };
                    let head = self.parser.take_head();
                    let buf = self.input.split_to(n).freeze();
                    if let Err(e) = self.on_head(buf, head) {
                        return Err(self.fail(e));
                    }
                }
                Read::Body(body) => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    let step = match body.decode(&self.input) {
                        Ok(step) => step,
                        Err(e) => return Err(self.fail(e)),
                    };
                    let trailers = step.done.then(|| body.trailer_map()).flatten();
                    if let Some(range) = step.data {
                        let mut chunk = self.input.split_to(step.consumed);
                        let data = chunk.split_off(range.start);
                        let data = data.freeze().slice(..range.end - range.start);
                        self.events.push_back(Event::Data(data));
                    } else {
                        let _ = self.input.split_to(step.consumed);
                    }
                    if step.done {
                        self.events.push_back(Event::End(trailers));
                        self.message_read();
                    } else if step.consumed == 0 {
                        return Ok(());
                    }
                }
                // A server that said the connection ends sends nothing more.
                Read::Closed
                    if self.side == Side::Client && !self.input.is_empty() && !self.eof =>
                {
                    return Err(self.fail(Error::UnexpectedData));
                }
                Read::Paused | Read::AwaitSwitch | Read::Upgraded | Read::Closed => return Ok(()),
            }
        }
    }

    /// A head arrived: emit it and set up its body.
    fn on_head(&mut self, buf: Bytes, head: Head) -> Result<(), Error> {
        match self.side {
            Side::Server => {
                let framing = request_framing(&head);
                let request = RequestHead { buf, head };
                let method = request.method();
                self.keep_alive = request.head.keep_alive();
                self.switch_requested = request.head.wants_upgrade() || method == Method::CONNECT;
                self.request = Some((method, request.head.version()));
                self.request_read = false;
                let body = BodyDecoder::new(framing, self.parser.limits())?;
                self.events.push_back(Event::Request(request));
                self.start_body(body);
            }
            Side::Client => {
                let (method, upgrade) = self
                    .pending
                    .front()
                    .cloned()
                    .ok_or(Error::UnsolicitedResponse)?;
                let response = ResponseHead { buf, head };
                let status = response.status();
                if status == StatusCode::SWITCHING_PROTOCOLS && !upgrade {
                    // A switch nobody asked for: the smuggling pattern of
                    // pooled back-end connections.
                    return Err(Error::UnexpectedSwitch);
                }
                if status == StatusCode::SWITCHING_PROTOCOLS
                    || (method == Method::CONNECT && status.is_success())
                {
                    self.events.push_back(Event::Response(response));
                    self.upgrade();
                    return Ok(());
                }
                if status.is_informational() {
                    // 100, 103...: the final response is still to come.
                    self.events.push_back(Event::Response(response));
                    return Ok(());
                }
                let framing = response_framing(&response.head, &method);
                if !response.head.keep_alive() || framing == Framing::CloseDelimited {
                    self.keep_alive = false;
                }
                let body = BodyDecoder::new(framing, self.parser.limits())?;
                self.events.push_back(Event::Response(response));
                self.start_body(body);
            }
        }
        Ok(())
    }

    fn start_body(&mut self, body: BodyDecoder) {
        if body.is_done() {
            self.events.push_back(Event::End(None));
            self.message_read();
        } else {
            self.read = Read::Body(body);
        }
    }

    /// The incoming message is complete.
    fn message_read(&mut self) {
        match self.side {
            Side::Server => {
                self.request_read = true;
                self.read = if self.switch_requested {
                    Read::AwaitSwitch
                } else {
                    Read::Paused
                };
                self.maybe_next_exchange();
            }
            Side::Client => {
                self.pending.pop_front();
                if self.keep_alive {
                    self.read = Read::Head;
                } else {
                    self.read = Read::Closed;
                    self.closing = true;
                }
            }
        }
    }

    /// (Server) after the request is read and the response sent: next request,
    /// or close.
    fn maybe_next_exchange(&mut self) {
        if self.side != Side::Server
            || !self.request_read
            || self.out != Out::Idle
            || self.request.is_some()
        {
            return;
        }
        if self.keep_alive && !self.closing {
            self.read = Read::Head;
        } else {
            self.read = Read::Closed;
            self.closing = true;
        }
    }

    fn upgrade(&mut self) {
        self.read = Read::Upgraded;
        self.keep_alive = false;
        let rest = self.input.split().freeze();
        self.events.push_back(Event::Upgraded(rest));
    }

    /// (Client) sends a request head. The body is framed by the headers: a
    /// `Content-Length`, or `Transfer-Encoding: chunked`; with neither the
    /// request has no body. `Host` is the caller's to set.
    pub fn send_request(
        &mut self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
    ) -> Result<(), EncodeError> {
        // Nothing after a request that asked to close (RFC 9112 §9.6), a
        // closing response, or a switch to another protocol.
        if self.side != Side::Client
            || !self.request_sent
            || self.closing
            || !self.keep_alive
            || self.is_upgraded()
        {
            return Err(EncodeError::WrongState);
        }
        let outgoing = outgoing(headers)?;
        let out = outgoing.framing.unwrap_or(Out::NoBody);
        encode_request_head(
            &mut self.transmit,
            method,
            target,
            Version::HTTP_11,
            headers,
            &[],
        )?;
        let upgrade = headers.contains_key(http::header::UPGRADE) || method == Method::CONNECT;
        self.pending.push_back((method.clone(), upgrade));
        if outgoing.close {
            self.keep_alive = false;
        }
        self.out = out;
        self.request_sent = false;
        self.finish_if_empty();
        Ok(())
    }

    /// (Server) sends a response head for the current request. Informational
    /// statuses (1xx) may precede the final one; `101` switches protocols
    /// (if the request asked to), as does a 2xx to CONNECT. The body is
    /// framed by the headers (`Content-Length`, or `Transfer-Encoding:
    /// chunked`); with neither, tetsuo adds chunked framing for HTTP/1.1
    /// and closes after the body for HTTP/1.0. `Connection: close` is added
    /// when the connection will close.
    pub fn send_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<(), EncodeError> {
        self.send_response_with(status, headers, &ResponseExtras::default())
    }

    /// [`send_response`](Self::send_response) with fields the caller would
    /// otherwise insert into `headers` (saving the map's hashing and
    /// growth on every response): `length`, the body's size, is written as
    /// `Content-Length` and frames the body when the headers declare no
    /// framing; `date` is written as the `Date` field unless the headers
    /// have one.
    ///
    /// ```
    /// use tetsuo_proto::h1::{Connection, Event, Limits, ResponseExtras, Side};
    /// use http::{HeaderMap, StatusCode};
    ///
    /// let mut server = Connection::new(Side::Server, Limits::default());
    /// server.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    /// while server.poll_event().is_some() {}
    /// let extras = ResponseExtras { length: Some(2), date: Some(b"Sun, 06 Nov 1994 08:49:37 GMT") };
    /// server.send_response_with(StatusCode::OK, &HeaderMap::new(), &extras).unwrap();
    /// server.send_data(b"hi").unwrap();
    /// server.send_end(None).unwrap();
    /// let mut wire = Vec::new();
    /// server.poll_transmit(&mut wire);
    /// assert_eq!(
    ///     wire,
    ///     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nhi"
    /// );
    /// ```
    pub fn send_response_with(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        extras: &ResponseExtras<'_>,
    ) -> Result<(), EncodeError> {
        let Some((method, version)) = self.request.clone() else {
            return Err(EncodeError::WrongState);
        };
        if self.side != Side::Server || self.out != Out::Idle {
            return Err(EncodeError::WrongState);
        }
        if status.is_informational() && version == Version::HTTP_10 {
            // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
            return Err(EncodeError::WrongState);
        }
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            encode_response_head(
                &mut self.transmit,
                status,
                None,
                Version::HTTP_11,
                headers,
                &[],
            )?;
            return Ok(());
        }
        let switching = status == StatusCode::SWITCHING_PROTOCOLS
            || (method == Method::CONNECT && status.is_success());
        // A switch needs a request that asked for it, read to its end: its
        // body bytes must not reach the new protocol.
        if switching && (!self.switch_requested || !self.request_read) {
            return Err(EncodeError::WrongState);
        }
        let no_body = switching
            || method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let outgoing = outgoing(headers)?;
        // At most four fields are added: a fixed list, no allocation.
        let mut extra: [(&str, &[u8]); 4] = [("", b""); 4];
        let mut extras_len = 0;
        let mut add = |name: &'static str, value: &'static [u8]| {
            extra[extras_len] = (name, value);
            extras_len += 1;
        };
        let mut digits = [0u8; 20];
        let length_field = match (outgoing.framing, extras.length) {
            (None, Some(n)) => Some((Out::Length(n), decimal(n, &mut digits))),
            _ => None,
        };
        let declared = outgoing
            .framing
            .or(length_field.as_ref().map(|(out, _)| *out));
        let mut out = match declared {
            _ if no_body => Out::NoBody,
            // RFC 9112 §6.1: no chunked framing to an HTTP/1.0 recipient.
            Some(Out::Chunked) if version == Version::HTTP_10 => {
                return Err(EncodeError::InvalidFraming);
            }
            Some(out) => out,
            None if version == Version::HTTP_11 => {
                add("transfer-encoding", b"chunked");
                Out::Chunked
            }
            None => Out::CloseDelimited,
        };
        if matches!(out, Out::Length(0)) {
            out = Out::NoBody;
        }
        if outgoing.close || out == Out::CloseDelimited || !self.request_read && !switching {
            // An unread request body cannot be skipped safely: close after.
            self.keep_alive = false;
        }
        if !switching && !self.keep_alive && !outgoing.close {
            add("connection", b"close");
        } else if !switching && self.keep_alive && version == Version::HTTP_10 {
            add("connection", b"keep-alive");
        }
        // A HEAD response may tell the length the GET would have had
        // (RFC 9110 §9.3.2); 1xx, 204, 304 and switches say none.
        if let Some((_, digits)) = &length_field
            && (!no_body || (method == Method::HEAD && !switching))
        {
            extra[extras_len] = ("content-length", digits);
            extras_len += 1;
        }
        if let Some(date) = extras.date
            && !outgoing.date
        {
            extra[extras_len] = ("date", date);
            extras_len += 1;
        }
        encode_response_head(
            &mut self.transmit,
            status,
            None,
            version,
            headers,
            &extra[..extras_len],
        )?;
        if switching {
            self.out = Out::Idle;
            self.request = None;
            self.upgrade();
            return Ok(());
        }
        self.out = out;
        self.finish_if_empty();
        Ok(())
    }

    /// Sends body bytes of the current outgoing message.
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        match self.out {
            Out::Idle => Err(EncodeError::WrongState),
            Out::NoBody if data.is_empty() => Ok(()),
            Out::NoBody => Err(EncodeError::BodyNotAllowed),
            Out::Length(remaining) => {
                if data.len() as u64 > remaining {
                    return Err(EncodeError::BodyTooLong);
                }
                self.transmit.extend_from_slice(data);
                self.out = Out::Length(remaining - data.len() as u64);
                Ok(())
            }
            Out::Chunked => {
                encode_chunk(&mut self.transmit, data);
                Ok(())
            }
            Out::CloseDelimited => {
                self.transmit.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Ends the current outgoing message, with trailer fields for a chunked
    /// body.
    pub fn send_end(&mut self, trailers: Option<&HeaderMap>) -> Result<(), EncodeError> {
        match self.out {
            Out::Idle => return Err(EncodeError::WrongState),
            Out::Length(remaining) if remaining > 0 => return Err(EncodeError::BodyTooShort),
            Out::Chunked => encode_last_chunk(&mut self.transmit, trailers)?,
            Out::CloseDelimited => self.closing = true,
            Out::Length(_) | Out::NoBody => {}
        }
        self.out = Out::NoBody;
        self.message_sent();
        Ok(())
    }

    /// A head that declared no body completes its message at once.
    fn finish_if_empty(&mut self) {
        if self.out == Out::NoBody {
            self.message_sent();
        }
    }

    fn message_sent(&mut self) {
        self.out = Out::Idle;
        match self.side {
            Side::Server => {
                self.request = None;
                if !self.keep_alive {
                    self.closing = true;
                }
                if self.request_read {
                    self.read = Read::Paused;
                    self.maybe_next_exchange();
                    // Pipelined requests already buffered.
                    if let Err(e) = self.process() {
                        self.error = Some(e);
                    } else if self.eof && matches!(self.read, Read::Head) {
                        // The peer half-closed earlier: end once drained.
                        if self.input.is_empty() {
                            self.events.push_back(Event::Closed);
                            self.read = Read::Closed;
                            self.closing = true;
                        } else {
                            let _ = self.fail(Error::Incomplete);
                        }
                    }
                }
            }
            Side::Client => self.request_sent = true,
        }
    }
}

/// What an outgoing head says about its framing and the connection, from
/// one pass over its fields.
struct Outgoing {
    framing: Option<Out>,
    close: bool,
    date: bool,
}

/// A number in decimal, into `buf`; the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Fields [`Connection::send_response_with`] writes for the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseExtras<'a> {
    /// The body's size: `Content-Length`, when the headers declare no
    /// framing.
    pub length: Option<u64>,
    /// The `Date` field's value (an IMF-fixdate), unless the headers have
    /// one.
    pub date: Option<&'a [u8]>,
}

/// The framing an outgoing head declares (`None` if it declares none) and
/// whether it says `Connection: close`.
fn outgoing(headers: &HeaderMap) -> Result<Outgoing, EncodeError> {
    let mut te = None;
    let mut te_count = 0;
    let mut cl = None;
    let mut cl_count = 0;
    let mut close = false;
    let mut date = false;
    for (name, value) in headers {
        if name == TRANSFER_ENCODING {
            te = Some(value);
            te_count += 1;
        } else if name == CONTENT_LENGTH {
            cl = Some(value);
            cl_count += 1;
        } else if name == DATE {
            date = true;
        } else if name == CONNECTION {
            close |= value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let framing = match (te, cl) {
        (Some(_), Some(_)) => return Err(EncodeError::InvalidFraming),
        (Some(v), None) if te_count == 1 && v.as_bytes().eq_ignore_ascii_case(b"chunked") => {
            Some(Out::Chunked)
        }
        (Some(_), None) => return Err(EncodeError::InvalidFraming),
        (None, Some(v)) => {
            let digits = v.as_bytes();
            if cl_count > 1
                || digits.is_empty()
                || digits.len() > 19
                || !digits.iter().all(u8::is_ascii_digit)
            {
                return Err(EncodeError::InvalidFraming);
            }
            let n = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            Some(Out::Length(n))
        }
        (None, None) => None,
    };
    Ok(Outgoing {
        framing,
        close,
        date,
    })
}
