//! Structured JSON logs: one object per line on stdout with timestamp, level,
//! service, version, trace id, message and fields; optionally a copy pushed
//! to Loki. With `SHOP_LOG_CALLSITE=1` each line also names the log
//! statement that wrote it (see [`CALLSITE_KEY`]), so that a recorded run
//! carries its own ground truth for template mining.

use std::io::Write as _;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

use crate::loki::{LogRecord, LokiSink};
use crate::trace::TraceContext;

pub struct JsonLogLayer {
    service: String,
    version: String,
    max_level: Level,
    callsites: bool,
}

/// The key of the statement that wrote a line: `{"at":"file:line",
/// "template":"message field=<*> ..."}`, fields sorted by name. A reader
/// that evaluates template mining must remove it before mining.
pub const CALLSITE_KEY: &str = "callsite";

/// The environment variable that turns callsites on (`1`).
pub const CALLSITE_ENV: &str = "SHOP_LOG_CALLSITE";

/// The process-wide Loki sink, set once the runtime is up.
static LOKI: OnceLock<LokiSink> = OnceLock::new();

impl JsonLogLayer {
    pub fn new(service: &str, version: &str, max_level: Level) -> Self {
        Self {
            service: service.to_string(),
            version: version.to_string(),
            max_level,
            callsites: false,
        }
    }

    /// Adds the writing statement to every line (see [`CALLSITE_KEY`]).
    pub fn with_callsites(mut self, on: bool) -> Self {
        self.callsites = on;
        self
    }

    /// Renders one event as a JSON line (without the newline).
    pub fn render(
        &self,
        event: &Event<'_>,
        ts: chrono::DateTime<chrono::Utc>,
        trace: Option<TraceContext>,
    ) -> String {
        self.render_with(event, ts, trace, self.callsites)
    }

    /// The line, with the writing statement when `callsite` (for a local
    /// labelled recording; never in the copy sent to Loki, so the engine
    /// mines what it would see in production).
    fn render_with(
        &self,
        event: &Event<'_>,
        ts: chrono::DateTime<chrono::Utc>,
        trace: Option<TraceContext>,
        with_callsite: bool,
    ) -> String {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let mut obj = Map::with_capacity(8);
        obj.insert(
            "timestamp".into(),
            Value::String(ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        obj.insert(
            "level".into(),
            Value::String(level_name(event.metadata().level()).into()),
        );
        obj.insert("service".into(), Value::String(self.service.clone()));
        obj.insert("version".into(), Value::String(self.version.clone()));
        if let Some(t) = trace {
            obj.insert("trace_id".into(), Value::String(t.trace_id_hex()));
        }
        if with_callsite {
            obj.insert(
                CALLSITE_KEY.into(),
                callsite(event.metadata(), &visitor.message),
            );
        }
        obj.insert("message".into(), Value::String(visitor.message));
        if !visitor.fields.is_empty() {
            obj.insert("fields".into(), Value::Object(visitor.fields));
        }
        Value::Object(obj).to_string()
    }
}

/// The statement behind a line: where it is and its template, built from
/// the callsite's static field names rather than from the values logged,
/// so that every line of one statement gets the same template.
fn callsite(meta: &tracing::Metadata<'_>, message: &str) -> Value {
    let at = format!(
        "{}:{}",
        meta.file().unwrap_or(meta.target()),
        meta.line().unwrap_or(0)
    );
    let mut names: Vec<&str> = meta
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|n| *n != "message")
        .collect();
    names.sort_unstable();
    let mut template = message.to_string();
    for name in names {
        if !template.is_empty() {
            template.push(' ');
        }
        template.push_str(name);
        template.push_str("=<*>");
    }
    let mut obj = Map::with_capacity(2);
    obj.insert("at".into(), Value::String(at));
    obj.insert("template".into(), Value::String(template));
    Value::Object(obj)
}

pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for JsonLogLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // Our own crates log at the configured level; dependencies only warn and above.
        let ours = metadata.target().starts_with("shop");
        *metadata.level()
            <= if ours {
                self.max_level
            } else {
                Level::WARN.min(self.max_level)
            }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let now = chrono::Utc::now();
        let trace = TraceContext::current();
        let line = self.render(event, now, trace);
        {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
        if let Some(sink) = LOKI.get() {
            let line = if self.callsites {
                self.render_with(event, now, trace, false)
            } else {
                line
            };
            sink.send(LogRecord {
                ts_ns: now.timestamp_nanos_opt().unwrap_or(0),
                level: level_name(event.metadata().level()),
                trace_id: trace.map(|t| t.trace_id_hex()),
                line,
            });
        }
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields
                .insert(field.name().into(), Value::String(value.to_string()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().into(), Value::String(format!("{value:?}")));
        }
    }
}

/// Installs the JSON logger as the global subscriber. Calling it twice is harmless.
pub fn init(service: &str, version: &str, max_level: Level) {
    let callsites = std::env::var(CALLSITE_ENV).is_ok_and(|v| v == "1");
    let _ = tracing_subscriber::registry()
        .with(JsonLogLayer::new(service, version, max_level).with_callsites(callsites))
        .try_init();
}

/// Sends a copy of every line to Loki from now on.
pub fn attach_loki(sink: LokiSink) {
    let _ = LOKI.set(sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Capture(Arc<Mutex<Vec<String>>>, JsonLogLayer);
    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let ts = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("ts");
            if let Ok(mut lines) = self.0.lock() {
                lines.push(self.1.render(event, ts, TraceContext::current()));
            }
        }
    }

    #[tokio::test]
    async fn lines_carry_service_version_trace_and_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let layer = Capture(
            lines.clone(),
            JsonLogLayer::new("cart", "1.0.0", Level::INFO),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        let _guard = tracing::subscriber::set_default(subscriber);
        trace
            .scope(async { tracing::info!(items = 3, session = "s1", "cart updated") })
            .await;
        let lines = lines.lock().expect("lock").clone();
        let v: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(v["level"], "info");
        assert_eq!(v["service"], "cart");
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["message"], "cart updated");
        assert_eq!(v["fields"]["items"], 3);
        assert_eq!(v["fields"]["session"], "s1");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000000Z");
        assert!(v.get(CALLSITE_KEY).is_none(), "off unless asked for");
    }

    #[test]
    fn callsites_name_the_statement_and_its_static_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let layer = Capture(
            lines.clone(),
            JsonLogLayer::new("cart", "1.0.0", Level::INFO).with_callsites(true),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        let _guard = tracing::subscriber::set_default(subscriber);
        for n in 0..2 {
            tracing::info!(session = "s1", items = n, "cart updated");
        }
        tracing::warn!("cart emptied");
        let lines = lines.lock().expect("lock").clone();
        let v: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(v[0][CALLSITE_KEY], v[1][CALLSITE_KEY]);
        assert_eq!(
            v[0][CALLSITE_KEY]["template"],
            "cart updated items=<*> session=<*>"
        );
        let at = v[0][CALLSITE_KEY]["at"].as_str().expect("at");
        assert!(at.starts_with("shop/common/src/logging.rs:"), "{at}");
        assert_ne!(v[2][CALLSITE_KEY]["at"], v[0][CALLSITE_KEY]["at"]);
        assert_eq!(v[2][CALLSITE_KEY]["template"], "cart emptied");
    }

    struct LokiCopy(Arc<Mutex<Vec<String>>>, JsonLogLayer);
    impl<S: Subscriber> Layer<S> for LokiCopy {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let ts = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("ts");
            if let Ok(mut lines) = self.0.lock() {
                lines.push(self.1.render_with(event, ts, None, false));
            }
        }
    }

    #[test]
    fn the_copy_for_loki_never_carries_the_callsite() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let layer = LokiCopy(
            lines.clone(),
            JsonLogLayer::new("cart", "1.0.0", Level::INFO).with_callsites(true),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::info!(items = 1, "cart updated");
        let lines = lines.lock().expect("lock").clone();
        let v: Value = serde_json::from_str(&lines[0]).expect("json");
        assert!(v.get(CALLSITE_KEY).is_none(), "{v}");
        assert_eq!(v["message"], "cart updated");
    }
}
