//! W3C Trace Context end to end: a request with `traceparent` gets a server
//! span that records its trace id and a `TraceContext` in its extensions;
//! the client, given that context, sends the upstream a `traceparent` of
//! the same trace with a new span id, and `tracestate` as it came.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use tetsuo::http::client::Client;
use tetsuo::http::server::Server;
use tetsuo::http::trace::TraceContext;
use tetsuo::http::{Body, service_fn};
use tokio::net::TcpListener;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Records the `trace_id` of every `http.request` span.
struct Capture(Arc<Mutex<Vec<String>>>);

struct TraceIdVisitor<'a>(&'a mut Option<String>);

impl Visit for TraceIdVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "trace_id" {
            *self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "trace_id" {
            *self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        if attrs.metadata().name() == "http.request" {
            let mut id = None;
            attrs.record(&mut TraceIdVisitor(&mut id));
            if let Some(id) = id {
                self.0.lock().unwrap().push(id);
            }
        }
    }
}

async fn serve<S: tetsuo::http::server::HttpService>(service: S) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { Server::builder().build().serve_tcp(listener, service).await });
    addr
}

#[tokio::test]
async fn the_trace_goes_through_a_server_and_on_to_an_upstream() {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Capture(spans.clone())),
    );
    // The upstream says what trace headers it got.
    let upstream = serve(service_fn(|req: Request<Body>| async move {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
        };
        Ok::<_, Infallible>(Response::new(Body::from(format!(
            "{} {}",
            header("traceparent"),
            header("tracestate")
        ))))
    }))
    .await;
    // The front: its context on to the upstream with the client.
    let client = Client::builder().no_proxy().build().unwrap();
    let front = serve(service_fn(move |req: Request<Body>| {
        let client = client.clone();
        async move {
            let ctx = req.extensions().get::<TraceContext>().cloned();
            let mut out = Request::get(format!("http://{upstream}/"))
                .body(Body::empty())
                .unwrap();
            if let Some(ctx) = &ctx {
                out.extensions_mut().insert(ctx.clone());
            }
            let seen = client.execute(out).await.unwrap().text().await.unwrap();
            Ok::<_, Infallible>(Response::new(Body::from(seen)))
        }
    }))
    .await;
    let res = Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{front}/"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("tracestate", "congo=t61rcWkgMzE")
        .send()
        .await
        .unwrap();
    let seen = res.text().await.unwrap();
    let (traceparent, tracestate) = seen.split_once(' ').unwrap();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{seen}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "a span id of the front's own");
    assert_eq!(parts[3], "01");
    assert_eq!(tracestate, "congo=t61rcWkgMzE");
    // Both servers' request spans carry the trace id.
    let spans = spans.lock().unwrap();
    assert_eq!(
        spans
            .iter()
            .filter(|s| *s == "4bf92f3577b34da6a3ce929d0e0e4736")
            .count(),
        2,
        "{spans:?}"
    );
}
