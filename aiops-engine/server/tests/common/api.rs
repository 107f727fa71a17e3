//! The engine's API in memory: one request through the router, and what
//! every incident's summary must hold.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Sends one JSON request, with `token` as the bearer when given; the
/// status and the body as JSON (`null` when it is not JSON).
pub async fn send_as(
    app: &Router,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

/// The incident's summary cites at least one item, and only items of the
/// incident's own evidence.
pub fn assert_cites_only_its_evidence(incident: &Value) {
    let summary = &incident["summary"];
    let evidence: Vec<&str> = incident["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    let cited = summary["evidence_ids"].as_array().expect("cited");
    assert!(!cited.is_empty(), "{summary}");
    for id in cited {
        assert!(
            evidence.contains(&id.as_str().unwrap_or("")),
            "{id} is not evidence: {summary}"
        );
    }
}
