//! WebSocket load: CONNS tokio-tungstenite clients, each sending a SIZE-byte
//! binary message and waiting for its echo, for SECS seconds; prints
//! messages per second (round trips), the payload throughput and its own
//! CPU time per message.
//!
//! `cargo run --release -p tetsuo-benches --example ws_load -- ws://127.0.0.1:9101/ 64 64 5`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9101/".into());
    let conns: usize = args.get(1).map_or(64, |a| a.parse().unwrap());
    let size: usize = args.get(2).map_or(64, |a| a.parse().unwrap());
    let secs: u64 = args.get(3).map_or(5, |a| a.parse().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let (count, stop) = (count.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let payload = vec![0x5a; size];
            while !stop.load(Ordering::Relaxed) {
                ws.send(Message::binary(payload.clone())).await.unwrap();
                match ws.next().await {
                    Some(Ok(m)) if m.len() == size => count.fetch_add(1, Ordering::Relaxed),
                    other => panic!("bad echo: {other:?}"),
                };
            }
            let _ = ws.close(None).await;
        }));
    }
    let start = Instant::now();
    let cpu_before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let done = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let rate = done as f64 / elapsed;
    println!(
        "{url} conns={conns} size={size}: {rate:.0} msgs/s, {:.1} MB/s each way, client CPU/msg {:.1} us",
        rate * size as f64 / 1e6,
        cpu * 1e6 / done as f64
    );
}

/// This process's user + system time so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends at the last ')'): utime
    // and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<f64>().ok())
        .sum();
    // Clock ticks are 1/100 s on Linux.
    ticks / 100.0
}
