//! An HTTP server: routes, a streamed echo, a streamed count, static files,
//! TLS with HTTP/2, limits, a health check and graceful drain.
//!
//! ```sh
//! cargo run --example http-server -- --listen 127.0.0.1:3000 --tls-listen 127.0.0.1:3443 --root .
//! curl http://127.0.0.1:3000/hello
//! curl -d 'some data' http://127.0.0.1:3000/echo
//! curl -N http://127.0.0.1:3000/count?n=5
//! curl http://127.0.0.1:3000/files/Cargo.toml
//! curl --http2 --cacert CERT.pem https://localhost:3443/hello   # CERT.pem: printed at start
//! ```
//!
//! `--cert FILE --key FILE` serve your own certificate; without them the TLS
//! listener uses a fresh self-signed one for `localhost` and prints where
//! its PEM file is. Ctrl-C or SIGTERM drains: no new connections, requests
//! in flight finish (for up to 10 s), `/healthz` answers 503 meanwhile.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use tetsuo::http::server::{Handle, Server};
use tetsuo::http::{Body, service_fn};
use tetsuo::tls::{Identity, TlsAcceptor};
use tokio::io::AsyncReadExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse()?;
    let server = Server::builder()
        .max_connections(10_000)
        .max_connections_per_ip(64)
        .connection_rate_per_ip(50.0, 100)
        .header_read_timeout(Some(Duration::from_secs(5)))
        .idle_timeout(Some(Duration::from_secs(30)))
        .build();
    let handle = server.handle();
    let root = match &args.root {
        Some(root) => Some(std::fs::canonicalize(root)?),
        None => None,
    };
    let app = App {
        handle: handle.clone(),
        root,
    };
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.route(req).await) }
    });

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tokio::spawn({
        let (server, service) = (server.clone(), service.clone());
        async move { server.serve_tcp(listener, service).await }
    });
    if let Some(addr) = args.tls_listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let acceptor = TlsAcceptor::builder()
            .identity(identity(&args)?)
            // HTTP/2 for clients that offer it, HTTP/1.1 for the others.
            .alpn(["h2", "http/1.1"])
            .build()?;
        println!("listening on https://{}", listener.local_addr()?);
        tokio::spawn({
            let server = server.clone();
            async move { server.serve_tls(listener, acceptor, service).await }
        });
    }

    shutdown_signal().await;
    println!("draining");
    let report = handle.shutdown(Duration::from_secs(10)).await;
    println!(
        "drained in {:?}, {} connections closed by force",
        report.elapsed, report.forced
    );
    Ok(())
}

#[derive(Clone)]
struct App {
    handle: Handle,
    root: Option<PathBuf>,
}

impl App {
    async fn route(&self, req: Request<Body>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/") => text(
                StatusCode::OK,
                "routes: /hello /echo /count?n=N /files/PATH /healthz\n",
            ),
            (&Method::GET, "/hello") => text(StatusCode::OK, "Hello, World!\n"),
            // The body streams back as it arrives, with backpressure.
            (&Method::POST, "/echo") => Response::new(req.into_body()),
            (&Method::GET, "/count") => count(req.uri().query()),
            (&Method::GET, "/healthz") if self.handle.is_ready() => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/healthz") => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
            (&Method::GET, p) if p.starts_with("/files/") => match &self.root {
                Some(root) => file(root, &p["/files/".len()..]).await,
                None => text(StatusCode::NOT_FOUND, "no --root given\n"),
            },
            (_, "/" | "/hello" | "/echo" | "/count" | "/healthz") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

/// `n` lines, one every 100 ms: a response written while it is produced.
fn count(query: Option<&str>) -> Response<Body> {
    let n: u32 = query
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
        .min(1000);
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(1);
    tokio::spawn(async move {
        for i in 1..=n {
            if tx.send_data(Bytes::from(format!("{i}\n"))).await.is_err() {
                return; // the client went away
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Response::new(Body::wrap(body))
}

/// A file under `root`, streamed in 64 KiB pieces; `..` and absolute paths
/// are refused, and so is a symbolic link that leads out of `root`.
async fn file(root: &Path, rel: &str) -> Response<Body> {
    let rel = Path::new(rel);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return text(StatusCode::BAD_REQUEST, "bad path\n");
    }
    // A symbolic link may not lead out of the root either.
    let path = match tokio::fs::canonicalize(root.join(rel)).await {
        Ok(path) if path.starts_with(root) => path,
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) if f.metadata().await.is_ok_and(|m| m.is_file()) => f,
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(2);
    tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match file.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .send_data(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        return; // the client went away
                    }
                }
                // The body fails rather than end as if the file were whole:
                // the client sees the transfer cut short.
                Err(e) => return tx.abort(e),
            }
        }
    });
    let mut res = Response::new(Body::wrap(body));
    let kind = match rel.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("txt" | "md" | "toml" | "rs") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    res
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn identity(args: &Args) -> Result<Identity, Error> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        return Ok(Identity::from_pem_files(cert, key)?);
    }
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let pem = std::env::temp_dir().join(format!("http-server-{}.pem", std::process::id()));
    std::fs::write(&pem, pair.cert.pem())?;
    println!("self-signed certificate for localhost: {}", pem.display());
    Ok(Identity::from_pem(
        pair.cert.pem().as_bytes(),
        pair.signing_key.serialize_pem().as_bytes(),
    )?)
}

struct Args {
    listen: SocketAddr,
    tls_listen: Option<SocketAddr>,
    root: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Args {
    fn parse() -> Result<Args, Error> {
        let mut args = Args {
            listen: "127.0.0.1:3000".parse()?,
            tls_listen: None,
            root: None,
            cert: None,
            key: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--listen" => args.listen = value()?.parse()?,
                "--tls-listen" => args.tls_listen = Some(value()?.parse()?),
                "--root" => args.root = Some(value()?.into()),
                "--cert" => args.cert = Some(value()?.into()),
                "--key" => args.key = Some(value()?.into()),
                _ => {
                    return Err(format!(
                        "unknown flag {flag}; see the doc comment of examples/http-server/main.rs"
                    )
                    .into());
                }
            }
        }
        Ok(args)
    }
}
