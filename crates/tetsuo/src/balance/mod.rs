//! Load balancing over a changing set of endpoints: round-robin, smooth
//! weighted round-robin, least outstanding requests, power of two choices
//! and consistent hashing, each endpoint behind a circuit breaker (passive
//! health: failures seen in real traffic eject it for a cool-down, then a
//! probe decides) and an active health flag that checks can set (checks
//! that see an endpoint come back also close its breaker).
//!
//! A [`Pick`] is one request's use of an endpoint: it counts as outstanding
//! until dropped, and reports the outcome with [`Pick::success`] or
//! [`Pick::failure`]. Endpoints removed (by discovery, say) stop being
//! picked at once; their picks in flight finish undisturbed.
//!
//! ```
//! use tetsuo::balance::{Balancer, Policy};
//!
//! let lb = Balancer::new(Policy::WeightedRoundRobin);
//! lb.insert("10.0.0.1:8080", 3);
//! lb.insert("10.0.0.2:8080", 1);
//! let mut first = 0;
//! for _ in 0..400 {
//!     let pick = lb.pick(None).unwrap();
//!     if *pick.endpoint() == "10.0.0.1:8080" {
//!         first += 1;
//!     }
//!     pick.success();
//! }
//! assert_eq!(first, 300);
//! ```

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Now, from tokio's clock (so that paused time drives the breakers in
/// tests), as the `std` instant the breakers take.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

use crate::connect::{BreakerConfig, BreakerState, CircuitBreaker};

pub mod health;

/// How a [`Balancer`] chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Each endpoint in turn, weights ignored.
    RoundRobin,
    /// In proportion to the weights, interleaved evenly (nginx's smooth
    /// weighted round-robin: 5,1,1 gives a a b a c a a, not a a a a a b c).
    WeightedRoundRobin,
    /// The endpoint with the fewest picks in flight (ties in turn).
    LeastOutstanding,
    /// Two endpoints at random; the one with fewer picks in flight.
    PowerOfTwoChoices,
    /// The same key to the same endpoint while it is there; adding or
    /// removing one of N endpoints moves about 1/N of the keys. `replicas`
    /// points per endpoint (and per unit of weight) on the ring.
    ConsistentHash {
        /// Points on the ring per unit of weight (e.g. 100).
        replicas: u32,
    },
}

/// An endpoint's state as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus<E> {
    /// The endpoint.
    pub endpoint: E,
    /// Its weight.
    pub weight: u32,
    /// Picks in flight.
    pub outstanding: usize,
    /// Its active health check passes (or none ran).
    pub healthy: bool,
    /// Ejected by its circuit breaker (failures in traffic).
    pub ejected: bool,
    /// Removed, with picks still in flight.
    pub draining: bool,
}

struct Shared {
    outstanding: AtomicUsize,
    breaker: Mutex<CircuitBreaker>,
    /// Bumped (under the breaker's lock) when the checks close the
    /// breaker: picks from before then report to nobody.
    generation: AtomicU64,
}

struct Entry<E> {
    endpoint: E,
    weight: u32,
    healthy: bool,
    /// Smooth weighted round-robin's running weight.
    current: i64,
    shared: Arc<Shared>,
}

struct State<E> {
    entries: Vec<Entry<E>>,
    /// Removed endpoints whose picks are still in flight.
    draining: Vec<(E, u32, Arc<Shared>)>,
    next: usize,
    /// Consistent hashing's ring: (point, index into entries), sorted.
    ring: Vec<(u64, usize)>,
}

/// Endpoints and a policy to choose among them; cheap to clone (clones
/// share the set).
pub struct Balancer<E> {
    policy: Policy,
    breaker: BreakerConfig,
    state: Arc<Mutex<State<E>>>,
    hasher: std::hash::BuildHasherDefault<std::hash::DefaultHasher>,
}

impl<E> Clone for Balancer<E> {
    fn clone(&self) -> Self {
        Balancer {
            policy: self.policy,
            breaker: self.breaker.clone(),
            state: self.state.clone(),
            hasher: self.hasher.clone(),
        }
    }
}

impl<E: fmt::Debug + Clone + Eq + Hash> fmt::Debug for Balancer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("policy", &self.policy)
            .field("endpoints", &self.endpoints())
            .finish()
    }
}

impl<E: Clone + Eq + Hash> Balancer<E> {
    /// An empty balancer; each endpoint gets a circuit breaker with the
    /// default [`BreakerConfig`] (5 failures in a row, or half the calls in
    /// 30 s, eject it for 5 s).
    pub fn new(policy: Policy) -> Balancer<E> {
        Balancer::with_breaker(policy, BreakerConfig::default())
    }

    /// An empty balancer whose endpoints' breakers use `breaker`.
    pub fn with_breaker(policy: Policy, breaker: BreakerConfig) -> Balancer<E> {
        Balancer {
            policy,
            breaker,
            state: Arc::new(Mutex::new(State {
                entries: Vec::new(),
                draining: Vec::new(),
                next: 0,
                ring: Vec::new(),
            })),
            hasher: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `endpoint` with `weight` (at least 1), or changes the weight of
    /// one already there.
    pub fn insert(&self, endpoint: E, weight: u32) {
        let mut state = self.lock();
        if self.insert_locked(&mut state, endpoint, weight) {
            self.rebuild(&mut state);
        }
    }

    /// Adds or updates under the lock; true if anything changed.
    fn insert_locked(&self, state: &mut State<E>, endpoint: E, weight: u32) -> bool {
        let weight = weight.max(1);
        if let Some(e) = state.entries.iter_mut().find(|e| e.endpoint == endpoint) {
            let changed = e.weight != weight;
            e.weight = weight;
            changed
        } else {
            // Back from draining: the same counters.
            let shared = match state.draining.iter().position(|d| d.0 == endpoint) {
                Some(at) => state.draining.swap_remove(at).2,
                None => Arc::new(Shared {
                    outstanding: AtomicUsize::new(0),
                    breaker: Mutex::new(CircuitBreaker::new(self.breaker.clone(), now())),
                    generation: AtomicU64::new(0),
                }),
            };
            state.entries.push(Entry {
                endpoint,
                weight,
                healthy: true,
                current: 0,
                shared,
            });
            true
        }
    }

    /// Removes `endpoint`: it is not picked any more; picks in flight on it
    /// finish (it shows as draining until they do).
    pub fn remove(&self, endpoint: &E) {
        let mut state = self.lock();
        if Self::remove_locked(&mut state, endpoint) {
            self.rebuild(&mut state);
        }
    }

    fn remove_locked(state: &mut State<E>, endpoint: &E) -> bool {
        let Some(at) = state.entries.iter().position(|e| &e.endpoint == endpoint) else {
            return false;
        };
        let e = state.entries.remove(at);
        if e.shared.outstanding.load(Ordering::Acquire) > 0 {
            state.draining.push((e.endpoint, e.weight, e.shared));
        }
        true
    }

    /// Replaces the set with `endpoints` (what discovery found): new ones
    /// added, gone ones removed (draining), weights updated; an endpoint
    /// kept keeps its counters and breaker.
    pub fn set(&self, endpoints: impl IntoIterator<Item = (E, u32)>) {
        let wanted: Vec<(E, u32)> = endpoints.into_iter().collect();
        // One lock: a pick never sees the set half replaced.
        let mut state = self.lock();
        let gone: Vec<E> = state
            .entries
            .iter()
            .filter(|e| !wanted.iter().any(|(w, _)| *w == e.endpoint))
            .map(|e| e.endpoint.clone())
            .collect();
        let mut changed = false;
        for e in &gone {
            changed |= Self::remove_locked(&mut state, e);
        }
        for (e, w) in wanted {
            changed |= self.insert_locked(&mut state, e, w);
        }
        if changed {
            self.rebuild(&mut state);
        }
    }

    /// Marks `endpoint` healthy or not (an active health check's verdict):
    /// an unhealthy endpoint is not picked. One marked healthy again after
    /// being unhealthy also has its circuit breaker closed: the failures
    /// that opened it were that outage's, which the checks have seen end
    /// (as Envoy unejects a host on a passing active check), so it takes
    /// traffic at once rather than after the rest of a cool-down; picks
    /// made before then (requests of the outage, an old probe) report to
    /// nobody.
    ///
    /// ```
    /// use tetsuo::balance::{Balancer, Policy};
    ///
    /// let lb = Balancer::new(Policy::RoundRobin);
    /// lb.insert("10.0.0.1:80", 1);
    /// lb.set_healthy(&"10.0.0.1:80", false);
    /// assert!(lb.pick(None).is_none());
    /// lb.set_healthy(&"10.0.0.1:80", true);
    /// assert_eq!(*lb.pick(None).unwrap().endpoint(), "10.0.0.1:80");
    /// ```
    pub fn set_healthy(&self, endpoint: &E, healthy: bool) {
        let mut state = self.lock();
        if let Some(e) = state.entries.iter_mut().find(|e| &e.endpoint == endpoint) {
            if healthy && !e.healthy {
                // Picks made before (a probe, requests of the outage)
                // report to nobody: only what follows counts.
                let mut breaker = e.shared.breaker.lock().unwrap_or_else(|p| p.into_inner());
                *breaker = CircuitBreaker::new(self.breaker.clone(), now());
                e.shared.generation.fetch_add(1, Ordering::AcqRel);
            }
            e.healthy = healthy;
        }
    }

    /// Every endpoint, and those draining.
    pub fn endpoints(&self) -> Vec<EndpointStatus<E>> {
        let mut state = self.lock();
        state
            .draining
            .retain(|d| d.2.outstanding.load(Ordering::Acquire) > 0);
        let mut out: Vec<EndpointStatus<E>> = state
            .entries
            .iter()
            .map(|e| EndpointStatus {
                endpoint: e.endpoint.clone(),
                weight: e.weight,
                outstanding: e.shared.outstanding.load(Ordering::Acquire),
                healthy: e.healthy,
                ejected: matches!(
                    e.shared
                        .breaker
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .state(),
                    BreakerState::Open { .. } | BreakerState::HalfOpen
                ),
                draining: false,
            })
            .collect();
        out.extend(state.draining.iter().map(|(e, w, s)| EndpointStatus {
            endpoint: e.clone(),
            weight: *w,
            outstanding: s.outstanding.load(Ordering::Acquire),
            healthy: true,
            ejected: false,
            draining: true,
        }));
        out
    }

    /// An endpoint for one request (`key` for consistent hashing: a user,
    /// a session; other policies ignore it), or `None` if none is healthy
    /// and not ejected.
    pub fn pick(&self, key: Option<&dyn HashKey>) -> Option<Pick<E>> {
        let mut state = self.lock();
        let now = now();
        let n = state.entries.len();
        if n == 0 {
            return None;
        }
        // Endpoints that may take a request now (a breaker past its
        // cool-down lets one probe through).
        let mut usable: Vec<bool> = state
            .entries
            .iter()
            .map(|e| e.healthy && available(&e.shared, now))
            .collect();
        loop {
            let chosen = self.choose(&mut state, &usable, key)?;
            let entry = &state.entries[chosen];
            let (probe, generation) = {
                let mut breaker = entry
                    .shared
                    .breaker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if breaker.try_acquire(now).is_err() {
                    // Its breaker opened meanwhile: another one.
                    drop(breaker);
                    usable[chosen] = false;
                    continue;
                }
                (
                    breaker.state() == BreakerState::HalfOpen,
                    entry.shared.generation.load(Ordering::Acquire),
                )
            };
            entry.shared.outstanding.fetch_add(1, Ordering::AcqRel);
            return Some(Pick {
                endpoint: entry.endpoint.clone(),
                shared: entry.shared.clone(),
                reported: false,
                probe,
                generation,
            });
        }
    }

    /// The policy's choice among the usable endpoints.
    fn choose(
        &self,
        state: &mut State<E>,
        usable: &[bool],
        key: Option<&dyn HashKey>,
    ) -> Option<usize> {
        let n = state.entries.len();
        match self.policy {
            Policy::RoundRobin => {
                let start = state.next;
                let found = (0..n).map(|i| (start + i) % n).find(|&i| usable[i]);
                if let Some(i) = found {
                    state.next = (i + 1) % n;
                }
                found
            }
            Policy::WeightedRoundRobin => {
                let total: i64 = state
                    .entries
                    .iter()
                    .zip(usable)
                    .filter(|(_, u)| **u)
                    .map(|(e, _)| i64::from(e.weight))
                    .sum();
                let mut best: Option<usize> = None;
                for (i, e) in state.entries.iter_mut().enumerate() {
                    if !usable[i] {
                        continue;
                    }
                    e.current += i64::from(e.weight);
                }
                for (i, e) in state.entries.iter().enumerate() {
                    if usable[i] && best.is_none_or(|b| e.current > state.entries[b].current) {
                        best = Some(i);
                    }
                }
                if let Some(b) = best {
                    state.entries[b].current -= total;
                }
                best
            }
            Policy::LeastOutstanding => {
                let start = state.next;
                let found = (0..n)
                    .map(|i| (start + i) % n)
                    .filter(|&i| usable[i])
                    .min_by_key(|&i| state.entries[i].shared.outstanding.load(Ordering::Acquire));
                if let Some(i) = found {
                    state.next = (i + 1) % n;
                }
                found
            }
            Policy::PowerOfTwoChoices => {
                let candidates: Vec<usize> = (0..n).filter(|&i| usable[i]).collect();
                match candidates.len() {
                    0 => None,
                    1 => Some(candidates[0]),
                    len => {
                        let r = crate::connect::random_u64();
                        let a = (r % len as u64) as usize;
                        let mut b = ((r >> 32) % (len as u64 - 1)) as usize;
                        if b >= a {
                            b += 1;
                        }
                        let (a, b) = (candidates[a], candidates[b]);
                        let load =
                            |i: usize| state.entries[i].shared.outstanding.load(Ordering::Acquire);
                        Some(if load(b) < load(a) { b } else { a })
                    }
                }
            }
            Policy::ConsistentHash { .. } => {
                let point = key.map_or_else(crate::connect::random_u64, |k| {
                    let mut h = self.hasher.build_hasher();
                    k.hash_into(&mut h);
                    std::hash::Hasher::finish(&h)
                });
                let ring = &state.ring;
                if ring.is_empty() {
                    None
                } else {
                    let start = ring.partition_point(|(p, _)| *p < point);
                    (0..ring.len())
                        .map(|i| ring[(start + i) % ring.len()].1)
                        .find(|&i| usable[i])
                }
            }
        }
    }

    /// Consistent hashing's ring, after a change of endpoints.
    fn rebuild(&self, state: &mut State<E>) {
        state.next = 0;
        for e in &mut state.entries {
            e.current = 0;
        }
        state.ring.clear();
        if let Policy::ConsistentHash { replicas } = self.policy {
            let replicas = replicas.max(1);
            for (i, e) in state.entries.iter().enumerate() {
                for r in 0..replicas.saturating_mul(e.weight) {
                    let point = self.hasher.hash_one((&e.endpoint, r));
                    state.ring.push((point, i));
                }
            }
            state.ring.sort_unstable();
        }
    }
}

/// Whether an endpoint's breaker lets a request through now (without
/// taking the half-open probe).
fn available(shared: &Shared, now: Instant) -> bool {
    shared
        .breaker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .would_allow(now)
}

/// A key for consistent hashing: anything hashable.
pub trait HashKey {
    /// Feeds the key to `hasher`.
    fn hash_into(&self, hasher: &mut dyn std::hash::Hasher);
}

impl<T: Hash + ?Sized> HashKey for T {
    fn hash_into(&self, mut hasher: &mut dyn std::hash::Hasher) {
        self.hash(&mut hasher);
    }
}

/// One request's use of an endpoint: outstanding until dropped. Report
/// how it went with [`success`](Self::success) or
/// [`failure`](Self::failure) (failures feed the endpoint's circuit
/// breaker); dropped without a report, it counts as neither.
pub struct Pick<E> {
    endpoint: E,
    shared: Arc<Shared>,
    reported: bool,
    /// This pick is the half-open breaker's probe: only its outcome
    /// settles the breaker while it is half-open.
    probe: bool,
    /// The breaker's generation when picked: reports to a later one are
    /// dropped.
    generation: u64,
}

impl<E: fmt::Debug> fmt::Debug for Pick<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl<E> Pick<E> {
    /// The endpoint chosen.
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The request succeeded.
    pub fn success(mut self) {
        self.reported = true;
        let Some(mut breaker) = self.breaker() else {
            return;
        };
        if self.probe || breaker.state() != BreakerState::HalfOpen {
            breaker.on_success(now());
        }
    }

    /// The request failed in a way that speaks of the endpoint (refused,
    /// reset, timed out, a 5xx): enough of them eject it.
    pub fn failure(mut self) {
        self.reported = true;
        let Some(mut breaker) = self.breaker() else {
            return;
        };
        if self.probe || breaker.state() != BreakerState::HalfOpen {
            breaker.on_failure(now());
        }
    }

    /// The breaker this pick reports to, unless it has been closed by the
    /// checks since the pick was made.
    fn breaker(&self) -> Option<MutexGuard<'_, CircuitBreaker>> {
        let breaker = self
            .shared
            .breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (self.shared.generation.load(Ordering::Acquire) == self.generation).then_some(breaker)
    }
}

#[cfg(feature = "http")]
impl<E: Send + 'static> Pick<E> {
    /// Hands this pick to a response body that is passed on (a proxy's):
    /// the request stays outstanding until the body has been read to its
    /// end, which reports success, or fails, which reports failure (so
    /// least-outstanding balancing sees downloads, not just their heads).
    /// A body dropped part-way reports neither; one already at its end
    /// reports success at once.
    ///
    /// ```
    /// use tetsuo::balance::{Balancer, Policy};
    /// use tetsuo::http::Body;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lb = Balancer::new(Policy::LeastOutstanding);
    /// lb.insert("10.0.0.1:80", 1);
    /// let body = lb.pick(None).unwrap().track(Body::from("a response"));
    /// assert_eq!(lb.endpoints()[0].outstanding, 1);
    /// let bytes = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
    /// assert_eq!(bytes, "a response");
    /// assert_eq!(lb.endpoints()[0].outstanding, 0);
    /// # }
    /// ```
    pub fn track(self, body: crate::http::Body) -> crate::http::Body {
        if http_body::Body::is_end_stream(&body) {
            self.success();
            return body;
        }
        crate::http::Body::wrap(Tracked {
            body,
            pick: Some(self),
        })
    }
}

/// A body holding the pick it came through until it ends.
#[cfg(feature = "http")]
struct Tracked<E> {
    body: crate::http::Body,
    pick: Option<Pick<E>>,
}

// Nothing in it is pinned: the body is polled through its own `Pin::new`.
#[cfg(feature = "http")]
impl<E> Unpin for Tracked<E> {}

#[cfg(feature = "http")]
impl<E> http_body::Body for Tracked<E> {
    type Data = bytes::Bytes;
    type Error = crate::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, crate::Error>>> {
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            None => self.pick.take().map(Pick::success),
            Some(Err(_)) => self.pick.take().map(Pick::failure),
            Some(Ok(_)) => None,
        };
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl<E> Drop for Pick<E> {
    fn drop(&mut self) {
        self.shared.outstanding.fetch_sub(1, Ordering::AcqRel);
        if !self.reported && self.probe {
            // A probe abandoned without a verdict must not hold the breaker
            // half-open for ever: it counts against the endpoint (another
            // probe follows the cool-down).
            if let Some(mut breaker) = self.breaker()
                && breaker.state() == BreakerState::HalfOpen
            {
                breaker.on_failure(now());
            }
        }
    }
}
