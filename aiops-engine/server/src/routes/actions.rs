//! The action ledger's API: list (all, or one incident's), approve, deny;
//! the kill switch; the loaded playbooks.

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::{Json, http::StatusCode, response::IntoResponse, response::Response};
use serde_json::{Value, json};

use crate::remediation::{self, ActionRefusal};
use crate::routes::access::Actor;
use crate::routes::incidents::{ApiError, limit, param, params, rfc3339};
use crate::state::AppState;

/// One record as the API shows it: the stored record plus readable times.
pub fn view(record: &aiops_playbooks::ActionRecord) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("at".into(), json!(rfc3339(record.updated_ms)));
        map.insert("created_at".into(), json!(rfc3339(record.created_ms)));
    }
    value
}

/// `GET /api/v1/actions?incident=&state=&limit=`, newest change first.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let limit = limit(&params)?;
    let wanted = match param(&params, "state") {
        None => None,
        Some(raw) => Some(aiops_playbooks::ActionState::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "state must be one of {}, got {raw:?}",
                aiops_playbooks::ActionState::ALL
                    .map(|s| s.as_str())
                    .join(", ")
            ))
        })?),
    };
    let incident = param(&params, "incident");
    let data: Vec<Value> = state
        .remediation
        .records(incident, usize::MAX)
        .iter()
        .filter(|r| wanted.is_none_or(|s| r.state == s))
        .take(limit)
        .map(view)
        .collect();
    Ok(Json(json!({"status": "success", "data": data})))
}

/// `GET /api/v1/incidents/{id}/actions`.
pub async fn of_incident(State(state): State<AppState>, Path(id): Path<String>) -> Json<Value> {
    let data: Vec<Value> = state
        .remediation
        .records(Some(&id), 1000)
        .iter()
        .map(view)
        .collect();
    Json(json!({"status": "success", "data": data}))
}

/// `GET /api/v1/actions/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .remediation
        .record(&id)
        .map(|r| Json(json!({"status": "success", "data": view(&r)})))
        .ok_or_else(|| ApiError::NotFound(format!("no action {id:?}")))
}

/// An optional `{"note": "..."}` body.
fn note(body: &[u8]) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    match value.get("note") {
        None => Ok(String::new()),
        Some(Value::String(n)) if n.len() <= 1000 && !n.chars().any(char::is_control) => {
            Ok(n.clone())
        }
        Some(_) => Err(ApiError::BadRequest(
            "\"note\" must be a string of at most 1000 characters without control characters"
                .into(),
        )),
    }
}

async fn decide(
    state: AppState,
    id: String,
    actor: Actor,
    body: Bytes,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    let note = note(&body)?;
    match remediation::decide_approval(&state, &id, approve, &actor.name(), &note).await {
        Ok(record) => Ok(Json(json!({"status": "success", "data": view(&record)}))),
        Err(ActionRefusal::NotFound) => Err(ApiError::NotFound(format!("no action {id:?}"))),
        Err(ActionRefusal::Conflict(why)) => Err(ApiError::Conflict(why)),
        Err(ActionRefusal::Storage(why)) => Err(ApiError::Storage(why)),
    }
}

/// `POST /api/v1/actions/{id}/approve`, optional body `{"note": ".."}`.
pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, id, actor, body, true).await
}

/// `POST /api/v1/actions/{id}/deny`.
pub async fn deny(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, id, actor, body, false).await
}

/// `GET /api/v1/remediation`: the switch, the target, the playbooks.
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let rem = &state.remediation;
    let playbooks: Vec<Value> = rem
        .remediator()
        .playbooks()
        .iter()
        .map(|p| json!({"name": p.name.value, "mode": p.mode.as_str(), "description": p.description}))
        .collect();
    Json(json!({"status": "success", "data": {
        "switch": rem.switch(),
        "executor": rem.capability().map(|c| c.executor.as_str()),
        "playbooks": playbooks,
    }}))
}

/// `POST /api/v1/remediation` with `{"enabled": false, "reason": "..."}`:
/// the kill switch (admins only).
pub async fn switch(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    let enabled = value
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            ApiError::BadRequest("expected {\"enabled\": true|false, \"reason\": \"...\"}".into())
        })?;
    let reason = match value.get("reason") {
        None => "",
        Some(Value::String(r)) if r.len() <= 500 && !r.chars().any(char::is_control) => r,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "\"reason\" must be a string of at most 500 characters".into(),
            ));
        }
    };
    let switch = remediation::set_switch(&state, enabled, &actor.name(), reason)
        .await
        .map_err(ApiError::Storage)?;
    Ok((
        StatusCode::OK,
        Json(json!({"status": "success", "data": switch})),
    )
        .into_response())
}

/// `GET /api/v1/playbooks`: the loaded playbooks as written.
pub async fn playbooks(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .remediation
        .remediator()
        .playbooks()
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    Json(json!({"status": "success", "data": data}))
}
