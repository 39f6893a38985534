//! Connections kept per origin: idle ones reused (newest first, stale and
//! expired ones dropped), at most `max_per_host` open per origin with
//! requests beyond that queued in arrival order, at most
//! `max_idle_per_host` kept idle.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::conn::ClientConn;
use crate::{Error, ErrorKind};

/// An origin: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The host is an HTTP proxy that forwards requests for any origin
    /// (absolute-form targets).
    pub(crate) forward: bool,
}

impl Key {
    /// `host:port` with IPv6 hosts in brackets.
    pub(crate) fn authority(&self) -> String {
        crate::connect::authority(&self.host, self.port)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub(crate) max_per_host: usize,
    pub(crate) max_idle_per_host: usize,
    pub(crate) idle_timeout: Option<Duration>,
}

struct Idle {
    conn: ClientConn,
    since: Instant,
}

#[derive(Default)]
struct Host {
    idle: Vec<Idle>,
    /// Connections open or being opened.
    open: usize,
    /// Requests waiting for a connection: handed one (`Some`) or told that
    /// a place is free to open one (`None`).
    waiters: VecDeque<oneshot::Sender<Option<ClientConn>>>,
}

#[derive(Clone)]
pub(crate) struct Pool {
    config: PoolConfig,
    hosts: Arc<Mutex<HashMap<Key, Host>>>,
}

/// Wakes the first waiter still waiting with a free place.
fn wake_one(host: &mut Host) {
    while let Some(waiter) = host.waiters.pop_front() {
        if waiter.send(None).is_ok() {
            break;
        }
    }
}

/// A request waiting for a connection. Dropped before it took what it was
/// handed (cancelled, or timed out at that very moment), it passes it on:
/// a connection back to the pool, a free place to the next waiter.
struct Waiter {
    rx: Option<oneshot::Receiver<Option<ClientConn>>>,
    pool: Pool,
    key: Key,
}

impl Waiter {
    async fn recv(&mut self) -> Result<Option<ClientConn>, oneshot::error::RecvError> {
        let Some(rx) = &mut self.rx else {
            return Ok(None);
        };
        let handed = rx.await;
        self.rx = None;
        handed
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        rx.close();
        match rx.try_recv() {
            Ok(Some(conn)) => self.pool.checkin(&self.key, conn),
            Ok(None) => {
                let mut hosts = self.pool.lock();
                if let Some(host) = hosts.get_mut(&self.key) {
                    wake_one(host);
                }
            }
            Err(_) => {}
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "lives for one checkout, on the stack; boxing would allocate"
)]
enum Next {
    Idle(ClientConn),
    Open,
    Wait(oneshot::Receiver<Option<ClientConn>>),
}

/// What a checkout gives: a connection, or a place to open one.
pub(crate) enum Checkout {
    Reused(Pooled),
    Connect(Pooled),
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            hosts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Host>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to `key`: an idle one if there is a live one, else a
    /// place to open one, waiting (up to `wait`) while the origin is at
    /// its limit. `fresh` skips idle connections.
    pub(crate) async fn checkout(
        &self,
        key: &Key,
        fresh: bool,
        wait: Option<Duration>,
    ) -> Result<Checkout, Error> {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            // Decided under the lock; acted on (with awaits) after it.
            let next = {
                let mut hosts = self.lock();
                let host = hosts.entry(key.clone()).or_default();
                let now = Instant::now();
                let mut found = None;
                while !fresh && let Some(idle) = host.idle.pop() {
                    let expired = self
                        .config
                        .idle_timeout
                        .is_some_and(|t| now.duration_since(idle.since) >= t);
                    if expired {
                        host.open -= 1;
                        continue;
                    }
                    found = Some(idle.conn);
                    break;
                }
                if let Some(conn) = found {
                    Next::Idle(conn)
                } else if self.config.max_per_host == 0 || host.open < self.config.max_per_host {
                    host.open += 1;
                    Next::Open
                } else {
                    let (tx, rx) = oneshot::channel();
                    host.waiters.push_back(tx);
                    Next::Wait(rx)
                }
            };
            let waiter = match next {
                Next::Idle(conn) => {
                    let mut pooled = self.pooled(key, Some(conn), true);
                    if let Some(c) = pooled.get_mut()
                        && c.is_stale().await
                    {
                        // Closed by the server while idle: drop it (the
                        // place it held is freed) and look again.
                        drop(pooled);
                        continue;
                    }
                    return Ok(Checkout::Reused(pooled));
                }
                Next::Open => return Ok(Checkout::Connect(self.pooled(key, None, false))),
                Next::Wait(rx) => Waiter {
                    rx: Some(rx),
                    pool: self.clone(),
                    key: key.clone(),
                },
            };
            let mut waiter = waiter;
            let handed = match deadline {
                Some(at) => match tokio::time::timeout_at(at, waiter.recv()).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(
                            Error::new(ErrorKind::Timeout, "wait for a pooled connection")
                                .with_name(format!("{}:{}", key.host, key.port))
                                .with_detail("every connection to this host stayed busy"),
                        );
                    }
                },
                None => waiter.recv().await,
            };
            match handed {
                Ok(Some(conn)) => return Ok(Checkout::Reused(self.pooled(key, Some(conn), true))),
                // A place was freed (or the pool went away): look again.
                Ok(None) | Err(_) => continue,
            }
        }
    }

    fn pooled(&self, key: &Key, conn: Option<ClientConn>, reused: bool) -> Pooled {
        Pooled {
            pool: self.clone(),
            key: key.clone(),
            conn,
            reused,
            returned: false,
        }
    }

    /// A connection done with its exchange: to the first waiter, or idle,
    /// or closed if enough are idle.
    fn checkin(&self, key: &Key, mut conn: ClientConn) {
        let mut hosts = self.lock();
        self.sweep(&mut hosts);
        let Some(host) = hosts.get_mut(key) else {
            return;
        };
        while let Some(waiter) = host.waiters.pop_front() {
            match waiter.send(Some(conn)) {
                Ok(()) => return,
                // That waiter gave up; try the next.
                Err(Some(back)) => conn = back,
                Err(None) => return,
            }
        }
        if host.idle.len() < self.config.max_idle_per_host {
            host.idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        } else {
            host.open -= 1;
        }
    }

    /// A connection closed (or never opened): its place goes to the first
    /// waiter still waiting.
    fn discard(&self, key: &Key) {
        let mut hosts = self.lock();
        if let Some(host) = hosts.get_mut(key) {
            host.open = host.open.saturating_sub(1);
            wake_one(host);
            if host.open == 0 && host.idle.is_empty() && host.waiters.is_empty() {
                hosts.remove(key);
            }
        }
    }

    /// Closes idle connections past their timeout, on every host, and
    /// forgets hosts with nothing left: a client that moves on to other
    /// origins does not keep the old ones' sockets.
    fn sweep(&self, hosts: &mut HashMap<Key, Host>) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        let now = Instant::now();
        hosts.retain(|_, host| {
            let before = host.idle.len();
            host.idle
                .retain(|idle| now.duration_since(idle.since) < timeout);
            host.open -= before - host.idle.len();
            host.open > 0 || !host.waiters.is_empty()
        });
    }
}

/// A connection (or a place for one) checked out of the pool. Dropping it
/// closes the connection and frees its place; [`Pooled::release`] returns a
/// reusable one.
pub(crate) struct Pooled {
    pool: Pool,
    key: Key,
    conn: Option<ClientConn>,
    reused: bool,
    /// Returned to the pool: its place is held by the idle connection.
    returned: bool,
}

impl Pooled {
    pub(crate) fn get_mut(&mut self) -> Option<&mut ClientConn> {
        self.conn.as_mut()
    }

    /// Fills a place with the connection just opened.
    pub(crate) fn fill(&mut self, conn: ClientConn) {
        self.conn = Some(conn);
    }

    /// Whether this connection served an earlier request.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// The exchange is over: back to the pool if the connection can carry
    /// another request, closed otherwise.
    pub(crate) fn release(mut self) {
        if let Some(conn) = self.conn.take()
            && conn.reusable()
        {
            // The place stays taken by the pooled connection.
            self.returned = true;
            self.pool.checkin(&self.key, conn);
        }
        // Otherwise dropping frees the place.
    }

    /// Takes the connection out of the pool's accounting for good (an
    /// upgrade): its place is freed.
    pub(crate) fn detach(mut self) -> Option<ClientConn> {
        self.conn.take()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if !self.returned {
            self.conn = None;
            self.pool.discard(&self.key);
        }
    }
}
