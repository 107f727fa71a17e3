//! Block Kit for an incident's parent message and the slash command's
//! replies, built with slack-morphism's types so they serialise to the
//! shapes Slack documents. Text from alerts and logs is escaped (it can
//! neither mention nor link).

use aiops_notify::message::{Facts, clip};
use aiops_notify::slack::escape;
use slack_morphism::prelude::*;

/// Action ids of the parent message's buttons (the interactivity endpoint
/// matches on them).
pub const ACK: &str = "incident_acknowledge";
pub const RESOLVE: &str = "incident_resolve";
pub const SILENCE: &str = "incident_silence_1h";
pub const APPROVE: &str = "action_approve";
pub const DENY: &str = "action_deny";

fn markdown(text: String) -> SlackBlockText {
    SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text))
}

fn button(action_id: &str, label: &str, value: &str) -> SlackBlockButtonElement {
    SlackBlockButtonElement::new(SlackBlockPlainTextOnly::from(label))
        .with_action_id(action_id.into())
        .with_value(value.to_owned())
}

/// The parent message: title, severity, state, the likely cause and why,
/// the summary, a link to the console, and the buttons that still apply.
pub fn parent(facts: &Facts) -> Vec<SlackBlock> {
    let resolved = facts.state == "resolved";
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new(SlackBlockPlainTextOnly::from(
            clip(&facts.title, 150).as_str(),
        ))
        .into(),
        SlackSectionBlock::new()
            .with_fields(vec![
                markdown(format!("*Severity*\n{}", escape(&facts.severity))),
                markdown(format!("*State*\n{}", escape(&facts.state))),
                markdown(format!(
                    "*Likely cause*\n{}",
                    facts
                        .cause
                        .as_ref()
                        .map_or("not ranked yet".to_owned(), |(s, _)| escape(s))
                )),
                markdown(format!(
                    "*Services*\n{}",
                    escape(&clip(&facts.services.join(", "), 200))
                )),
            ])
            .into(),
    ];
    if let Some((_, reason)) = facts.cause.as_ref().filter(|(_, r)| !r.is_empty()) {
        blocks.push(
            SlackSectionBlock::new()
                .with_text(markdown(format!("*Why*: {}", escape(&clip(reason, 500)))))
                .into(),
        );
    }
    if !facts.summary.is_empty() {
        blocks.push(
            SlackSectionBlock::new()
                .with_text(markdown(escape(&clip(&facts.summary, 2_500))))
                .into(),
        );
    }
    for action in facts.pending_actions.iter().take(5) {
        blocks.push(
            SlackSectionBlock::new()
                .with_text(markdown(format!(
                    "*Waiting for approval*: {}",
                    escape(&clip(&action.what, 300))
                )))
                .into(),
        );
        blocks.push(
            SlackActionsBlock::new(vec![
                button(APPROVE, "Approve", &action.id)
                    .with_style(SlackBlockButtonStyle::Primary)
                    .into(),
                button(DENY, "Deny", &action.id)
                    .with_style(SlackBlockButtonStyle::Danger)
                    .into(),
            ])
            .into(),
        );
    }
    let mut buttons: Vec<SlackActionBlockElement> = Vec::new();
    if !resolved {
        if facts.state == "open" {
            buttons.push(button(ACK, "Acknowledge", &facts.id).into());
        }
        buttons.push(button(RESOLVE, "Resolve", &facts.id).into());
        buttons.push(button(SILENCE, "Silence 1 h", &facts.id).into());
    }
    if let Ok(url) = facts.url.parse() {
        buttons.push(
            SlackBlockButtonElement::new("Open in console".into())
                .with_action_id("open_console".into())
                .with_url(url)
                .into(),
        );
    }
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).into());
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(format!("Incident `{}`", escape(&facts.id))),
        )])
        .into(),
    );
    blocks
}

/// The notification text Slack shows where blocks cannot be (push
/// notifications, screen readers).
pub fn fallback(facts: &Facts) -> String {
    // Slack reads this text for mentions too: escaped like the rest
    escape(&format!(
        "[{}] {} ({})",
        facts.severity,
        clip(&facts.title, 200),
        facts.state
    ))
}

#[cfg(test)]
mod tests {
    use aiops_notify::message::PendingAction;
    use serde_json::Value;

    use super::*;

    fn facts(state: &str) -> Facts {
        Facts {
            id: "inc-7".into(),
            title: "payments: <!channel> error ratio 0.52".into(),
            state: state.into(),
            severity: "critical".into(),
            services: vec!["payments".into(), "checkout".into()],
            cause: Some(("payments".into(), "errors <http://evil|click>".into())),
            summary: "payments fails half of its charges".into(),
            url: "http://console.example/incidents/inc-7".into(),
            pending_actions: vec![PendingAction {
                id: "act-0123456789abcdef".into(),
                what: "restart payments (playbook restart-on-errors): rollout restart".into(),
            }],
            recent: Vec::new(),
        }
    }

    fn buttons(blocks: &[SlackBlock]) -> Vec<(String, String)> {
        let json: Value = serde_json::to_value(blocks).unwrap_or_default();
        json.as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                (
                    e["action_id"].as_str().unwrap_or("").to_owned(),
                    e["value"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn an_open_incident_offers_every_button_and_a_pending_action_its_approval() {
        let blocks = parent(&facts("open"));
        let got = buttons(&blocks);
        for (id, value) in [
            (ACK, "inc-7"),
            (RESOLVE, "inc-7"),
            (SILENCE, "inc-7"),
            (APPROVE, "act-0123456789abcdef"),
            (DENY, "act-0123456789abcdef"),
        ] {
            assert!(
                got.contains(&(id.to_owned(), value.to_owned())),
                "{id} {value} in {got:?}"
            );
        }
        let json = serde_json::to_string(&blocks).unwrap_or_default();
        // alert text can neither mention nor link (the header is plain text)
        assert!(!json.contains("<http://evil"), "{json}");
        assert!(json.contains("&lt;http://evil|click&gt;"), "{json}");
    }

    #[test]
    fn a_resolved_incident_keeps_only_the_link() {
        let mut f = facts("resolved");
        f.pending_actions.clear();
        let got = buttons(&parent(&f));
        assert_eq!(got, vec![("open_console".to_owned(), String::new())]);
        assert_eq!(
            fallback(&f),
            "[critical] payments: &lt;!channel&gt; error ratio 0.52 (resolved)"
        );
    }
}
