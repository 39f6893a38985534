//! Accepting WebSocket connections on tetsuo's HTTP server.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::SEC_WEBSOCKET_VERSION;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use tetsuo_proto::h2::Protocol;
use tetsuo_proto::ws::Role;
use tetsuo_proto::ws::deflate::Params;
use tetsuo_proto::ws::handshake::{server_handshake, server_handshake_h2};

use super::{WebSocket, WsConfig};
use crate::Result;
use crate::http::Body;
use crate::http::upgrade::{self, OnUpgrade};

/// How a server accepts WebSocket connections.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Limits, permessage-deflate and keepalive.
    pub ws: WsConfig,
    /// Subprotocols, most preferred first: the first the client also
    /// offers is chosen.
    pub protocols: Vec<String>,
}

/// The WebSocket an [`upgrade()`] promised: ready once the `101` response is
/// on the wire.
#[derive(Debug)]
pub struct Pending {
    on_upgrade: OnUpgrade,
    config: WsConfig,
    deflate: Option<Params>,
    protocol: Option<String>,
}

impl Future for Pending {
    type Output = Result<WebSocket>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<WebSocket>> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx))?;
        let protocol = self.protocol.take();
        Poll::Ready(WebSocket::new(
            Box::new(upgraded),
            Role::Server,
            &self.config,
            self.deflate,
            protocol,
            &[],
        ))
    }
}

/// Checks a WebSocket opening handshake in `req`: an HTTP/1.1 `Upgrade`,
/// or over HTTP/2 an extended CONNECT (RFC 8441). On success: the
/// response to return from the service (`101 Switching Protocols`, or
/// `200` over HTTP/2), and the WebSocket to await (spawn a task for it).
/// On failure: the response to return instead (`400`, `405`, or `426`
/// with `Sec-WebSocket-Version: 13`).
///
/// ```
/// use http::{Request, Response};
/// use tetsuo::http::Body;
/// use tetsuo::ws::{Message, ServerConfig};
///
/// async fn handle(mut req: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
///     match tetsuo::ws::upgrade(&mut req, &ServerConfig::default()) {
///         Ok((response, pending)) => {
///             tokio::spawn(async move {
///                 let Ok(mut ws) = pending.await else { return };
///                 // Echo until the peer closes.
///                 while let Some(Ok(msg)) = ws.recv().await {
///                     if matches!(msg, Message::Text(_) | Message::Binary(_))
///                         && ws.send(msg).await.is_err()
///                     {
///                         break;
///                     }
///                 }
///             });
///             Ok(response)
///         }
///         Err(refusal) => Ok(refusal),
///     }
/// }
/// ```
#[allow(clippy::result_large_err, reason = "the refusal is a response to send")]
pub fn upgrade(
    req: &mut Request<Body>,
    config: &ServerConfig,
) -> std::result::Result<(Response<Body>, Pending), Response<Body>> {
    let protocols: Vec<&str> = config.protocols.iter().map(String::as_str).collect();
    let checked = if req.version() == Version::HTTP_2 {
        let protocol = req.extensions().get::<Protocol>().map(Protocol::as_str);
        server_handshake_h2(
            req.method(),
            protocol,
            req.headers(),
            &protocols,
            config.ws.deflate.as_ref(),
        )
    } else {
        server_handshake(
            req.method(),
            req.version(),
            req.headers(),
            &protocols,
            config.ws.deflate.as_ref(),
        )
    };
    let handshake = match checked {
        Ok(h) => h,
        Err(e) => {
            let mut res = Response::new(Body::from(format!("{e}\n")));
            *res.status_mut() = e.status();
            if e.status() == StatusCode::UPGRADE_REQUIRED {
                res.headers_mut()
                    .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            return Err(res);
        }
    };
    let http = if handshake.accept.is_some() {
        "1.1"
    } else {
        "2"
    };
    metrics::counter!("tetsuo_ws_upgrades_total", "http" => http).increment(1);
    let mut res = Response::new(Body::empty());
    if handshake.accept.is_some() {
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    }
    *res.headers_mut() = handshake.response_headers();
    let pending = Pending {
        on_upgrade: upgrade::on(req),
        config: config.ws.clone(),
        deflate: handshake.deflate.map(|(p, _)| p),
        protocol: handshake.protocol,
    };
    Ok((res, pending))
}
