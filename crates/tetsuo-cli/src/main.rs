//! The `tetsuo` command: every tetsuo capability, reachable from a shell so
//! that people and acceptance checks can try it against real peers.

mod bench;
mod connect;
mod dashboard;
mod echo;
mod files;
mod get;
#[cfg(feature = "otlp")]
mod otlp;
mod pipeline;
mod proxy;
mod serve;
mod signals;
mod socks;
mod statsd;
mod telemetry;
mod tls;
mod ws;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A production networking toolkit: try tetsuo against real peers.
#[derive(Debug, Parser)]
#[command(name = "tetsuo", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP/1.1 server: /hello, /echo, /healthz, /metrics, /files/.
    Serve(serve::ServeArgs),
    /// Echo server: TCP (default), UDP or a Unix socket.
    Echo(echo::EchoArgs),
    /// Connect stdin/stdout to a TCP service (netcat-like).
    Connect(connect::ConnectArgs),
    /// Fetch a URL over HTTP/1.1 (curl-like).
    Get(get::GetArgs),
    /// SOCKS5 (and SOCKS4/4a) proxy server.
    Socks(socks::SocksArgs),
    /// WebSocket client (websocat-like): stdin lines out, messages to stdout.
    Ws(ws::WsArgs),
    /// HTTP reverse proxy: load balancing, health checks, discovery.
    Proxy(proxy::ProxyArgs),
    /// Load generator: HTTP/1.1, HTTP/2, WebSocket and TCP echo, with
    /// latency percentiles.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        // The server picks its own runtime (threads, thread-per-core).
        Command::Serve(args) => {
            return match serve::main(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            };
        }
        // The load generator runs one event loop per thread, as wrk does.
        Command::Bench(args) => {
            return match bench::main(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            };
        }
        command => Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(_) | Command::Bench(_) => unreachable!("handled above"),
            Command::Echo(args) => echo::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Get(args) => get::run(args).await,
            Command::Socks(args) => socks::run(args).await,
            Command::Ws(args) => ws::run(args).await,
            Command::Proxy(args) => proxy::run(args).await,
        }
    });
    // Reads of stdin run on a blocking thread that may never return; do not
    // wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// A flag's positive number of seconds as a duration.
fn positive_secs(value: f64, flag: &str) -> anyhow::Result<std::time::Duration> {
    use anyhow::Context;
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds"))
}

/// Prints one line to stderr and picks an exit code (curl's where one fits:
/// 6 = could not resolve, 7 = could not connect, 28 = timed out, 35 = TLS
/// handshake failed, 60 = server certificate not accepted, 90 = pin
/// mismatch, 97 = proxy handshake failed).
fn fail(err: &anyhow::Error) -> ExitCode {
    let (message, code) = match err.downcast_ref::<tetsuo::Error>() {
        Some(e) => {
            use tetsuo::TlsCause as C;
            let code = match (e.kind(), e.tls_cause()) {
                (tetsuo::ErrorKind::Dns, _) => 6,
                (tetsuo::ErrorKind::Refused, _) => 7,
                (tetsuo::ErrorKind::Timeout, _) => 28,
                (tetsuo::ErrorKind::Proxy, _) => 97,
                (_, Some(C::PinMismatch)) => 90,
                (
                    _,
                    Some(
                        C::Expired
                        | C::NotYetValid
                        | C::UnknownIssuer
                        | C::NameMismatch
                        | C::Revoked
                        | C::OcspStapleMissing
                        | C::OcspStapleInvalid
                        | C::BadCertificate,
                    ),
                ) => 60,
                (_, Some(_)) => 35,
                _ => 1,
            };
            // The kind's own words are vague for these; the OS's are not.
            let detail = match (e.kind(), e.io_error()) {
                (
                    tetsuo::ErrorKind::Io
                    | tetsuo::ErrorKind::Unsupported
                    | tetsuo::ErrorKind::InvalidInput,
                    Some(io),
                ) => format!(" ({io})"),
                _ => String::new(),
            };
            (format!("{e}{detail}"), code)
        }
        None if err.downcast_ref::<get::HttpError>().is_some() => (format!("{err:#}"), 22),
        None => (format!("{err:#}"), 1),
    };
    eprintln!("tetsuo: {message}");
    ExitCode::from(code)
}
