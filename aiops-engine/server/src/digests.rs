//! Log digests at the edge: every `incidents.log_digest_window`, each
//! service's templates, as the miner counts them, are compared with the
//! window before (`aiops_summarise::digest`); with a model configured, the
//! digests that name changes are rewritten by it, within half the hour's
//! token budget. The latest digests of every service are kept for the API
//! and the console. Nothing acts on a digest.

use std::collections::{BTreeMap, VecDeque};

use aiops_summarise::{DigestTracker, LogDigest, TemplateCount};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Digests kept per service (an hour at the default window).
pub const KEPT_PER_SERVICE: usize = 12;
/// Services kept at most (the one digested longest ago goes first).
const MAX_SERVICES: usize = 1_000;

#[derive(Debug, Default)]
pub struct Digests {
    tracker: DigestTracker,
    recent: BTreeMap<String, VecDeque<LogDigest>>,
}

impl Digests {
    /// A service's digests, newest first.
    pub fn of(&self, service: &str) -> Vec<LogDigest> {
        self.recent
            .get(service)
            .map(|d| d.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// The newest digest of every service, by service name.
    pub fn latest(&self) -> Vec<LogDigest> {
        self.recent
            .values()
            .filter_map(|d| d.back().cloned())
            .collect()
    }

    fn keep(&mut self, digest: LogDigest) {
        if self.recent.len() >= MAX_SERVICES && !self.recent.contains_key(&digest.service) {
            let oldest = self
                .recent
                .iter()
                .min_by_key(|(_, d)| d.back().map_or(i64::MIN, |x| x.to_ms))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.recent.remove(&k);
            }
        }
        let kept = self.recent.entry(digest.service.clone()).or_default();
        if kept.len() >= KEPT_PER_SERVICE {
            kept.pop_front();
        }
        kept.push_back(digest);
    }
}

/// Every service's templates as the miner holds them now.
fn template_counts(state: &AppState) -> Vec<(String, Vec<TemplateCount>)> {
    let analysis = state.analysis.lock();
    let templates = analysis.templates();
    templates
        .services()
        .into_iter()
        .filter_map(|service| {
            let miner = templates.miner(service)?;
            let counts = miner
                .templates()
                .map(|t| TemplateCount {
                    template_id: t.id.to_string().to_lowercase(),
                    text: t.template.to_string(),
                    level: t.level.as_str().to_owned(),
                    count: t.count,
                    first_seen_ms: t.first_seen_ns.div_euclid(1_000_000),
                    exemplars: t.exemplars.iter().map(|e| e.to_string()).collect(),
                })
                .collect();
            Some((service.to_owned(), counts))
        })
        .collect()
}

/// Closes every service's window at `now_ms`: digests made, written by the
/// model where one is configured and they name changes, and kept. Returns
/// how many were made.
pub async fn tick(state: &AppState, now_ms: i64) -> usize {
    let counts = template_counts(state);
    let made: Vec<LogDigest> = {
        let mut digests = state.digests.lock();
        counts
            .iter()
            .filter_map(|(service, templates)| {
                digests
                    .tracker
                    .digest(service, templates, now_ms, &state.redactor)
            })
            .collect()
    };
    let n = made.len();
    for digest in made {
        // one call at a time, outside the lock; a digest without changes
        // costs no call
        let (digest, report) = state.summary_writer.write_digest(digest).await;
        if report.calls > 0 {
            tracing::info!(
                service = %digest.service,
                source = %digest.source,
                fallback = digest.fallback.as_deref().unwrap_or(""),
                calls = report.calls,
                "log digest written"
            );
        }
        state.digests.lock().keep(digest);
    }
    n
}

/// Closes a window every `incidents.log_digest_window`.
pub fn spawn(state: &AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let every = state.config.incidents.log_digest_window;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            tick(&state, state.clock.now_ms()).await;
        }
    })
}
