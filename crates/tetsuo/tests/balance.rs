//! The balancers: weighted distribution, least outstanding and power of two
//! choices away from a slow endpoint, ejection by the circuit breaker and
//! recovery through a probe, consistent hashing's ~1/N movement, health
//! flags, and draining on removal.

use std::collections::HashMap;
use std::time::Duration;

use tetsuo::balance::{Balancer, Pick, Policy};
use tetsuo::connect::BreakerConfig;

/// A balancer whose breakers eject after `failures` in a row, for `cool_down`.
fn ejecting(policy: Policy, failures: u32, cool_down: Duration) -> Balancer<&'static str> {
    let breaker = BreakerConfig {
        consecutive_failures: failures,
        cool_down,
        ..BreakerConfig::default()
    };
    Balancer::with_breaker(policy, breaker)
}

fn count(lb: &Balancer<&'static str>, n: usize) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let pick = lb.pick(None).expect("an endpoint");
        *counts.entry(*pick.endpoint()).or_insert(0) += 1;
        pick.success();
    }
    counts
}

#[test]
fn weighted_round_robin_follows_the_weights_and_interleaves() {
    let lb = Balancer::new(Policy::WeightedRoundRobin);
    lb.insert("a", 5);
    lb.insert("b", 3);
    lb.insert("c", 2);
    let counts = count(&lb, 10_000);
    assert_eq!(
        (counts["a"], counts["b"], counts["c"]),
        (5_000, 3_000, 2_000)
    );
    // Smooth: "a" never gets more than two in a row with these weights.
    let lb = Balancer::new(Policy::WeightedRoundRobin);
    lb.insert("a", 5);
    lb.insert("b", 1);
    lb.insert("c", 1);
    let seq: Vec<&str> = (0..7)
        .map(|_| {
            let p = lb.pick(None).unwrap();
            *p.endpoint()
        })
        .collect();
    assert_eq!(seq, ["a", "a", "b", "a", "c", "a", "a"]);
}

#[test]
fn round_robin_and_power_of_two_spread_evenly() {
    let lb = Balancer::new(Policy::RoundRobin);
    for e in ["a", "b", "c", "d"] {
        lb.insert(e, 7); // weights ignored
    }
    let counts = count(&lb, 10_000);
    assert!(counts.values().all(|&n| n == 2_500), "{counts:?}");
    let lb = Balancer::new(Policy::PowerOfTwoChoices);
    for e in ["a", "b", "c", "d"] {
        lb.insert(e, 1);
    }
    let counts = count(&lb, 10_000);
    // Random pairs: each within 15 % of a quarter.
    assert!(
        counts.values().all(|&n| (2_125..=2_875).contains(&n)),
        "{counts:?}"
    );
}

/// Requests arrive one per tick; "slow" holds each for 20 ticks, the
/// others for 1. How many each endpoint got.
fn with_a_slow_endpoint(policy: Policy) -> HashMap<&'static str, usize> {
    let lb = Balancer::new(policy);
    for e in ["fast-1", "fast-2", "slow"] {
        lb.insert(e, 1);
    }
    let mut in_flight: Vec<(usize, Pick<&'static str>)> = Vec::new();
    let mut counts = HashMap::new();
    for tick in 0..3_000 {
        in_flight.retain(|(done, _)| *done > tick);
        let pick = lb.pick(None).unwrap();
        let e = *pick.endpoint();
        *counts.entry(e).or_insert(0) += 1;
        let hold = if e == "slow" { 20 } else { 1 };
        in_flight.push((tick + hold, pick));
    }
    counts
}

#[test]
fn least_outstanding_and_two_choices_avoid_a_slow_endpoint() {
    for policy in [Policy::LeastOutstanding, Policy::PowerOfTwoChoices] {
        let counts = with_a_slow_endpoint(policy);
        // Round-robin would give it a third (1,000).
        assert!(counts["slow"] < 300, "{policy:?}: {counts:?}");
    }
    let counts = with_a_slow_endpoint(Policy::RoundRobin);
    assert_eq!(counts["slow"], 1_000);
}

#[tokio::test(start_paused = true)]
async fn an_ejected_endpoint_gets_nothing_until_a_probe_succeeds() {
    let lb = ejecting(Policy::RoundRobin, 3, Duration::from_millis(200));
    lb.insert("good", 1);
    lb.insert("bad", 1);
    // Three failures in a row on "bad" (as real traffic reports them).
    let mut failures = 0;
    while failures < 3 {
        let pick = lb.pick(None).unwrap();
        if *pick.endpoint() == "bad" {
            pick.failure();
            failures += 1;
        } else {
            pick.success();
        }
    }
    let counts = count(&lb, 100);
    assert_eq!(counts.get("bad"), None, "{counts:?}");
    assert!(
        lb.endpoints()
            .iter()
            .any(|e| e.endpoint == "bad" && e.ejected)
    );
    // After the cool-down one probe goes through; its success restores it.
    tokio::time::advance(Duration::from_millis(199)).await;
    assert_eq!(count(&lb, 10).get("bad"), None, "still cooling down");
    tokio::time::advance(Duration::from_millis(1)).await;
    let counts = count(&lb, 100);
    assert_eq!(counts["bad"], 50, "{counts:?}");
    assert!(lb.endpoints().iter().all(|e| !e.ejected));
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_ejects_again() {
    let lb = ejecting(Policy::RoundRobin, 1, Duration::from_millis(100));
    lb.insert("only", 1);
    lb.pick(None).unwrap().failure();
    assert!(lb.pick(None).is_none(), "ejected");
    tokio::time::advance(Duration::from_millis(100)).await;
    let probe = lb.pick(None).expect("the probe");
    // Half-open: nothing else passes while the probe is out.
    assert!(lb.pick(None).is_none());
    probe.failure();
    assert!(lb.pick(None).is_none(), "ejected again");
}

#[tokio::test(start_paused = true)]
async fn checks_that_see_an_endpoint_come_back_close_its_breaker() {
    let lb = ejecting(Policy::RoundRobin, 1, Duration::from_secs(30));
    lb.insert("only", 1);
    // Traffic fails on it (its breaker opens), then the checks see it down.
    lb.pick(None).unwrap().failure();
    lb.set_healthy(&"only", false);
    assert!(lb.pick(None).is_none());
    // Up again by the checks: taken at once, not after the 30 s cool-down.
    lb.set_healthy(&"only", true);
    assert!(lb.endpoints().iter().all(|e| !e.ejected));
    let pick = lb.pick(None).expect("back in");
    drop(pick);
    assert_eq!(count(&lb, 10)["only"], 10, "closed, not half-open");
    // A verdict that does not change (healthy all along) leaves the
    // breaker to traffic: failures still eject.
    lb.pick(None).unwrap().failure();
    lb.set_healthy(&"only", true);
    assert!(lb.pick(None).is_none(), "still ejected");
}

#[tokio::test(start_paused = true)]
async fn picks_from_before_a_recovery_report_to_nobody() {
    let lb = ejecting(Policy::RoundRobin, 1, Duration::from_secs(30));
    lb.insert("only", 1);
    // A request in flight as it goes down, and its breaker's probe.
    let late = lb.pick(None).unwrap();
    lb.pick(None).unwrap().failure();
    tokio::time::advance(Duration::from_secs(30)).await;
    let old_probe = lb.pick(None).expect("half-open: a probe");
    lb.set_healthy(&"only", false);
    lb.set_healthy(&"only", true);
    // The request of the outage fails only now: it does not eject it.
    late.failure();
    assert_eq!(count(&lb, 10)["only"], 10);
    // Ejected again by traffic; the new probe's success restores it, the
    // old probe abandoned meanwhile does not undo that.
    lb.pick(None).unwrap().failure();
    tokio::time::advance(Duration::from_secs(30)).await;
    let probe = lb.pick(None).expect("the new probe");
    drop(old_probe);
    probe.success();
    assert_eq!(count(&lb, 10)["only"], 10);
}

#[tokio::test]
async fn a_tracked_body_is_outstanding_until_it_ends_and_reports_how() {
    use http_body_util::BodyExt;
    use tetsuo::http::Body;

    /// A body that fails at once.
    struct Broken;
    impl http_body::Body for Broken {
        type Data = bytes::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>>
        {
            std::task::Poll::Ready(Some(Err(std::io::ErrorKind::ConnectionReset.into())))
        }
    }

    let lb = ejecting(
        Policy::LeastOutstanding,
        1,
        BreakerConfig::default().cool_down,
    );
    lb.insert("only", 1);
    let outstanding = || lb.endpoints()[0].outstanding;
    // Read to its end: outstanding until then, a success.
    let body = lb.pick(None).unwrap().track(Body::from("all of it"));
    assert_eq!(outstanding(), 1);
    assert_eq!(body.collect().await.unwrap().to_bytes(), "all of it");
    assert_eq!(outstanding(), 0);
    // Dropped part-way: no longer outstanding, no verdict.
    drop(lb.pick(None).unwrap().track(Body::wrap(Broken)));
    assert_eq!(outstanding(), 0);
    assert!(lb.pick(None).is_some(), "not ejected");
    // Failed: a failure (one ejects it here).
    let body = lb.pick(None).unwrap().track(Body::wrap(Broken));
    assert!(body.collect().await.is_err());
    assert!(lb.pick(None).is_none(), "ejected");
}

#[test]
fn consistent_hashing_moves_about_one_in_n_keys() {
    let lb = Balancer::new(Policy::ConsistentHash { replicas: 100 });
    for e in ["a", "b", "c", "d"] {
        lb.insert(e, 1);
    }
    let owner = |lb: &Balancer<&'static str>, key: u32| *lb.pick(Some(&key)).unwrap().endpoint();
    let before: Vec<&str> = (0..10_000).map(|k| owner(&lb, k)).collect();
    // Stable: the same key, the same endpoint.
    assert!((0..10_000).all(|k| owner(&lb, k) == before[k as usize]));
    lb.insert("e", 1);
    let after: Vec<&str> = (0..10_000).map(|k| owner(&lb, k)).collect();
    let moved: Vec<usize> = (0..10_000).filter(|&i| before[i] != after[i]).collect();
    // About a fifth move, all of them to the newcomer.
    assert!(
        (1_200..=2_800).contains(&moved.len()),
        "{} moved",
        moved.len()
    );
    assert!(moved.iter().all(|&i| after[i] == "e"));
    // Removing it sends exactly those keys back.
    lb.remove(&"e");
    assert!((0..10_000).all(|k| owner(&lb, k) == before[k as usize]));
}

#[test]
fn unhealthy_endpoints_are_skipped_and_removed_ones_drain() {
    let lb = Balancer::new(Policy::RoundRobin);
    lb.insert("a", 1);
    lb.insert("b", 1);
    lb.set_healthy(&"b", false);
    assert_eq!(count(&lb, 10).get("b"), None);
    lb.set_healthy(&"b", true);
    assert_eq!(count(&lb, 10)["b"], 5);
    // A pick in flight on "a" when discovery drops it.
    let mut held = lb.pick(None).unwrap();
    while *held.endpoint() != "a" {
        held = lb.pick(None).unwrap();
    }
    lb.set([("b", 1), ("c", 1)]);
    let counts = count(&lb, 10);
    assert_eq!(counts.get("a"), None);
    let a = lb
        .endpoints()
        .into_iter()
        .find(|e| e.endpoint == "a")
        .unwrap();
    assert!(a.draining && a.outstanding == 1);
    held.success();
    assert!(lb.endpoints().iter().all(|e| e.endpoint != "a"));
}

#[tokio::test]
async fn tcp_checks_take_a_dead_endpoint_out_and_bring_it_back() {
    use std::sync::{Arc, Mutex};
    use tetsuo::balance::health::{HealthCheck, HealthEvent};
    use tokio::net::TcpListener;

    let up = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (up_addr, down_addr) = (
        up.local_addr().unwrap().to_string(),
        down.local_addr().unwrap().to_string(),
    );
    // Keep accepting on "up"; "down" stops listening.
    tokio::spawn(async move { while up.accept().await.is_ok() {} });
    drop(down);
    let lb = Balancer::new(Policy::RoundRobin);
    lb.set([(up_addr.clone(), 1), (down_addr.clone(), 1)]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let checker = HealthCheck::tcp(tetsuo::connect::Connector::new())
        .interval(Duration::from_millis(50))
        .timeout(Duration::from_millis(500))
        .thresholds(2, 2)
        .on_change(move |e: &HealthEvent<String>| {
            log.lock().unwrap().push((e.endpoint.clone(), e.healthy))
        })
        .spawn(lb.clone());
    let wait_for = |want: usize| {
        let events = events.clone();
        async move {
            for _ in 0..100 {
                if events.lock().unwrap().len() >= want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("no health change");
        }
    };
    wait_for(1).await;
    assert_eq!(events.lock().unwrap()[0], (down_addr.clone(), false));
    for _ in 0..20 {
        let pick = lb.pick(None).unwrap();
        assert_eq!(pick.endpoint(), &up_addr);
    }
    // It comes back: listening again on the same port.
    let back = TcpListener::bind(&down_addr).await.unwrap();
    tokio::spawn(async move { while back.accept().await.is_ok() {} });
    wait_for(2).await;
    assert_eq!(events.lock().unwrap()[1], (down_addr.clone(), true));
    let picks: Vec<String> = (0..4)
        .map(|_| lb.pick(None).unwrap().endpoint().clone())
        .collect();
    assert!(picks.contains(&down_addr), "{picks:?}");
    drop(checker);
}

#[tokio::test]
async fn http_checks_want_the_expected_status() {
    use tetsuo::balance::health::HealthCheck;
    use tetsuo::http::{Body, service_fn};

    let mut addrs = Vec::new();
    for status in [200u16, 503] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap().to_string());
        let service = service_fn(move |_req: http::Request<Body>| async move {
            let mut res = http::Response::new(Body::from("status"));
            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, std::convert::Infallible>(res)
        });
        tokio::spawn(async move {
            tetsuo::http::server::Server::builder()
                .build()
                .serve_tcp(listener, service)
                .await
        });
    }
    let lb = Balancer::new(Policy::RoundRobin);
    lb.set(addrs.iter().map(|a| (a.clone(), 1)));
    let client = tetsuo::http::client::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let _checker = HealthCheck::http_get(client, "/healthz", http::StatusCode::OK)
        .interval(Duration::from_millis(50))
        .thresholds(1, 1)
        .spawn(lb.clone());
    for _ in 0..100 {
        if lb.endpoints().iter().any(|e| !e.healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = lb.endpoints();
    let sick = status.iter().find(|e| !e.healthy).expect("one marked down");
    assert_eq!(sick.endpoint, addrs[1]);
    assert!((0..10).all(|_| lb.pick(None).unwrap().endpoint() == &addrs[0]));
}

#[tokio::test(start_paused = true)]
async fn checks_start_from_the_balancers_mark() {
    use tetsuo::balance::health::HealthCheck;

    let lb = Balancer::new(Policy::RoundRobin);
    lb.set([("up".to_owned(), 1), ("down".to_owned(), 1)]);
    lb.set_healthy(&"down".to_owned(), false);
    // Its probes fail: the checks must not mark it healthy on their own.
    let _checks = HealthCheck::new(|e: String| async move { e == "up" })
        .interval(Duration::from_secs(1))
        .thresholds(2, 10)
        .spawn(lb.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let down = lb.endpoints().into_iter().find(|e| e.endpoint == "down");
        assert!(
            !down.unwrap().healthy,
            "marked healthy with no passing check"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn health_thresholds_count_results_in_a_row() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tetsuo::balance::health::HealthCheck;

    let up = Arc::new(AtomicBool::new(true));
    let lb = Balancer::new(Policy::RoundRobin);
    lb.set([("a".to_owned(), 1), ("b".to_owned(), 1)]);
    let flag = up.clone();
    let _checks = HealthCheck::new(move |e: String| {
        let up = flag.clone();
        async move { e != "b" || up.load(Ordering::SeqCst) }
    })
    .interval(Duration::from_secs(1))
    .thresholds(2, 3)
    .spawn(lb.clone());
    let b_healthy = |lb: &Balancer<String>| {
        lb.endpoints()
            .into_iter()
            .find(|e| e.endpoint == "b")
            .unwrap()
            .healthy
    };
    // Just after the tick at t (the first tick is at once).
    let start = tokio::time::Instant::now();
    let at = |t: u64| tokio::time::sleep_until(start + Duration::from_millis(t * 1000 + 10));
    at(0).await;
    up.store(false, Ordering::SeqCst);
    at(1).await;
    at(2).await;
    assert!(b_healthy(&lb), "two failures are not three");
    at(3).await;
    assert!(!b_healthy(&lb), "three failures in a row");
    up.store(true, Ordering::SeqCst);
    at(4).await;
    assert!(!b_healthy(&lb), "one pass is not two");
    at(5).await;
    assert!(b_healthy(&lb));
}

#[tokio::test(start_paused = true)]
async fn only_the_probe_settles_a_half_open_breaker() {
    let lb = ejecting(Policy::RoundRobin, 1, Duration::from_millis(100));
    lb.insert("only", 1);
    // Two requests in flight from before the ejection.
    let (old_a, old_b) = (lb.pick(None).unwrap(), lb.pick(None).unwrap());
    lb.pick(None).unwrap().failure();
    tokio::time::advance(Duration::from_millis(100)).await;
    let probe = lb.pick(None).expect("the probe");
    // Their outcomes say nothing about the endpoint now.
    old_a.success();
    drop(old_b);
    assert!(lb.pick(None).is_none(), "still waiting for the probe");
    // A probe that never reports is replaced after another cool-down.
    tokio::time::advance(Duration::from_millis(100)).await;
    let second = lb.pick(None).expect("a new probe");
    second.success();
    drop(probe);
    assert_eq!(count(&lb, 5)["only"], 5);
}
