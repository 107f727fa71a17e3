//! The analysis at the edge: connects the incident database and takes back
//! what a previous run left open, evaluates on an interval, feeds pushed
//! log lines to the template miner, and persists changed incidents.

use std::time::Duration;

use aiops_analysis::Incident;
use aiops_incident_db::{IncidentDb, ListFilter};
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
    let mut restored = Vec::new();
    for row in rows {
        match serde_json::from_value::<Incident>(row.document) {
            Ok(incident) => restored.push(incident),
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "stored incident not readable; left in the database")
            }
        }
    }
    tracing::info!(
        backend = db.backend(),
        restored = restored.len(),
        "incidents database connected"
    );
    let now = state.clock.now_ms();
    state.analysis.lock().restore(restored, now);
    let _ = state.incident_db.set(db);
    Ok(())
}

pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
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
        let _ = tokio::task::spawn_blocking(move || {
            worker.analysis.lock().evaluate(&worker.series, now);
        })
        .await;
        persist_changed(&state).await;
    }
}

async fn log_feed(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut lines = state.logs.subscribe();
    loop {
        let batch = tokio::select! {
            batch = lines.recv() => batch,
            _ = stop.changed() => return,
        };
        match batch {
            Ok(batch) => {
                let now = state.clock.now_ms();
                state.analysis.lock().observe_logs(&batch, now);
            }
            Err(e) => {
                // lagged: batches were dropped for this subscriber; go on
                tracing::warn!(error = %e, "log feed to the template miner lagged");
            }
        }
    }
}

/// Writes every incident changed since the last call.
pub async fn persist_changed(state: &AppState) {
    let Some(db) = state.incident_db.get() else {
        return;
    };
    let rows: Vec<_> = {
        let mut analysis = state.analysis.lock();
        let ids = analysis.correlator_mut().take_changed();
        ids.iter()
            .filter_map(|id| analysis.correlator().get(id).map(row))
            .collect()
    };
    for row in rows {
        if let Err(e) = db.upsert(&row).await {
            tracing::error!(id = %row.id, error = %e, "incident not persisted; will retry on its next change");
        }
    }
}
