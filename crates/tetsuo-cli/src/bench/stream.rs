//! Echo round trips: a message out, the same number of bytes back — over
//! TCP (`tcp://`), or as a WebSocket binary message (`ws://`, `wss://`)
//! through `tetsuo::ws`.

use std::cell::RefCell;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use tetsuo::ws::Message;

use super::{Ended, Pacer, Plan, Tally, bounded};

pub(super) async fn tcp<S>(
    plan: &Plan,
    mut io: S,
    pacer: &mut Pacer,
    tally: &RefCell<Tally>,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let message = plan.body();
    let mut back = vec![0u8; message.len()];
    loop {
        let since = pacer.due(plan).await;
        if !plan.permit() {
            return Ended::Stop;
        }
        let round = async {
            io.write_all(message).await.map_err(|_| "write")?;
            io.flush().await.map_err(|_| "write")?;
            match io.read_exact(&mut back).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err("closed"),
                Err(_) => Err("read"),
            }
        };
        if let Err(ended) = bounded(plan, round).await {
            return ended;
        }
        let size = message.len() as u64;
        tally.borrow_mut().exchanged(since, true, size, size);
    }
}

pub(super) async fn websocket(plan: &Plan, pacer: &mut Pacer, tally: &RefCell<Tally>) -> Ended {
    // No proxy from the environment, and no permessage-deflate: the
    // messages go as they are, as with any peer that lacks it.
    let mut connector =
        tetsuo::connect::Connector::builder().proxies(tetsuo::proxy::Proxies::none());
    if let Some(tls) = &plan.tls {
        connector = connector.tls(tls.clone());
    }
    let mut config = tetsuo::ws::WsConfig::default();
    config.deflate = None;
    let builder = tetsuo::ws::ClientBuilder::new()
        .connector(connector.build())
        .config(config);
    let mut ws = match tokio::time::timeout(plan.timeout(), builder.connect(plan.url())).await {
        Ok(Ok((ws, _))) => ws,
        _ => return Ended::Failed("connect"),
    };
    let message = plan.body().clone();
    loop {
        let since = pacer.due(plan).await;
        if !plan.permit() {
            let _ =
                tokio::time::timeout(plan.timeout(), ws.close(tetsuo::ws::CloseCode::NORMAL, ""))
                    .await;
            return Ended::Stop;
        }
        let round = async {
            ws.send(Message::Binary(message.clone()))
                .await
                .map_err(|_| "write")?;
            loop {
                match ws.recv().await {
                    Some(Ok(Message::Binary(b))) if b.len() == message.len() => return Ok(()),
                    Some(Ok(Message::Text(t))) if t.len() == message.len() => return Ok(()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(_)) => return Err("protocol"),
                    Some(Err(_)) => return Err("read"),
                    None => return Err("closed"),
                }
            }
        };
        if let Err(ended) = bounded(plan, round).await {
            return ended;
        }
        let size = message.len() as u64;
        tally.borrow_mut().exchanged(since, true, size, size);
    }
}
