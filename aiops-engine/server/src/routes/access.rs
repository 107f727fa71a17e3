//! Roles on routes: a layer per group of routes names the role they need;
//! the caller (from the bearer token) goes into the request for handlers
//! to record who did what.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{Caller, Denied};
use crate::config::Role;
use crate::state::AppState;

/// The role a route group needs, with the state the check reads.
#[derive(Clone)]
pub struct Needs {
    pub state: AppState,
    pub role: Role,
}

pub async fn require(State(needs): State<Needs>, mut request: Request, next: Next) -> Response {
    match needs.state.api_auth.require(request.headers(), needs.role) {
        Ok(caller) => {
            request.extensions_mut().insert(Actor(caller));
            next.run(request).await
        }
        Err(Denied::Unauthenticated(why)) => refusal(StatusCode::UNAUTHORIZED, "unauthorized", why),
        Err(Denied::Forbidden(why)) => refusal(StatusCode::FORBIDDEN, "forbidden", why),
    }
}

/// Changes (a lifecycle step, an approval, a silence, the kill switch) are
/// made on the leader only: a follower's state is its own view and gives
/// way when it takes over, so a change made there would be lost.
pub async fn leader_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.leadership.is_leader() {
        return next.run(request).await;
    }
    let mut refused = refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!(
            "this engine ({}) follows; changes are made on the leader, the engine holding the lease",
            state.leadership.holder()
        ),
    );
    refused.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    refused
}

fn refusal(status: StatusCode, kind: &str, why: String) -> Response {
    (
        status,
        Json(json!({"status": "error", "errorType": kind, "error": why})),
    )
        .into_response()
}

/// Who made the request (`None`: anonymous, where reading is open).
#[derive(Debug, Clone)]
pub struct Actor(pub Option<Caller>);

impl Actor {
    /// The name changes are recorded under.
    pub fn name(&self) -> String {
        self.0
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |c| c.name.clone())
    }
}
