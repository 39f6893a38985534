//! What the long-running commands (`serve`, `proxy`) tell operators: logs
//! on stderr as text or JSON, metrics for Prometheus (`/metrics`) and,
//! optionally, pushed to StatsD, and — with the `otlp` feature — each
//! request's span exported over OTLP.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::statsd::StatsdPusher;

/// Request latency histogram buckets, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0,
];

/// Logs, metrics and traces: flags shared by `serve` and `proxy`.
#[derive(Debug, Args)]
pub(crate) struct TelemetryArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Also push the metrics to this StatsD server (UDP HOST:PORT), with
    /// labels as DogStatsD tags: counters as increments, gauges as values,
    /// histograms as the increments of their _sum and _count.
    #[arg(long, value_name = "HOST:PORT")]
    statsd: Option<String>,
    /// Seconds between StatsD pushes.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    statsd_interval: f64,
    /// Put this before every StatsD metric name (e.g. `myapp.`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    statsd_prefix: String,
    /// Export a span for every HTTP request over OTLP/HTTP to this URL (a
    /// collector's base URL such as http://127.0.0.1:4318 gets /v1/traces
    /// added). A request's `traceparent` makes its span part of that
    /// trace.
    #[cfg(feature = "otlp")]
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// How spans are encoded for --otlp-endpoint.
    #[cfg(feature = "otlp")]
    #[arg(long, value_enum, default_value_t = crate::otlp::Encoding::Protobuf)]
    otlp_protocol: crate::otlp::Encoding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The running exporters; [`Telemetry::finish`] flushes them.
pub(crate) struct Telemetry {
    prometheus: PrometheusHandle,
    statsd: Option<StatsdPusher>,
    #[cfg(feature = "otlp")]
    otlp: Option<crate::otlp::Otlp>,
}

impl Telemetry {
    /// Installs the log subscriber and the metrics recorder, and starts the
    /// exporters asked for. `service` names this program in exported spans.
    pub(crate) fn start(args: &TelemetryArgs, service: &str) -> anyhow::Result<Telemetry> {
        #[cfg(feature = "otlp")]
        let otlp = match &args.otlp_endpoint {
            Some(url) => Some(crate::otlp::Otlp::start(url, args.otlp_protocol, service)?),
            None => None,
        };
        #[cfg(not(feature = "otlp"))]
        let _ = service;
        use std::io::IsTerminal as _;
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colours on a terminal only, not in a log file.
            .with_ansi(std::io::stderr().is_terminal());
        let fmt = match args.log_format {
            LogFormat::Text => fmt.boxed(),
            LogFormat::Json => fmt.json().boxed(),
        }
        .with_filter(LevelFilter::INFO);
        let registry = tracing_subscriber::registry().with(fmt);
        #[cfg(feature = "otlp")]
        let registry = registry.with(otlp.as_ref().map(crate::otlp::Otlp::layer));
        // A second subscriber (tests running main twice) is not an error.
        let _ = registry.try_init();

        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("tetsuo_http_request_duration_seconds".to_owned()),
                &LATENCY_BUCKETS,
            )
            .context("configure latency buckets")?
            .install_recorder()
            .context("install the Prometheus recorder")?;
        let statsd = match &args.statsd {
            Some(target) => {
                let interval = crate::positive_secs(args.statsd_interval, "--statsd-interval")?;
                Some(StatsdPusher::start(
                    target,
                    interval,
                    args.statsd_prefix.clone(),
                    prometheus.clone(),
                )?)
            }
            None => None,
        };
        Ok(Telemetry {
            prometheus,
            statsd,
            #[cfg(feature = "otlp")]
            otlp,
        })
    }

    /// What `/metrics` renders.
    pub(crate) fn prometheus(&self) -> PrometheusHandle {
        self.prometheus.clone()
    }

    /// The last StatsD push and the last spans, before exiting. Blocks.
    pub(crate) fn finish(self) {
        if let Some(statsd) = self.statsd {
            statsd.finish();
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp {
            otlp.finish();
        }
    }
}

/// First thing in a service: the request's span continues the caller's
/// trace (when spans are exported).
pub(crate) fn adopt(req: &http::Request<tetsuo::http::Body>) {
    #[cfg(feature = "otlp")]
    crate::otlp::adopt(req);
    #[cfg(not(feature = "otlp"))]
    let _ = req;
}

/// Last thing in a service: the response's status on the request's span.
pub(crate) fn record_status(status: http::StatusCode) {
    #[cfg(feature = "otlp")]
    crate::otlp::status(status);
    #[cfg(not(feature = "otlp"))]
    let _ = status;
}

/// The trace context to send to the next hop when spans are exported: the
/// current span as the parent (`None` when they are not).
pub(crate) fn next_hop(
    incoming: Option<&tetsuo::http::trace::TraceContext>,
) -> Option<tetsuo::http::trace::TraceContext> {
    #[cfg(feature = "otlp")]
    return crate::otlp::current(incoming);
    #[cfg(not(feature = "otlp"))]
    {
        let _ = incoming;
        None
    }
}
