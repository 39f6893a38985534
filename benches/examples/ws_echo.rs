//! A WebSocket echo server for the benchmarks: `tetsuo` (tetsuo's HTTP
//! server and `tetsuo::ws`) or `tungstenite` (tokio-tungstenite, as its
//! examples write one). Both echo text and binary messages.
//!
//! `cargo run --release -p tetsuo-benches --example ws_echo -- tetsuo 127.0.0.1:9101`

use std::convert::Infallible;

use futures_util::{SinkExt, StreamExt};
use http::Request;
use tetsuo::http::{Body, server::Server, service_fn};
use tetsuo::ws::{Message, ServerConfig};

async fn tetsuo_echo(listener: tokio::net::TcpListener) {
    let service = service_fn(|mut req: Request<Body>| async move {
        Ok::<_, Infallible>(
            match tetsuo::ws::upgrade(&mut req, &ServerConfig::default()) {
                Ok((res, pending)) => {
                    tokio::spawn(async move {
                        let Ok(mut ws) = pending.await else { return };
                        while let Some(Ok(msg)) = ws.recv().await {
                            if matches!(msg, Message::Text(_) | Message::Binary(_))
                                && ws.send(msg).await.is_err()
                            {
                                break;
                            }
                        }
                    });
                    res
                }
                Err(refusal) => refusal,
            },
        )
    });
    let server = Server::builder()
        .max_connections_per_ip(0)
        .max_connections(0)
        .build();
    server.serve_tcp(listener, service).await.unwrap();
}

async fn tungstenite_echo(listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "tetsuo".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9101".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    eprintln!(
        "ws_echo ({which}): listening on ws://{}",
        listener.local_addr().unwrap()
    );
    match which.as_str() {
        "tungstenite" => tungstenite_echo(listener).await,
        _ => tetsuo_echo(listener).await,
    }
}
