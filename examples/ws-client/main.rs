//! A WebSocket client: each line typed is sent as a text message, each
//! message received is printed. End of input closes the connection
//! normally (1000).
//!
//! ```sh
//! cargo run --example ws-client -- ws://127.0.0.1:8080/ws
//! cargo run --example ws-client -- wss://localhost:8443/ws --cacert CERT.pem
//! cargo run --example ws-client -- ws://chat.internal/ws --proxy socks5h://127.0.0.1:1080
//! ```
//!
//! The connection goes through tetsuo's connect pipeline (Happy Eyeballs,
//! proxies, TLS); permessage-deflate is offered, and a ping goes out after
//! 20 s of silence (no pong within 10 s ends the connection).

use std::time::Duration;

use tetsuo::connect::Connector;
use tetsuo::proxy::{Proxies, Proxy};
use tetsuo::tls::TlsConnector;
use tetsuo::ws::{ClientBuilder, CloseCode, Message, WsConfig};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: ws-client URL [--proxy URL] [--cacert FILE]")?;
    let mut connector = Connector::builder();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        connector = match flag.as_str() {
            "--proxy" => connector.proxies(Proxies::chain([Proxy::parse(&value)?])),
            "--cacert" => connector.tls(TlsConnector::builder().add_ca_pem_file(&value).build()?),
            _ => return Err(format!("unknown flag {flag}").into()),
        };
    }
    let mut config = WsConfig::default();
    config.ping_interval = Some(Duration::from_secs(20));
    config.ping_timeout = Duration::from_secs(10);
    let (mut ws, info) = ClientBuilder::new()
        .connector(connector.build())
        .config(config)
        .connect(&url)
        .await?;
    eprintln!("connected to {} in {:.1?}", info.remote_addr, info.total);

    // Standard input is read on a thread of its own: a read blocked there
    // does not keep the program alive once the server has closed.
    let (line_tx, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if line_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => ws.send(line).await?,
                None => {
                    // Input ended: close and wait for the server's close frame.
                    ws.close(CloseCode::NORMAL, "bye").await?;
                    return Ok(());
                }
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(text))) => println!("{text}"),
                Some(Ok(Message::Binary(data))) => println!("<{} bytes>", data.len()),
                Some(Ok(Message::Close(frame))) => {
                    eprintln!("closed by the server: {frame:?}");
                    return Ok(());
                }
                Some(Ok(_)) => {} // pings are answered for us
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
