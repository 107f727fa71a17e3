//! The in-memory log store: per stream (tenant + interned labels) a bounded
//! ring of entries ordered by time, at most `max_streams` streams (the least
//! recently written is evicted for a new one), and the same retention as
//! metrics. Entries are kept as `Arc<LogEntry>` moved out of the push
//! request, so neither storing, querying nor publishing copies a line.
//!
//! Out-of-order entries within retention are accepted, as Loki does by
//! default; an entry equal to one already stored (same time, line and
//! metadata) is a redelivery and is ignored.
//!
//! One lock guards the whole store: log rates are orders of magnitude below
//! sample rates, and the LRU order across streams needs a single owner.

use std::collections::{BTreeSet, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::RwLock;
use serde::Serialize;

use crate::labels::{Interner, Labels, StreamId, hash_pairs_into};
use crate::limits::LogStoreConfig;
use crate::model::{LogBatch, LogEntry};
use crate::selector::Selector;
use crate::subscription::{Feed, Subscription};

const NS_PER_MS: i64 = 1_000_000;

/// Entries refused by an append, by reason. Each field counts entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogRejectCounts {
    pub too_old: u64,
    pub too_far_in_future: u64,
    /// Same timestamp, line and metadata as a stored entry of the stream.
    pub duplicate: u64,
    /// `max_streams` is 0: no stream may exist at all.
    pub stream_limit: u64,
    /// One entry larger than a whole stream may hold.
    pub too_large: u64,
}

impl LogRejectCounts {
    pub fn total(&self) -> u64 {
        self.too_old + self.too_far_in_future + self.duplicate + self.stream_limit + self.too_large
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogAppendOutcome {
    pub streams_created: u64,
    pub entries_appended: u64,
    pub bytes_appended: u64,
    /// Older entries pushed out of a full stream ring, or out of the least
    /// recently written streams when the whole store is full.
    pub entries_dropped: u64,
    /// Least recently written streams evicted to make room for new ones.
    pub streams_evicted: u64,
    pub rejected: LogRejectCounts,
}

/// What one append stored, published to subscribers as one `Arc`.
#[derive(Debug)]
pub struct AppendedLogBatch {
    pub tenant: Arc<str>,
    streams: Vec<AppendedStream>,
    entries: Vec<Arc<LogEntry>>,
}

#[derive(Debug, Clone)]
pub struct AppendedStream {
    pub id: StreamId,
    pub labels: Labels,
    entries: Range<usize>,
}

impl AppendedLogBatch {
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Each stream with the entries it gained, in the request's order.
    pub fn iter(&self) -> impl Iterator<Item = (&AppendedStream, &[Arc<LogEntry>])> + '_ {
        self.streams
            .iter()
            .map(|s| (s, &self.entries[s.entries.clone()]))
    }
}

/// One query result line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQueryEntry {
    pub labels: Labels,
    pub entry: Arc<LogEntry>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogCompactOutcome {
    pub streams_removed: u64,
    pub entries_removed: u64,
    pub strings_released: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStoreStats {
    pub streams: u64,
    pub entries: u64,
    /// Line and metadata bytes held.
    pub bytes: u64,
    pub approx_bytes: u64,
    pub streams_created_total: u64,
    pub streams_evicted_total: u64,
    pub streams_expired_total: u64,
    pub entries_appended_total: u64,
    pub bytes_appended_total: u64,
    pub entries_dropped_total: u64,
    pub rejected_total: LogRejectCounts,
    pub subscriber_lagged_total: u64,
}

struct Stream {
    id: StreamId,
    hash: u64,
    tenant: Arc<str>,
    labels: Labels,
    entries: VecDeque<Arc<LogEntry>>,
    bytes: usize,
    last_write_ms: i64,
}

#[derive(Default)]
struct Inner {
    streams: HashTable<Stream>,
    /// `(last_write_ms, id, hash)`: the first is the eviction victim.
    lru: BTreeSet<(i64, u64, u64)>,
    next_id: u64,
    entries: u64,
    bytes: u64,
    label_bytes: u64,
    totals: LogStoreStats,
}

impl Inner {
    /// Drops the oldest lines of the least recently written streams until
    /// at most `max_bytes` of lines are held; returns how many went. The
    /// emptied streams stay until compaction, like expired ones.
    fn shed_to(&mut self, max_bytes: u64) -> u64 {
        let Inner {
            streams,
            lru,
            entries,
            bytes,
            ..
        } = self;
        let mut dropped = 0;
        for &(_, id, hash) in lru.iter() {
            if *bytes <= max_bytes {
                break;
            }
            let Ok(mut slot) = streams.find_entry(hash, |s| s.id.0 == id) else {
                continue;
            };
            let stream = slot.get_mut();
            while *bytes > max_bytes {
                let Some(oldest) = stream.entries.pop_front() else {
                    break;
                };
                let size = entry_bytes(&oldest);
                stream.bytes -= size;
                *bytes = bytes.saturating_sub(size as u64);
                *entries = entries.saturating_sub(1);
                dropped += 1;
            }
        }
        dropped
    }

    fn remove_stream(&mut self, hash: u64, id: StreamId) -> Option<Stream> {
        let entry = self.streams.find_entry(hash, |s| s.id == id).ok()?;
        let (stream, _) = entry.remove();
        self.lru
            .remove(&(stream.last_write_ms, stream.id.0, stream.hash));
        self.entries -= stream.entries.len() as u64;
        self.bytes -= stream.bytes as u64;
        self.label_bytes -= stream.labels.approx_bytes() as u64;
        Some(stream)
    }

    fn evict_least_recent(&mut self) -> bool {
        let Some(&(_, id, hash)) = self.lru.first() else {
            return false;
        };
        self.remove_stream(hash, StreamId(id)).is_some()
    }
}

/// The bytes an entry is charged against its stream's budget.
fn entry_bytes(entry: &LogEntry) -> usize {
    entry.line.len()
        + entry
            .metadata
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

#[derive(Clone, Copy)]
struct Window {
    oldest_ns: i64,
    newest_ns: i64,
}

pub struct LogStore {
    config: LogStoreConfig,
    inner: RwLock<Inner>,
    hasher: foldhash::fast::RandomState,
    interner: Interner,
    feed: Feed<AppendedLogBatch>,
}

impl Default for LogStore {
    fn default() -> Self {
        LogStore::new(LogStoreConfig::default())
    }
}

impl LogStore {
    pub fn new(config: LogStoreConfig) -> Self {
        LogStore {
            inner: RwLock::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            hasher: foldhash::fast::RandomState::default(),
            interner: Interner::new(),
            feed: Feed::new(config.feed_capacity),
            config,
        }
    }

    pub fn config(&self) -> &LogStoreConfig {
        &self.config
    }

    pub fn subscribe(&self) -> Subscription<AppendedLogBatch> {
        self.feed.subscribe()
    }

    fn window(&self, now_ms: i64) -> Window {
        Window {
            oldest_ns: now_ms
                .saturating_sub(self.config.retention_ms)
                .saturating_mul(NS_PER_MS),
            newest_ns: now_ms
                .saturating_add(self.config.future_tolerance_ms)
                .saturating_mul(NS_PER_MS),
        }
    }

    fn hash_of<'a>(&self, tenant: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
        let mut state = self.hasher.build_hasher();
        tenant.hash(&mut state);
        hash_pairs_into(pairs, &mut state);
        state.finish()
    }

    /// Stores a push request's entries, taking ownership so lines are moved,
    /// not copied.
    pub fn append(&self, batch: LogBatch, now_ms: i64) -> LogAppendOutcome {
        let mut outcome = LogAppendOutcome::default();
        if batch.streams.is_empty() {
            return outcome;
        }
        let window = self.window(now_ms);
        let tenant = self.interner.intern(&batch.tenant);
        let publishing = self.feed.has_subscribers();
        let mut appended_streams = Vec::new();
        let mut appended_entries = Vec::new();

        let mut guard = self.inner.write();
        let inner = &mut *guard;
        for input in batch.streams {
            let hash = self.hash_of(
                &tenant,
                input.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            );
            let existing = inner
                .streams
                .find(hash, |s| {
                    s.hash == hash && *s.tenant == *tenant && s.labels.eq_pairs(&input.labels)
                })
                .map(|s| s.id);
            let id = match existing {
                Some(id) => id,
                None => {
                    let acceptable = input
                        .entries
                        .iter()
                        .filter(|e| e.ts_ns >= window.oldest_ns && e.ts_ns <= window.newest_ns)
                        .filter(|e| entry_bytes(e) <= self.config.max_bytes_per_stream)
                        .count() as u64;
                    if acceptable == 0 {
                        // nothing would be kept: count why without creating a stream
                        for entry in &input.entries {
                            self.count_refusal(entry, window, &mut outcome);
                        }
                        continue;
                    }
                    if self.config.max_streams == 0 {
                        outcome.rejected.stream_limit += input.entries.len() as u64;
                        continue;
                    }
                    while inner.streams.len() >= self.config.max_streams
                        && inner.evict_least_recent()
                    {
                        outcome.streams_evicted += 1;
                    }
                    let labels = self.interner.labels(&input.labels);
                    let id = StreamId(inner.next_id);
                    inner.next_id += 1;
                    inner.label_bytes += labels.approx_bytes() as u64;
                    inner.lru.insert((now_ms, id.0, hash));
                    let stream = Stream {
                        id,
                        hash,
                        tenant: Arc::clone(&tenant),
                        labels,
                        entries: VecDeque::new(),
                        bytes: 0,
                        last_write_ms: now_ms,
                    };
                    inner.streams.insert_unique(hash, stream, |s| s.hash);
                    outcome.streams_created += 1;
                    id
                }
            };

            let Ok(mut slot) = inner.streams.find_entry(hash, |s| s.id == id) else {
                continue;
            };
            let stream = slot.get_mut();
            let entries_before = stream.entries.len() as i64;
            let bytes_before = stream.bytes as i64;
            let feed_start = appended_entries.len();
            for entry in input.entries {
                if let Some(stored) = self.insert_entry(stream, entry, window, &mut outcome)
                    && publishing
                {
                    appended_entries.push(stored);
                }
            }
            if publishing && appended_entries.len() > feed_start {
                appended_streams.push(AppendedStream {
                    id,
                    labels: stream.labels.clone(),
                    entries: feed_start..appended_entries.len(),
                });
            }
            let touched = stream.last_write_ms != now_ms;
            let previous_write = stream.last_write_ms;
            stream.last_write_ms = now_ms;
            inner.entries =
                (inner.entries as i64 + stream.entries.len() as i64 - entries_before) as u64;
            inner.bytes = (inner.bytes as i64 + stream.bytes as i64 - bytes_before) as u64;
            if touched {
                inner.lru.remove(&(previous_write, id.0, hash));
                inner.lru.insert((now_ms, id.0, hash));
            }
        }
        let max_bytes = self.config.max_bytes as u64;
        if inner.bytes > max_bytes {
            outcome.entries_dropped += inner.shed_to(max_bytes);
        }
        let totals = &mut inner.totals;
        totals.streams_created_total += outcome.streams_created;
        totals.streams_evicted_total += outcome.streams_evicted;
        totals.entries_appended_total += outcome.entries_appended;
        totals.bytes_appended_total += outcome.bytes_appended;
        totals.entries_dropped_total += outcome.entries_dropped;
        add_rejects(&mut totals.rejected_total, &outcome.rejected);
        drop(guard);

        if !appended_entries.is_empty() {
            self.feed.publish(Arc::new(AppendedLogBatch {
                tenant,
                streams: appended_streams,
                entries: appended_entries,
            }));
        }
        outcome
    }

    fn count_refusal(&self, entry: &LogEntry, window: Window, outcome: &mut LogAppendOutcome) {
        if entry.ts_ns < window.oldest_ns {
            outcome.rejected.too_old += 1;
        } else if entry.ts_ns > window.newest_ns {
            outcome.rejected.too_far_in_future += 1;
        } else if entry_bytes(entry) > self.config.max_bytes_per_stream {
            outcome.rejected.too_large += 1;
        }
    }

    /// Inserts one entry in time order, then trims the ring to its bounds.
    fn insert_entry(
        &self,
        stream: &mut Stream,
        entry: LogEntry,
        window: Window,
        outcome: &mut LogAppendOutcome,
    ) -> Option<Arc<LogEntry>> {
        let size = entry_bytes(&entry);
        if entry.ts_ns < window.oldest_ns
            || entry.ts_ns > window.newest_ns
            || size > self.config.max_bytes_per_stream
        {
            self.count_refusal(&entry, window, outcome);
            return None;
        }
        let entries = &mut stream.entries;
        // in-order arrival, the common case, skips the search
        let position = if entries.back().is_none_or(|last| last.ts_ns <= entry.ts_ns) {
            entries.len()
        } else {
            entries.partition_point(|e| e.ts_ns <= entry.ts_ns)
        };
        let same_time = entries
            .range(..position)
            .rev()
            .take_while(|e| e.ts_ns == entry.ts_ns);
        if same_time
            .into_iter()
            .any(|e| e.line == entry.line && e.metadata == entry.metadata)
        {
            outcome.rejected.duplicate += 1;
            return None;
        }
        let stored = Arc::new(entry);
        entries.insert(position, Arc::clone(&stored));
        stream.bytes += size;
        outcome.entries_appended += 1;
        outcome.bytes_appended += size as u64;
        while entries.len() > self.config.max_lines_per_stream
            || stream.bytes > self.config.max_bytes_per_stream
        {
            let Some(oldest) = entries.pop_front() else {
                break;
            };
            stream.bytes -= entry_bytes(&oldest);
            outcome.entries_dropped += 1;
        }
        Some(stored)
    }

    /// Entries of `tenant`'s streams matching `selector` with
    /// `start_ns <= ts < end_ns` (Loki's range), newest first, at most
    /// `limit`. Ties are ordered by stream labels.
    pub fn query(
        &self,
        tenant: &str,
        selector: &Selector,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Vec<LogQueryEntry> {
        if limit == 0 || end_ns <= start_ns {
            return Vec::new();
        }
        let mut found: Vec<(i64, LogQueryEntry)> = Vec::new();
        let newest_first = |a: &(i64, LogQueryEntry), b: &(i64, LogQueryEntry)| {
            b.0.cmp(&a.0).then_with(|| a.1.labels.cmp(&b.1.labels))
        };
        let inner = self.inner.read();
        for stream in inner.streams.iter() {
            if *stream.tenant != *tenant || !selector.matches(&stream.labels) {
                continue;
            }
            let lo = stream.entries.partition_point(|e| e.ts_ns < start_ns);
            let hi = stream.entries.partition_point(|e| e.ts_ns < end_ns);
            found.extend(stream.entries.range(lo..hi).rev().take(limit).map(|e| {
                (
                    e.ts_ns,
                    LogQueryEntry {
                        labels: stream.labels.clone(),
                        entry: Arc::clone(e),
                    },
                )
            }));
            // keep the candidates bounded when many streams match
            if found.len() > limit.saturating_mul(2) {
                found.sort_by(newest_first);
                found.truncate(limit);
            }
        }
        drop(inner);
        found.sort_by(newest_first);
        found.truncate(limit);
        found.into_iter().map(|(_, e)| e).collect()
    }

    /// `tenant`'s streams matching any selector with an entry in
    /// `[start_ns, end_ns)`, sorted (Loki's `/series`).
    pub fn streams(
        &self,
        tenant: &str,
        selectors: &[Selector],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<Labels> {
        let inner = self.inner.read();
        let mut found: Vec<Labels> = inner
            .streams
            .iter()
            .filter(|s| *s.tenant == *tenant && selectors.iter().any(|sel| sel.matches(&s.labels)))
            .filter(|s| {
                let lo = s.entries.partition_point(|e| e.ts_ns < start_ns);
                s.entries.get(lo).is_some_and(|e| e.ts_ns < end_ns)
            })
            .map(|s| s.labels.clone())
            .collect();
        drop(inner);
        found.sort();
        found.dedup();
        found
    }

    /// Drops entries past retention and streams left empty; releases
    /// interned strings no longer used.
    pub fn compact(&self, now_ms: i64) -> LogCompactOutcome {
        let oldest_ns = self.window(now_ms).oldest_ns;
        let mut outcome = LogCompactOutcome::default();
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        let mut emptied = Vec::new();
        for stream in inner.streams.iter_mut() {
            while stream.entries.front().is_some_and(|e| e.ts_ns < oldest_ns) {
                let Some(old) = stream.entries.pop_front() else {
                    break;
                };
                let size = entry_bytes(&old);
                stream.bytes -= size;
                inner.bytes -= size as u64;
                inner.entries -= 1;
                outcome.entries_removed += 1;
            }
            if stream.entries.is_empty() {
                emptied.push((stream.hash, stream.id));
            }
        }
        for (hash, id) in emptied {
            if inner.remove_stream(hash, id).is_some() {
                outcome.streams_removed += 1;
            }
        }
        inner.totals.streams_expired_total += outcome.streams_removed;
        drop(guard);
        outcome.strings_released = self.interner.purge_unused() as u64;
        outcome
    }

    pub fn stats(&self) -> LogStoreStats {
        let inner = self.inner.read();
        let mut stats = inner.totals;
        stats.streams = inner.streams.len() as u64;
        stats.entries = inner.entries;
        stats.bytes = inner.bytes;
        let per_entry =
            (std::mem::size_of::<LogEntry>() + 16 + std::mem::size_of::<Arc<LogEntry>>()) as u64;
        let per_stream = (std::mem::size_of::<Stream>() + 1 + 48) as u64;
        stats.approx_bytes = inner.bytes
            + inner.entries * per_entry
            + inner.streams.capacity() as u64 * per_stream
            + inner.label_bytes
            + self.interner.approx_bytes() as u64;
        drop(inner);
        stats.subscriber_lagged_total = self.feed.lagged_total();
        stats
    }
}

fn add_rejects(total: &mut LogRejectCounts, more: &LogRejectCounts) {
    total.too_old += more.too_old;
    total.too_far_in_future += more.too_far_in_future;
    total.duplicate += more.duplicate;
    total.stream_limit += more.stream_limit;
    total.too_large += more.too_large;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogStream;
    use tokio::sync::broadcast::error::TryRecvError;

    const T0_MS: i64 = 1_700_000_000_000;
    const T0: i64 = T0_MS * NS_PER_MS;
    const SEC: i64 = 1_000_000_000;

    fn stream(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> LogStream {
        let mut pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        LogStream {
            labels: pairs,
            entries: entries
                .iter()
                .map(|&(ts_ns, line)| LogEntry {
                    ts_ns,
                    line: line.to_owned(),
                    metadata: vec![],
                })
                .collect(),
        }
    }

    fn push(streams: Vec<LogStream>) -> LogBatch {
        LogBatch {
            tenant: "fake".to_owned(),
            streams,
        }
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    fn lines(found: &[LogQueryEntry]) -> Vec<&str> {
        found.iter().map(|e| e.entry.line.as_str()).collect()
    }

    #[test]
    fn query_returns_newest_first_across_streams() {
        let store = LogStore::default();
        let out = store.append(
            push(vec![
                stream(&[("app", "cart")], &[(T0, "c1"), (T0 + 2 * SEC, "c3")]),
                stream(
                    &[("app", "orders")],
                    &[(T0 + SEC, "o2"), (T0 + 3 * SEC, "o4")],
                ),
            ]),
            T0_MS,
        );
        assert_eq!(
            (
                out.streams_created,
                out.entries_appended,
                out.bytes_appended
            ),
            (2, 4, 8)
        );
        let all = store.query("fake", &sel(r#"{app=~".+"}"#), T0, T0 + 10 * SEC, 100);
        assert_eq!(lines(&all), ["o4", "c3", "o2", "c1"]);
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app=~".+"}"#), T0, T0 + 10 * SEC, 3)),
            ["o4", "c3", "o2"]
        );
        // start inclusive, end exclusive
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app=~".+"}"#), T0 + SEC, T0 + 3 * SEC, 100)),
            ["c3", "o2"]
        );
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app="cart"}"#), T0, T0 + 10 * SEC, 100)),
            ["c3", "c1"]
        );
        assert!(
            store
                .query(
                    "other-tenant",
                    &sel(r#"{app="cart"}"#),
                    T0,
                    T0 + 10 * SEC,
                    100
                )
                .is_empty()
        );
        assert_eq!(
            store
                .streams("fake", &[sel(r#"{app="orders"}"#)], T0, T0 + SEC + 1)
                .len(),
            1
        );
        assert!(
            store
                .streams("fake", &[sel(r#"{app="orders"}"#)], T0, T0 + SEC)
                .is_empty()
        );
    }

    #[test]
    fn out_of_order_is_accepted_and_duplicates_ignored() {
        let store = LogStore::default();
        let l = [("app", "a")];
        store.append(
            push(vec![stream(
                &l,
                &[(T0 + 2 * SEC, "b"), (T0 + 4 * SEC, "d")],
            )]),
            T0_MS,
        );
        let out = store.append(
            push(vec![stream(
                &l,
                &[
                    (T0 + 3 * SEC, "c"),
                    (T0 + 2 * SEC, "b"),
                    (T0 + 2 * SEC, "b2"),
                    (T0, "a"),
                ],
            )]),
            T0_MS,
        );
        assert_eq!((out.entries_appended, out.rejected.duplicate), (3, 1));
        let found = store.query("fake", &sel(r#"{app="a"}"#), T0, T0 + 10 * SEC, 100);
        assert_eq!(lines(&found), ["d", "c", "b2", "b", "a"]);
    }

    #[test]
    fn time_window_and_size_rejections() {
        let store = LogStore::new(LogStoreConfig {
            max_bytes_per_stream: 10,
            ..LogStoreConfig::default()
        });
        let three_hours = 3 * 3600 * SEC;
        let out = store.append(
            push(vec![stream(
                &[("app", "a")],
                &[
                    (T0 - three_hours - 1, "old"),
                    (T0 + 600 * SEC + 1, "future"),
                    (T0, "this is too long"),
                    (T0, "ok"),
                ],
            )]),
            T0_MS,
        );
        assert_eq!(
            out.rejected,
            LogRejectCounts {
                too_old: 1,
                too_far_in_future: 1,
                too_large: 1,
                ..Default::default()
            }
        );
        assert_eq!(out.entries_appended, 1);
        // nothing acceptable: no stream is created
        let out = store.append(
            push(vec![stream(
                &[("app", "b")],
                &[(T0 - three_hours - 1, "old")],
            )]),
            T0_MS,
        );
        assert_eq!((out.streams_created, out.rejected.too_old), (0, 1));
        assert_eq!(store.stats().streams, 1);
        assert_eq!(store.stats().rejected_total.too_old, 2);
    }

    #[test]
    fn rings_are_bounded_by_lines_and_bytes() {
        let store = LogStore::new(LogStoreConfig {
            max_lines_per_stream: 3,
            max_bytes_per_stream: 8,
            ..LogStoreConfig::default()
        });
        let entries: Vec<(i64, &str)> = [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]
            .iter()
            .map(|&(i, l)| (T0 + i * SEC, l))
            .collect();
        let out = store.append(push(vec![stream(&[("app", "lines")], &entries)]), T0_MS);
        assert_eq!((out.entries_appended, out.entries_dropped), (5, 2));
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app="lines"}"#), T0, T0 + 10 * SEC, 100)),
            ["e", "d", "c"]
        );

        let out = store.append(
            push(vec![stream(
                &[("app", "bytes")],
                &[(T0, "12345"), (T0 + 1, "678"), (T0 + 2, "9")],
            )]),
            T0_MS,
        );
        assert_eq!(out.entries_dropped, 1, "5 + 3 + 1 bytes is over 8");
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app="bytes"}"#), T0, T0 + 10 * SEC, 100)),
            ["9", "678"]
        );
        let stats = store.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.entries_dropped_total),
            (5, 7, 3)
        );
    }

    #[test]
    fn the_whole_store_is_bounded_oldest_streams_first() {
        let store = LogStore::new(LogStoreConfig {
            max_bytes: 10,
            ..LogStoreConfig::default()
        });
        store.append(
            push(vec![stream(
                &[("app", "old")],
                &[(T0, "aaaa"), (T0 + 1, "bbbb")],
            )]),
            T0_MS,
        );
        let out = store.append(
            push(vec![stream(&[("app", "new")], &[(T0, "cccc")])]),
            T0_MS + 1,
        );
        // 12 bytes > 10: the least recently written stream's oldest line goes
        assert_eq!((out.entries_appended, out.entries_dropped), (1, 1));
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app="old"}"#), T0, T0 + 10 * SEC, 100)),
            ["bbbb"]
        );
        let out = store.append(
            push(vec![stream(
                &[("app", "new")],
                &[(T0 + 2, "dddd"), (T0 + 3, "eeee")],
            )]),
            T0_MS + 2,
        );
        // 16 bytes: "old" empties first, then "new" gives up its oldest
        assert_eq!((out.entries_appended, out.entries_dropped), (2, 2));
        assert!(
            store
                .query("fake", &sel(r#"{app="old"}"#), T0, T0 + 10 * SEC, 100)
                .is_empty()
        );
        assert_eq!(
            lines(&store.query("fake", &sel(r#"{app="new"}"#), T0, T0 + 10 * SEC, 100)),
            ["eeee", "dddd"]
        );
        let stats = store.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.entries_dropped_total),
            (2, 8, 3)
        );
    }

    #[test]
    fn least_recently_written_stream_is_evicted() {
        let store = LogStore::new(LogStoreConfig {
            max_streams: 2,
            ..LogStoreConfig::default()
        });
        store.append(push(vec![stream(&[("app", "a")], &[(T0, "a")])]), T0_MS);
        store.append(push(vec![stream(&[("app", "b")], &[(T0, "b")])]), T0_MS + 1);
        store.append(
            push(vec![stream(&[("app", "a")], &[(T0 + 1, "a2")])]),
            T0_MS + 2,
        );
        let out = store.append(push(vec![stream(&[("app", "c")], &[(T0, "c")])]), T0_MS + 3);
        assert_eq!((out.streams_created, out.streams_evicted), (1, 1));
        let names: Vec<String> = store
            .streams("fake", &[sel(r#"{app=~".+"}"#)], 0, i64::MAX)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(names, [r#"{app="a"}"#, r#"{app="c"}"#]);
        let stats = store.stats();
        assert_eq!(
            (stats.streams, stats.entries, stats.streams_evicted_total),
            (2, 3, 1)
        );

        let none = LogStore::new(LogStoreConfig {
            max_streams: 0,
            ..LogStoreConfig::default()
        });
        assert_eq!(
            none.append(push(vec![stream(&[("app", "a")], &[(T0, "a")])]), T0_MS)
                .rejected
                .stream_limit,
            1
        );
    }

    #[test]
    fn tenants_are_separate_streams() {
        let store = LogStore::default();
        store.append(
            push(vec![stream(&[("app", "a")], &[(T0, "fake's")])]),
            T0_MS,
        );
        let mut other = push(vec![stream(&[("app", "a")], &[(T0, "acme's")])]);
        other.tenant = "acme".to_owned();
        assert_eq!(store.append(other, T0_MS).streams_created, 1);
        assert_eq!(
            lines(&store.query("acme", &sel(r#"{app="a"}"#), T0, T0 + 1, 10)),
            ["acme's"]
        );
    }

    #[test]
    fn compact_applies_retention() {
        let store = LogStore::new(LogStoreConfig {
            retention_ms: 60_000,
            ..LogStoreConfig::default()
        });
        store.append(
            push(vec![
                stream(&[("app", "a")], &[(T0, "old"), (T0 + 50 * SEC, "new")]),
                stream(&[("app", "b")], &[(T0, "gone")]),
            ]),
            T0_MS + 50_000,
        );
        let out = store.compact(T0_MS + 90_000);
        assert_eq!((out.streams_removed, out.entries_removed), (1, 2));
        assert_eq!(out.strings_released, 1, "the value \"b\"");
        let stats = store.stats();
        assert_eq!(
            (
                stats.streams,
                stats.entries,
                stats.bytes,
                stats.streams_expired_total
            ),
            (1, 1, 3, 1)
        );
        // the evicted stream can come back as a new one
        let out = store.append(
            push(vec![stream(&[("app", "b")], &[(T0 + 90 * SEC, "back")])]),
            T0_MS + 90_000,
        );
        assert_eq!(out.streams_created, 1);
    }

    #[test]
    fn subscribers_share_the_stored_entries() {
        let store = LogStore::new(LogStoreConfig {
            feed_capacity: 1,
            ..LogStoreConfig::default()
        });
        let mut sub = store.subscribe();
        store.append(
            push(vec![stream(&[("app", "a")], &[(T0, "x"), (T0, "x")])]),
            T0_MS,
        );
        let batch = sub.try_recv().unwrap();
        assert_eq!(batch.entry_count(), 1, "the duplicate isn't published");
        let (published_stream, published) = batch.iter().next().unwrap();
        assert_eq!(published_stream.labels.get("app"), Some("a"));
        let stored = store.query("fake", &sel(r#"{app="a"}"#), T0, T0 + 1, 10);
        assert!(
            Arc::ptr_eq(&published[0], &stored[0].entry),
            "the same allocation, not a copy"
        );

        store.append(push(vec![stream(&[("app", "a")], &[(T0 + 1, "y")])]), T0_MS);
        store.append(push(vec![stream(&[("app", "a")], &[(T0 + 2, "z")])]), T0_MS);
        assert!(matches!(sub.try_recv(), Err(TryRecvError::Lagged(1))));
        assert_eq!(store.stats().subscriber_lagged_total, 1);
    }
}
