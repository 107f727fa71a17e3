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

/// A clock the test moves.
struct SteppedClock(std::sync::atomic::AtomicI64);

impl Clock for SteppedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_repeated_failure_shows_the_past_incident_and_how_it_ended() {
    let config = Config::parse(TOKENS, &std::collections::HashMap::new()).expect("config");
    let clock = Arc::new(SteppedClock(1_700_000_000_000.into()));
    let app = app(AppState::with_clock(config, clock.clone()));
    let (status, _) = send(&app, "POST", "/api/v1/alerts/alertmanager", ALERT).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = send(&app, "GET", "/api/v1/incidents", "").await;
    let first = list["data"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list["data"][0]["similar"], Value::Array(vec![]), "{list}");
    assert_eq!(list["data"][0]["group"], first.as_str());
    let (status, _) = send(
        &app,
        "POST",
        &format!("/api/v1/incidents/{first}/resolve"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // an hour later: payments down again, and cart failing in a way seen never before
    clock
        .0
        .fetch_add(3_600_000, std::sync::atomic::Ordering::SeqCst);
    let again = ALERT
        .replace("2023-11-14T22:12:00Z", "2023-11-14T23:12:00Z")
        .replace("0123456789abcdef", "0123456789abcdf0");
    let other = ALERT
        .replace("2023-11-14T22:12:00Z", "2023-11-14T23:12:30Z")
        .replace("ShopServiceDown", "ShopCartSlow")
        .replace("\"service\":\"payments\"", "\"service\":\"cart\"")
        .replace("0123456789abcdef", "fedcba9876543210");
    for body in [&again, &other] {
        let (status, reply) = send(&app, "POST", "/api/v1/alerts/alertmanager", body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let (_, list) = send(&app, "GET", "/api/v1/incidents?state=open", "").await;
    let open = list["data"].as_array().expect("data");
    let of = |service: &str| {
        open.iter()
            .find(|i| i["services"][0] == service)
            .unwrap_or_else(|| panic!("no open {service} incident: {list}"))
    };
    let payments = of("payments");
    assert_ne!(
        payments["id"],
        first.as_str(),
        "a new incident, not a reopen"
    );
    let similar = payments["similar"].as_array().expect("similar");
    assert_eq!(similar.len(), 1, "{similar:?}");
    assert_eq!(similar[0]["id"], first.as_str());
    assert_eq!(similar[0]["resolution"], "resolved by alice");
    assert_eq!(similar[0]["cause"], "payments");
    assert!(similar[0]["similarity"].as_f64().is_some_and(|s| s > 0.8));
    assert!(
        similar[0]["shared"]
            .as_array()
            .is_some_and(|s| s.iter().any(|f| f == "cause:payments")),
        "{similar:?}"
    );
    assert_eq!(payments["group"], first.as_str(), "the same family");
    let cart = of("cart");
    assert_eq!(cart["similar"], Value::Array(vec![]), "{cart}");
    assert_eq!(cart["group"], cart["id"]);
}

/// Pushes `lines` of cart's at `at_ms` through the Loki endpoint and mines
/// them, as the engine's log feed does.
async fn push_cart_logs(app: &Router, state: &AppState, at_ms: i64, lines: &[String]) {
    let mut feed = state.logs.subscribe();
    let values: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| serde_json::json!([(at_ms * 1_000_000 + i as i64).to_string(), l]))
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"service": "cart"}, "values": values}]});
    let (status, reply) = send(app, "POST", "/loki/api/v1/push", &body.to_string()).await;
    assert!(status.is_success(), "{status} {reply}");
    let batch = feed.recv().await.expect("the pushed batch");
    state.analysis.lock().observe_logs(&batch, at_ms);
}

#[tokio::test]
async fn each_service_gets_a_digest_of_what_changed_in_its_logs() {
    let config = Config::parse(TOKENS, &std::collections::HashMap::new()).expect("config");
    let t0 = 1_700_000_000_000;
    let state = AppState::with_clock(config, Arc::new(SteppedClock(t0.into())));
    let app = app(state.clone());
    let usual: Vec<String> = (0..40)
        .map(|n| format!("level=info msg=\"cart updated\" session={n} items=2"))
        .collect();
    push_cart_logs(&app, &state, t0 - 60_000, &usual).await;
    // the first window only starts
    assert_eq!(aiops_server::digests::tick(&state, t0).await, 0);
    let mut lines = usual[..10].to_vec();
    lines.extend((0..30).map(|n| {
        format!(
            "level=error msg=\"redis connection refused\" addr=10.0.0.{n}:6379 user=bob@example.com"
        )
    }));
    push_cart_logs(&app, &state, t0 + 60_000, &lines).await;
    assert_eq!(
        aiops_server::digests::tick(&state, t0 + 300_000).await,
        1,
        "one service, one digest"
    );
    let (status, body) = send(&app, "GET", "/api/v1/log-digests?service=cart", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let digest = &body["data"][0];
    assert_eq!(digest["source"], "deterministic", "{digest}");
    assert_eq!(digest["lines"], 40);
    let change = &digest["changes"][0];
    assert_eq!(
        (&change["change"], &change["level"], &change["count"]),
        (&Value::from("new"), &Value::from("error"), &Value::from(30)),
        "{digest}"
    );
    assert!(
        change["text"]
            .as_str()
            .is_some_and(|t| t.contains("redis connection refused")),
        "{change}"
    );
    assert_eq!(digest["evidence_ids"][0], change["id"]);
    assert!(
        digest["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("cart, ") && t.contains("New ev-")),
        "{digest}"
    );
    assert!(
        !body.to_string().contains("bob@example.com"),
        "redacted: {body}"
    );
    let (_, all) = send(&app, "GET", "/api/v1/log-digests", "").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "{all}");
    for bad in [
        "/api/v1/log-digests?service=",
        &format!("/api/v1/log-digests?service={}", "x".repeat(200)),
    ] {
        let (status, body) = send(&app, "GET", bad, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("service name"))
        );
    }
}
