//! Which of several engines sharing one incidents database acts: the one
//! holding the database's lease (`incidents.leader_lease`). Every engine
//! ingests and detects; only the leader persists incidents, notifies and
//! carries out actions. A follower that takes the lease first takes over
//! the database's incidents and action ledger, as a restarted engine would,
//! so ids and actions continue and nothing already done is done again
//! (the ledger's unique running event is the last guard).
//!
//! Without a lease configured the engine leads alone, from the start.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use aiops_analysis::Incident;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The one lease the engines share.
pub const LEASE_NAME: &str = "aiops-engine-leader";

pub struct Leadership {
    /// This engine's name in the lease: host, process and a random part,
    /// so a restarted engine is a new holder.
    holder: String,
    lease: Option<Duration>,
    leading: AtomicBool,
    /// Leading counts only until then (two thirds of the lease after the
    /// last renewal was asked for): a leader that was paused or cut off
    /// stops acting by itself, before another can have taken the lease.
    confirmed_until: parking_lot::Mutex<Option<std::time::Instant>>,
    /// The term this engine leads in (the lease's generation), 0 if none.
    term: AtomicI64,
    is_leader: Gauge,
    took_over: Counter,
    stepped_down: Counter,
}

impl Leadership {
    pub fn new(lease: Option<Duration>) -> Leadership {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 64
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            })
            .unwrap_or_else(|| "engine".into());
        let holder = format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Leadership {
            holder,
            lease,
            leading: AtomicBool::new(lease.is_none()),
            confirmed_until: parking_lot::Mutex::new(None),
            term: AtomicI64::new(0),
            is_leader: Gauge::default(),
            took_over: Counter::default(),
            stepped_down: Counter::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "leader",
            "1 while this engine persists incidents, notifies and acts; 0 while it follows",
            self.is_leader.clone(),
        );
        registry.register(
            "leader_takeovers",
            "Times this engine took the leader lease and took over the incidents and the ledger",
            self.took_over.clone(),
        );
        registry.register(
            "leader_step_downs",
            "Times this engine gave up leading (lost or could not renew the lease)",
            self.stepped_down.clone(),
        );
        self.is_leader.set(i64::from(self.is_leader()));
    }

    pub fn is_leader(&self) -> bool {
        if self.lease.is_none() {
            return true;
        }
        self.leading.load(Ordering::SeqCst)
            && self
                .confirmed_until
                .lock()
                .is_some_and(|until| std::time::Instant::now() < until)
    }

    /// A renewal asked for at `asked` succeeded.
    fn confirmed(&self, asked: std::time::Instant) {
        if let Some(lease) = self.lease {
            *self.confirmed_until.lock() = Some(asked + lease * 2 / 3);
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn term(&self) -> i64 {
        self.term.load(Ordering::SeqCst)
    }

    fn lead(&self, term: i64) {
        self.term.store(term, Ordering::SeqCst);
        self.leading.store(true, Ordering::SeqCst);
        self.is_leader.set(1);
        self.took_over.inc();
    }

    fn follow(&self, why: &str) {
        if self.leading.swap(false, Ordering::SeqCst) {
            self.is_leader.set(0);
            self.stepped_down.inc();
            tracing::warn!(holder = %self.holder, why, "stepped down: following from now on");
        }
    }
}

/// Takes, renews and gives up the lease until stopped; `None` when no
/// lease is configured.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let ttl = state.leadership.lease?;
    let state = state.clone();
    Some(tokio::spawn(async move {
        let leadership = state.leadership.clone();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // renewed three times per lease: one failed renewal is survived
        let mut ticker = tokio::time::interval(ttl / 3);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            let Some(db) = state.incident_db.get() else {
                continue;
            };
            let asked = std::time::Instant::now();
            match db
                .take_lease(
                    LEASE_NAME,
                    leadership.holder(),
                    state.clock.now_ms(),
                    ttl_ms,
                )
                .await
            {
                Ok(Some(lease)) => {
                    leadership.confirmed(asked);
                    if leadership.leading.load(Ordering::SeqCst)
                        && lease.generation == leadership.term()
                    {
                        continue;
                    }
                    // a new term: whatever was done meanwhile is in the database
                    match take_over(&state).await {
                        Ok(incidents) => {
                            leadership.lead(lease.generation);
                            tracing::warn!(holder = %leadership.holder(), term = lease.generation, incidents, "leading: took over the incidents and the action ledger");
                            state.remediation.wake.notify_one();
                        }
                        Err(e) => {
                            // not leading on a half-loaded state; the lease
                            // runs out and another engine may try
                            tracing::error!(error = %e, "took the lease but could not take over; following");
                            leadership.follow("the takeover failed");
                            let _ = db.release_lease(LEASE_NAME, leadership.holder()).await;
                        }
                    }
                }
                Ok(None) => leadership.follow("another engine holds the lease"),
                Err(e) => {
                    // leading already ends by itself at two thirds of the
                    // lease after the last confirmed renewal (is_leader);
                    // past that, say so and count it
                    if !leadership.is_leader() {
                        leadership.follow("the lease could not be renewed");
                    }
                    tracing::warn!(error = %e, "leader lease not renewed");
                }
            }
        }
        if leadership.is_leader()
            && let Some(db) = state.incident_db.get()
        {
            // the others need not wait for it to run out
            leadership.follow("shutting down");
            if let Err(e) = db.release_lease(LEASE_NAME, leadership.holder()).await {
                tracing::warn!(error = %e, "leader lease not released; it runs out instead");
            }
        }
    }))
}

/// What a restart would load, loaded into a running engine: the database's
/// incidents (its own give way), the action ledger (an action the old
/// leader left running is marked failed, never redone) and the
/// notification logs. Returns how many incidents were taken over.
async fn take_over(state: &AppState) -> Result<usize, String> {
    let db = state
        .incident_db
        .get()
        .ok_or("the incident database is not connected")?;
    let incidents: Vec<Incident> = crate::analysis::load_incidents(db).await?;
    let count = incidents.len();
    let now = state.clock.now_ms();
    state.analysis.lock().adopt(incidents, now);
    crate::remediation::restore(state).await?;
    crate::notifications::restore(state).await;
    Ok(count)
}
