//! The harness's Alertmanager webhook: records every alert notification
//! (receive time, `startsAt`, name, service, severity, status) so the alert
//! rules are judged by the same rules as the engine's incidents. Each
//! Prometheus labels its alerts with the rule set it evaluates (`ruleset`,
//! an external label), so one Alertmanager serves them all.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::judge::AlertSeen;

/// The rule set of alerts that carry no `ruleset` label: the rules as written.
pub const STANDARD_RULESET: &str = "standard";

/// Notifications kept at most (a scenario sees a few hundred).
const MAX_ALERTS: usize = 100_000;

type Seen = Arc<Mutex<Vec<AlertSeen>>>;

/// Listens on a free loopback port; returns it, the server task and its stop.
pub async fn spawn(
    seen: Seen,
) -> std::io::Result<(u16, JoinHandle<()>, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = Router::new()
        .route("/alerts", post(notified))
        .with_state(seen);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((port, handle, stop))
}

async fn notified(State(seen): State<Seen>, Json(body): Json<Value>) -> StatusCode {
    let now = chrono::Utc::now().timestamp_millis();
    let alerts = parse(&body, now);
    let mut seen = seen.lock();
    for alert in alerts {
        if seen.len() < MAX_ALERTS {
            seen.push(alert);
        }
    }
    StatusCode::OK
}

/// The alerts of one webhook payload (version 4); malformed entries are skipped.
pub fn parse(body: &Value, received_ms: i64) -> Vec<AlertSeen> {
    let Some(alerts) = body.get("alerts").and_then(Value::as_array) else {
        return Vec::new();
    };
    alerts
        .iter()
        .filter_map(|a| {
            let label = |name: &str| {
                a.get("labels")
                    .and_then(|l| l.get(name))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let starts = a.get("startsAt").and_then(Value::as_str)?;
            let starts_ms = chrono::DateTime::parse_from_rfc3339(starts)
                .ok()?
                .timestamp_millis();
            Some(AlertSeen {
                received_ms,
                starts_ms,
                ruleset: match label("ruleset") {
                    r if r.is_empty() => STANDARD_RULESET.to_owned(),
                    r => r,
                },
                alertname: label("alertname"),
                service: label("service"),
                severity: label("severity"),
                firing: a.get("status").and_then(Value::as_str) == Some("firing"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_v4_payload_skipping_broken_alerts() {
        let body: Value = serde_json::from_str(
            r#"{"version":"4","status":"firing","alerts":[
              {"status":"firing","labels":{"alertname":"ShopServiceDown","service":"cart","severity":"critical"},
               "startsAt":"2026-12-01T10:00:00.5Z"},
              {"status":"resolved","labels":{"alertname":"X"},"startsAt":"2026-12-01T10:00:00Z"},
              {"status":"firing","labels":{},"startsAt":"yesterday"},
              {"status":"firing","labels":{"alertname":"Y","ruleset":"for-0s"},"startsAt":"2026-12-01T10:00:00Z"}]}"#,
        )
        .expect("json");
        let seen = parse(&body, 42);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].service, "cart");
        assert_eq!(seen[0].ruleset, "standard");
        assert_eq!(seen[2].ruleset, "for-0s");
        assert_eq!(seen[0].starts_ms, 1_796_119_200_500);
        assert!(seen[0].firing && !seen[1].firing);
        assert!(parse(&Value::Null, 0).is_empty());
    }
}
