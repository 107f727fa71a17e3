//! Incident writes that outlive a database outage: every changed incident
//! is queued here (the newest revision per incident, within a byte bound)
//! and written at once while the database works; once it fails, one task
//! retries, so an unreachable or full database delays persistence without
//! holding up intake or detection, and a change made meanwhile is written
//! once the database is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aiops_incident_db::{IncidentDb, IncidentRow};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Queued incident documents held at most (serialised size): far above a
/// long outage's worth of changes, far below what would threaten the
/// engine's memory.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// How often a database that failed is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Error text kept for readiness and the log.
const MAX_ERROR_CHARS: usize = 300;

#[derive(Default)]
pub struct IncidentWrites {
    queue: Mutex<Queue>,
    /// One flush at a time: a second would only repeat the first's writes.
    flushing: tokio::sync::Mutex<()>,
    wake: Notify,
    queued: Gauge,
    database_up: Gauge,
    dropped: Counter,
    written: Counter,
    failed: AtomicU64,
}

#[derive(Default)]
struct Queue {
    rows: HashMap<String, Queued>,
    bytes: usize,
    outage: Option<Outage>,
}

struct Queued {
    row: IncidentRow,
    bytes: usize,
}

/// The database has been failing since `since_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub since_ms: i64,
    pub error: String,
}

/// What readiness and the tests see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritesStatus {
    pub queued: usize,
    pub queued_bytes: usize,
    pub dropped: u64,
    pub outage: Option<Outage>,
}

impl IncidentWrites {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "incident_writes_queued",
            "Changed incidents waiting to be written to the incidents database",
            self.queued.clone(),
        );
        registry.register(
            "incident_database_up",
            "1 while the incidents database takes writes, 0 while it fails them",
            self.database_up.clone(),
        );
        registry.register(
            "incident_writes_dropped",
            "Queued incident writes given up: the queue's byte bound was reached during an outage",
            self.dropped.clone(),
        );
        registry.register(
            "incident_writes",
            "Incident writes that reached the incidents database",
            self.written.clone(),
        );
        self.database_up.set(1);
    }

    /// Queues the rows (a newer revision replaces a queued one) and wakes
    /// the writer. Over the byte bound, the least recently changed queued
    /// incidents are given up, loudly: the newest state matters most.
    pub fn queue(&self, rows: impl IntoIterator<Item = IncidentRow>) {
        let mut queue = self.queue.lock();
        for row in rows {
            let bytes = row.document.to_string().len() + row.id.len();
            let id = row.id.clone();
            if let Some(old) = queue.rows.get(&id)
                && old.row.revision > row.revision
            {
                continue;
            }
            if let Some(old) = queue.rows.insert(id, Queued { row, bytes }) {
                queue.bytes -= old.bytes;
            }
            queue.bytes += bytes;
        }
        while queue.bytes > MAX_QUEUED_BYTES {
            let Some(oldest) = queue
                .rows
                .values()
                .min_by_key(|q| (q.row.updated_at_ms, q.row.id.clone()))
                .map(|q| q.row.id.clone())
            else {
                break;
            };
            if let Some(gone) = queue.rows.remove(&oldest) {
                queue.bytes -= gone.bytes;
                self.dropped.inc();
                tracing::error!(id = %oldest, bound_bytes = MAX_QUEUED_BYTES, "incident write given up: the queue for the incidents database is full");
            }
        }
        self.queued.set(gauge_value(queue.rows.len()));
        drop(queue);
        self.wake.notify_one();
    }

    pub fn status(&self) -> WritesStatus {
        let queue = self.queue.lock();
        WritesStatus {
            queued: queue.rows.len(),
            queued_bytes: queue.bytes,
            dropped: self.dropped.get(),
            outage: queue.outage.clone(),
        }
    }

    /// Writes what is queued now, unless the database is known to be
    /// failing: then the writer's retries do (`queue` woke it), and the
    /// caller (an evaluation, a person's change) does not wait out a
    /// connect timeout each time. While the database works, an incident is
    /// thus written before the playbooks decide on it, so an action never
    /// names an incident the database does not hold.
    pub async fn flush_unless_failing(&self, db: &IncidentDb, now_ms: i64) {
        if self.queue.lock().outage.is_some() {
            return;
        }
        let _one = self.flushing.lock().await;
        self.flush_locked(db, now_ms).await;
    }

    /// Writes what is queued, oldest change first, until the database
    /// fails; returns whether the queue is now empty. A row the database
    /// refuses for itself (not for being unreachable) is logged and given
    /// up, so one bad row cannot hold up the rest.
    pub async fn flush(&self, db: &IncidentDb, now_ms: i64) -> bool {
        let _one = self.flushing.lock().await;
        self.flush_locked(db, now_ms).await
    }

    async fn flush_locked(&self, db: &IncidentDb, now_ms: i64) -> bool {
        let mut batch: Vec<IncidentRow> = {
            let queue = self.queue.lock();
            queue.rows.values().map(|q| q.row.clone()).collect()
        };
        batch.sort_by(|a, b| (a.updated_at_ms, &a.id).cmp(&(b.updated_at_ms, &b.id)));
        for row in batch {
            match db.upsert(&row).await {
                Ok(_) => {
                    self.written.inc();
                    self.forget(&row);
                }
                Err(e) if e.is_transient() => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    let mut queue = self.queue.lock();
                    if queue.outage.is_none() {
                        tracing::error!(error = %e, queued = queue.rows.len(), "incidents database failing; incident writes are queued and retried");
                        queue.outage = Some(Outage {
                            since_ms: now_ms,
                            error: text_clip::clip(&e.to_string(), MAX_ERROR_CHARS),
                        });
                    }
                    self.database_up.set(0);
                    return false;
                }
                Err(e) => {
                    tracing::error!(id = %row.id, error = %e, "incident refused by the incidents database; not retried");
                    self.forget(&row);
                }
            }
        }
        let mut queue = self.queue.lock();
        if let Some(outage) = queue.outage.take() {
            let secs = (now_ms - outage.since_ms).max(0) / 1000;
            tracing::info!(
                down_s = secs,
                failed_attempts = self.failed.swap(0, Ordering::Relaxed),
                "incidents database back; queued incident writes persisted"
            );
        }
        self.database_up.set(1);
        queue.rows.is_empty()
    }

    /// Takes a written row off the queue, unless a newer revision of its
    /// incident was queued meanwhile.
    fn forget(&self, written: &IncidentRow) {
        let mut queue = self.queue.lock();
        let newer = queue
            .rows
            .get(&written.id)
            .is_some_and(|q| q.row.revision > written.revision);
        if !newer && let Some(gone) = queue.rows.remove(&written.id) {
            queue.bytes -= gone.bytes;
        }
        self.queued.set(gauge_value(queue.rows.len()));
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The writer: writes on every wake, and every [`RETRY_EVERY`] while
/// anything is left (the database is failing).
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let writes = state.incident_writes.clone();
        let mut pending = false;
        loop {
            let retry = async {
                if pending {
                    tokio::time::sleep(RETRY_EVERY).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = writes.wake.notified() => {}
                _ = retry => {}
                _ = stop.changed() => return,
            }
            let Some(db) = state.incident_db.get() else {
                continue;
            };
            pending = !writes.flush(db, state.clock.now_ms()).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: &str, revision: i64, updated_at_ms: i64, payload: &str) -> IncidentRow {
        IncidentRow {
            id: id.into(),
            state: "open".into(),
            opened_at_ms: 0,
            updated_at_ms,
            resolved_at_ms: None,
            services: vec!["cart".into()],
            revision,
            document: json!({"payload": payload}),
        }
    }

    #[test]
    fn a_newer_revision_replaces_the_queued_one_and_an_older_does_not() {
        let writes = IncidentWrites::default();
        writes.queue([row("inc-1", 2, 10, "b")]);
        writes.queue([row("inc-1", 1, 5, "a")]);
        assert_eq!(writes.status().queued, 1);
        let queue = writes.queue.lock();
        assert_eq!(queue.rows["inc-1"].row.revision, 2);
    }

    #[test]
    fn over_the_byte_bound_the_least_recently_changed_are_given_up() {
        let writes = IncidentWrites::default();
        let big = "x".repeat(MAX_QUEUED_BYTES / 3);
        writes.queue([row("inc-old", 1, 1, &big)]);
        writes.queue([row("inc-mid", 1, 2, &big)]);
        writes.queue([row("inc-new", 1, 3, &big)]);
        writes.queue([row("inc-newest", 1, 4, &big)]);
        let status = writes.status();
        assert!(status.queued_bytes <= MAX_QUEUED_BYTES, "{status:?}");
        assert_eq!(status.dropped, 2, "{status:?}");
        let queue = writes.queue.lock();
        assert!(queue.rows.contains_key("inc-newest") && queue.rows.contains_key("inc-new"));
    }

    #[tokio::test]
    async fn a_failing_database_keeps_the_queue_and_says_since_when_and_a_working_one_empties_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("incidents.db");
        let db = IncidentDb::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("sqlite");
        let writes = IncidentWrites::default();
        writes.queue([row("inc-1", 1, 1, "a"), row("inc-2", 1, 2, "b")]);
        db.close().await;
        assert!(
            !writes.flush(&db, 1_000).await,
            "a closed pool writes nothing"
        );
        let status = writes.status();
        assert_eq!(status.queued, 2);
        let outage = status.outage.expect("an outage is recorded");
        assert_eq!(outage.since_ms, 1_000);
        assert!(!outage.error.is_empty());
        // the outage keeps its start while it lasts
        assert!(!writes.flush(&db, 3_000).await);
        assert_eq!(writes.status().outage.map(|o| o.since_ms), Some(1_000));

        let db = IncidentDb::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("sqlite again");
        writes.queue([row("inc-1", 2, 4, "a2")]);
        assert!(writes.flush(&db, 5_000).await);
        let status = writes.status();
        assert_eq!((status.queued, status.outage), (0, None));
        let stored = db.get("inc-1").await.expect("read").expect("stored");
        assert_eq!(stored.revision, 2, "the newest revision was written");
        assert!(db.get("inc-2").await.expect("read").is_some());
    }
}
