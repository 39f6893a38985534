//! Receiving: the frames from the peer, each checked and turned into
//! events, with the limits that stop abuse.

use super::*;

impl Connection {
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

    pub(super) fn frame_error(&mut self, e: FrameError) -> Result<(), Error> {
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

    pub(super) fn fail(&mut self, code: ErrorCode, reason: &'static str) -> Error {
        frame::encode_goaway(self.last_peer, code, reason.as_bytes(), &mut self.transmit);
        self.state = State::Failed;
        self.input.clear();
        Error { code, reason }
    }

    pub(super) fn calm(&mut self, reason: &'static str) -> Error {
        self.fail(ErrorCode::ENHANCE_YOUR_CALM, reason)
    }

    /// A frame that does no work.
    pub(super) fn idle_frame(&mut self) -> Result<(), Error> {
        self.idle_frames += 1;
        if self.idle_frames > self.config.limits.max_idle_frames {
            return Err(self.calm("too many frames without work"));
        }
        Ok(())
    }

    pub(super) fn control_queued(&mut self) -> Result<(), Error> {
        self.queued_control += 1;
        if self.queued_control > self.config.limits.max_queued_control {
            return Err(self.calm("too many answers queued unread"));
        }
        Ok(())
    }

    pub(super) fn handle_frame(&mut self, f: Frame) -> Result<(), Error> {
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
    pub(super) fn peer_initiated(&self, stream: StreamId) -> bool {
        (stream % 2 == 1) == (self.role == Role::Server)
    }

    /// A stream we no longer know: idle (never opened) or closed.
    pub(super) fn is_idle(&self, stream: StreamId) -> bool {
        if self.peer_initiated(stream) {
            stream > self.last_peer
        } else {
            stream >= self.next_local
        }
    }

    pub(super) fn data(
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
    pub(super) fn closed_stream_frame(&mut self, stream: StreamId) -> Result<(), Error> {
        // Streams the peer opened past our final GOAWAY are ignored, and so
        // is what follows on them (RFC 9113 §6.8).
        let past_goaway =
            self.peer_initiated(stream) && self.goaway_sent.is_some_and(|last| stream > last);
        if past_goaway || self.recently_reset.contains(&stream) {
            return Ok(());
        }
        self.local_error_reset(stream, ErrorCode::STREAM_CLOSED)
    }

    pub(super) fn headers(&mut self, h: Headers) -> Result<(), Error> {
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

    pub(super) fn continuation(&mut self, end_headers: bool, fragment: Bytes) -> Result<(), Error> {
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
    pub(super) fn decode(
        &mut self,
        block: &Bytes,
        fields: &mut Vec<hpack::Field>,
    ) -> Result<bool, Error> {
        fields.clear();
        match self.decoder.decode(block, fields) {
            Ok(()) => Ok(true),
            Err(hpack::Error::HeaderListTooLarge) => Ok(false),
            Err(_) => Err(self.fail(ErrorCode::COMPRESSION_ERROR, "field block does not decode")),
        }
    }

    pub(super) fn block_done(&mut self) -> Result<(), Error> {
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
    pub(super) fn new_peer_stream(
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
    pub(super) fn head(
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
    pub(super) fn body_begins(
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
    pub(super) fn body_headers(
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
    pub(super) fn too_large(&mut self, stream: StreamId) -> Result<(), Error> {
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

    pub(super) fn push_promise_frame(
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

    pub(super) fn promise_done(
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

    pub(super) fn rst_stream(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), Error> {
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

    pub(super) fn settings(&mut self, ack: bool, s: Settings) -> Result<(), Error> {
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

    pub(super) fn ready(&mut self, streams: Vec<StreamId>) {
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

    pub(super) fn ping_frame(&mut self, ack: bool, payload: [u8; 8]) -> Result<(), Error> {
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

    pub(super) fn goaway(
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

    pub(super) fn window_update(&mut self, stream: StreamId, increment: u32) -> Result<(), Error> {
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
}
