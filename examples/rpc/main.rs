//! An RPC framework in a few hundred lines (`framework.rs`), a calculator
//! service on it (`calc.rs`), and a benchmark of calls per second.
//!
//! ```sh
//! cargo run --release --example rpc -- server --listen 127.0.0.1:7100
//! cargo run --release --example rpc -- server --listen 127.0.0.1:7101 --tls   # self-signed; prints its PEM
//! cargo run --release --example rpc -- server --listen 127.0.0.1:7102 --cert CERT.pem --key KEY.pem
//! cargo run --release --example rpc -- call --server 127.0.0.1:7100 add '{"a": 2, "b": 3}'
//! cargo run --release --example rpc -- call --server 127.0.0.1:7100 sleep '{"ms": 5000}' --deadline-ms 200
//! cargo run --release --example rpc -- bench --server 127.0.0.1:7100 --duration 5 --concurrency 64
//! ```
//!
//! `--server` takes a comma-separated list: calls are balanced over the
//! servers (fewest in flight first) on 2 pooled connections each, and a
//! connection that fails is opened again. `call` and `bench` treat the
//! calculator's methods as idempotent, so a server restarting mid-stream
//! costs retries, not failed calls (with `--tls` a restarted server has a
//! new certificate: use `--cert`/`--key` to keep one). `--cacert FILE`
//! speaks TLS to servers with a certificate for `localhost` signed by FILE.

mod calc;
mod framework;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framework::{CallOptions, Client, ClientConfig, RpcError};
use tetsuo::tls::{Identity, TlsAcceptor, TlsConnector};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args
        .split_first()
        .ok_or("usage: rpc server|call|bench ...")?;
    let mut positional = Vec::new();
    let mut flags = std::collections::HashMap::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.strip_prefix("--") {
            Some("tls") => {
                flags.insert("tls", String::new());
            }
            Some(name) => {
                let value = it.next().ok_or(format!("{arg} needs a value"))?;
                flags.insert(name, value.clone());
            }
            None => positional.push(arg.clone()),
        }
    }
    let flag = |name: &str| flags.get(name).cloned();
    match command.as_str() {
        "server" => {
            let listen = flag("listen").unwrap_or("127.0.0.1:7100".into());
            let identity = match (flag("cert"), flag("key")) {
                (Some(cert), Some(key)) => Some(Identity::from_pem_files(cert, key)?),
                (None, None) if flags.contains_key("tls") => Some(self_signed()?),
                (None, None) => None,
                _ => return Err("--cert and --key go together".into()),
            };
            server(listen, identity).await
        }
        "call" => {
            let [method, params] = positional.as_slice() else {
                return Err(
                    "usage: rpc call --server ADDR METHOD PARAMS_JSON [--deadline-ms N]".into(),
                );
            };
            let client = client(
                &flag("server").ok_or("--server ADDR is needed")?,
                flag("cacert"),
            )?;
            let params: serde_json::Value = serde_json::from_str(params)?;
            let deadline =
                Duration::from_millis(flag("deadline-ms").map_or(Ok(5000), |v| v.parse())?);
            let options = CallOptions {
                deadline,
                idempotent: true,
            };
            let started = Instant::now();
            let result: Result<serde_json::Value, RpcError> =
                client.call(method, &params, options).await;
            match result {
                Ok(value) => println!("{value}"),
                Err(e) => {
                    println!("error after {:.0?}: {e}", started.elapsed());
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        "bench" => {
            let client = client(
                &flag("server").ok_or("--server ADDR is needed")?,
                flag("cacert"),
            )?;
            let duration =
                Duration::from_secs_f64(flag("duration").map_or(Ok(5.0), |v| v.parse())?);
            let concurrency = flag("concurrency").map_or(Ok(64), |v| v.parse())?;
            bench(client, duration, concurrency).await
        }
        other => Err(format!("unknown command {other}: server, call or bench").into()),
    }
}

/// A certificate for `localhost` made now, its PEM written where it is
/// printed (a new one each start: clients of a restarted server need the
/// new file, or give the server `--cert`/`--key`).
fn self_signed() -> Result<Identity, Error> {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let pem = std::env::temp_dir().join(format!("rpc-{}.pem", std::process::id()));
    std::fs::write(&pem, pair.cert.pem())?;
    println!("self-signed certificate for localhost: {}", pem.display());
    Ok(Identity::from_pem(
        pair.cert.pem().as_bytes(),
        pair.signing_key.serialize_pem().as_bytes(),
    )?)
}

async fn server(listen: String, identity: Option<Identity>) -> Result<(), Error> {
    let listener = tetsuo::net::TcpListenerBuilder::new(listen.parse()?)
        .nodelay(true)
        .bind()?;
    let tls = identity.is_some();
    let acceptor = match identity {
        Some(identity) => Some(TlsAcceptor::builder().identity(identity).build()?),
        None => None,
    };
    println!(
        "listening on {}{}",
        listener.local_addr()?,
        if tls { " (TLS)" } else { "" }
    );
    let service = Arc::new(calc::service(Arc::default()));
    framework::serve(listener, acceptor, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

fn client(servers: &str, cacert: Option<String>) -> Result<Client, Error> {
    let servers: Vec<String> = servers.split(',').map(str::to_owned).collect();
    let mut config = ClientConfig::default();
    if let Some(ca) = cacert {
        config.tls = Some((
            TlsConnector::builder()
                .add_ca_pem_file(ca)
                .handshake_timeout(Duration::from_secs(5))
                .build()?,
            "localhost".into(),
        ));
    }
    Ok(Client::new(&servers, config))
}

/// `concurrency` callers making `add` calls back to back for `duration`:
/// calls per second, latency percentiles, and every failure counted.
async fn bench(client: Client, duration: Duration, concurrency: usize) -> Result<(), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..concurrency {
        let (client, stop, failed) = (client.clone(), stop.clone(), failed.clone());
        callers.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let operands = calc::Operands {
                    a: n as f64,
                    b: i as f64,
                };
                let options = CallOptions {
                    deadline: Duration::from_secs(10),
                    idempotent: true,
                };
                let at = Instant::now();
                match client.call::<_, f64>("add", &operands, options).await {
                    Ok(sum) if sum == operands.a + operands.b => latencies.push(at.elapsed()),
                    Ok(sum) => panic!("add({operands:?}) = {sum}"),
                    Err(e) => {
                        eprintln!("call failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    while let Some(done) = callers.join_next().await {
        latencies.extend(done?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "{} calls in {elapsed:.2?}: {:.0} calls/s, p50 {:.0?}, p99 {:.0?}, max {:.0?}; {failed} failed",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    if failed > 0 {
        Err(format!("{failed} calls failed").into())
    } else {
        Ok(())
    }
}
