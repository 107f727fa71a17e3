//! What to send about an incident now, and what not to and why: one
//! opening message per receiver, its updates coalesced (at most one per
//! receiver every `MIN_UPDATE_GAP_MS`, the latest state always arriving,
//! at most `MAX_UPDATES` per receiver), a repeat while nobody acknowledges,
//! an escalation once, the resolution to everyone told. Silences and quiet
//! hours suppress, and say so once. Every decision, sent or suppressed, is
//! an entry of the incident's notification log; an entry's `key` is unique,
//! so an outbox that already holds it never sends it twice.

use aiops_analysis::{IncidentState, Severity};
use serde::{Deserialize, Serialize};

use crate::routing::{IncidentFacts, Routing};

/// Updates to one receiver no closer together than this.
pub const MIN_UPDATE_GAP_MS: i64 = 30_000;
/// Updates to one receiver per incident at most (then only the resolution).
pub const MAX_UPDATES: usize = 50;
/// Entries kept per incident (suppressions are dropped first).
pub const MAX_LOG: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The first message (a Slack parent, an email, a PagerDuty trigger).
    Open,
    /// A change, in the thread.
    Update,
    /// Still not acknowledged after the repeat interval.
    Repeat,
    /// Not acknowledged in time: told to the escalation receiver.
    Escalate,
    /// Acknowledged (PagerDuty's acknowledge; a thread reply elsewhere).
    Acknowledge,
    Resolve,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Update => "update",
            Kind::Repeat => "repeat",
            Kind::Escalate => "escalate",
            Kind::Acknowledge => "acknowledge",
            Kind::Resolve => "resolve",
        }
    }

    /// Kinds after which a receiver has been told of the incident.
    fn tells(self) -> bool {
        matches!(self, Kind::Open | Kind::Escalate)
    }
}

/// One decision of the notification log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique per message: `<incident>/<receiver>/<kind>/<n>`.
    pub key: String,
    pub at_ms: i64,
    pub receiver: String,
    pub kind: Kind,
    /// False when suppressed: `why` says by what.
    pub send: bool,
    /// The incident's revision the message shows.
    pub revision: i64,
    pub why: String,
    /// For a message sent: when it was delivered, the attempts so far and
    /// the last error (set by the sender at the edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at_ms: Option<i64>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the receiver put a delivered opening message, so later ones
    /// follow it (a Slack parent's `<channel>/<ts>`: its thread, and the
    /// message edited to the current state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

/// Attempts at delivering one message at most; then it is given up, with
/// its error in the log.
pub const MAX_ATTEMPTS: u32 = 5;

impl Entry {
    /// Still to be delivered (and not given up).
    pub fn pending(&self) -> bool {
        self.send && self.delivered_at_ms.is_none() && self.attempts < MAX_ATTEMPTS
    }
}

/// A silence: matching incidents send nothing until it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    /// Services it covers (empty: any).
    #[serde(default)]
    pub services: Vec<String>,
    /// One incident only, when set.
    #[serde(default)]
    pub incident_id: Option<String>,
    pub until_ms: i64,
    pub by: String,
    pub reason: String,
}

impl Silence {
    fn covers(&self, incident: &Incident<'_>, now_ms: i64) -> bool {
        now_ms < self.until_ms
            && self.incident_id.as_ref().is_none_or(|id| id == incident.id)
            && (self.services.is_empty()
                || incident
                    .facts
                    .services
                    .iter()
                    .any(|s| self.services.contains(s)))
    }
}

/// The incident as decisions read it.
#[derive(Debug, Clone)]
pub struct Incident<'a> {
    pub id: &'a str,
    pub state: IncidentState,
    pub revision: i64,
    pub opened_at_ms: i64,
    pub facts: IncidentFacts,
}

fn sent<'a>(log: &'a [Entry], receiver: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
    log.iter().filter(move |e| e.send && e.receiver == receiver)
}

fn key(incident: &str, receiver: &str, kind: Kind, n: usize) -> String {
    format!("{incident}/{receiver}/{}/{n}", kind.as_str())
}

/// The decisions for `incident` now, given its log so far. Call it on
/// every change of the incident and on a timer (repeats and escalations
/// fall due with time alone); append what it returns to the log and queue
/// the entries with `send`.
pub fn decide(
    routing: &Routing,
    incident: &Incident<'_>,
    log: &[Entry],
    silences: &[Silence],
    now_ms: i64,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let routed = routing.receivers_for(&incident.facts);
    // everyone told before, even if the ranking now routes elsewhere
    let mut receivers: Vec<String> = routed.iter().map(|r| r.receiver.clone()).collect();
    for e in log.iter().filter(|e| e.send && e.kind.tells()) {
        if !receivers.contains(&e.receiver) {
            receivers.push(e.receiver.clone());
        }
    }
    let silence = silences.iter().find(|s| s.covers(incident, now_ms));
    let resolved = incident.state == IncidentState::Resolved;
    let acknowledged = incident.state != IncidentState::Open;
    let push = |out: &mut Vec<Entry>, receiver: &str, kind: Kind, send: bool, why: String| {
        let n = log
            .iter()
            .chain(out.iter())
            .filter(|e| e.receiver == receiver && e.kind == kind && e.send == send)
            .count()
            + 1;
        let key = if send {
            key(incident.id, receiver, kind, n)
        } else {
            format!("{}/suppressed/{n}", key(incident.id, receiver, kind, 0))
        };
        out.push(Entry {
            key,
            at_ms: now_ms,
            receiver: receiver.to_owned(),
            kind,
            send,
            revision: incident.revision,
            why,
            delivered_at_ms: None,
            attempts: 0,
            error: None,
            thread: None,
        });
    };
    for receiver in &receivers {
        let route = routed.iter().find(|r| &r.receiver == receiver);
        let told = sent(log, receiver).any(|e| e.kind.tells());
        let last_sent = sent(log, receiver).last();
        if resolved {
            if told && !sent(log, receiver).any(|e| e.kind == Kind::Resolve) {
                // resolutions go out even under a silence: nobody should
                // keep working a finished incident
                push(&mut out, receiver, Kind::Resolve, true, "resolved".into());
            }
            continue;
        }
        // a suppression is logged once until what suppresses changes
        let suppress = |out: &mut Vec<Entry>, kind: Kind, why: String| {
            let repeated = log
                .iter()
                .rev()
                .find(|e| &e.receiver == receiver)
                .is_some_and(|e| !e.send && e.why == why);
            if !repeated {
                push(out, receiver, kind, false, why);
            }
        };
        if let Some(s) = silence {
            let kind = if told { Kind::Update } else { Kind::Open };
            suppress(
                &mut out,
                kind,
                format!("silenced by {} ({}): {}", s.by, s.id, s.reason),
            );
            continue;
        }
        if !told {
            let Some(route) = route else { continue };
            if let Some(q) = &route.quiet_hours
                && q.contains(now_ms)
                && incident.facts.severity < Severity::Critical
            {
                suppress(
                    &mut out,
                    Kind::Open,
                    format!(
                        "quiet hours {} ({}-{} UTC): only critical incidents go out",
                        q.name, q.from, q.to
                    ),
                );
                continue;
            }
            push(&mut out, receiver, Kind::Open, true, route.why.clone());
            continue;
        }
        let updates = sent(log, receiver)
            .filter(|e| e.kind == Kind::Update)
            .count();
        let shown = last_sent.map_or(0, |e| e.revision);
        let since_last = last_sent.map_or(i64::MAX, |e| now_ms - e.at_ms);
        if acknowledged && !sent(log, receiver).any(|e| e.kind == Kind::Acknowledge) {
            push(
                &mut out,
                receiver,
                Kind::Acknowledge,
                true,
                format!("{} by a person", incident.state.as_str()),
            );
            continue;
        }
        if incident.revision > shown && since_last >= MIN_UPDATE_GAP_MS {
            if updates < MAX_UPDATES {
                push(
                    &mut out,
                    receiver,
                    Kind::Update,
                    true,
                    format!("revision {} (was {shown})", incident.revision),
                );
                continue;
            }
            suppress(
                &mut out,
                Kind::Update,
                format!("{MAX_UPDATES} updates sent: the rest waits for the resolution"),
            );
        }
        let Some(route) = route else { continue };
        let last_nudge = sent(log, receiver)
            .filter(|e| matches!(e.kind, Kind::Open | Kind::Repeat | Kind::Escalate))
            .map(|e| e.at_ms)
            .max()
            .unwrap_or(incident.opened_at_ms);
        if !acknowledged && now_ms - last_nudge >= route.repeat_interval_ms {
            push(
                &mut out,
                receiver,
                Kind::Repeat,
                true,
                format!(
                    "not acknowledged {} min after the last message",
                    (now_ms - last_nudge) / 60_000
                ),
            );
        }
        if let Some(esc) = &route.escalate
            && !acknowledged
            && now_ms - incident.opened_at_ms >= esc.after.ms()
            && !log
                .iter()
                .chain(out.iter())
                .any(|e| e.send && e.kind == Kind::Escalate && e.receiver == esc.to)
        {
            push(
                &mut out,
                &esc.to,
                Kind::Escalate,
                true,
                format!(
                    "not acknowledged within {} (escalated from {receiver})",
                    esc.after
                ),
            );
        }
    }
    out
}

/// The thread a receiver's opening message started (see [`Entry::thread`]).
pub fn thread_of<'a>(log: &'a [Entry], receiver: &str) -> Option<&'a str> {
    log.iter()
        .filter(|e| e.send && e.receiver == receiver && e.kind.tells())
        .find_map(|e| e.thread.as_deref())
}

/// True while someone told of the incident has not been sent its
/// resolution, or a message is still to be delivered: a resolved incident
/// still needs deciding for.
pub fn unfinished(log: &[Entry]) -> bool {
    log.iter().any(Entry::pending)
        || log.iter().filter(|e| e.send && e.kind.tells()).any(|told| {
            !log.iter()
                .any(|e| e.send && e.kind == Kind::Resolve && e.receiver == told.receiver)
        })
}

/// Appends decisions to a log, keeping it within [`MAX_LOG`]: the oldest
/// suppressions go first, then the oldest entries.
pub fn append(log: &mut Vec<Entry>, decisions: Vec<Entry>) {
    log.extend(decisions);
    while log.len() > MAX_LOG {
        match log.iter().position(|e| !e.send) {
            Some(i) => log.remove(i),
            None => log.remove(0),
        };
    }
}
