//! The keyed connection pool on paused time: caps per key and in total
//! under contention, waiters served in arrival order, a timeout when
//! starved, idle and lifetime eviction, the liveness probe, the connect
//! rate, pre-warming and the counts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tetsuo::ErrorKind;
use tetsuo::pool::{Checkout, Pool, PoolConfig, Poolable};
use tokio::time::Instant;

/// A fake connection: a number, and a switch the "peer" can turn off.
struct Conn {
    id: usize,
    alive: Arc<AtomicBool>,
}

impl Poolable for Conn {
    async fn is_alive(&mut self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }
}

/// Opens numbered connections and counts them.
#[derive(Clone, Default)]
struct Opener {
    opened: Arc<AtomicUsize>,
}

impl Opener {
    async fn open(&self) -> tetsuo::Result<Conn> {
        // Connecting takes a moment.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(Conn {
            id: self.opened.fetch_add(1, Ordering::SeqCst),
            alive: Arc::new(AtomicBool::new(true)),
        })
    }
}

fn config(f: impl FnOnce(&mut PoolConfig)) -> PoolConfig {
    let mut c = PoolConfig::default();
    f(&mut c);
    c
}

#[tokio::test(start_paused = true)]
async fn the_cap_per_key_holds_and_waiters_are_served_in_order() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 2));
    let opener = Opener::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let peak = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (pool, opener, order) = (pool.clone(), opener.clone(), order.clone());
        let (peak, busy) = (peak.clone(), busy.clone());
        tasks.push(tokio::spawn(async move {
            let conn = pool.get(&"a", || opener.open()).await.unwrap();
            order.lock().unwrap().push(i);
            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            busy.fetch_sub(1, Ordering::SeqCst);
            assert!(pool.stats().open <= 2);
            conn.release();
        }));
        // Arrivals in a known order.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!(
        opener.opened.load(Ordering::SeqCst),
        2,
        "two opened, reused after"
    );
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    let stats = pool.stats();
    assert_eq!((stats.open, stats.idle, stats.waiting), (2, 2, 0));
    assert_eq!((stats.created, stats.reused), (2, 8));
}

/// Histogram values recorded, by metric name.
#[derive(Clone, Default)]
struct Histograms(Arc<Mutex<Vec<(String, f64)>>>);

struct Histogram(String, Histograms);

impl metrics::HistogramFn for Histogram {
    fn record(&self, value: f64) {
        self.1.0.lock().unwrap().push((self.0.clone(), value));
    }
}

impl metrics::Recorder for Histograms {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(Arc::new(Histogram(key.name().to_owned(), self.clone())))
    }
}

#[tokio::test(start_paused = true)]
async fn a_starved_checkout_times_out() {
    let histograms = Histograms::default();
    let _recorder = metrics::set_default_local_recorder(&histograms);
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 1));
    let opener = Opener::default();
    let held = pool.get(&"a", || opener.open()).await.unwrap();
    let started = Instant::now();
    let err = pool
        .checkout(&"a", false, Some(Duration::from_millis(250)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    // The wait is in the pool's wait-time histogram.
    assert_eq!(
        *histograms.0.lock().unwrap(),
        vec![("tetsuo_pool_wait_seconds".to_owned(), 0.25)]
    );
    // The timed-out waiter left no trace: the next one gets the connection.
    drop(held);
    assert!(matches!(
        pool.checkout(&"a", false, Some(Duration::ZERO)).await,
        Ok(Checkout::Connect(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn idle_connections_expire_and_old_ones_retire() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| {
        c.idle_timeout = Some(Duration::from_secs(10));
        c.max_lifetime = Some(Duration::from_secs(60));
    }));
    let opener = Opener::default();
    pool.get(&"a", || opener.open()).await.unwrap().release();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let c = pool.get(&"a", || opener.open()).await.unwrap();
    assert!(!c.is_reused(), "the idle one had expired");
    assert_eq!(c.id, 1);
    assert_eq!(pool.stats().evicted, 1);
    // Busy past its lifetime: closed when released, not kept.
    tokio::time::sleep(Duration::from_secs(61)).await;
    c.release();
    assert_eq!(pool.stats().open, 0);
    assert_eq!(pool.stats().evicted, 2);
}

#[tokio::test(start_paused = true)]
async fn the_probe_discards_a_dead_connection() {
    let pool: Pool<&str, Conn> = Pool::new(PoolConfig::default());
    let opener = Opener::default();
    let c = pool.get(&"a", || opener.open()).await.unwrap();
    let alive = c.alive.clone();
    c.release();
    alive.store(false, Ordering::SeqCst); // the peer closed it while idle
    let c = pool.get(&"a", || opener.open()).await.unwrap();
    assert!(!c.is_reused());
    assert_eq!(c.id, 1);
    let stats = pool.stats();
    assert_eq!((stats.open, stats.evicted), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn new_connections_follow_the_rate() {
    // Two per second, bursts of two.
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.connect_rate = Some((2.0, 2))));
    let opener = Opener::default();
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(pool.get(&"a", || opener.open()).await.unwrap());
    }
    // Two at once, then four more at 500 ms intervals (plus 5 ms each to
    // connect).
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2000) && elapsed < Duration::from_millis(2100),
        "{elapsed:?}"
    );
    // Another key has its own bucket.
    let t = Instant::now();
    held.push(pool.get(&"b", || opener.open()).await.unwrap());
    assert!(t.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn the_total_cap_evicts_idle_connections_of_other_keys_or_waits() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_total = 2));
    let opener = Opener::default();
    let a = pool.get(&"a", || opener.open()).await.unwrap();
    pool.get(&"b", || opener.open()).await.unwrap().release();
    // Full: "b"'s idle connection makes room for "c".
    let c = pool.get(&"c", || opener.open()).await.unwrap();
    assert_eq!(pool.stats().open, 2);
    assert_eq!(pool.stats().evicted, 1);
    // Full and nothing idle: "d" waits until "a" is closed.
    let waiter = {
        let (pool, opener) = (pool.clone(), opener.clone());
        tokio::spawn(async move { pool.get(&"d", || opener.open()).await.map(|c| c.id) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.stats().waiting, 1);
    drop(a);
    assert_eq!(waiter.await.unwrap().unwrap(), 3);
    drop(c);
}

#[tokio::test(start_paused = true)]
async fn prewarming_leaves_connections_ready() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 3));
    let opener = Opener::default();
    let opener2 = opener.clone();
    let n = pool.prewarm(&"a", 5, move || {
        let o = opener2.clone();
        async move { o.open().await }
    });
    // The cap stops it at three.
    assert_eq!(n.await.unwrap(), 3);
    assert_eq!(pool.stats().idle, 3);
    let c = pool.get(&"a", || opener.open()).await.unwrap();
    assert!(c.is_reused());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_passes_its_turn_on() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 1));
    let opener = Opener::default();
    let held = pool.get(&"a", || opener.open()).await.unwrap();
    let first = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.checkout(&"a", false, None).await.map(|_| ()) })
    };
    let second = {
        let (pool, opener) = (pool.clone(), opener.clone());
        tokio::spawn(async move { pool.get(&"a", || opener.open()).await.map(|c| c.id) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Handed to the first waiter, which is cancelled before it runs: the
    // connection passes on to the second.
    held.release();
    first.abort();
    let _ = first.await;
    assert_eq!(second.await.unwrap().unwrap(), 0);
    // (The second dropped it: closed.)
    assert_eq!(pool.stats().open, 0);
}

#[tokio::test(start_paused = true)]
async fn a_place_freed_by_a_close_goes_to_the_first_waiter_not_a_newcomer() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 1));
    let opener = Opener::default();
    let held = pool.get(&"a", || opener.open()).await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let spawn_waiter = |name: &'static str| {
        let (pool, opener, order) = (pool.clone(), opener.clone(), order.clone());
        tokio::spawn(async move {
            let c = pool.get(&"a", || opener.open()).await.unwrap();
            order.lock().unwrap().push(name);
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(c); // closed, not returned
        })
    };
    let b = spawn_waiter("b");
    tokio::time::sleep(Duration::from_millis(1)).await;
    // Closed: its place goes to "b"; "d" arrives before "b" runs.
    drop(held);
    let d = spawn_waiter("d");
    b.await.unwrap();
    d.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["b", "d"]);
    assert_eq!(pool.stats().open, 0);
}

#[tokio::test(start_paused = true)]
async fn a_fresh_waiter_gets_a_place_not_an_idle_connection() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.max_per_key = 1));
    let opener = Opener::default();
    let held = pool.get(&"a", || opener.open()).await.unwrap();
    let fresh = {
        let pool = pool.clone();
        tokio::spawn(async move {
            matches!(
                pool.checkout(&"a", true, None).await,
                Ok(Checkout::Connect(_))
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    held.release();
    assert!(
        fresh.await.unwrap(),
        "handed a place to open a new connection"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_holds_when_connections_are_closed_between_checkouts() {
    let pool: Pool<&str, Conn> = Pool::new(config(|c| c.connect_rate = Some((1.0, 1))));
    let opener = Opener::default();
    let started = Instant::now();
    for _ in 0..4 {
        // Closed each time: every checkout opens a new connection.
        drop(pool.get(&"a", || opener.open()).await.unwrap());
    }
    // One at once, then one a second.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(opener.opened.load(Ordering::SeqCst), 4);
}
