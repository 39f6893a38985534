//! `tetsuo get URL`: a curl-like HTTP/1.1 and HTTP/2 client on tetsuo's
//! client.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use http::Method;
use tetsuo::http::client::{Client, ConnectionInfo, RedirectPolicy};
use tetsuo::tls::{Pin, TlsConnector};
use tokio::io::AsyncWriteExt;

use crate::pipeline::PipelineArgs;
use crate::positive_secs;

/// Arguments of `tetsuo get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The URL (http:// or https://).
    url: String,
    /// The method (default GET, or POST with -d/--data-file).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// A request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Send DATA as the body (POST unless -X says otherwise).
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "data_file"
    )]
    data: Option<String>,
    /// Send the contents of FILE as the body.
    #[arg(long = "data-file", value_name = "FILE")]
    data_file: Option<PathBuf>,
    /// Write the body to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Use HTTP/1.1 only (https:// offers h2 in ALPN otherwise).
    #[arg(long = "http1.1", conflicts_with_all = ["http2", "http2_prior_knowledge"])]
    http1_1: bool,
    /// Use HTTP/2: offered by ALPN on https:// (the default, kept for
    /// curl's sake); on http:// use --http2-prior-knowledge.
    #[arg(long = "http2")]
    http2: bool,
    /// Speak HTTP/2 to http:// servers without asking (h2c).
    #[arg(long = "http2-prior-knowledge")]
    http2_prior_knowledge: bool,
    /// Give up connecting after SECS.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    connect_timeout: f64,
    /// Give up on the whole transfer after SECS.
    #[arg(long = "max-time", value_name = "SECS")]
    max_time: Option<f64>,
    /// Follow redirects (up to 10).
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// Ask for a compressed response (gzip, deflate, br) and decode it.
    #[arg(long)]
    compressed: bool,
    /// Exit with 22 (and print no body) on an HTTP status of 400 or more.
    #[arg(short = 'f', long)]
    fail: bool,
    /// Print the response head before the body.
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Tell the exchange on stderr: request and response heads, timings.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Trust the CAs in this PEM file instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// Require the server's public key to match (sha256/BASE64; repeatable).
    #[arg(long, value_name = "sha256/BASE64")]
    pin: Vec<Pin>,
    /// Skip certificate validation (with --pin: the pin alone authenticates).
    #[arg(short = 'k', long)]
    insecure: bool,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// An HTTP status of 400 or more under `--fail` (exit code 22, as curl).
#[derive(Debug)]
pub(crate) struct HttpError(pub(crate) http::StatusCode);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the requested URL returned error: {}", self.0)
    }
}

impl std::error::Error for HttpError {}

pub(crate) async fn run(args: GetArgs) -> anyhow::Result<()> {
    if args.http2 && args.url.starts_with("http://") {
        bail!(
            "--http2 on http:// needs the server to accept HTTP/2 unasked: use --http2-prior-knowledge"
        );
    }
    let alpn: &[&str] = if args.http1_1 {
        &["http/1.1"]
    } else {
        &["h2", "http/1.1"]
    };
    let tls = crate::tls::trust(
        TlsConnector::builder().alpn(alpn).tls12(true),
        args.cacert.as_deref(),
        &args.pin,
        args.insecure,
    );
    let mut builder = Client::builder()
        .proxies(args.pipeline.proxies()?)
        .overrides(args.pipeline.overrides()?)
        .decompress(args.compressed)
        .tls(tls.build()?)
        .connect_timeout(Some(positive_secs(
            args.connect_timeout,
            "--connect-timeout",
        )?))
        .redirect(if args.location {
            RedirectPolicy::default()
        } else {
            RedirectPolicy::none()
        });
    if let Some(t) = args.max_time {
        builder = builder.timeout(positive_secs(t, "--max-time")?);
    }
    if args.http2_prior_knowledge {
        builder = builder.http2_prior_knowledge();
    }
    let client = builder.build()?;

    let body = match (&args.data, &args.data_file) {
        (Some(data), _) => Some(data.clone().into_bytes()),
        (None, Some(file)) => {
            Some(std::fs::read(file).with_context(|| format!("read {}", file.display()))?)
        }
        (None, None) => None,
    };
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.as_bytes()).context("-X: not a valid method")?,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut req = client.request(method.clone(), &args.url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("-H {header:?}: expected \"Name: value\""))?;
        req = req.header(name.trim(), value.trim());
    }
    if let Some(body) = body {
        if !args
            .headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
        {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        req = req.body(body);
    }

    let started = Instant::now();
    if args.verbose {
        eprintln!("> {method} {}", args.url);
    }
    let mut res = req.send().await?;
    if args.verbose {
        if let Some(info) = res.connection_info() {
            tell_connection(info);
        }
        eprintln!(
            "* response head after {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let head = format_head(&res);
    if args.verbose {
        for line in head.lines() {
            eprintln!("< {line}");
        }
    }
    if args.fail && res.status().as_u16() >= 400 {
        return Err(HttpError(res.status()).into());
    }
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &args.output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .with_context(|| format!("create {}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let mut total = 0u64;
    let written = async {
        if args.include {
            out.write_all(head.as_bytes()).await?;
        }
        while let Some(chunk) = res.chunk().await.map_err(std::io::Error::other)? {
            total += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        out.flush().await
    }
    .await;
    match written {
        // The reader went away (`| head`): not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => match e.downcast::<tetsuo::Error>() {
            Ok(e) => return Err(e.into()),
            Err(e) => return Err(anyhow::Error::from(e).context("write the body")),
        },
        Ok(()) => {}
    }
    if args.verbose {
        eprintln!(
            "* {total} body bytes in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// The connection story of `-v`.
fn tell_connection(info: &ConnectionInfo) {
    if info.reused {
        eprintln!("* reused the connection to {}", info.remote_addr);
    } else {
        crate::pipeline::tell(info);
    }
}

/// The response head as curl -i prints it.
fn format_head(res: &tetsuo::http::client::Response) -> String {
    // As curl: HTTP/2 heads have no reason phrase.
    let mut head = if res.version() == http::Version::HTTP_2 {
        format!("HTTP/2 {}\r\n", res.status().as_u16())
    } else {
        format!(
            "HTTP/1.1 {} {}\r\n",
            res.status().as_u16(),
            res.status().canonical_reason().unwrap_or("")
        )
    };
    for (name, value) in res.headers() {
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(value.as_bytes()));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}
