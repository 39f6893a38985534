//! Retrying with backoff, and keeping a long-lived connection alive.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tetsuo_proto::connect::{Backoff, CircuitBreaker};

use super::{ConnectInfo, Connector, Stream, Target, race::now};
use crate::{Error, ErrorKind, Result};

/// Runs an operation again after retryable failures
/// ([`Error::is_retryable`]), waiting [`Backoff`] delays between tries, and
/// consulting a shared [`CircuitBreaker`] if one is given: while it is open
/// the operation is not run and the wait lasts until its cool-down ends.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use tetsuo::connect::{Backoff, Retry};
/// use tetsuo::ErrorKind;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = AtomicU32::new(0);
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).max_retries(Some(3));
/// let answer = Retry::new(backoff)
///     .run(|_attempt| async {
///         // Refused twice, then it works.
///         if calls.fetch_add(1, Ordering::SeqCst) < 2 {
///             Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into())
///         } else {
///             Ok(42)
///         }
///     })
///     .await
///     .unwrap();
/// assert_eq!((answer, calls.load(Ordering::SeqCst)), (42, 3));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Retry {
    backoff: Backoff,
    breaker: Option<Arc<Mutex<CircuitBreaker>>>,
}

impl Retry {
    /// Retries spaced by `backoff` (whose `max_retries` bounds them).
    pub fn new(backoff: Backoff) -> Retry {
        Retry {
            backoff,
            breaker: None,
        }
    }

    /// Consults and feeds `breaker` (shared by everything calling the same
    /// target).
    pub fn breaker(mut self, breaker: Arc<Mutex<CircuitBreaker>>) -> Retry {
        self.breaker = Some(breaker);
        self
    }

    /// Runs `op` (given the attempt number, from 1) until it succeeds, fails
    /// with a non-retryable error, or the retries run out; the last error
    /// is returned. An open breaker's refusal is an
    /// [`ErrorKind::CircuitOpen`] error once no retry is left.
    pub async fn run<T, F, Fut>(&mut self, mut op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.backoff.reset();
        let mut attempt = 0;
        loop {
            if let Some(breaker) = &self.breaker {
                let admitted = breaker
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .try_acquire(now());
                if let Err(rejected) = admitted {
                    if self.backoff.next_delay(super::random_u64()).is_none() {
                        return Err(Error::new(ErrorKind::CircuitOpen, "call")
                            .with_detail("circuit open after repeated failures"));
                    }
                    tokio::time::sleep_until(tokio::time::Instant::from_std(rejected.retry_at))
                        .await;
                    continue;
                }
            }
            attempt += 1;
            let result = op(attempt).await;
            if let Some(breaker) = &self.breaker {
                let mut breaker = breaker.lock().unwrap_or_else(|e| e.into_inner());
                match &result {
                    Ok(_) => breaker.on_success(now()),
                    Err(_) => breaker.on_failure(now()),
                }
            }
            let error = match result {
                Ok(value) => return Ok(value),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            match self.backoff.next_delay(super::random_u64()) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(error),
            }
        }
    }
}

/// A state change of a [`Reconnect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconnectEvent {
    /// Running the pipeline (attempt number since the last connection).
    Connecting {
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// Connected to this address.
    Connected {
        /// The TCP peer.
        remote_addr: SocketAddr,
    },
    /// The attempt failed.
    Failed {
        /// Attempt number.
        attempt: u32,
        /// Why.
        error: String,
    },
    /// Waiting before the next attempt.
    Waiting {
        /// How long.
        delay: Duration,
    },
    /// The previous connection was lost (the application asked for a new
    /// one).
    Disconnected,
    /// No more attempts: the error was not retryable or the backoff's
    /// retries ran out.
    GaveUp,
}

type Observer = Arc<dyn Fn(&ReconnectEvent) + Send + Sync>;

/// Keeps a long-lived connection coming back: [`connect`](Self::connect)
/// runs the connect pipeline, retrying with backoff; when the stream it
/// returned fails, call it again. Every state change goes to the observer.
///
/// ```no_run
/// use tetsuo::connect::{Connector, Reconnect, ReconnectEvent, Target};
/// use tokio::io::AsyncReadExt;
///
/// # async fn demo() -> tetsuo::Result<()> {
/// let mut link = Reconnect::new(Connector::new(), Target::tcp("feed.example", 7000))
///     .on_event(|event: &ReconnectEvent| eprintln!("feed: {event:?}"));
/// loop {
///     let (mut stream, _) = link.connect().await?;
///     let mut buf = vec![0; 4096];
///     while let Ok(n) = stream.read(&mut buf).await {
///         if n == 0 { break; }
///         // ... handle &buf[..n]
///     }
/// }
/// # }
/// ```
pub struct Reconnect {
    connector: Connector,
    target: Target,
    backoff: Backoff,
    observer: Option<Observer>,
    live: bool,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect")
            .field("target", &self.target)
            .field("backoff", &self.backoff)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// Reconnects to `target` through `connector`, backing off from 100 ms
    /// to 30 s with full jitter, without a limit on retries.
    pub fn new(connector: Connector, target: Target) -> Reconnect {
        Reconnect {
            connector,
            target,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            observer: None,
            live: false,
        }
    }

    /// Replaces the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Reconnect {
        self.backoff = backoff;
        self
    }

    /// Calls `observer` on every state change.
    pub fn on_event(
        mut self,
        observer: impl Fn(&ReconnectEvent) + Send + Sync + 'static,
    ) -> Reconnect {
        self.observer = Some(Arc::new(observer));
        self
    }

    fn emit(&self, event: ReconnectEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// A connection: the first, or a new one after the previous stream was
    /// lost. Retries retryable failures with backoff; gives up (with the
    /// last error) on anything else or when the retries run out.
    pub async fn connect(&mut self) -> Result<(Stream, ConnectInfo)> {
        if std::mem::take(&mut self.live) {
            self.emit(ReconnectEvent::Disconnected);
        }
        self.backoff.reset();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.emit(ReconnectEvent::Connecting { attempt });
            let error = match self.connector.connect_to(&self.target).await {
                Ok(connected) => {
                    self.emit(ReconnectEvent::Connected {
                        remote_addr: connected.1.remote_addr,
                    });
                    self.live = true;
                    return Ok(connected);
                }
                Err(e) => e,
            };
            self.emit(ReconnectEvent::Failed {
                attempt,
                error: error.to_string(),
            });
            let retry = error.is_retryable() || error.kind() == ErrorKind::CircuitOpen;
            match self
                .backoff
                .next_delay(super::random_u64())
                .filter(|_| retry)
            {
                Some(delay) => {
                    self.emit(ReconnectEvent::Waiting { delay });
                    tokio::time::sleep(delay).await;
                }
                None => {
                    self.emit(ReconnectEvent::GaveUp);
                    return Err(error);
                }
            }
        }
    }
}
