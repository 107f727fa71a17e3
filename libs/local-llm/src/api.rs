//! Ollama's HTTP API, the part clients use: `POST /api/chat`,
//! `POST /api/generate` (streamed as NDJSON unless `"stream": false`),
//! `GET /api/tags`, `GET /api/version`. Errors are `{"error": "..."}`
//! with the status Ollama gives.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::model::{GenerateError, Generation, LocalModel, Request};

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Requests waiting for the model beyond this are refused (503).
const MAX_WAITING: usize = 16;

#[derive(Clone)]
pub struct ApiState {
    model: Arc<LocalModel>,
    /// One generation at a time: the model uses every core.
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

pub fn app(model: Arc<LocalModel>) -> Router {
    let state = ApiState {
        model,
        running: Arc::new(Semaphore::new(1)),
        waiting: Arc::new(AtomicUsize::new(0)),
    };
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/generate", post(generate))
        .route("/api/tags", get(tags))
        .route("/api/version", get(version))
        .route("/", get(|| async { "Ollama is running" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

impl From<GenerateError> for ApiError {
    fn from(e: GenerateError) -> Self {
        let status = match e {
            GenerateError::Template(_)
            | GenerateError::Format(_)
            | GenerateError::TooLong { .. } => StatusCode::BAD_REQUEST,
            GenerateError::Load(_) | GenerateError::Llama(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

#[derive(Debug, Deserialize, Default)]
struct Options {
    temperature: Option<f32>,
    seed: Option<i64>,
    num_predict: Option<i64>,
    num_ctx: Option<i64>,
    repeat_penalty: Option<f32>,
    repeat_last_n: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    model: String,
    #[serde(default)]
    messages: Vec<Message>,
    format: Option<Value>,
    #[serde(default)]
    options: Option<Options>,
    stream: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct GenerateBody {
    model: String,
    #[serde(default)]
    prompt: String,
    system: Option<String>,
    #[serde(default)]
    raw: bool,
    format: Option<Value>,
    #[serde(default)]
    options: Option<Options>,
    stream: Option<bool>,
}

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

fn request_of(
    prompt: String,
    format: Option<Value>,
    options: Option<Options>,
) -> Result<Request, ApiError> {
    let options = options.unwrap_or_default();
    let positive = |name: &str, v: Option<i64>| -> Result<Option<u32>, ApiError> {
        match v {
            // Ollama: a negative num_predict means "until the end"
            Some(n) if n < 0 && name == "num_predict" => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("options.{name} out of range: {n}"),
                )
            }),
            None => Ok(None),
        }
    };
    // Ollama reads an empty or null format as none
    let format = format.filter(|f| !f.is_null() && f.as_str() != Some(""));
    Ok(Request {
        prompt,
        format,
        temperature: options.temperature.unwrap_or(0.8),
        seed: options.seed.unwrap_or(0) as u32,
        num_predict: positive("num_predict", options.num_predict)?,
        num_ctx: positive("num_ctx", options.num_ctx)?,
        repeat_penalty: match options.repeat_penalty {
            Some(p) if !(p > 0.0 && p.is_finite()) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("options.repeat_penalty must be above 0, got {p}"),
                ));
            }
            Some(p) => p,
            None => 1.1,
        },
        repeat_last_n: options.repeat_last_n.unwrap_or(64).max(-1),
    })
}

fn check_model(state: &ApiState, name: &str) -> Result<(), ApiError> {
    let served = state.model.name();
    // Ollama accepts a name without its tag as ":latest"
    if name == served
        || name.strip_suffix(":latest") == Some(served)
        || format!("{name}:latest") == served
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("model \"{name}\" not found, try pulling it first"),
    ))
}

async fn chat(
    State(state): State<ApiState>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    check_model(&state, &body.model)?;
    if body.messages.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "messages must not be empty",
        ));
    }
    if let Some(m) = body
        .messages
        .iter()
        .find(|m| !ROLES.contains(&m.role.as_str()))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid role \"{}\": one of {}", m.role, ROLES.join(", ")),
        ));
    }
    let turns: Vec<(String, String)> = body
        .messages
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let prompt = state.model.chat_prompt(&turns)?;
    let request = request_of(prompt, body.format, body.options)?;
    run(state, request, body.stream.unwrap_or(true), Shape::Chat).await
}

async fn generate(
    State(state): State<ApiState>,
    body: Result<Json<GenerateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    check_model(&state, &body.model)?;
    let prompt = if body.raw {
        body.prompt
    } else {
        let mut turns = Vec::new();
        if let Some(system) = body.system {
            turns.push(("system".to_string(), system));
        }
        turns.push(("user".to_string(), body.prompt));
        state.model.chat_prompt(&turns)?
    };
    let request = request_of(prompt, body.format, body.options)?;
    run(state, request, body.stream.unwrap_or(true), Shape::Generate).await
}

#[derive(Clone, Copy)]
enum Shape {
    Chat,
    Generate,
}

impl Shape {
    fn piece(self, model: &str, text: &str) -> Value {
        let now = chrono::Utc::now().to_rfc3339();
        match self {
            Shape::Chat => json!({
                "model": model, "created_at": now,
                "message": {"role": "assistant", "content": text}, "done": false,
            }),
            Shape::Generate => json!({
                "model": model, "created_at": now, "response": text, "done": false,
            }),
        }
    }

    fn last(self, model: &str, text: &str, g: &Generation, total_ns: u128) -> Value {
        let mut v = self.piece(model, text);
        if let Value::Object(m) = &mut v {
            m.insert("done".into(), json!(true));
            m.insert("done_reason".into(), json!(g.done_reason));
            m.insert("total_duration".into(), json!(total_ns as u64));
            m.insert("load_duration".into(), json!(0));
            m.insert("prompt_eval_count".into(), json!(g.prompt_tokens));
            m.insert(
                "prompt_eval_duration".into(),
                json!(g.prompt_eval.as_nanos() as u64),
            );
            m.insert("eval_count".into(), json!(g.completion_tokens));
            m.insert("eval_duration".into(), json!(g.eval.as_nanos() as u64));
            if let Shape::Generate = self {
                m.insert("context".into(), json!([]));
            }
        }
        v
    }
}

/// Waits for the model (bounded), then generates on a blocking thread.
async fn run(
    state: ApiState,
    request: Request,
    stream: bool,
    shape: Shape,
) -> Result<Response, ApiError> {
    if state.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
        state.waiting.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server busy, please try again",
        ));
    }
    let permit = state.running.clone().acquire_owned().await;
    state.waiting.fetch_sub(1, Ordering::SeqCst);
    let permit =
        permit.map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server stopping"))?;
    let started = Instant::now();
    let model = state.model.clone();
    let name = model.name().to_string();
    if !stream {
        let generation = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            model.generate(&request, &mut |_| true)
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
        let body = shape.last(
            &name,
            &generation.text,
            &generation,
            started.elapsed().as_nanos(),
        );
        return Ok(Json(body).into_response());
    }
    let (tx, rx) = mpsc::channel::<Result<String, std::io::Error>>(64);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let piece_tx = tx.clone();
        let name_for_pieces = name.clone();
        let result = model.generate(&request, &mut |piece| {
            let line = format!("{}\n", shape.piece(&name_for_pieces, piece));
            piece_tx.blocking_send(Ok(line)).is_ok()
        });
        let last = match result {
            Ok(g) => shape.last(&name, "", &g, started.elapsed().as_nanos()),
            // headers are sent: the error goes in the stream, as Ollama does
            Err(e) => json!({ "error": e.to_string() }),
        };
        let _ = tx.blocking_send(Ok(format!("{last}\n")));
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn tags(State(state): State<ApiState>) -> Json<Value> {
    let name = state.model.name();
    Json(json!({
        "models": [{
            "name": name,
            "model": name,
            "modified_at": chrono::Utc::now().to_rfc3339(),
            "size": state.model.size(),
            "digest": "",
            "details": {"format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "135M", "quantization_level": "Q4_1"}
        }]
    }))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": concat!("0.0.0-local-llm-", env!("CARGO_PKG_VERSION")) }))
}
