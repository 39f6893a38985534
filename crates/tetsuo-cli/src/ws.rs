//! `tetsuo ws URL`: a websocat-like WebSocket client; `--autobahn` runs the
//! Autobahn|Testsuite fuzzing server's cases against tetsuo's client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tetsuo::connect::Connector;
use tetsuo::http::client::Client;
use tetsuo::tls::TlsConnector;
use tetsuo::ws::{ClientBuilder, CloseCode, Message, WebSocket, WsConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::pipeline::PipelineArgs;

/// Arguments of `tetsuo ws`.
#[derive(Debug, Args)]
pub(crate) struct WsArgs {
    /// The URL (ws:// or wss://); with --autobahn, the fuzzing server's
    /// base URL (e.g. ws://127.0.0.1:9001).
    url: String,
    /// Send each line as a binary message instead of text.
    #[arg(long)]
    binary: bool,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// Send a ping after SECS of silence; give the server up if it stays
    /// silent as long again.
    #[arg(long, value_name = "SECS")]
    ping: Option<f64>,
    /// Trust the CAs in this PEM file instead of the built-in roots.
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// Skip certificate validation.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Give up connecting after SECS.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    connect_timeout: f64,
    /// Open the WebSocket as a stream of an HTTP/2 connection (RFC 8441):
    /// wss:// with ALPN h2; the server must enable extended CONNECT.
    #[arg(long = "http2", conflicts_with = "http2_prior_knowledge")]
    http2: bool,
    /// Like --http2 on ws://: HTTP/2 without asking (h2c).
    #[arg(long = "http2-prior-knowledge")]
    http2_prior_knowledge: bool,
    /// Run every case of an Autobahn|Testsuite fuzzing server as agent NAME
    /// (echoing each message), then ask it to write its reports.
    #[arg(long, value_name = "NAME")]
    autobahn: Option<String>,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

fn client(args: &WsArgs) -> anyhow::Result<ClientBuilder> {
    let over_h2 = args.http2 || args.http2_prior_knowledge;
    if args.http2 && args.url.starts_with("ws://") {
        anyhow::bail!(
            "--http2 on ws:// needs the server to accept HTTP/2 unasked: use --http2-prior-knowledge"
        );
    }
    let tls = crate::tls::trust(
        TlsConnector::builder()
            .alpn([if over_h2 { "h2" } else { "http/1.1" }])
            .tls12(true),
        args.cacert.as_deref(),
        &[],
        args.insecure,
    )
    .build()?;
    let connect_timeout = Some(crate::positive_secs(
        args.connect_timeout,
        "--connect-timeout",
    )?);
    let mut config = WsConfig::default();
    if args.no_deflate {
        config.deflate = None;
    }
    if let Some(secs) = args.ping {
        let every = crate::positive_secs(secs, "--ping")?;
        config.ping_interval = Some(every);
        config.ping_timeout = every;
    }
    let builder = ClientBuilder::new().config(config);
    if over_h2 {
        let mut http = Client::builder()
            .proxies(args.pipeline.proxies()?)
            .overrides(args.pipeline.overrides()?)
            .connect_timeout(connect_timeout)
            .tls(tls);
        if args.http2_prior_knowledge {
            http = http.http2_prior_knowledge();
        }
        return Ok(builder.http2(http.build()?));
    }
    let connector = Connector::builder()
        .proxies(args.pipeline.proxies()?)
        .overrides(args.pipeline.overrides()?)
        .connect_timeout(connect_timeout)
        .tls(tls)
        .build();
    Ok(builder.connector(connector))
}

pub(crate) async fn run(args: WsArgs) -> anyhow::Result<()> {
    let builder = client(&args)?;
    if let Some(agent) = &args.autobahn {
        return autobahn(&builder, &args.url, agent).await;
    }
    let (ws, _) = builder.connect(&args.url).await?;
    chat(ws, args.binary).await
}

/// Lines from stdin go out; messages received go to stdout, one per line.
async fn chat(mut ws: WebSocket, binary: bool) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line.context("read stdin")? {
                Some(line) => {
                    let msg = if binary { Message::Binary(line.into_bytes().into()) } else { Message::Text(line) };
                    ws.send(msg).await?;
                }
                None => {
                    // Close, and print what still arrives until the server's
                    // close frame.
                    stdin_open = false;
                    ws.send(Message::Close(None)).await?;
                }
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    stdout.write_all(t.as_bytes()).await?;
                    stdout.write_all(b"\n").await?;
                    stdout.flush().await?;
                }
                Some(Ok(Message::Binary(b))) => {
                    stdout.write_all(&b).await?;
                    stdout.write_all(b"\n").await?;
                    stdout.flush().await?;
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some(f) = frame.filter(|f| f.code != CloseCode::NORMAL) {
                        eprintln!("tetsuo ws: closed by the server: {} {}", f.code, f.reason);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
        }
    }
    Ok(())
}

/// The fuzzing server's protocol: /getCaseCount, /runCase?case=N&agent=A
/// (echo everything), /updateReports?agent=A.
async fn autobahn(builder: &ClientBuilder, base: &str, agent: &str) -> anyhow::Result<()> {
    let base = base.trim_end_matches('/');
    let (mut ws, _) = builder.connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.recv().await {
        Some(Ok(Message::Text(t))) => t.trim().parse().context("case count")?,
        other => anyhow::bail!("no case count from the fuzzing server: {other:?}"),
    };
    drop(ws);
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        let Ok((mut ws, _)) = builder.connect(&url).await else {
            continue;
        };
        let echo = async {
            while let Some(msg) = ws.recv().await {
                match msg {
                    Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                        if ws.send(m).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(60), echo).await;
    }
    let (mut ws, _) = builder
        .connect(&format!("{base}/updateReports?agent={agent}"))
        .await?;
    while let Some(Ok(_)) = ws.recv().await {}
    eprintln!("tetsuo ws: ran {count} Autobahn cases as {agent}");
    Ok(())
}
