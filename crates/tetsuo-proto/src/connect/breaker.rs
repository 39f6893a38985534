//! A circuit breaker for one target, told the time.

use std::time::{Duration, Instant};

/// When a [`CircuitBreaker`] opens and how it recovers.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Opens after this many failures in a row (default 5; 0 disables).
    pub consecutive_failures: u32,
    /// Opens when this share of the calls in [`window`](Self::window) failed
    /// (default 0.5; above 1 disables)...
    pub failure_ratio: f64,
    /// ...once the window holds at least this many calls (default 20).
    pub min_calls: u32,
    /// The span the failure ratio looks back over (default 30 s).
    pub window: Duration,
    /// How long the breaker stays open before a probe may pass (default 5 s).
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            cool_down: Duration::from_secs(5),
        }
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; outcomes are counted.
    Closed,
    /// Calls are refused until the instant given.
    Open {
        /// When a probe may pass.
        until: Instant,
    },
    /// One probe is in flight; its outcome closes or reopens the breaker.
    HalfOpen,
}

/// A call refused by an open breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// When a probe will be let through.
    pub retry_at: Instant,
}

const BUCKETS: usize = 10;

/// Outcomes within one slice of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The slice this bucket counts (slices since the breaker was made).
    slice: u64,
    successes: u32,
    failures: u32,
}

/// Closed → open after too many failures (in a row, or as a share of a
/// sliding window), open → half-open after the cool-down (one probe
/// passes), half-open → closed on the probe's success or → open again on
/// its failure.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tetsuo_proto::connect::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// let t0 = Instant::now();
/// let mut breaker = CircuitBreaker::new(
///     BreakerConfig { consecutive_failures: 2, ..Default::default() },
///     t0,
/// );
/// for _ in 0..2 {
///     breaker.try_acquire(t0).unwrap();
///     breaker.on_failure(t0);
/// }
/// let until = t0 + Duration::from_secs(5);
/// assert_eq!(breaker.state(), BreakerState::Open { until });
/// assert_eq!(breaker.try_acquire(t0).unwrap_err().retry_at, until);
/// // After the cool-down one probe passes; its success closes the breaker.
/// breaker.try_acquire(until).unwrap();
/// assert_eq!(breaker.state(), BreakerState::HalfOpen);
/// assert!(breaker.try_acquire(until).is_err());
/// breaker.on_success(until);
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    epoch: Instant,
    state: BreakerState,
    consecutive: u32,
    buckets: [Bucket; BUCKETS],
    /// When the half-open probe was let through.
    probe_since: Option<Instant>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig, now: Instant) -> CircuitBreaker {
        CircuitBreaker {
            config,
            epoch: now,
            state: BreakerState::Closed,
            consecutive: 0,
            buckets: [Bucket::default(); BUCKETS],
            probe_since: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to make a call at `now`. An open breaker past its cool-down
    /// turns half-open and lets this call through as the probe; a probe
    /// that never reports back is replaced after another cool-down.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Rejected> {
        match self.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until } if now < until => Err(Rejected { retry_at: until }),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen;
                self.probe_since = Some(now);
                Ok(())
            }
            BreakerState::HalfOpen => {
                let since = self.probe_since.unwrap_or(now);
                let retry_at = since + self.config.cool_down;
                if now >= retry_at {
                    self.probe_since = Some(now);
                    Ok(())
                } else {
                    Err(Rejected { retry_at })
                }
            }
        }
    }

    /// Whether [`try_acquire`](Self::try_acquire) at `now` would let a
    /// call through, without taking the probe.
    pub fn would_allow(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } => now >= until,
            BreakerState::HalfOpen => {
                let since = self.probe_since.unwrap_or(now);
                now >= since + self.config.cool_down
            }
        }
    }

    /// A call succeeded.
    pub fn on_success(&mut self, now: Instant) {
        self.consecutive = 0;
        match self.state {
            BreakerState::HalfOpen => self.close(),
            BreakerState::Closed => self.bucket(now).successes += 1,
            BreakerState::Open { .. } => {}
        }
    }

    /// A call failed.
    pub fn on_failure(&mut self, now: Instant) {
        match self.state {
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Open { .. } => {}
            BreakerState::Closed => {
                self.consecutive = self.consecutive.saturating_add(1);
                self.bucket(now).failures += 1;
                let (calls, failures) = self.window_counts(now);
                let ratio_trips = calls >= u64::from(self.config.min_calls.max(1))
                    && failures as f64 >= self.config.failure_ratio * calls as f64;
                let streak_trips = self.config.consecutive_failures > 0
                    && self.consecutive >= self.config.consecutive_failures;
                if ratio_trips || streak_trips {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open {
            until: now + self.config.cool_down,
        };
        self.probe_since = None;
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive = 0;
        self.probe_since = None;
        self.buckets = [Bucket::default(); BUCKETS];
    }

    fn slice_of(&self, now: Instant) -> u64 {
        let width = (self.config.window / BUCKETS as u32).max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(self.epoch);
        (elapsed.as_nanos() / width.as_nanos()) as u64
    }

    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let slice = self.slice_of(now);
        let bucket = &mut self.buckets[(slice % BUCKETS as u64) as usize];
        if bucket.slice != slice {
            *bucket = Bucket {
                slice,
                ..Bucket::default()
            };
        }
        bucket
    }

    fn window_counts(&self, now: Instant) -> (u64, u64) {
        let current = self.slice_of(now);
        self.buckets
            .iter()
            .filter(|b| b.slice + (BUCKETS as u64) > current && b.slice <= current)
            .fold((0, 0), |(calls, failures), b| {
                (
                    calls + u64::from(b.successes) + u64::from(b.failures),
                    failures + u64::from(b.failures),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn opens_on_a_failure_ratio_within_the_window_only() {
        let t0 = Instant::now();
        let config = BreakerConfig {
            consecutive_failures: 0,
            failure_ratio: 0.5,
            min_calls: 10,
            window: secs(10),
            cool_down: secs(5),
        };
        let mut b = CircuitBreaker::new(config.clone(), t0);
        // 4 failures among 9 calls: below the minimum, stays closed.
        for i in 0..9 {
            if i % 2 == 0 {
                b.on_success(t0);
            } else {
                b.on_failure(t0);
            }
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // The tenth call fails: 5 of 10.
        b.on_failure(t0 + secs(1));
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: t0 + secs(6)
            }
        );

        // Old failures slide out of the window.
        let mut b = CircuitBreaker::new(config, t0);
        for _ in 0..9 {
            b.on_failure(t0);
        }
        for _ in 0..9 {
            b.on_success(t0 + secs(11));
        }
        b.on_failure(t0 + secs(11));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn consecutive_failures_open_and_a_failed_probe_reopens() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(
            BreakerConfig {
                consecutive_failures: 3,
                ..Default::default()
            },
            t0,
        );
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success(t0);
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: t0 + secs(5)
            }
        );
        assert_eq!(
            b.try_acquire(t0 + secs(4)),
            Err(Rejected {
                retry_at: t0 + secs(5)
            })
        );
        assert_eq!(b.try_acquire(t0 + secs(5)), Ok(()));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.on_failure(t0 + secs(6));
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: t0 + secs(11)
            }
        );
        // A probe that never reports is replaced after a cool-down.
        assert_eq!(b.try_acquire(t0 + secs(11)), Ok(()));
        assert!(b.try_acquire(t0 + secs(12)).is_err());
        assert_eq!(b.try_acquire(t0 + secs(16)), Ok(()));
        b.on_success(t0 + secs(16));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.try_acquire(t0 + secs(16)), Ok(()));
    }
}
