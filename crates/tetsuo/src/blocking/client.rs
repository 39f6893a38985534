//! The blocking HTTP client: [`Client`](crate::http::client::Client) for
//! code without an async runtime.
//!
//! Each blocking client owns a small single-threaded tokio runtime and runs
//! its requests on it; its pool works as the async client's does. Calling it
//! from inside an async runtime would block that runtime's thread, so it
//! refuses with an error instead (use the async client there).
//!
//! ```no_run
//! let res = tetsuo::blocking::get("http://127.0.0.1:8080/hello")?;
//! assert!(res.status().is_success());
//! println!("{}", res.text()?);
//! # Ok::<(), tetsuo::Error>(())
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, StatusCode};

use crate::http::Body;
use crate::http::client::{self as async_client, ClientBuilder};
use crate::{Error, ErrorKind, Result};

/// A blocking HTTP client. Cheap to clone: clones share the pool and the
/// runtime.
#[derive(Clone)]
pub struct Client {
    client: async_client::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Client").finish_non_exhaustive()
    }
}

/// The error for a blocking call made where it would block an async
/// runtime.
fn inside_runtime() -> Option<Error> {
    tokio::runtime::Handle::try_current().ok().map(|_| {
        Error::new(ErrorKind::InvalidInput, "use the blocking HTTP client").with_detail(
            "called inside an async runtime, whose thread it would block; \
             use tetsuo::http::client::Client there",
        )
    })
}

impl Client {
    /// A client with the default settings.
    pub fn new() -> Result<Client> {
        Client::with(async_client::Client::builder())
    }

    /// A client configured by an async client's builder.
    pub fn with(builder: ClientBuilder) -> Result<Client> {
        if let Some(e) = inside_runtime() {
            return Err(e);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the blocking client's runtime", e))?;
        // Building the client needs no runtime; its connections are made
        // (and registered) inside `block_on` below.
        let client = builder.build()?;
        Ok(Client {
            client,
            runtime: Arc::new(runtime),
        })
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A request of `method` to `url`.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder {
            inner: self.client.request(method, url),
            runtime: self.runtime.clone(),
        }
    }
}

/// GET `url` with a default client.
pub fn get(url: impl AsRef<str>) -> Result<Response> {
    Client::new()?.get(url).send()
}

/// Builds one blocking request.
#[must_use = "a request does nothing until sent"]
#[derive(Debug)]
pub struct RequestBuilder {
    inner: async_client::RequestBuilder,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.inner = self.inner.header(name, value);
        self
    }

    /// Adds these headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.inner = self.inner.headers(headers);
        self
    }

    /// `Authorization: Basic ...`.
    pub fn basic_auth(mut self, user: &str, password: Option<&str>) -> Self {
        self.inner = self.inner.basic_auth(user, password);
        self
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer_auth(mut self, token: &str) -> Self {
        self.inner = self.inner.bearer_auth(token);
        self
    }

    /// The body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.inner = self.inner.body(body);
        self
    }

    /// A timeout for this request.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.inner = self.inner.timeout(timeout);
        self
    }

    /// Sends the request and waits for the response head.
    pub fn send(self) -> Result<Response> {
        if let Some(e) = inside_runtime() {
            return Err(e);
        }
        let inner = self.runtime.block_on(self.inner.send())?;
        Ok(Response {
            inner,
            runtime: self.runtime,
            chunk: Bytes::new(),
        })
    }
}

/// A blocking response; its body is read with [`io::Read`] or whole.
#[derive(Debug)]
pub struct Response {
    inner: async_client::Response,
    runtime: Arc<tokio::runtime::Runtime>,
    chunk: Bytes,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL this response came from (after redirects).
    pub fn url(&self) -> &http::Uri {
        self.inner.url()
    }

    /// The whole body.
    pub fn bytes(self) -> Result<Bytes> {
        if let Some(e) = inside_runtime() {
            return Err(e);
        }
        let mut all = self.chunk.to_vec();
        let rest = self.runtime.block_on(self.inner.bytes())?;
        if all.is_empty() {
            return Ok(rest);
        }
        all.extend_from_slice(&rest);
        Ok(all.into())
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl io::Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            if let Some(e) = inside_runtime() {
                return Err(io::Error::other(e));
            }
            match self.runtime.block_on(self.inner.chunk()) {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
