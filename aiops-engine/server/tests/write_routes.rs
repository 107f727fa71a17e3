//! Every route that changes something refuses a request that does not
//! prove who sends it, route by route, from the router itself: the paths
//! are read from the router's own path table, and every write method is
//! tried on each, so a route added later without a guard fails here
//! without anyone remembering to list it.

use std::collections::HashMap;
use std::sync::Arc;

use aiops_server::app::app;
use aiops_server::config::Config;
use aiops_server::state::{AppState, Clock};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

const INGEST_TOKEN: &str = "ingest-token-0123456789";
const VIEWER_TOKEN: &str = "viewer-token-0123456789";

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000
    }
}

/// Every door configured: ingest tokens, API tokens, the Slack bot with
/// its signing secret, a console user.
fn guarded() -> Router {
    let dir = tempfile::tempdir().expect("tempdir");
    let routing = dir.path().join("notify.yaml");
    std::fs::write(
        &routing,
        "route:\n  receiver: chat\nreceivers:\n  - name: chat\n    slack: {channel: \"#incidents\"}\n",
    )
    .expect("routing file");
    let yaml = format!(
        "auth:\n  ingest_tokens: [{INGEST_TOKEN}]\n  anonymous_read: false\n  api_tokens:\n    - {{name: watcher, role: viewer, token: {VIEWER_TOKEN}}}\n    - {{name: oncall, role: responder, token: responder-token-0123456789}}\nnotifications:\n  routing: \"{}\"\n  slack: {{bot_token_env: TEST_SLACK_BOT, signing_secret_env: TEST_SLACK_SIGNING}}\n",
        routing.display()
    );
    let env: HashMap<String, String> = [
        ("TEST_SLACK_BOT", "xoxb-test-bot-token"),
        ("TEST_SLACK_SIGNING", "slack-signing-secret-for-the-test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::parse(&yaml, &env).expect("config");
    app(AppState::with_clock(config, Arc::new(FixedClock)))
}

/// The router's paths, as its path table prints them (`RouteId(n):
/// "/path"`): axum has no public list of routes, and a hand-kept list
/// would miss exactly the route this test is for.
fn paths(router: &Router) -> Vec<String> {
    let debug = format!("{router:?}");
    let mut out: Vec<String> = debug
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect();
    // axum's own catch-all for unmatched paths is not a route of ours
    out.retain(|p| !p.contains("__private__axum"));
    out.sort();
    out.dedup();
    out
}

/// A concrete request path for a route: each `{param}` filled in with a
/// value the handler knows (an unknown verb would be a 404 before any
/// question of who asks).
fn concrete(path: &str) -> String {
    let verb = if path.starts_with("/incidents/") {
        "acknowledge"
    } else {
        "approve"
    };
    path.split('/')
        .map(|segment| match segment {
            "{id}" => "inc-1",
            "{verb}" => verb,
            "{name}" => "restart",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How the request was answered: refused (401, 403, or sent to the
/// login page), or not (`Err` with the status).
fn refused(status: StatusCode, location: Option<&str>) -> Result<(), StatusCode> {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(()),
        s if s.is_redirection() && location.is_some_and(|l| l.starts_with("/login")) => Ok(()),
        s => Err(s),
    }
}

async fn try_write(
    router: &Router,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, Option<String>) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = auth {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from("a=1")).expect("request"))
        .await
        .expect("infallible");
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status(), location)
}

/// The one write that must be open: signing in is how a person proves
/// who they are (its password check and throttle are tested with the
/// console). Signing out ends the caller's own session, if any.
const OPEN_BY_DESIGN: [&str; 2] = ["/login", "/logout"];

/// Tries every write method on every path but `skip` with `auth`:
/// how many writes the router has there, and those not refused.
async fn writes_let_through(
    router: &Router,
    paths: &[String],
    skip: &[&str],
    auth: Option<&str>,
) -> (usize, Vec<String>) {
    let mut writes = 0;
    let mut open = Vec::new();
    for path in paths.iter().filter(|p| !skip.contains(&p.as_str())) {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let (status, location) = try_write(router, method, &concrete(path), auth).await;
            // no such method on this path: nothing to guard
            if status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            writes += 1;
            if let Err(status) = refused(status, location.as_deref()) {
                open.push(format!("{method} {path}: {status}"));
            }
        }
    }
    (writes, open)
}

#[tokio::test]
async fn every_write_route_refuses_a_request_without_credentials() {
    let router = guarded();
    let paths = paths(&router);
    // the table was read: the routes this test knows must be among them
    for known in [
        "/api/v1/write",
        "/loki/api/v1/push",
        "/api/v1/alerts/alertmanager",
        "/api/v1/actions/{id}/approve",
        "/api/v1/remediation",
        "/slack/interactions",
        "/incidents/{id}/{verb}",
        "/playbooks/check",
    ] {
        assert!(paths.iter().any(|p| p == known), "{known} not in {paths:?}");
    }
    let (writes, open) = writes_let_through(&router, &paths, &OPEN_BY_DESIGN, None).await;
    assert!(open.is_empty(), "answered without credentials: {open:?}");
    // the write routes of the API, intake, Slack and console, at least
    assert!(writes >= 20, "only {writes} write routes tried");
}

#[tokio::test]
async fn a_viewers_token_changes_nothing() {
    let router = guarded();
    // reads by POST are a viewer's: PromQL's long queries, and a draft
    // playbook rehearsed against an incident (nothing is run)
    let viewers = [
        "/api/v1/series",
        "/api/v1/query_range",
        "/playbooks/check",
        "/playbooks/validate",
    ];
    let skip: Vec<&str> = OPEN_BY_DESIGN.iter().chain(&viewers).copied().collect();
    let (_, open) = writes_let_through(&router, &paths(&router), &skip, Some(VIEWER_TOKEN)).await;
    assert!(
        open.is_empty(),
        "a viewer's token was let through: {open:?}"
    );
}
