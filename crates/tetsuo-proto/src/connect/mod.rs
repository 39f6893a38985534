//! The pure logic of the connect pipeline: Happy Eyeballs, backoff and the
//! circuit breaker, each a machine that is told the time.
//!
//! - [`HappyEyeballs`] plans a connection race over a host's addresses
//!   (RFC 8305): name answers and attempt outcomes go in, "start an attempt
//!   to X", "cancel Y" and "wake me at t" come out. The preferred family's
//!   answer (AAAA by default) starts the race at once; the other family's,
//!   if it comes first, waits the resolution delay (50 ms). Addresses are
//!   interleaved by family, `first_family_count` of the preferred family
//!   first, and addresses arriving mid-race join the untried ones. One
//!   attempt starts per attempt delay (250 ms, clamped to 100 ms – 2 s); a
//!   failed attempt starts the next at once; the first to connect wins and
//!   the others are cancelled; an overall timeout ends the race with every
//!   attempt's cause.
//! - [`Backoff`] spaces retries exponentially with jitter; the caller passes
//!   the random numbers.
//! - [`CircuitBreaker`] stops calls to a target that keeps failing and lets a
//!   probe through after a cool-down.
//!
//! None of them owns a socket, a timer or a random source: the I/O crate's
//! `tetsuo::connect` executes their decisions, and tests run them on made-up
//! instants.

mod backoff;
mod breaker;
mod happy;

pub use backoff::{Backoff, Jitter};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, Rejected};
pub use happy::{
    Action, AttemptId, Failure, FailureReason, Family, HappyEyeballs, HappyEyeballsConfig,
};
