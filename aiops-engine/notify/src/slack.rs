//! The pure part of the Slack bot: checking that a request came from
//! Slack (the v0 signature: HMAC-SHA256 with the app's signing secret over
//! `v0:<timestamp>:<body>`, a five-minute window, a constant-time compare,
//! and each signature accepted once), the thread replies' text, and the
//! slash command's grammar. Time is an argument; Block Kit and the Web API
//! calls live at the edge.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::decide::{Entry, Kind};
use crate::message::{Facts, clip, from_hex};

/// Slack's window: a request older or newer than this is refused.
pub const MAX_SKEW_S: i64 = 5 * 60;
/// Signatures remembered against replays at most (each for the window).
pub const MAX_REMEMBERED: usize = 20_000;

/// Why a request is not taken as Slack's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    MissingHeader(&'static str),
    BadTimestamp,
    /// Outside the five-minute window.
    Stale,
    BadSignature,
    /// The same signed request seen before.
    Replayed,
    /// The verifier is full of fresh signatures: a flood, refused.
    Flooded,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::MissingHeader(h) => write!(f, "the {h} header is missing"),
            Refusal::BadTimestamp => f.write_str("x-slack-request-timestamp is not unix seconds"),
            Refusal::Stale => write!(
                f,
                "the request's timestamp is more than {MAX_SKEW_S} s away from now"
            ),
            Refusal::BadSignature => f.write_str("the signature does not match the body"),
            Refusal::Replayed => f.write_str("this signed request was already received"),
            Refusal::Flooded => f.write_str("too many signed requests in the window"),
        }
    }
}

/// The v0 signature of a request, as Slack computes it (`v0=<hex>`).
pub fn sign(signing_secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(signing_secret) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Checks one request's v0 signature at `now_s` (unix seconds).
pub fn verify(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Refusal> {
    let timestamp = timestamp.ok_or(Refusal::MissingHeader("x-slack-request-timestamp"))?;
    let signature = signature.ok_or(Refusal::MissingHeader("x-slack-signature"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refusal::BadTimestamp)?;
    if (now_s - ts).abs() > MAX_SKEW_S {
        return Err(Refusal::Stale);
    }
    let digest = signature
        .strip_prefix("v0=")
        .and_then(from_hex)
        .ok_or(Refusal::BadSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_secret).map_err(|_| Refusal::BadSignature)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // verify_slice compares in constant time
    mac.verify_slice(&digest).map_err(|_| Refusal::BadSignature)
}

/// Remembers the signatures accepted within the window, so a captured
/// request sent again is refused.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    /// Signature to the request's timestamp.
    seen: HashMap<String, i64>,
}

impl ReplayGuard {
    /// Verifies, then remembers: `Ok` once per signed request.
    pub fn admit(
        &mut self,
        signing_secret: &[u8],
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), Refusal> {
        verify(signing_secret, timestamp, signature, body, now_s)?;
        let (Some(ts), Some(sig)) = (timestamp, signature) else {
            return Err(Refusal::BadSignature);
        };
        let ts: i64 = ts.trim().parse().map_err(|_| Refusal::BadTimestamp)?;
        if self.seen.contains_key(sig) {
            return Err(Refusal::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            self.seen.retain(|_, t| (now_s - *t).abs() <= MAX_SKEW_S);
            if self.seen.len() >= MAX_REMEMBERED {
                return Err(Refusal::Flooded);
            }
        }
        self.seen.insert(sig.to_owned(), ts);
        Ok(())
    }
}

/// Slack's mrkdwn control characters escaped, so text from alerts and logs
/// can neither mention (`<!channel>`) nor link.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// The thread reply for a message after the opening one (mrkdwn).
pub fn thread_text(entry: &Entry, facts: &Facts) -> String {
    let head = match entry.kind {
        Kind::Open | Kind::Escalate => format!("*Escalated* · {}", escape(&entry.why)),
        Kind::Update => format!("*Update* · state {}", escape(&facts.state)),
        Kind::Repeat => format!(
            "*Still not acknowledged* · {} · state {}",
            escape(&entry.why),
            escape(&facts.state)
        ),
        Kind::Acknowledge => format!("*{}*", escape(&capitalised(&facts.state))),
        Kind::Resolve => "*Resolved*".to_owned(),
    };
    let mut lines = vec![head];
    if let Some((service, reason)) = &facts.cause {
        lines.push(format!(
            "Likely cause: *{}*: {}",
            escape(service),
            escape(&clip(reason, 300))
        ));
    }
    // the newest few; the console has the rest
    let skip = facts.recent.len().saturating_sub(8);
    for line in &facts.recent[skip..] {
        lines.push(format!("• {}", escape(&clip(line, 300))));
    }
    for a in &facts.pending_actions {
        lines.push(format!(
            "Waiting for approval: {} (`{}`)",
            escape(&a.what),
            escape(&a.id)
        ));
    }
    clip(&lines.join("\n"), 3_000)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What `/aiops <text>` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/aiops incidents`: the unresolved incidents.
    Incidents,
    /// `/aiops ack <id>`.
    Ack(String),
    /// `/aiops status <service>`.
    Status(String),
    /// `/aiops` or `/aiops help`.
    Help,
}

/// Parses a slash command's text; the error says what is accepted.
pub fn parse_command(text: &str) -> Result<Command, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let usage = "usage: /aiops incidents | /aiops ack <incident id> | /aiops status <service>";
    let word_ok = |w: &str| {
        !w.is_empty()
            && w.len() <= 128
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match words.as_slice() {
        [] | ["help"] => Ok(Command::Help),
        ["incidents"] => Ok(Command::Incidents),
        ["ack" | "acknowledge", id] if word_ok(id) => Ok(Command::Ack((*id).to_owned())),
        ["status", service] if word_ok(service) => Ok(Command::Status((*service).to_owned())),
        _ => Err(format!("{:?} is not a command; {usage}", clip(text, 100))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1_531_420_618 + 30;

    fn check(ts: Option<&str>, sig: Option<&str>, body: &str, now: i64) -> Result<(), Refusal> {
        verify(SECRET.as_bytes(), ts, sig, body.as_bytes(), now)
    }

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(check(Some(TS), Some(SIGNATURE), BODY, NOW), Ok(()));
        assert_eq!(sign(SECRET.as_bytes(), TS, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn a_changed_body_secret_or_timestamp_is_refused() {
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            check(Some(TS), Some(SIGNATURE), &tampered, NOW),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(
                b"another secret",
                Some(TS),
                Some(SIGNATURE),
                BODY.as_bytes(),
                NOW
            ),
            Err(Refusal::BadSignature)
        );
        // the timestamp is signed: moving it breaks the signature
        assert_eq!(
            check(Some("1531420619"), Some(SIGNATURE), BODY, NOW),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn the_window_is_five_minutes_both_ways() {
        let ts: i64 = 1_531_420_618;
        assert_eq!(check(Some(TS), Some(SIGNATURE), BODY, ts + 300), Ok(()));
        assert_eq!(
            check(Some(TS), Some(SIGNATURE), BODY, ts + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            check(Some(TS), Some(SIGNATURE), BODY, ts - 301),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        assert_eq!(
            check(None, Some(SIGNATURE), BODY, NOW),
            Err(Refusal::MissingHeader("x-slack-request-timestamp"))
        );
        assert_eq!(
            check(Some(TS), None, BODY, NOW),
            Err(Refusal::MissingHeader("x-slack-signature"))
        );
        assert_eq!(
            check(Some("soon"), Some(SIGNATURE), BODY, NOW),
            Err(Refusal::BadTimestamp)
        );
        for bad in ["v1=00", "v0=zz", "v0=abc", "", "v0=", "a2114d57"] {
            assert_eq!(
                check(Some(TS), Some(bad), BODY, NOW),
                Err(Refusal::BadSignature),
                "{bad}"
            );
        }
        // a truncated but well-formed digest is still refused
        assert_eq!(
            check(Some(TS), Some(&SIGNATURE[..40]), BODY, NOW),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn a_replay_is_refused_and_the_guard_stays_bounded() {
        let mut guard = ReplayGuard::default();
        let admit = |g: &mut ReplayGuard, now| {
            g.admit(
                SECRET.as_bytes(),
                Some(TS),
                Some(SIGNATURE),
                BODY.as_bytes(),
                now,
            )
        };
        assert_eq!(admit(&mut guard, NOW), Ok(()));
        assert_eq!(admit(&mut guard, NOW + 1), Err(Refusal::Replayed));
        // a forged one is refused before it is remembered
        assert_eq!(
            guard.admit(
                SECRET.as_bytes(),
                Some(TS),
                Some("v0=00"),
                BODY.as_bytes(),
                NOW
            ),
            Err(Refusal::BadSignature)
        );
        assert_eq!(guard.seen.len(), 1);
    }

    #[test]
    fn text_from_alerts_cannot_mention_or_link() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
        let facts = Facts {
            state: "acknowledged".into(),
            cause: Some(("payments".into(), "<!here> errors".into())),
            recent: (0..20).map(|i| format!("line {i}")).collect(),
            ..Facts::default()
        };
        let entry = Entry {
            key: "k".into(),
            at_ms: 0,
            receiver: "r".into(),
            kind: Kind::Acknowledge,
            send: true,
            revision: 1,
            why: "w".into(),
            delivered_at_ms: None,
            attempts: 0,
            error: None,
            thread: None,
        };
        let text = thread_text(&entry, &facts);
        assert!(text.starts_with("*Acknowledged*"), "{text}");
        assert!(text.contains("&lt;!here&gt;"));
        assert!(
            !text.contains("line 11") && text.contains("line 19"),
            "{text}"
        );
    }

    #[test]
    fn commands_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!(parse_command(""), Ok(Command::Help));
        assert_eq!(parse_command(" incidents "), Ok(Command::Incidents));
        assert_eq!(
            parse_command("ack inc-42"),
            Ok(Command::Ack("inc-42".into()))
        );
        assert_eq!(
            parse_command("status payments"),
            Ok(Command::Status("payments".into()))
        );
        for bad in [
            "ack",
            "ack a b",
            "status <!channel>",
            "drop tables",
            &"x".repeat(10_000),
        ] {
            let err = parse_command(bad).expect_err(bad);
            assert!(err.contains("usage: /aiops"), "{err}");
            assert!(err.len() < 300);
        }
    }
}
