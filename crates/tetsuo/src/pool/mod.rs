//! A keyed connection pool for any protocol: checkout and checkin, a cap
//! per key and in total with waiters served in arrival order, idle timeout
//! and maximum lifetime, a liveness probe before reuse, a rate limit on new
//! connections per key, pre-warming, and statistics (also exported through
//! the `metrics` facade).
//!
//! The pool does not connect by itself: [`Pool::checkout`] hands either an
//! idle connection or a *place* to open one, which the caller fills — so the
//! connecting (DNS, Happy Eyeballs, TLS, proxies) stays the caller's, with
//! its errors. [`Pool::get`] does both with a closure. Dropping a
//! [`Pooled`] closes the connection and frees its place;
//! [`Pooled::release`] returns it for reuse.
//!
//! ```
//! use std::time::Duration;
//! use tetsuo::pool::{Pool, PoolConfig, Poolable};
//!
//! struct Conn(u32);
//! impl Poolable for Conn {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> tetsuo::Result<()> {
//! let mut config = PoolConfig::default();
//! config.max_per_key = 2;
//! let pool: Pool<&str, Conn> = Pool::new(config);
//! let a = pool.get(&"db-1", || async { Ok(Conn(1)) }).await?;
//! assert!(!a.is_reused());
//! a.release();
//! // The same connection, again.
//! let b = pool.get(&"db-1", || async { Ok(Conn(2)) }).await?;
//! assert!(b.is_reused());
//! assert_eq!(b.0, 1);
//! assert_eq!(pool.stats().open, 1);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tetsuo_proto::rate::TokenBucket;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::{Error, ErrorKind, Result};

/// What a pooled connection tells the pool.
pub trait Poolable: Send + 'static {
    /// Whether it may serve again, asked when it is released (default:
    /// yes). A connection that saw `Connection: close`, an upgrade or an
    /// error says no, and is closed.
    fn is_reusable(&self) -> bool {
        true
    }

    /// A cheap probe before an idle connection is handed out again: false
    /// if the peer closed it meanwhile (default: assume it is alive). It
    /// should not wait: read whether the socket is at its end, say.
    fn is_alive(&mut self) -> impl Future<Output = bool> + Send {
        async { true }
    }
}

/// How a [`Pool`] behaves. `0` means unlimited for the caps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Its name in metrics (label `pool`; default `default`).
    pub name: Cow<'static, str>,
    /// Connections open (or being opened) per key.
    pub max_per_key: usize,
    /// Connections open in all.
    pub max_total: usize,
    /// Idle connections kept per key (default: as many as are open).
    pub max_idle_per_key: usize,
    /// An idle connection older than this is closed (default 90 s).
    pub idle_timeout: Option<Duration>,
    /// A connection older than this is closed when released, whatever its
    /// use (default: none).
    pub max_lifetime: Option<Duration>,
    /// New connections per key: `(per second, burst)` (default:
    /// unlimited). A checkout that would open one more waits for a token.
    pub connect_rate: Option<(f64, u32)>,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            name: Cow::Borrowed("default"),
            max_per_key: 0,
            max_total: 0,
            max_idle_per_key: usize::MAX,
            idle_timeout: Some(Duration::from_secs(90)),
            max_lifetime: None,
            connect_rate: None,
        }
    }
}

/// A snapshot of a pool's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections open or being opened (idle ones included).
    pub open: usize,
    /// Of those, idle.
    pub idle: usize,
    /// Checkouts waiting for a place.
    pub waiting: usize,
    /// Places handed out to open a connection, ever.
    pub created: u64,
    /// Idle connections handed out again, ever.
    pub reused: u64,
    /// Connections closed by the pool: idle past their timeout or
    /// lifetime, found dead by the probe, or evicted for room.
    pub evicted: u64,
}

/// What a checkout gives: a connection to reuse, or a place to open one
/// (fill it with [`Pooled::fill`]).
pub enum Checkout<K: Key, C: Poolable> {
    /// An idle connection, probed alive.
    Reused(Pooled<K, C>),
    /// A place: open a connection and [`fill`](Pooled::fill) it, or drop
    /// it (the next waiter gets the place).
    Connect(Pooled<K, C>),
}

impl<K: Key, C: Poolable> fmt::Debug for Checkout<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkout::Reused(p) => f.debug_tuple("Reused").field(p).finish(),
            Checkout::Connect(p) => f.debug_tuple("Connect").field(p).finish(),
        }
    }
}

/// What keys must be.
pub trait Key: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static {}
impl<T: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static> Key for T {}

struct Idle<C> {
    conn: C,
    since: Instant,
    born: Instant,
}

/// What a waiter is handed: a connection to reuse, or the place of one
/// that closed (to open a new one in).
enum Handed<C> {
    Conn(C, Instant),
    Place,
}

/// A checkout waiting: its channel, and whether it wants a new connection
/// (`fresh`: it is handed places only).
struct Waiting<C> {
    tx: oneshot::Sender<Handed<C>>,
    fresh: bool,
}

struct PerKey<C> {
    idle: Vec<Idle<C>>,
    /// Open or being opened.
    open: usize,
    waiters: VecDeque<Waiting<C>>,
    bucket: Option<TokenBucket>,
}

impl<C> Default for PerKey<C> {
    fn default() -> Self {
        PerKey {
            idle: Vec::new(),
            open: 0,
            waiters: VecDeque::new(),
            bucket: None,
        }
    }
}

struct State<K, C> {
    keys: HashMap<K, PerKey<C>>,
    open: usize,
    /// Checkouts held back by `max_total` (with their key).
    total_waiters: VecDeque<(K, Waiting<C>)>,
}

impl<K: Key, C> State<K, C> {
    /// Forgets waiters that gave up (timed out, cancelled).
    fn prune(&mut self) {
        for per in self.keys.values_mut() {
            per.waiters.retain(|w| !w.tx.is_closed());
        }
        self.total_waiters.retain(|(_, w)| !w.tx.is_closed());
    }
}

struct Inner<K, C> {
    config: PoolConfig,
    state: Mutex<State<K, C>>,
    created: AtomicU64,
    reused: AtomicU64,
    evicted: AtomicU64,
}

/// A keyed connection pool; cheap to clone (clones share it).
pub struct Pool<K: Key, C: Poolable> {
    inner: Arc<Inner<K, C>>,
}

impl<K: Key, C: Poolable> Clone for Pool<K, C> {
    fn clone(&self) -> Self {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Key, C: Poolable> fmt::Debug for Pool<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.inner.config.name)
            .field("stats", &self.stats())
            .finish()
    }
}

enum Next<C> {
    Idle(C, Instant),
    Open,
    Wait(oneshot::Receiver<Handed<C>>),
}

impl<K: Key, C: Poolable> Pool<K, C> {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Pool<K, C> {
        Pool {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State {
                    keys: HashMap::new(),
                    open: 0,
                    total_waiters: VecDeque::new(),
                }),
                created: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
        }
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, State<K, C>> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts now.
    pub fn stats(&self) -> PoolStats {
        let mut state = self.lock();
        state.prune();
        PoolStats {
            open: state.open,
            idle: state.keys.values().map(|k| k.idle.len()).sum(),
            waiting: state.keys.values().map(|k| k.waiters.len()).sum::<usize>()
                + state.total_waiters.len(),
            created: self.inner.created.load(Ordering::Relaxed),
            reused: self.inner.reused.load(Ordering::Relaxed),
            evicted: self.inner.evicted.load(Ordering::Relaxed),
        }
    }

    /// A connection for `key`, opened with `connect` if no idle one is
    /// alive; waits while the caps are reached.
    pub async fn get<F, Fut>(&self, key: &K, connect: F) -> Result<Pooled<K, C>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C>>,
    {
        match self.checkout(key, false, None).await? {
            Checkout::Reused(pooled) => Ok(pooled),
            Checkout::Connect(mut place) => {
                // A failure drops the place: the next waiter gets it.
                place.fill(connect().await?);
                Ok(place)
            }
        }
    }

    /// An idle connection for `key` (probed alive), or a place to open
    /// one; waits (up to `wait`) while `key` or the pool is at its cap,
    /// and for the connect rate. `fresh` skips idle connections.
    pub async fn checkout(
        &self,
        key: &K,
        fresh: bool,
        wait: Option<Duration>,
    ) -> Result<Checkout<K, C>> {
        let deadline = wait.map(|w| Instant::now() + w);
        let handed = match self.decide(key, fresh) {
            Next::Idle(conn, born) => Handed::Conn(conn, born),
            Next::Open => Handed::Place,
            Next::Wait(rx) => {
                let mut waiter = Waiter {
                    rx: Some(rx),
                    pool: self.clone(),
                    key: key.clone(),
                };
                // Recorded however the wait ends: served, timed out, or
                // dropped by the caller.
                let _timer = WaitTimer {
                    since: Instant::now(),
                    pool: self.inner.config.name.clone(),
                };
                let handed = match deadline {
                    Some(at) => tokio::time::timeout_at(at, waiter.recv())
                        .await
                        .ok()
                        .flatten(),
                    None => waiter.recv().await,
                };
                let Some(handed) = handed else {
                    return Err(
                        Error::new(ErrorKind::Timeout, "wait for a pooled connection")
                            .with_name(format!("{key:?}"))
                            .with_detail("every connection stayed busy"),
                    );
                };
                handed
            }
        };
        match handed {
            Handed::Conn(conn, born) => {
                // Held as a Pooled from here: a cancelled probe frees it.
                let mut pooled = self.pooled(key, Some((conn, born)), true);
                let alive = match pooled.conn.as_mut() {
                    Some(c) => c.is_alive().await,
                    None => false,
                };
                if alive {
                    self.inner.reused.fetch_add(1, Ordering::Relaxed);
                    self.count("reused");
                    return Ok(Checkout::Reused(pooled));
                }
                // Closed by the peer while idle: its place is ours to open
                // a new one in.
                self.evict(1);
                pooled.conn = None;
                pooled.reused = false;
                self.place(key, pooled, deadline).await
            }
            Handed::Place => {
                let place = self.pooled(key, None, false);
                self.place(key, place, deadline).await
            }
        }
    }

    /// A place to open a connection in, once the connect rate allows.
    async fn place(
        &self,
        key: &K,
        place: Pooled<K, C>,
        deadline: Option<Instant>,
    ) -> Result<Checkout<K, C>> {
        self.wait_for_token(key, deadline).await?;
        self.inner.created.fetch_add(1, Ordering::Relaxed);
        self.count("created");
        Ok(Checkout::Connect(place))
    }

    /// Under the lock: an idle connection, a place, or a queue to wait in.
    fn decide(&self, key: &K, fresh: bool) -> Next<C> {
        let config = &self.inner.config;
        let mut doomed = Vec::new();
        let next = {
            let mut state = self.lock();
            state.prune();
            let now = Instant::now();
            let mut found = None;
            {
                let per = state.keys.entry(key.clone()).or_default();
                while !fresh && let Some(idle) = per.idle.pop() {
                    if self.expired(&idle, now) {
                        per.open -= 1;
                        doomed.push(idle.conn);
                        continue;
                    }
                    found = Some((idle.conn, idle.born));
                    break;
                }
            }
            state.open -= doomed.len();
            let per = state.keys.get(key).expect("just made");
            let key_full = config.max_per_key != 0 && per.open >= config.max_per_key;
            // Waiters before us come first.
            let queue_ahead = !per.waiters.is_empty();
            let next = if let Some((conn, born)) = found {
                Next::Idle(conn, born)
            } else if key_full || queue_ahead {
                let (tx, rx) = oneshot::channel();
                let per = state.keys.get_mut(key).expect("just made");
                per.waiters.push_back(Waiting { tx, fresh });
                Next::Wait(rx)
            } else if config.max_total != 0 && state.open >= config.max_total {
                match Self::take_oldest_idle(&mut state) {
                    Some(conn) => {
                        doomed.push(conn);
                        state.open += 1;
                        state.keys.get_mut(key).expect("just made").open += 1;
                        Next::Open
                    }
                    None => {
                        let (tx, rx) = oneshot::channel();
                        state
                            .total_waiters
                            .push_back((key.clone(), Waiting { tx, fresh }));
                        Next::Wait(rx)
                    }
                }
            } else {
                state.open += 1;
                state.keys.get_mut(key).expect("just made").open += 1;
                Next::Open
            };
            self.publish(&state);
            next
        };
        // Closed outside the lock.
        self.evict(doomed.len());
        drop(doomed);
        next
    }

    /// At the total cap: takes out the longest-idle connection of any key
    /// to make room (the caller closes it).
    fn take_oldest_idle(state: &mut State<K, C>) -> Option<C> {
        let (k, at) = state
            .keys
            .iter()
            .filter_map(|(k, per)| {
                per.idle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, i)| i.since)
                    .map(|(at, i)| (k.clone(), at, i.since))
            })
            .min_by_key(|(_, _, since)| *since)
            .map(|(k, at, _)| (k, at))?;
        let per = state.keys.get_mut(&k).expect("just seen");
        let idle = per.idle.remove(at);
        per.open -= 1;
        state.open -= 1;
        Some(idle.conn)
    }

    fn expired(&self, idle: &Idle<C>, now: Instant) -> bool {
        let config = &self.inner.config;
        config
            .idle_timeout
            .is_some_and(|t| now.duration_since(idle.since) >= t)
            || config
                .max_lifetime
                .is_some_and(|t| now.duration_since(idle.born) >= t)
    }

    /// The gauges `tetsuo_pool_connections{pool, state}` (open, idle) and
    /// `tetsuo_pool_waiting{pool}`, after a change.
    fn publish(&self, state: &State<K, C>) {
        let name = &self.inner.config.name;
        let idle: usize = state.keys.values().map(|k| k.idle.len()).sum();
        let waiting =
            state.keys.values().map(|k| k.waiters.len()).sum::<usize>() + state.total_waiters.len();
        metrics::gauge!("tetsuo_pool_connections", "pool" => name.clone(), "state" => "open")
            .set(state.open as f64);
        metrics::gauge!("tetsuo_pool_connections", "pool" => name.clone(), "state" => "idle")
            .set(idle as f64);
        metrics::gauge!("tetsuo_pool_waiting", "pool" => name.clone()).set(waiting as f64);
    }

    fn evict(&self, n: usize) {
        if n > 0 {
            self.inner.evicted.fetch_add(n as u64, Ordering::Relaxed);
            metrics::counter!("tetsuo_pool_evicted_total", "pool" => self.inner.config.name.clone())
                .increment(n as u64);
        }
    }

    fn count(&self, what: &'static str) {
        let name = self.inner.config.name.clone();
        match what {
            "created" => {
                metrics::counter!("tetsuo_pool_created_total", "pool" => name).increment(1)
            }
            _ => metrics::counter!("tetsuo_pool_reused_total", "pool" => name).increment(1),
        }
    }

    /// The connect rate: waits for the key's bucket to have a token.
    async fn wait_for_token(&self, key: &K, deadline: Option<Instant>) -> Result<()> {
        let Some((rate, burst)) = self.inner.config.connect_rate else {
            return Ok(());
        };
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                let per = state.keys.entry(key.clone()).or_default();
                let bucket = per
                    .bucket
                    .get_or_insert_with(|| TokenBucket::new(rate, burst, now.into_std()));
                if bucket.try_take(now.into_std()) {
                    return Ok(());
                }
                bucket.wait_time(now.into_std())
            };
            let Some(wait) = wait else {
                return Err(Error::new(ErrorKind::Refused, "open a pooled connection")
                    .with_name(format!("{key:?}"))
                    .with_detail("the connect rate is zero"));
            };
            let at = Instant::now() + wait;
            if deadline.is_some_and(|d| at > d) {
                return Err(
                    Error::new(ErrorKind::Timeout, "wait for a pooled connection")
                        .with_name(format!("{key:?}"))
                        .with_detail("the connect rate allows no new connection in time"),
                );
            }
            tokio::time::sleep_until(at).await;
        }
    }

    fn pooled(&self, key: &K, conn: Option<(C, Instant)>, reused: bool) -> Pooled<K, C> {
        let (conn, born) = match conn {
            Some((c, born)) => (Some(c), born),
            None => (None, Instant::now()),
        };
        Pooled {
            pool: self.clone(),
            key: key.clone(),
            conn,
            born,
            reused,
            returned: false,
        }
    }

    /// A connection done with: to the key's first waiter (a fresh one gets
    /// its place instead), or idle, or closed (too old, too many idle, or
    /// its place wanted by a checkout held back by the total cap).
    fn checkin(&self, key: &K, conn: C, born: Instant) {
        let config = &self.inner.config;
        let now = Instant::now();
        let mut doomed = Vec::new();
        let mut conn = Some(conn);
        let free_place = {
            let mut state = self.lock();
            self.sweep(&mut state, now, &mut doomed);
            state.prune();
            let too_old = config
                .max_lifetime
                .is_some_and(|t| now.duration_since(born) >= t);
            if too_old {
                self.evict(1);
            }
            let Some(per) = state.keys.get_mut(key) else {
                return;
            };
            if !too_old {
                while let Some(w) = per.waiters.pop_front() {
                    if w.fresh {
                        // It wants a new connection: this one closes and
                        // its place passes on.
                        if w.tx.send(Handed::Place).is_ok() {
                            doomed.extend(conn.take());
                            break;
                        }
                        continue;
                    }
                    let handed = Handed::Conn(conn.take().expect("still ours"), born);
                    match w.tx.send(handed) {
                        Ok(()) => break,
                        // That waiter gave up just now: the next.
                        Err(Handed::Conn(back, _)) => conn = Some(back),
                        Err(Handed::Place) => {}
                    }
                }
            }
            match conn.take() {
                // Handed on whole.
                None => false,
                Some(c) => {
                    let room_wanted = !state.total_waiters.is_empty();
                    let per = state.keys.get_mut(key).expect("seen above");
                    if !too_old && !room_wanted && per.idle.len() < config.max_idle_per_key {
                        per.idle.push(Idle {
                            conn: c,
                            since: now,
                            born,
                        });
                        self.publish(&state);
                        false
                    } else {
                        doomed.push(c);
                        true
                    }
                }
            }
        };
        drop(doomed);
        if free_place {
            self.discard(key);
        }
    }

    /// A connection closed (or never opened): its place goes to the key's
    /// first waiter, else to a checkout held back by the total cap, else
    /// it is freed.
    fn discard(&self, key: &K) {
        let config = &self.inner.config;
        let mut state = self.lock();
        state.prune();
        if let Some(per) = state.keys.get_mut(key) {
            while let Some(w) = per.waiters.pop_front() {
                if w.tx.send(Handed::Place).is_ok() {
                    return;
                }
            }
        }
        // The place leaves this key.
        state.open = state.open.saturating_sub(1);
        if let Some(per) = state.keys.get_mut(key) {
            per.open = per.open.saturating_sub(1);
        }
        while let Some((other, w)) = state.total_waiters.pop_front() {
            let per = state.keys.entry(other.clone()).or_default();
            if config.max_per_key != 0 && per.open >= config.max_per_key {
                // Its own key is full now: it waits there instead.
                per.waiters.push_back(w);
                continue;
            }
            if w.tx.send(Handed::Place).is_ok() {
                per.open += 1;
                state.open += 1;
                break;
            }
        }
        if let Some(per) = state.keys.get(key)
            && per.open == 0
            && per.waiters.is_empty()
            && per.bucket.is_none()
        {
            state.keys.remove(key);
        }
        self.publish(&state);
    }

    /// Takes idle connections past their time out of every key (into
    /// `doomed`, closed after the lock), and forgets keys with nothing
    /// left.
    fn sweep(&self, state: &mut State<K, C>, now: Instant, doomed: &mut Vec<C>) {
        let mut closed = 0;
        state.keys.retain(|_, per| {
            let mut kept = Vec::with_capacity(per.idle.len());
            for idle in per.idle.drain(..) {
                if self.expired(&idle, now) {
                    doomed.push(idle.conn);
                    closed += 1;
                    per.open -= 1;
                } else {
                    kept.push(idle);
                }
            }
            per.idle = kept;
            let bucket_full = per
                .bucket
                .as_mut()
                .is_none_or(|b| b.is_full(now.into_std()));
            per.open > 0 || !per.waiters.is_empty() || !bucket_full
        });
        state.open -= closed;
        self.evict(closed);
    }

    /// Opens connections for `key` with `connect` until `n` are idle (or
    /// the caps stop it): the first requests then find them ready. Returns
    /// how many were opened.
    pub async fn prewarm<F, Fut>(&self, key: &K, n: usize, mut connect: F) -> Result<usize>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<C>>,
    {
        let mut opened = Vec::new();
        let mut result = Ok(());
        loop {
            let idle = self.lock().keys.get(key).map_or(0, |p| p.idle.len());
            if idle + opened.len() >= n {
                break;
            }
            let config = &self.inner.config;
            let room = {
                let state = self.lock();
                let per_open = state.keys.get(key).map_or(0, |p| p.open);
                (config.max_per_key == 0 || per_open < config.max_per_key)
                    && (config.max_total == 0 || state.open < config.max_total)
            };
            if !room {
                break;
            }
            match self.checkout(key, true, Some(Duration::ZERO)).await {
                Ok(Checkout::Connect(mut place)) => match connect().await {
                    Ok(conn) => {
                        place.fill(conn);
                        opened.push(place);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
                Ok(Checkout::Reused(pooled)) => pooled.release(),
                // Another checkout took the room, or the rate says wait.
                Err(e) if e.kind() == ErrorKind::Timeout => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let count = opened.len();
        // What was opened stays, even if a later connect failed.
        for pooled in opened {
            pooled.release();
        }
        result.map(|()| count)
    }
}

/// A checkout waiting. Dropped before it took what it was handed
/// (cancelled, or timed out at that very moment), it passes it on: a
/// connection back to the pool, a place to the next waiter.
/// A checkout's time in the queue, recorded when it leaves.
struct WaitTimer {
    since: Instant,
    pool: Cow<'static, str>,
}

impl Drop for WaitTimer {
    fn drop(&mut self) {
        metrics::histogram!("tetsuo_pool_wait_seconds", "pool" => self.pool.clone())
            .record(self.since.elapsed().as_secs_f64());
    }
}

struct Waiter<K: Key, C: Poolable> {
    rx: Option<oneshot::Receiver<Handed<C>>>,
    pool: Pool<K, C>,
    key: K,
}

impl<K: Key, C: Poolable> Waiter<K, C> {
    /// What it was handed; `None` if the pool went away.
    async fn recv(&mut self) -> Option<Handed<C>> {
        let rx = self.rx.as_mut()?;
        let handed = rx.await.ok();
        self.rx = None;
        handed
    }
}

impl<K: Key, C: Poolable> Drop for Waiter<K, C> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        rx.close();
        match rx.try_recv() {
            Ok(Handed::Conn(conn, born)) => self.pool.checkin(&self.key, conn, born),
            Ok(Handed::Place) => self.pool.discard(&self.key),
            Err(_) => {}
        }
    }
}

/// A connection (or a place for one) checked out of a [`Pool`]. It
/// dereferences to the connection (panics on an unfilled place: use
/// [`get_mut`](Self::get_mut) there). Dropping it closes the connection
/// and frees its place; [`release`](Self::release) returns it.
pub struct Pooled<K: Key, C: Poolable> {
    pool: Pool<K, C>,
    key: K,
    conn: Option<C>,
    born: Instant,
    reused: bool,
    returned: bool,
}

impl<K: Key, C: Poolable> fmt::Debug for Pooled<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("key", &self.key)
            .field("filled", &self.conn.is_some())
            .field("reused", &self.reused)
            .finish()
    }
}

impl<K: Key, C: Poolable> Pooled<K, C> {
    /// The connection, if the place is filled.
    pub fn get_mut(&mut self) -> Option<&mut C> {
        self.conn.as_mut()
    }

    /// Fills a place with the connection just opened.
    pub fn fill(&mut self, conn: C) {
        self.born = Instant::now();
        self.conn = Some(conn);
    }

    /// Whether the connection served before (it came from the idle set).
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// The key it belongs to.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Done with it: back to the pool if it is reusable, closed otherwise.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_reusable()
        {
            // Its place stays taken by the returned connection.
            self.returned = true;
            self.pool.checkin(&self.key, conn, self.born);
        }
    }

    /// Takes the connection out of the pool for good (an upgrade, a
    /// handover): its place is freed.
    pub fn detach(mut self) -> Option<C> {
        self.conn.take()
    }
}

impl<K: Key, C: Poolable> Deref for Pooled<K, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn.as_ref().expect("a place not filled yet")
    }
}

impl<K: Key, C: Poolable> DerefMut for Pooled<K, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("a place not filled yet")
    }
}

impl<K: Key, C: Poolable> Drop for Pooled<K, C> {
    fn drop(&mut self) {
        if !self.returned {
            self.conn = None;
            self.pool.discard(&self.key);
        }
    }
}
