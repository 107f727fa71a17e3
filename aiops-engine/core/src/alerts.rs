//! Alerts from Alertmanager webhooks, stored once per episode. Alertmanager
//! delivers at least once and repeats firing notifications every
//! `repeat_interval`, so the same (fingerprint, startsAt, status) arrives
//! many times; it is stored once and later deliveries are counted. An
//! episode is one firing of one alert: (fingerprint, startsAt). Bounded:
//! when full, the oldest resolved episode goes first, then the oldest firing.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;
use serde::Serialize;

use crate::limits::AlertStoreConfig;
use crate::model::AlertEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordOutcome {
    /// (fingerprint, startsAt, status) seen for the first time.
    pub new: u64,
    /// Redeliveries of a stored (fingerprint, startsAt, status).
    pub duplicates: u64,
    /// Status neither "firing" nor "resolved"; not stored.
    pub invalid: u64,
    /// Episodes evicted to stay within `max_episodes`.
    pub evicted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEpisode {
    pub fingerprint: String,
    pub starts_at: String,
    /// The first firing notification received, if any was.
    pub firing: Option<AlertEvent>,
    /// The first resolved notification received, if any was.
    pub resolved: Option<AlertEvent>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Every delivery, duplicates included.
    pub deliveries: u64,
}

impl AlertEpisode {
    /// Resolved once any resolved notification arrived, even if a firing one
    /// was redelivered after it.
    pub fn status(&self) -> AlertStatus {
        if self.resolved.is_some() {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }

    /// The most informative event: the resolution if there is one.
    pub fn latest(&self) -> Option<&AlertEvent> {
        self.resolved.as_ref().or(self.firing.as_ref())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlertStoreStats {
    pub episodes: u64,
    pub firing: u64,
    pub resolved: u64,
    pub new_total: u64,
    pub duplicates_total: u64,
    pub invalid_total: u64,
    pub evicted_total: u64,
}

type EpisodeKey = (String, String);

/// Resolved episodes sort before firing ones, so the first element of the
/// eviction order is always the right victim.
const RESOLVED_CLASS: u8 = 0;
const FIRING_CLASS: u8 = 1;

struct Stored {
    episode: AlertEpisode,
    /// This episode's place in `eviction_order`.
    order: (u8, u64),
}

#[derive(Default)]
struct Inner {
    episodes: HashMap<EpisodeKey, Stored>,
    eviction_order: BTreeSet<(u8, u64, EpisodeKey)>,
    next_seq: u64,
    totals: AlertStoreStats,
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn evict_one(&mut self) -> bool {
        let Some((_, _, key)) = self.eviction_order.pop_first() else {
            return false;
        };
        self.episodes.remove(&key).is_some()
    }
}

pub struct AlertStore {
    config: AlertStoreConfig,
    inner: Mutex<Inner>,
}

impl Default for AlertStore {
    fn default() -> Self {
        AlertStore::new(AlertStoreConfig::default())
    }
}

impl AlertStore {
    pub fn new(config: AlertStoreConfig) -> Self {
        AlertStore {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn record(&self, events: Vec<AlertEvent>, now_ms: i64) -> RecordOutcome {
        let mut outcome = RecordOutcome::default();
        let mut inner = self.inner.lock();
        for event in events {
            let Some(status) = AlertStatus::parse(&event.status) else {
                outcome.invalid += 1;
                continue;
            };
            let key = (event.fingerprint.clone(), event.starts_at.clone());
            if !inner.episodes.contains_key(&key) {
                if self.config.max_episodes == 0 {
                    outcome.evicted += 1;
                    continue;
                }
                while inner.episodes.len() >= self.config.max_episodes && inner.evict_one() {
                    outcome.evicted += 1;
                }
                let seq = inner.next_seq();
                inner
                    .eviction_order
                    .insert((FIRING_CLASS, seq, key.clone()));
                let episode = AlertEpisode {
                    fingerprint: key.0.clone(),
                    starts_at: key.1.clone(),
                    firing: None,
                    resolved: None,
                    first_seen_ms: now_ms,
                    last_seen_ms: now_ms,
                    deliveries: 0,
                };
                inner.episodes.insert(
                    key.clone(),
                    Stored {
                        episode,
                        order: (FIRING_CLASS, seq),
                    },
                );
            }
            let seq = inner.next_seq();
            let Inner {
                episodes,
                eviction_order,
                ..
            } = &mut *inner;
            let Some(stored) = episodes.get_mut(&key) else {
                continue;
            };
            let episode = &mut stored.episode;
            episode.deliveries += 1;
            episode.last_seen_ms = episode.last_seen_ms.max(now_ms);
            let slot = match status {
                AlertStatus::Firing => &mut episode.firing,
                AlertStatus::Resolved => &mut episode.resolved,
            };
            if slot.is_some() {
                outcome.duplicates += 1;
                continue;
            }
            *slot = Some(event);
            outcome.new += 1;
            if status == AlertStatus::Resolved && stored.order.0 == FIRING_CLASS {
                let (class, old_seq) = stored.order;
                eviction_order.remove(&(class, old_seq, key.clone()));
                stored.order = (RESOLVED_CLASS, seq);
                eviction_order.insert((RESOLVED_CLASS, seq, key));
            }
        }
        let totals = &mut inner.totals;
        totals.new_total += outcome.new;
        totals.duplicates_total += outcome.duplicates;
        totals.invalid_total += outcome.invalid;
        totals.evicted_total += outcome.evicted;
        outcome
    }

    /// Episodes not (yet) resolved, ordered by startsAt then fingerprint.
    pub fn firing(&self) -> Vec<AlertEpisode> {
        self.list(AlertStatus::Firing)
    }

    /// Resolved episodes, ordered by startsAt then fingerprint.
    pub fn resolved(&self) -> Vec<AlertEpisode> {
        self.list(AlertStatus::Resolved)
    }

    fn list(&self, status: AlertStatus) -> Vec<AlertEpisode> {
        let inner = self.inner.lock();
        let mut found: Vec<AlertEpisode> = inner
            .episodes
            .values()
            .filter(|s| s.episode.status() == status)
            .map(|s| s.episode.clone())
            .collect();
        drop(inner);
        found.sort_by(|a, b| {
            a.starts_at
                .cmp(&b.starts_at)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        found
    }

    pub fn get(&self, fingerprint: &str, starts_at: &str) -> Option<AlertEpisode> {
        let key = (fingerprint.to_owned(), starts_at.to_owned());
        self.inner
            .lock()
            .episodes
            .get(&key)
            .map(|s| s.episode.clone())
    }

    pub fn stats(&self) -> AlertStoreStats {
        let inner = self.inner.lock();
        let mut stats = inner.totals;
        stats.episodes = inner.episodes.len() as u64;
        stats.resolved = inner
            .eviction_order
            .iter()
            .take_while(|(class, _, _)| *class == RESOLVED_CLASS)
            .count() as u64;
        stats.firing = stats.episodes - stats.resolved;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(fingerprint: &str, status: &str, starts_at: &str) -> AlertEvent {
        AlertEvent {
            fingerprint: fingerprint.to_owned(),
            status: status.to_owned(),
            labels: vec![("alertname".to_owned(), "HighLatency".to_owned())],
            annotations: vec![],
            starts_at: starts_at.to_owned(),
            ends_at: "0001-01-01T00:00:00Z".to_owned(),
            generator_url: String::new(),
            receiver: "aiops".to_owned(),
            group_key: "{}:{}".to_owned(),
        }
    }

    const S1: &str = "2024-05-01T10:00:00Z";
    const S2: &str = "2024-05-01T11:00:00Z";

    #[test]
    fn redeliveries_are_stored_once() {
        let store = AlertStore::default();
        let out = store.record(
            vec![alert("a", "firing", S1), alert("b", "firing", S1)],
            1_000,
        );
        assert_eq!((out.new, out.duplicates), (2, 0));
        // a retried webhook and a repeat_interval notification
        let out = store.record(
            vec![alert("a", "firing", S1), alert("b", "firing", S1)],
            2_000,
        );
        assert_eq!((out.new, out.duplicates), (0, 2));
        let firing = store.firing();
        assert_eq!(firing.len(), 2);
        assert_eq!(
            (
                firing[0].deliveries,
                firing[0].first_seen_ms,
                firing[0].last_seen_ms
            ),
            (2, 1_000, 2_000)
        );

        let out = store.record(
            vec![
                alert("a", "resolved", S1),
                alert("a", "resolved", S1),
                alert("a", "weird", S1),
            ],
            3_000,
        );
        assert_eq!((out.new, out.duplicates, out.invalid), (1, 1, 1));
        assert_eq!(
            store
                .firing()
                .iter()
                .map(|e| e.fingerprint.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        let resolved = store.resolved();
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            resolved[0].latest().map(|e| e.status.as_str()),
            Some("resolved")
        );

        // a late redelivery of the firing notification doesn't reopen it
        let out = store.record(vec![alert("a", "firing", S1)], 4_000);
        assert_eq!(out.duplicates, 1);
        assert_eq!(
            store.get("a", S1).map(|e| e.status()),
            Some(AlertStatus::Resolved)
        );

        // the same alert firing again is a new episode
        assert_eq!(store.record(vec![alert("a", "firing", S2)], 5_000).new, 1);
        let stats = store.stats();
        assert_eq!((stats.episodes, stats.firing, stats.resolved), (3, 2, 1));
        assert_eq!(
            (stats.new_total, stats.duplicates_total, stats.invalid_total),
            (4, 4, 1)
        );
    }

    #[test]
    fn resolved_only_delivery_is_kept() {
        let store = AlertStore::default();
        assert_eq!(store.record(vec![alert("a", "resolved", S1)], 0).new, 1);
        assert_eq!(
            store.record(vec![alert("a", "firing", S1)], 1).new,
            1,
            "the firing half arrived late"
        );
        assert_eq!(store.resolved().len(), 1);
        assert!(store.firing().is_empty());
    }

    #[test]
    fn oldest_resolved_are_evicted_first() {
        let store = AlertStore::new(AlertStoreConfig { max_episodes: 3 });
        store.record(
            vec![
                alert("a", "firing", S1),
                alert("b", "firing", S1),
                alert("c", "firing", S1),
            ],
            0,
        );
        store.record(
            vec![alert("c", "resolved", S1), alert("b", "resolved", S1)],
            1,
        );
        let out = store.record(vec![alert("d", "firing", S1)], 2);
        assert_eq!(out.evicted, 1);
        assert!(store.get("c", S1).is_none(), "c was resolved first");
        assert!(store.get("b", S1).is_some() && store.get("a", S1).is_some());

        store.record(vec![alert("e", "firing", S1)], 3);
        assert!(store.get("b", S1).is_none());
        // nothing resolved left: the oldest firing goes
        store.record(vec![alert("f", "firing", S1)], 4);
        assert!(store.get("a", S1).is_none());
        let names: Vec<String> = store.firing().into_iter().map(|e| e.fingerprint).collect();
        assert_eq!(names, ["d", "e", "f"]);
        assert_eq!(store.stats().evicted_total, 3);
    }
}
