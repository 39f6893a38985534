//! Active health checks: a probe per endpoint every interval, with
//! thresholds before an endpoint is marked down or up again in its
//! [`Balancer`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};

use super::Balancer;
use crate::connect::{Connector, Target};

type Probe<E> = Arc<dyn Fn(E) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;
type Observer<E> = Arc<dyn Fn(&HealthEvent<E>) + Send + Sync>;

/// An endpoint went down or came back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthEvent<E> {
    /// The endpoint.
    pub endpoint: E,
    /// Its new state.
    pub healthy: bool,
}

/// How endpoints are checked: a probe, how often, how long it may take,
/// and how many results in a row change an endpoint's state.
///
/// ```no_run
/// use std::time::Duration;
/// use tetsuo::balance::{Balancer, Policy, health::HealthCheck};
///
/// # async fn demo() {
/// let lb = Balancer::new(Policy::RoundRobin);
/// lb.set([("127.0.0.1:8081".to_owned(), 1), ("127.0.0.1:8082".to_owned(), 1)]);
/// let checker = HealthCheck::tcp(tetsuo::connect::Connector::new())
///     .interval(Duration::from_secs(2))
///     .thresholds(2, 3)
///     .on_change(|e| println!("{} is {}", e.endpoint, if e.healthy { "up" } else { "down" }))
///     .spawn(lb.clone());
/// // ... `lb` skips endpoints the checks mark down, until they come back.
/// drop(checker); // stops checking
/// # }
/// ```
pub struct HealthCheck<E> {
    probe: Probe<E>,
    interval: Duration,
    timeout: Duration,
    healthy_after: u32,
    unhealthy_after: u32,
    observer: Option<Observer<E>>,
}

impl<E> fmt::Debug for HealthCheck<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("healthy_after", &self.healthy_after)
            .field("unhealthy_after", &self.unhealthy_after)
            .finish_non_exhaustive()
    }
}

impl<E> HealthCheck<E>
where
    E: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
{
    /// Checks with `probe` (true: healthy). Defaults: every 5 s, 2 s to
    /// answer, 2 passes to come back, 3 failures to go down.
    pub fn new<F, Fut>(probe: F) -> HealthCheck<E>
    where
        F: Fn(E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        HealthCheck {
            probe: Arc::new(move |e| Box::pin(probe(e))),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_after: 2,
            unhealthy_after: 3,
            observer: None,
        }
    }

    /// A TCP connect to the endpoint (`host:port`) through `connector`.
    pub fn tcp(connector: Connector) -> HealthCheck<E> {
        HealthCheck::new(move |e: E| {
            let connector = connector.clone();
            async move {
                let Some((host, port)) = split_host_port(&e.to_string()) else {
                    return false;
                };
                connector.connect_to(&Target::tcp(host, port)).await.is_ok()
            }
        })
    }

    /// `GET http://{endpoint}{path}` with `client`; healthy when the status
    /// is `expect` (e.g. `200`).
    #[cfg(feature = "http")]
    pub fn http_get(
        client: crate::http::client::Client,
        path: &str,
        expect: http::StatusCode,
    ) -> HealthCheck<E> {
        HealthCheck::get("http", client, path, expect)
    }

    /// `GET https://{endpoint}{path}` with `client` (whose TLS settings
    /// decide whom to trust); healthy when the status is `expect`.
    #[cfg(feature = "http")]
    pub fn https_get(
        client: crate::http::client::Client,
        path: &str,
        expect: http::StatusCode,
    ) -> HealthCheck<E> {
        HealthCheck::get("https", client, path, expect)
    }

    #[cfg(feature = "http")]
    fn get(
        scheme: &'static str,
        client: crate::http::client::Client,
        path: &str,
        expect: http::StatusCode,
    ) -> HealthCheck<E> {
        let path = path.to_owned();
        HealthCheck::new(move |e: E| {
            let client = client.clone();
            let url = format!("{scheme}://{e}{path}");
            async move {
                match client.get(url).send().await {
                    Ok(res) => {
                        let ok = res.status() == expect;
                        // Read the body so the connection can be reused.
                        let _ = res.bytes().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
        })
    }

    /// How often each endpoint is probed.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long a probe may take before it counts as a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Passes in a row to mark an endpoint healthy again, failures in a
    /// row to mark it down (each at least 1).
    pub fn thresholds(mut self, healthy_after: u32, unhealthy_after: u32) -> Self {
        self.healthy_after = healthy_after.max(1);
        self.unhealthy_after = unhealthy_after.max(1);
        self
    }

    /// Called on every change of an endpoint's state.
    pub fn on_change(mut self, observer: impl Fn(&HealthEvent<E>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Starts checking `balancer`'s endpoints (as they change) in a task;
    /// it stops when the returned handle is dropped.
    pub fn spawn(self, balancer: Balancer<E>) -> HealthChecker {
        HealthChecker {
            task: tokio::spawn(self.run(balancer)),
        }
    }

    async fn run(self, balancer: Balancer<E>) {
        // Per endpoint: passes or failures in a row, and the state.
        let mut seen: HashMap<E, (u32, u32, bool)> = HashMap::new();
        let mut tick = tokio::time::interval(self.interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let status: Vec<_> = balancer
                .endpoints()
                .into_iter()
                .filter(|s| !s.draining)
                .collect();
            let endpoints: Vec<E> = status.iter().map(|s| s.endpoint.clone()).collect();
            seen.retain(|e, _| endpoints.contains(e));
            // An endpoint removed and added again (discovery) comes back
            // marked healthy: the checks' verdict holds until they change
            // it. One new to the checks starts from the balancer's mark
            // (healthy, unless someone marked it down).
            for st in &status {
                match seen.get(&st.endpoint) {
                    Some((_, _, healthy)) if *healthy != st.healthy => {
                        balancer.set_healthy(&st.endpoint, *healthy);
                    }
                    Some(_) => {}
                    None => {
                        metrics::gauge!("tetsuo_endpoint_healthy", "endpoint" => st.endpoint.to_string())
                            .set(if st.healthy { 1.0 } else { 0.0 });
                        seen.insert(st.endpoint.clone(), (0, 0, st.healthy));
                    }
                }
            }
            let mut probes = JoinSet::new();
            for e in endpoints {
                let probe = (self.probe)(e.clone());
                let timeout = self.timeout;
                probes.spawn(async move {
                    let ok = tokio::time::timeout(timeout, probe).await.unwrap_or(false);
                    (e, ok)
                });
            }
            while let Some(done) = probes.join_next().await {
                let Ok((e, ok)) = done else { continue };
                metrics::counter!(
                    "tetsuo_health_checks_total",
                    "result" => if ok { "pass" } else { "fail" }
                )
                .increment(1);
                let Some(entry) = seen.get_mut(&e) else {
                    continue;
                };
                if ok {
                    entry.0 += 1;
                    entry.1 = 0;
                } else {
                    entry.1 += 1;
                    entry.0 = 0;
                }
                let flip = if entry.2 {
                    entry.1 >= self.unhealthy_after
                } else {
                    entry.0 >= self.healthy_after
                };
                if flip {
                    entry.2 = !entry.2;
                    let healthy = entry.2;
                    balancer.set_healthy(&e, healthy);
                    metrics::gauge!("tetsuo_endpoint_healthy", "endpoint" => e.to_string())
                        .set(if healthy { 1.0 } else { 0.0 });
                    if let Some(observer) = &self.observer {
                        observer(&HealthEvent {
                            endpoint: e,
                            healthy,
                        });
                    }
                }
            }
        }
    }
}

/// Health checks running; dropping this stops them.
#[derive(Debug)]
pub struct HealthChecker {
    task: JoinHandle<()>,
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` (IPv6 in brackets) into its parts.
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}
