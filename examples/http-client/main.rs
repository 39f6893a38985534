//! An HTTP client: one pooled `Client` shared by concurrent requests, an
//! optional proxy, timeouts, and retries with backoff for failures worth
//! another try.
//!
//! ```sh
//! cargo run --example http-client -- https://example.com/
//! cargo run --example http-client -- http://127.0.0.1:3000/hello -n 100 -c 8
//! cargo run --example http-client -- http://127.0.0.1:3000/hello --proxy socks5h://127.0.0.1:1080
//! cargo run --example http-client -- https://localhost:3443/hello --cacert CERT.pem --retries 3
//! ```
//!
//! One request prints the status line, headers and body. With `-n` it makes
//! that many requests, `-c` at a time over the client's pool, and prints a
//! summary: statuses, how many connections were opened and reused.
//! Connection failures, timeouts and 502/503/504 answers are tried again
//! (`--retries`, default 2) after 100 ms, 200 ms, 400 ms...

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tetsuo::http::client::{Client, Response};
use tetsuo::proxy::{Proxies, Proxy};
use tetsuo::tls::TlsConnector;
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse()?;
    let mut builder = Client::builder()
        .connect_timeout(Some(Duration::from_secs(5)))
        .timeout(Duration::from_secs(args.timeout))
        // At most this many connections to one host; more requests wait in turn.
        .pool_max_per_host(args.concurrency);
    if let Some(proxy) = &args.proxy {
        builder = builder.proxies(Proxies::chain([Proxy::parse(proxy)?]));
    }
    if let Some(ca) = &args.cacert {
        // A connector of our own: offer HTTP/2 on it too, as the default one does.
        let tls = TlsConnector::builder()
            .add_ca_pem_file(ca)
            .alpn(["h2", "http/1.1"]);
        builder = builder.tls(tls.build()?);
    }
    let client = builder.build()?;

    if args.count == 1 {
        let res = get(&client, &args.url, args.retries).await?;
        println!("{:?} {}", res.version(), res.status());
        for (name, value) in res.headers() {
            println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
        }
        println!();
        print!("{}", res.text().await?);
        return Ok(());
    }

    // Many requests: `concurrency` at a time, all through the one pool.
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.count {
        let permit = permits.clone().acquire_owned().await?;
        let (client, url, retries) = (client.clone(), args.url.clone(), args.retries);
        tasks.spawn(async move {
            let _permit = permit;
            let res = get(&client, &url, retries).await?;
            let reused = res.connection_info().is_some_and(|c| c.reused);
            let status = res.status().as_u16();
            res.bytes().await?; // read to the end: the connection goes back to the pool
            Ok::<_, tetsuo::Error>((status, reused))
        });
    }
    let (mut statuses, mut errors, mut reused) = (BTreeMap::new(), 0, 0);
    while let Some(done) = tasks.join_next().await {
        match done? {
            Ok((status, was_reused)) => {
                *statuses.entry(status).or_insert(0) += 1;
                reused += usize::from(was_reused);
            }
            Err(e) => {
                eprintln!("error: {e}");
                errors += 1;
            }
        }
    }
    println!(
        "{} requests in {:.2?}: statuses {statuses:?}, {errors} errors, {} on new connections, {reused} on reused ones",
        args.count,
        started.elapsed(),
        args.count - errors - reused,
    );
    if errors > 0 {
        Err(format!("{errors} requests failed").into())
    } else {
        Ok(())
    }
}

/// GET with retries: a failure that may pass (refused, reset, timed out)
/// or a 502/503/504 is tried again after a growing pause.
async fn get(client: &Client, url: &str, retries: u32) -> tetsuo::Result<Response> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt > retries;
        match client.get(url).send().await {
            Ok(res) if last || !matches!(res.status().as_u16(), 502..=504) => return Ok(res),
            Err(e) if last || !e.is_retryable() => return Err(e),
            Ok(res) => eprintln!(
                "attempt {attempt}: {}, trying again in {delay:?}",
                res.status()
            ),
            Err(e) => eprintln!("attempt {attempt}: {e}, trying again in {delay:?}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

struct Args {
    url: String,
    count: usize,
    concurrency: usize,
    proxy: Option<String>,
    cacert: Option<String>,
    retries: u32,
    timeout: u64,
}

impl Args {
    fn parse() -> Result<Args, Error> {
        let mut args = Args {
            url: String::new(),
            count: 1,
            concurrency: 1,
            proxy: None,
            cacert: None,
            retries: 2,
            timeout: 30,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "-n" => args.count = value()?.parse()?,
                "-c" => args.concurrency = value()?.parse()?,
                "--proxy" => args.proxy = Some(value()?),
                "--cacert" => args.cacert = Some(value()?),
                "--retries" => args.retries = value()?.parse()?,
                "--timeout" => args.timeout = value()?.parse()?,
                url if !url.starts_with('-') && args.url.is_empty() => args.url = url.to_owned(),
                _ => {
                    return Err(format!(
                        "unknown argument {arg}; see examples/http-client/main.rs"
                    )
                    .into());
                }
            }
        }
        if args.url.is_empty() || args.count == 0 || args.concurrency == 0 {
            return Err("usage: http-client URL [-n N] [-c C] [--proxy URL] [--cacert FILE] [--retries N] [--timeout SECS]".into());
        }
        Ok(args)
    }
}
