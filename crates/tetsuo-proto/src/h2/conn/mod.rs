//! One side of an HTTP/2 connection: frames in, events out; heads and data
//! in, frames out.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::frame::{self, Frame, FrameError, Headers, PREFACE};
use super::headers;
use super::{DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_WINDOW, Settings, StreamId, StreamMap};
use crate::hpack;

mod recv;
mod send;

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
