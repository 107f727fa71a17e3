//! A client of the control API ([`crate::control`]): what the engine's
//! process executor speaks to act on a supervisor it did not start.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ProcessState, Release};

/// A refused or failed request, with the status and the reason the
/// supervisor gave (or why none was heard).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// The HTTP status; `None` when the supervisor could not be reached.
    pub status: Option<u16>,
    /// The supervisor's error code (`unknown_process`, `no_previous_release`, ...).
    pub code: String,
    pub message: String,
}

#[derive(Clone)]
pub struct SupervisorClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for SupervisorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SupervisorClient {
    /// `base` is the control API's root (`http://127.0.0.1:9801`); `timeout`
    /// bounds one request, which includes the time a process takes to stop
    /// (its grace) and start again.
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| unreachable_error(&e))?;
        Ok(SupervisorClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn list(&self) -> Result<Vec<ProcessState>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/processes", None).await
    }

    pub async fn state(&self, name: &str) -> Result<ProcessState, ClientError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/processes/{}", segment(name)),
            None,
        )
        .await
    }

    pub async fn restart(&self, name: &str) -> Result<ProcessState, ClientError> {
        self.post(name, "restart", None).await
    }

    pub async fn rollback(&self, name: &str) -> Result<ProcessState, ClientError> {
        self.post(name, "rollback", None).await
    }

    pub async fn deploy(&self, name: &str, release: &Release) -> Result<ProcessState, ClientError> {
        let body = serde_json::to_value(release).map_err(|e| ClientError {
            status: None,
            code: "invalid_release".into(),
            message: e.to_string(),
        })?;
        self.post(name, "deploy", Some(body)).await
    }

    async fn post(
        &self,
        name: &str,
        what: &str,
        body: Option<Value>,
    ) -> Result<ProcessState, ClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/processes/{}/{what}", segment(name)),
            body,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| unreachable_error(&e))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| ClientError {
            status: Some(status.as_u16()),
            code: "invalid_answer".into(),
            message: format!("the supervisor answered {status} with no JSON: {e}"),
        })?;
        if !status.is_success() {
            let error = value.get("error");
            let field = |name: &str| {
                error
                    .and_then(|e| e.get(name))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(ClientError {
                status: Some(status.as_u16()),
                code: field("code"),
                message: match field("message") {
                    m if m.is_empty() => format!("the supervisor answered {status}"),
                    m => m,
                },
            });
        }
        serde_json::from_value(value.get("data").cloned().unwrap_or(Value::Null)).map_err(|e| {
            ClientError {
                status: Some(status.as_u16()),
                code: "invalid_answer".into(),
                message: format!("the supervisor's answer is not a process state: {e}"),
            }
        })
    }
}

fn unreachable_error(e: &reqwest::Error) -> ClientError {
    ClientError {
        status: None,
        code: "unreachable".into(),
        message: format!("the supervisor did not answer: {e}"),
    }
}

/// A process name as one path segment (names are plain words; anything
/// else is escaped rather than trusted).
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
