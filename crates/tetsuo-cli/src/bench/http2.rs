//! HTTP/2 on one connection with up to `-m` requests in flight, driven by
//! the sans-I/O `tetsuo_proto::h2` client: streams opened as others end,
//! frames written in one batch per round, input fed as it arrives.

use std::cell::RefCell;

use bytes::BytesMut;
use tetsuo_proto::h2::{Config, Connection, ErrorCode, Event, Role, StreamId, StreamMap};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::Instant;

use super::{Ended, Pacer, Plan, Tally};

/// A request in flight.
struct InFlight {
    since: Instant,
    status: u16,
    /// Body bytes still to send (flow control may hold them back).
    body_sent: usize,
}

pub(super) async fn run<S>(
    plan: &Plan,
    mut io: S,
    pacer: &mut Pacer,
    tally: &RefCell<Tally>,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Large windows: the benchmark measures the server, not window
    // updates.
    let mut config = Config::default();
    config.initial_window_size = 8 << 20;
    config.connection_window_size = 64 << 20;
    let mut conn = Connection::new(Role::Client, config);
    let body = plan.body();
    let mut out = Vec::with_capacity(16 * 1024);
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut flight: StreamMap<InFlight> = StreamMap::default();
    let mut stopping = false;
    let mut going_away = false;
    loop {
        // Open streams up to -m (and what the server allows), when due.
        while !stopping
            && !going_away
            && flight.len() < plan.streams()
            && conn.peer_settings_received()
            && conn.can_open_stream()
        {
            if pacer.peek().is_some_and(|due| due > Instant::now()) {
                break;
            }
            // Due now: this does not wait.
            let since = pacer.due(plan).await;
            if !plan.permit() {
                stopping = true;
                break;
            }
            let Ok(id) = conn.send_request(plan.parts(), body.is_empty()) else {
                return Ended::Failed("protocol");
            };
            let mut request = InFlight {
                since,
                status: 0,
                body_sent: 0,
            };
            if !body.is_empty() {
                match conn.send_data(id, body, true) {
                    Ok(n) => request.body_sent = n,
                    Err(_) => return Ended::Failed("protocol"),
                }
            }
            flight.insert(id, request);
        }
        if (stopping || plan.stopped()) && flight.is_empty() {
            return Ended::Stop;
        }
        if going_away && flight.is_empty() {
            return Ended::Closed;
        }
        conn.poll_transmit(&mut out);
        if !out.is_empty() {
            // Flushed too: TLS may hold records back.
            let write = async {
                io.write_all(&out).await?;
                io.flush().await
            };
            match tokio::time::timeout(plan.timeout(), write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ended::Failed("write"),
                Err(_) => return Ended::Failed("timeout"),
            }
            tally.borrow_mut().written += out.len() as u64;
            out.clear();
        }
        if conn.is_closed() {
            return Ended::Failed("protocol");
        }
        // Input, or the next request's due time (open loop).
        let wake = if !stopping && !going_away && flight.len() < plan.streams() {
            pacer.peek()
        } else {
            None
        };
        let waited = match wake {
            Some(due) => {
                let due = plan.deadline.map_or(due, |d| d.min(due));
                tokio::select! {
                    r = io.read_buf(&mut input) => Some(r),
                    _ = tokio::time::sleep_until(due) => None,
                }
            }
            None => {
                // Nothing in flight: wait no later than the end of the run.
                let wait = if flight.is_empty() {
                    plan.idle_wait()
                } else {
                    plan.timeout()
                };
                match tokio::time::timeout(wait, io.read_buf(&mut input)).await {
                    Ok(r) => Some(r),
                    // A server that never sends its settings.
                    Err(_) if !conn.peer_settings_received() && !plan.stopped() => {
                        return Ended::Failed("timeout");
                    }
                    Err(_) if flight.is_empty() => None,
                    Err(_) => return Ended::Failed("timeout"),
                }
            }
        };
        match waited {
            None => continue,
            Some(Ok(0)) => {
                return if flight.is_empty() {
                    Ended::Closed
                } else {
                    Ended::Failed("closed")
                };
            }
            Some(Ok(n)) => tally.borrow_mut().read += n as u64,
            Some(Err(_)) => return Ended::Failed("read"),
        }
        let fed = conn.handle_input(&input);
        input.clear();
        if fed.is_err() {
            return Ended::Failed("protocol");
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Response {
                    stream,
                    head,
                    end_stream,
                } => {
                    if head.status.is_informational() {
                        continue;
                    }
                    if let Some(r) = flight.get_mut(&stream) {
                        r.status = head.status.as_u16();
                    }
                    if end_stream {
                        finish(&mut conn, &mut flight, stream, body.len(), tally);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    conn.release_capacity(stream, data.len());
                    if end_stream {
                        finish(&mut conn, &mut flight, stream, body.len(), tally);
                    }
                }
                Event::Trailers { stream, .. } => {
                    finish(&mut conn, &mut flight, stream, body.len(), tally);
                }
                Event::Reset { stream, .. } if flight.remove(&stream).is_some() => {
                    tally.borrow_mut().error("reset");
                }
                Event::SendReady { stream } => {
                    if let Some(r) = flight.get_mut(&stream)
                        && r.body_sent < body.len()
                    {
                        match conn.send_data(stream, &body[r.body_sent..], true) {
                            Ok(n) => r.body_sent += n,
                            Err(_) => return Ended::Failed("protocol"),
                        }
                    }
                }
                Event::GoAway { .. } => going_away = true,
                _ => {}
            }
        }
    }
}

/// A response is complete: counted, and the stream cancelled if the
/// server answered before our body was all sent.
fn finish(
    conn: &mut Connection,
    flight: &mut StreamMap<InFlight>,
    stream: StreamId,
    body_len: usize,
    tally: &RefCell<Tally>,
) {
    if let Some(r) = flight.remove(&stream) {
        if r.body_sent < body_len {
            conn.reset(stream, ErrorCode::CANCEL);
        }
        tally
            .borrow_mut()
            .done(r.since, (200..400).contains(&r.status));
    }
}
