//! Service discovery: where a [`Balancer`]'s endpoints come from — a
//! static list, a file watched for changes, or a key prefix in etcd
//! (watched through its v3 HTTP/JSON gateway) — kept up to date live.
//! Updates go through [`Balancer::set`], so endpoints that disappear stop
//! being picked while their requests in flight finish.
//!
//! An endpoint is written `host:port`, optionally followed by a weight:
//! `10.0.0.7:8080 3`. Feature: `discover`.
//!
//! ```no_run
//! use tetsuo::balance::{Balancer, Policy};
//! use tetsuo::discover;
//!
//! # async fn demo() -> tetsuo::Result<()> {
//! let lb = Balancer::new(Policy::RoundRobin);
//! // Keys under /services/api/ hold "host:port [weight]".
//! let _watch = discover::etcd("http://127.0.0.1:2379", "/services/api/")?.spawn(lb.clone());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::task::JoinHandle;

use crate::balance::Balancer;
use crate::http::Body;
use crate::http::client::Client;
use crate::{Error, ErrorKind, Result};

/// Parses `host:port [weight]` (the weight defaults to 1); `None` for
/// anything else, blank lines and `#` comments.
pub fn parse_endpoint(line: &str) -> Option<(String, u32)> {
    let line = line.split('#').next()?.trim();
    let mut parts = line.split_whitespace();
    let addr = parts.next()?;
    let weight = match parts.next() {
        Some(w) => w.parse().ok()?,
        None => 1,
    };
    if parts.next().is_some() {
        return None;
    }
    let (host, port) = addr.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    Some((addr.to_owned(), weight))
}

/// Discovery running; dropping it stops the updates (the balancer keeps
/// the last set).
#[derive(Debug)]
pub struct Discovery {
    task: JoinHandle<()>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A file of endpoints, one per line, read again whenever it changes.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    interval: Duration,
}

/// Endpoints from the file at `path` (checked every second; see
/// [`FileSource::interval`]).
pub fn file(path: impl Into<PathBuf>) -> FileSource {
    FileSource {
        path: path.into(),
        interval: Duration::from_secs(1),
    }
}

impl FileSource {
    /// How often the file is looked at.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Reads the file now.
    pub fn read(&self) -> Result<Vec<(String, u32)>> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| Error::io("read the endpoints file", e).with_path(&self.path))?;
        Ok(text.lines().filter_map(parse_endpoint).collect())
    }

    /// Keeps `balancer`'s endpoints as the file lists them. A file that
    /// cannot be read leaves the set as it was; a change is applied once
    /// two reads in a row agree (a file caught half-written is not), but
    /// write it whole and rename it into place all the same.
    pub fn spawn(self, balancer: Balancer<String>) -> Discovery {
        let interval = self.interval.max(Duration::from_millis(1));
        Discovery {
            task: tokio::spawn(async move {
                let mut applied: Option<Vec<(String, u32)>> = None;
                let mut seen: Option<Vec<(String, u32)>> = None;
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    let Ok(now) = self.read() else { continue };
                    let settled = seen.as_ref() == Some(&now) || applied.is_none();
                    if settled && applied.as_ref() != Some(&now) {
                        balancer.set(now.iter().cloned());
                        applied = Some(now.clone());
                    }
                    seen = Some(now);
                }
            }),
        }
    }
}

/// Endpoints from the SRV records of a name (RFC 2782), looked up again
/// every interval; the resolver's cache keeps an answer for its TTL, so
/// changes show once it expires.
#[derive(Clone)]
pub struct SrvSource {
    name: String,
    resolver: std::sync::Arc<dyn crate::dns::Resolve>,
    interval: Duration,
}

impl std::fmt::Debug for SrvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrvSource")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Endpoints from the SRV records of `name` (e.g. `_http._tcp.example.com`)
/// through `resolver` (one that looks up SRV records, such as
/// `dns::HickoryResolver`). Only the records of the best (lowest)
/// priority are used, each `target:port` with its weight (0 counts as 1):
/// the others are the fallback RFC 2782 describes, for when none of those
/// answer, which health checks then show.
pub fn srv(name: &str, resolver: impl crate::dns::Resolve) -> SrvSource {
    SrvSource {
        name: name.to_owned(),
        resolver: std::sync::Arc::new(resolver),
        interval: Duration::from_secs(1),
    }
}

impl SrvSource {
    /// How often the name is looked up (default 1 s; the resolver's cache
    /// answers until the records' TTL runs out).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Looks the records up now: the endpoints of the best priority.
    pub async fn list(&self) -> Result<Vec<(String, u32)>> {
        let records = self.resolver.lookup_srv(&self.name).await?;
        let Some(best) = records.iter().map(|r| r.priority).min() else {
            return Ok(Vec::new());
        };
        Ok(records
            .iter()
            .filter(|r| r.priority == best && !r.target.is_empty() && r.target != ".")
            .map(|r| {
                let host = if r.target.contains(':') {
                    format!("[{}]", r.target)
                } else {
                    r.target.clone()
                };
                (format!("{host}:{}", r.port), u32::from(r.weight.max(1)))
            })
            .collect())
    }

    /// Keeps `balancer`'s endpoints as the records say; a failed lookup
    /// leaves the set as it was.
    pub fn spawn(self, balancer: Balancer<String>) -> Discovery {
        let interval = self.interval.max(Duration::from_millis(1));
        Discovery {
            task: tokio::spawn(async move {
                let mut last: Option<Vec<(String, u32)>> = None;
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    let Ok(mut now) = self.list().await else {
                        continue;
                    };
                    now.sort();
                    if last.as_ref() != Some(&now) {
                        balancer.set(now.iter().cloned());
                        last = Some(now);
                    }
                }
            }),
        }
    }
}

/// Endpoints under a key prefix of etcd (v3), listed and then watched.
#[derive(Debug, Clone)]
pub struct EtcdSource {
    client: Client,
    base: String,
    prefix: Vec<u8>,
}

/// Endpoints under `prefix` in the etcd at `url` (`http://host:2379`),
/// through its HTTP/JSON gateway (`/v3/kv/range`, `/v3/watch`).
pub fn etcd(url: &str, prefix: &str) -> Result<EtcdSource> {
    let client = Client::builder().no_proxy().build()?;
    Ok(EtcdSource {
        client,
        base: url.trim_end_matches('/').to_owned(),
        prefix: prefix.as_bytes().to_vec(),
    })
}

/// The end of a prefix range: the prefix with its last byte one higher
/// (etcd's `range_end` for "every key starting with").
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from the prefix on.
    vec![0]
}

/// How long one etcd watch lasts before a fresh listing.
const RELIST: Duration = Duration::from_secs(300);

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(v: &serde_json::Value) -> Option<Vec<u8>> {
    STANDARD.decode(v.as_str()?).ok()
}

/// etcd writes 64-bit numbers as strings.
fn number(v: &serde_json::Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
}

impl EtcdSource {
    /// Uses `client` (TLS, proxies, timeouts) to reach etcd.
    pub fn client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<http::Response<Body>> {
        let req = http::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .map_err(|e| Error::new(ErrorKind::InvalidInput, "ask etcd").with_source(e))?;
        let res = self.client.execute(req).await?;
        if !res.status().is_success() {
            return Err(Error::new(ErrorKind::Protocol, "ask etcd")
                .with_name(self.base.clone())
                .with_detail(format!("{path} answered {}", res.status())));
        }
        Ok(res.into_http())
    }

    /// Lists the endpoints now: key to endpoint, and the revision read.
    pub async fn list(&self) -> Result<(BTreeMap<Vec<u8>, (String, u32)>, i64)> {
        let body = serde_json::json!({
            "key": b64(&self.prefix),
            "range_end": b64(&prefix_end(&self.prefix)),
        });
        let res = self.post("/v3/kv/range", body).await?;
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::new(ErrorKind::Io, "read etcd's answer").with_source(e))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Protocol, "read etcd's answer").with_source(e))?;
        let revision = number(&json["header"]["revision"]).unwrap_or(0);
        let mut set = BTreeMap::new();
        for kv in json["kvs"].as_array().into_iter().flatten() {
            if let (Some(key), Some(value)) = (unb64(&kv["key"]), unb64(&kv["value"]))
                && let Some(endpoint) = std::str::from_utf8(&value).ok().and_then(parse_endpoint)
            {
                set.insert(key, endpoint);
            }
        }
        Ok((set, revision))
    }

    /// Watches from `revision` on, applying each change to `set` and
    /// `balancer`; returns when the stream ends or fails.
    async fn watch(
        &self,
        set: &mut BTreeMap<Vec<u8>, (String, u32)>,
        revision: i64,
        balancer: &Balancer<String>,
    ) -> Result<()> {
        let body = serde_json::json!({
            "create_request": {
                "key": b64(&self.prefix),
                "range_end": b64(&prefix_end(&self.prefix)),
                "start_revision": (revision + 1).to_string(),
            }
        });
        let mut body = self.post("/v3/watch", body).await?.into_body();
        // One JSON object per line, lines split across chunks at will.
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            let Ok(data): std::result::Result<Bytes, _> = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&line) else {
                    continue;
                };
                // A cancelled watch (compaction, no leader) or an error
                // ends this one: the caller lists again.
                if json.get("error").is_some() || json["result"]["canceled"].as_bool() == Some(true)
                {
                    return Err(Error::new(ErrorKind::Protocol, "watch etcd")
                        .with_name(self.base.clone())
                        .with_detail(format!("the watch ended: {json}")));
                }
                let events = json["result"]["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if events.is_empty() {
                    continue;
                }
                for event in &events {
                    let Some(key) = unb64(&event["kv"]["key"]) else {
                        continue;
                    };
                    if event["type"].as_str() == Some("DELETE") {
                        set.remove(&key);
                    } else {
                        let value = unb64(&event["kv"]["value"]).unwrap_or_default();
                        match std::str::from_utf8(&value).ok().and_then(parse_endpoint) {
                            Some(endpoint) => set.insert(key, endpoint),
                            None => set.remove(&key),
                        };
                    }
                }
                balancer.set(set.values().cloned());
            }
        }
        Ok(())
    }

    /// Keeps `balancer`'s endpoints as etcd lists them: a listing, then a
    /// watch from its revision; after a failure, again from a listing
    /// (every second until etcd answers).
    pub fn spawn(self, balancer: Balancer<String>) -> Discovery {
        Discovery {
            task: tokio::spawn(async move {
                loop {
                    if let Ok((mut set, revision)) = self.list().await {
                        balancer.set(set.values().cloned());
                        // Listed afresh now and then, so that a watch
                        // silently stuck (a half-open connection) cannot
                        // freeze the set.
                        let watch = self.watch(&mut set, revision, &balancer);
                        let _ = tokio::time::timeout(RELIST, watch).await;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_lines() {
        assert_eq!(
            parse_endpoint("10.0.0.1:80"),
            Some(("10.0.0.1:80".into(), 1))
        );
        assert_eq!(
            parse_endpoint(" a.test:8080 3 # comment"),
            Some(("a.test:8080".into(), 3))
        );
        assert_eq!(parse_endpoint("[::1]:443 2"), Some(("[::1]:443".into(), 2)));
        for bad in [
            "", "# only", "nohost", ":80", "a:99999", "a:80 x", "a:80 1 2",
        ] {
            assert_eq!(parse_endpoint(bad), None, "{bad}");
        }
    }

    /// SRV answers set by the test.
    #[derive(Debug, Default)]
    struct FakeSrv(std::sync::Mutex<Vec<crate::dns::Srv>>);

    impl crate::dns::Resolve for std::sync::Arc<FakeSrv> {
        fn lookup<'a>(
            &'a self,
            _: &'a str,
            _: crate::dns::Query,
        ) -> crate::dns::Resolving<'a, Vec<std::net::IpAddr>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn lookup_srv<'a>(&'a self, _: &'a str) -> crate::dns::Resolving<'a, Vec<crate::dns::Srv>> {
            let records = self.0.lock().unwrap().clone();
            Box::pin(async move { Ok(records) })
        }
    }

    fn record(priority: u16, weight: u16, target: &str, port: u16) -> crate::dns::Srv {
        crate::dns::Srv {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn srv_records_of_the_best_priority_drive_the_balancer() {
        let dns = std::sync::Arc::new(FakeSrv::default());
        *dns.0.lock().unwrap() = vec![
            record(10, 3, "a.test", 8080),
            record(10, 0, "b.test", 8080),
            record(20, 1, "backup.test", 8080),
        ];
        let lb = Balancer::new(crate::balance::Policy::WeightedRoundRobin);
        let _watch = srv("_web._tcp.test", dns.clone()).spawn(lb.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut now: Vec<(String, u32)> = lb
            .endpoints()
            .into_iter()
            .map(|e| (e.endpoint, e.weight))
            .collect();
        now.sort();
        assert_eq!(
            now,
            [("a.test:8080".to_owned(), 3), ("b.test:8080".to_owned(), 1)]
        );
        // The best priority's records are gone: the backup's take over at
        // the next lookup.
        *dns.0.lock().unwrap() = vec![record(20, 1, "backup.test", 8080)];
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now: Vec<String> = lb
            .endpoints()
            .into_iter()
            .filter(|e| !e.draining)
            .map(|e| e.endpoint)
            .collect();
        assert_eq!(now, ["backup.test:8080"]);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/svc/"), b"/svc0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
