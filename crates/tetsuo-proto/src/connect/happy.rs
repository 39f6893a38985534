//! Happy Eyeballs version 2 (RFC 8305) as a planner without I/O.
//!
//! The caller asks for AAAA and A records in parallel and reports each
//! answer ([`HappyEyeballs::resolved`]); the planner decides when to start
//! connection attempts and to which address ([`Action::Connect`]), and the
//! caller reports how each attempt ended ([`HappyEyeballs::connected`],
//! [`HappyEyeballs::failed`]). Between events the caller sleeps until
//! [`HappyEyeballs::poll_timeout`] and then polls again.
//!
//! What the planner does, by section of RFC 8305:
//!
//! - §3: an AAAA answer starts the race at once; an A answer that comes
//!   first waits the resolution delay (50 ms) for the AAAA answer.
//! - §4: addresses are interleaved by family, starting with
//!   [`HappyEyeballsConfig::first_family_count`] addresses of the preferred
//!   family (IPv6); addresses that arrive mid-race join the untried ones and
//!   are interleaved again.
//! - §5: one attempt starts per connection attempt delay (250 ms, clamped to
//!   100 ms – 2 s); an attempt that fails starts the next one at once. The
//!   first attempt to connect wins and every other is cancelled.
//! - An overall timeout ends the race with every attempt's cause.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv6 (AAAA records).
    V6,
    /// IPv4 (A records).
    V4,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        }
    }

    fn other(self) -> Family {
        match self {
            Family::V6 => Family::V4,
            Family::V4 => Family::V6,
        }
    }
}

/// The tunables of a race; the defaults are RFC 8305's.
#[derive(Debug, Clone)]
pub struct HappyEyeballsConfig {
    /// How long an A answer waits for the AAAA answer (default 50 ms).
    pub resolution_delay: Duration,
    /// Time between the starts of two attempts (default 250 ms); clamped to
    /// 100 ms – 2 s as RFC 8305 §5 requires.
    pub attempt_delay: Duration,
    /// Addresses of the preferred family tried before the first of the other
    /// family (default 1).
    pub first_family_count: usize,
    /// The family tried first (default IPv6).
    pub preferred: Family,
    /// Longest race; `None` lets attempts run until each fails.
    pub timeout: Option<Duration>,
}

impl Default for HappyEyeballsConfig {
    fn default() -> HappyEyeballsConfig {
        HappyEyeballsConfig {
            resolution_delay: Duration::from_millis(50),
            attempt_delay: Duration::from_millis(250),
            first_family_count: 1,
            preferred: Family::V6,
            timeout: None,
        }
    }
}

impl HappyEyeballsConfig {
    fn clamped_attempt_delay(&self) -> Duration {
        self.attempt_delay
            .clamp(Duration::from_millis(100), Duration::from_secs(2))
    }
}

/// Names one connection attempt of a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(u32);

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<E> {
    /// Start connecting to `addr`; report the outcome under `attempt`.
    Connect {
        /// The attempt's name.
        attempt: AttemptId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Abandon this attempt (another one won, or the race timed out).
    Cancel {
        /// The attempt's name.
        attempt: AttemptId,
        /// Where it was connecting.
        addr: SocketAddr,
    },
    /// The race is won by this attempt; nothing follows.
    Connected {
        /// The winning attempt.
        attempt: AttemptId,
        /// Its address.
        addr: SocketAddr,
    },
    /// The race is lost; nothing follows.
    Failed(Failure<E>),
}

/// Why a race was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Both queries answered without a single address.
    NoAddresses,
    /// Every address was tried and every attempt failed.
    AllFailed,
    /// The overall timeout passed first.
    TimedOut,
}

/// A lost race: why, and every attempt's cause in the order they ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<E> {
    /// Why the race ended.
    pub reason: FailureReason,
    /// Each failed attempt's address and cause.
    pub attempts: Vec<(SocketAddr, E)>,
    /// Attempts still in progress when the race timed out (cancelled).
    pub abandoned: Vec<SocketAddr>,
}

/// The state of one family's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Pending,
    Answered(Instant),
}

/// A Happy Eyeballs race planner: AAAA and A answers and attempt outcomes
/// in, "connect to X", "cancel Y" and "wake me at t" out (RFC 8305 §3–§5,
/// as the [`connect`](crate::connect) module describes).
///
/// ```
/// use std::time::{Duration, Instant};
/// use tetsuo_proto::connect::{Action, Family, HappyEyeballs, HappyEyeballsConfig};
///
/// let t0 = Instant::now();
/// let v6 = "[2001:db8::1]:443".parse().unwrap();
/// let v4 = "192.0.2.1:443".parse().unwrap();
/// let mut race = HappyEyeballs::<&str>::new(HappyEyeballsConfig::default(), t0);
/// race.resolved(Family::V6, [v6], t0);
/// race.resolved(Family::V4, [v4], t0);
/// let Some(Action::Connect { attempt: first, addr }) = race.poll_action(t0) else { panic!() };
/// assert_eq!(addr, v6);
/// // IPv6 hangs: 250 ms later IPv4 is tried too.
/// assert_eq!(race.poll_timeout(), Some(t0 + Duration::from_millis(250)));
/// let t1 = t0 + Duration::from_millis(250);
/// let Some(Action::Connect { attempt: second, addr }) = race.poll_action(t1) else { panic!() };
/// assert_eq!(addr, v4);
/// race.connected(second, t1 + Duration::from_millis(5));
/// assert_eq!(race.poll_action(t1), Some(Action::Cancel { attempt: first, addr: v6 }));
/// assert_eq!(race.poll_action(t1), Some(Action::Connected { attempt: second, addr: v4 }));
/// assert_eq!(race.poll_action(t1), None);
/// ```
#[derive(Debug)]
pub struct HappyEyeballs<E> {
    config: HappyEyeballsConfig,
    deadline: Option<Instant>,
    v6: Query,
    v4: Query,
    racing: bool,
    /// Untried addresses, in the order they will be tried.
    queue: VecDeque<SocketAddr>,
    /// Every address ever queued (no address is tried twice).
    known: Vec<SocketAddr>,
    in_flight: Vec<(AttemptId, SocketAddr)>,
    next_id: u32,
    /// Family of the last attempt started (interleaving continues from it).
    last_family: Option<Family>,
    /// Attempts started to the preferred family.
    preferred_started: usize,
    next_attempt_at: Option<Instant>,
    failures: Vec<(SocketAddr, E)>,
    actions: VecDeque<Action<E>>,
    finished: bool,
}

impl<E> HappyEyeballs<E> {
    /// A race that starts at `now`; its queries are in flight.
    pub fn new(config: HappyEyeballsConfig, now: Instant) -> HappyEyeballs<E> {
        HappyEyeballs {
            deadline: config.timeout.map(|t| now + t),
            config,
            v6: Query::Pending,
            v4: Query::Pending,
            racing: false,
            queue: VecDeque::new(),
            known: Vec::new(),
            in_flight: Vec::new(),
            next_id: 0,
            last_family: None,
            preferred_started: 0,
            next_attempt_at: None,
            failures: Vec::new(),
            actions: VecDeque::new(),
            finished: false,
        }
    }

    /// The query for `family` answered with `addrs` (empty when it found
    /// nothing or failed). Addresses already known are ignored.
    pub fn resolved(
        &mut self,
        family: Family,
        addrs: impl IntoIterator<Item = SocketAddr>,
        now: Instant,
    ) {
        let query = match family {
            Family::V6 => &mut self.v6,
            Family::V4 => &mut self.v4,
        };
        if *query == Query::Pending {
            *query = Query::Answered(now);
        }
        self.add(addrs);
    }

    /// One resolver call answered for both families at once (the system's
    /// `getaddrinfo`). The order within each family is kept.
    pub fn resolved_all(&mut self, addrs: impl IntoIterator<Item = SocketAddr>, now: Instant) {
        self.resolved(Family::V6, addrs, now);
        self.resolved(Family::V4, [], now);
    }

    fn add(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) {
        if self.finished {
            return;
        }
        let mut added = false;
        for addr in addrs {
            if !self.known.contains(&addr) {
                self.known.push(addr);
                self.queue.push_back(addr);
                added = true;
            }
        }
        if added {
            self.interleave();
        }
    }

    /// Orders the untried addresses: after the first attempt, families
    /// alternate starting with the one not tried last; before it, the
    /// preferred family opens with `first_family_count` addresses.
    fn interleave(&mut self) {
        let preferred = self.config.preferred;
        // Preferred-family attempts still owed before families alternate.
        let owed = self
            .config
            .first_family_count
            .max(1)
            .saturating_sub(self.preferred_started);
        let (first, run) = match self.last_family {
            None => (preferred, owed),
            Some(last) if last == preferred && owed > 0 => (preferred, owed),
            Some(last) => (last.other(), 1),
        };
        let (mut a, mut b): (VecDeque<_>, VecDeque<_>) = self
            .queue
            .drain(..)
            .partition(|addr| Family::of(addr) == first);
        for _ in 0..run {
            match a.pop_front() {
                Some(addr) => self.queue.push_back(addr),
                None => break,
            }
        }
        loop {
            match (b.pop_front(), a.pop_front()) {
                (None, None) => break,
                (x, y) => self.queue.extend(x.into_iter().chain(y)),
            }
        }
    }

    /// The preferred family's query, then the other's.
    fn queries(&self) -> (Query, Query) {
        match self.config.preferred {
            Family::V6 => (self.v6, self.v4),
            Family::V4 => (self.v4, self.v6),
        }
    }

    /// The attempt connected: it wins, every other attempt is cancelled.
    /// Unknown or already-ended attempts are ignored.
    pub fn connected(&mut self, attempt: AttemptId, _now: Instant) {
        let Some(pos) = self.in_flight.iter().position(|(id, _)| *id == attempt) else {
            return;
        };
        let (_, addr) = self.in_flight.remove(pos);
        self.cancel_all();
        self.actions.push_back(Action::Connected { attempt, addr });
        self.finish();
    }

    /// The attempt failed with `cause`; the next address is tried at once.
    pub fn failed(&mut self, attempt: AttemptId, cause: E, now: Instant) {
        let Some(pos) = self.in_flight.iter().position(|(id, _)| *id == attempt) else {
            return;
        };
        let (_, addr) = self.in_flight.remove(pos);
        self.failures.push((addr, cause));
        self.next_attempt_at = Some(now);
    }

    fn cancel_all(&mut self) {
        for (attempt, addr) in self.in_flight.drain(..) {
            self.actions.push_back(Action::Cancel { attempt, addr });
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        self.queue.clear();
        self.next_attempt_at = None;
    }

    fn fail(&mut self, reason: FailureReason) {
        let abandoned = self.in_flight.iter().map(|(_, addr)| *addr).collect();
        self.cancel_all();
        self.actions.push_back(Action::Failed(Failure {
            reason,
            attempts: std::mem::take(&mut self.failures),
            abandoned,
        }));
        self.finish();
    }

    /// The next thing to do at `now`, or `None` until an answer, an outcome
    /// or [`poll_timeout`](Self::poll_timeout) comes.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action<E>> {
        if self.actions.is_empty() && !self.finished {
            self.step(now);
        }
        self.actions.pop_front()
    }

    fn step(&mut self, now: Instant) {
        if self.deadline.is_some_and(|at| now >= at) {
            self.fail(FailureReason::TimedOut);
            return;
        }
        if !self.racing {
            self.racing = match self.queries() {
                (Query::Answered(_), _) => true,
                (Query::Pending, Query::Answered(at)) => now >= at + self.config.resolution_delay,
                (Query::Pending, Query::Pending) => false,
            };
        }
        if self.racing
            && !self.queue.is_empty()
            && (self.in_flight.is_empty() || self.next_attempt_at.is_some_and(|at| now >= at))
        {
            let addr = self.queue.pop_front().expect("checked non-empty");
            let attempt = AttemptId(self.next_id);
            self.next_id += 1;
            self.in_flight.push((attempt, addr));
            self.last_family = Some(Family::of(&addr));
            if Family::of(&addr) == self.config.preferred {
                self.preferred_started += 1;
            }
            self.next_attempt_at = Some(now + self.config.clamped_attempt_delay());
            self.actions.push_back(Action::Connect { attempt, addr });
            return;
        }
        let answered = self.v6 != Query::Pending && self.v4 != Query::Pending;
        if answered && self.queue.is_empty() && self.in_flight.is_empty() {
            let reason = if self.failures.is_empty() {
                FailureReason::NoAddresses
            } else {
                FailureReason::AllFailed
            };
            self.fail(reason);
        }
    }

    /// When to call [`poll_action`](Self::poll_action) again if nothing
    /// else happens first; `None` when only an answer or an outcome can move
    /// the race (or it is over).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let resolution = match (self.racing, self.queries()) {
            (false, (Query::Pending, Query::Answered(at))) => {
                Some(at + self.config.resolution_delay)
            }
            _ => None,
        };
        let attempt = if self.racing && !self.queue.is_empty() {
            self.next_attempt_at
        } else {
            None
        };
        [resolution, attempt, self.deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Attempts in progress.
    pub fn in_flight(&self) -> impl ExactSizeIterator<Item = (AttemptId, SocketAddr)> + '_ {
        self.in_flight.iter().copied()
    }

    /// True once the race has been won or lost.
    pub fn is_finished(&self) -> bool {
        self.finished && self.actions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn v6(n: u16) -> SocketAddr {
        SocketAddr::new(format!("2001:db8::{n}").parse().unwrap(), 443)
    }

    fn v4(n: u8) -> SocketAddr {
        SocketAddr::new(format!("192.0.2.{n}").parse().unwrap(), 443)
    }

    fn race(config: HappyEyeballsConfig) -> (HappyEyeballs<&'static str>, Instant) {
        let t0 = Instant::now();
        (HappyEyeballs::new(config, t0), t0)
    }

    fn expect_connect(
        race: &mut HappyEyeballs<&'static str>,
        now: Instant,
    ) -> (AttemptId, SocketAddr) {
        match race.poll_action(now) {
            Some(Action::Connect { attempt, addr }) => (attempt, addr),
            other => panic!("expected a connect, got {other:?}"),
        }
    }

    #[test]
    fn ipv6_wins_when_fast() {
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved(Family::V6, [v6(1)], t0);
        let (a, addr) = expect_connect(&mut he, t0);
        assert_eq!(addr, v6(1));
        he.resolved(Family::V4, [v4(1)], t0 + ms(10));
        assert_eq!(he.poll_action(t0 + ms(10)), None);
        he.connected(a, t0 + ms(20));
        assert_eq!(
            he.poll_action(t0 + ms(20)),
            Some(Action::Connected {
                attempt: a,
                addr: v6(1)
            })
        );
        assert_eq!(he.poll_action(t0 + ms(20)), None);
        assert!(he.is_finished());
        assert_eq!(he.poll_timeout(), None);
    }

    #[test]
    fn ipv4_wins_one_attempt_delay_later_when_ipv6_hangs() {
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved(Family::V6, [v6(1)], t0);
        he.resolved(Family::V4, [v4(1)], t0);
        let (a, addr) = expect_connect(&mut he, t0);
        assert_eq!(addr, v6(1));
        assert_eq!(he.poll_action(t0 + ms(249)), None);
        assert_eq!(he.poll_timeout(), Some(t0 + ms(250)));
        let (b, addr) = expect_connect(&mut he, t0 + ms(250));
        assert_eq!(addr, v4(1));
        he.connected(b, t0 + ms(251));
        assert_eq!(
            he.poll_action(t0 + ms(251)),
            Some(Action::Cancel {
                attempt: a,
                addr: v6(1)
            })
        );
        assert_eq!(
            he.poll_action(t0 + ms(251)),
            Some(Action::Connected {
                attempt: b,
                addr: v4(1)
            })
        );
        // The loser reporting late changes nothing.
        he.failed(a, "late", t0 + ms(300));
        assert_eq!(he.poll_action(t0 + ms(300)), None);
    }

    #[test]
    fn a_answer_first_waits_the_resolution_delay_for_aaaa() {
        // AAAA arrives within the delay: IPv6 still goes first.
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved(Family::V4, [v4(1)], t0);
        assert_eq!(he.poll_action(t0), None);
        assert_eq!(he.poll_timeout(), Some(t0 + ms(50)));
        he.resolved(Family::V6, [v6(1)], t0 + ms(30));
        assert_eq!(expect_connect(&mut he, t0 + ms(30)).1, v6(1));

        // AAAA is late: IPv4 starts at 50 ms; IPv6 joins when it comes.
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved(Family::V4, [v4(1), v4(2)], t0);
        assert_eq!(he.poll_action(t0 + ms(49)), None);
        assert_eq!(expect_connect(&mut he, t0 + ms(50)).1, v4(1));
        he.resolved(Family::V6, [v6(1)], t0 + ms(100));
        assert_eq!(he.poll_action(t0 + ms(100)), None);
        // The next attempt (one delay after the first) is the new IPv6 address.
        assert_eq!(he.poll_timeout(), Some(t0 + ms(300)));
        assert_eq!(expect_connect(&mut he, t0 + ms(300)).1, v6(1));
        assert_eq!(expect_connect(&mut he, t0 + ms(550)).1, v4(2));
    }

    #[test]
    fn addresses_interleave_by_family() {
        let order = |first_family_count| {
            let (mut he, t0) = race(HappyEyeballsConfig {
                first_family_count,
                ..Default::default()
            });
            he.resolved(Family::V4, [v4(1), v4(2)], t0);
            he.resolved(Family::V6, [v6(1), v6(2), v6(3)], t0);
            let mut order = Vec::new();
            let mut now = t0;
            while let Some(Action::Connect { addr, .. }) = he.poll_action(now) {
                order.push(addr);
                now += ms(250);
            }
            order
        };
        assert_eq!(order(1), [v6(1), v4(1), v6(2), v4(2), v6(3)]);
        assert_eq!(order(2), [v6(1), v6(2), v4(1), v6(3), v4(2)]);
    }

    #[test]
    fn first_family_count_holds_for_late_addresses_and_ipv4_can_be_preferred() {
        // Count 2: the second IPv6 address still goes before an A answer
        // that arrives after the first attempt started.
        let (mut he, t0) = race(HappyEyeballsConfig {
            first_family_count: 2,
            ..Default::default()
        });
        he.resolved(Family::V6, [v6(1), v6(2), v6(3)], t0);
        assert_eq!(expect_connect(&mut he, t0).1, v6(1));
        he.resolved(Family::V4, [v4(1)], t0 + ms(10));
        assert_eq!(expect_connect(&mut he, t0 + ms(250)).1, v6(2));
        assert_eq!(expect_connect(&mut he, t0 + ms(500)).1, v4(1));
        assert_eq!(expect_connect(&mut he, t0 + ms(750)).1, v6(3));

        // IPv4 preferred: an AAAA answer that comes first waits for A.
        let (mut he, t0) = race(HappyEyeballsConfig {
            preferred: Family::V4,
            ..Default::default()
        });
        he.resolved(Family::V6, [v6(1)], t0);
        assert_eq!(he.poll_action(t0), None);
        assert_eq!(he.poll_timeout(), Some(t0 + ms(50)));
        he.resolved(Family::V4, [v4(1)], t0 + ms(20));
        assert_eq!(expect_connect(&mut he, t0 + ms(20)).1, v4(1));
        assert_eq!(expect_connect(&mut he, t0 + ms(270)).1, v6(1));
    }

    #[test]
    fn failure_starts_the_next_attempt_at_once_and_all_failures_are_listed() {
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved_all([v6(1), v4(1)], t0);
        let (a, _) = expect_connect(&mut he, t0);
        he.failed(a, "refused", t0 + ms(1));
        let (b, addr) = expect_connect(&mut he, t0 + ms(1));
        assert_eq!(addr, v4(1));
        he.failed(b, "unreachable", t0 + ms(2));
        assert_eq!(
            he.poll_action(t0 + ms(2)),
            Some(Action::Failed(Failure {
                reason: FailureReason::AllFailed,
                attempts: vec![(v6(1), "refused"), (v4(1), "unreachable")],
                abandoned: vec![],
            }))
        );
        assert!(he.is_finished());
    }

    #[test]
    fn no_addresses_and_overall_timeout() {
        let (mut he, t0) = race(HappyEyeballsConfig::default());
        he.resolved(Family::V6, [], t0);
        assert_eq!(he.poll_action(t0), None);
        he.resolved(Family::V4, [], t0);
        assert!(matches!(
            he.poll_action(t0),
            Some(Action::Failed(Failure {
                reason: FailureReason::NoAddresses,
                ..
            }))
        ));

        let (mut he, t0) = race(HappyEyeballsConfig {
            timeout: Some(ms(400)),
            ..Default::default()
        });
        he.resolved_all([v6(1), v4(1)], t0);
        let (a, _) = expect_connect(&mut he, t0);
        let (b, _) = expect_connect(&mut he, t0 + ms(250));
        assert_eq!(he.poll_timeout(), Some(t0 + ms(400)));
        assert_eq!(
            he.poll_action(t0 + ms(400)),
            Some(Action::Cancel {
                attempt: a,
                addr: v6(1)
            })
        );
        assert_eq!(
            he.poll_action(t0 + ms(400)),
            Some(Action::Cancel {
                attempt: b,
                addr: v4(1)
            })
        );
        assert_eq!(
            he.poll_action(t0 + ms(400)),
            Some(Action::Failed(Failure {
                reason: FailureReason::TimedOut,
                attempts: vec![],
                abandoned: vec![v6(1), v4(1)],
            }))
        );
    }

    #[test]
    fn attempt_delay_is_clamped() {
        for (asked, used) in [(10, 100), (250, 250), (5000, 2000)] {
            let (mut he, t0) = race(HappyEyeballsConfig {
                attempt_delay: ms(asked),
                ..Default::default()
            });
            he.resolved_all([v6(1), v6(2)], t0);
            expect_connect(&mut he, t0);
            assert_eq!(he.poll_timeout(), Some(t0 + ms(used)));
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Answer(bool, Vec<u8>),
        Advance(u16),
        Connected(u8),
        Failed(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (any::<bool>(), proptest::collection::vec(0u8..8, 0..4))
                .prop_map(|(f, a)| Step::Answer(f, a)),
            (0u16..600).prop_map(Step::Advance),
            (0u8..8).prop_map(Step::Connected),
            (0u8..8).prop_map(Step::Failed),
        ]
    }

    proptest! {
        /// Whatever happens, no address is tried twice, the race ends at
        /// most once, and every started attempt is accounted for.
        #[test]
        fn any_event_order_is_consistent(steps in proptest::collection::vec(step(), 0..40)) {
            let (mut he, t0) = race(HappyEyeballsConfig { timeout: Some(ms(3000)), ..Default::default() });
            let mut now = t0;
            let mut started: Vec<(AttemptId, SocketAddr)> = Vec::new();
            let mut ends = 0;
            for step in steps {
                match step {
                    Step::Answer(six, addrs) => {
                        let addrs = addrs.into_iter().map(|n| if six { v6(n.into()) } else { v4(n) });
                        he.resolved(if six { Family::V6 } else { Family::V4 }, addrs.collect::<Vec<_>>(), now);
                    }
                    Step::Advance(d) => now += ms(d.into()),
                    Step::Connected(i) => if let Some(&(id, _)) = started.get(usize::from(i)) { he.connected(id, now) },
                    Step::Failed(i) => if let Some(&(id, _)) = started.get(usize::from(i)) { he.failed(id, "x", now) },
                }
                while let Some(action) = he.poll_action(now) {
                    match action {
                        Action::Connect { attempt, addr } => {
                            prop_assert!(!started.iter().any(|(_, a)| *a == addr));
                            started.push((attempt, addr));
                        }
                        Action::Connected { .. } | Action::Failed(_) => ends += 1,
                        Action::Cancel { .. } => {}
                    }
                }
                if let Some(at) = he.poll_timeout() {
                    prop_assert!(at >= t0);
                }
            }
            // Past the overall timeout the race is always over.
            let end = now.max(t0 + ms(3000));
            while let Some(action) = he.poll_action(end) {
                if matches!(action, Action::Connected { .. } | Action::Failed(_)) {
                    ends += 1;
                }
            }
            prop_assert!(he.is_finished());
            prop_assert_eq!(ends, 1);
        }
    }
}
