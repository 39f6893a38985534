//! The pure logic of the connect pipeline: Happy Eyeballs, backoff and the
//! circuit breaker, each a machine that is told the time.
//!
//! - [`HappyEyeballs`] plans a connection race over a host's addresses
//!   (RFC 8305): name answers and attempt outcomes go in, "start an attempt
//!   to X", "cancel Y" and "wake me at t" come out.
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
