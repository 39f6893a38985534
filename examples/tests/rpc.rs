//! The RPC example's framework, in process: multiplexing, deadlines,
//! cancellation, bad frames, TLS, and a server restart under load with no
//! failed idempotent call.

#[allow(dead_code)]
#[path = "../rpc/framework.rs"]
mod framework;

#[allow(dead_code)]
#[path = "../rpc/calc.rs"]
mod calc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use framework::{CallOptions, Client, ClientConfig, Code, Connection};
use serde_json::json;
use tetsuo::tls::{Identity, TlsAcceptor, TlsConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// A calculator server on `addr` (port 0: any); stops when `stop` fires or
/// is dropped, dropping every connection at once.
async fn start(
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
) -> (SocketAddr, Arc<calc::Stats>, oneshot::Sender<()>) {
    // A port just given up may be taken by another test for a moment.
    let mut listener = tokio::net::TcpListener::bind(addr).await;
    for _ in 0..50 {
        if listener.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listener = tokio::net::TcpListener::bind(addr).await;
    }
    let listener = listener.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(calc::Stats::default());
    let service = Arc::new(calc::service(stats.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(framework::serve(listener, tls, service, async {
        let _ = stopped.await;
    }));
    (addr, stats, stop)
}

async fn connect(addr: SocketAddr) -> Connection {
    Connection::new(tokio::net::TcpStream::connect(addr).await.unwrap())
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn calls_on_one_connection_are_answered_out_of_order() {
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let conn = connect(addr).await;
    let order = std::sync::Mutex::new(Vec::new());
    let call = |ms: u64| {
        let (conn, order) = (&conn, &order);
        async move {
            let got = conn
                .call("sleep", json!({ "ms": ms }), 10 * SECOND)
                .await
                .unwrap();
            order.lock().unwrap().push(got);
        }
    };
    tokio::join!(call(400), call(200), call(1));
    assert_eq!(*order.lock().unwrap(), [json!(1), json!(200), json!(400)]);
    assert_eq!(
        conn.call("add", json!({"a": 2, "b": 3}), SECOND).await,
        Ok(json!(5.0))
    );
}

#[tokio::test]
async fn errors_are_typed() {
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let conn = connect(addr).await;
    let code = |r: Result<serde_json::Value, framework::RpcError>| r.unwrap_err().code;
    assert_eq!(
        code(conn.call("div", json!({"a": 1, "b": 0}), SECOND).await),
        Code::Failed
    );
    assert_eq!(
        code(conn.call("nope", json!(null), SECOND).await),
        Code::NotFound
    );
    assert_eq!(
        code(conn.call("add", json!({"a": "x"}), SECOND).await),
        Code::InvalidParams
    );
    // The connection is still good.
    assert_eq!(
        conn.call("mul", json!({"a": 6, "b": 7}), SECOND).await,
        Ok(json!(42.0))
    );
}

#[tokio::test]
async fn a_deadline_stops_the_call_on_both_sides() {
    let (addr, stats, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let conn = connect(addr).await;
    let err = conn
        .call("sleep", json!({"ms": 60_000}), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::DeadlineExceeded);
    wait_for_stopped_sleeps(&stats, 1).await;
}

#[tokio::test]
async fn dropping_a_call_cancels_it_on_the_server() {
    let (addr, stats, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let conn = Arc::new(connect(addr).await);
    let call = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.call("sleep", json!({"ms": 60_000}), 120 * SECOND)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stats.sleeps_stopped.load(Ordering::Relaxed), 0);
    call.abort();
    // Long before its 60 s sleep or 120 s deadline: the cancel frame stopped it.
    wait_for_stopped_sleeps(&stats, 1).await;
    assert_eq!(conn.call("stats", json!(null), SECOND).await, Ok(json!(1)));
}

async fn wait_for_stopped_sleeps(stats: &calc::Stats, n: u64) {
    wait_until("the server's sleep to be stopped", || {
        stats.sleeps_stopped.load(Ordering::Relaxed) == n
    })
    .await;
}

/// Polls `done` every 10 ms for up to 5 s; panics naming `what` if it never holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("waited 5 s for {what}");
}

#[tokio::test]
async fn oversized_and_malformed_frames_close_the_connection() {
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    for bad in [&[0xff, 0xff, 0xff, 0xff][..], b"\x00\x00\x00\x05nope!"] {
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(bad).await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(5 * SECOND, raw.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0))), "{read:?}");
    }
    // The server still serves others.
    assert_eq!(
        connect(addr)
            .await
            .call("add", json!({"a": 1, "b": 1}), SECOND)
            .await,
        Ok(json!(2.0))
    );
}

// Time is paused only while nothing but the server's timers is left to
// happen: the connections are made and their bytes delivered first.
#[tokio::test]
async fn idle_and_trickling_connections_are_closed() {
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let began = tokio::time::Instant::now();
    // Silent from the start, and a frame begun and never finished.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(b"\x00\x00\x00\x20{\"type\"")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::pause();
    let mut rest = Vec::new();
    let limit = 2 * framework::IDLE_TIMEOUT;
    let closed = tokio::time::timeout(limit, trickle.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "trickle not closed");
    let took = began.elapsed();
    assert!(
        took >= framework::FRAME_TIMEOUT && took < framework::IDLE_TIMEOUT,
        "{took:?}"
    );
    let closed = tokio::time::timeout(limit, silent.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "silent not closed");
    assert!(began.elapsed() >= framework::IDLE_TIMEOUT);
    tokio::time::resume();
}

#[tokio::test]
async fn the_pool_replaces_a_connection_before_the_server_would_close_it() {
    // A server that counts the connections it accepts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Arc::new(calc::service(Arc::default()));
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(framework::serve_connection(stream, service.clone()));
        }
    });
    let config = ClientConfig {
        connections_per_server: 1,
        ..ClientConfig::default()
    };
    let client = Client::new(&[addr.to_string()], config);
    let add = |a: f64| calc::Operands { a, b: 1.0 };
    // Not idempotent: it must never meet a connection the server closes.
    let call = |a| {
        let client = client.clone();
        async move {
            client
                .call::<_, f64>("add", &add(a), CallOptions::default())
                .await
        }
    };
    assert_eq!(call(1.0).await, Ok(2.0));
    assert_eq!(call(2.0).await, Ok(3.0));
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    // Unused for a minute (the server would close it at two): replaced.
    tokio::time::pause();
    tokio::time::sleep(Duration::from_secs(61)).await;
    tokio::time::resume();
    assert_eq!(call(3.0).await, Ok(4.0));
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
    server.abort();
}

#[tokio::test]
async fn a_call_too_large_for_a_frame_is_refused_and_the_connection_lives_on() {
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let conn = connect(addr).await;
    let big = "x".repeat(framework::MAX_FRAME);
    let err = conn
        .call("add", json!({"a": big, "b": 1}), SECOND)
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidParams, "{err}");
    assert_eq!(
        conn.call("add", json!({"a": 1, "b": 1}), SECOND).await,
        Ok(json!(2.0))
    );
}

#[tokio::test]
async fn calls_over_tls() {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let identity = Identity::from_pem(
        pair.cert.pem().as_bytes(),
        pair.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::builder().identity(identity).build().unwrap();
    let (addr, _, _stop) = start("127.0.0.1:0".parse().unwrap(), Some(acceptor)).await;
    let tls = TlsConnector::builder()
        .add_ca_pem(pair.cert.pem().as_bytes())
        .build()
        .unwrap();
    let config = ClientConfig {
        tls: Some((tls, "localhost".into())),
        ..Default::default()
    };
    let client = Client::new(&[addr.to_string()], config);
    let sum: f64 = client
        .call(
            "add",
            &calc::Operands { a: 1.5, b: 2.0 },
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(sum, 3.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_fails_no_idempotent_call() {
    let (addr, _, stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let client = Client::new(&[addr.to_string()], ClientConfig::default());
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..16 {
        let (client, ok, failed) = (client.clone(), ok.clone(), failed.clone());
        callers.spawn(async move {
            // Each caller keeps calls in flight until 4000 succeeded in all.
            let mut i = 0.0;
            while ok.load(Ordering::Relaxed) < 4000 {
                i += 1.0;
                let options = CallOptions {
                    deadline: 10 * SECOND,
                    idempotent: true,
                };
                match client
                    .call::<_, f64>(
                        "add",
                        &calc::Operands {
                            a: f64::from(n),
                            b: i,
                        },
                        options,
                    )
                    .await
                {
                    Ok(sum) => {
                        assert_eq!(sum, f64::from(n) + i);
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while ok.load(Ordering::Relaxed) < 1000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Stop: every connection drops with calls in flight; the port is shut
    // for 300 ms; then a new server takes it.
    drop(stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_restart = ok.load(Ordering::Relaxed);
    let (_, _, _stop) = start(addr, None).await;
    tokio::time::timeout(60 * SECOND, async {
        while callers.join_next().await.is_some() {}
    })
    .await
    .expect("the callers finish once the server is back");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    // Most calls were answered by the second server.
    assert!(before_restart < 2000, "{before_restart}");
    assert!(ok.load(Ordering::Relaxed) >= 4000);
}

#[tokio::test]
async fn a_call_that_is_not_idempotent_is_not_sent_twice() {
    let (addr, stats, stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let client = Client::new(&[addr.to_string()], ClientConfig::default());
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            let options = CallOptions {
                deadline: 30 * SECOND,
                idempotent: false,
            };
            client
                .call::<_, u64>("sleep", &calc::Sleep { ms: 60_000 }, options)
                .await
        }
    });
    // The call is running on the server: then the server goes away.
    wait_until("the call to run on the server", || {
        stats.sleeping.load(Ordering::Relaxed) == 1
    })
    .await;
    drop(stop);
    let err = tokio::time::timeout(5 * SECOND, call)
        .await
        .expect("answered at once")
        .unwrap()
        .unwrap_err();
    // Not retried (it may have run): reported, long before its deadline.
    assert_eq!(err.code, Code::Unavailable, "{err}");
    // And the server stopped it with the connection.
    wait_for_stopped_sleeps(&stats, 1).await;
    assert_eq!(stats.sleeping.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_server_that_never_answers_is_skipped_after_three_deadlines() {
    // Accepts connections and reads nothing, answers nothing.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_addr = hung.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hung.accept().await {
            held.push(conn);
        }
    });
    let (good, _, _stop) = start("127.0.0.1:0".parse().unwrap(), None).await;
    let client = Client::new(
        &[hung_addr.to_string(), good.to_string()],
        ClientConfig::default(),
    );
    let mut late = 0;
    for i in 0..20 {
        let options = CallOptions {
            deadline: Duration::from_millis(150),
            idempotent: true,
        };
        match client
            .call::<_, f64>(
                "add",
                &calc::Operands {
                    a: 1.0,
                    b: f64::from(i),
                },
                options,
            )
            .await
        {
            Ok(sum) => assert_eq!(sum, 1.0 + f64::from(i)),
            Err(e) => {
                assert_eq!(e.code, Code::DeadlineExceeded, "{e}");
                late += 1;
            }
        }
    }
    // Taking turns, half the calls (10) would hang there; its breaker opens
    // after 3 and lets one probe through per 500 ms cool-down.
    assert!(
        (3..=6).contains(&late),
        "{late} calls went to the hung server"
    );
}
