//! Executes a Happy Eyeballs plan: lookups and connection attempts as
//! futures polled side by side, the planner deciding what starts when.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tetsuo_proto::connect::{Action, AttemptId, FailureReason, Family, HappyEyeballs};
use tokio::net::TcpStream;

use super::{Attempt, AttemptOutcome, Inner};
use crate::dns::{Query, ip_literal};
use crate::{Error, ErrorKind, Result};

type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What a won race hands on.
pub(super) struct Won {
    pub(super) stream: TcpStream,
    pub(super) remote: SocketAddr,
    pub(super) resolved: Vec<SocketAddr>,
    pub(super) attempts: Vec<Attempt>,
    pub(super) dns: Duration,
    pub(super) connect: Duration,
}

/// The clock of the race: tokio's, so paused-time tests drive it.
pub(super) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

enum Event {
    Answer(Option<Family>, Result<Vec<IpAddr>>),
    Outcome(usize, Result<TcpStream>),
    Timer,
}

/// Resolves `host` and races connections to its addresses on `port`.
pub(super) async fn race(inner: &Inner, host: &str, port: u16, started: Instant) -> Result<Won> {
    let mut he = HappyEyeballs::<Error>::new(inner.happy.clone(), now());
    let mut lookups: Vec<(Option<Family>, Pending<'_, Vec<IpAddr>>)> = Vec::new();
    let mut resolved: Vec<SocketAddr> = Vec::new();
    let mut dns = None;
    if let Some(ip) = ip_literal(host) {
        resolved.push(SocketAddr::new(ip, port));
        he.resolved_all(resolved.clone(), now());
        dns = Some(Duration::ZERO);
    } else if let Some(ips) = inner.overrides.get(host, port) {
        resolved.extend(ips.iter().map(|ip| SocketAddr::new(*ip, port)));
        he.resolved_all(resolved.clone(), now());
        dns = Some(Duration::ZERO);
    } else if inner.resolver.splits_families() {
        lookups.push((Some(Family::V6), lookup(inner, host, Query::V6)));
        lookups.push((Some(Family::V4), lookup(inner, host, Query::V4)));
    } else {
        lookups.push((None, lookup(inner, host, Query::Any)));
    }

    let mut dns_errors: Vec<Error> = Vec::new();
    let mut running: Vec<(AttemptId, SocketAddr, Instant, Pending<'static, TcpStream>)> =
        Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut winner: Option<TcpStream> = None;
    let mut first_attempt: Option<Instant> = None;
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);

    loop {
        while let Some(action) = he.poll_action(now()) {
            match action {
                Action::Connect { attempt, addr } => {
                    let tcp = inner.tcp.clone();
                    let at = now();
                    first_attempt.get_or_insert(at);
                    running.push((
                        attempt,
                        addr,
                        at,
                        Box::pin(async move { tcp.connect(addr).await }),
                    ));
                }
                Action::Cancel { attempt, addr } => {
                    if let Some(pos) = running.iter().position(|r| r.0 == attempt) {
                        let (_, _, at, _) = running.remove(pos);
                        attempts.push(record(addr, at, started, AttemptOutcome::Cancelled));
                    }
                }
                Action::Connected { addr, .. } => {
                    let stream = winner
                        .take()
                        .expect("the planner names the attempt we reported");
                    let end = now();
                    return Ok(Won {
                        stream,
                        remote: addr,
                        resolved,
                        attempts,
                        dns: dns.unwrap_or_default(),
                        connect: end.saturating_duration_since(first_attempt.unwrap_or(end)),
                    });
                }
                Action::Failed(failure) => {
                    return Err(lost(inner, host, port, failure, dns_errors));
                }
            }
        }

        let wake = he.poll_timeout();
        if let Some(at) = wake {
            sleep.as_mut().reset(tokio::time::Instant::from_std(at));
        }
        let event = poll_fn(|cx| {
            let mut answered = None;
            for (i, (family, lookup)) in lookups.iter_mut().enumerate() {
                if let Poll::Ready(answer) = lookup.as_mut().poll(cx) {
                    answered = Some((i, *family, answer));
                    break;
                }
            }
            if let Some((i, family, answer)) = answered {
                drop(lookups.remove(i));
                return Poll::Ready(Event::Answer(family, answer));
            }
            for (i, (_, _, _, attempt)) in running.iter_mut().enumerate() {
                if let Poll::Ready(outcome) = attempt.as_mut().poll(cx) {
                    return Poll::Ready(Event::Outcome(i, outcome));
                }
            }
            if wake.is_some() && sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Timer);
            }
            Poll::Pending
        })
        .await;

        match event {
            Event::Answer(family, answer) => {
                let ips = answer.unwrap_or_else(|e| {
                    dns_errors.push(e);
                    Vec::new()
                });
                let addrs: Vec<SocketAddr> = ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect();
                if !addrs.is_empty() && dns.is_none() {
                    dns = Some(now().saturating_duration_since(started));
                }
                for addr in &addrs {
                    if !resolved.contains(addr) {
                        resolved.push(*addr);
                    }
                }
                match family {
                    Some(family) => he.resolved(family, addrs, now()),
                    None => he.resolved_all(addrs, now()),
                }
                if lookups.is_empty() && dns.is_none() {
                    dns = Some(now().saturating_duration_since(started));
                }
            }
            Event::Outcome(i, outcome) => {
                let (attempt, addr, at, _) = running.remove(i);
                match outcome {
                    Ok(stream) => {
                        attempts.push(record(addr, at, started, AttemptOutcome::Connected));
                        winner = Some(stream);
                        he.connected(attempt, now());
                    }
                    Err(e) => {
                        attempts.push(record(addr, at, started, AttemptOutcome::Failed(cause(&e))));
                        he.failed(attempt, e, now());
                    }
                }
            }
            Event::Timer => {}
        }
    }
}

fn lookup<'a>(inner: &'a Inner, host: &'a str, query: Query) -> Pending<'a, Vec<IpAddr>> {
    let timeout = inner.resolve_timeout;
    Box::pin(async move {
        let lookup = inner.resolver.lookup(host, query);
        match timeout {
            Some(t) => tokio::time::timeout(t, lookup).await.unwrap_or_else(|_| {
                Err(Error::new(ErrorKind::Timeout, "resolve")
                    .with_name(host)
                    .with_detail(format!("no answer within {t:?}")))
            }),
            None => lookup.await,
        }
    })
}

fn record(addr: SocketAddr, at: Instant, started: Instant, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        addr,
        started: at.saturating_duration_since(started),
        duration: now().saturating_duration_since(at),
        outcome,
    }
}

/// One error for a lost race, naming every address and its cause.
fn lost(
    inner: &Inner,
    host: &str,
    port: u16,
    failure: tetsuo_proto::connect::Failure<Error>,
    mut dns_errors: Vec<Error>,
) -> Error {
    let name = super::authority(host, port);
    match failure.reason {
        FailureReason::NoAddresses => {
            if dns_errors.is_empty() {
                Error::new(ErrorKind::Dns, "resolve")
                    .with_name(host)
                    .with_detail("the name has no addresses")
            } else {
                dns_errors.remove(0)
            }
        }
        FailureReason::AllFailed => {
            let mut attempts = failure.attempts;
            if attempts.len() == 1 {
                return attempts.remove(0).1;
            }
            let kind = if attempts.iter().all(|(_, e)| e.is_refused()) {
                ErrorKind::Refused
            } else if attempts.iter().any(|(_, e)| e.is_timeout()) {
                ErrorKind::Timeout
            } else {
                attempts.last().map_or(ErrorKind::Io, |(_, e)| e.kind())
            };
            let list: Vec<String> = attempts
                .iter()
                .map(|(addr, e)| format!("{addr} ({})", cause(e)))
                .collect();
            let last = attempts.pop().map(|(_, e)| e);
            let err = Error::new(kind, "connect to")
                .with_name(name)
                .with_detail(format!("every address failed: {}", list.join(", ")));
            match last {
                Some(e) => err.with_source(e),
                None => err,
            }
        }
        FailureReason::TimedOut => {
            let timeout = inner.happy.timeout.unwrap_or_default();
            let mut list: Vec<String> = failure
                .attempts
                .iter()
                .map(|(addr, e)| format!("{addr} ({})", cause(e)))
                .collect();
            list.extend(failure.abandoned.iter().map(|a| format!("{a} (no answer)")));
            Error::new(ErrorKind::Timeout, "connect to")
                .with_name(name)
                .with_detail(format!(
                    "not connected within {timeout:?}: {}",
                    if list.is_empty() {
                        "no address to try yet".to_owned()
                    } else {
                        list.join(", ")
                    }
                ))
        }
    }
}

/// The short cause of an attempt's error (without the address again).
fn cause(e: &Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(": ") {
        Some((_, cause)) => cause.to_owned(),
        None => text,
    }
}
