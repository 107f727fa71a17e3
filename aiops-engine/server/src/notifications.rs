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
//! Senders here: Slack (`crate::slack`: a parent message per incident,
//! edited in place, and its thread), e-mail over SMTP (threaded by
//! `In-Reply-To`), PagerDuty's Events API v2 and the generic webhook
//! (signed). Messages to one receiver about one incident go in order: a
//! message waits while an earlier one to the same place is undelivered.
//! Slack's 429 pauses every Slack message for the `Retry-After` it names.
//!
//! Silences (API, console, Slack's button) are kept in engine state
//! `notifications/silences` and restored at start.

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
    /// delivered, failed, rate_limited, given_up
    pub outcome: &'static str,
}

#[derive(Default)]
pub struct Notifier {
    /// Each incident's notification log.
    logs: Mutex<HashMap<String, Vec<Entry>>>,
    silences: Mutex<Vec<Silence>>,
    /// Not before this (unix ms), per message key: retry backoff.
    retry_at: Mutex<HashMap<String, i64>>,
    /// No Slack call before this (unix ms): Slack's `Retry-After`.
    slack_paused_until: Mutex<i64>,
    /// Signed Slack requests seen in the window (refused when replayed).
    pub replays: Mutex<aiops_notify::slack::ReplayGuard>,
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

    /// The silences, ended ones included until they are dropped.
    pub fn silences(&self) -> Vec<Silence> {
        self.silences.lock().clone()
    }

    fn silence(&self, silence: Silence, now_ms: i64) {
        let mut s = self.silences.lock();
        s.retain(|x| x.id != silence.id && x.until_ms > now_ms);
        s.push(silence);
        // bounded: the ones ending first go
        if s.len() > MAX_SILENCES {
            s.sort_by_key(|x| std::cmp::Reverse(x.until_ms));
            s.truncate(MAX_SILENCES);
        }
    }
}

/// Silences kept at most.
pub const MAX_SILENCES: usize = 1_000;
const SILENCES_KEY: &str = "notifications/silences";

/// Adds (or replaces, by id) a silence and persists the list; the
/// incidents it covers are decided again at once.
pub async fn add_silence(state: &AppState, silence: Silence) -> Result<(), String> {
    let now = state.clock.now_ms();
    if silence.until_ms <= now {
        return Err("the silence has already ended".into());
    }
    tracing::info!(id = %silence.id, by = %silence.by, reason = %silence.reason, until_ms = silence.until_ms, "silence added");
    state.notifier.silence(silence, now);
    persist_silences(state).await
}

/// Ends a silence now; false when there is none with that id.
pub async fn end_silence(state: &AppState, id: &str, by: &str) -> Result<bool, String> {
    let found = {
        let mut s = state.notifier.silences.lock();
        let before = s.len();
        s.retain(|x| x.id != id);
        before != s.len()
    };
    if found {
        tracing::info!(id, by, "silence ended");
        persist_silences(state).await?;
    }
    Ok(found)
}

async fn persist_silences(state: &AppState) -> Result<(), String> {
    let Some(db) = state.incident_db.get() else {
        return Ok(());
    };
    let doc = serde_json::to_string(&state.notifier.silences()).map_err(|e| e.to_string())?;
    db.put_state(SILENCES_KEY, state.clock.now_ms(), &doc)
        .await
        .map_err(|e| format!("the silence is in force but not stored: {e}"))
}

/// One log entry in a line for people: what, to whom, what became of it, why.
pub fn describe(e: &Entry) -> String {
    let what = if !e.send {
        "not sent".to_owned()
    } else if e.delivered_at_ms.is_some() {
        "sent, delivered".to_owned()
    } else if let Some(err) = &e.error {
        if e.attempts == 0 {
            format!("queued, {err}")
        } else if e.attempts >= MAX_ATTEMPTS {
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

/// How often the incident's actions have changed: added to its revision,
/// so a proposed, approved or finished action is news to receivers too
/// (each record's history is capped, so this never decreases).
fn action_changes(state: &AppState, incident_id: &str) -> i64 {
    state
        .remediation
        .records(Some(incident_id), 200)
        .iter()
        .map(|r| r.history.len() as i64)
        .sum()
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
            revision: incident.revision + action_changes(state, &incident.id),
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
    match db.get_state(SILENCES_KEY).await {
        Ok(Some(doc)) => match serde_json::from_str::<Vec<Silence>>(&doc) {
            Ok(list) => {
                let now = state.clock.now_ms();
                let live: Vec<Silence> = list.into_iter().filter(|s| s.until_ms > now).collect();
                tracing::info!(silences = live.len(), "silences restored");
                *state.notifier.silences.lock() = live;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the stored silences are not readable; none restored")
            }
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "silences not read"),
    }
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

/// The incident as a message shows it; `since_ms`: the receiver's
/// previous message, so a thread reply says what happened since.
fn message_facts(
    state: &AppState,
    config: &NotificationsConfig,
    incident: &Incident,
    since_ms: Option<i64>,
) -> aiops_notify::message::Facts {
    let clean = |s: &str| state.redactor.redact(s).into_owned();
    let (_, summary) = crate::summaries::of(state, incident);
    let pending_actions = state
        .remediation
        .records(Some(&incident.id), 200)
        .iter()
        .filter(|r| r.state == aiops_playbooks::ActionState::PendingApproval)
        .map(|r| aiops_notify::message::PendingAction {
            id: r.id.clone(),
            what: clean(&format!(
                "{}{} (playbook {}): {}{}",
                r.action,
                r.service
                    .as_ref()
                    .map_or(String::new(), |s| format!(" {s}")),
                r.playbook,
                r.plan,
                // what the target itself said it would change
                r.preview
                    .as_ref()
                    .map_or(String::new(), |p| format!("; {p}"))
            )),
        })
        .collect();
    let recent = match since_ms {
        Some(since) => incident
            .timeline
            .iter()
            .filter(|t| t.ts_ms > since)
            .map(|t| clean(&format!("{}: {}", t.event, t.detail)))
            .collect(),
        None => Vec::new(),
    };
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
        pending_actions,
        recent,
    }
}

/// The senders that keep a client between messages.
pub struct Senders {
    http: reqwest::Client,
    slack: Option<crate::slack::send::Sender>,
}

/// One attempt at one message: where it went (a Slack parent), or why not.
async fn send_one(
    senders: &Senders,
    config: &NotificationsConfig,
    receiver: &Receiver,
    entry: &Entry,
    facts: &aiops_notify::message::Facts,
    thread: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, Failure> {
    if let Some(target) = &receiver.slack {
        let Some(slack) = &senders.slack else {
            return Err(Failure::Failed("no slack app configured".into()));
        };
        return slack
            .send(target, entry, facts, thread)
            .await
            .map_err(|f| match f {
                crate::slack::send::Failure::RateLimited(wait) => Failure::RateLimited(wait),
                crate::slack::send::Failure::Failed(why) => Failure::Failed(why),
            });
    }
    send_plain(&senders.http, config, receiver, entry, facts, now_ms)
        .await
        .map(|()| None)
        .map_err(Failure::Failed)
}

/// Why one attempt did not deliver.
enum Failure {
    /// The receiver asked for a pause (Slack's 429); not counted as an attempt.
    RateLimited(Duration),
    Failed(String),
}

async fn send_plain(
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
    Err(format!("no {} sender here", receiver_kind(receiver)))
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
async fn deliver(state: &AppState, config: &NotificationsConfig, senders: &Senders) -> Vec<String> {
    let now = state.clock.now_ms();
    let slack_paused = *state.notifier.slack_paused_until.lock() > now;
    // (incident, the message, the receiver's thread, its previous message's time)
    let due: Vec<(String, Entry, Option<String>, Option<i64>)> = {
        let logs = state.notifier.logs.lock();
        let retry_at = state.notifier.retry_at.lock();
        let mut due = Vec::new();
        for (id, log) in logs.iter() {
            // in order per receiver: only its first undelivered message
            let mut waiting: HashSet<&str> = HashSet::new();
            for (i, e) in log.iter().enumerate() {
                if !e.pending() || !waiting.insert(e.receiver.as_str()) {
                    continue;
                }
                if retry_at.get(&e.key).is_some_and(|t| *t > now) {
                    continue;
                }
                let slack = config
                    .routing
                    .receivers
                    .iter()
                    .any(|r| r.name == e.receiver && r.slack.is_some());
                if slack && slack_paused {
                    continue;
                }
                let previous = log[..i]
                    .iter()
                    .rev()
                    .find(|p| p.receiver == e.receiver && p.delivered_at_ms.is_some())
                    .map(|p| p.at_ms);
                let thread = aiops_notify::thread_of(log, &e.receiver).map(str::to_owned);
                due.push((id.clone(), e.clone(), thread, previous));
                if due.len() >= SENDS_PER_ROUND {
                    break;
                }
            }
            if due.len() >= SENDS_PER_ROUND {
                break;
            }
        }
        due
    };
    let mut changed = Vec::new();
    for (incident_id, entry, thread, previous) in due {
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
        if receiver.slack.is_some() && *state.notifier.slack_paused_until.lock() > now {
            continue;
        }
        let facts = message_facts(state, config, &incident, previous);
        let result = send_one(
            senders,
            config,
            receiver,
            &entry,
            &facts,
            thread.as_deref(),
            now,
        )
        .await;
        if let Err(Failure::RateLimited(wait)) = &result {
            let until = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            *state.notifier.slack_paused_until.lock() = until;
        }
        let outcome = {
            let mut logs = state.notifier.logs.lock();
            let Some(stored) = logs
                .get_mut(&incident_id)
                .and_then(|l| l.iter_mut().find(|e| e.key == entry.key))
            else {
                continue;
            };
            match &result {
                Ok(where_to) => {
                    stored.delivered_at_ms = Some(state.clock.now_ms());
                    stored.attempts += 1;
                    stored.error = None;
                    if where_to.is_some() {
                        stored.thread = where_to.clone();
                    }
                    "delivered"
                }
                Err(Failure::RateLimited(wait)) => {
                    // not the message's fault: no attempt counted
                    stored.error = Some(format!(
                        "rate limited: waiting {} s as the receiver asked",
                        wait.as_secs()
                    ));
                    "rate_limited"
                }
                Err(Failure::Failed(e)) => {
                    stored.attempts += 1;
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
        } else {
            state.notifier.retry_at.lock().remove(&entry.key);
        }
        let error = match &result {
            Ok(_) => None,
            Err(Failure::RateLimited(w)) => Some(format!("rate limited for {} s", w.as_secs())),
            Err(Failure::Failed(e)) => Some(e.clone()),
        };
        tracing::info!(incident = %incident_id, receiver = %entry.receiver, key = %entry.key, outcome, error = ?error, "notification");
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
pub async fn round(state: &AppState, senders: &Senders, ids: Option<&HashSet<String>>) {
    let Some(config) = state.config.notifications.as_ref() else {
        return;
    };
    let decided = decide_all(state, config, ids);
    persist(state, &decided).await;
    let sent = deliver(state, config, senders).await;
    persist(state, &sent).await;
}

/// Decides on incident changes at once, and every few seconds for repeats,
/// escalations and retries.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let config = state.config.notifications.as_ref()?;
    let slack = config.slack.as_ref().map(crate::slack::send::Sender::new);
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
        let senders = Senders { http, slack };
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
            // the leader notifies; a follower that takes over sends what
            // is due from the logs it took over
            if state.leadership.is_leader() {
                round(&state, &senders, ids.as_ref()).await;
            }
        }
    }))
}
