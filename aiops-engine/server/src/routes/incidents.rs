//! The incident API: list, get, acknowledge, mitigate, resolve; the recent
//! signals; the services with their health and dependencies. Answers in the
//! `{"status":"success","data":...}` envelope of the rest of `/api/v1`.

use aiops_analysis::{Incident, LifecycleError};
use aiops_incident_db::IncidentRow;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::routes::access::Actor;
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
const MAX_ID_LEN: usize = 128;

/// One error type for these endpoints, mapped to a status and a JSON reason.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    Storage(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_data", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            ApiError::Storage(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        };
        (
            status,
            Json(json!({"status": "error", "errorType": kind, "error": message})),
        )
            .into_response()
    }
}

pub(crate) fn params(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn limit(params: &[(String, String)]) -> Result<usize, ApiError> {
    match param(params, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}, got {raw:?}"))
            }),
    }
}

/// The incident as the API shows it: the stored document plus readable
/// times and the actions the ledger holds for it.
fn view(incident: &Incident, state: &AppState) -> Value {
    let mut value = serde_json::to_value(incident).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("opened_at".into(), json!(rfc3339(incident.opened_at_ms)));
        if let Some(resolved) = incident.resolved_at_ms {
            map.insert("resolved_at".into(), json!(rfc3339(resolved)));
        }
        let actions: Vec<Value> = state
            .remediation
            .records(Some(&incident.id), 200)
            .iter()
            .map(crate::routes::actions::view)
            .collect();
        map.insert("actions".into(), Value::Array(actions));
        let (evidence, summary) = crate::summaries::of(state, incident);
        map.insert(
            "evidence".into(),
            serde_json::to_value(evidence).unwrap_or_default(),
        );
        let mut summary_view = serde_json::to_value(&summary).unwrap_or_default();
        if let Value::Object(s) = &mut summary_view {
            s.insert("at".into(), json!(rfc3339(summary.at_ms)));
        }
        map.insert("summary".into(), summary_view);
        let similar = crate::similar::of(state, incident);
        // its family: that of the most similar past incident, or its own
        let group = similar
            .first()
            .map_or_else(|| incident.id.clone(), |s| s.past.group.clone());
        map.insert("group".into(), json!(group));
        map.insert(
            "similar".into(),
            Value::Array(similar.iter().map(similar_view).collect()),
        );
        // what was sent where and why, and what was not and why
        map.insert(
            "notifications".into(),
            serde_json::to_value(state.notifier.log(&incident.id)).unwrap_or_default(),
        );
    }
    // what the engine shows is redacted, whatever a log line or label held
    state.redactor.redact_json(&mut value);
    value
}

/// A similar past incident as the API shows it: how alike, why, how it
/// ended and which actions worked.
fn similar_view(s: &aiops_analysis::SimilarIncident) -> Value {
    let p = &s.past;
    json!({
        "id": p.id,
        "title": p.title,
        "similarity": (s.similarity * 100.0).round() / 100.0,
        "shared": s.shared,
        "group": p.group,
        "cause": p.cause,
        "opened_at": rfc3339(p.opened_at_ms),
        "resolved_at": rfc3339(p.resolved_at_ms),
        "resolved_after_s": (p.resolved_at_ms - p.opened_at_ms).max(0) / 1000,
        "resolution": p.resolution,
        "actions": p.actions,
    })
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub fn row(incident: &Incident) -> IncidentRow {
    IncidentRow {
        id: incident.id.clone(),
        state: incident.state.as_str().to_owned(),
        opened_at_ms: incident.opened_at_ms,
        updated_at_ms: incident.updated_at_ms,
        resolved_at_ms: incident.resolved_at_ms,
        services: incident.services.clone(),
        revision: incident.revision,
        document: serde_json::to_value(incident).unwrap_or(Value::Null),
    }
}

fn check_state(raw: &str) -> Result<(), ApiError> {
    if aiops_incident_db::STATES.contains(&raw) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "state must be one of {}, got {raw:?}",
            aiops_incident_db::STATES.join(", ")
        )))
    }
}

/// `GET /api/v1/incidents?state=&service=&limit=`, newest first.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let limit = limit(&params)?;
    let wanted_state = param(&params, "state");
    if let Some(s) = wanted_state {
        check_state(s)?;
    }
    let service = param(&params, "service");
    let picked: Vec<Incident> = state
        .analysis
        .lock()
        .correlator()
        .incidents()
        .iter()
        .rev()
        .filter(|i| wanted_state.is_none_or(|s| i.state.as_str() == s))
        .filter(|i| service.is_none_or(|s| i.services.iter().any(|x| x == s)))
        .take(limit)
        .cloned()
        .collect();
    let data: Vec<Value> = picked.iter().map(|i| view(i, &state)).collect();
    Ok(Json(json!({"status": "success", "data": data})))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ApiError::BadRequest(format!(
            "an incident id is 1 to {MAX_ID_LEN} characters"
        )));
    }
    Ok(())
}

/// `GET /api/v1/incidents/{id}`: from memory, else from the database
/// (resolved incidents the engine no longer keeps in memory).
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    let in_memory = state.analysis.lock().correlator().get(&id).cloned();
    if let Some(incident) = in_memory {
        return Ok(Json(
            json!({"status": "success", "data": view(&incident, &state)}),
        ));
    }
    if let Some(db) = state.incident_db.get() {
        let stored = db
            .get(&id)
            .await
            .map_err(|e| ApiError::Storage(e.to_string()))?;
        if let Some(row) = stored
            && let Ok(incident) = serde_json::from_value::<Incident>(row.document)
        {
            return Ok(Json(
                json!({"status": "success", "data": view(&incident, &state)}),
            ));
        }
    }
    Err(ApiError::NotFound(format!("no incident {id:?}")))
}

#[derive(Clone, Copy)]
pub enum Transition {
    Acknowledge,
    Mitigate,
    Resolve,
}

/// `POST /api/v1/incidents/{id}/{acknowledge|mitigate|resolve}`: needs a
/// responder's token; the token's name goes on the timeline. An optional
/// JSON body `{"note": "..."}` is recorded with it.
pub async fn transition(
    state: AppState,
    id: String,
    actor: Actor,
    body: axum::body::Bytes,
    to: Transition,
) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    let by = match note(&body)? {
        Some(note) => format!("{} ({note})", actor.name()),
        None => actor.name(),
    };
    let updated = change_state(&state, &id, &by, to).await?;
    Ok(Json(
        json!({"status": "success", "data": view(&updated, &state)}),
    ))
}

/// Moves an incident through its lifecycle on behalf of `by`, persists it,
/// and tells the console; the API and the console's forms share it.
pub async fn change_state(
    state: &AppState,
    id: &str,
    by: &str,
    to: Transition,
) -> Result<Incident, ApiError> {
    let now = state.clock.now_ms();
    let updated = {
        let mut analysis = state.analysis.lock();
        let correlator = analysis.correlator_mut();
        let result = match to {
            Transition::Acknowledge => correlator.acknowledge(id, by, now),
            Transition::Mitigate => correlator.mitigate(id, by, now),
            Transition::Resolve => correlator.resolve(id, by, now),
        };
        match result {
            Ok(incident) => incident.clone(),
            Err(LifecycleError::NotFound) => {
                return Err(ApiError::NotFound(format!(
                    "no open incident {id:?} (resolved incidents are kept in memory for a while, then only in the database)"
                )));
            }
            Err(e) => return Err(ApiError::Conflict(e.to_string())),
        }
    };
    crate::similar::remember(state, std::slice::from_ref(&updated));
    // a database that is down delays the write, not the change: it stays
    // queued and readiness says so
    state.incident_writes.queue([row(&updated)]);
    if let Some(db) = state.incident_db.get() {
        state
            .incident_writes
            .flush_unless_failing(db, state.clock.now_ms())
            .await;
    }
    state.announce(id);
    Ok(updated)
}

/// An optional `{"note": "..."}` body (a `by` from older clients is
/// ignored: who did it is the token's name).
fn note(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    match value.get("note") {
        None => Ok(None),
        Some(Value::String(n))
            if !n.is_empty() && n.len() <= 500 && !n.chars().any(char::is_control) =>
        {
            Ok(Some(n.clone()))
        }
        Some(_) => Err(ApiError::BadRequest(
            "\"note\" must be a string of 1 to 500 characters without control characters".into(),
        )),
    }
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Extension(actor): axum::extract::Extension<Actor>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    transition(state, id, actor, body, Transition::Acknowledge).await
}

pub async fn mitigate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Extension(actor): axum::extract::Extension<Actor>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    transition(state, id, actor, body, Transition::Mitigate).await
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Extension(actor): axum::extract::Extension<Actor>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    transition(state, id, actor, body, Transition::Resolve).await
}

/// `GET /api/v1/signals?service=&limit=`: what the detectors said, newest first.
pub async fn signals(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let limit = limit(&params)?;
    let service = param(&params, "service");
    let analysis = state.analysis.lock();
    let data: Vec<Value> = analysis
        .recent_signals()
        .filter(|s| service.is_none_or(|x| s.service == x))
        .take(limit)
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    drop(analysis);
    let mut data = Value::Array(data);
    state.redactor.redact_json(&mut data);
    Ok(Json(json!({"status": "success", "data": data})))
}

/// `GET /api/v1/services`: health, active signals, dependencies, latest values.
pub async fn services(State(state): State<AppState>) -> Json<Value> {
    let services = state.analysis.lock().services();
    Json(json!({"status": "success", "data": services}))
}

/// `GET /api/v1/log-digests?service=`: what changed in each service's logs,
/// the newest digest of every service, or the kept digests of one
/// (newest first).
pub async fn log_digests(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let digests = match param(&params, "service") {
        Some(service) => {
            if service.is_empty() || service.len() > MAX_ID_LEN {
                return Err(ApiError::BadRequest(format!(
                    "a service name is 1 to {MAX_ID_LEN} characters"
                )));
            }
            state.digests.lock().of(service)
        }
        None => state.digests.lock().latest(),
    };
    let mut data = serde_json::to_value(digests).unwrap_or(Value::Array(vec![]));
    // redacted when made; again here, as everything the engine shows
    state.redactor.redact_json(&mut data);
    Ok(Json(json!({"status": "success", "data": data})))
}

/// Longest span one history request may ask for.
const MAX_HISTORY_SPAN_MS: i64 = 24 * 3_600_000;

/// `GET /api/v1/history?start=&end=&service=`: the derived values the
/// analysis recorded (one column per service and metric, times in unix
/// seconds), the data root-cause ranking scores and recordings export.
/// Defaults: the last hour.
pub async fn history(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let now = state.clock.now_ms();
    let time = |name: &str, default: i64| match param(&params, name) {
        None => Ok(default),
        Some(raw) => crate::routes::query::parse_time(name, raw).map_err(ApiError::BadRequest),
    };
    let end = time("end", now)?;
    let start = time("start", end.saturating_sub(3_600_000))?;
    if end < start {
        return Err(ApiError::BadRequest("end must not be before start".into()));
    }
    if end - start > MAX_HISTORY_SPAN_MS {
        return Err(ApiError::BadRequest(
            "start to end spans more than 24 hours".into(),
        ));
    }
    let services: Option<Vec<String>> = param(&params, "service").map(|s| vec![s.to_owned()]);
    let columns = state
        .analysis
        .lock()
        .history()
        .columns(start, end, services.as_deref());
    let data: Vec<Value> = columns
        .into_iter()
        .map(|c| {
            let points: Vec<Value> = c
                .points
                .iter()
                .map(|(t, v)| json!([*t as f64 / 1000.0, v]))
                .collect();
            json!({"service": c.service, "metric": c.metric, "points": points})
        })
        .collect();
    Ok(Json(json!({"status": "success", "data": data})))
}
