//! The calculator service: `add`, `sub`, `mul`, `div` on two numbers, and
//! `sleep` (milliseconds) to try deadlines and cancellation with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::framework::{Code, RpcError, Service};

/// The operands of the arithmetic methods.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Operands {
    pub(crate) a: f64,
    pub(crate) b: f64,
}

/// The parameter of `sleep`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Sleep {
    pub(crate) ms: u64,
}

/// Counts what the server saw, for `stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// `sleep` calls that were stopped before they finished (cancelled,
    /// deadline passed, connection gone).
    pub(crate) sleeps_stopped: AtomicU64,
    /// `sleep` calls running now.
    pub(crate) sleeping: AtomicU64,
}

/// The service, counting into `stats`.
pub(crate) fn service(stats: Arc<Stats>) -> Service {
    let stopped = stats.clone();
    Service::default()
        .method("add", |o: Operands| async move { Ok(o.a + o.b) })
        .method("sub", |o: Operands| async move { Ok(o.a - o.b) })
        .method("mul", |o: Operands| async move { Ok(o.a * o.b) })
        .method("div", |o: Operands| async move {
            if o.b == 0.0 {
                return Err(RpcError::new(Code::Failed, "division by zero"));
            }
            Ok(o.a / o.b)
        })
        .method("sleep", move |s: Sleep| {
            let stopped = stopped.clone();
            async move {
                // Counts unless the sleep completes: a dropped future (a
                // cancel, the deadline) is what stops it.
                let _running = Running(&stopped.sleeping);
                stopped.sleeping.fetch_add(1, Ordering::Relaxed);
                let guard = Counted(&stopped.sleeps_stopped);
                tokio::time::sleep(Duration::from_millis(s.ms)).await;
                std::mem::forget(guard);
                Ok(s.ms)
            }
        })
        .method("stats", move |(): ()| {
            let stats = stats.clone();
            async move { Ok(stats.sleeps_stopped.load(Ordering::Relaxed)) }
        })
}

/// Adds one when dropped.
struct Counted<'a>(&'a AtomicU64);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Takes one off when dropped.
struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
