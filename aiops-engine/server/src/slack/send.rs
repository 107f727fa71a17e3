//! Incident messages to Slack through slack-morphism's Web API client:
//! the first message to a channel is the parent (`chat.postMessage` with
//! Block Kit); each later one edits the parent to the current state
//! (`chat.update`, idempotent, so a retry never duplicates it) and then
//! replies in its thread. A 429 is obeyed: the sender says how long Slack
//! asked to wait, and nothing goes to Slack before then.

use std::time::Duration;

use aiops_notify::message::Facts;
use aiops_notify::routing::SlackTarget;
use aiops_notify::{Entry, Kind};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::blocks;
use crate::config::SlackConfig;

type Client = SlackClient<SlackClientHyperConnector<HttpsConnector<HttpConnector>>>;

/// Why a message did not go.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Slack's 429: wait this long before the next call.
    RateLimited(Duration),
    Failed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RateLimited(wait) => {
                write!(f, "rate limited by Slack: retry after {} s", wait.as_secs())
            }
            Failure::Failed(why) => f.write_str(why),
        }
    }
}

/// Slack's answer when it asks for a pause but names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest pause obeyed (a larger Retry-After is treated as this).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

fn failure(e: SlackClientError) -> Failure {
    match e {
        SlackClientError::RateLimitError(r) => Failure::RateLimited(
            r.retry_after
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(MAX_RETRY_AFTER),
        ),
        SlackClientError::ApiError(api) => Failure::Failed(format!("slack said {}", api.code)),
        SlackClientError::HttpError(http) => {
            Failure::Failed(format!("slack answered {}", http.status_code))
        }
        other => Failure::Failed(other.to_string()),
    }
}

pub struct Sender {
    client: Client,
    token: SlackApiToken,
}

impl Sender {
    pub fn new(config: &SlackConfig) -> Self {
        // http too: a local Slack stand-in in tests; Slack itself is https
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(&config.api_url);
        Sender {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue(config.bot_token.0.clone())),
        }
    }

    /// Sends one message. Without a parent in the channel yet (`thread`
    /// is `None`), whatever the kind, the parent is posted and where it
    /// went (`<channel>/<ts>`) is returned for the log.
    pub async fn send(
        &self,
        target: &SlackTarget,
        entry: &Entry,
        facts: &Facts,
        thread: Option<&str>,
    ) -> Result<Option<String>, Failure> {
        let session = self.client.open_session(&self.token);
        let content = SlackMessageContent::new()
            .with_text(blocks::fallback(facts))
            .with_blocks(blocks::parent(facts));
        let Some((channel, ts)) = thread.and_then(|t| t.split_once('/')) else {
            let posted = session
                .chat_post_message(&SlackApiChatPostMessageRequest::new(
                    target.channel.clone().into(),
                    content,
                ))
                .await
                .map_err(failure)?;
            return Ok(Some(format!("{}/{}", posted.channel.0, posted.ts.0)));
        };
        let channel: SlackChannelId = channel.to_owned().into();
        let ts: SlackTs = ts.to_owned().into();
        session
            .chat_update(&SlackApiChatUpdateRequest::new(
                channel.clone(),
                content,
                ts.clone(),
            ))
            .await
            .map_err(failure)?;
        let reply = SlackApiChatPostMessageRequest::new(
            channel,
            SlackMessageContent::new().with_text(aiops_notify::slack::thread_text(entry, facts)),
        )
        .with_thread_ts(ts)
        // a nudge is seen in the channel too, not only in the thread
        .with_reply_broadcast(matches!(entry.kind, Kind::Repeat | Kind::Escalate));
        session.chat_post_message(&reply).await.map_err(failure)?;
        Ok(None)
    }
}
