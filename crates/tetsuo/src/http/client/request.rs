//! One request being built ([`RequestBuilder`]) and its [`Response`].

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::BodyExt;

use super::{Client, ConnectionInfo};
use crate::http::Body;
use crate::{Error, ErrorKind, Result};

/// Builds one request; [`send`](RequestBuilder::send) sends it.
#[must_use = "a request does nothing until sent"]
pub struct RequestBuilder {
    pub(super) client: Client,
    pub(super) method: Method,
    pub(super) uri: Result<Uri>,
    pub(super) headers: HeaderMap,
    pub(super) body: Body,
    pub(super) timeout: Option<Duration>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("uri", &self.uri.as_ref().ok())
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    /// Adds a header (an invalid name or value fails the request when
    /// sent).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let parsed = HeaderName::from_bytes(name.as_ref().as_bytes())
            .ok()
            .zip(HeaderValue::from_str(value.as_ref()).ok());
        match parsed {
            Some((name, value)) => {
                self.headers.append(name, value);
            }
            None => {
                self.uri = Err(Error::new(ErrorKind::InvalidInput, "build a request")
                    .with_detail(format!("invalid header {}", name.as_ref())));
            }
        }
        self
    }

    /// Adds these headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// `Authorization: Basic ...` for `user` and `password`.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        let value = crate::proxy::basic_auth_value(user, password.unwrap_or(""));
        self.header("authorization", value)
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// The body (anything `Body` converts from: bytes, strings, or
    /// `Body::wrap` for a stream).
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// A timeout for this request, replacing the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request; resolves with the response head (the body is
    /// read as it is consumed).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the connection it was
    /// using is closed.
    pub async fn send(self) -> Result<Response> {
        let uri = self.uri?;
        let timeout = self.timeout.or(self.client.inner.timeout);
        let head = super::Head {
            method: self.method,
            uri,
            headers: self.headers,
            extensions: http::Extensions::new(),
        };
        self.client.send(head, self.body, timeout).await
    }
}

/// A response: status, headers, and a body read as it is consumed.
#[derive(Debug)]
pub struct Response {
    pub(super) inner: http::Response<Body>,
    pub(super) url: Uri,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL this response came from (after redirects).
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// How its connection was made (also in the `http::Response`'s
    /// extensions).
    pub fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.inner.extensions().get::<ConnectionInfo>()
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes> {
        Ok(self.inner.into_body().collect().await?.to_bytes())
    }

    /// The whole body as text (UTF-8, invalid sequences replaced).
    pub async fn text(self) -> Result<String> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        while let Some(frame) = self.inner.body_mut().frame().await {
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Into an `http::Response` (the body streams as an `http_body::Body`).
    pub fn into_http(self) -> http::Response<Body> {
        self.inner
    }
}
