//! Exponential backoff with jitter, fed its random numbers.

use std::time::Duration;

/// How much of each delay is random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The delay is exactly the exponential ceiling.
    None,
    /// Uniform between zero and the ceiling ("full jitter": clients that
    /// failed together spread out the most).
    Full,
    /// Half the ceiling plus a uniform share of the other half.
    Equal,
}

/// Delays between retries: `initial * multiplier^n`, capped at `max`, with
/// [`Jitter`], for at most `max_retries` retries.
///
/// The backoff draws no random numbers itself: [`next_delay`](Self::next_delay)
/// takes a uniformly random `u64` from the caller.
///
/// ```
/// use std::time::Duration;
/// use tetsuo_proto::connect::{Backoff, Jitter};
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
///     .jitter(Jitter::None)
///     .max_retries(Some(5));
/// let delays: Vec<_> = std::iter::from_fn(|| backoff.next_delay(0)).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
/// // With full jitter a delay lies between zero and the same ceiling.
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.next_delay(u64::MAX / 2), Some(Duration::from_millis(50)));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: Jitter,
    max_retries: Option<u32>,
    retries: u32,
}

impl Backoff {
    /// Doubling delays from `initial` up to `max`, full jitter, no limit on
    /// the number of retries.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
            jitter: Jitter::Full,
            max_retries: None,
            retries: 0,
        }
    }

    /// Growth factor per retry (at least 1; default 2).
    pub fn multiplier(mut self, multiplier: f64) -> Backoff {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// How delays are randomised (default [`Jitter::Full`]).
    pub fn jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// Most retries before [`next_delay`](Self::next_delay) answers `None`
    /// (default `None`: no limit).
    pub fn max_retries(mut self, max: Option<u32>) -> Backoff {
        self.max_retries = max;
        self
    }

    /// The ceiling of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = self.multiplier.powi(self.retries.min(1024) as i32);
        let secs = self.initial.as_secs_f64() * factor;
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }

    /// The delay before the next retry, drawn with `random` (uniform over
    /// `u64`); `None` once the retries are used up.
    pub fn next_delay(&mut self, random: u64) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        let ceiling = self.ceiling();
        self.retries = self.retries.saturating_add(1);
        let share = random as f64 / (u64::MAX as f64 + 1.0);
        Some(match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(share),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(share),
        })
    }

    /// Retries handed out since the last [`reset`](Self::reset).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Starts over from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.retries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn caps_limits_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10))
            .jitter(Jitter::None)
            .multiplier(3.0)
            .max_retries(Some(4));
        let got: Vec<_> = std::iter::from_fn(|| b.next_delay(7)).collect();
        assert_eq!(got, [1, 3, 9, 10].map(Duration::from_secs));
        assert_eq!(b.retries(), 4);
        b.reset();
        assert_eq!(b.next_delay(0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn many_retries_stay_at_the_cap() {
        let mut b =
            Backoff::new(Duration::from_millis(1), Duration::from_secs(30)).jitter(Jitter::None);
        for _ in 0..5000 {
            b.next_delay(0);
        }
        assert_eq!(b.next_delay(0), Some(Duration::from_secs(30)));
    }

    proptest! {
        #[test]
        fn jittered_delays_stay_within_their_ceiling(
            randoms in proptest::collection::vec(any::<u64>(), 1..40),
            equal in any::<bool>(),
        ) {
            let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(2))
                .jitter(if equal { Jitter::Equal } else { Jitter::Full });
            for r in randoms {
                let ceiling = b.ceiling();
                let d = b.next_delay(r).unwrap();
                prop_assert!(d <= ceiling);
                if equal {
                    prop_assert!(d >= ceiling / 2);
                }
            }
        }
    }
}
