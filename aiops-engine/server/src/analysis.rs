//! The analysis at the edge: connects the incident database and takes back
//! what a previous run left open, evaluates on an interval, feeds pushed
//! log lines to the template miner, and persists changed incidents.

use std::time::Duration;

use aiops_analysis::Incident;
use aiops_analysis::TemplatesSnapshot;
use aiops_incident_db::{IncidentDb, ListFilter};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::routes::incidents::row;
use crate::state::AppState;

/// Resolved incidents reloaded at start, besides every unresolved one, so
/// a flap right after a restart reopens its incident.
const RELOAD_RESOLVED: usize = 200;

/// Connects (creating the SQLite file or the tables as needed) and restores
/// incidents into the correlator. An engine restart loses none.
pub async fn connect_incidents(state: &AppState) -> Result<(), String> {
    if state.incident_db.get().is_some() {
        return Ok(());
    }
    let url = &state.config.incidents.database;
    let db = IncidentDb::connect(url)
        .await
        .map_err(|e| format!("incidents database: {e}"))?;
    let restored = load_incidents(&db).await?;
    tracing::info!(
        backend = db.backend(),
        restored = restored.len(),
        "incidents database connected"
    );
    let now = state.clock.now_ms();
    state.analysis.lock().restore(restored, now);
    restore_templates(state, &db).await;
    let _ = state.incident_db.set(db);
    Ok(())
}

/// Every unresolved incident and the latest resolved ones: what an engine
/// that starts, or takes over as leader, continues from.
pub async fn load_incidents(db: &IncidentDb) -> Result<Vec<Incident>, String> {
    let mut rows = db
        .unresolved()
        .await
        .map_err(|e| format!("incidents database: {e}"))?;
    let resolved = db
        .list(&ListFilter {
            state: Some("resolved".into()),
            limit: RELOAD_RESOLVED,
            ..ListFilter::default()
        })
        .await
        .map_err(|e| format!("incidents database: {e}"))?;
    rows.extend(resolved);
    let mut incidents = Vec::new();
    for row in rows {
        match serde_json::from_value::<Incident>(row.document) {
            Ok(incident) => incidents.push(incident),
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "stored incident not readable; left in the database")
            }
        }
    }
    Ok(incidents)
}

/// Key of the learned log templates in the engine state table.
const TEMPLATES_KEY: &str = "log_templates";
/// How often learned templates are saved while lines arrive (and once more
/// at shutdown): a crash loses at most this much learning.
const TEMPLATES_SAVE_EVERY: Duration = Duration::from_secs(60);
/// A snapshot larger than this is not saved (the miner's own limits keep it
/// far below in practice); ids stay deterministic without it.
const MAX_TEMPLATES_DOCUMENT_BYTES: usize = 64 << 20;

/// Takes back the templates a previous run learned. A missing or unreadable
/// snapshot only costs relearning: the engine starts anyway.
async fn restore_templates(state: &AppState, db: &IncidentDb) {
    let document = match db.get_state(TEMPLATES_KEY).await {
        Ok(Some(document)) => document,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "learned log templates not read; relearning them");
            return;
        }
    };
    let snapshot = match serde_json::from_str::<TemplatesSnapshot>(&document) {
        Ok(snapshot) => snapshot,
        Err(e) => {
            tracing::warn!(error = %e, "stored log templates not readable; relearning them");
            return;
        }
    };
    let services = snapshot.miners.len();
    match state.analysis.lock().restore_templates(snapshot) {
        Ok(()) => tracing::info!(services, "learned log templates restored"),
        Err(e) => tracing::warn!(error = %e, "stored log templates refused; relearning them"),
    }
}

/// Saves the learned templates when lines were mined since `saved_lines`;
/// returns the count now saved.
pub async fn save_templates(state: &AppState, saved_lines: u64) -> u64 {
    let Some(db) = state.incident_db.get() else {
        return saved_lines;
    };
    // the leader's templates are the ones kept
    if !state.leadership.is_leader() {
        return saved_lines;
    }
    let (lines, snapshot) = {
        let analysis = state.analysis.lock();
        let lines = analysis.lines_mined();
        if lines == saved_lines {
            return saved_lines;
        }
        (lines, analysis.templates_snapshot())
    };
    let document = match serde_json::to_string(&snapshot) {
        Ok(d) if d.len() <= MAX_TEMPLATES_DOCUMENT_BYTES => d,
        Ok(d) => {
            tracing::warn!(bytes = d.len(), "learned log templates too large to save");
            return lines;
        }
        Err(e) => {
            tracing::error!(error = %e, "learned log templates not serialisable");
            return lines;
        }
    };
    match db
        .put_state(TEMPLATES_KEY, state.clock.now_ms(), &document)
        .await
    {
        Ok(()) => lines,
        Err(e) => {
            tracing::error!(error = %e, "learned log templates not saved; will retry");
            saved_lines
        }
    }
}

pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        crate::incident_writes::spawn(state, stop.clone()),
        tokio::spawn(evaluate_loop(state.clone(), stop.clone())),
        tokio::spawn(log_feed(state.clone(), stop)),
    ]
}

/// After a scrape lands, wait this long for the rest of its round (targets
/// are scraped concurrently) before evaluating.
const SCRAPE_ROUND_SETTLE: Duration = Duration::from_millis(300);

/// Evaluates after every scrape round (at most twice per interval), and on
/// the interval when nothing is scraped (remote-write only).
async fn evaluate_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = state
        .config
        .incidents
        .evaluation_interval
        .max(Duration::from_millis(100));
    let min_gap = every / 2;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now() - every;
    let mut last_scrape: Option<tokio::time::Instant> = None;
    let mut templates_saved = tokio::time::Instant::now();
    let mut templates_saved_lines = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                // while scrapes arrive, they set the pace
                if last_scrape.is_some_and(|t| t.elapsed() < every * 3 / 2) {
                    continue;
                }
            }
            _ = state.scraped.notified() => {
                last_scrape = Some(tokio::time::Instant::now());
                tokio::time::sleep(SCRAPE_ROUND_SETTLE).await;
                if last.elapsed() < min_gap {
                    continue;
                }
            }
            _ = stop.changed() => return,
        }
        last = tokio::time::Instant::now();
        let now = state.clock.now_ms();
        let worker = state.clone();
        let step_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let _ = tokio::task::spawn_blocking(move || {
            // deriving reads every series: without the lock the console needs
            let deriver = worker.analysis.lock().deriver();
            let derived = deriver.derive(&worker.series, now);
            let jobs = {
                let mut analysis = worker.analysis.lock();
                analysis.evaluate_derived(derived, now);
                crate::window_rank::jobs(&analysis, now)
            };
            // polars works on copies, without the lock the intake needs
            let ranked: Vec<_> = jobs
                .iter()
                .filter_map(|job| {
                    crate::window_rank::rank(job, step_ms).map(|c| (job.incident_id.clone(), c))
                })
                .collect();
            let mut analysis = worker.analysis.lock();
            for (id, causes) in ranked {
                analysis.set_window_causes(&id, causes, now);
            }
        })
        .await;
        persist_changed(&state).await;
        // playbooks decide on what this evaluation found
        state.remediation.wake.notify_one();
        if templates_saved.elapsed() >= TEMPLATES_SAVE_EVERY {
            templates_saved = tokio::time::Instant::now();
            templates_saved_lines = save_templates(&state, templates_saved_lines).await;
        }
    }
}

/// Mines pushed lines on the ingest workers, holding only the miner's lock;
/// the analyser is locked just to take the signals mining decided.
async fn log_feed(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut lines = state.logs.subscribe();
    let miner = std::sync::Arc::new(state.analysis.lock().log_feed());
    let mut lagged = Lagged::default();
    loop {
        let batch = tokio::select! {
            batch = lines.recv() => batch,
            _ = stop.changed() => return,
        };
        match batch {
            Ok(batch) => {
                let miner = miner.clone();
                let Ok(signals) = state.ingest_workers.run(move || miner.mine(&batch)).await else {
                    return;
                };
                let now = state.clock.now_ms();
                state.analysis.lock().observe_log_signals(signals, now);
            }
            Err(RecvError::Lagged(missed)) => {
                // batches went past unmined (counted in
                // aiops_store_subscriber_lagged_total); said once a minute,
                // since under overload it happens many times a second
                lagged.missed += missed;
                if lagged.said.is_none_or(|t| t.elapsed() >= LAG_WARNING_EVERY) {
                    tracing::warn!(
                        missed_batches = lagged.missed,
                        "the template miner falls behind the pushed lines: batches went unmined"
                    );
                    lagged = Lagged {
                        missed: 0,
                        said: Some(tokio::time::Instant::now()),
                    };
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// How often a lagging miner is reported, at most.
const LAG_WARNING_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Lagged {
    missed: u64,
    said: Option<tokio::time::Instant>,
}

/// Writes every incident changed since the last call, now; what the
/// database fails stays queued for the writer (`incident_writes`).
pub async fn persist_changed(state: &AppState) {
    queue_changed(state);
    if let Some(db) = state.incident_db.get() {
        state
            .incident_writes
            .flush_unless_failing(db, state.clock.now_ms())
            .await;
    }
}

/// Queues every incident changed since the last call for the writer.
fn queue_changed(state: &AppState) {
    if state.incident_db.get().is_none() {
        return;
    }
    if !state.leadership.is_leader() {
        // a follower's incidents are its own view, shown but never stored
        // (the leader's are the record, which it takes over if it leads)
        let ids = state.analysis.lock().correlator_mut().take_changed();
        for id in &ids {
            state.announce(id);
        }
        return;
    }
    let changed: Vec<Incident> = {
        let mut analysis = state.analysis.lock();
        let ids = analysis.correlator_mut().take_changed();
        ids.iter()
            .filter_map(|id| analysis.correlator().get(id).cloned())
            .collect()
    };
    crate::similar::remember(state, &changed);
    let rows: Vec<_> = changed.iter().map(row).collect();
    for row in &rows {
        state.announce(&row.id);
    }
    state.incident_writes.queue(rows);
}
