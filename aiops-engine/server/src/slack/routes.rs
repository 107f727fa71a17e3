//! The endpoints Slack calls. Both are form-encoded and signed: a request
//! that is unsigned, forged, outside the five-minute window or replayed
//! gets 401 and does nothing. Buttons act as the console user the Slack
//! user maps to, with that user's role; the outcome goes back to the
//! person who clicked (Slack's `response_url`, ephemeral), and the change
//! itself reaches the channel as the incident's next thread message.

use std::time::Duration;

use aiops_notify::Silence;
use aiops_notify::message::clip;
use aiops_notify::slack::{Command, escape};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use slack_morphism::prelude::*;

use super::blocks;
use crate::config::{Role, SlackConfig};
use crate::routes::incidents::{ApiError, Transition, change_state};
use crate::state::AppState;

/// How long the silence button silences.
const SILENCE_FOR_MS: i64 = 60 * 60 * 1000;
/// Incidents listed by `/aiops incidents` at most.
const LISTED: usize = 15;

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({"ok": false, "error": why.into()}))).into_response()
}

/// The Slack app's settings, and the request admitted once; or the reply.
fn admit<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'a SlackConfig, Box<Response>> {
    let Some(slack) = state
        .config
        .notifications
        .as_ref()
        .and_then(|n| n.slack.as_ref())
    else {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            "the slack bot is not configured (notifications.slack)",
        )));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now_s = state.clock.now_ms().div_euclid(1000);
    state
        .notifier
        .replays
        .lock()
        .admit(
            slack.signing_secret.0.as_bytes(),
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            body,
            now_s,
        )
        .map_err(|refusal| {
            tracing::warn!(reason = %refusal, "a request claiming to be slack's was refused");
            Box::new(refuse(StatusCode::UNAUTHORIZED, refusal.to_string()))
        })?;
    Ok(slack)
}

/// Who a Slack user acts as, if they may do what needs `role`.
fn allowed(state: &AppState, slack_user: &str, needs: Role) -> Result<String, String> {
    match super::person(state, slack_user) {
        None => Err(format!(
            "your Slack user {} is not mapped to a console user (notifications.slack.users)",
            escape(slack_user)
        )),
        Some((name, role)) if role < needs => Err(format!(
            "{name} is a {}: this needs a {}",
            role.as_str(),
            needs.as_str()
        )),
        Some((name, _)) => Ok(name),
    }
}

fn api_error(e: ApiError) -> String {
    match e {
        ApiError::BadRequest(m)
        | ApiError::NotFound(m)
        | ApiError::Conflict(m)
        | ApiError::Storage(m) => m,
    }
}

/// `POST /slack/interactions`: a button was pressed.
pub async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let slack = match admit(&state, &headers, &body) {
        Ok(s) => s.clone(),
        Err(reply) => return *reply,
    };
    let Some(payload) = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
    else {
        return refuse(StatusCode::BAD_REQUEST, "no payload field in the form");
    };
    let event: SlackInteractionEvent = match serde_json::from_str(&payload) {
        Ok(e) => e,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the payload is not a slack interaction: {e}"),
            );
        }
    };
    let SlackInteractionEvent::BlockActions(event) = event else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "only block_actions are handled (the incident message's buttons)",
        );
    };
    let Some(user) = event.user.as_ref() else {
        return refuse(StatusCode::BAD_REQUEST, "the payload names no user");
    };
    let actions = event.actions.clone().unwrap_or_default();
    if actions.is_empty() || actions.len() > 5 {
        return refuse(StatusCode::BAD_REQUEST, "a payload carries 1 to 5 actions");
    }
    let mut outcomes = Vec::new();
    for action in &actions {
        let value = action.value.clone().unwrap_or_default();
        let outcome = act(&state, &user.id.0, &action.action_id.0, &value).await;
        tracing::info!(slack_user = %user.id.0, action = %action.action_id.0, value = %value, outcome = %outcome, "slack button");
        outcomes.push(outcome);
    }
    if let Some(url) = &event.response_url {
        reply(&slack, url.0.as_str(), &outcomes.join("\n")).await;
    }
    StatusCode::OK.into_response()
}

/// One button: what it did, or why not, in a line for the person.
async fn act(state: &AppState, slack_user: &str, action_id: &str, value: &str) -> String {
    let by = match allowed(state, slack_user, Role::Responder) {
        Ok(name) => name,
        Err(why) => return format!("Refused: {why}."),
    };
    let valid = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return "Refused: the button carries no valid id.".into();
    }
    let who = format!("{by} (slack)");
    let transition = |to| change_state(state, value, &who, to);
    match action_id {
        blocks::ACK => match transition(Transition::Acknowledge).await {
            Ok(_) => format!("Acknowledged `{value}` as {by}."),
            Err(e) => format!("Not acknowledged: {}", api_error(e)),
        },
        blocks::RESOLVE => match transition(Transition::Resolve).await {
            Ok(_) => format!("Resolved `{value}` as {by}."),
            Err(e) => format!("Not resolved: {}", api_error(e)),
        },
        blocks::SILENCE => {
            let until_ms = state.clock.now_ms() + SILENCE_FOR_MS;
            let silence = Silence {
                id: format!("slack-{value}-{until_ms}"),
                services: Vec::new(),
                incident_id: Some(value.to_owned()),
                until_ms,
                by: who.clone(),
                reason: "silenced for 1 h from slack".into(),
            };
            match crate::notifications::add_silence(state, silence).await {
                Ok(()) => format!("Silenced `{value}` for 1 h as {by}."),
                Err(e) => format!("Not silenced: {e}"),
            }
        }
        blocks::APPROVE | blocks::DENY => {
            let approve = action_id == blocks::APPROVE;
            match crate::remediation::decide_approval(state, value, approve, &who, "").await {
                Ok(record) => format!("`{value}` is {} ({by}).", record.state.as_str()),
                Err(crate::remediation::ActionRefusal::NotFound) => {
                    format!("No action `{value}`.")
                }
                Err(
                    crate::remediation::ActionRefusal::Conflict(why)
                    | crate::remediation::ActionRefusal::Storage(why),
                ) => format!("Not done: {why}"),
            }
        }
        other => format!("Unknown button {}.", escape(&clip(other, 60))),
    }
}

/// Tells the person who pressed a button what came of it (ephemeral),
/// only at Slack's own address.
async fn reply(slack: &SlackConfig, response_url: &str, text: &str) {
    if !response_url.starts_with(&slack.response_url_prefix) {
        tracing::warn!(url = %clip(response_url, 200), "a response_url outside notifications.slack.response_url_prefix is not called");
        return;
    }
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build();
    let sent = match client {
        Ok(c) => c.post(response_url).json(&body).send().await,
        Err(e) => {
            tracing::warn!(error = %e, "no http client for the slack reply");
            return;
        }
    };
    if let Err(e) = sent.and_then(|r| r.error_for_status()) {
        tracing::warn!(error = %e, "the reply to a slack button was not delivered");
    }
}

/// `POST /slack/commands`: `/aiops incidents | ack <id> | status <service>`.
pub async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reply) = admit(&state, &headers, &body) {
        return *reply;
    }
    let command: SlackCommandEvent = match serde_urlencoded::from_bytes(&body) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the form is not a slack command: {e}"),
            );
        }
    };
    let text = match aiops_notify::slack::parse_command(command.text.as_deref().unwrap_or("")) {
        Ok(parsed) => run(&state, &command.user_id.0, parsed).await,
        Err(usage) => escape(&usage),
    };
    let response = SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
        .with_response_type(SlackMessageResponseType::Ephemeral);
    Json(response).into_response()
}

async fn run(state: &AppState, slack_user: &str, command: Command) -> String {
    let may_read = state.config.api.anonymous_read || super::person(state, slack_user).is_some();
    if !may_read && command != Command::Help {
        return format!(
            "Refused: your Slack user {} is not mapped to a console user (notifications.slack.users).",
            escape(slack_user)
        );
    }
    match command {
        Command::Help => {
            "`/aiops incidents` lists the open incidents; `/aiops ack <id>` acknowledges one; `/aiops status <service>` shows a service's incidents.".into()
        }
        Command::Incidents => {
            let lines = listed(state, None);
            if lines.is_empty() {
                "No unresolved incidents.".into()
            } else {
                lines.join("\n")
            }
        }
        Command::Status(service) => {
            let known = state
                .analysis
                .lock()
                .correlator()
                .incidents()
                .iter()
                .any(|i| i.services.contains(&service));
            let lines = listed(state, Some(&service));
            if lines.is_empty() {
                format!(
                    "*{}*: no unresolved incident{}.",
                    escape(&service),
                    if known { "" } else { " (and none recently)" }
                )
            } else {
                format!("*{}*:\n{}", escape(&service), lines.join("\n"))
            }
        }
        Command::Ack(id) => {
            let by = match allowed(state, slack_user, Role::Responder) {
                Ok(name) => name,
                Err(why) => return format!("Refused: {why}."),
            };
            match change_state(state, &id, &format!("{by} (slack)"), Transition::Acknowledge).await {
                Ok(_) => format!("Acknowledged `{}` as {by}.", escape(&id)),
                Err(e) => format!("Not acknowledged: {}", escape(&api_error(e))),
            }
        }
    }
}

/// Unresolved incidents (touching `service`), newest first, one line each.
fn listed(state: &AppState, service: Option<&str>) -> Vec<String> {
    let analysis = state.analysis.lock();
    let mut open: Vec<_> = analysis
        .correlator()
        .incidents()
        .iter()
        .filter(|i| !i.is_resolved())
        .filter(|i| service.is_none_or(|s| i.services.iter().any(|x| x == s)))
        .collect();
    open.sort_by_key(|i| std::cmp::Reverse(i.opened_at_ms));
    open.iter()
        .take(LISTED)
        .map(|i| {
            let cause = i
                .root_cause
                .first()
                .map_or("not ranked yet".to_owned(), |c| escape(&c.service));
            format!(
                "• `{}` [{}] {} · {} · likely cause {cause}",
                escape(&i.id),
                i.severity.as_str(),
                escape(&clip(&state.redactor.redact(&i.title), 150)),
                i.state.as_str()
            )
        })
        .collect()
}
