//! A WebSocket chat server: rooms, nicknames, the last messages of each room
//! for newcomers (`--history`, 50; a room and its history last while
//! someone is in it), a browser page embedded in the binary, limits per
//! client IP and a graceful drain.
//!
//! ```sh
//! cargo run --example chat -- --listen 127.0.0.1:8080
//! # open http://127.0.0.1:8080/ in two browser tabs, or:
//! cargo run --example ws-client -- 'ws://127.0.0.1:8080/ws?room=lobby&nick=alice'
//! ```
//!
//! The protocol: connect to `/ws?room=ROOM&nick=NICK` (letters, digits, `-`
//! and `_`, up to 24). Every text message is said in the room, except the
//! commands `/nick NAME`, `/join ROOM` and `/who`. The server sends JSON
//! objects with a `kind`: `welcome` (your nick and room), `history`,
//! `message`, `system`, `who`, `error`.
//!
//! Limits: `--max-per-ip` chat connections per client IP (default 4) and
//! 10 000 in all (more are refused with 429), new connections per IP
//! rate-limited by the HTTP server, messages of at most 4 KiB (larger ones
//! close with 1009), 5 messages per second with bursts of 10 per
//! connection ("slow down" beyond), a client 64 messages behind its room is
//! closed with 1008, and one that takes over 10 s to take a message is
//! dropped.
//! Ctrl-C or SIGTERM drains: the listener closes, every chatter gets a
//! 1001 close frame, and the process exits once they are gone (5 s at most).

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use serde::Serialize;
use tetsuo::http::server::{ClientAddr, Server};
use tetsuo::http::{Body, service_fn};
use tetsuo::ws::{CloseCode, Message, ServerConfig, WebSocket};
use tokio::sync::{mpsc, watch};

const PAGE: &str = include_str!("page.html");
/// Messages a slow client may fall behind before it is dropped.
const QUEUE: usize = 64;
/// The longest one message may take to go out to a client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Chat connections the server holds at once, from all addresses.
const MAX_CHATTERS: usize = 10_000;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let (mut history, mut max_per_ip) = (50, 4);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value.parse()?,
            "--history" => history = value.parse()?,
            "--max-per-ip" => max_per_ip = value.parse()?,
            _ => {
                return Err(
                    format!("unknown flag {flag}: --listen, --history, --max-per-ip").into(),
                );
            }
        }
    }

    let (shutdown, _) = watch::channel(false);
    let chat = Arc::new(Chat {
        state: Mutex::default(),
        history,
        max_per_ip,
        shutdown,
    });
    let server = Server::builder()
        .connection_rate_per_ip(10.0, 20)
        .header_read_timeout(Some(Duration::from_secs(5)))
        .build();
    let handle = server.handle();
    let service = service_fn({
        let chat = chat.clone();
        move |req| {
            let chat = chat.clone();
            async move { Ok::<_, Infallible>(chat.route(req)) }
        }
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tokio::spawn(async move { server.serve_tcp(listener, service).await });

    shutdown_signal().await;
    println!("draining");
    // The listener closes and HTTP requests finish; the chatters, whose
    // connections left the HTTP server at the upgrade, are told to go.
    let (report, left) = tokio::join!(
        handle.shutdown(Duration::from_secs(5)),
        chat.drain(Duration::from_secs(5))
    );
    println!(
        "drained in {:?}: {left} chatters still connected",
        report.elapsed
    );
    Ok(())
}

struct Chat {
    state: Mutex<State>,
    history: usize,
    max_per_ip: usize,
    /// Becomes true when the server drains.
    shutdown: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Room>,
    nicks: HashSet<String>,
    per_ip: HashMap<IpAddr, usize>,
    next_id: u64,
}

#[derive(Default)]
struct Room {
    members: HashMap<u64, Member>,
    /// The last messages, already serialized.
    history: VecDeque<Arc<str>>,
}

struct Member {
    nick: String,
    tx: mpsc::Sender<Arc<str>>,
}

/// What the server sends, as JSON.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Event<'a> {
    Welcome {
        nick: &'a str,
        room: &'a str,
    },
    History {
        room: &'a str,
        messages: Vec<serde_json::Value>,
    },
    Message {
        room: &'a str,
        nick: &'a str,
        text: &'a str,
        at: u64,
    },
    System {
        room: &'a str,
        text: &'a str,
    },
    Who {
        room: &'a str,
        nicks: Vec<&'a str>,
    },
    Error {
        text: &'a str,
    },
}

impl Event<'_> {
    fn json(&self) -> Arc<str> {
        serde_json::to_string(self)
            .expect("events serialize")
            .into()
    }
}

impl Chat {
    fn route(self: &Arc<Self>, mut req: Request<Body>) -> Response<Body> {
        match req.uri().path() {
            "/" => {
                let mut res = Response::new(Body::from(PAGE));
                res.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                res
            }
            "/ws" => {
                let query = req.uri().query().unwrap_or("");
                let (Some(room), Some(nick)) = (param(query, "room"), param(query, "nick")) else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "room and nick: 1 to 24 letters, digits, - or _\n",
                    );
                };
                let ip = req.extensions().get::<ClientAddr>().map(|a| a.0.ip());
                let ip = ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
                // Released on every way out, by the seat's Drop.
                let Some(seat) = Seat::take(self, ip) else {
                    return text(StatusCode::TOO_MANY_REQUESTS, "too many chat connections\n");
                };
                let mut config = ServerConfig::default();
                config.ws.limits.max_message = 4096;
                config.ws.limits.max_frame = 4096;
                // Browsers that vanish without a close are noticed.
                config.ws.ping_interval = Some(Duration::from_secs(30));
                match tetsuo::ws::upgrade(&mut req, &config) {
                    Ok((response, pending)) => {
                        tokio::spawn(async move {
                            match pending.await {
                                Ok(ws) => seat.session(ws, &room, &nick).await,
                                Err(e) => eprintln!("{ip}: upgrade: {e}"),
                            }
                        });
                        response
                    }
                    Err(refusal) => refusal,
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Tells every session to close, then waits (up to `grace`) for them to
    /// be gone; returns how many are left.
    async fn drain(&self, grace: Duration) -> usize {
        self.shutdown.send_replace(true);
        let deadline = Instant::now() + grace;
        loop {
            let left = self.state.lock().unwrap().per_ip.values().sum();
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One chat connection's hold on the server: its place in the per-IP count
/// and, once it has one, its nickname. Dropping it gives both back.
struct Seat {
    chat: Arc<Chat>,
    ip: IpAddr,
    nick: Option<String>,
}

impl Seat {
    /// A place for `ip`, unless it has `max_per_ip` already or the server
    /// holds `MAX_CHATTERS`.
    fn take(chat: &Arc<Chat>, ip: IpAddr) -> Option<Seat> {
        let mut state = chat.state.lock().unwrap();
        let total: usize = state.per_ip.values().sum();
        let n = state.per_ip.entry(ip).or_insert(0);
        if *n >= chat.max_per_ip || total >= MAX_CHATTERS {
            return None;
        }
        *n += 1;
        Some(Seat {
            chat: chat.clone(),
            ip,
            nick: None,
        })
    }

    /// One chatter, from welcome to goodbye.
    async fn session(mut self, mut ws: WebSocket, room: &str, nick: &str) {
        let chat = self.chat.clone();
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let mut shutdown = chat.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            let _ = ws
                .close(CloseCode::GOING_AWAY, "server shutting down")
                .await;
            return;
        }
        let nick = self.claim_nick(nick);
        // The room holds the only sender: when it drops a member that fell
        // behind, `rx` ends.
        let id = chat.join(room, &nick, tx);
        let mut room = room.to_owned();
        let mut bucket = Bucket::new(5.0, 10.0);
        let close = loop {
            tokio::select! {
                _ = shutdown.changed() => break Some((CloseCode::GOING_AWAY, "server shutting down")),
                out = rx.recv() => match out {
                    Some(json) => if !send(&mut ws, json).await { break None },
                    // Dropped from the room for falling behind.
                    None => break Some((CloseCode::POLICY, "too slow")),
                },
                msg = ws.recv() => match msg {
                    Some(Ok(Message::Text(line))) => {
                        let reply = match bucket.take() {
                            true => self.command(id, &mut room, line.trim()),
                            false => Some(Event::Error { text: "slow down" }.json()),
                        };
                        if let Some(reply) = reply && !send(&mut ws, reply).await {
                            break None;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break Some((CloseCode::UNSUPPORTED, "text only")),
                    Some(Ok(_)) => {} // pings, pongs: handled by the WebSocket
                    // The client closed (its close frame was answered), or failed.
                    Some(Err(_)) | None => break None,
                },
            }
        };
        let nick = self.nick.clone().unwrap_or_default();
        chat.leave(id, &nick, &room);
        if let Some((code, reason)) = close {
            let _ = tokio::time::timeout(SEND_TIMEOUT, ws.close(code, reason)).await;
        }
    }

    /// Takes `nick`, or the first free `nick2`, `nick3`... (kept within 24
    /// characters).
    fn claim_nick(&mut self, nick: &str) -> String {
        let mut state = self.chat.state.lock().unwrap();
        let mut name = nick.to_owned();
        let mut n = 1;
        while !state.nicks.insert(name.clone()) {
            n += 1;
            let suffix = n.to_string();
            name = format!("{}{suffix}", &nick[..nick.len().min(24 - suffix.len())]);
        }
        self.nick = Some(name.clone());
        name
    }

    /// Runs one line of a chatter; returns the answer for it alone, if any.
    fn command(&mut self, id: u64, room: &mut String, line: &str) -> Option<Arc<str>> {
        let nick = self.nick.clone().unwrap_or_default();
        if let Some(new) = line.strip_prefix("/nick ") {
            let Some(new) = valid(new.trim()) else {
                return Some(
                    Event::Error {
                        text: "a nickname is 1 to 24 letters, digits, - or _",
                    }
                    .json(),
                );
            };
            if new != nick && !self.chat.rename(id, &nick, room, &new) {
                return Some(
                    Event::Error {
                        text: "that nickname is taken",
                    }
                    .json(),
                );
            }
            self.nick = Some(new.clone());
            return Some(Event::Welcome { nick: &new, room }.json());
        }
        if let Some(to) = line.strip_prefix("/join ") {
            let Some(to) = valid(to.trim()) else {
                return Some(
                    Event::Error {
                        text: "a room name is 1 to 24 letters, digits, - or _",
                    }
                    .json(),
                );
            };
            // Moves our queue to the other room (unless we were dropped).
            if let Some(tx) = self.chat.leave(id, &nick, room) {
                self.chat.join_as(id, &to, &nick, tx);
                *room = to;
            }
            return None;
        }
        if line == "/who" {
            let state = self.chat.state.lock().unwrap();
            let members = state.rooms.get(room.as_str()).map(|r| &r.members);
            let mut nicks: Vec<&str> = members
                .into_iter()
                .flatten()
                .map(|(_, m)| m.nick.as_str())
                .collect();
            nicks.sort_unstable();
            return Some(Event::Who { room, nicks }.json());
        }
        if line.starts_with('/') {
            return Some(
                Event::Error {
                    text: "commands: /nick NAME, /join ROOM, /who",
                }
                .json(),
            );
        }
        if !line.is_empty() {
            let at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let json = Event::Message {
                room,
                nick: &nick,
                text: line,
                at,
            }
            .json();
            let mut state = self.chat.state.lock().unwrap();
            if let Some(r) = state.rooms.get_mut(room.as_str()) {
                r.history.push_back(json.clone());
                if r.history.len() > self.chat.history {
                    r.history.pop_front();
                }
                broadcast(r, &json);
            }
        }
        None
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut state = self.chat.state.lock().unwrap();
        if let Some(nick) = &self.nick {
            state.nicks.remove(nick);
        }
        if let Some(n) = state.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                state.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Chat {
    /// Joins `room` with a fresh member id.
    fn join(&self, room: &str, nick: &str, tx: mpsc::Sender<Arc<str>>) -> u64 {
        let id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            state.next_id
        };
        self.join_as(id, room, nick, tx);
        id
    }

    /// Joins `room`: welcome, the room's history, and an announcement.
    fn join_as(&self, id: u64, room: &str, nick: &str, tx: mpsc::Sender<Arc<str>>) {
        let mut state = self.state.lock().unwrap();
        let r = state.rooms.entry(room.to_owned()).or_default();
        let history = r
            .history
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect();
        let _ = tx.try_send(Event::Welcome { nick, room }.json());
        let _ = tx.try_send(
            Event::History {
                room,
                messages: history,
            }
            .json(),
        );
        r.members.insert(
            id,
            Member {
                nick: nick.to_owned(),
                tx,
            },
        );
        broadcast(
            r,
            &Event::System {
                room,
                text: &format!("{nick} joined"),
            }
            .json(),
        );
    }

    /// Leaves the room; returns the member's queue if it was still there.
    /// The last one out takes the room and its history with it, so that
    /// memory follows the people connected.
    fn leave(&self, id: u64, nick: &str, room: &str) -> Option<mpsc::Sender<Arc<str>>> {
        let mut state = self.state.lock().unwrap();
        let r = state.rooms.get_mut(room)?;
        let member = r.members.remove(&id);
        broadcast(
            r,
            &Event::System {
                room,
                text: &format!("{nick} left"),
            }
            .json(),
        );
        if r.members.is_empty() {
            state.rooms.remove(room);
        }
        member.map(|m| m.tx)
    }

    fn rename(&self, id: u64, old: &str, room: &str, new: &str) -> bool {
        let mut state = self.state.lock().unwrap();
        if !state.nicks.insert(new.to_owned()) {
            return false;
        }
        state.nicks.remove(old);
        if let Some(r) = state.rooms.get_mut(room) {
            if let Some(m) = r.members.get_mut(&id) {
                m.nick = new.to_owned();
            }
            broadcast(
                r,
                &Event::System {
                    room,
                    text: &format!("{old} is now {new}"),
                }
                .json(),
            );
        }
        true
    }
}

/// Sends one message, within `SEND_TIMEOUT`: false if it could not go (a
/// client that stops reading is dropped, without a close frame, which
/// could not get through either).
async fn send(ws: &mut WebSocket, json: Arc<str>) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(json.to_string())).await,
        Ok(Ok(()))
    )
}

/// Sends to every member; one whose queue is full is dropped from the
/// room (its session then closes it with 1008).
fn broadcast(room: &mut Room, json: &Arc<str>) {
    room.members
        .retain(|_, m| m.tx.try_send(json.clone()).is_ok());
}

/// A query parameter that is a valid room or nickname.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(valid)
}

fn valid(name: &str) -> Option<String> {
    let ok = (1..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| name.to_owned())
}

/// A token bucket: `rate` per second, up to `burst`.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        Bucket {
            tokens: burst,
            rate,
            burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
