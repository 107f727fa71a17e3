//! Notifications at the edge: on every incident change and on a timer, the
//! routing tree decides what each receiver should be told
//! (`aiops_notify::decide`); the decisions go into the incident's
//! notification log, which is persisted (engine state
//! `notifications/<incident>`) before anything is sent, and the messages
//! still undelivered in it are the outbox. A restart loses none: the logs
//! come back and their pending messages are sent. A message delivered
//! right before a crash may be sent once more with the same key (PagerDuty
//! dedups by the incident's key, webhook receivers by `key`).
//!
//! Senders here: the generic webhook (signed) and PagerDuty's Events API
//! v2. Slack and e-mail receivers are routed and logged, and their
//! messages given up with the reason: their senders are not built yet.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aiops_analysis::Incident;
use aiops_notify::{Entry, IncidentFacts, MAX_ATTEMPTS, Receiver, Silence};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::NotificationsConfig;
use crate::state::AppState;

/// How often due repeats, escalations and retries are looked for.
const TICK: Duration = Duration::from_secs(5);
/// Incident logs kept in memory at most (the oldest resolved go first).
const MAX_INCIDENTS: usize = 2_000;
/// Messages sent per round at most (the rest go next round).
const SENDS_PER_ROUND: usize = 200;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabels {
    /// webhook, pagerduty, slack, email
    pub receiver_kind: &'static str,
    /// delivered, failed, given_up
    pub outcome: &'static str,
}

#[derive(Default)]
pub struct Notifier {
    /// Each incident's notification log.
    logs: Mutex<HashMap<String, Vec<Entry>>>,
    silences: Mutex<Vec<Silence>>,
    /// Not before this (unix ms), per message key: retry backoff.
    retry_at: Mutex<HashMap<String, i64>>,
    pub sends: Family<SendLabels, Counter>,
    pub suppressed: Counter,
}

impl Notifier {
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "notifications_sent",
            "Notification deliveries, by receiver kind and outcome",
            self.sends.clone(),
        );
        registry.register(
            "notifications_suppressed",
            "Notifications not sent: silenced, quiet hours, update cap",
            self.suppressed.clone(),
        );
    }

    /// An incident's notification log, oldest first.
    pub fn log(&self, incident_id: &str) -> Vec<Entry> {
        self.logs
            .lock()
            .get(incident_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn silence(&self, silence: Silence) {
        let mut s = self.silences.lock();
        s.retain(|x| x.id != silence.id);
        s.push(silence);
        // bounded: the ones ending first go
        if s.len() > 1_000 {
            s.sort_by_key(|x| std::cmp::Reverse(x.until_ms));
            s.truncate(1_000);
        }
    }
}

/// One log entry in a line for people: what, to whom, what became of it, why.
pub fn describe(e: &Entry) -> String {
    let what = if !e.send {
        "not sent".to_owned()
    } else if e.delivered_at_ms.is_some() {
        "sent, delivered".to_owned()
    } else if let Some(err) = &e.error {
        if e.attempts >= MAX_ATTEMPTS {
            format!("given up after {} attempts: {err}", e.attempts)
        } else {
            format!("attempt {} failed: {err}", e.attempts)
        }
    } else {
        "queued".to_owned()
    };
    format!("{} to {}: {what} ({})", e.kind.as_str(), e.receiver, e.why)
}

fn state_key(incident_id: &str) -> String {
    format!("notifications/{incident_id}")
}

fn facts_of(incident: &Incident) -> IncidentFacts {
    let mut labels: Vec<(String, String)> = incident
        .signals
        .iter()
        .flat_map(|m| m.signal.labels.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.sort();
    labels.dedup();
    IncidentFacts {
        services: incident.services.clone(),
        cause: incident.root_cause.first().map(|c| c.service.clone()),
        severity: incident.severity,
        labels,
    }
}

/// Decides for the incidents named (all unresolved ones, and those still
/// holding undelivered messages, when `ids` is `None`); returns the ids
/// whose logs changed.
fn decide_all(
    state: &AppState,
    config: &NotificationsConfig,
    ids: Option<&HashSet<String>>,
) -> Vec<String> {
    let now = state.clock.now_ms();
    let incidents: Vec<Incident> = {
        let analysis = state.analysis.lock();
        // resolved ones too while a resolution or a delivery is owed (a
        // missed change event must not lose a resolution)
        let pending: HashSet<String> = state
            .notifier
            .logs
            .lock()
            .iter()
            .filter(|(_, log)| aiops_notify::unfinished(log))
            .map(|(id, _)| id.clone())
            .collect();
        analysis
            .correlator()
            .incidents()
            .iter()
            .filter(|i| match ids {
                Some(ids) => ids.contains(&i.id),
                None => !i.is_resolved() || pending.contains(&i.id),
            })
            .cloned()
            .collect()
    };
    let silences = state.notifier.silences.lock().clone();
    let mut changed = Vec::new();
    let mut logs = state.notifier.logs.lock();
    for incident in &incidents {
        let log = logs.entry(incident.id.clone()).or_default();
        let view = aiops_notify::Incident {
            id: &incident.id,
            state: incident.state,
            revision: incident.revision,
            opened_at_ms: incident.opened_at_ms,
            facts: facts_of(incident),
        };
        let decisions = aiops_notify::decide(&config.routing, &view, log, &silences, now);
        if decisions.is_empty() {
            continue;
        }
        for d in &decisions {
            if !d.send {
                state.notifier.suppressed.inc();
            }
            tracing::info!(incident = %incident.id, receiver = %d.receiver, kind = d.kind.as_str(), send = d.send, why = %d.why, "notification decided");
        }
        aiops_notify::append(log, decisions);
        changed.push(incident.id.clone());
    }
    if logs.len() > MAX_INCIDENTS {
        let resolved: Vec<String> = logs
            .iter()
            .filter(|(_, l)| !aiops_notify::unfinished(l))
            .map(|(k, _)| k.clone())
            .take(logs.len() - MAX_INCIDENTS)
            .collect();
        for k in resolved {
            logs.remove(&k);
        }
    }
    changed
}

async fn persist(state: &AppState, ids: &[String]) {
    let Some(db) = state.incident_db.get() else {
        return;
    };
    let now = state.clock.now_ms();
    for id in ids {
        let log = state.notifier.log(id);
        let Ok(doc) = serde_json::to_string(&log) else {
            continue;
        };
        if let Err(e) = db.put_state(&state_key(id), now, &doc).await {
            tracing::error!(incident = %id, error = %e, "notification log not persisted; will retry on its next change");
        }
    }
}

/// At start: the logs of the incidents the engine holds, so pending
/// messages are sent and none is decided twice.
pub async fn restore(state: &AppState) {
    let Some(db) = state.incident_db.get() else {
        return;
    };
    let ids: Vec<String> = state
        .analysis
        .lock()
        .correlator()
        .incidents()
        .iter()
        .map(|i| i.id.clone())
        .collect();
    let mut restored = 0;
    for id in ids {
        match db.get_state(&state_key(&id)).await {
            Ok(Some(doc)) => match serde_json::from_str::<Vec<Entry>>(&doc) {
                Ok(log) => {
                    state.notifier.logs.lock().insert(id, log);
                    restored += 1;
                }
                Err(e) => {
                    tracing::warn!(incident = %id, error = %e, "a stored notification log is not readable; decided afresh")
                }
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(incident = %id, error = %e, "notification log not read"),
        }
    }
    tracing::info!(restored, "notification logs restored");
}

fn receiver_kind(r: &Receiver) -> &'static str {
    if r.webhook.is_some() {
        "webhook"
    } else if r.pagerduty.is_some() {
        "pagerduty"
    } else if r.slack.is_some() {
        "slack"
    } else {
        "email"
    }
}

fn message_facts(
    state: &AppState,
    config: &NotificationsConfig,
    incident: &Incident,
) -> aiops_notify::message::Facts {
    let clean = |s: &str| state.redactor.redact(s).into_owned();
    let (_, summary) = crate::summaries::of(state, incident);
    aiops_notify::message::Facts {
        id: incident.id.clone(),
        title: clean(&incident.title),
        state: incident.state.as_str().to_owned(),
        severity: incident.severity.as_str().to_owned(),
        services: incident.services.clone(),
        cause: incident.root_cause.first().map(|c| {
            (
                c.service.clone(),
                clean(c.reasons.first().map_or("", String::as_str)),
            )
        }),
        summary: clean(&summary.text),
        url: format!("{}/incidents/{}", config.console_url, incident.id),
    }
}

/// One attempt at one message.
async fn send_one(
    http: &reqwest::Client,
    config: &NotificationsConfig,
    receiver: &Receiver,
    entry: &Entry,
    facts: &aiops_notify::message::Facts,
    now_ms: i64,
) -> Result<(), String> {
    let check = |r: reqwest::Response| {
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", r.status()))
        }
    };
    if let Some(hook) = &receiver.webhook {
        let at = crate::routes::incidents::rfc3339(now_ms);
        let body = aiops_notify::message::webhook_body(entry, facts, &at).to_string();
        let timestamp = now_ms.div_euclid(1000);
        let mut request = http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-aiops-timestamp", timestamp.to_string())
            .header("x-aiops-key", &entry.key);
        if let Some(secret) = hook.secret_env.as_ref().and_then(|n| config.secrets.get(n)) {
            request = request.header(
                "x-aiops-signature",
                aiops_notify::message::signature(secret.0.as_bytes(), timestamp, body.as_bytes()),
            );
        }
        let response = request.body(body).send().await.map_err(|e| e.to_string())?;
        return check(response);
    }
    if let Some(pd) = &receiver.pagerduty {
        let key = config
            .secrets
            .get(&pd.routing_key_env)
            .map(|s| s.0.as_str())
            .unwrap_or_default();
        let event = aiops_notify::message::pagerduty_event(entry, facts, key);
        let response = http
            .post(&config.pagerduty_url)
            .json(&event)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        return check(response);
    }
    if let Some(target) = &receiver.email {
        return send_email(config, target, entry, facts).await;
    }
    Err(format!(
        "no {} sender in this version of the engine",
        receiver_kind(receiver)
    ))
}

async fn send_email(
    config: &NotificationsConfig,
    target: &aiops_notify::routing::EmailTarget,
    entry: &Entry,
    facts: &aiops_notify::message::Facts,
) -> Result<(), String> {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let smtp = config
        .smtp
        .as_ref()
        .ok_or("no mail server configured (notifications.smtp)")?;
    let mail = aiops_notify::message::email(entry, facts);
    let from: Mailbox = smtp.from.parse().map_err(|e| format!("from: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(mail.subject)
        .message_id(Some(mail.message_id));
    for to in &target.to {
        let to: Mailbox = to.parse().map_err(|e| format!("to {to:?}: {e}"))?;
        builder = builder.to(to);
    }
    if let Some(thread) = mail.in_reply_to {
        builder = builder.in_reply_to(thread.clone()).references(thread);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
        .map_err(|e| format!("the message: {e}"))?;
    let transport = match smtp.tls {
        crate::config::SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| e.to_string())?
        }
        crate::config::SmtpTls::Implicit => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| e.to_string())?
        }
        crate::config::SmtpTls::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        }
    };
    let mut transport = transport.port(smtp.port).timeout(Some(SEND_TIMEOUT));
    if let Some((user, password)) = &smtp.credentials {
        transport = transport.credentials(Credentials::new(user.clone(), password.0.clone()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Sends what is pending and due; records each outcome in its log.
/// Returns the ids whose logs changed.
async fn deliver(
    state: &AppState,
    config: &NotificationsConfig,
    http: &reqwest::Client,
) -> Vec<String> {
    let now = state.clock.now_ms();
    let due: Vec<(String, Entry)> = {
        let logs = state.notifier.logs.lock();
        let retry_at = state.notifier.retry_at.lock();
        logs.iter()
            .flat_map(|(id, log)| {
                log.iter()
                    .filter(|e| e.pending())
                    .map(move |e| (id.clone(), e.clone()))
            })
            .filter(|(_, e)| retry_at.get(&e.key).is_none_or(|t| *t <= now))
            .take(SENDS_PER_ROUND)
            .collect()
    };
    let mut changed = Vec::new();
    for (incident_id, entry) in due {
        let incident = state
            .analysis
            .lock()
            .correlator()
            .get(&incident_id)
            .cloned();
        let Some(incident) = incident else { continue };
        let Some(receiver) = config
            .routing
            .receivers
            .iter()
            .find(|r| r.name == entry.receiver)
        else {
            continue;
        };
        let kind = receiver_kind(receiver);
        let facts = message_facts(state, config, &incident);
        let result = send_one(http, config, receiver, &entry, &facts, now).await;
        let supported = matches!(kind, "webhook" | "pagerduty" | "email");
        let outcome = {
            let mut logs = state.notifier.logs.lock();
            let Some(stored) = logs
                .get_mut(&incident_id)
                .and_then(|l| l.iter_mut().find(|e| e.key == entry.key))
            else {
                continue;
            };
            match &result {
                Ok(()) => {
                    stored.delivered_at_ms = Some(state.clock.now_ms());
                    stored.attempts += 1;
                    stored.error = None;
                    "delivered"
                }
                Err(e) => {
                    // a kind with no sender is given up at once
                    stored.attempts = if supported {
                        stored.attempts + 1
                    } else {
                        MAX_ATTEMPTS
                    };
                    stored.error = Some(e.clone());
                    if stored.attempts >= MAX_ATTEMPTS {
                        "given_up"
                    } else {
                        "failed"
                    }
                }
            }
        };
        if outcome == "failed" {
            let attempts = state
                .notifier
                .log(&incident_id)
                .iter()
                .find(|e| e.key == entry.key)
                .map_or(1, |e| e.attempts);
            // 2 s, 4 s, 8 s, 16 s between attempts
            let wait = 1_000i64 << attempts.min(10);
            state
                .notifier
                .retry_at
                .lock()
                .insert(entry.key.clone(), now + wait);
        }
        if outcome != "failed" {
            state.notifier.retry_at.lock().remove(&entry.key);
        }
        tracing::info!(incident = %incident_id, receiver = %entry.receiver, key = %entry.key, outcome, error = ?result.err(), "notification");
        state
            .notifier
            .sends
            .get_or_create(&SendLabels {
                receiver_kind: kind,
                outcome,
            })
            .inc();
        changed.push(incident_id);
    }
    changed.sort();
    changed.dedup();
    changed
}

/// One round: decide for `ids` (or every incident that may be due), persist
/// the decisions, then send and persist the outcomes.
pub async fn round(state: &AppState, http: &reqwest::Client, ids: Option<&HashSet<String>>) {
    let Some(config) = state.config.notifications.as_ref() else {
        return;
    };
    let decided = decide_all(state, config, ids);
    persist(state, &decided).await;
    let sent = deliver(state, config, http).await;
    persist(state, &sent).await;
}

/// Decides on incident changes at once, and every few seconds for repeats,
/// escalations and retries.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    state.config.notifications.as_ref()?;
    let state = state.clone();
    let mut changes = state.events.subscribe();
    Some(tokio::spawn(async move {
        let http = match reqwest::Client::builder().timeout(SEND_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "no http client; notifications are not sent");
                return;
            }
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let ids = tokio::select! {
                _ = tick.tick() => None,
                changed = changes.recv() => match changed {
                    Ok(id) => {
                        let mut ids = HashSet::from([id]);
                        while let Ok(more) = changes.try_recv() {
                            ids.insert(more);
                        }
                        Some(ids)
                    }
                    // lagged: look at everything
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = stop.changed() => return,
            };
            round(&state, &http, ids.as_ref()).await;
        }
    }))
}
