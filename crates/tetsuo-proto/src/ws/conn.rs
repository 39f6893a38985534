//! One side of a WebSocket connection after the opening handshake.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

use bytes::{Buf, Bytes, BytesMut};

use super::deflate::{Deflate, Params};
use super::frame::{FrameHeader, Opcode, apply_mask};
use super::utf8::Utf8Validator;
use super::{CloseCode, Error, SendError};

/// Which side this is: clients mask what they send, servers must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that opened the connection.
    Client,
    /// The side that accepted it.
    Server,
}

/// Bounds on what a peer can make us hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest frame payload (default 16 MiB).
    pub max_frame: usize,
    /// Longest message, after inflating (default 64 MiB).
    pub max_message: usize,
    /// Most answers to control frames (pongs) waiting to be sent before
    /// the peer is considered a flood (default 1024).
    pub max_queued_control: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 16 << 20,
            max_message: 64 << 20,
            max_queued_control: 1024,
        }
    }
}

/// A close frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The code.
    pub code: CloseCode,
    /// The reason (UTF-8, at most 123 bytes).
    pub reason: String,
}

/// A piece of a message: what [`Connection::send_fragment`] sends, and
/// what a connection made [`with_fragments`](Connection::with_fragments)
/// hands out as data arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The message is text (else binary).
    pub text: bool,
    /// The message's first piece.
    pub first: bool,
    /// The message's last piece.
    pub fin: bool,
    /// The data (inflated if the message was compressed). A received text
    /// piece may end inside a character; every byte so far is checked, and
    /// the whole message is valid UTF-8 once `fin` arrives.
    pub data: Bytes,
}

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Bytes),
    /// A piece of a message, in place of `Text` and `Binary` on a
    /// connection made [`with_fragments`](Connection::with_fragments).
    Fragment(Fragment),
    /// A ping (already answered with a pong).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame (`None`: it gave no code). Our answer is
    /// queued; once it is sent the connection is done.
    Close(Option<CloseFrame>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame; waiting for the peer's.
    CloseSent,
    /// The peer's close frame arrived; it waits in the events, behind the
    /// messages that came before it. Our answer goes out when it is taken
    /// (so replies to those messages can still be sent). Nothing more is
    /// read.
    CloseReceived {
        /// The code to echo (`None`: the peer gave none).
        echo: Option<CloseCode>,
    },
    /// A violation was found after messages still waiting in the events:
    /// the close frame with this code goes out once they are taken (so
    /// replies to them go first). Nothing more is read.
    Failing {
        /// The failure's close code.
        code: CloseCode,
    },
    /// Both close frames exchanged (or a failure): nothing more is read.
    Closed,
}

/// The frame being received.
#[derive(Debug, Clone, Copy)]
struct Incoming {
    header: FrameHeader,
    /// Payload bytes received so far.
    seen: u64,
}

/// A WebSocket connection: bytes in, events out; messages in, bytes out.
///
/// ```
/// use tetsuo_proto::ws::{Connection, Event, Limits, Role};
///
/// let mut client = Connection::new(Role::Client, Limits::default(), None);
/// let mut server = Connection::new(Role::Server, Limits::default(), None);
/// client.send_text("hello").unwrap();
/// let mut wire = Vec::new();
/// client.poll_transmit(&mut wire);
/// server.handle_input(&wire).unwrap();
/// assert_eq!(server.poll_event(), Some(Event::Text("hello".into())));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    limits: Limits,
    state: State,
    input: BytesMut,
    incoming: Option<Incoming>,
    /// The message being assembled: its opcode and whether it is
    /// compressed.
    message: Option<(Opcode, bool)>,
    payload: BytesMut,
    control: Vec<u8>,
    utf8: Utf8Validator,
    deflate: Option<Deflate>,
    events: VecDeque<Event>,
    transmit: Vec<u8>,
    queued_control: usize,
    /// Client masking keys: SipHash under keys std draws from the OS's
    /// randomness, over a counter — unpredictable, as RFC 6455 §5.3 asks.
    mask_keys: RandomState,
    mask_counter: u64,
    /// Data is handed out as it arrives, in fragments.
    fragments: bool,
    /// The next fragment handed out is its message's first.
    fragment_first: bool,
    /// Bytes the current frame inflated to so far (fragment mode).
    frame_inflated: usize,
    /// A message we send in fragments is unfinished: is it text?
    sending: Option<bool>,
    /// Validates the text fragments we send.
    out_utf8: Utf8Validator,
}

impl Connection {
    /// A connection for `role`, with `deflate` parameters if
    /// permessage-deflate was agreed.
    pub fn new(role: Role, limits: Limits, deflate: Option<(Params, u32)>) -> Connection {
        Connection {
            role,
            limits,
            state: State::Open,
            input: BytesMut::new(),
            incoming: None,
            message: None,
            payload: BytesMut::new(),
            control: Vec::new(),
            utf8: Utf8Validator::new(),
            deflate: deflate.map(|(p, level)| Deflate::new(&p, role == Role::Server, level)),
            events: VecDeque::new(),
            transmit: Vec::new(),
            queued_control: 0,
            mask_keys: RandomState::new(),
            mask_counter: 0,
            fragments: false,
            fragment_first: false,
            frame_inflated: 0,
            sending: None,
            out_utf8: Utf8Validator::new(),
        }
    }

    /// Hands data out as it arrives, in [`Event::Fragment`]s, instead of
    /// reassembled messages: for messages too large to hold. A piece is
    /// what one read brought of a frame (inflated, if compressed);
    /// [`Limits::max_message`] then bounds each frame (after inflating),
    /// not the message.
    ///
    /// ```
    /// use tetsuo_proto::ws::{Connection, Event, Limits, Role};
    ///
    /// let mut client = Connection::new(Role::Client, Limits::default(), None);
    /// let mut server =
    ///     Connection::new(Role::Server, Limits::default(), None).with_fragments(true);
    /// client.send_text("hello").unwrap();
    /// let mut wire = Vec::new();
    /// client.poll_transmit(&mut wire);
    /// server.handle_input(&wire[..9]).unwrap(); // the header and "hel"
    /// server.handle_input(&wire[9..]).unwrap();
    /// let pieces: Vec<_> = std::iter::from_fn(|| server.poll_event())
    ///     .map(|e| match e {
    ///         Event::Fragment(f) => (f.first, f.fin, f.data),
    ///         other => panic!("{other:?}"),
    ///     })
    ///     .collect();
    /// assert_eq!(pieces, [(true, false, "hel".into()), (false, true, "lo".into())]);
    /// ```
    pub fn with_fragments(mut self, on: bool) -> Connection {
        self.fragments = on;
        self
    }

    /// The side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the closing handshake is over (or the connection failed):
    /// after sending what [`poll_transmit`](Self::poll_transmit) gives, close
    /// the transport.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True if a message can still be sent.
    pub fn can_send(&self) -> bool {
        matches!(
            self.state,
            State::Open | State::CloseReceived { .. } | State::Failing { .. }
        )
    }

    /// The next event. Taking the peer's [`Event::Close`] queues our
    /// answering close frame; after a violation, the close frame is queued
    /// when no event is left.
    pub fn poll_event(&mut self) -> Option<Event> {
        let Some(event) = self.events.pop_front() else {
            // Every message before a violation was taken (and perhaps
            // answered): now the close frame.
            if let State::Failing { code } = self.state {
                self.write_frame(Opcode::Close, false, true, &code.0.to_be_bytes());
                self.state = State::Closed;
            }
            return None;
        };
        if let (Event::Close(_), State::CloseReceived { echo }) = (&event, self.state) {
            // Echo the code (RFC 6455 §5.5.1).
            let code = echo.map(|c| c.0.to_be_bytes());
            self.write_frame(
                Opcode::Close,
                false,
                true,
                code.as_ref().map_or(&[][..], |c| &c[..]),
            );
            self.state = State::Closed;
        }
        Some(event)
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

    /// Bytes waiting in [`poll_transmit`](Self::poll_transmit).
    pub fn pending_transmit(&self) -> usize {
        self.transmit.len()
    }

    /// Bytes received and not yet processed (a partial frame).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Gives back the memory of empty buffers (for an idle connection).
    pub fn release_buffers(&mut self) {
        if self.input.is_empty() {
            self.input = BytesMut::new();
        }
        if self.payload.is_empty() {
            self.payload = BytesMut::new();
        }
        if self.transmit.is_empty() {
            self.transmit = Vec::new();
        }
        if self.control.is_empty() {
            self.control = Vec::new();
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        self.mask_counter = self.mask_counter.wrapping_add(1);
        (self.mask_keys.hash_one(self.mask_counter) as u32).to_ne_bytes()
    }

    fn write_frame(&mut self, opcode: Opcode, rsv1: bool, fin: bool, payload: &[u8]) {
        let mask = (self.role == Role::Client).then(|| self.next_mask());
        FrameHeader {
            fin,
            rsv1,
            rsv23: false,
            opcode,
            mask,
            len: payload.len() as u64,
        }
        .encode(&mut self.transmit);
        let start = self.transmit.len();
        self.transmit.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.transmit[start..], key, 0);
        }
    }

    fn ready_to_send(&self) -> Result<(), SendError> {
        if self.can_send() {
            Ok(())
        } else {
            Err(SendError::Closing)
        }
    }

    fn send_data(&mut self, opcode: Opcode, data: &[u8]) -> Result<(), SendError> {
        self.ready_to_send()?;
        if self.sending.is_some() {
            return Err(SendError::OutOfOrder);
        }
        match self.deflate.as_mut() {
            Some(deflate) => {
                let mut compressed = Vec::with_capacity(data.len() / 2 + 16);
                deflate.compress(data, &mut compressed);
                self.write_frame(opcode, true, true, &compressed);
            }
            None => self.write_frame(opcode, false, true, data),
        }
        Ok(())
    }

    /// Queues a text message (compressed if deflate was agreed). Refused
    /// after the closing handshake began, and while a message sent in
    /// fragments is unfinished.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_data(Opcode::Text, text.as_bytes())
    }

    /// Queues a binary message (refused as [`send_text`](Self::send_text)).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_data(Opcode::Binary, data)
    }

    /// Queues one frame of a message sent in pieces, for messages too large
    /// to hold: `first` starts the message (text or binary; `text` is
    /// ignored after), `fin` ends it. Pieces are compressed if deflate was
    /// agreed, as one message. Control frames may go out between them;
    /// whole messages may not. Text pieces may split a character, but
    /// together must be UTF-8 (checked here; a refused piece is not sent).
    ///
    /// ```
    /// use tetsuo_proto::ws::{Connection, Event, Limits, Role, SendError};
    ///
    /// let mut client = Connection::new(Role::Client, Limits::default(), None);
    /// let mut server = Connection::new(Role::Server, Limits::default(), None);
    /// client.send_fragment(true, true, false, "hé".as_bytes()[..2].as_ref()).unwrap();
    /// assert_eq!(client.send_text("not now"), Err(SendError::OutOfOrder));
    /// client.send_ping(b"between").unwrap();
    /// client.send_fragment(true, false, true, &"hé".as_bytes()[2..]).unwrap();
    /// let mut wire = Vec::new();
    /// client.poll_transmit(&mut wire);
    /// server.handle_input(&wire).unwrap();
    /// assert_eq!(server.poll_event(), Some(Event::Ping("between".into())));
    /// assert_eq!(server.poll_event(), Some(Event::Text("hé".into())));
    /// ```
    pub fn send_fragment(
        &mut self,
        text: bool,
        first: bool,
        fin: bool,
        data: &[u8],
    ) -> Result<(), SendError> {
        self.ready_to_send()?;
        let text = match (first, self.sending) {
            (true, None) => {
                self.out_utf8 = Utf8Validator::new();
                text
            }
            (false, Some(text)) => text,
            _ => return Err(SendError::OutOfOrder),
        };
        if text {
            // Checked on a copy: a refused piece leaves the state as it was.
            let mut check = self.out_utf8.clone();
            if !check.feed(data) || (fin && !check.is_complete()) {
                return Err(SendError::InvalidUtf8);
            }
            self.out_utf8 = check;
        }
        let opcode = match (first, text) {
            (false, _) => Opcode::Continuation,
            (true, true) => Opcode::Text,
            (true, false) => Opcode::Binary,
        };
        match self.deflate.as_mut() {
            Some(deflate) => {
                let mut compressed = Vec::with_capacity(data.len() / 2 + 16);
                deflate.compress_part(data, &mut compressed, fin);
                self.write_frame(opcode, first, fin, &compressed);
            }
            None => self.write_frame(opcode, false, fin, data),
        }
        self.sending = if fin { None } else { Some(text) };
        Ok(())
    }

    /// Queues a ping (payload truncated to 125 bytes).
    pub fn send_ping(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.ready_to_send()?;
        self.write_frame(Opcode::Ping, false, true, &data[..data.len().min(125)]);
        Ok(())
    }

    /// Queues an unsolicited pong (a one-way heartbeat; payload truncated
    /// to 125 bytes).
    pub fn send_pong(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.ready_to_send()?;
        self.write_frame(Opcode::Pong, false, true, &data[..data.len().min(125)]);
        Ok(())
    }

    /// Starts the closing handshake with `code` and `reason` (cut to 123
    /// bytes at a character boundary). Further messages are refused.
    ///
    /// A code that may not be sent (1005, 1006, 1015, ...) sends a close
    /// frame without a code. After the peer's close frame arrived, this is
    /// the answer (and the connection is closed).
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        let answering = matches!(self.state, State::CloseReceived { .. });
        if !(self.state == State::Open || answering) {
            return;
        }
        let mut payload = Vec::new();
        if code.is_sendable() {
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&code.0.to_be_bytes());
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        self.write_frame(Opcode::Close, false, true, &payload);
        self.state = if answering {
            State::Closed
        } else {
            State::CloseSent
        };
    }

    /// Fails the connection and stops reading: a close frame with the
    /// error's code (if none was sent) is queued now, or, if messages that
    /// arrived before the violation are still waiting, once they are taken.
    fn fail(&mut self, e: Error) -> Error {
        let code = e.close_code();
        self.state = match self.state {
            State::Open if !self.events.is_empty() => State::Failing { code },
            State::Open => {
                self.write_frame(Opcode::Close, false, true, &code.0.to_be_bytes());
                State::Closed
            }
            _ => State::Closed,
        };
        self.input.clear();
        e
    }

    /// Feeds bytes from the peer. Complete messages and control frames
    /// become events; a protocol violation fails the connection (its close
    /// frame is queued) and is returned.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), Error> {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return Ok(());
        }
        self.input.extend_from_slice(data);
        match self.process() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn process(&mut self) -> Result<(), Error> {
        loop {
            if !matches!(self.state, State::Open | State::CloseSent) {
                self.input.clear();
                return Ok(());
            }
            let incoming = match self.incoming {
                Some(incoming) => incoming,
                None => {
                    let Some((header, len)) = FrameHeader::parse(&self.input)? else {
                        return Ok(());
                    };
                    self.check(&header)?;
                    self.input.advance(len);
                    self.frame_inflated = 0;
                    // A whole unfragmented frame already here: no copy.
                    if header.fin
                        && !self.fragments
                        && !header.opcode.is_control()
                        && header.opcode != Opcode::Continuation
                        && !header.rsv1
                        && self.input.len() as u64 >= header.len
                    {
                        let mut payload = self.input.split_to(header.len as usize);
                        if let Some(key) = header.mask {
                            apply_mask(&mut payload, key, 0);
                        }
                        self.deliver(header.opcode, payload.freeze())?;
                        continue;
                    }
                    if header.opcode != Opcode::Continuation && !header.opcode.is_control() {
                        self.message = Some((header.opcode, header.rsv1));
                        self.utf8 = Utf8Validator::new();
                        self.fragment_first = true;
                    }
                    Incoming { header, seen: 0 }
                }
            };
            let left = incoming.header.len - incoming.seen;
            let n = left.min(self.input.len() as u64) as usize;
            if n == 0 && left > 0 {
                self.incoming = Some(incoming);
                return Ok(());
            }
            let mut chunk = self.input.split_to(n);
            if let Some(key) = incoming.header.mask {
                apply_mask(&mut chunk, key, incoming.seen as usize);
            }
            if incoming.header.opcode.is_control() {
                self.control.extend_from_slice(&chunk);
            } else if self.fragments {
                let last = incoming.header.fin && incoming.seen + n as u64 == incoming.header.len;
                self.deliver_piece(chunk.freeze(), last)?;
            } else {
                if let Some((Opcode::Text, false)) = self.message
                    && !self.utf8.feed(&chunk)
                {
                    return Err(Error::InvalidUtf8);
                }
                self.payload.extend_from_slice(&chunk);
            }
            let incoming = Incoming {
                seen: incoming.seen + n as u64,
                ..incoming
            };
            if incoming.seen < incoming.header.len {
                self.incoming = Some(incoming);
                return Ok(());
            }
            self.incoming = None;
            self.frame_done(incoming.header)?;
        }
    }

    /// The rules a frame header must follow before its payload is read.
    fn check(&self, h: &FrameHeader) -> Result<(), Error> {
        if h.rsv23 {
            return Err(Error::ReservedBits);
        }
        let masked = h.mask.is_some();
        if masked != (self.role == Role::Server) {
            return Err(Error::BadMasking);
        }
        if h.opcode.is_control() {
            if !h.fin || h.len > 125 {
                return Err(Error::BadControlFrame);
            }
            if h.rsv1 {
                return Err(Error::ReservedBits);
            }
            return Ok(());
        }
        match (h.opcode, self.message) {
            (Opcode::Continuation, None) => return Err(Error::BadFragmentation),
            (Opcode::Continuation, Some(_)) if h.rsv1 => return Err(Error::ReservedBits),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(Error::BadFragmentation),
            _ => {}
        }
        if h.rsv1 && self.deflate.is_none() {
            return Err(Error::ReservedBits);
        }
        if h.len > self.limits.max_frame as u64 {
            return Err(Error::FrameTooBig);
        }
        if self.payload.len() as u64 + h.len > self.limits.max_message as u64 {
            return Err(Error::MessageTooBig);
        }
        Ok(())
    }

    fn frame_done(&mut self, h: FrameHeader) -> Result<(), Error> {
        if h.opcode.is_control() {
            let payload = std::mem::take(&mut self.control);
            return self.control_frame(h.opcode, payload);
        }
        if !h.fin || self.fragments {
            // Pieces were handed out as they came.
            return Ok(());
        }
        let Some((opcode, compressed)) = self.message.take() else {
            return Err(Error::BadFragmentation);
        };
        let raw = std::mem::take(&mut self.payload);
        let payload = if compressed && raw.is_empty() {
            // Nothing to inflate (the tail alone is not a valid block):
            // an empty message, the decompressor untouched.
            Bytes::new()
        } else if compressed {
            let deflate = self.deflate.as_mut().ok_or(Error::ReservedBits)?;
            let mut out = Vec::new();
            deflate.decompress(&raw, &mut out, self.limits.max_message)?;
            Bytes::from(out)
        } else {
            if opcode == Opcode::Text && !self.utf8.is_complete() {
                return Err(Error::InvalidUtf8);
            }
            raw.freeze()
        };
        self.deliver(opcode, payload)
    }

    /// Hands out a piece of the incoming message (`last`: its end).
    fn deliver_piece(&mut self, raw: Bytes, last: bool) -> Result<(), Error> {
        let Some((opcode, compressed)) = self.message else {
            return Err(Error::BadFragmentation);
        };
        let data = if compressed {
            let deflate = self.deflate.as_mut().ok_or(Error::ReservedBits)?;
            let mut out = Vec::new();
            let room = self.limits.max_message - self.frame_inflated;
            deflate.decompress_part(&raw, &mut out, room, last)?;
            self.frame_inflated += out.len();
            Bytes::from(out)
        } else {
            raw
        };
        if opcode == Opcode::Text && !(self.utf8.feed(&data) && (!last || self.utf8.is_complete()))
        {
            return Err(Error::InvalidUtf8);
        }
        if last {
            self.message = None;
        } else if data.is_empty() {
            return Ok(());
        }
        let first = std::mem::replace(&mut self.fragment_first, false);
        self.events.push_back(Event::Fragment(Fragment {
            text: opcode == Opcode::Text,
            first,
            fin: last,
            data,
        }));
        Ok(())
    }

    /// Delivers a whole message (text is checked whole here; the cost is
    /// small next to copying it).
    fn deliver(&mut self, opcode: Opcode, payload: Bytes) -> Result<(), Error> {
        let event = match opcode {
            Opcode::Text => {
                Event::Text(String::from_utf8(Vec::from(payload)).map_err(|_| Error::InvalidUtf8)?)
            }
            _ => Event::Binary(payload),
        };
        self.events.push_back(event);
        Ok(())
    }

    fn control_frame(&mut self, opcode: Opcode, payload: Vec<u8>) -> Result<(), Error> {
        match opcode {
            Opcode::Ping => {
                if self.state == State::Open {
                    self.queued_control += 1;
                    if self.queued_control > self.limits.max_queued_control {
                        return Err(Error::ControlFlood);
                    }
                    self.write_frame(Opcode::Pong, false, true, &payload);
                }
                self.events.push_back(Event::Ping(Bytes::from(payload)));
            }
            Opcode::Pong => self.events.push_back(Event::Pong(Bytes::from(payload))),
            _ => {
                let frame = match payload.len() {
                    0 => None,
                    1 => return Err(Error::BadCloseFrame),
                    _ => {
                        let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                        if !code.is_sendable() {
                            return Err(Error::BadCloseFrame);
                        }
                        let reason = String::from_utf8(payload[2..].to_vec())
                            .map_err(|_| Error::InvalidUtf8)?;
                        Some(CloseFrame { code, reason })
                    }
                };
                self.state = match self.state {
                    // Answered when the application takes the event.
                    State::Open => State::CloseReceived {
                        echo: frame.as_ref().map(|f| f.code),
                    },
                    _ => State::Closed,
                };
                self.events.push_back(Event::Close(frame));
            }
        }
        Ok(())
    }
}
