//! The connect pipeline on real sockets: Happy Eyeballs against an IPv6
//! address that never answers, error stories, timeouts, the circuit breaker
//! and reconnection across a server restart.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tetsuo::ErrorKind;
use tetsuo::connect::{
    AttemptOutcome, Backoff, BreakerConfig, BreakerState, Connector, Jitter, Reconnect,
    ReconnectEvent, Target,
};
use tetsuo::dns::{Overrides, Query, Resolve, Resolving};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A resolver that answers AAAA and A separately, each after its delay.
#[derive(Debug)]
struct Scripted {
    v6: Vec<IpAddr>,
    v4: Vec<IpAddr>,
    v6_delay: Duration,
    v4_delay: Duration,
}

impl Resolve for Scripted {
    fn lookup<'a>(&'a self, _host: &'a str, query: Query) -> Resolving<'a, Vec<IpAddr>> {
        Box::pin(async move {
            let (ips, delay) = match query {
                Query::V6 => (self.v6.clone(), self.v6_delay),
                Query::V4 => (self.v4.clone(), self.v4_delay),
                Query::Any => (
                    self.v6.iter().chain(&self.v4).copied().collect(),
                    Duration::ZERO,
                ),
            };
            tokio::time::sleep(delay).await;
            Ok(ips)
        })
    }

    fn splits_families(&self) -> bool {
        true
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An IPv4 listener that greets every client with "v4".
async fn greeter(addr: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = conn.write_all(b"v4").await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn ipv4_wins_one_attempt_delay_after_a_silent_ipv6() {
    // ::1 never answers SYNs (full accept queue); 127.0.0.1 on the same port does.
    let (_listener, _queued, v6) = support::unanswering_listener_at("[::1]:0".parse().unwrap());
    greeter(SocketAddr::new(ip("127.0.0.1"), v6.port())).await;
    let connector = Connector::builder()
        .resolver(Scripted {
            v6: vec![ip("::1")],
            v4: vec![ip("127.0.0.1")],
            v6_delay: Duration::ZERO,
            v4_delay: Duration::ZERO,
        })
        .build();
    let start = Instant::now();
    let (mut stream, info) = connector.connect("dual.test", v6.port()).await.unwrap();
    let elapsed = start.elapsed();
    let mut hello = [0; 2];
    stream.read_exact(&mut hello).await.unwrap();
    assert_eq!(&hello, b"v4");
    assert!(info.remote_addr.is_ipv4(), "{info:?}");
    // Roughly the 250 ms attempt delay, nowhere near the OS connect timeout.
    assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let outcomes: Vec<_> = info
        .attempts
        .iter()
        .map(|a| (a.addr.is_ipv6(), a.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (false, AttemptOutcome::Connected),
            (true, AttemptOutcome::Cancelled)
        ]
    );
    assert!(info.attempts[0].started >= Duration::from_millis(240));
    assert_eq!(info.resolved.len(), 2);
}

#[tokio::test]
async fn a_fast_a_answer_waits_for_a_slightly_later_aaaa() {
    // AAAA comes 20 ms after A: within the 50 ms resolution delay, so IPv6
    // (which answers here) is tried first and wins.
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connector = Connector::builder()
        .resolver(Scripted {
            v6: vec![ip("::1")],
            v4: vec![ip("127.0.0.1")],
            v6_delay: Duration::from_millis(20),
            v4_delay: Duration::ZERO,
        })
        .build();
    let (_stream, info) = connector.connect("dual.test", port).await.unwrap();
    assert!(info.remote_addr.is_ipv6(), "{info:?}");
    assert_eq!(info.attempts.len(), 1);
}

#[tokio::test]
async fn every_failed_address_is_named_in_one_error() {
    // Two closed ports: both attempts are refused.
    let closed = {
        let l = std::net::TcpListener::bind("[::1]:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut overrides = Overrides::new();
    overrides.insert("closed.test", closed, vec![ip("::1"), ip("127.0.0.1")]);
    let connector = Connector::builder().overrides(overrides).build();
    let err = connector.connect("closed.test", closed).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("[::1]:{closed}")), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn slow_dns_and_silent_addresses_time_out_per_stage() {
    let connector = Connector::builder()
        .resolver(Scripted {
            v6: vec![],
            v4: vec![ip("127.0.0.1")],
            v6_delay: Duration::from_secs(60),
            v4_delay: Duration::from_secs(60),
        })
        .resolve_timeout(Some(Duration::from_millis(100)))
        .build();
    let err = connector.connect("slow.test", 80).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("resolve slow.test"), "{err}");

    let (_listener, _queued, silent) = support::unanswering_listener();
    let connector = Connector::builder()
        .connect_timeout(Some(Duration::from_millis(300)))
        .build();
    let start = Instant::now();
    let err = connector
        .connect("127.0.0.1", silent.port())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("no answer"), "{err}");
}

#[tokio::test]
async fn the_circuit_breaker_opens_and_a_probe_closes_it() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let connector = Connector::builder()
        .circuit_breaker(BreakerConfig {
            consecutive_failures: 2,
            cool_down: Duration::from_millis(200),
            ..Default::default()
        })
        .build();
    for _ in 0..2 {
        assert!(
            connector
                .connect("127.0.0.1", port)
                .await
                .unwrap_err()
                .is_refused()
        );
    }
    assert!(matches!(
        connector.breaker_state("127.0.0.1", port),
        Some(BreakerState::Open { .. })
    ));
    let err = connector.connect("127.0.0.1", port).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err}");
    // The target comes back; after the cool-down one probe goes through.
    greeter(SocketAddr::new(ip("127.0.0.1"), port)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    connector.connect("127.0.0.1", port).await.unwrap();
    assert_eq!(
        connector.breaker_state("127.0.0.1", port),
        Some(BreakerState::Closed)
    );
}

#[tokio::test]
async fn abandoned_connects_count_against_the_breaker() {
    let (_listener, _queued, silent) = support::unanswering_listener();
    let connector = Connector::builder()
        .circuit_breaker(BreakerConfig {
            consecutive_failures: 2,
            ..Default::default()
        })
        .build();
    for _ in 0..2 {
        let attempt = connector.connect("127.0.0.1", silent.port());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), attempt)
                .await
                .is_err()
        );
    }
    assert!(matches!(
        connector.breaker_state("127.0.0.1", silent.port()),
        Some(BreakerState::Open { .. })
    ));
}

#[tokio::test]
async fn reconnect_survives_a_server_restart_and_reports_each_step() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut link = Reconnect::new(Connector::new(), Target::tcp("127.0.0.1", addr.port()))
        .backoff(
            Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
                .jitter(Jitter::None),
        )
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));

    let (mut stream, _) = link.connect().await.unwrap();
    // The server goes away: its connection and its listener close.
    let (conn, _) = listener.accept().await.unwrap();
    drop(conn);
    drop(listener);
    let mut buf = [0; 1];
    assert_eq!(stream.read(&mut buf).await.unwrap(), 0);

    // It comes back 300 ms later on the same port.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        greeter(addr).await;
    });
    let (mut stream, info) = link.connect().await.unwrap();
    let mut hello = [0; 2];
    stream.read_exact(&mut hello).await.unwrap();
    assert_eq!(info.remote_addr, addr);

    let events = events.lock().unwrap().clone();
    assert_eq!(events[0], ReconnectEvent::Connecting { attempt: 1 });
    assert_eq!(events[1], ReconnectEvent::Connected { remote_addr: addr });
    assert_eq!(events[2], ReconnectEvent::Disconnected);
    assert_eq!(events[3], ReconnectEvent::Connecting { attempt: 1 });
    assert!(
        matches!(&events[4], ReconnectEvent::Failed { attempt: 1, error } if error.contains("refused"))
    );
    assert_eq!(
        events[5],
        ReconnectEvent::Waiting {
            delay: Duration::from_millis(50)
        }
    );
    assert_eq!(
        events.last(),
        Some(&ReconnectEvent::Connected { remote_addr: addr })
    );
    let failures = events
        .iter()
        .filter(|e| matches!(e, ReconnectEvent::Failed { .. }))
        .count();
    assert!(failures >= 2, "{events:?}");
    // Delays grow: 50, 100, 200, 200 ...
    let delays: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ReconnectEvent::Waiting { delay } => Some(delay.as_millis()),
            _ => None,
        })
        .collect();
    assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");

    // A name that cannot resolve is not retried: the link gives up at once.
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut link = Reconnect::new(Connector::new(), Target::tcp("no-such-host.invalid", 1))
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    assert!(link.connect().await.unwrap_err().is_dns());
    assert_eq!(events.lock().unwrap().last(), Some(&ReconnectEvent::GaveUp));
}
