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
}

/// PagerDuty limits a summary to 1,024 characters.
const PAGERDUTY_SUMMARY: usize = 1_024;

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

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
    let Some(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
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
    fn the_webhook_body_carries_the_key_and_the_incident() {
        let body = webhook_body(&entry(Kind::Open), &facts(), "2026-12-07T12:00:00.000Z");
        assert_eq!(body["key"], "inc-1/pager/open/1");
        assert_eq!(body["kind"], "open");
        assert_eq!(body["incident"]["cause"], "payments");
        assert_eq!(body["incident"]["revision"], 3);
    }
}
