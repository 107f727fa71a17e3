//! Prometheus metrics every shop service exports, named after OpenTelemetry's
//! HTTP semantic conventions as Prometheus exports them, plus the standard
//! process metrics and `shop_build_info`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::trace::{TRACEPARENT, TraceContext};

/// OpenTelemetry's recommended boundaries for HTTP durations, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub http_route: String,
    pub http_request_method: &'static str,
    pub http_response_status_code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabels {
    pub peer_service: String,
    pub http_request_method: &'static str,
    pub http_response_status_code: u16,
    /// Empty on success; `timeout`, `connect`, `decode` or `status` otherwise.
    pub error_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service_name: String,
    version: String,
}

type DurationFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

pub struct Telemetry {
    registry: Mutex<Registry>,
    pub server_duration: DurationFamily<ServerLabels>,
    pub client_duration: DurationFamily<ClientLabels>,
    pub log_lines_dropped: Counter,
}

impl Telemetry {
    pub fn new(service: &str, version: &str) -> Arc<Self> {
        let mut registry = Registry::default();
        let server_duration: DurationFamily<ServerLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            server_duration.clone(),
        );
        let client_duration: DurationFamily<ClientLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "http_client_request_duration",
            "Duration of HTTP client requests, per attempt",
            Unit::Seconds,
            client_duration.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                service_name: service.to_string(),
                version: version.to_string(),
            })
            .set(1);
        registry.register(
            "shop_build_info",
            "Service name and version of the running build",
            build_info,
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "shop_log_lines_dropped",
            "Log lines not pushed to Loki because the queue was full or the push failed",
            log_lines_dropped.clone(),
        );
        registry.register_collector(Box::new(process_collector::ProcessCollector));
        Arc::new(Self {
            registry: Mutex::new(registry),
            server_duration,
            client_duration,
            log_lines_dropped,
        })
    }

    /// Lets a service add metrics of its own.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// The OpenMetrics text exposition of every registered metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

pub async fn metrics_handler(State(telemetry): State<Arc<Telemetry>>) -> Response {
    let body = telemetry.encode();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The method as a bounded label value, as the semantic conventions say.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

/// Server middleware: continues or starts the trace, times the request into
/// `http_server_request_duration_seconds` by matched route, logs 5xx replies.
pub async fn track_requests(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = method_label(request.method());
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|parent| parent.child())
        .unwrap_or_else(TraceContext::new_root);
    let response = trace.scope(next.run(request)).await;
    let status = response.status();
    telemetry
        .server_duration
        .get_or_create(&ServerLabels {
            http_route: route.clone(),
            http_request_method: method,
            http_response_status_code: status.as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    if status.is_server_error() {
        trace
            .scope(async {
                tracing::error!(http_route = %route, http_request_method = method, status = status.as_u16(), "request failed");
            })
            .await;
    }
    response
}

/// A plain-text status reply for handlers that must not allocate JSON.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_conventional_names() {
        let t = Telemetry::new("cart", "1.2.3");
        t.server_duration
            .get_or_create(&ServerLabels {
                http_route: "/carts/{session}".into(),
                http_request_method: "GET",
                http_response_status_code: 200,
            })
            .observe(0.02);
        let text = t.encode();
        assert!(
            text.contains("# TYPE http_server_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(text.contains(r#"http_server_request_duration_seconds_bucket{le="0.025",http_route="/carts/{session}",http_request_method="GET",http_response_status_code="200"} 1"#), "{text}");
        assert!(
            text.contains(r#"shop_build_info{service_name="cart",version="1.2.3"} 1"#),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(text.contains("process_start_time_seconds "), "{text}");
    }
}
