//! `--otlp-endpoint`: the `http.request` span of every request the server
//! handles, exported over OTLP/HTTP (protobuf or JSON) in batches, sent
//! with tetsuo's own HTTP client.
//!
//! A request that carries a W3C `traceparent` gets a span in that trace,
//! child of the caller's span ([`adopt`]); `tetsuo proxy` passes its own
//! span on to the backend ([`current`]), so a trace crosses every hop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::ValueEnum;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Limited};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tetsuo::http::Body;
use tetsuo::http::client::Client;
use tetsuo::http::trace::TraceContext;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::registry::LookupSpan;

/// Longest an export may take, connecting included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest collector answer read.
const MAX_RESPONSE: usize = 1 << 20;

/// Whether spans are exported: the request path checks this before doing
/// any OpenTelemetry work.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// How spans are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Encoding {
    /// `application/x-protobuf` (OTLP's default).
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

/// The exporter: a tracer provider whose batches go to the collector.
pub(crate) struct Otlp {
    provider: SdkTracerProvider,
    tracer: Tracer,
}

impl Otlp {
    /// Starts exporting to `url`; `service` is the `service.name` unless
    /// `OTEL_SERVICE_NAME` says otherwise.
    pub(crate) fn start(url: &str, encoding: Encoding, service: &str) -> anyhow::Result<Otlp> {
        let endpoint = traces_endpoint(url)?;
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(Exporter::new()?)
            .with_endpoint(endpoint)
            .with_protocol(match encoding {
                Encoding::Protobuf => Protocol::HttpBinary,
                Encoding::Json => Protocol::HttpJson,
            })
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .context("--otlp-endpoint: build the exporter")?;
        let mut resource = Resource::builder();
        let named = std::env::var_os("OTEL_SERVICE_NAME").is_some()
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| {
                a.split(',')
                    .any(|kv| kv.trim().starts_with("service.name="))
            });
        if !named {
            resource = resource.with_service_name(service.to_owned());
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("tetsuo");
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Otlp { provider, tracer })
    }

    /// The tracing layer that turns `http.request` spans (and the events
    /// inside them, from INFO up) into OpenTelemetry spans.
    pub(crate) fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            // The span's own `target` field is the request target.
            .with_target(false)
            // The span starts when its parent is known (see `adopt`), not
            // when it is first entered.
            .with_context_activation(false)
            .with_filter(FilterFn::new(|meta| {
                if meta.is_span() {
                    meta.name() == "http.request"
                } else {
                    *meta.level() <= tracing::Level::INFO
                }
            }))
            .boxed()
    }

    /// Exports what is left; blocks until done or timed out.
    pub(crate) fn finish(self) {
        ENABLED.store(false, Ordering::Relaxed);
        // An export in progress may take its whole timeout.
        if let Err(e) = self
            .provider
            .shutdown_with_timeout(EXPORT_TIMEOUT + Duration::from_secs(2))
        {
            eprintln!("tetsuo: --otlp-endpoint: the last spans were not exported: {e}");
        }
    }
}

/// `url` with `/v1/traces` when it names only the collector.
fn traces_endpoint(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--otlp-endpoint {url}: not a URL"))?;
    anyhow::ensure!(
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some(),
        "--otlp-endpoint {url}: an http:// or https:// URL"
    );
    if !matches!(uri.path(), "" | "/") {
        return Ok(url.to_owned());
    }
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |a| a.as_str());
    Ok(match uri.query() {
        Some(query) => format!("{scheme}://{authority}/v1/traces?{query}"),
        None => format!("{scheme}://{authority}/v1/traces"),
    })
}

/// Server side, first thing in the service: the current span (the
/// request's) continues the caller's trace, and records the response's
/// status when `status` is called.
pub(crate) fn adopt(req: &Request<Body>) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(ctx) = req.extensions().get::<TraceContext>() else {
        return;
    };
    let (Ok(trace), Ok(span)) = (
        TraceId::from_hex(&ctx.trace_id()),
        SpanId::from_hex(&ctx.span_id()),
    ) else {
        return;
    };
    let flags = if ctx.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let state = ctx
        .tracestate()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceState>().ok())
        .unwrap_or_default();
    let remote = SpanContext::new(trace, span, flags, true, state);
    let parent = opentelemetry::Context::new().with_remote_span_context(remote);
    let _ = tracing::Span::current().set_parent(parent);
}

/// Records the response status on the current span; a 5xx is an error
/// (OpenTelemetry's HTTP conventions for servers).
pub(crate) fn status(status: http::StatusCode) {
    if ENABLED.load(Ordering::Relaxed) {
        let span = tracing::Span::current();
        span.set_attribute("http.response.status_code", status.as_u16() as i64);
        if status.is_server_error() {
            span.set_status(opentelemetry::trace::Status::error(status.to_string()));
        }
    }
}

/// The current span as the parent of the next hop, when spans are
/// exported (else `None`: the incoming context is passed on as it is).
pub(crate) fn current(incoming: Option<&TraceContext>) -> Option<TraceContext> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let ctx = TraceContext::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.is_sampled(),
    )?;
    Some(ctx.with_tracestate(incoming.and_then(TraceContext::tracestate).cloned()))
}

/// The exporter's HTTP client: tetsuo's, on a runtime of its own (the batch
/// processor exports from a thread of its own, outside any runtime).
#[derive(Debug)]
struct Exporter {
    client: Client,
    runtime: Runtime,
}

impl Exporter {
    fn new() -> anyhow::Result<Exporter> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp")
            .enable_all()
            .build()
            .context("start the OTLP runtime")?;
        // A pool of its own name (the application's client pool keeps its
        // figures), no proxy from the environment, TLS 1.2 collectors too.
        let mut pool = tetsuo::pool::PoolConfig::default();
        pool.name = "otlp".into();
        let client = Client::builder()
            .pool(pool)
            .no_proxy()
            .redirect(tetsuo::http::client::RedirectPolicy::none())
            .tls(tetsuo::tls::TlsConnector::builder().tls12(true).build()?)
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(Some(EXPORT_TIMEOUT))
            .build()
            .context("build the OTLP HTTP client")?;
        Ok(Exporter {
            client,
            runtime: Runtime(Some(runtime)),
        })
    }
}

/// A runtime that may be dropped anywhere, a runtime's worker included.
#[derive(Debug)]
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Exporter {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self.runtime.0.as_ref().ok_or("the OTLP runtime is gone")?;
        let client = self.client.clone();
        let sent = runtime.spawn(async move {
            let res = client.execute(request.map(Body::from)).await?.into_http();
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, MAX_RESPONSE).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        });
        sent.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_collector_url_gets_the_traces_path() {
        assert_eq!(
            traces_endpoint("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_endpoint("http://127.0.0.1:4318/").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_endpoint("https://collector/custom/path").unwrap(),
            "https://collector/custom/path"
        );
        assert_eq!(
            traces_endpoint("http://c:4318/?tenant=a").unwrap(),
            "http://c:4318/v1/traces?tenant=a"
        );
        assert!(traces_endpoint("ftp://x/").is_err());
        assert!(traces_endpoint("not a url").is_err());
    }
}
