//! A WebSocket chat server: rooms, nicknames, the last messages of each room
//! for newcomers, a browser page embedded in the binary, limits per client
//! IP and a graceful drain.
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
//! Limits: `--max-per-ip` chat connections per client IP (default 4; more
//! are refused with 429), new connections per IP rate-limited by the HTTP
//! server, messages of at most 4 KiB (larger ones close with 1009), 5
//! messages per second with bursts of 10 per connection, and a client that
//! cannot keep up with its room (64 messages behind) is closed with 1008.
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
                if !self.reserve_ip(ip) {
                    return text(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many chat connections from your address\n",
                    );
                }
                let mut config = ServerConfig::default();
                config.ws.limits.max_message = 4096;
                config.ws.limits.max_frame = 4096;
                // Browsers that vanish without a close are noticed.
                config.ws.ping_interval = Some(Duration::from_secs(30));
                match tetsuo::ws::upgrade(&mut req, &config) {
                    Ok((response, pending)) => {
                        let chat = self.clone();
                        tokio::spawn(async move {
                            match pending.await {
                                Ok(ws) => chat.session(ws, &room, &nick).await,
                                Err(e) => eprintln!("{ip}: upgrade: {e}"),
                            }
                            chat.release_ip(ip);
                        });
                        response
                    }
                    Err(refusal) => {
                        self.release_ip(ip);
                        refusal
                    }
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn reserve_ip(&self, ip: IpAddr) -> bool {
        let mut state = self.state.lock().unwrap();
        let n = state.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    fn release_ip(&self, ip: IpAddr) {
        let mut state = self.state.lock().unwrap();
        if let Some(n) = state.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                state.per_ip.remove(&ip);
            }
        }
    }

    /// One chatter, from welcome to goodbye.
    async fn session(&self, mut ws: WebSocket, room: &str, nick: &str) {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let mut shutdown = self.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            let _ = ws
                .close(CloseCode::GOING_AWAY, "server shutting down")
                .await;
            return;
        }
        // The room holds the only sender: when it drops a member that fell
        // behind, `rx` ends.
        let (id, mut nick, mut room) = self.enter(room, nick, tx);
        let mut bucket = Bucket::new(5.0, 10.0);
        let close = loop {
            tokio::select! {
                _ = shutdown.changed() => break Some((CloseCode::GOING_AWAY, "server shutting down")),
                out = rx.recv() => match out {
                    Some(json) => if ws.send(json.to_string()).await.is_err() { break None },
                    // Dropped from the room for falling behind.
                    None => break Some((CloseCode::POLICY, "too slow")),
                },
                msg = ws.recv() => match msg {
                    Some(Ok(Message::Text(line))) => {
                        let reply = match bucket.take() {
                            true => self.command(id, &mut nick, &mut room, line.trim()),
                            false => Some(Event::Error { text: "slow down" }.json()),
                        };
                        if let Some(reply) = reply && ws.send(reply.to_string()).await.is_err() {
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
        self.leave(id, &nick, &room);
        if let Some((code, reason)) = close {
            let _ = ws.close(code, reason).await;
        }
    }

    /// Runs one line of a chatter; returns the answer for it alone, if any.
    fn command(
        &self,
        id: u64,
        nick: &mut String,
        room: &mut String,
        line: &str,
    ) -> Option<Arc<str>> {
        if let Some(new) = line.strip_prefix("/nick ") {
            let Some(new) = valid(new.trim()) else {
                return Some(
                    Event::Error {
                        text: "a nickname is 1 to 24 letters, digits, - or _",
                    }
                    .json(),
                );
            };
            if !self.rename(id, nick, room, &new) {
                return Some(
                    Event::Error {
                        text: "that nickname is taken",
                    }
                    .json(),
                );
            }
            *nick = new;
            return Some(Event::Welcome { nick, room }.json());
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
            if let Some(tx) = self.leave(id, nick, room) {
                let (_, n, r) = self.enter_as(id, &to, nick, tx);
                (*nick, *room) = (n, r);
            }
            return None;
        }
        if line == "/who" {
            let state = self.state.lock().unwrap();
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
                nick,
                text: line,
                at,
            }
            .json();
            let mut state = self.state.lock().unwrap();
            let r = state.rooms.entry(room.clone()).or_default();
            r.history.push_back(json.clone());
            if r.history.len() > self.history {
                r.history.pop_front();
            }
            broadcast(r, &json);
        }
        None
    }

    /// Joins a room under `nick`, or a free variant of it.
    fn enter(&self, room: &str, nick: &str, tx: mpsc::Sender<Arc<str>>) -> (u64, String, String) {
        let id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            state.next_id
        };
        self.enter_as(id, room, nick, tx)
    }

    fn enter_as(
        &self,
        id: u64,
        room: &str,
        nick: &str,
        tx: mpsc::Sender<Arc<str>>,
    ) -> (u64, String, String) {
        let mut state = self.state.lock().unwrap();
        let mut name = nick.to_owned();
        let mut n = 1;
        while !state.nicks.insert(name.clone()) {
            n += 1;
            name = format!("{nick}{n}");
        }
        let r = state.rooms.entry(room.to_owned()).or_default();
        let history = r
            .history
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect();
        let _ = tx.try_send(Event::Welcome { nick: &name, room }.json());
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
                nick: name.clone(),
                tx,
            },
        );
        broadcast(
            r,
            &Event::System {
                room,
                text: &format!("{name} joined"),
            }
            .json(),
        );
        (id, name, room.to_owned())
    }

    /// Leaves the room; returns the member's queue if it was still there.
    fn leave(&self, id: u64, nick: &str, room: &str) -> Option<mpsc::Sender<Arc<str>>> {
        let mut state = self.state.lock().unwrap();
        state.nicks.remove(nick);
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
        if r.members.is_empty() && r.history.is_empty() {
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
