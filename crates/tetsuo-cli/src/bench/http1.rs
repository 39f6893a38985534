//! HTTP/1.1 round trips on one connection: the request written whole
//! (encoded once), the response head parsed and its body framed by
//! `tetsuo_proto::h1`, then the next request.

use std::cell::RefCell;

use bytes::{Buf as _, BytesMut};
use tetsuo_proto::h1::{BodyDecoder, Framing, HeadParser, Kind, Limits, Status, response_framing};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{Ended, Pacer, Plan, Tally, bounded};

/// Reads more into `buf`: the bytes read, 0 at the end.
async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    io.read_buf(buf).await
}

pub(super) async fn run<S>(
    plan: &Plan,
    mut io: S,
    pacer: &mut Pacer,
    tally: &RefCell<Tally>,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = Limits::default();
    let mut parser = HeadParser::new(Kind::Response, limits.clone());
    let mut buf = BytesMut::with_capacity(32 * 1024);
    loop {
        let since = pacer.due(plan).await;
        if !plan.permit() {
            return Ended::Stop;
        }
        let exchange = async {
            io.write_all(plan.request()).await.map_err(|_| "write")?;
            // TLS may hold records back until flushed.
            io.flush().await.map_err(|_| "write")?;
            // The head; interim (1xx) heads before it are skipped.
            let mut read = 0u64;
            let (status, keep_alive, framing) = loop {
                let head_len = loop {
                    match parser.parse(&buf) {
                        Ok(Status::Complete(n)) => break n,
                        Ok(Status::Partial) => {}
                        Err(_) => return Err("protocol"),
                    }
                    match fill(&mut io, &mut buf).await {
                        Ok(0) => return Err("closed"),
                        Ok(_) => {}
                        Err(_) => return Err("read"),
                    }
                };
                let head = parser.head();
                let status = head.status().map_or(0, |s| s.as_u16());
                let keep_alive = head.keep_alive();
                let framing = response_framing(head, plan.method());
                buf.advance(head_len);
                parser.reset();
                read += head_len as u64;
                if !(100..200).contains(&status) || status == 101 {
                    break (status, keep_alive, framing);
                }
            };
            // The body.
            let mut decoder = BodyDecoder::new(framing, &limits).map_err(|_| "protocol")?;
            while !decoder.is_done() {
                if !buf.is_empty() {
                    let d = decoder.decode(&buf).map_err(|_| "protocol")?;
                    buf.advance(d.consumed);
                    read += d.consumed as u64;
                    continue;
                }
                match fill(&mut io, &mut buf).await {
                    Ok(0) if framing == Framing::CloseDelimited => {
                        decoder.finish_on_eof().map_err(|_| "protocol")?;
                    }
                    Ok(0) => return Err("closed"),
                    Ok(_) => {}
                    Err(_) => return Err("read"),
                }
            }
            Ok((
                status,
                keep_alive && framing != Framing::CloseDelimited,
                read,
            ))
        };
        let (status, keep_alive, read) = match bounded(plan, exchange).await {
            Ok(answer) => answer,
            Err(ended) => return ended,
        };
        let ok = (200..400).contains(&status);
        let written = plan.request().len() as u64;
        tally.borrow_mut().exchanged(since, ok, read, written);
        if !keep_alive {
            return Ended::Closed;
        }
    }
}
