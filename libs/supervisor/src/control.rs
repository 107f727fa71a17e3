//! The supervisor's control API, for programs that act on processes they
//! did not start (the engine's remediation): every route needs the bearer
//! token, compared in constant time; errors are JSON with a code and a
//! message.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/processes` | `{"data":[state, ...]}` |
//! | `GET /v1/processes/{name}` | `{"data":state}` |
//! | `POST /v1/processes/{name}/restart` | restart it; answers its state once started again |
//! | `POST /v1/processes/{name}/deploy` | body `{"version":"..","env":{..}}`: start that release |
//! | `POST /v1/processes/{name}/rollback` | start the previous release again (409 without one) |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::{ControlError, Release, Supervisor};

/// Request bodies are small (a release's environment).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct Ctx {
    supervisor: Arc<Supervisor>,
    token: Arc<[u8]>,
}

/// The control API over `supervisor`, guarded by `token`.
pub fn router(supervisor: Arc<Supervisor>, token: &str) -> Router {
    let ctx = Ctx {
        supervisor,
        token: Arc::from(token.as_bytes()),
    };
    Router::new()
        .route("/v1/processes", get(list))
        .route("/v1/processes/{name}", get(one))
        .route("/v1/processes/{name}/restart", post(restart))
        .route("/v1/processes/{name}/deploy", post(deploy))
        .route("/v1/processes/{name}/rollback", post(rollback))
        .route_layer(middleware::from_fn_with_state(ctx.clone(), authorise))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

/// Serves the control API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    supervisor: Arc<Supervisor>,
    token: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(supervisor, token))
        .with_graceful_shutdown(shutdown)
        .await
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn authorise(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if bool::from(token.as_bytes().ct_eq(&ctx.token)) => next.run(request).await,
        Some(_) => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not this supervisor's".into(),
        ),
        None => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <token>".into(),
        ),
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ControlError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_process"),
            ControlError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate"),
            ControlError::NoPreviousRelease(_) => (StatusCode::CONFLICT, "no_previous_release"),
            ControlError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            ControlError::Stopped(_) => (StatusCode::CONFLICT, "stopped"),
            ControlError::Start(..) => (StatusCode::BAD_GATEWAY, "start_failed"),
        };
        error(status, code, self.to_string())
    }
}

async fn list(State(ctx): State<Ctx>) -> Response {
    Json(json!({"data": ctx.supervisor.states()})).into_response()
}

async fn one(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    match ctx.supervisor.state(&name) {
        Some(state) => Json(json!({"data": state})).into_response(),
        None => ControlError::Unknown(name).into_response(),
    }
}

fn answered(result: Result<crate::ProcessState, ControlError>) -> Response {
    match result {
        Ok(state) => Json(json!({"data": state})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn restart(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    answered(ctx.supervisor.restart(&name).await)
}

async fn rollback(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    answered(ctx.supervisor.rollback(&name).await)
}

/// Environment entries of a release at most, and their sizes.
const MAX_ENV: usize = 64;
const MAX_ENV_NAME: usize = 128;
const MAX_VERSION: usize = 128;

async fn deploy(State(ctx): State<Ctx>, Path(name): Path<String>, body: Bytes) -> Response {
    let release: Release = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_release",
                format!("a release is {{\"version\":\"..\",\"env\":{{\"NAME\":\"value\"}}}}: {e}"),
            );
        }
    };
    if let Err(why) = check_release(&release) {
        return error(StatusCode::BAD_REQUEST, "invalid_release", why);
    }
    answered(ctx.supervisor.deploy(&name, release).await)
}

fn check_release(release: &Release) -> Result<(), String> {
    if release.version.len() > MAX_VERSION || release.version.chars().any(char::is_control) {
        return Err(format!(
            "version: at most {MAX_VERSION} characters, none of them control characters"
        ));
    }
    if release.env.len() > MAX_ENV {
        return Err(format!("env: at most {MAX_ENV} variables"));
    }
    for name in release.env.keys() {
        let valid = !name.is_empty()
            && name.len() <= MAX_ENV_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "env: {name:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_ENV_NAME})"
            ));
        }
    }
    if release.env.values().any(|v| v.contains('\0')) {
        return Err("env: a value holds a NUL byte".into());
    }
    Ok(())
}
