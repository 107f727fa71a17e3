//! The learned log templates: what each service logs, how often, since when,
//! with a few example lines. `GET /api/v1/templates?service=&limit=`.

use aiops_templates::TemplateInfo;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use crate::routes::incidents::{ApiError, limit, param, params, rfc3339};
use crate::state::AppState;

/// Most frequent first, per service (services sorted), at most `limit` in all.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = params(query);
    let limit = limit(&params)?;
    let wanted = param(&params, "service");
    if wanted.is_some_and(|s| s.is_empty() || s.len() > 256) {
        return Err(ApiError::BadRequest(
            "service must be 1 to 256 characters".into(),
        ));
    }
    let analysis = state.analysis.lock();
    let templates = analysis.templates();
    let mut data = Vec::new();
    for service in templates.services() {
        if wanted.is_some_and(|w| w != service) {
            continue;
        }
        let Some(miner) = templates.miner(service) else {
            continue;
        };
        let mut infos: Vec<TemplateInfo<'_>> = miner.templates().collect();
        infos.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        for info in infos {
            if data.len() >= limit {
                break;
            }
            data.push(json!({
                "service": service,
                "id": info.id,
                "template": info.template.as_ref(),
                "level": info.level.as_str(),
                "count": info.count,
                "first_seen": rfc3339(info.first_seen_ns / 1_000_000),
                "last_seen": rfc3339(info.last_seen_ns / 1_000_000),
                "exemplars": info.exemplars,
            }));
        }
    }
    // example lines are what a service logged: redacted before shown
    drop(templates);
    drop(analysis);
    let mut data = Value::Array(data);
    state.redactor.redact_json(&mut data);
    Ok(Json(json!({"status": "success", "data": data})))
}
