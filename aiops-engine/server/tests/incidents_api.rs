//! The incident API in memory: an Alertmanager alert opens an incident;
//! list, get, acknowledge, resolve; hostile parameters and bodies get a
//! clear 4xx; a redelivered alert opens nothing new.

mod common;

use std::sync::Arc;

use aiops_server::app::app;
use aiops_server::config::Config;
use aiops_server::state::{AppState, Clock};
use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;

use common::api::{assert_cites_only_its_evidence, send_as};

struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000
    }
}

/// Alice may work incidents; Vic may only read.
const TOKENS: &str = "auth:\n  api_tokens:\n    - {name: alice, role: responder, token: alice-token-0123456}\n    - {name: vic, role: viewer, token: vic-token-01234567}\n";
const ALICE: &str = "alice-token-0123456";

async fn send(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    send_as(app, Some(ALICE), method, uri, body).await
}

const ALERT: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"ShopServiceDown\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
  "alerts":[{"status":"firing","labels":{"alertname":"ShopServiceDown","service":"payments","severity":"critical"},"annotations":{"summary":"payments is down"},
  "startsAt":"2023-11-14T22:12:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"0123456789abcdef"}]}"#;

#[tokio::test]
async fn an_alert_opens_an_incident_that_people_can_work_on() {
    let config = Config::parse(TOKENS, &std::collections::HashMap::new()).expect("config");
    let app = app(AppState::with_clock(config, Arc::new(FixedClock)));
    let (status, _) = send_as(&app, None, "GET", "/api/v1/incidents", "").await;
    assert_eq!(status, StatusCode::OK, "reading is open by default");

    for _ in 0..2 {
        let (status, _) = send(&app, "POST", "/api/v1/alerts/alertmanager", ALERT).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, list) = send(&app, "GET", "/api/v1/incidents", "").await;
    assert_eq!(status, StatusCode::OK);
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "a redelivery opens nothing new: {list}");
    let incident = &data[0];
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["services"][0], "payments");
    assert_eq!(incident["root_cause"][0]["service"], "payments");
    assert!(
        incident["opened_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-11-14T22"))
    );
    assert!(
        !incident["signals"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    let id = incident["id"].as_str().expect("id").to_owned();

    let (status, one) = send(&app, "GET", &format!("/api/v1/incidents/{id}"), "").await;
    assert_eq!(
        (status, one["data"]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // changes need a responder's token, and are recorded under its name
    let ack = format!("/api/v1/incidents/{id}/acknowledge");
    let (status, body) = send_as(&app, None, "POST", &ack, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = send_as(&app, Some("vic-token-01234567"), "POST", &ack, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("vic is a viewer"),
        "{body}"
    );
    let (status, body) = send_as(&app, Some("mallory-token-0000"), "POST", &ack, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, one) = send(&app, "GET", &format!("/api/v1/incidents/{id}"), "").await;
    assert_eq!(
        (status, &one["data"]["state"]),
        (StatusCode::OK, &Value::from("open")),
        "nothing changed"
    );
    let (status, acked) = send(&app, "POST", &ack, r#"{"note":"on it"}"#).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["data"]["state"], "acknowledged");
    let timeline = acked["data"]["timeline"].as_array().expect("timeline");
    assert!(
        timeline
            .iter()
            .any(|e| e["detail"] == "acknowledged by alice (on it)"),
        "{timeline:?}"
    );
    assert!(
        acked["data"]["actions"].is_array(),
        "the incident carries its actions"
    );

    let (status, resolved) =
        send(&app, "POST", &format!("/api/v1/incidents/{id}/resolve"), "").await;
    assert_eq!(
        (status, &resolved["data"]["state"]),
        (StatusCode::OK, &Value::from("resolved"))
    );
    let (status, err) = send(
        &app,
        "POST",
        &format!("/api/v1/incidents/{id}/acknowledge"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|e| e.contains("resolved"))
    );

    let (status, filtered) = send(&app, "GET", "/api/v1/incidents?state=open", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(filtered["data"].as_array().map(Vec::len), Some(0));

    let (status, signals) = send(&app, "GET", "/api/v1/signals?service=payments", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(signals["data"][0]["kind"], "alert");
    let (status, _) = send(&app, "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hostile_requests_get_a_clear_4xx() {
    let config = Config::parse(TOKENS, &std::collections::HashMap::new()).expect("config");
    let app = app(AppState::with_clock(config, Arc::new(FixedClock)));
    let long_id = "x".repeat(500);
    for (method, uri, body, expected, needle) in [
        (
            "GET",
            "/api/v1/incidents?limit=0",
            "",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "GET",
            "/api/v1/incidents?limit=99999999999999999999",
            "",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "GET",
            "/api/v1/incidents?state=exploded",
            "",
            StatusCode::BAD_REQUEST,
            "state",
        ),
        (
            "GET",
            "/api/v1/incidents/nope",
            "",
            StatusCode::NOT_FOUND,
            "nope",
        ),
        (
            "GET",
            &format!("/api/v1/incidents/{long_id}"),
            "",
            StatusCode::BAD_REQUEST,
            "id",
        ),
        (
            "POST",
            "/api/v1/incidents/nope/resolve",
            "",
            StatusCode::NOT_FOUND,
            "no open incident",
        ),
        (
            "POST",
            "/api/v1/incidents/nope/acknowledge",
            "{",
            StatusCode::BAD_REQUEST,
            "json",
        ),
        (
            "POST",
            "/api/v1/incidents/nope/acknowledge",
            r#"{"note":7}"#,
            StatusCode::BAD_REQUEST,
            "note",
        ),
        (
            "GET",
            "/api/v1/signals?limit=-1",
            "",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
    ] {
        let (status, body) = send(&app, method, uri, body).await;
        assert_eq!(status, expected, "{method} {uri}: {body}");
        assert_eq!(body["status"], "error", "{uri}");
        let error = body["error"].as_str().unwrap_or("").to_lowercase();
        assert!(error.contains(needle), "{uri}: {error}");
    }
}

/// Every incident carries its evidence (stable ids) and a summary that
/// cites only that evidence and names the top-ranked service; what a label
/// or an annotation held (a card number, an e-mail address) is redacted.
#[tokio::test]
async fn incidents_carry_a_grounded_summary_and_nothing_secret() {
    let config = Config::parse(TOKENS, &std::collections::HashMap::new()).expect("config");
    let app = app(AppState::with_clock(config, Arc::new(FixedClock)));
    let hostile = ALERT
        .replace(
            "payments is down",
            "card 4111111111111111 declined for bob@example.com",
        )
        .replace(
            "\"severity\":\"critical\"",
            "\"severity\":\"critical\",\"customer\":\"alice@example.org\"",
        );
    let (status, _) = send(&app, "POST", "/api/v1/alerts/alertmanager", &hostile).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = send(&app, "GET", "/api/v1/incidents", "").await;
    let incident = &list["data"][0];
    let text = incident.to_string();
    for secret in ["4111111111111111", "bob@example.com", "alice@example.org"] {
        assert!(
            !text.contains(secret),
            "{secret} reached the incident: {text}"
        );
    }
    let summary = &incident["summary"];
    assert_eq!(summary["source"], "deterministic");
    assert!(
        summary["text"].as_str().unwrap_or("").contains("payments"),
        "{summary}"
    );
    assert_cites_only_its_evidence(incident);
    // the same incident read again: the same ids
    let (_, again) = send(&app, "GET", "/api/v1/incidents", "").await;
    assert_eq!(again["data"][0]["evidence"], incident["evidence"]);
}
