//! Sending: heads, data, trailers, pushes, resets, flow control given
//! back, and shutdown.

use super::*;

impl Connection {
    /// Encodes a field block with `encode` (into the kept buffer) and
    /// queues it as HEADERS on `stream`, or as the PUSH_PROMISE of
    /// `promised`, with CONTINUATIONs as the peer's frame size requires.
    fn send_block(
        &mut self,
        stream: StreamId,
        promised: Option<StreamId>,
        end_stream: bool,
        encode: impl FnOnce(&mut hpack::Encoder, &mut Vec<u8>) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        let encoded = encode(&mut self.encoder, &mut block);
        if encoded.is_ok() {
            match promised {
                None => frame::encode_headers(
                    stream,
                    &block,
                    end_stream,
                    self.peer_max_frame,
                    &mut self.transmit,
                ),
                Some(promised) => frame::encode_push_promise(
                    stream,
                    promised,
                    &block,
                    self.peer_max_frame,
                    &mut self.transmit,
                ),
            }
        }
        self.block = block;
        encoded
    }

    pub(super) fn check_open(&self) -> Result<(), SendError> {
        if self.state == State::Failed {
            return Err(SendError::ConnectionClosed);
        }
        Ok(())
    }

    pub(super) fn new_local_stream(&mut self) -> Result<StreamId, SendError> {
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

    pub(super) fn insert_stream(&mut self, id: StreamId, remote: bool, recv: Recv) {
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
        self.send_block(id, None, end_stream, |encoder, block| {
            headers::encode_request(head, encoder, block).map_err(|_| SendError::NoAuthority)
        })?;
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
        self.send_block(stream, None, end_stream, |encoder, block| {
            headers::encode_response(head, encoder, block);
            Ok(())
        })?;
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
        self.send_block(stream, None, true, |encoder, block| {
            headers::encode_trailers(trailers, encoder, block);
            Ok(())
        })?;
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
        self.send_block(stream, Some(promised), false, |encoder, block| {
            headers::encode_request(head, encoder, block).map_err(|_| SendError::NoAuthority)
        })?;
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
}
