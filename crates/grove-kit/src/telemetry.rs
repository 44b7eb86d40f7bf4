//! Logs and traces for a Grove program, set up with one call.
//!
//! [`Telemetry::init`] installs a `tracing` subscriber that writes logs to stderr, filtered by
//! `RUST_LOG` (or [`Telemetry::log_filter`]; `info` when neither is given). With the `otel`
//! feature, `Telemetry::otlp` also exports spans to an OpenTelemetry collector over OTLP/HTTP
//! (protobuf), with their own filter, so traces can be richer than the logs.
//!
//! What Grove records as spans:
//! - `grove.call` (debug), around each [`Server::call`](grove_otp::gen_server::Server::call), in
//!   the caller; and `grove.handle_call` (debug), around the server's `handle_call`, as the
//!   child of the caller's span, so one trace follows a request through every process it calls.
//! - `grove.supervisor.restart` (info), around a supervisor's restart of children: the stops,
//!   the starts, and what they log.
//! - `grove.supervisor.start_child` (debug), around each child start, and
//!   `grove.supervisor.shutdown` (debug), around a supervisor stopping its children.
//!
//! The default trace filter (`info,grove_otp=debug`) keeps all of these. Spans that nothing
//! records cost one atomic load: a call made while no subscriber wants `grove.call` carries no
//! span at all.
//!
//! ```no_run
//! use grove_kit::telemetry::Telemetry;
//!
//! // Logs at `info` (or as RUST_LOG says) to stderr; keep the guard until the program ends.
//! let _telemetry = Telemetry::new().init().expect("telemetry");
//! ```
//!
//! With the `otel` feature, spans also go to a collector. The endpoint comes from
//! `Telemetry::otlp_endpoint`, or else from the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_ENDPOINT` variables, or else `http://localhost:4318/v1/traces`. Spans are
//! sent in batches from a thread of the exporter's own; dropping the guard sends what is left.
//!
//! ```ignore
//! let telemetry = Telemetry::new()
//!     .otlp("checkout")
//!     .otlp_endpoint("http://otel-collector:4318/v1/traces")
//!     .init()?;
//! ```

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A filter did not parse.
    #[error("the filter {directives:?} from {source_name} is not valid: {reason}; write it as RUST_LOG is written, for example `info,grove_otp=debug`")]
    Filter {
        /// The filter as given.
        directives: String,
        /// Where it was given: `RUST_LOG`, `Telemetry::log_filter` or `Telemetry::trace_filter`.
        source_name: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// Something else installed a global subscriber first.
    #[error("a tracing subscriber is already installed; call Telemetry::init once, at the start of main, before anything else installs one")]
    AlreadyInstalled,
    /// The OTLP exporter could not be built (a malformed endpoint, say).
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),
    /// Sending spans to the collector failed.
    #[error("sending spans to the OTLP collector failed: {0}; check that the collector listens at the endpoint")]
    Export(String),
}

/// What to set up; see the [module docs](self).
#[derive(Debug, Clone, Default)]
#[must_use = "nothing is set up until `init` is called"]
pub struct Telemetry {
    log_filter: Option<String>,
    #[cfg(feature = "otel")]
    otlp: Option<otlp::Otlp>,
}

impl Telemetry {
    /// Logs to stderr at `info`, or as `RUST_LOG` says.
    pub fn new() -> Self {
        Telemetry::default()
    }

    /// Filters the logs with these directives (`RUST_LOG` syntax) instead of `RUST_LOG`.
    pub fn log_filter(mut self, directives: &str) -> Self {
        self.log_filter = Some(directives.to_string());
        self
    }

    /// Installs the subscriber for the whole program. Keep the guard alive until the end: with
    /// the `otel` feature, dropping it sends the spans still buffered.
    ///
    /// Call it at the start of `main`, before `grove::run` or `Application::run`: those install
    /// a default subscriber when the program has none, and then this fails with
    /// `AlreadyInstalled`.
    pub fn init(self) -> Result<TelemetryGuard, TelemetryError> {
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(self.log_env_filter()?);
        let subscriber = tracing_subscriber::registry().with(logs);
        #[cfg(feature = "otel")]
        {
            let (spans, provider) = match &self.otlp {
                Some(config) => {
                    let (layer, provider) = config.layer()?;
                    (Some(layer), Some(provider))
                }
                None => (None, None),
            };
            subscriber
                .with(spans)
                .try_init()
                .map_err(|_| TelemetryError::AlreadyInstalled)?;
            Ok(TelemetryGuard { provider })
        }
        #[cfg(not(feature = "otel"))]
        {
            subscriber
                .try_init()
                .map_err(|_| TelemetryError::AlreadyInstalled)?;
            Ok(TelemetryGuard {})
        }
    }

    fn log_env_filter(&self) -> Result<EnvFilter, TelemetryError> {
        if let Some(directives) = &self.log_filter {
            return parse_filter(directives, "Telemetry::log_filter");
        }
        match std::env::var("RUST_LOG") {
            Ok(directives) => parse_filter(&directives, "RUST_LOG"),
            Err(_) => Ok(EnvFilter::new("info")),
        }
    }
}

fn parse_filter(directives: &str, source_name: &'static str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(directives).map_err(|error| TelemetryError::Filter {
        directives: directives.to_string(),
        source_name,
        reason: error.to_string(),
    })
}

/// Keeps telemetry running; see [`Telemetry::init`].
#[derive(Debug)]
#[must_use = "dropping the guard at once stops the span export"]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Sends every span finished so far to the collector and waits until it has answered. It
    /// blocks the thread: call it outside the runtime, or from `grove_runtime::blocking`.
    pub fn flush(&self) -> Result<(), TelemetryError> {
        #[cfg(feature = "otel")]
        if let Some(provider) = &self.provider {
            provider
                .force_flush()
                .map_err(|error| TelemetryError::Export(error.to_string()))?;
        }
        Ok(())
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("grove: sending the last spans to the OTLP collector failed: {error}");
            }
        }
    }
}

#[cfg(feature = "otel")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    use super::{parse_filter, Telemetry, TelemetryError};

    /// Where spans go and which.
    #[derive(Debug, Clone)]
    pub(super) struct Otlp {
        service: String,
        endpoint: Option<String>,
        filter: String,
    }

    impl Telemetry {
        /// Also exports spans to an OpenTelemetry collector, as service `service_name`.
        pub fn otlp(mut self, service_name: &str) -> Self {
            self.otlp = Some(Otlp::new(service_name));
            self
        }

        /// The collector's OTLP/HTTP traces URL, such as `http://collector:4318/v1/traces`
        /// (implies [`otlp`](Self::otlp) as service `grove` if it was not called).
        pub fn otlp_endpoint(mut self, url: &str) -> Self {
            let mut config = self.otlp.take().unwrap_or_else(|| Otlp::new("grove"));
            config.endpoint = Some(url.to_string());
            self.otlp = Some(config);
            self
        }

        /// Which spans to export (`RUST_LOG` syntax); `info,grove_otp=debug` by default.
        pub fn trace_filter(mut self, directives: &str) -> Self {
            if let Some(config) = &mut self.otlp {
                config.filter = directives.to_string();
            }
            self
        }
    }

    impl Otlp {
        /// Service `service`, the default endpoint and the default trace filter.
        fn new(service: &str) -> Otlp {
            Otlp {
                service: service.to_string(),
                endpoint: None,
                filter: "info,grove_otp=debug".to_string(),
            }
        }

        /// The tracing layer that turns spans into OpenTelemetry spans, and the provider that
        /// batches and sends them.
        pub(super) fn layer<S>(
            &self,
        ) -> Result<(impl Layer<S> + Send + Sync + 'static, SdkTracerProvider), TelemetryError>
        where
            S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
        {
            let filter = parse_filter(&self.filter, "Telemetry::trace_filter")?;
            let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary);
            if let Some(endpoint) = &self.endpoint {
                exporter = exporter.with_endpoint(endpoint.clone());
            }
            let exporter = exporter
                .build()
                .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name(self.service.clone())
                        .build(),
                )
                .build();
            let tracer = provider.tracer("grove");
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(filter);
            Ok((layer, provider))
        }
    }
}
