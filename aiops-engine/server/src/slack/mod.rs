//! The Slack bot: incident messages (a parent message in the routed
//! channel, edited to the incident's current state, and a thread reply per
//! later message), sent through slack-morphism's Web API client; and the
//! endpoints Slack calls: buttons (`/slack/interactions`) and the
//! `/aiops` slash command (`/slack/commands`). Every request Slack
//! makes is checked against the app's signing secret and accepted once.

pub mod blocks;
pub mod routes;
pub mod send;

use crate::config::Role;
use crate::state::AppState;

/// The console user a Slack user acts as, with their role; `None` when the
/// Slack user is not mapped (`notifications.slack.users`).
pub fn person(state: &AppState, slack_user: &str) -> Option<(String, Role)> {
    let slack = state.config.notifications.as_ref()?.slack.as_ref()?;
    let name = slack.users.get(slack_user)?;
    let role = state
        .config
        .console
        .users
        .iter()
        .find(|u| &u.name == name)
        .map(|u| u.role)
        .or_else(|| {
            state
                .config
                .api
                .tokens
                .iter()
                .find(|t| &t.name == name)
                .map(|t| t.role)
        })?;
    Some((name.clone(), role))
}
