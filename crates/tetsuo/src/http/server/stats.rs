//! Per-request metrics on the hot path. Looking a labelled metric up in the
//! recorder costs more than serving a small request, so the handles are
//! resolved once per thread and resolved again only if the recorder in
//! force changes (installed late, or a thread-local one in tests).

use std::cell::RefCell;
use std::time::Duration;

use http::StatusCode;
use metrics::{Counter, Histogram, Recorder};

struct Handles {
    /// Identity of the recorder the handles came from.
    recorder: usize,
    /// Requests by status class, 1xx to 5xx.
    requests: [Counter; 5],
    duration: Histogram,
}

thread_local! {
    static HANDLES: RefCell<Option<Handles>> = const { RefCell::new(None) };
}

fn recorder_id() -> usize {
    metrics::with_recorder(|r: &dyn Recorder| std::ptr::from_ref(r).cast::<()>() as usize)
}

fn resolve(recorder: usize) -> Handles {
    let class = |c: &'static str| metrics::counter!("tetsuo_http_requests_total", "class" => c);
    Handles {
        recorder,
        requests: [
            class("1xx"),
            class("2xx"),
            class("3xx"),
            class("4xx"),
            class("5xx"),
        ],
        duration: metrics::histogram!("tetsuo_http_request_duration_seconds"),
    }
}

/// Counts a finished request of `status` that took `elapsed` (`None`: not
/// timed, such as an upgrade).
pub(super) fn request_done(status: StatusCode, elapsed: Option<Duration>) {
    let recorder = recorder_id();
    HANDLES.with(|cell| {
        let mut cell = cell.borrow_mut();
        let handles = match &mut *cell {
            Some(h) if h.recorder == recorder => h,
            slot => slot.insert(resolve(recorder)),
        };
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        handles.requests[class].increment(1);
        if let Some(elapsed) = elapsed {
            handles.duration.record(elapsed.as_secs_f64());
        }
    });
}
