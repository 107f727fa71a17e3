//! `GET/POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`: while a
//! silence is in force, the incidents it covers send no notification (the
//! notification log says so, once); resolutions still go out.

use aiops_notify::Silence;
use aiops_playbooks::span::Span;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Actor;
use super::incidents::ApiError;
use crate::state::AppState;

/// The longest silence: a longer quiet is a routing change, not a silence.
const MAX_SILENCE_MS: i64 = 7 * 24 * 3_600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    /// Services it covers (empty: every service, unless `incident_id`).
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    incident_id: Option<String>,
    /// `30m`, `1h`, `2d`.
    duration: Span,
    reason: String,
}

fn word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn view(s: &Silence, now_ms: i64) -> Value {
    json!({
        "id": s.id,
        "services": s.services,
        "incident_id": s.incident_id,
        "until": super::incidents::rfc3339(s.until_ms),
        "active": s.until_ms > now_ms,
        "by": s.by,
        "reason": s.reason,
    })
}

/// `GET /api/v1/silences`: the silences in force, ending soonest first.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let now = state.clock.now_ms();
    let mut all: Vec<Silence> = state
        .notifier
        .silences()
        .into_iter()
        .filter(|s| s.until_ms > now)
        .collect();
    all.sort_by_key(|s| s.until_ms);
    let data: Vec<Value> = all.iter().map(|s| view(s, now)).collect();
    Json(json!({"status": "success", "data": data}))
}

/// `POST /api/v1/silences` with `{"duration": "1h", "reason": "...",
/// "services": [...] | "incident_id": "..."}`.
pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if state.config.notifications.is_none() {
        return Err(ApiError::NotFound(
            "notifications are not configured: there is nothing to silence".into(),
        ));
    }
    let new: NewSilence = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a silence: {e}")))?;
    if new.reason.trim().is_empty()
        || new.reason.len() > 500
        || new.reason.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(
            "\"reason\" must be 1 to 500 characters without control characters".into(),
        ));
    }
    if new.services.len() > 50 || !new.services.iter().all(|s| word(s)) {
        return Err(ApiError::BadRequest(
            "\"services\" holds at most 50 service names".into(),
        ));
    }
    if new.incident_id.as_deref().is_some_and(|id| !word(id)) {
        return Err(ApiError::BadRequest(
            "\"incident_id\" is not an incident id".into(),
        ));
    }
    let ms = new.duration.ms();
    if !(60_000..=MAX_SILENCE_MS).contains(&ms) {
        return Err(ApiError::BadRequest(format!(
            "\"duration\" must be between 1m and 7d, not {}",
            new.duration
        )));
    }
    let now = state.clock.now_ms();
    let mut raw = [0u8; 8];
    rand::fill(&mut raw);
    let id: String = std::iter::once("sil-".to_owned())
        .chain(raw.iter().map(|b| format!("{b:02x}")))
        .collect();
    let silence = Silence {
        id,
        services: new.services,
        incident_id: new.incident_id,
        until_ms: now + ms,
        by: actor.name(),
        reason: new.reason,
    };
    crate::notifications::add_silence(&state, silence.clone())
        .await
        .map_err(ApiError::Storage)?;
    Ok(Json(
        json!({"status": "success", "data": view(&silence, now)}),
    ))
}

/// `DELETE /api/v1/silences/{id}`: ends it now.
pub async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Value>, ApiError> {
    if !word(&id) {
        return Err(ApiError::BadRequest("not a silence id".into()));
    }
    match crate::notifications::end_silence(&state, &id, &actor.name()).await {
        Ok(true) => Ok(Json(json!({"status": "success"}))),
        Ok(false) => Err(ApiError::NotFound(format!("no silence {id:?}"))),
        Err(e) => Err(ApiError::Storage(e)),
    }
}
