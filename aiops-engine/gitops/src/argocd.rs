//! Argo CD's API: after a push, wait until the application reports the
//! pushed revision Synced and Healthy, or say why not.

use std::time::Duration;

use serde_json::Value;

use crate::repo::{GitOpsError, short};

#[derive(Debug, Clone, Copy)]
pub struct SyncWait {
    pub poll: Duration,
    pub timeout: Duration,
}

pub struct ArgoCd {
    url: String,
    token: String,
    app: String,
    http: reqwest::Client,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, k| &v[k]).as_str().unwrap_or("")
}

impl ArgoCd {
    /// `url` is Argo CD's server (`https://argocd.example`), `token` an
    /// API token of an account that may get the application.
    pub fn new(url: &str, token: &str, app: &str) -> Result<Self, GitOpsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| GitOpsError::ArgoCd(format!("no http client: {e}")))?;
        Ok(ArgoCd {
            url: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            app: app.to_owned(),
            http,
        })
    }

    async fn application(&self, refresh: bool) -> Result<Value, GitOpsError> {
        let mut request = self
            .http
            .get(format!("{}/api/v1/applications/{}", self.url, self.app))
            .bearer_auth(&self.token);
        if refresh {
            // look at git now, not at the next poll of the repository
            request = request.query(&[("refresh", "normal")]);
        }
        let response = request
            .send()
            .await
            .map_err(|e| GitOpsError::ArgoCd(format!("not reached: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(GitOpsError::ArgoCd(format!(
                "application {} answered {status}: {}",
                self.app,
                body.chars().take(300).collect::<String>()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| GitOpsError::ArgoCd(format!("not an application: {e}")))
    }

    /// Polls until the application has synced `revision` and is healthy;
    /// fails at once when the sync of that revision failed.
    pub async fn wait_synced(&self, revision: &str, wait: SyncWait) -> Result<String, GitOpsError> {
        let started = tokio::time::Instant::now();
        let mut first = true;
        loop {
            let app = self.application(first).await?;
            first = false;
            let synced = text(&app, &["status", "sync", "revision"]);
            let sync = text(&app, &["status", "sync", "status"]);
            let health = text(&app, &["status", "health", "status"]);
            let operation = &app["status"]["operationState"];
            let phase = text(operation, &["phase"]);
            let operated = text(operation, &["syncResult", "revision"]);
            if operated == revision && matches!(phase, "Failed" | "Error") {
                return Err(GitOpsError::ArgoCd(format!(
                    "the sync of {} failed: {}",
                    short(revision),
                    text(operation, &["message"])
                )));
            }
            if synced == revision && sync == "Synced" && health == "Healthy" {
                return Ok(format!(
                    "argo cd application {} synced {} and healthy",
                    self.app,
                    short(revision)
                ));
            }
            if started.elapsed() >= wait.timeout {
                return Err(GitOpsError::ArgoCd(format!(
                    "application {} not synced to {} and healthy after {} s (sync {sync} at {}, health {health})",
                    self.app,
                    short(revision),
                    wait.timeout.as_secs(),
                    short(synced)
                )));
            }
            tokio::time::sleep(wait.poll).await;
        }
    }
}
