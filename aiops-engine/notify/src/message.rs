//! What a notification says, per kind of receiver: the generic webhook's
//! JSON (signed with HMAC-SHA256 over the timestamp and the body), and
//! PagerDuty's Events API v2 event (one dedup key per incident, so a
//! repeat or an update never opens a second PagerDuty incident). Built
//! here, sent at the edge.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::decide::{Entry, Kind};

/// The incident as messages show it (already redacted by the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub id: String,
    pub title: String,
    pub state: String,
    pub severity: String,
    pub services: Vec<String>,
    /// The top-ranked service and its first reason.
    pub cause: Option<(String, String)>,
    /// The summary's text.
    pub summary: String,
    /// The incident's page in the console.
    pub url: String,
    /// Actions waiting for a person's approval (Slack shows buttons).
    pub pending_actions: Vec<PendingAction>,
    /// What happened since this receiver's previous message, oldest first
    /// (timeline lines; a thread reply shows them).
    pub recent: Vec<String>,
}

/// An action waiting for approval, as a message shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingAction {
    pub id: String,
    /// `restart payments (playbook payments-errors)`.
    pub what: String,
}

/// PagerDuty limits a summary to 1,024 characters.
const PAGERDUTY_SUMMARY: usize = 1_024;

pub use text_clip::clip;

/// The generic webhook's body.
pub fn webhook_body(entry: &Entry, facts: &Facts, at_rfc3339: &str) -> Value {
    json!({
        "version": "1",
        "key": entry.key,
        "kind": entry.kind.as_str(),
        "receiver": entry.receiver,
        "why": entry.why,
        "at": at_rfc3339,
        "incident": {
            "id": facts.id,
            "title": facts.title,
            "state": facts.state,
            "severity": facts.severity,
            "services": facts.services,
            "cause": facts.cause.as_ref().map(|(s, _)| s),
            "cause_reason": facts.cause.as_ref().map(|(_, r)| r),
            "summary": facts.summary,
            "revision": entry.revision,
            "url": facts.url,
        }
    })
}

/// The signature header's value, `v1=<hex>`: HMAC-SHA256 with the secret
/// over `<timestamp>.<body>` (the timestamp, unix seconds, goes in its own
/// header, so a receiver can refuse old or replayed requests).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // a key of any length is accepted by HMAC
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Checks a signature in constant time (for receivers, and the tests).
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("v1=") else {
        return false;
    };
    let Some(bytes) = from_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// Bytes from lowercase or uppercase hex; `None` for anything else.
pub(crate) fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// An e-mail's parts: subject, text and HTML bodies, and its threading.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<...@aiops>`: the opening message's id is the incident's, and
    /// every later message replies to it, so mail clients thread them.
    pub message_id: String,
    pub in_reply_to: Option<String>,
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The e-mail for this message.
pub fn email(entry: &Entry, facts: &Facts) -> Email {
    // ids are word characters and dashes: nothing to escape in a header
    let safe: String = facts
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let thread = format!("<{safe}@aiops>");
    let (message_id, in_reply_to) = if entry.kind == Kind::Open {
        (thread, None)
    } else {
        let n = entry.key.rsplit('/').next().unwrap_or("0");
        (
            format!(
                "<{safe}.{}.{}.{n}@aiops>",
                entry.receiver.replace(['<', '>', '@', ' '], ""),
                entry.kind.as_str()
            ),
            Some(thread),
        )
    };
    let verb = match entry.kind {
        Kind::Open => "",
        Kind::Update => "Update: ",
        Kind::Repeat => "Still open: ",
        Kind::Escalate => "Escalated: ",
        Kind::Acknowledge => "Acknowledged: ",
        Kind::Resolve => "Resolved: ",
    };
    let subject: String = format!("{verb}[{}] {}", facts.severity, facts.title)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let cause = facts
        .cause
        .as_ref()
        .map_or("not ranked yet".to_owned(), |(s, r)| format!("{s} ({r})"));
    let text = format!(
        "{}\n\nState: {}\nSeverity: {}\nLikely cause: {cause}\nServices: {}\n\n{}\n\n{}\nWhy you get this: {}\n",
        facts.title,
        facts.state,
        facts.severity,
        facts.services.join(", "),
        facts.summary,
        facts.url,
        entry.why
    );
    let html = format!(
        "<!doctype html><html><body><h1>{}</h1><p><strong>State:</strong> {} · <strong>Severity:</strong> {}</p><p><strong>Likely cause:</strong> {}</p><p><strong>Services:</strong> {}</p><p>{}</p><p><a href=\"{}\">The incident in the console</a></p><p><small>Why you get this: {}</small></p></body></html>",
        html_escape(&facts.title),
        html_escape(&facts.state),
        html_escape(&facts.severity),
        html_escape(&cause),
        html_escape(&facts.services.join(", ")),
        html_escape(&facts.summary),
        html_escape(&facts.url),
        html_escape(&entry.why)
    );
    Email {
        subject,
        text,
        html,
        message_id,
        in_reply_to,
    }
}

/// PagerDuty's Events API v2 event for this message.
pub fn pagerduty_event(entry: &Entry, facts: &Facts, routing_key: &str) -> Value {
    let action = match entry.kind {
        Kind::Acknowledge => "acknowledge",
        Kind::Resolve => "resolve",
        Kind::Open | Kind::Update | Kind::Repeat | Kind::Escalate => "trigger",
    };
    let severity = match facts.severity.as_str() {
        "critical" => "critical",
        "warning" => "warning",
        _ => "info",
    };
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": facts.id,
    });
    if action == "trigger" {
        event["payload"] = json!({
            "summary": clip(&facts.title, PAGERDUTY_SUMMARY),
            "source": "aiops",
            "severity": severity,
            "component": facts.cause.as_ref().map(|(s, _)| s.as_str()).unwrap_or(""),
            "custom_details": {
                "state": facts.state,
                "services": facts.services,
                "cause_reason": facts.cause.as_ref().map(|(_, r)| r),
                "summary": facts.summary,
                "why": entry.why,
                "revision": entry.revision,
            }
        });
        event["links"] = json!([{"href": facts.url, "text": "the incident in the console"}]);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind) -> Entry {
        Entry {
            key: "inc-1/pager/open/1".into(),
            at_ms: 0,
            receiver: "pager".into(),
            kind,
            send: true,
            revision: 3,
            why: "route".into(),
            delivered_at_ms: None,
            attempts: 0,
            error: None,
            thread: None,
        }
    }

    fn facts() -> Facts {
        Facts {
            id: "inc-1".into(),
            title: "payments: error ratio 0.52".into(),
            state: "open".into(),
            severity: "critical".into(),
            services: vec!["payments".into(), "checkout".into()],
            cause: Some(("payments".into(), "its error ratio jumped".into())),
            summary: "payments fails half of its charges".into(),
            url: "http://127.0.0.1:9800/incidents/inc-1".into(),
            pending_actions: Vec::new(),
            recent: Vec::new(),
        }
    }

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        let body = br#"{"kind":"open"}"#;
        let sig = signature(b"s3cret", 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        assert!(verify(b"s3cret", 1_700_000_000, body, &sig));
        assert!(
            !verify(b"s3cret", 1_700_000_001, body, &sig),
            "another time"
        );
        assert!(
            !verify(b"other", 1_700_000_000, body, &sig),
            "another secret"
        );
        assert!(!verify(
            b"s3cret",
            1_700_000_000,
            br#"{"kind":"resolve"}"#,
            &sig
        ));
        for bad in ["", "v1=", "v1=zz", "v0=00", &sig[..sig.len() - 1]] {
            assert!(!verify(b"s3cret", 1_700_000_000, body, bad), "{bad:?}");
        }
        // the HMAC-SHA256 of "1.x" under key "k", computed independently
        // (python3 -c 'import hmac,hashlib;print(hmac.new(b"k",b"1.x",hashlib.sha256).hexdigest())')
        assert_eq!(
            signature(b"k", 1, b"x"),
            "v1=976cb87e4f568d1c0f03f32859e90af8597cf00b978ba37c229c97d3a15b8449"
        );
    }

    #[test]
    fn pagerduty_events_share_one_dedup_key_per_incident() {
        let open = pagerduty_event(&entry(Kind::Open), &facts(), "R0UT1NGKEY");
        assert_eq!(open["event_action"], "trigger");
        assert_eq!(open["dedup_key"], "inc-1");
        assert_eq!(open["payload"]["severity"], "critical");
        assert_eq!(open["payload"]["source"], "aiops");
        assert_eq!(open["payload"]["component"], "payments");
        let repeat = pagerduty_event(&entry(Kind::Repeat), &facts(), "R0UT1NGKEY");
        assert_eq!(repeat["dedup_key"], open["dedup_key"]);
        let resolve = pagerduty_event(&entry(Kind::Resolve), &facts(), "R0UT1NGKEY");
        assert_eq!(resolve["event_action"], "resolve");
        assert!(
            resolve.get("payload").is_none(),
            "resolve carries no payload"
        );
        let mut long = facts();
        long.title = "x".repeat(5_000);
        let e = pagerduty_event(&entry(Kind::Open), &long, "k");
        assert_eq!(
            e["payload"]["summary"].as_str().map(|s| s.chars().count()),
            Some(1_024)
        );
    }

    #[test]
    fn emails_thread_on_the_incident_and_escape_their_html() {
        let mut f = facts();
        f.title = "payments <script>x</script>\r\nBcc: evil@x".into();
        let open = email(&entry(Kind::Open), &f);
        assert_eq!(open.message_id, "<inc-1@aiops>");
        assert!(open.in_reply_to.is_none());
        assert!(
            !open.subject.contains('\r') && !open.subject.contains('\n'),
            "{:?}",
            open.subject
        );
        assert!(open.html.contains("&lt;script&gt;") && !open.html.contains("<script>"));
        assert!(
            open.text
                .contains("Likely cause: payments (its error ratio jumped)")
        );
        let mut resolve = entry(Kind::Resolve);
        resolve.key = "inc-1/pager/resolve/1".into();
        let resolved = email(&resolve, &f);
        assert_eq!(resolved.in_reply_to.as_deref(), Some("<inc-1@aiops>"));
        assert_eq!(resolved.message_id, "<inc-1.pager.resolve.1@aiops>");
        assert!(resolved.subject.starts_with("Resolved: [critical]"));
    }

    #[test]
    fn the_webhook_body_carries_the_key_and_the_incident() {
        let body = webhook_body(&entry(Kind::Open), &facts(), "2026-12-07T12:00:00.000Z");
        assert_eq!(body["key"], "inc-1/pager/open/1");
        assert_eq!(body["kind"], "open");
        assert_eq!(body["incident"]["cause"], "payments");
        assert_eq!(body["incident"]["revision"], 3);
    }
}
