//! Remediation at the edge: after every evaluation (and at once after an
//! approval), the pure [`aiops_playbooks::Remediator`] decides; this module
//! appends each decision to the ledger in the incident database before it
//! carries anything out, hands actions to the executor only when their
//! `running` event was new (so no action runs twice, whichever engine or
//! restart decides it again), and records what came of them.

pub mod executors;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aiops_incident_db::{ActionEvent, Appended};
use aiops_playbooks::{ActionRecord, ActionState, Capability, Effect, Remediator, World};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::state::AppState;
use executors::Executor;

/// Current records kept in memory: every one not final, and the newest
/// final ones up to this many (the database keeps them all).
const MAX_FINAL_IN_MEMORY: usize = 2_000;
/// Records read back from the database at start.
const RELOAD: i64 = 1_000;
/// How long after the engine acts on a service its restart, outage and new
/// version count as the engine's own doing.
const EXPECTED_CHANGE_MS: i64 = 90_000;
/// The switch's key in the engine state table.
const SWITCH_KEY: &str = "remediation_switch";

/// The kill switch: whether remediation may act, who set it, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    pub enabled: bool,
    pub by: String,
    pub at_ms: i64,
    pub reason: String,
}

pub struct Remediation {
    remediator: Remediator,
    executor: Option<Executor>,
    capability: Option<Capability>,
    ledger: Mutex<BTreeMap<String, ActionRecord>>,
    switch: Mutex<Switch>,
    /// Newest telemetry (scrape round or pushed samples), unix ms; 0: none.
    pub last_telemetry_ms: AtomicI64,
    /// Wakes the loop (an approval, a switch).
    pub wake: Notify,
    /// Serialises decision rounds: one decides at a time.
    round: tokio::sync::Mutex<()>,
}

/// Why an API request about an action was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ActionRefusal {
    NotFound,
    Conflict(String),
    Storage(String),
}

impl Remediation {
    pub fn new(
        config: &crate::config::Config,
        docker: Arc<std::sync::OnceLock<aiops_docker::DockerTarget>>,
    ) -> Remediation {
        let r = &config.remediation;
        let executor = r.executor.as_ref().and_then(|e| match Executor::new(e, docker.clone()) {
            Ok(x) => Some(x),
            Err(why) => {
                tracing::error!(error = %why, "remediation executor not available; playbooks will not act");
                None
            }
        });
        let capability = executor.as_ref().map(Executor::capability);
        Remediation {
            remediator: Remediator::new(r.playbooks.clone(), r.settings.clone()),
            executor,
            capability,
            ledger: Mutex::new(BTreeMap::new()),
            switch: Mutex::new(Switch {
                enabled: r.enabled,
                by: "configuration".into(),
                at_ms: 0,
                reason: if r.enabled {
                    "remediation.enabled is true".into()
                } else {
                    "remediation.enabled is false".into()
                },
            }),
            last_telemetry_ms: AtomicI64::new(0),
            wake: Notify::new(),
            round: tokio::sync::Mutex::new(()),
        }
    }

    pub fn remediator(&self) -> &Remediator {
        &self.remediator
    }

    pub fn capability(&self) -> Option<&Capability> {
        self.capability.as_ref()
    }

    pub fn switch(&self) -> Switch {
        self.switch.lock().clone()
    }

    pub fn saw_telemetry(&self, now_ms: i64) {
        self.last_telemetry_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Current records, newest change first, optionally of one incident.
    pub fn records(&self, incident: Option<&str>, limit: usize) -> Vec<ActionRecord> {
        let mut out: Vec<ActionRecord> = self
            .ledger
            .lock()
            .values()
            .filter(|r| incident.is_none_or(|i| r.incident_id == i))
            .cloned()
            .collect();
        out.sort_by(|a, b| (b.updated_ms, &b.id).cmp(&(a.updated_ms, &a.id)));
        out.truncate(limit);
        out
    }

    pub fn record(&self, id: &str) -> Option<ActionRecord> {
        self.ledger.lock().get(id).cloned()
    }

    fn remember(&self, record: ActionRecord) {
        let mut ledger = self.ledger.lock();
        ledger.insert(record.id.clone(), record);
        let finals = ledger.values().filter(|r| r.is_final()).count();
        if finals > MAX_FINAL_IN_MEMORY {
            let mut oldest: Vec<(i64, String)> = ledger
                .values()
                .filter(|r| r.is_final())
                .map(|r| (r.updated_ms, r.id.clone()))
                .collect();
            oldest.sort();
            for (_, id) in oldest.into_iter().take(finals - MAX_FINAL_IN_MEMORY) {
                ledger.remove(&id);
            }
        }
    }
}

/// Appends one event of a record; the record is remembered only once it is
/// stored. `Ok(false)`: the event was already there (decided before).
async fn append(state: &AppState, record: &ActionRecord, event: &str) -> Result<bool, String> {
    let db = state
        .incident_db
        .get()
        .ok_or("the incident database is not connected")?;
    let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
    let appended = db
        .append_action(&ActionEvent {
            action_id: record.id.clone(),
            event: event.to_owned(),
            incident_id: record.incident_id.clone(),
            at_ms: record.updated_ms,
            by: record.by.clone(),
            record: json,
        })
        .await
        .map_err(|e| e.to_string())?;
    state.remediation.remember(record.clone());
    state.metrics.count_action(&record.action, event);
    state.announce(&record.incident_id);
    Ok(appended == Appended::New)
}

/// At start: the ledger back from the database, the switch as last set,
/// and records an earlier run left `running` marked failed (never redone).
pub async fn restore(state: &AppState) -> Result<(), String> {
    let db = state
        .incident_db
        .get()
        .ok_or("the incident database is not connected")?;
    if let Some(doc) = db.get_state(SWITCH_KEY).await.map_err(|e| e.to_string())?
        && let Ok(switch) = serde_json::from_str::<Switch>(&doc)
    {
        *state.remediation.switch.lock() = switch;
    }
    let rows = db.actions(None, RELOAD).await.map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for row in rows {
        match serde_json::from_str::<ActionRecord>(&row) {
            Ok(r) => records.push(r),
            Err(e) => {
                tracing::warn!(error = %e, "a stored action record is not readable; left in the database")
            }
        }
    }
    let count = records.len();
    for r in &records {
        state.remediation.remember(r.clone());
    }
    let now = state.clock.now_ms();
    for failed in aiops_playbooks::recover(&records, now) {
        tracing::warn!(id = %failed.id, action = %failed.action, "an action was running when the engine stopped; marked failed, not carried out again");
        append(state, &failed, failed.state.as_str()).await?;
    }
    tracing::info!(
        actions = count,
        playbooks = state.remediation.remediator.playbooks().len(),
        "remediation ledger restored"
    );
    Ok(())
}

/// Runs decision rounds after each evaluation and on every wake, until stopped.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if state.remediation.remediator.playbooks().is_empty() {
        return None;
    }
    let state = state.clone();
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.remediation.wake.notified() => {}
                _ = stop.changed() => return,
            }
            round(&state).await;
        }
    }))
}

/// One decision round: decide, append, carry out.
pub async fn round(state: &AppState) {
    if !state.leadership.is_leader() {
        return;
    }
    let rem = &state.remediation;
    let _one_at_a_time = rem.round.lock().await;
    let now = state.clock.now_ms();
    let incidents = state.analysis.lock().correlator().incidents().to_vec();
    let ledger: Vec<ActionRecord> = rem.ledger.lock().values().cloned().collect();
    let switch = rem.switch();
    let off = (!switch.enabled).then(|| format!("{} by {}", switch.reason, switch.by));
    let last = rem.last_telemetry_ms.load(Ordering::Relaxed);
    let effects = rem.remediator.decide(&World {
        now_ms: now,
        incidents: &incidents,
        ledger: &ledger,
        switched_off: off.as_deref(),
        telemetry_age_ms: (last > 0).then(|| now - last),
        executor: rem.capability.as_ref(),
    });
    let mut fresh_running: Option<String> = None;
    for effect in effects {
        match effect {
            Effect::Record { mut record, event } => {
                attach_preview(rem, &mut record).await;
                match append(state, &record, &event).await {
                    Ok(new) => {
                        if record.state == ActionState::Running && event == "running" {
                            fresh_running = new.then(|| record.id.clone());
                        }
                    }
                    Err(e) => {
                        // nothing is carried out that is not in the ledger first
                        tracing::error!(error = %e, id = %record.id, "action not recorded; this round stops here");
                        return;
                    }
                }
            }
            Effect::Execute(record) => {
                if fresh_running.as_deref() != Some(record.id.as_str()) {
                    tracing::warn!(id = %record.id, "running was already recorded by an earlier decision: not carried out again");
                    continue;
                }
                let state = state.clone();
                tokio::spawn(async move { carry_out(&state, record).await });
            }
        }
    }
}

/// A record that asks a person (an approval) or only shows what would be
/// done (a dry-run playbook) carries the executor's own dry run, taken
/// once, when it is first decided; the states after keep it.
async fn attach_preview(rem: &Remediation, record: &mut ActionRecord) {
    if record.preview.is_some() || record.mode == aiops_playbooks::Mode::Auto.as_str() {
        return;
    }
    if let Some(known) = rem.ledger.lock().get(&record.id) {
        // decided in the same round from a copy taken before it was stored
        record.preview = known.preview.clone();
        return;
    }
    if !matches!(
        record.state,
        ActionState::PendingApproval | ActionState::Planned
    ) {
        return;
    }
    if let Some(executor) = &rem.executor {
        record.preview = executor.preview(record).await;
    }
}

/// Carries out one action and records what came of it.
async fn carry_out(state: &AppState, record: ActionRecord) {
    let rem = &state.remediation;
    tracing::info!(id = %record.id, action = %record.action, service = ?record.service, incident = %record.incident_id, "carrying out");
    let outcome = match record.action.as_str() {
        "annotate" | "escalate" => {
            let now = state.clock.now_ms();
            let text = record.plan.trim_start_matches("escalate: ").to_owned();
            let event = if record.action == "escalate" {
                "escalated"
            } else {
                "note"
            };
            let detail = format!("{} (playbook {}, {})", text, record.playbook, record.id);
            let annotated = state
                .analysis
                .lock()
                .correlator_mut()
                .annotate(&record.incident_id, event, &detail, now)
                .map(|_| ());
            crate::analysis::persist_changed(state).await;
            annotated
                .map(|()| format!("{event} on the incident's timeline"))
                .map_err(|e| e.to_string())
        }
        _ => match &rem.executor {
            Some(executor) => {
                // the restart, the short outage and the new version this
                // causes are the engine's own doing, not a new fault
                let service = record.service.clone().unwrap_or_default();
                let until = state.clock.now_ms() + EXPECTED_CHANGE_MS;
                let why = format!(
                    "{} by playbook {} ({})",
                    record.action, record.playbook, record.id
                );
                state.analysis.lock().expect_change(&service, until, &why);
                let outcome = executor.act(&record).await;
                if outcome.is_err() {
                    state.analysis.lock().forget_expected(&service);
                }
                outcome
            }
            None => Err("no remediation target is configured".into()),
        },
    };
    if let Err(why) = &outcome {
        tracing::warn!(id = %record.id, error = %why, "action failed");
    }
    let now = state.clock.now_ms();
    let Some(done) = rem.remediator.finished(&record, outcome, now) else {
        return;
    };
    if let Err(e) = append(state, &done, done.state.as_str()).await {
        tracing::error!(error = %e, id = %done.id, "the outcome of an action was not recorded; it stays running in the ledger and is marked failed at the next start");
    }
    rem.wake.notify_one();
}

/// A responder approves or denies a pending action.
pub async fn decide_approval(
    state: &AppState,
    id: &str,
    approve: bool,
    by: &str,
    note: &str,
) -> Result<ActionRecord, ActionRefusal> {
    let rem = &state.remediation;
    let _one_at_a_time = rem.round.lock().await;
    let record = rem.record(id).ok_or(ActionRefusal::NotFound)?;
    let now = state.clock.now_ms();
    if record.state != ActionState::PendingApproval {
        return Err(ActionRefusal::Conflict(format!(
            "{id} is {}, not waiting for an approval",
            record.state.as_str()
        )));
    }
    if record.expires_ms.is_some_and(|e| now >= e) {
        return Err(ActionRefusal::Conflict(format!(
            "the approval of {id} expired"
        )));
    }
    let (next, verb) = if approve {
        (ActionState::Approved, "approved")
    } else {
        (ActionState::Denied, "denied")
    };
    let reason = if note.is_empty() {
        format!("{verb} by {by}")
    } else {
        format!("{verb} by {by}: {note}")
    };
    let moved = record
        .moved(next, by, reason, now)
        .map_err(ActionRefusal::Conflict)?;
    match append(state, &moved, next.as_str()).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(ActionRefusal::Conflict(format!(
                "{id} was decided meanwhile"
            )));
        }
        Err(e) => return Err(ActionRefusal::Storage(e)),
    }
    drop(_one_at_a_time);
    rem.wake.notify_one();
    Ok(moved)
}

/// Turns remediation off or on; kept across restarts.
pub async fn set_switch(
    state: &AppState,
    enabled: bool,
    by: &str,
    reason: &str,
) -> Result<Switch, String> {
    let switch = Switch {
        enabled,
        by: by.to_owned(),
        at_ms: state.clock.now_ms(),
        reason: if reason.is_empty() {
            if enabled {
                "switched on".into()
            } else {
                "switched off".into()
            }
        } else {
            reason.to_owned()
        },
    };
    let db = state
        .incident_db
        .get()
        .ok_or("the incident database is not connected")?;
    let doc = serde_json::to_string(&switch).map_err(|e| e.to_string())?;
    db.put_state(SWITCH_KEY, switch.at_ms, &doc)
        .await
        .map_err(|e| e.to_string())?;
    *state.remediation.switch.lock() = switch.clone();
    tracing::warn!(enabled, by, reason = %switch.reason, "remediation switched");
    state.remediation.wake.notify_one();
    Ok(switch)
}

#[cfg(all(test, feature = "kubernetes"))]
mod tests {
    use std::collections::HashMap;

    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Config;

    const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/payments";
    const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/payments/scale";

    async fn deployment() -> axum::Json<Value> {
        axum::Json(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "payments", "namespace": "shop", "resourceVersion": "100"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "payments"}},
                "template": {"metadata": {"labels": {"app": "payments"}},
                    "spec": {"containers": [{"name": "payments", "image": "aiops/shop:v3"}]}}}}))
    }

    /// The scale subresource of payments as the API server answers it; a
    /// dry-run patch answers the new count and keeps the old one.
    async fn scale(
        State(replicas): State<Arc<Mutex<u32>>>,
        Query(query): Query<HashMap<String, String>>,
        body: Option<axum::Json<Value>>,
    ) -> (StatusCode, axum::Json<Value>) {
        let mut shown = *replicas.lock();
        if let Some(axum::Json(patch)) = body {
            let asked = patch["spec"]["replicas"].as_u64().unwrap_or(0) as u32;
            if query.get("dryRun").map(String::as_str) != Some("All") {
                *replicas.lock() = asked;
            }
            shown = asked;
        }
        (
            StatusCode::OK,
            axum::Json(json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "payments", "namespace": "shop"},
                "spec": {"replicas": shown}, "status": {"replicas": 2}})),
        )
    }

    async fn remediation_on_loopback(replicas: Arc<Mutex<u32>>) -> Remediation {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = Router::new()
            .route(DEPLOYMENT, get(deployment))
            .route(SCALE, get(scale).patch(scale))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "message": "deployments.apps \"payments\" not found",
                        "reason": "NotFound", "code": 404})),
                )
            })
            .with_state(replicas);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let yaml = "remediation:\n  executor: kubernetes\n  kubernetes: {namespace: shop}\n";
        let config = Config::parse(yaml, &HashMap::new()).expect("config");
        let rem = Remediation::new(&config, Arc::default());
        let target =
            aiops_kube::KubeTarget::at(&url, "shop", &["shop".to_owned()]).expect("target");
        match &rem.executor {
            Some(Executor::Kubernetes(k)) => k.connect_to(target),
            _ => panic!("a kubernetes executor"),
        }
        rem
    }

    fn scale_record(mode: &str, state: ActionState) -> ActionRecord {
        let mut r = ActionRecord::new(
            "inc-1/scale-out/1/0".into(),
            "inc-1",
            "scale-out",
            0,
            1,
            "scale",
            mode,
            state,
            "saturated".into(),
            "scale payments to 4".into(),
            0,
        );
        r.service = Some("payments".into());
        r.replicas = Some(4);
        r
    }

    /// An approval shows what the API server would change, taken once and
    /// carried into the states after; the dry run changes nothing, and an
    /// action that runs at once is not held up by one.
    #[tokio::test]
    async fn an_approval_carries_the_api_servers_dry_run() {
        let replicas = Arc::new(Mutex::new(2));
        let rem = remediation_on_loopback(replicas.clone()).await;
        let mut planned = scale_record("approve", ActionState::Planned);
        attach_preview(&rem, &mut planned).await;
        assert_eq!(
            planned.preview.as_deref(),
            Some("dry run (dryRun=All) of deployment payments in shop: /spec/replicas: 2 -> 4")
        );
        assert_eq!(*replicas.lock(), 2, "a dry run changes nothing");
        rem.remember(planned.clone());
        // the pending state, decided from a copy taken before the planned
        // one was stored
        let mut pending = scale_record("approve", ActionState::PendingApproval);
        attach_preview(&rem, &mut pending).await;
        assert_eq!(pending.preview, planned.preview);

        let mut auto = scale_record("auto", ActionState::Planned);
        auto.key = "inc-2/scale-out/1/0".into();
        auto.id = "act-auto".into();
        attach_preview(&rem, &mut auto).await;
        assert_eq!(auto.preview, None, "auto mode acts at once");
    }

    #[tokio::test]
    async fn a_failed_dry_run_says_why() {
        let rem = remediation_on_loopback(Arc::new(Mutex::new(2))).await;
        let mut restart = scale_record("dry-run", ActionState::Planned);
        restart.action = "restart".into();
        restart.service = Some("cart".into());
        attach_preview(&rem, &mut restart).await;
        let preview = restart.preview.unwrap_or_default();
        assert_eq!(
            preview,
            "dry run failed: no deployment \"cart\" in namespace \"shop\""
        );
    }
}
