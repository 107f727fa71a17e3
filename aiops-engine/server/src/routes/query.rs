//! `GET /api/v1/series` and `GET /api/v1/query_range` for plain series
//! selectors, in the shape of Prometheus' HTTP API (also as POST forms).

use aiops_core::prom_json::{ErrorResponse, MatrixResponse, SeriesResponse};
use aiops_core::{QueryError, Selector};
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// At most this many `match[]` selectors in one request.
const MAX_SELECTORS: usize = 100;

fn error(e: ErrorResponse) -> Response {
    let status =
        StatusCode::from_u16(e.error_type.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(e)).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    error(ErrorResponse::bad_data(message))
}

/// Query-string and form parameters, in order, repeated names kept.
fn params(method: &Method, query: Option<String>, form: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if method == Method::POST {
        out.extend(form_urlencoded::parse(form).into_owned());
    }
    out
}

fn one<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A time as Prometheus takes it: unix seconds (fractions allowed) or RFC 3339.
pub fn parse_time(name: &str, raw: &str) -> Result<i64, String> {
    if let Ok(secs) = raw.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e13 {
            return Ok((secs * 1000.0).round() as i64);
        }
        return Err(format!(
            "invalid parameter {name:?}: {raw:?} is out of range"
        ));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            format!("invalid parameter {name:?}: cannot parse {raw:?} to a valid timestamp")
        })
}

/// A step as seconds (`15`, `0.5`) or a duration (`15s`, `1m`).
fn parse_step(raw: &str) -> Result<i64, String> {
    let ms = match raw.parse::<f64>() {
        Ok(secs) if secs.is_finite() => (secs * 1000.0).round() as i64,
        Ok(_) => return Err(format!("invalid parameter \"step\": {raw:?}")),
        Err(_) => humantime::parse_duration(raw)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .map_err(|_| {
                format!("invalid parameter \"step\": cannot parse {raw:?} to a valid duration")
            })?,
    };
    if ms <= 0 {
        return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
    }
    Ok(ms)
}

pub async fn series(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    RawForm(form): RawForm,
) -> Response {
    let params = params(&method, query, &form);
    let raw_selectors: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if raw_selectors.is_empty() {
        return bad("no match[] parameter provided");
    }
    if raw_selectors.len() > MAX_SELECTORS {
        return bad(format!("at most {MAX_SELECTORS} match[] parameters"));
    }
    let mut selectors = Vec::with_capacity(raw_selectors.len());
    for raw in raw_selectors {
        match Selector::parse(raw) {
            Ok(s) => selectors.push(s),
            Err(e) => return error(ErrorResponse::from(&e)),
        }
    }
    let now = state.clock.now_ms();
    let start = match one(&params, "start")
        .map(|v| parse_time("start", v))
        .transpose()
    {
        Ok(v) => v.unwrap_or(i64::MIN),
        Err(e) => return bad(e),
    };
    let end = match one(&params, "end")
        .map(|v| parse_time("end", v))
        .transpose()
    {
        Ok(v) => v.unwrap_or(now + 3_600_000),
        Err(e) => return bad(e),
    };
    if end < start {
        return bad("end timestamp must not be before start time");
    }
    let store = state.series.clone();
    let found = tokio::task::spawn_blocking(move || store.series(&selectors, start, end)).await;
    match found {
        Ok(labels) => axum::Json(SeriesResponse::new(labels)).into_response(),
        Err(_) => error(ErrorResponse::new(
            aiops_core::prom_json::ErrorType::Internal,
            "query failed",
        )),
    }
}

pub async fn query_range(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    RawForm(form): RawForm,
) -> Response {
    let params = params(&method, query, &form);
    let Some(query) = one(&params, "query") else {
        return bad("invalid parameter \"query\": missing");
    };
    let selector = match Selector::parse(query) {
        Ok(s) => s,
        Err(e) => {
            return bad(format!(
                "invalid parameter \"query\": only plain series selectors are supported: {e}"
            ));
        }
    };
    let (Some(start), Some(end), Some(step)) = (
        one(&params, "start"),
        one(&params, "end"),
        one(&params, "step"),
    ) else {
        return bad("query_range needs start, end and step");
    };
    let start = match parse_time("start", start) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let end = match parse_time("end", end) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let step = match parse_step(step) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let store = state.series.clone();
    let result = tokio::task::spawn_blocking(move || {
        store.query_range(
            &selector,
            start,
            end,
            step,
            aiops_core::limits::DEFAULT_LOOKBACK_MS,
        )
    })
    .await;
    match result {
        Ok(Ok(series)) => axum::Json(MatrixResponse::new(series)).into_response(),
        Ok(Err(e)) => error(ErrorResponse::from(&e as &QueryError)),
        Err(_) => error(ErrorResponse::new(
            aiops_core::prom_json::ErrorType::Internal,
            "query failed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps_parse_like_prometheus() {
        assert_eq!(parse_time("start", "1700000000.5"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("start", "2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert!(parse_time("start", "yesterday").is_err());
        assert!(parse_time("start", "1e300").is_err());
        assert_eq!(parse_step("15"), Ok(15_000));
        assert_eq!(parse_step("1m"), Ok(60_000));
        assert!(parse_step("0").is_err());
        assert!(parse_step("-5").is_err());
        assert!(parse_step("soon").is_err());
    }
}
