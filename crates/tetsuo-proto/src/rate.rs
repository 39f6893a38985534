//! Rate limiting without a clock: a token bucket that is told the time.
//!
//! The server uses one bucket per client IP for its new-connection rate
//! limit; connection pools use them per key. The bucket owns no timer: every
//! call takes `now`, so tests drive it with made-up instants.

use std::time::{Duration, Instant};

/// A token bucket (RFC 2697's single-rate idea): `rate` tokens per second
/// accrue up to `burst`; each admitted event takes one.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tetsuo_proto::rate::TokenBucket;
///
/// let start = Instant::now();
/// // Two per second, bursts of up to two.
/// let mut bucket = TokenBucket::new(2.0, 2, start);
/// assert!(bucket.try_take(start));
/// assert!(bucket.try_take(start));
/// assert!(!bucket.try_take(start));
/// // Half a second later one token has accrued.
/// assert!(bucket.try_take(start + Duration::from_millis(500)));
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens per second.
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` tokens per second, holding at most
    /// `burst` (at least one).
    pub fn new(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                0.0
            },
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // An instant before the last one (callers on several threads) adds
        // nothing rather than going backwards.
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if now > self.last {
            self.last = now;
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long after `now` until a token is available (zero if one is).
    /// `None` if the bucket never refills (a rate of zero).
    pub fn wait_time(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            Some(Duration::ZERO)
        } else if self.rate == 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Whether the bucket is full at `now`: it then remembers nothing and
    /// can be forgotten (a fresh bucket would behave the same).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5, t0);
        for _ in 0..5 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0));
        assert_eq!(b.wait_time(t0), Some(Duration::from_millis(100)));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert!(b.is_full(later));
        for _ in 0..5 {
            assert!(b.try_take(later));
        }
        assert!(!b.try_take(later));
    }

    #[test]
    fn a_zero_rate_never_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(3600)));
        assert_eq!(b.wait_time(t0), None);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1.0, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(5)));
        assert!(b.try_take(t0 + Duration::from_secs(1)));
    }

    proptest! {
        /// Over any schedule, admissions never exceed burst + rate * elapsed.
        #[test]
        fn never_admits_more_than_the_rate_allows(
            rate in 1u32..100,
            burst in 1u32..20,
            steps in proptest::collection::vec(0u64..200, 1..200),
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(f64::from(rate), burst, t0);
            let mut now = t0;
            let mut admitted = 0u64;
            for ms in steps {
                now += Duration::from_millis(ms);
                if b.try_take(now) {
                    admitted += 1;
                }
            }
            let elapsed = (now - t0).as_secs_f64();
            let allowed = f64::from(burst) + elapsed * f64::from(rate);
            prop_assert!(admitted as f64 <= allowed + 1e-9);
        }
    }
}
