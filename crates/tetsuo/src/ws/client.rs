//! Opening WebSocket connections: `ws://` and `wss://` through the connect
//! pipeline.

use std::time::Duration;

use http::header::HeaderName;
use http::uri::Scheme;
use http::{HeaderMap, HeaderValue, Method, Uri, Version};
use tetsuo_proto::h1::{self, HeadParser, Kind, Limits, Status};
use tetsuo_proto::ws::Role;
use tetsuo_proto::ws::handshake::ClientHandshake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{WebSocket, WsConfig};
use crate::connect::{ConnectInfo, Connector, Target};
use crate::{Error, ErrorKind, Result};

/// Configures WebSocket clients.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connector: Option<Connector>,
    config: WsConfig,
    protocols: Vec<String>,
    headers: HeaderMap,
    handshake_timeout: Option<Duration>,
    http2: Option<crate::http::client::Client>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            connector: None,
            config: WsConfig::default(),
            protocols: Vec::new(),
            headers: HeaderMap::new(),
            handshake_timeout: Some(Duration::from_secs(30)),
            http2: None,
        }
    }
}

impl ClientBuilder {
    /// Defaults: a connector with the environment's proxies, the built-in
    /// TLS roots, permessage-deflate offered, 30 s for the opening
    /// handshake.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Longest opening handshake once connected (default 30 s; the
    /// connector bounds the connection itself).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects through `connector` (resolver, proxies, TLS, timeouts).
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Limits, permessage-deflate and keepalive.
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// Subprotocols to offer, most preferred first.
    pub fn protocols(mut self, protocols: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// An extra header for the handshake request (`Authorization`,
    /// `Origin`, cookies).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Opens WebSockets as streams of `client`'s HTTP/2 connections
    /// (extended CONNECT, RFC 8441) instead of connections of their own:
    /// WebSockets to one server share a connection, its TLS session and
    /// its flow control. The server must speak HTTP/2 (ALPN `h2` on
    /// `wss://`; for `ws://` build the client with
    /// [`http2_prior_knowledge`](crate::http::client::ClientBuilder::http2_prior_knowledge))
    /// and enable extended CONNECT, or [`connect`](Self::connect) fails
    /// with [`ErrorKind::Unsupported`]. The client's connector is used, not
    /// [`connector`](Self::connector).
    ///
    /// ```no_run
    /// # async fn demo() -> tetsuo::Result<()> {
    /// let http = tetsuo::http::client::Client::new();
    /// let ws = tetsuo::ws::ClientBuilder::new().http2(http);
    /// // Two WebSockets, one TLS connection.
    /// let (mut a, _) = ws.connect("wss://example.com/chat").await?;
    /// let (mut b, _) = ws.connect("wss://example.com/feed").await?;
    /// a.send("hello").await?;
    /// b.send("hello").await?;
    /// # Ok(()) }
    /// ```
    pub fn http2(mut self, client: crate::http::client::Client) -> Self {
        self.http2 = Some(client);
        self
    }

    /// Opens `url` (`ws://` or `wss://`): the connection, and how it was
    /// made.
    pub async fn connect(&self, url: &str) -> Result<(WebSocket, ConnectInfo)> {
        let bad = |detail: &str| {
            Error::new(ErrorKind::InvalidInput, "open WebSocket")
                .with_name(url)
                .with_detail(detail.to_owned())
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            _ => return Err(bad("the URL must start with ws:// or wss://")),
        };
        let host = uri.host().ok_or_else(|| bad("the URL needs a host"))?;
        if let Some(client) = &self.http2 {
            return self.connect_h2(client, uri, tls, url).await;
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let connector = match &self.connector {
            Some(c) => c.clone(),
            None => Connector::builder()
                .proxies(crate::proxy::Proxies::from_env()?)
                .build(),
        };
        let target = Target::http(host, port, tls);
        let (mut stream, info) = connector.connect_to(&target).await?;

        let host_header = match (tls, port) {
            (false, 80) | (true, 443) => host.to_owned(),
            _ => format!("{host}:{port}"),
        };
        let handshake =
            ClientHandshake::new(random_key(), self.protocols.clone(), self.config.deflate);
        let mut headers = handshake
            .request_headers(&host_header)
            .map_err(|_| bad("the host cannot be sent in a header"))?;
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        let mut request = Vec::with_capacity(256);
        h1::encode_request_head(
            &mut request,
            &Method::GET,
            path,
            Version::HTTP_11,
            &headers,
            &[],
        )
        .map_err(|e| bad(&e.to_string()))?;
        let exchange = async {
            stream
                .write_all(&request)
                .await
                .map_err(|e| Error::io("send the WebSocket handshake to", e).with_name(url))?;
            stream
                .flush()
                .await
                .map_err(|e| Error::io("send the WebSocket handshake to", e).with_name(url))?;
            // The answer's head; whatever follows it is already WebSocket.
            let mut parser = HeadParser::new(Kind::Response, Limits::default());
            let mut buf = Vec::with_capacity(1024);
            loop {
                if let Status::Complete(len) = parser
                    .parse(&buf)
                    .map_err(|e| Error::h1("read the WebSocket handshake answer", e))?
                {
                    return Ok::<_, Error>((parser, buf, len));
                }
                let mut chunk = [0u8; 2048];
                let n = stream.read(&mut chunk).await.map_err(|e| {
                    Error::io("read the WebSocket handshake answer from", e).with_name(url)
                })?;
                if n == 0 {
                    return Err(Error::closed(
                        "the server closed the connection during the WebSocket handshake",
                    ));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        };
        let (parser, buf, len) = self.within_handshake_timeout(url, exchange).await?;
        let response = parser.response(&buf).ok_or_else(|| {
            Error::new(ErrorKind::Protocol, "read the WebSocket handshake answer")
        })?;
        let status = response.status();
        let mut answer = HeaderMap::new();
        for (name, value) in response.headers() {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                answer.append(name, value);
            }
        }
        let negotiated = handshake.verify(status, &answer).map_err(|e| {
            Error::new(ErrorKind::Protocol, "open WebSocket")
                .with_name(url)
                .with_detail(e.to_string())
                .with_source(e)
        })?;
        let ws = WebSocket::new(
            Box::new(stream),
            Role::Client,
            &self.config,
            negotiated.deflate,
            negotiated.protocol,
            &buf[len..],
        )?;
        Ok((ws, info))
    }
}

impl ClientBuilder {
    /// `exchange`, bounded by the handshake timeout.
    async fn within_handshake_timeout<T>(
        &self,
        url: &str,
        exchange: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let Some(t) = self.handshake_timeout else {
            return exchange.await;
        };
        tokio::time::timeout(t, exchange).await.unwrap_or_else(|_| {
            Err(Error::new(ErrorKind::Timeout, "open WebSocket")
                .with_name(url)
                .with_detail(format!("no handshake answer within {t:?}")))
        })
    }

    /// The handshake as an extended CONNECT on an HTTP/2 stream.
    async fn connect_h2(
        &self,
        client: &crate::http::client::Client,
        uri: Uri,
        tls: bool,
        url: &str,
    ) -> Result<(WebSocket, ConnectInfo)> {
        let mut parts = uri.into_parts();
        parts.scheme = Some(if tls { Scheme::HTTPS } else { Scheme::HTTP });
        let uri = Uri::from_parts(parts).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "open WebSocket")
                .with_name(url)
                .with_source(e)
        })?;
        let handshake =
            ClientHandshake::new(random_key(), self.protocols.clone(), self.config.deflate);
        let mut headers = handshake.request_headers_h2().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "open WebSocket")
                .with_name(url)
                .with_source(e)
        })?;
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        let mut request = http::Request::new(crate::http::Body::empty());
        *request.method_mut() = Method::CONNECT;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        request
            .extensions_mut()
            .insert(crate::http::Protocol::new("websocket"));
        let exchange = async {
            let response = client.execute(request).await?;
            let negotiated = handshake
                .verify_h2(response.status(), response.headers())
                .map_err(|e| {
                    Error::new(ErrorKind::Protocol, "open WebSocket")
                        .with_name(url)
                        .with_detail(e.to_string())
                        .with_source(e)
                })?;
            let info = response.connection_info().map(|i| i.details().clone());
            let mut response = response.into_http();
            let stream = crate::http::upgrade::on(&mut response).await?;
            Ok::<_, Error>((negotiated, info, stream))
        };
        let (negotiated, info, stream) = self.within_handshake_timeout(url, exchange).await?;
        let info = info.ok_or_else(|| Error::new(ErrorKind::Protocol, "open WebSocket"))?;
        let ws = WebSocket::new(
            Box::new(stream),
            Role::Client,
            &self.config,
            negotiated.deflate,
            negotiated.protocol,
            &[],
        )?;
        Ok((ws, info))
    }
}

/// 16 random bytes for `Sec-WebSocket-Key` (and its HTTP/2 handshake).
fn random_key() -> [u8; 16] {
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&crate::connect::random_u64().to_ne_bytes());
    random[8..].copy_from_slice(&crate::connect::random_u64().to_ne_bytes());
    random
}

/// Opens `url` (`ws://` or `wss://`) with the defaults of
/// [`ClientBuilder`].
///
/// ```no_run
/// use tetsuo::ws::Message;
///
/// # async fn demo() -> tetsuo::Result<()> {
/// let mut ws = tetsuo::ws::connect("ws://127.0.0.1:8080/ws").await?;
/// ws.send("hello").await?;
/// if let Some(Ok(Message::Text(echo))) = ws.recv().await {
///     println!("{echo}");
/// }
/// ws.close(tetsuo::ws::CloseCode::NORMAL, "bye").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket> {
    ClientBuilder::new().connect(url).await.map(|(ws, _)| ws)
}
