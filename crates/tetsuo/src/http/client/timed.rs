//! The time limits on reading a response body, for HTTP/1.1 and HTTP/2
//! alike.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::http::Body;
use crate::{Error, ErrorKind, Result};

/// A response body under the request's deadline and the client's read
/// timeout (the longest silence between two pieces); either, exceeded,
/// ends it with a `Timeout` error, and the connection under it is not
/// reused (the body is dropped unfinished).
pub(super) struct TimedBody {
    inner: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    read_timeout: Option<std::time::Duration>,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl TimedBody {
    pub(super) fn new(
        inner: Body,
        deadline: Option<tokio::time::Instant>,
        read_timeout: Option<std::time::Duration>,
    ) -> TimedBody {
        TimedBody {
            inner,
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            read_timeout,
            idle: None,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            // Something arrived: the silence starts again.
            if let (Some(t), Some(idle)) = (this.read_timeout, &mut this.idle) {
                idle.as_mut().reset(tokio::time::Instant::now() + t);
            }
            return Poll::Ready(frame);
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(Error::new(
                ErrorKind::Timeout,
                "read a response body",
            )
            .with_detail("the request timed out"))));
        }
        if let Some(t) = this.read_timeout {
            let idle = this
                .idle
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
            if idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(Error::new(
                    ErrorKind::Timeout,
                    "read a response body",
                )
                .with_detail(format!("nothing arrived for {t:?}")))));
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
