//! The call to a model: Ollama's chat API through ollama-rs, or an
//! OpenAI-compatible `/v1/chat/completions`, asking for JSON of a given
//! schema, with a timeout and bounded retries of transport failures.

use std::time::Duration;

use ollama_rs::Ollama;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::{ChatMessage, MessageRole};
use ollama_rs::generation::parameters::{FormatType, JsonStructure};
use ollama_rs::models::ModelOptions;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which protocol the model server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Ollama's `/api/chat`.
    Ollama,
    /// `/v1/chat/completions` (OpenAI, vLLM, llama.cpp's server, LM Studio...).
    Openai,
}

/// How to reach the model and how much one call may take.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEndpoint {
    pub api: Api,
    /// Base URL, e.g. `http://127.0.0.1:11434`.
    pub url: String,
    pub model: String,
    /// Bearer token for OpenAI-compatible servers that want one.
    pub api_key: Option<String>,
    /// One attempt's deadline, connection to last byte.
    pub timeout: Duration,
    /// Attempts per call when the transport fails or the server answers
    /// 5xx (at least 1).
    pub attempts: u32,
    /// The longest answer asked for, in tokens.
    pub max_output_tokens: u32,
}

/// A message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

/// What the model said and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Why a call gave no answer; `reason` is a bounded label for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub reason: &'static str,
    pub detail: String,
    /// Worth another attempt (timeouts, refused connections, 5xx).
    pub transient: bool,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The most of an OpenAI-compatible answer read; a larger one is refused.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// First pause between attempts; doubled each time.
const RETRY_PAUSE: Duration = Duration::from_millis(300);

/// A client of one model endpoint.
#[derive(Debug, Clone)]
pub struct ChatClient {
    endpoint: ModelEndpoint,
    http: reqwest::Client,
    ollama: Option<Ollama>,
}

impl ChatClient {
    pub fn new(endpoint: ModelEndpoint) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("llm client: {e}"))?;
        let ollama = match endpoint.api {
            Api::Ollama => {
                let url = reqwest::Url::parse(&endpoint.url)
                    .map_err(|e| format!("llm url {:?}: {e}", endpoint.url))?;
                Some(
                    Ollama::builder()
                        .url(url)
                        .reqwest_client(http.clone())
                        .build(),
                )
            }
            Api::Openai => None,
        };
        Ok(Self {
            endpoint,
            http,
            ollama,
        })
    }

    pub fn endpoint(&self) -> &ModelEndpoint {
        &self.endpoint
    }

    /// Asks for an answer in JSON matching `schema`, retrying transient
    /// failures up to the endpoint's attempts.
    pub async fn chat(&self, turns: &[Turn], schema: &Value) -> Result<Answer, CallError> {
        let attempts = self.endpoint.attempts.max(1);
        let mut pause = RETRY_PAUSE;
        let mut last = None;
        for attempt in 1..=attempts {
            let result = match self.endpoint.api {
                Api::Ollama => self.chat_ollama(turns, schema).await,
                Api::Openai => self.chat_openai(turns, schema).await,
            };
            match result {
                Ok(answer) => return Ok(answer),
                Err(e) if e.transient && attempt < attempts => {
                    last = Some(e);
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(CallError {
            reason: "no_attempt",
            detail: "no attempt was made".into(),
            transient: false,
        }))
    }

    async fn chat_ollama(&self, turns: &[Turn], schema: &Value) -> Result<Answer, CallError> {
        let Some(ollama) = &self.ollama else {
            return Err(CallError {
                reason: "config",
                detail: "no ollama client".into(),
                transient: false,
            });
        };
        let messages = turns
            .iter()
            .map(|t| {
                let role = match t.role {
                    Role::System => MessageRole::System,
                    Role::User => MessageRole::User,
                    Role::Assistant => MessageRole::Assistant,
                };
                ChatMessage::new(role, t.content.clone())
            })
            .collect();
        let schema = schemars::Schema::try_from(schema.clone()).map_err(|e| CallError {
            reason: "config",
            detail: format!("answer schema: {e}"),
            transient: false,
        })?;
        let request = ChatMessageRequest::new(self.endpoint.model.clone(), messages)
            .format(FormatType::StructuredJson(Box::new(
                JsonStructure::new_for_schema(schema),
            )))
            // greedy and seeded: the same evidence gets the same summary
            .options(
                ModelOptions::default()
                    .temperature(0.0)
                    .seed(0)
                    .num_predict(
                        i32::try_from(self.endpoint.max_output_tokens).unwrap_or(i32::MAX),
                    ),
            );
        let response = ollama
            .send_chat_messages(request)
            .await
            .map_err(ollama_error)?;
        let (prompt_tokens, completion_tokens) = response
            .final_data
            .as_ref()
            .map_or((0, 0), |d| (d.prompt_eval_count, d.eval_count));
        Ok(Answer {
            content: response.message.content,
            prompt_tokens,
            completion_tokens,
        })
    }

    async fn chat_openai(&self, turns: &[Turn], schema: &Value) -> Result<Answer, CallError> {
        let messages: Vec<Value> = turns
            .iter()
            .map(|t| {
                let role = match t.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": t.content})
            })
            .collect();
        let body = json!({
            "model": self.endpoint.model,
            "messages": messages,
            "temperature": 0,
            "seed": 0,
            "max_tokens": self.endpoint.max_output_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            },
        });
        let url = format!(
            "{}/v1/chat/completions",
            self.endpoint.url.trim_end_matches('/')
        );
        let mut request = self.http.post(url).json(&body);
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(reqwest_error)?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(reqwest_error)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CallError {
                    reason: "oversized",
                    detail: format!("answer over {MAX_ANSWER_BYTES} bytes"),
                    transient: false,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(CallError {
                reason: "status",
                detail: format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                ),
                transient: status.is_server_error() || status.as_u16() == 429,
            });
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| CallError {
            reason: "malformed",
            detail: format!("answer is not JSON: {e}"),
            transient: false,
        })?;
        let content = value
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError {
                reason: "malformed",
                detail: "answer has no choices[0].message.content".into(),
                transient: false,
            })?;
        let count = |k: &str| {
            value
                .pointer(&format!("/usage/{k}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Ok(Answer {
            content: content.to_owned(),
            prompt_tokens: count("prompt_tokens"),
            completion_tokens: count("completion_tokens"),
        })
    }
}

fn reqwest_error(e: reqwest::Error) -> CallError {
    CallError {
        reason: if e.is_timeout() {
            "timeout"
        } else {
            "transport"
        },
        detail: e.to_string(),
        transient: true,
    }
}

fn ollama_error(e: ollama_rs::error::OllamaError) -> CallError {
    use ollama_rs::error::OllamaError;
    match e {
        OllamaError::ReqwestError(e) => reqwest_error(e),
        OllamaError::JsonError(e) => CallError {
            reason: "malformed",
            detail: format!("answer is not Ollama's JSON: {e}"),
            transient: false,
        },
        // a non-2xx answer: ollama-rs keeps only the body, and Ollama's own
        // errors (unknown model, bad request) do not heal on a retry, but an
        // overloaded server's do; the body says which
        OllamaError::Other(body) => {
            let transient = !body.contains("not found") && !body.contains("invalid");
            CallError {
                reason: "status",
                detail: body.chars().take(300).collect(),
                transient,
            }
        }
        other => CallError {
            reason: "other",
            detail: other.to_string(),
            transient: false,
        },
    }
}
