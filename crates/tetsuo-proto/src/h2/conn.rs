//! One side of an HTTP/2 connection: frames in, events out; heads and data
//! in, frames out.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::frame::{self, Frame, FrameError, Headers, PREFACE};
use super::headers;
use super::{DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_WINDOW, Settings, StreamId, StreamMap};
use crate::hpack;

/// Which side this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that sends the preface and opens odd streams.
    Client,
    /// The side that answers, and may push on even streams.
    Server,
}

/// Bounds on what a peer can make us do without doing work itself; each
/// one, exceeded, ends the connection with GOAWAY ENHANCE_YOUR_CALM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Streams the peer reset (or that were refused for exceeding
    /// SETTINGS_MAX_CONCURRENT_STREAMS) before they completed, less those
    /// that completed normally (Rapid Reset, CVE-2023-44487). Default 100.
    pub max_peer_resets: u32,
    /// Streams we had to reset because of the peer's frames — malformed
    /// heads, flow-control overruns, frames on closed streams — less those
    /// that completed normally (MadeYouReset, CVE-2025-8671). Default 100.
    pub max_local_resets: u32,
    /// Frames that do no work — PRIORITY, WINDOW_UPDATE, empty DATA or
    /// CONTINUATION, unknown types, and PINGs or SETTINGS that arrive
    /// while an earlier answer is unsent (a burst; keepalives do not
    /// count) — each costing one, and useful frames paying back sixteen
    /// (floods of CVE-2019-9512/9515/9518 and PRIORITY spam). Default
    /// 1 000.
    pub max_idle_frames: u32,
    /// Answers (PING and SETTINGS acknowledgements, RST_STREAM) queued and
    /// not yet taken by [`Connection::poll_transmit`]: a peer that floods
    /// and does not read. Default 1 000.
    pub max_queued_control: u32,
    /// CONTINUATION frames in one field block (CONTINUATION flood).
    /// Default 32.
    pub max_continuations: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_peer_resets: 100,
            max_local_resets: 100,
            max_idle_frames: 1_000,
            max_queued_control: 1_000,
            max_continuations: 32,
        }
    }
}

/// A connection's settings (what we advertise) and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Streams the peer may have open at once (default 100).
    pub max_concurrent_streams: u32,
    /// Each stream's receive window (default 256 KiB).
    pub initial_window_size: u32,
    /// The connection's receive window (default 1 MiB).
    pub connection_window_size: u32,
    /// The largest frame we accept (default 16 KiB).
    pub max_frame_size: u32,
    /// The largest decoded header list we accept: names, values and 32
    /// bytes per field (default 64 KiB). A server answers a larger one with
    /// 431, a client resets the stream.
    pub max_header_list_size: u32,
    /// Client: accept server push (default off).
    pub enable_push: bool,
    /// Server: accept extended CONNECT (RFC 8441; default off).
    pub enable_connect_protocol: bool,
    /// Abuse limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent_streams: 100,
            initial_window_size: 256 * 1024,
            connection_window_size: 1024 * 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 64 * 1024,
            enable_push: false,
            enable_connect_protocol: false,
            limits: Limits::default(),
        }
    }
}

/// What arrived.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Server: a request's head. `end_stream`: it has no body.
    Request {
        /// Its stream.
        stream: StreamId,
        /// The head (`:protocol` of an extended CONNECT in its extensions
        /// as [`Protocol`](super::Protocol)).
        head: http::request::Parts,
        /// No body follows.
        end_stream: bool,
    },
    /// Client: a response head, or an informational (1xx) one before it.
    Response {
        /// Its stream.
        stream: StreamId,
        /// The head.
        head: http::response::Parts,
        /// No body follows.
        end_stream: bool,
    },
    /// Body data. Give the bytes back with
    /// [`release_capacity`](Connection::release_capacity) once consumed, so
    /// that the peer may send more.
    Data {
        /// Its stream.
        stream: StreamId,
        /// The data.
        data: Bytes,
        /// The last of the body.
        end_stream: bool,
    },
    /// Trailers, which end the stream.
    Trailers {
        /// Its stream.
        stream: StreamId,
        /// The fields.
        trailers: HeaderMap,
    },
    /// The stream ended abnormally: reset by the peer, refused by its
    /// GOAWAY (`REFUSED_STREAM`: safe to retry), or reset by us because of
    /// a peer error.
    Reset {
        /// Its stream.
        stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// The peer reset it (else we did).
        remote: bool,
    },
    /// Client: the server promises a response to `head` on `promised`.
    PushPromise {
        /// The stream the promise came on.
        stream: StreamId,
        /// The promised stream (its response arrives as usual).
        promised: StreamId,
        /// The request it answers.
        head: http::request::Parts,
    },
    /// A stream that could not send everything may send again
    /// ([`Connection::capacity`]).
    SendReady {
        /// Its stream.
        stream: StreamId,
    },
    /// The peer's settings arrived (and were acknowledged).
    PeerSettings(Settings),
    /// The peer is going away: streams after `last_stream` that we opened
    /// were not processed (they are reported as `Reset` with
    /// `REFUSED_STREAM`).
    GoAway {
        /// The last stream the peer may process.
        last_stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// Debug data.
        debug: Bytes,
    },
    /// The answer to our [`ping`](Connection::ping).
    Pong([u8; 8]),
}

/// A connection error: we sent GOAWAY with `code`, and the connection is
/// over once the frames queued are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The code sent.
    pub code: ErrorCode,
    /// What happened.
    pub reason: &'static str,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Error {}

/// Why something could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is not open for sending (unknown, reset, or ended).
    StreamClosed,
    /// A client ran out of stream identifiers: open another connection.
    StreamIdsExhausted,
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached: wait for a
    /// stream to end, or open another connection.
    ConcurrencyLimit,
    /// GOAWAY was sent or received: no new streams.
    GoingAway,
    /// The connection failed.
    ConnectionClosed,
    /// A request without an authority (no `host` either).
    NoAuthority,
    /// Push is off (the client disabled it), or this side is a client.
    PushDisabled,
    /// A head or data out of order: a response before the request, a
    /// second final response, data before the head.
    OutOfOrder,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::StreamClosed => "stream not open for sending",
            SendError::StreamIdsExhausted => "stream identifiers exhausted",
            SendError::ConcurrencyLimit => "peer's concurrent stream limit reached",
            SendError::GoingAway => "connection going away",
            SendError::ConnectionClosed => "connection closed",
            SendError::NoAuthority => "request without an authority",
            SendError::PushDisabled => "server push disabled",
            SendError::OutOfOrder => "head or data out of order",
        })
    }
}

impl std::error::Error for SendError {}

/// What the remote side of a stream may still send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recv {
    /// Its (first) head.
    Head,
    /// Data or trailers (or, client side, after a 1xx, the final head).
    Body,
    /// Nothing: END_STREAM came.
    Closed,
}

#[derive(Debug)]
struct Stream {
    recv: Recv,
    /// We sent our head (a response, or the request).
    head_sent: bool,
    /// We ended our side (END_STREAM).
    send_closed: bool,
    send_window: i64,
    recv_window: i64,
    /// Bytes consumed and not yet given back with WINDOW_UPDATE.
    unreleased: u32,
    /// `send_data` could not send everything.
    wants_capacity: bool,
    /// The content-length announced, and the data seen.
    content_length: Option<u64>,
    received: u64,
    /// Opened by the peer (a request to a server, a push to a client).
    remote: bool,
    /// Our request was HEAD: its response has no body.
    head_request: bool,
    /// Our request was CONNECT: a 2xx answer's length means nothing.
    connect_request: bool,
}

impl Stream {
    fn closed(&self) -> bool {
        self.recv == Recv::Closed && self.send_closed
    }
}

/// A field block being received across CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    stream: StreamId,
    end_stream: bool,
    /// A PUSH_PROMISE's promised stream.
    promised: Option<StreamId>,
    block: BytesMut,
    continuations: u32,
    /// The HEADERS made its stream depend on itself (RFC 9113 §5.3.1):
    /// decoded for the table's sake, then the stream is reset.
    self_dependent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Server: waiting for the client's preface.
    Preface,
    /// The peer's first frame must be SETTINGS.
    FirstSettings,
    Open,
    /// A connection error; nothing more is read.
    Failed,
}

/// The payload of the PING that separates the two GOAWAYs of a graceful
/// shutdown.
const DRAIN_PING: [u8; 8] = *b"tsdrain!";

/// An HTTP/2 connection: bytes in, events out; heads and data in, bytes
/// out.
///
/// ```
/// use tetsuo_proto::h2::{Config, Connection, Event, Role};
///
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
/// let request = http::Request::get("https://example.com/").body(()).unwrap();
/// let stream = client.send_request(&request.into_parts().0, true).unwrap();
/// let mut wire = Vec::new();
/// client.poll_transmit(&mut wire);
/// server.handle_input(&wire).unwrap();
/// let head = std::iter::from_fn(|| server.poll_event())
///     .find_map(|e| match e {
///         Event::Request { head, end_stream: true, .. } => Some(head),
///         _ => None, // the client's SETTINGS first
///     })
///     .unwrap();
/// assert_eq!(head.uri, "https://example.com/");
/// let response = http::Response::new(());
/// server.send_response(stream, &response.into_parts().0, false).unwrap();
/// assert_eq!(server.send_data(stream, b"hello", true), Ok(5));
/// wire.clear();
/// server.poll_transmit(&mut wire);
/// client.handle_input(&wire).unwrap();
/// let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
/// assert!(matches!(events[1], Event::Response { end_stream: false, .. }));
/// assert!(matches!(&events[2], Event::Data { data, end_stream: true, .. } if data == "hello"));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    input: BytesMut,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
    streams: StreamMap<Stream>,
    /// A field block being encoded (kept: no allocation per head).
    block: Vec<u8>,
    /// Fields being decoded (kept likewise).
    fields: Vec<hpack::Field>,
    /// Our next stream: odd for a client, even (pushes) for a server.
    next_local: StreamId,
    /// The highest stream the peer opened.
    last_peer: StreamId,
    /// Streams we reset recently: frames still in flight on them are
    /// ignored (RFC 9113 §5.1).
    recently_reset: VecDeque<StreamId>,
    pending_block: Option<PendingBlock>,
    // The peer's settings.
    peer_max_concurrent: u32,
    peer_initial_window: u32,
    peer_max_frame: u32,
    peer_enable_push: bool,
    peer_connect_protocol: bool,
    /// Our SETTINGS not yet acknowledged.
    settings_unacked: u32,
    send_window: i64,
    recv_window: i64,
    unreleased: u32,
    /// Streams open (not closed) by side.
    open_local: u32,
    open_remote: u32,
    // Graceful shutdown.
    goaway_sent: Option<StreamId>,
    drain_ping_sent: bool,
    goaway_received: Option<StreamId>,
    // Abuse counters.
    peer_resets: u32,
    local_resets: u32,
    idle_frames: u32,
    queued_control: u32,
}

impl Connection {
    /// A connection for `role`; our preface (a client's magic string) and
    /// SETTINGS are queued at once.
    pub fn new(role: Role, config: Config) -> Connection {
        let mut c = Connection {
            role,
            state: if role == Role::Server {
                State::Preface
            } else {
                State::FirstSettings
            },
            input: BytesMut::new(),
            transmit: Vec::new(),
            events: VecDeque::new(),
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(hpack::DEFAULT_TABLE_SIZE),
            streams: StreamMap::default(),
            block: Vec::new(),
            fields: Vec::new(),
            next_local: if role == Role::Client { 1 } else { 2 },
            last_peer: 0,
            recently_reset: VecDeque::new(),
            pending_block: None,
            peer_max_concurrent: u32::MAX,
            peer_initial_window: 65_535,
            peer_max_frame: DEFAULT_MAX_FRAME_SIZE,
            peer_enable_push: role == Role::Server,
            peer_connect_protocol: false,
            settings_unacked: 1,
            send_window: 65_535,
            recv_window: i64::from(config.connection_window_size.max(65_535)),
            unreleased: 0,
            open_local: 0,
            open_remote: 0,
            goaway_sent: None,
            drain_ping_sent: false,
            goaway_received: None,
            peer_resets: 0,
            local_resets: 0,
            idle_frames: 0,
            queued_control: 0,
            config,
        };
        c.decoder
            .set_max_header_list_size(c.config.max_header_list_size as usize);
        if role == Role::Client {
            c.transmit.extend_from_slice(PREFACE);
        }
        let mut s = Settings {
            max_concurrent_streams: Some(c.config.max_concurrent_streams),
            initial_window_size: Some(c.config.initial_window_size.min(MAX_WINDOW)),
            max_frame_size: Some(c.config.max_frame_size),
            max_header_list_size: Some(c.config.max_header_list_size),
            ..Settings::default()
        };
        match role {
            Role::Client => s.enable_push = Some(c.config.enable_push),
            Role::Server if c.config.enable_connect_protocol => {
                s.enable_connect_protocol = Some(true);
            }
            Role::Server => {}
        }
        frame::encode_settings(&s, &mut c.transmit);
        let extra = c.config.connection_window_size.saturating_sub(65_535);
        if extra > 0 {
            frame::encode_window_update(0, extra.min(MAX_WINDOW), &mut c.transmit);
        }
        c
    }

    /// The side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves the bytes to send into `dst`.
    pub fn poll_transmit(&mut self, dst: &mut Vec<u8>) {
        if dst.is_empty() {
            std::mem::swap(dst, &mut self.transmit);
        } else {
            dst.append(&mut self.transmit);
        }
        self.queued_control = 0;
    }

    /// Bytes waiting in [`poll_transmit`](Self::poll_transmit): a driver
    /// stops feeding data while this is large.
    pub fn pending_transmit(&self) -> usize {
        self.transmit.len()
    }

    /// True once the connection failed, or it is shutting down and no
    /// stream is left: after writing what is queued, close the transport.
    pub fn is_closed(&self) -> bool {
        self.state == State::Failed
            || ((self.goaway_sent.is_some() || self.goaway_received.is_some())
                && self.streams.is_empty()
                && !(self.goaway_sent.is_some() && self.drain_ping_sent))
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// True if a new stream may be opened now (client: a request; the
    /// peer's concurrency limit and our identifiers allow it).
    pub fn can_open_stream(&self) -> bool {
        self.state != State::Failed
            && self.goaway_sent.is_none()
            && self.goaway_received.is_none()
            && self.open_local < self.peer_max_concurrent
            && self.next_local <= MAX_WINDOW
    }

    /// True once no stream can ever be opened here again: GOAWAY sent or
    /// received, identifiers used up, or a connection error. (Otherwise
    /// [`can_open_stream`](Self::can_open_stream) false means: wait for a
    /// stream to end.)
    pub fn no_new_streams(&self) -> bool {
        self.state == State::Failed
            || self.goaway_sent.is_some()
            || self.goaway_received.is_some()
            || self.next_local > MAX_WINDOW
    }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn peer_max_concurrent_streams(&self) -> u32 {
        self.peer_max_concurrent
    }

    /// True if the peer (a client) accepts server push.
    pub fn peer_enables_push(&self) -> bool {
        self.role == Role::Server && self.peer_enable_push
    }

    /// True if the peer (a server) accepts extended CONNECT (RFC 8441).
    pub fn peer_enables_connect_protocol(&self) -> bool {
        self.peer_connect_protocol
    }

    /// True once the peer's first SETTINGS arrived: until then its limits
    /// and extensions are unknown (a client waits for them before an
    /// extended CONNECT, RFC 8441 §3).
    pub fn peer_settings_received(&self) -> bool {
        !matches!(self.state, State::Preface | State::FirstSettings)
    }

    // ---- sending -------------------------------------------------------

    fn check_open(&self) -> Result<(), SendError> {
        if self.state == State::Failed {
            return Err(SendError::ConnectionClosed);
        }
        Ok(())
    }

    fn new_local_stream(&mut self) -> Result<StreamId, SendError> {
        self.check_open()?;
        if self.goaway_sent.is_some() || self.goaway_received.is_some() {
            return Err(SendError::GoingAway);
        }
        if self.next_local > MAX_WINDOW {
            return Err(SendError::StreamIdsExhausted);
        }
        if self.open_local >= self.peer_max_concurrent {
            return Err(SendError::ConcurrencyLimit);
        }
        let id = self.next_local;
        self.next_local += 2;
        Ok(id)
    }

    fn insert_stream(&mut self, id: StreamId, remote: bool, recv: Recv) {
        self.streams.insert(
            id,
            Stream {
                recv,
                head_sent: false,
                send_closed: false,
                send_window: i64::from(self.peer_initial_window),
                recv_window: i64::from(self.config.initial_window_size),
                unreleased: 0,
                wants_capacity: false,
                content_length: None,
                received: 0,
                remote,
                head_request: false,
                connect_request: false,
            },
        );
        if remote {
            self.open_remote += 1;
        } else {
            self.open_local += 1;
        }
    }

    /// Client: sends a request's head on a new stream (`end_stream`: no
    /// body). The stream's identifier is returned.
    pub fn send_request(
        &mut self,
        head: &http::request::Parts,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        if self.role != Role::Client {
            return Err(SendError::OutOfOrder);
        }
        let id = self.new_local_stream()?;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        headers::encode_request(head, &mut self.encoder, &mut block)
            .map_err(|_| SendError::NoAuthority)?;
        frame::encode_headers(
            id,
            &block,
            end_stream,
            self.peer_max_frame,
            &mut self.transmit,
        );
        self.block = block;
        self.insert_stream(id, false, Recv::Head);
        let s = self.streams.get_mut(&id).expect("just inserted");
        s.head_sent = true;
        s.send_closed = end_stream;
        s.head_request = head.method == http::Method::HEAD;
        s.connect_request = head.method == http::Method::CONNECT;
        Ok(id)
    }

    /// Server: sends the response head on `stream` (an informational 1xx
    /// may come first; `end_stream`: no body).
    pub fn send_response(
        &mut self,
        stream: StreamId,
        head: &http::response::Parts,
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(SendError::StreamClosed)?;
        // A server's streams are requests, or pushes it promised.
        if self.role != Role::Server {
            return Err(SendError::OutOfOrder);
        }
        if s.send_closed {
            return Err(SendError::StreamClosed);
        }
        if s.head_sent {
            return Err(SendError::OutOfOrder);
        }
        let informational = head.status.is_informational();
        if !informational {
            s.head_sent = true;
            s.send_closed = end_stream;
        }
        let end_stream = end_stream && !informational;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        headers::encode_response(head, &mut self.encoder, &mut block);
        frame::encode_headers(
            stream,
            &block,
            end_stream,
            self.peer_max_frame,
            &mut self.transmit,
        );
        self.block = block;
        self.idle_frames = self.idle_frames.saturating_sub(16);
        self.maybe_close(stream);
        Ok(())
    }

    /// How much data `stream` may send now (flow control).
    pub fn capacity(&self, stream: StreamId) -> usize {
        match self.streams.get(&stream) {
            Some(s) if s.head_sent && !s.send_closed => {
                s.send_window.min(self.send_window).max(0) as usize
            }
            _ => 0,
        }
    }

    /// Sends body data on `stream`, as much as flow control allows now; the
    /// count sent is returned. `end_stream` applies once everything is
    /// sent. If less was sent, [`Event::SendReady`] tells when to go on.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        self.check_open()?;
        let conn_window = self.send_window;
        let max_frame = self.peer_max_frame as usize;
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(SendError::StreamClosed)?;
        if !s.head_sent {
            return Err(SendError::OutOfOrder);
        }
        if s.send_closed {
            return Err(SendError::StreamClosed);
        }
        let room = s.send_window.min(conn_window).max(0) as usize;
        let n = data.len().min(room);
        let end = end_stream && n == data.len();
        let mut sent = 0;
        loop {
            let chunk = (n - sent).min(max_frame);
            let last = sent + chunk == n;
            if chunk > 0 || (last && end) {
                frame::encode_data(
                    stream,
                    &data[sent..sent + chunk],
                    last && end,
                    &mut self.transmit,
                );
            }
            sent += chunk;
            if last {
                break;
            }
        }
        s.send_window -= n as i64;
        self.send_window -= n as i64;
        s.wants_capacity = n < data.len();
        if end {
            s.send_closed = true;
        }
        if n > 0 {
            self.idle_frames = self.idle_frames.saturating_sub(16);
        }
        self.maybe_close(stream);
        Ok(n)
    }

    /// Sends trailers, which end our side of `stream`.
    pub fn send_trailers(
        &mut self,
        stream: StreamId,
        trailers: &HeaderMap,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(SendError::StreamClosed)?;
        if !s.head_sent {
            return Err(SendError::OutOfOrder);
        }
        if s.send_closed {
            return Err(SendError::StreamClosed);
        }
        s.send_closed = true;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        headers::encode_trailers(trailers, &mut self.encoder, &mut block);
        frame::encode_headers(
            stream,
            &block,
            true,
            self.peer_max_frame,
            &mut self.transmit,
        );
        self.block = block;
        self.maybe_close(stream);
        Ok(())
    }

    /// Server: promises a response to `head` (a GET or HEAD without a
    /// body) on a new stream, announced on `stream`; send the response on
    /// the stream returned.
    pub fn push_promise(
        &mut self,
        stream: StreamId,
        head: &http::request::Parts,
    ) -> Result<StreamId, SendError> {
        if self.role != Role::Server || !self.peer_enable_push {
            return Err(SendError::PushDisabled);
        }
        match self.streams.get(&stream) {
            Some(s) if s.remote && !s.send_closed => {}
            _ => return Err(SendError::StreamClosed),
        }
        let promised = self.new_local_stream()?;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        headers::encode_request(head, &mut self.encoder, &mut block)
            .map_err(|_| SendError::NoAuthority)?;
        frame::encode_push_promise(
            stream,
            promised,
            &block,
            self.peer_max_frame,
            &mut self.transmit,
        );
        self.block = block;
        // Reserved (local): we send, the client sends nothing.
        self.insert_stream(promised, false, Recv::Closed);
        Ok(promised)
    }

    /// Resets `stream` with `code` (CANCEL to give up on it).
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) {
        if self.streams.contains_key(&stream) {
            self.send_reset(stream, code);
        }
    }

    /// Gives back `n` bytes of `stream`'s received data, consumed: the
    /// windows reopen (WINDOW_UPDATE once half of one is consumed).
    pub fn release_capacity(&mut self, stream: StreamId, n: usize) {
        let n = n.min(MAX_WINDOW as usize) as u32;
        self.unreleased = self.unreleased.saturating_add(n);
        // Never an update of 0 (a protocol error), whatever the sizes.
        if self.unreleased > 0 && self.unreleased >= self.config.connection_window_size / 2 {
            frame::encode_window_update(0, self.unreleased, &mut self.transmit);
            self.recv_window += i64::from(self.unreleased);
            self.unreleased = 0;
        }
        let half = self.config.initial_window_size / 2;
        if let Some(s) = self.streams.get_mut(&stream)
            && s.recv != Recv::Closed
        {
            s.unreleased = s.unreleased.saturating_add(n);
            if s.unreleased > 0 && s.unreleased >= half {
                frame::encode_window_update(stream, s.unreleased, &mut self.transmit);
                s.recv_window += i64::from(s.unreleased);
                s.unreleased = 0;
            }
        }
    }

    /// Sends a PING; its answer arrives as [`Event::Pong`].
    pub fn ping(&mut self, payload: [u8; 8]) {
        frame::encode_ping(false, payload, &mut self.transmit);
    }

    /// Starts a graceful shutdown: a GOAWAY that refuses nothing yet and a
    /// PING; once the PING's answer shows the peer saw it, the final GOAWAY
    /// names the last stream that will be served. Streams open finish.
    pub fn shutdown(&mut self) {
        if self.goaway_sent.is_some() || self.state == State::Failed {
            return;
        }
        frame::encode_goaway(MAX_WINDOW, ErrorCode::NO_ERROR, b"", &mut self.transmit);
        self.goaway_sent = Some(MAX_WINDOW);
        frame::encode_ping(false, DRAIN_PING, &mut self.transmit);
        self.drain_ping_sent = true;
    }

    /// True while a [`shutdown`](Self::shutdown) waits for its PING's
    /// answer.
    pub fn is_shutdown_pending(&self) -> bool {
        self.drain_ping_sent
    }

    /// The second step of [`shutdown`](Self::shutdown) without waiting for
    /// the PING's answer (a peer that never answers): the final GOAWAY names
    /// the last stream the peer opened so far. Does nothing unless a
    /// shutdown is waiting for its PING.
    pub fn finish_shutdown(&mut self) {
        if !self.drain_ping_sent || self.state == State::Failed {
            return;
        }
        self.drain_ping_sent = false;
        self.goaway_sent = Some(self.last_peer);
        frame::encode_goaway(self.last_peer, ErrorCode::NO_ERROR, b"", &mut self.transmit);
    }

    /// Ends the connection at once with GOAWAY `code` (streams still open
    /// are abandoned).
    pub fn abort(&mut self, code: ErrorCode) {
        if self.state != State::Failed {
            self.fail(code, "closed locally");
        }
    }

    // ---- receiving -----------------------------------------------------

    /// Feeds bytes from the peer. A connection error queues GOAWAY and is
    /// returned; events before it stay to be taken.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.state == State::Failed {
            return Ok(());
        }
        self.input.extend_from_slice(data);
        if self.state == State::Preface {
            let n = self.input.len().min(PREFACE.len());
            if self.input[..n] != PREFACE[..n] {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "not an HTTP/2 preface"));
            }
            if n < PREFACE.len() {
                return Ok(());
            }
            let _ = self.input.split_to(PREFACE.len());
            self.state = State::FirstSettings;
        }
        loop {
            let frame = match frame::read(&mut self.input, self.config.max_frame_size) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    // A stream error (the frame was consumed): on to the
                    // next frame.
                    self.frame_error(e)?;
                    continue;
                }
            };
            self.handle_frame(frame)?;
            if self.state == State::Failed {
                return Ok(());
            }
        }
    }

    fn frame_error(&mut self, e: FrameError) -> Result<(), Error> {
        match e.stream {
            // A stream error from the frame layer (PRIORITY, WINDOW_UPDATE):
            // a reset, and the connection goes on.
            // On a stream never opened a reset would be an error of ours.
            Some(stream) if self.is_idle(stream) && !self.streams.contains_key(&stream) => {
                Err(self.fail(ErrorCode::PROTOCOL_ERROR, "invalid frame on an idle stream"))
            }
            Some(stream) => {
                self.local_error_reset(stream, e.code)?;
                Ok(())
            }
            None => Err(self.fail(e.code, "invalid frame")),
        }
    }

    fn fail(&mut self, code: ErrorCode, reason: &'static str) -> Error {
        frame::encode_goaway(self.last_peer, code, reason.as_bytes(), &mut self.transmit);
        self.state = State::Failed;
        self.input.clear();
        Error { code, reason }
    }

    fn calm(&mut self, reason: &'static str) -> Error {
        self.fail(ErrorCode::ENHANCE_YOUR_CALM, reason)
    }

    /// A frame that does no work.
    fn idle_frame(&mut self) -> Result<(), Error> {
        self.idle_frames += 1;
        if self.idle_frames > self.config.limits.max_idle_frames {
            return Err(self.calm("too many frames without work"));
        }
        Ok(())
    }

    fn control_queued(&mut self) -> Result<(), Error> {
        self.queued_control += 1;
        if self.queued_control > self.config.limits.max_queued_control {
            return Err(self.calm("too many answers queued unread"));
        }
        Ok(())
    }

    fn handle_frame(&mut self, f: Frame) -> Result<(), Error> {
        if self.state == State::FirstSettings && !matches!(f, Frame::Settings { ack: false, .. }) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "first frame not SETTINGS"));
        }
        // A field block in progress admits only its CONTINUATIONs.
        if let Some(pending) = &self.pending_block {
            let Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } = f
            else {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "field block interrupted"));
            };
            if stream != pending.stream {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "CONTINUATION on another stream"));
            }
            return self.continuation(end_headers, fragment);
        }
        match f {
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => self.data(stream, end_stream, data, flow_len),
            Frame::Headers(h) => self.headers(h),
            Frame::Priority { .. } | Frame::Unknown { .. } => self.idle_frame(),
            Frame::RstStream { stream, code } => self.rst_stream(stream, code),
            Frame::Settings { ack, settings } => self.settings(ack, settings),
            Frame::PushPromise {
                stream,
                promised,
                end_headers,
                fragment,
            } => self.push_promise_frame(stream, promised, end_headers, fragment),
            Frame::Ping { ack, payload } => self.ping_frame(ack, payload),
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => self.goaway(last_stream, code, debug),
            Frame::WindowUpdate { stream, increment } => self.window_update(stream, increment),
            Frame::Continuation { .. } => Err(self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without a field block",
            )),
        }
    }

    /// Whether `stream` is one the peer would open.
    fn peer_initiated(&self, stream: StreamId) -> bool {
        (stream % 2 == 1) == (self.role == Role::Server)
    }

    /// A stream we no longer know: idle (never opened) or closed.
    fn is_idle(&self, stream: StreamId) -> bool {
        if self.peer_initiated(stream) {
            stream > self.last_peer
        } else {
            stream >= self.next_local
        }
    }

    fn data(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        data: Bytes,
        flow_len: u32,
    ) -> Result<(), Error> {
        // Connection flow control counts every DATA frame, even on streams
        // we no longer know.
        if i64::from(flow_len) > self.recv_window {
            return Err(self.fail(ErrorCode::FLOW_CONTROL_ERROR, "connection window exceeded"));
        }
        self.recv_window -= i64::from(flow_len);
        if data.is_empty() && !end_stream {
            self.idle_frame()?;
        }
        let padding = flow_len as usize - data.len();
        let Some(s) = self.streams.get_mut(&stream) else {
            // Give the connection window back at once: nobody will consume.
            self.release_capacity(0, flow_len as usize);
            if self.is_idle(stream) {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "DATA on an idle stream"));
            }
            return self.closed_stream_frame(stream);
        };
        if s.recv != Recv::Body {
            self.release_capacity(0, flow_len as usize);
            return self.local_error_reset(stream, ErrorCode::STREAM_CLOSED);
        }
        if i64::from(flow_len) > s.recv_window {
            self.release_capacity(0, flow_len as usize);
            return self.local_error_reset(stream, ErrorCode::FLOW_CONTROL_ERROR);
        }
        s.recv_window -= i64::from(flow_len);
        s.received += data.len() as u64;
        let too_long = s.content_length.is_some_and(|n| s.received > n);
        let too_short = end_stream && s.content_length.is_some_and(|n| s.received != n);
        if too_long || too_short {
            self.release_capacity(0, flow_len as usize);
            return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR);
        }
        if end_stream {
            s.recv = Recv::Closed;
        }
        // Data pays back idle frames by its size: a byte at a time cannot
        // buy a flood of free frames.
        let payback = (data.len() / 64).min(16) as u32;
        self.idle_frames = self.idle_frames.saturating_sub(payback);
        if padding > 0 {
            self.release_capacity(stream, padding);
        }
        if !data.is_empty() || end_stream {
            self.events.push_back(Event::Data {
                stream,
                data,
                end_stream,
            });
        }
        self.maybe_close(stream);
        Ok(())
    }

    /// A frame (other than PRIORITY) on a stream that is closed: ignored if
    /// we reset it (it was in flight), else a stream error.
    fn closed_stream_frame(&mut self, stream: StreamId) -> Result<(), Error> {
        // Streams the peer opened past our final GOAWAY are ignored, and so
        // is what follows on them (RFC 9113 §6.8).
        let past_goaway =
            self.peer_initiated(stream) && self.goaway_sent.is_some_and(|last| stream > last);
        if past_goaway || self.recently_reset.contains(&stream) {
            return Ok(());
        }
        self.local_error_reset(stream, ErrorCode::STREAM_CLOSED)
    }

    fn headers(&mut self, h: Headers) -> Result<(), Error> {
        self.pending_block = Some(PendingBlock {
            stream: h.stream,
            end_stream: h.end_stream,
            promised: None,
            block: BytesMut::from(&h.fragment[..]),
            continuations: 0,
            self_dependent: h.priority.is_some_and(|p| p.dependency == h.stream),
        });
        if h.end_headers {
            return self.block_done();
        }
        Ok(())
    }

    fn continuation(&mut self, end_headers: bool, fragment: Bytes) -> Result<(), Error> {
        let limit = self.config.limits.max_continuations;
        let max_block = (self.config.max_header_list_size as usize).max(16 * 1024);
        let pending = self.pending_block.as_mut().expect("checked by the caller");
        pending.continuations += 1;
        if pending.continuations > limit {
            return Err(self.calm("too many CONTINUATION frames"));
        }
        if pending.block.len() + fragment.len() > max_block {
            return Err(self.calm("field block too large"));
        }
        if fragment.is_empty() && !end_headers {
            self.idle_frame()?;
        }
        let pending = self.pending_block.as_mut().expect("still there");
        pending.block.extend_from_slice(&fragment);
        if end_headers {
            return self.block_done();
        }
        Ok(())
    }

    /// Decodes a field block into `fields`: false if the list was over the
    /// limit (the table in step). Other HPACK errors end the connection.
    fn decode(&mut self, block: &Bytes, fields: &mut Vec<hpack::Field>) -> Result<bool, Error> {
        fields.clear();
        match self.decoder.decode(block, fields) {
            Ok(()) => Ok(true),
            Err(hpack::Error::HeaderListTooLarge) => Ok(false),
            Err(_) => Err(self.fail(ErrorCode::COMPRESSION_ERROR, "field block does not decode")),
        }
    }

    fn block_done(&mut self) -> Result<(), Error> {
        let pending = self.pending_block.take().expect("a block was pending");
        let block = pending.block.freeze();
        // The kept list, handed down and put back: no allocation per head.
        let mut list = std::mem::take(&mut self.fields);
        let result = match self.decode(&block, &mut list) {
            Err(e) => Err(e),
            Ok(_) if pending.self_dependent => {
                if self.peer_initiated(pending.stream) && self.is_idle(pending.stream) {
                    // The stream was opened, if only to be reset.
                    self.last_peer = pending.stream;
                }
                self.local_error_reset(pending.stream, ErrorCode::PROTOCOL_ERROR)
            }
            Ok(whole) => {
                let fields = whole.then_some(&mut list);
                let stream = pending.stream;
                match (pending.promised, self.streams.get(&stream).map(|s| s.recv)) {
                    (Some(promised), _) => self.promise_done(stream, promised, fields),
                    (None, None) if self.is_idle(stream) => {
                        self.new_peer_stream(stream, pending.end_stream, fields)
                    }
                    (None, None) => self.closed_stream_frame(stream),
                    (None, Some(Recv::Closed)) => {
                        self.local_error_reset(stream, ErrorCode::STREAM_CLOSED)
                    }
                    (None, Some(Recv::Head)) => self.head(stream, pending.end_stream, fields),
                    (None, Some(Recv::Body)) => {
                        self.body_headers(stream, pending.end_stream, fields)
                    }
                }
            }
        };
        list.clear();
        self.fields = list;
        result
    }

    /// A new stream from the peer: a request (server side).
    fn new_peer_stream(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        fields: Option<&mut Vec<hpack::Field>>,
    ) -> Result<(), Error> {
        if !self.peer_initiated(stream) || self.role == Role::Client {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "stream opened by the wrong side"));
        }
        self.last_peer = stream;
        if self.goaway_sent.is_some_and(|last| stream > last) {
            // After our final GOAWAY: ignored.
            return Ok(());
        }
        if self.open_remote >= self.config.max_concurrent_streams {
            // Before the peer acknowledged our SETTINGS it may not know the
            // limit yet (a race, RFC 9113 §5.1.2): refused, not counted.
            if self.settings_unacked == 0 {
                self.peer_resets += 1;
                if self.peer_resets > self.config.limits.max_peer_resets {
                    return Err(self.calm("too many streams refused or reset"));
                }
            }
            self.send_reset(stream, ErrorCode::REFUSED_STREAM);
            return self.control_queued();
        }
        self.insert_stream(stream, true, Recv::Head);
        self.head(stream, end_stream, fields)
    }

    /// The first head of a stream: a request (server) or a response
    /// (client; after a 1xx the stream waits for the final one).
    fn head(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        fields: Option<&mut Vec<hpack::Field>>,
    ) -> Result<(), Error> {
        let Some(fields) = fields else {
            return self.too_large(stream);
        };
        match self.role {
            Role::Server => {
                let head = match headers::request(fields, self.config.enable_connect_protocol) {
                    Ok(head) => head,
                    Err(_) => return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR),
                };
                // A request that announces a body and ends at its head is
                // malformed (RFC 9113 §8.1.1): passed on, the length would
                // desynchronise an HTTP/1.1 hop behind us.
                if end_stream
                    && headers::content_length(&head.headers)
                        .ok()
                        .flatten()
                        .is_some_and(|n| n != 0)
                {
                    return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR);
                }
                self.body_begins(stream, end_stream, &head.headers, false);
                self.idle_frames = self.idle_frames.saturating_sub(16);
                self.events.push_back(Event::Request {
                    stream,
                    head,
                    end_stream,
                });
            }
            Role::Client => {
                let head = match headers::response(fields) {
                    Ok(head) => head,
                    Err(_) => return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR),
                };
                if head.status.is_informational() {
                    if end_stream {
                        return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR);
                    }
                } else {
                    // Responses to HEAD, and 204 and 304, announce a length
                    // they never send.
                    let bodiless = self.streams.get(&stream).is_some_and(|s| s.head_request)
                        || head.status == http::StatusCode::NO_CONTENT
                        || head.status == http::StatusCode::NOT_MODIFIED;
                    self.body_begins(stream, end_stream, &head.headers, bodiless);
                    // A 2xx to CONNECT opens a tunnel: a Content-Length
                    // in it is ignored (RFC 9110 §9.3.6).
                    if head.status.is_success()
                        && let Some(s) = self.streams.get_mut(&stream)
                        && s.connect_request
                    {
                        s.content_length = None;
                    }
                }
                self.idle_frames = self.idle_frames.saturating_sub(16);
                self.events.push_back(Event::Response {
                    stream,
                    head,
                    end_stream,
                });
            }
        }
        self.maybe_close(stream);
        Ok(())
    }

    /// The head is in: what the body must add up to (`bodiless`: nothing
    /// whatever the length says).
    fn body_begins(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        head: &HeaderMap,
        bodiless: bool,
    ) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        s.content_length = if bodiless {
            Some(0)
        } else {
            headers::content_length(head).ok().flatten()
        };
        s.recv = if end_stream { Recv::Closed } else { Recv::Body };
    }

    /// HEADERS after the head: trailers (which must end the stream).
    fn body_headers(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        fields: Option<&mut Vec<hpack::Field>>,
    ) -> Result<(), Error> {
        let Some(fields) = fields else {
            return self.too_large(stream);
        };
        if !end_stream {
            return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR);
        }
        let short = self
            .streams
            .get(&stream)
            .is_some_and(|s| s.content_length.is_some_and(|n| n != s.received));
        let trailers = match headers::trailers(fields) {
            Ok(t) if !short => t,
            _ => return self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR),
        };
        if let Some(s) = self.streams.get_mut(&stream) {
            s.recv = Recv::Closed;
        }
        self.events.push_back(Event::Trailers { stream, trailers });
        self.maybe_close(stream);
        Ok(())
    }

    /// A head over the header list limit: a server answers 431, a client
    /// resets.
    fn too_large(&mut self, stream: StreamId) -> Result<(), Error> {
        // A new request's head: answered with 431. Trailers (the
        // application knows the stream): a reset it hears of.
        if self.role == Role::Server
            && let Some(s) = self.streams.get_mut(&stream)
            && !s.head_sent
            && s.recv == Recv::Head
        {
            s.head_sent = true;
            s.send_closed = true;
            s.recv = Recv::Closed;
            let mut head = http::Response::new(()).into_parts().0;
            head.status = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            let mut block = Vec::new();
            headers::encode_response(&head, &mut self.encoder, &mut block);
            frame::encode_headers(
                stream,
                &block,
                true,
                self.peer_max_frame,
                &mut self.transmit,
            );
            self.count_local_reset()?;
            self.forget(stream);
            self.remember_reset(stream);
            return Ok(());
        }
        self.local_error_reset(stream, ErrorCode::PROTOCOL_ERROR)
    }

    fn push_promise_frame(
        &mut self,
        stream: StreamId,
        promised: StreamId,
        end_headers: bool,
        fragment: Bytes,
    ) -> Result<(), Error> {
        if self.role == Role::Server || !self.config.enable_push {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE not allowed"));
        }
        if !promised.is_multiple_of(2) || promised <= self.last_peer {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "invalid promised stream"));
        }
        self.last_peer = promised;
        self.pending_block = Some(PendingBlock {
            stream,
            end_stream: false,
            promised: Some(promised),
            block: BytesMut::from(&fragment[..]),
            continuations: 0,
            self_dependent: false,
        });
        if end_headers {
            return self.block_done();
        }
        Ok(())
    }

    fn promise_done(
        &mut self,
        stream: StreamId,
        promised: StreamId,
        fields: Option<&mut Vec<hpack::Field>>,
    ) -> Result<(), Error> {
        let associated = self
            .streams
            .get(&stream)
            .is_some_and(|s| !s.remote && s.recv != Recv::Closed);
        if !associated {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE on a closed stream"));
        }
        // Reserved (remote): the server will send; we send nothing.
        self.insert_stream(promised, true, Recv::Head);
        if let Some(s) = self.streams.get_mut(&promised) {
            s.head_sent = true;
            s.send_closed = true;
        }
        let head = fields.map(|f| headers::request(f, false));
        match head {
            Some(Ok(head)) if head.method.is_safe() => {
                self.events.push_back(Event::PushPromise {
                    stream,
                    promised,
                    head,
                });
                Ok(())
            }
            _ => self.local_error_reset(promised, ErrorCode::PROTOCOL_ERROR),
        }
    }

    fn rst_stream(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), Error> {
        if self.is_idle(stream) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "RST_STREAM on an idle stream"));
        }
        let Some(s) = self.streams.get(&stream) else {
            return self.idle_frame();
        };
        if s.remote && !s.send_closed {
            // Reset before we answered: Rapid Reset's pattern.
            self.peer_resets += 1;
            if self.peer_resets > self.config.limits.max_peer_resets {
                return Err(self.calm("too many streams reset by the peer"));
            }
        }
        self.forget(stream);
        self.events.push_back(Event::Reset {
            stream,
            code,
            remote: true,
        });
        Ok(())
    }

    fn settings(&mut self, ack: bool, s: Settings) -> Result<(), Error> {
        if ack {
            if self.settings_unacked == 0 {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "unexpected SETTINGS ACK"));
            }
            self.settings_unacked -= 1;
            return Ok(());
        }
        if self.state == State::FirstSettings {
            self.state = State::Open;
        } else if self.queued_control > 0 {
            // Only a burst counts: settings changed now and then (and
            // keepalive pings, below) are not a flood.
            self.idle_frame()?;
        }
        if let Some(size) = s.header_table_size {
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(push) = s.enable_push {
            if self.role == Role::Client && push {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "server enabled push"));
            }
            self.peer_enable_push = push;
        }
        if let Some(n) = s.max_concurrent_streams {
            self.peer_max_concurrent = n;
        }
        if let Some(size) = s.max_frame_size {
            self.peer_max_frame = size;
        }
        if let Some(on) = s.enable_connect_protocol {
            self.peer_connect_protocol = on;
        }
        if let Some(window) = s.initial_window_size {
            let delta = i64::from(window) - i64::from(self.peer_initial_window);
            self.peer_initial_window = window;
            let mut ready = Vec::new();
            for (&id, st) in &mut self.streams {
                st.send_window += delta;
                if st.send_window > i64::from(MAX_WINDOW) {
                    ready.clear();
                    return Err(self.fail(ErrorCode::FLOW_CONTROL_ERROR, "window over 2^31-1"));
                }
                if delta > 0 && st.wants_capacity {
                    ready.push(id);
                }
            }
            self.ready(ready);
        }
        frame::encode_settings_ack(&mut self.transmit);
        self.control_queued()?;
        self.events.push_back(Event::PeerSettings(s));
        Ok(())
    }

    fn ready(&mut self, streams: Vec<StreamId>) {
        if self.send_window <= 0 {
            return;
        }
        for stream in streams {
            if let Some(s) = self.streams.get_mut(&stream)
                && s.send_window > 0
            {
                s.wants_capacity = false;
                self.events.push_back(Event::SendReady { stream });
            }
        }
    }

    fn ping_frame(&mut self, ack: bool, payload: [u8; 8]) -> Result<(), Error> {
        if ack {
            if payload == DRAIN_PING && self.drain_ping_sent {
                // The peer saw our first GOAWAY: name the last stream.
                self.finish_shutdown();
                return Ok(());
            }
            self.events.push_back(Event::Pong(payload));
            return Ok(());
        }
        if self.queued_control > 0 {
            self.idle_frame()?;
        }
        frame::encode_ping(true, payload, &mut self.transmit);
        self.control_queued()
    }

    fn goaway(
        &mut self,
        last_stream: StreamId,
        code: ErrorCode,
        debug: Bytes,
    ) -> Result<(), Error> {
        self.goaway_received = Some(last_stream);
        let refused: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(id, s)| !s.remote && **id > last_stream)
            .map(|(id, _)| *id)
            .collect();
        self.events.push_back(Event::GoAway {
            last_stream,
            code,
            debug,
        });
        for stream in refused {
            self.forget(stream);
            self.events.push_back(Event::Reset {
                stream,
                code: ErrorCode::REFUSED_STREAM,
                remote: true,
            });
        }
        Ok(())
    }

    fn window_update(&mut self, stream: StreamId, increment: u32) -> Result<(), Error> {
        self.idle_frame()?;
        if stream == 0 {
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(self.fail(ErrorCode::FLOW_CONTROL_ERROR, "window over 2^31-1"));
            }
            let waiting: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, s)| s.wants_capacity)
                .map(|(id, _)| *id)
                .collect();
            self.ready(waiting);
            return Ok(());
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            if self.is_idle(stream) {
                return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream"));
            }
            // Closed streams may still get updates in flight.
            return Ok(());
        };
        s.send_window += i64::from(increment);
        if s.send_window > i64::from(MAX_WINDOW) {
            return self.local_error_reset(stream, ErrorCode::FLOW_CONTROL_ERROR);
        }
        if s.wants_capacity {
            self.ready(vec![stream]);
        }
        Ok(())
    }

    // ---- streams ending ------------------------------------------------

    fn count_local_reset(&mut self) -> Result<(), Error> {
        self.local_resets += 1;
        if self.local_resets > self.config.limits.max_local_resets {
            return Err(self.calm("too many streams reset for peer errors"));
        }
        Ok(())
    }

    /// We reset `stream` because of the peer's frames (a stream error).
    fn local_error_reset(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), Error> {
        self.count_local_reset()?;
        let known = self.streams.contains_key(&stream);
        self.send_reset(stream, code);
        if known {
            self.events.push_back(Event::Reset {
                stream,
                code,
                remote: false,
            });
        }
        self.control_queued()
    }

    fn send_reset(&mut self, stream: StreamId, code: ErrorCode) {
        frame::encode_rst_stream(stream, code, &mut self.transmit);
        self.forget(stream);
        self.remember_reset(stream);
    }

    fn remember_reset(&mut self, stream: StreamId) {
        if self.recently_reset.len() == 256 {
            self.recently_reset.pop_front();
        }
        self.recently_reset.push_back(stream);
    }

    fn forget(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.remove(&stream) {
            if s.remote {
                self.open_remote -= 1;
            } else {
                self.open_local -= 1;
            }
        }
    }

    /// A stream both sides ended is done; it pays back the reset
    /// counters.
    fn maybe_close(&mut self, stream: StreamId) {
        if self.streams.get(&stream).is_some_and(Stream::closed) {
            self.forget(stream);
            self.peer_resets = self.peer_resets.saturating_sub(1);
            self.local_resets = self.local_resets.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_out_of_stream_identifiers_says_so() {
        let mut client = Connection::new(Role::Client, Config::default());
        // Skip ahead: the last odd identifier is 2^31 - 1.
        client.next_local = MAX_WINDOW;
        let head = http::Request::get("https://a/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(client.send_request(&head, true), Ok(MAX_WINDOW));
        assert!(!client.can_open_stream());
        assert_eq!(
            client.send_request(&head, true),
            Err(SendError::StreamIdsExhausted)
        );
    }
}
