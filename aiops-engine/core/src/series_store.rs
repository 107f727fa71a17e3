//! The in-memory metrics store: a window of `retention_ms` over at most
//! `max_active_series` series, appended to by many HTTP handlers at once.
//!
//! The series map is split into shards by the label set's hash, each behind
//! its own lock, so concurrent appends rarely wait for one another. An append
//! hashes the borrowed intake pairs and compares them in place, so a known
//! series is found without allocating; only a new series interns its labels.
//! Samples live in compressed chunks (see `chunk.rs`).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::chunk::{Chunk, HeadChunk};
use crate::labels::{Interner, Labels, SeriesId, hash_pairs, shard_of};
use crate::limits::StoreConfig;
use crate::model::{SampleBatch, SampleValue, SeriesRef, is_stale_marker};
use crate::subscription::{Feed, Subscription};

/// Samples refused by an append, by reason. Each field counts samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RejectCounts {
    /// Older than the series' last sample; Prometheus refuses these too.
    pub out_of_order: u64,
    /// Same timestamp and same value as the last sample: a redelivery,
    /// ignored. Not an error for the sender (Prometheus ignores them too).
    pub duplicate: u64,
    /// Same timestamp as the last sample with another value (Prometheus'
    /// "duplicate sample for timestamp").
    pub conflicting_timestamp: u64,
    /// Older than `now - retention`.
    pub too_old: u64,
    /// Newer than `now + future_tolerance`.
    pub too_far_in_future: u64,
    /// The series didn't exist, the active-series limit was reached and no
    /// stale series could be evicted.
    pub series_limit: u64,
}

impl RejectCounts {
    pub fn total(&self) -> u64 {
        self.out_of_order
            + self.duplicate
            + self.conflicting_timestamp
            + self.too_old
            + self.too_far_in_future
            + self.series_limit
    }

    /// Everything but plain duplicates, which a sender retrying after a
    /// timeout produces legitimately.
    pub fn errors(&self) -> u64 {
        self.total() - self.duplicate
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendOutcome {
    pub series_created: u64,
    /// Stored samples, stale markers included.
    pub samples_appended: u64,
    /// Stale markers among the stored samples.
    pub stale_markers: u64,
    pub rejected: RejectCounts,
}

/// What one append stored, as published to subscribers: one `Arc` per
/// append call. Series appear grouped by the store's shards, not in the
/// request's order.
#[derive(Debug, Default)]
pub struct AppendedBatch {
    series: Vec<AppendedSeries>,
    samples: Vec<SampleValue>,
}

#[derive(Debug, Clone)]
pub struct AppendedSeries {
    pub id: SeriesId,
    pub labels: Labels,
    samples: Range<usize>,
}

impl AppendedBatch {
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Each series with the samples it gained, oldest first; stale markers
    /// included (check with [`is_stale_marker`]).
    pub fn iter(&self) -> impl Iterator<Item = (&AppendedSeries, &[SampleValue])> + '_ {
        self.series
            .iter()
            .map(|s| (s, &self.samples[s.samples.clone()]))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompactOutcome {
    /// Series whose every sample fell out of retention.
    pub series_removed: u64,
    pub chunks_removed: u64,
    pub samples_removed: u64,
    pub strings_released: u64,
}

/// Gauges and counters for the engine's own `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub active_series: u64,
    pub samples: u64,
    pub chunks: u64,
    pub approx_bytes: u64,
    pub interned_strings: u64,
    pub series_created_total: u64,
    /// Evicted to make room for new series.
    pub series_evicted_total: u64,
    /// Removed by `compact` once all their samples expired.
    pub series_expired_total: u64,
    pub samples_appended_total: u64,
    pub stale_markers_total: u64,
    pub rejected_total: RejectCounts,
    /// Batches that subscribers missed by lagging.
    pub subscriber_lagged_total: u64,
}

/// The accepted time range of an append.
#[derive(Debug, Clone, Copy)]
struct Window {
    oldest: i64,
    newest: i64,
}

impl Window {
    fn accepts(&self, ts: i64) -> bool {
        ts >= self.oldest && ts <= self.newest
    }

    fn count_outside(&self, samples: &[SampleValue], rejected: &mut RejectCounts) {
        for s in samples {
            if s.ts_ms < self.oldest {
                rejected.too_old += 1;
            } else if s.ts_ms > self.newest {
                rejected.too_far_in_future += 1;
            }
        }
    }
}

/// Per-shard sizes, updated under the shard's lock so the hot path touches
/// no shared cache line.
#[derive(Debug, Default)]
struct ShardCounters {
    samples: u64,
    closed_chunks: u64,
    encoded_bytes: u64,
    label_bytes: u64,
}

impl ShardCounters {
    fn forget(&mut self, series: &Series) {
        self.samples -= series.samples as u64;
        self.closed_chunks -= series.closed.len() as u64;
        self.encoded_bytes -= series.encoded_bytes() as u64;
        self.label_bytes -= series.labels.approx_bytes() as u64;
    }
}

#[derive(Default)]
struct Shard {
    table: HashTable<Series>,
    counters: ShardCounters,
}

struct Series {
    hash: u64,
    id: SeriesId,
    labels: Labels,
    closed: VecDeque<Arc<Chunk>>,
    head: HeadChunk,
    samples: u32,
    /// `i64::MIN` before the first sample: every accepted timestamp is after it.
    last_ts: i64,
    last_bits: u64,
}

/// What a series needs to know while appending.
#[derive(Clone, Copy)]
struct SeriesBounds {
    oldest: i64,
    max_samples: usize,
}

impl Series {
    fn new(hash: u64, id: SeriesId, labels: Labels) -> Self {
        Series {
            hash,
            id,
            labels,
            closed: VecDeque::new(),
            head: HeadChunk::new(),
            samples: 0,
            last_ts: i64::MIN,
            last_bits: 0,
        }
    }

    fn encoded_bytes(&self) -> usize {
        self.closed.iter().map(|c| c.encoded_bytes()).sum::<usize>()
            + self.head.chunk().encoded_bytes()
    }

    fn first_ts(&self) -> Option<i64> {
        self.closed
            .front()
            .map(|c| c.min_ts())
            .or_else(|| (!self.head.chunk().is_empty()).then(|| self.head.chunk().min_ts()))
    }

    /// May be evicted for a new series: silent for the staleness window, or
    /// explicitly ended by a stale marker.
    fn is_evictable(&self, cutoff: i64) -> bool {
        self.last_ts < cutoff || is_stale_marker(f64::from_bits(self.last_bits))
    }

    fn append(
        &mut self,
        samples: &[SampleValue],
        window: Window,
        bounds: SeriesBounds,
        counters: &mut ShardCounters,
        outcome: &mut AppendOutcome,
        mut feed: Option<&mut FeedBuilder>,
    ) {
        let feed_start = feed.as_ref().map(|f| f.samples.len());
        for sample in samples {
            let ts = sample.ts_ms;
            if ts < window.oldest {
                outcome.rejected.too_old += 1;
                continue;
            }
            if ts > window.newest {
                outcome.rejected.too_far_in_future += 1;
                continue;
            }
            if ts <= self.last_ts {
                if ts < self.last_ts {
                    outcome.rejected.out_of_order += 1;
                } else if sample.value.to_bits() == self.last_bits {
                    outcome.rejected.duplicate += 1;
                } else {
                    outcome.rejected.conflicting_timestamp += 1;
                }
                continue;
            }
            self.push(ts, sample.value, bounds, counters);
            outcome.samples_appended += 1;
            if is_stale_marker(sample.value) {
                outcome.stale_markers += 1;
            }
            if let Some(feed) = feed.as_deref_mut() {
                feed.samples.push(*sample);
            }
        }
        if let (Some(feed), Some(start)) = (feed, feed_start)
            && feed.samples.len() > start
        {
            feed.series.push(AppendedSeries {
                id: self.id,
                labels: self.labels.clone(),
                samples: start..feed.samples.len(),
            });
        }
    }

    #[inline]
    fn push(&mut self, ts: i64, value: f64, bounds: SeriesBounds, counters: &mut ShardCounters) {
        let bytes_before = self.head.chunk().encoded_bytes();
        self.head.push(ts, value);
        counters.encoded_bytes += (self.head.chunk().encoded_bytes() - bytes_before) as u64;
        counters.samples += 1;
        self.samples += 1;
        self.last_ts = ts;
        self.last_bits = value.to_bits();
        if self.head.is_full() {
            self.close_head(counters);
            self.trim_front(bounds, counters);
        }
    }

    fn close_head(&mut self, counters: &mut ShardCounters) {
        let head = std::mem::take(&mut self.head);
        let bytes_before = head.chunk().encoded_bytes();
        let closed = head.close();
        counters.encoded_bytes -= (bytes_before - closed.encoded_bytes()) as u64;
        counters.closed_chunks += 1;
        self.closed.push_back(closed);
    }

    /// Drops whole closed chunks that are past retention or over the
    /// per-series sample budget; returns (chunks, samples) dropped.
    fn trim_front(&mut self, bounds: SeriesBounds, counters: &mut ShardCounters) -> (u64, u64) {
        let mut dropped = (0, 0);
        while let Some(front) = self.closed.front() {
            let expired = front.max_ts() < bounds.oldest;
            let over_budget = self.samples as usize > bounds.max_samples;
            if !expired && !over_budget {
                break;
            }
            let len = front.len() as u32;
            counters.encoded_bytes -= front.encoded_bytes() as u64;
            counters.closed_chunks -= 1;
            counters.samples -= len as u64;
            self.samples -= len;
            self.closed.pop_front();
            dropped.0 += 1;
            dropped.1 += len as u64;
        }
        dropped
    }

    /// True when every sample is past retention: the head holds the newest.
    fn all_expired(&self, oldest: i64) -> bool {
        self.closed.is_empty()
            && (self.head.chunk().is_empty() || self.head.chunk().max_ts() < oldest)
    }
}

#[derive(Default)]
struct FeedBuilder {
    series: Vec<AppendedSeries>,
    samples: Vec<SampleValue>,
}

#[derive(Default)]
struct Totals {
    series_created: AtomicU64,
    series_evicted: AtomicU64,
    series_expired: AtomicU64,
    samples_appended: AtomicU64,
    stale_markers: AtomicU64,
    out_of_order: AtomicU64,
    duplicate: AtomicU64,
    conflicting_timestamp: AtomicU64,
    too_old: AtomicU64,
    too_far_in_future: AtomicU64,
    series_limit: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    // skipping zeroes keeps uncontended appends off the shared cache lines
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Totals {
    fn record(&self, o: &AppendOutcome) {
        add(&self.series_created, o.series_created);
        add(&self.samples_appended, o.samples_appended);
        add(&self.stale_markers, o.stale_markers);
        add(&self.out_of_order, o.rejected.out_of_order);
        add(&self.duplicate, o.rejected.duplicate);
        add(
            &self.conflicting_timestamp,
            o.rejected.conflicting_timestamp,
        );
        add(&self.too_old, o.rejected.too_old);
        add(&self.too_far_in_future, o.rejected.too_far_in_future);
        add(&self.series_limit, o.rejected.series_limit);
    }

    fn rejected(&self) -> RejectCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RejectCounts {
            out_of_order: get(&self.out_of_order),
            duplicate: get(&self.duplicate),
            conflicting_timestamp: get(&self.conflicting_timestamp),
            too_old: get(&self.too_old),
            too_far_in_future: get(&self.too_far_in_future),
            series_limit: get(&self.series_limit),
        }
    }
}

/// A series' data copied out under its shard's lock: closed chunks are
/// shared, the small head chunk is cloned, and decoding happens after the
/// lock is released so queries don't hold up appends.
pub(crate) struct SeriesSnapshot {
    pub labels: Labels,
    chunks: Vec<Arc<Chunk>>,
    head: Option<Chunk>,
}

impl SeriesSnapshot {
    /// Appends the samples with `from_ts <= ts <= to_ts` to `out`, oldest first.
    pub fn samples_in(&self, from_ts: i64, to_ts: i64, out: &mut Vec<(i64, f64)>) {
        for chunk in self.chunks.iter().map(|c| &**c).chain(self.head.as_ref()) {
            if !chunk.overlaps(from_ts, to_ts) {
                continue;
            }
            out.extend(
                chunk
                    .iter()
                    .filter(|(ts, _)| *ts >= from_ts && *ts <= to_ts),
            );
        }
    }

    pub fn has_sample_in(&self, from_ts: i64, to_ts: i64) -> bool {
        self.chunks
            .iter()
            .map(|c| &**c)
            .chain(self.head.as_ref())
            .filter(|c| c.overlaps(from_ts, to_ts))
            .any(|c| c.iter().any(|(ts, _)| ts >= from_ts && ts <= to_ts))
    }
}

/// A fruitless eviction scan (no stale series anywhere) is not repeated for
/// this long, so a flood of new series at the limit doesn't rescan the
/// whole store per request.
const EVICTION_RESCAN_MS: i64 = 1_000;

pub struct SeriesStore {
    config: StoreConfig,
    shards: Box<[RwLock<Shard>]>,
    hasher: foldhash::fast::RandomState,
    interner: Interner,
    active_series: AtomicUsize,
    next_id: AtomicU64,
    eviction_pass: Mutex<()>,
    last_fruitless_scan_ms: AtomicI64,
    totals: Totals,
    feed: Feed<AppendedBatch>,
}

impl Default for SeriesStore {
    fn default() -> Self {
        SeriesStore::new(StoreConfig::default())
    }
}

impl SeriesStore {
    pub fn new(config: StoreConfig) -> Self {
        let shards = config.shards.max(1);
        SeriesStore {
            shards: (0..shards).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            interner: Interner::new(),
            active_series: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            eviction_pass: Mutex::new(()),
            last_fruitless_scan_ms: AtomicI64::new(i64::MIN),
            totals: Totals::default(),
            feed: Feed::new(config.feed_capacity),
            config,
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Appended batches from now on; see [`Subscription`].
    pub fn subscribe(&self) -> Subscription<AppendedBatch> {
        self.feed.subscribe()
    }

    fn window(&self, now_ms: i64) -> Window {
        Window {
            oldest: now_ms.saturating_sub(self.config.retention_ms),
            newest: now_ms.saturating_add(self.config.future_tolerance_ms),
        }
    }

    fn bounds(&self, window: Window) -> SeriesBounds {
        SeriesBounds {
            oldest: window.oldest,
            max_samples: self.config.max_samples_per_series,
        }
    }

    fn hash_of(&self, pairs: &[(&str, &str)]) -> u64 {
        hash_pairs(&self.hasher, pairs.iter().copied())
    }

    fn shard_index(&self, hash: u64) -> usize {
        shard_of(hash, self.shards.len())
    }

    /// Stores a batch's samples; see [`AppendOutcome`] for what is refused.
    /// Samples of one series are expected oldest first, as every intake
    /// delivers them; a later one that isn't is out of order.
    pub fn append(&self, batch: &SampleBatch, now_ms: i64) -> AppendOutcome {
        batch.with_refs(|refs| self.append_refs(refs, now_ms))
    }

    /// [`SeriesStore::append`] for series whose strings borrow from a request
    /// buffer: label strings are copied (interned) only for new series.
    pub fn append_refs(&self, batch: &[SeriesRef<'_>], now_ms: i64) -> AppendOutcome {
        let mut outcome = AppendOutcome::default();
        if batch.is_empty() {
            return outcome;
        }
        let window = self.window(now_ms);
        let mut feed = self.feed.has_subscribers().then(|| FeedBuilder {
            series: Vec::with_capacity(batch.len()),
            samples: Vec::with_capacity(batch.iter().map(|s| s.samples.len()).sum()),
        });

        // Visit series shard by shard so each shard lock is taken once: a
        // counting sort by shard, keeping the request's order within a shard.
        let shard_count = self.shards.len();
        let hashed: Vec<(u32, u64)> = batch
            .iter()
            .map(|s| {
                let hash = self.hash_of(s.labels);
                (self.shard_index(hash) as u32, hash)
            })
            .collect();
        let mut group_start = vec![0usize; shard_count + 1];
        for &(shard, _) in &hashed {
            group_start[shard as usize + 1] += 1;
        }
        for shard in 0..shard_count {
            group_start[shard + 1] += group_start[shard];
        }
        let mut order: Vec<(u32, u64)> = vec![(0, 0); hashed.len()];
        let mut cursor = group_start.clone();
        for (index, &(shard, hash)) in hashed.iter().enumerate() {
            order[cursor[shard as usize]] = (index as u32, hash);
            cursor[shard as usize] += 1;
        }

        let mut waiting_for_room: Vec<(u32, u64)> = Vec::new();
        for (shard, bounds) in group_start.windows(2).enumerate() {
            let group = &order[bounds[0]..bounds[1]];
            if group.is_empty() {
                continue;
            }
            let mut shard = self.shards[shard].write();
            for &(index, hash) in group {
                let input = &batch[index as usize];
                let stored = self.append_series(
                    &mut shard,
                    hash,
                    input,
                    window,
                    &mut outcome,
                    feed.as_mut(),
                    false,
                );
                if !stored {
                    waiting_for_room.push((index, hash));
                }
            }
        }

        if !waiting_for_room.is_empty() {
            self.evict_stale(now_ms, waiting_for_room.len());
            for (index, hash) in waiting_for_room {
                let mut shard = self.shards[self.shard_index(hash)].write();
                let input = &batch[index as usize];
                self.append_series(
                    &mut shard,
                    hash,
                    input,
                    window,
                    &mut outcome,
                    feed.as_mut(),
                    true,
                );
            }
        }

        self.totals.record(&outcome);
        if let Some(feed) = feed
            && !feed.samples.is_empty()
        {
            self.feed.publish(Arc::new(AppendedBatch {
                series: feed.series,
                samples: feed.samples,
            }));
        }
        outcome
    }

    /// Appends one series' samples under its shard's lock. Returns false only
    /// when the series is new, the limit is reached, and this isn't the
    /// retry after an eviction pass (then the samples are counted rejected).
    #[allow(clippy::too_many_arguments)]
    fn append_series(
        &self,
        shard: &mut Shard,
        hash: u64,
        input: &SeriesRef<'_>,
        window: Window,
        outcome: &mut AppendOutcome,
        feed: Option<&mut FeedBuilder>,
        last_try: bool,
    ) -> bool {
        let bounds = self.bounds(window);
        let Shard { table, counters } = shard;
        if let Some(series) =
            table.find_mut(hash, |s| s.hash == hash && s.labels.eq_pairs(input.labels))
        {
            series.append(input.samples, window, bounds, counters, outcome, feed);
            return true;
        }

        let acceptable = input
            .samples
            .iter()
            .filter(|s| window.accepts(s.ts_ms))
            .count() as u64;
        if acceptable == 0 {
            // nothing would be kept: don't create a series to hold nothing
            window.count_outside(input.samples, &mut outcome.rejected);
            return true;
        }
        if !self.reserve_series_slot() {
            if !last_try {
                return false;
            }
            window.count_outside(input.samples, &mut outcome.rejected);
            outcome.rejected.series_limit += acceptable;
            return true;
        }

        let labels = self.interner.labels(input.labels);
        counters.label_bytes += labels.approx_bytes() as u64;
        let id = SeriesId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let entry = table.insert_unique(hash, Series::new(hash, id, labels), |s| s.hash);
        entry
            .into_mut()
            .append(input.samples, window, bounds, counters, outcome, feed);
        outcome.series_created += 1;
        true
    }

    fn reserve_series_slot(&self) -> bool {
        let limit = self.config.max_active_series;
        self.active_series
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Frees room for `wanted` new series by evicting stale series, least
    /// recently updated first. Frees at least 1% of the limit at once so a
    /// steady trickle of new series doesn't scan the store every time.
    fn evict_stale(&self, now_ms: i64, wanted: usize) -> u64 {
        let _one_pass_at_a_time = self.eviction_pass.lock();
        let last_fruitless = self.last_fruitless_scan_ms.load(Ordering::Relaxed);
        if last_fruitless != i64::MIN
            && now_ms >= last_fruitless
            && now_ms - last_fruitless < EVICTION_RESCAN_MS
        {
            return 0;
        }
        let cutoff = now_ms.saturating_sub(self.config.stale_series_ms);
        let mut candidates: Vec<(i64, SeriesId, u64, u32)> = Vec::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let shard = shard.read();
            candidates.extend(
                shard
                    .table
                    .iter()
                    .filter(|s| s.is_evictable(cutoff))
                    .map(|s| (s.last_ts, s.id, s.hash, index as u32)),
            );
        }
        if candidates.is_empty() {
            self.last_fruitless_scan_ms.store(now_ms, Ordering::Relaxed);
            return 0;
        }
        let batch = wanted.max(self.config.max_active_series / 100).max(1);
        // ids break ties so the choice doesn't depend on hash order
        candidates.sort_unstable_by_key(|&(last_ts, id, _, _)| (last_ts, id));
        candidates.truncate(batch);
        candidates.sort_unstable_by_key(|&(_, _, _, shard)| shard);

        let mut evicted = 0;
        for group in candidates.chunk_by(|a, b| a.3 == b.3) {
            let mut shard = self.shards[group[0].3 as usize].write();
            let Shard { table, counters } = &mut *shard;
            for &(_, id, hash, _) in group {
                // it may have received samples since the scan
                let Ok(entry) = table.find_entry(hash, |s| s.id == id) else {
                    continue;
                };
                if !entry.get().is_evictable(cutoff) {
                    continue;
                }
                let (series, _) = entry.remove();
                counters.forget(&series);
                evicted += 1;
            }
        }
        self.active_series
            .fetch_sub(evicted as usize, Ordering::AcqRel);
        add(&self.totals.series_evicted, evicted);
        evicted
    }

    /// Drops samples past retention and series left with none, and releases
    /// interned strings no longer used. Called periodically by the server.
    pub fn compact(&self, now_ms: i64) -> CompactOutcome {
        let window = self.window(now_ms);
        let bounds = SeriesBounds {
            oldest: window.oldest,
            max_samples: self.config.max_samples_per_series,
        };
        let mut outcome = CompactOutcome::default();
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let Shard { table, counters } = &mut *shard;
            table.retain(|series| {
                let (chunks, samples) = series.trim_front(bounds, counters);
                outcome.chunks_removed += chunks;
                outcome.samples_removed += samples;
                if !series.all_expired(bounds.oldest) {
                    return true;
                }
                outcome.samples_removed += series.samples as u64;
                counters.forget(series);
                outcome.series_removed += 1;
                false
            });
            if table.capacity() > 64 && table.len() < table.capacity() / 4 {
                table.shrink_to_fit(|s| s.hash);
            }
        }
        self.active_series
            .fetch_sub(outcome.series_removed as usize, Ordering::AcqRel);
        add(&self.totals.series_expired, outcome.series_removed);
        outcome.strings_released = self.interner.purge_unused() as u64;
        outcome
    }

    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        let mut series_count = 0u64;
        let mut table_bytes = 0u64;
        let mut label_bytes = 0u64;
        let mut encoded_bytes = 0u64;
        for shard in self.shards.iter() {
            let shard = shard.read();
            series_count += shard.table.len() as u64;
            table_bytes += (shard.table.capacity() * (std::mem::size_of::<Series>() + 1)) as u64;
            stats.samples += shard.counters.samples;
            stats.chunks += shard.counters.closed_chunks;
            encoded_bytes += shard.counters.encoded_bytes;
            label_bytes += shard.counters.label_bytes;
        }
        let chunk_overhead =
            (std::mem::size_of::<Chunk>() + 16 + std::mem::size_of::<Arc<Chunk>>()) as u64;
        stats.active_series = series_count;
        stats.approx_bytes = table_bytes
            + label_bytes
            + encoded_bytes
            + stats.chunks * chunk_overhead
            + self.interner.approx_bytes() as u64;
        stats.interned_strings = self.interner.len() as u64;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.series_created_total = get(&self.totals.series_created);
        stats.series_evicted_total = get(&self.totals.series_evicted);
        stats.series_expired_total = get(&self.totals.series_expired);
        stats.samples_appended_total = get(&self.totals.samples_appended);
        stats.stale_markers_total = get(&self.totals.stale_markers);
        stats.rejected_total = self.totals.rejected();
        stats.subscriber_lagged_total = self.feed.lagged_total();
        stats
    }

    /// Copies out the series matching `select` that may hold a sample in
    /// `[from_ts, to_ts]`, one shard lock at a time.
    /// Every series whose metric name is one of `names`, with its samples in
    /// `from_ts..=to_ts`, oldest first: what the analysis reads each tick.
    pub fn read_by_name(
        &self,
        names: &[&str],
        from_ts: i64,
        to_ts: i64,
    ) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let wanted = |labels: &Labels| labels.metric_name().is_some_and(|n| names.contains(&n));
        self.snapshot(wanted, from_ts, to_ts)
            .into_iter()
            .map(|snapshot| {
                let mut samples = Vec::new();
                snapshot.samples_in(from_ts, to_ts, &mut samples);
                (snapshot.labels, samples)
            })
            .collect()
    }

    /// Every series whose metric name ends with `suffix` (e.g. `_build_info`),
    /// with its last sample in `from_ts..=to_ts`.
    pub fn latest_by_suffix(
        &self,
        suffix: &str,
        from_ts: i64,
        to_ts: i64,
    ) -> Vec<(Labels, (i64, f64))> {
        let wanted = |labels: &Labels| labels.metric_name().is_some_and(|n| n.ends_with(suffix));
        self.snapshot(wanted, from_ts, to_ts)
            .into_iter()
            .filter_map(|snapshot| {
                let mut samples = Vec::new();
                snapshot.samples_in(from_ts, to_ts, &mut samples);
                samples.last().copied().map(|last| (snapshot.labels, last))
            })
            .collect()
    }

    pub(crate) fn snapshot(
        &self,
        select: impl Fn(&Labels) -> bool,
        from_ts: i64,
        to_ts: i64,
    ) -> Vec<SeriesSnapshot> {
        let mut found = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for series in shard.table.iter() {
                let Some(first_ts) = series.first_ts() else {
                    continue;
                };
                if first_ts > to_ts || series.last_ts < from_ts || !select(&series.labels) {
                    continue;
                }
                let head = series.head.chunk();
                found.push(SeriesSnapshot {
                    labels: series.labels.clone(),
                    chunks: series
                        .closed
                        .iter()
                        .filter(|c| c.overlaps(from_ts, to_ts))
                        .cloned()
                        .collect(),
                    head: head.overlaps(from_ts, to_ts).then(|| head.clone()),
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{STALE_NAN_BITS, SeriesSamples};
    use tokio::sync::broadcast::error::TryRecvError;

    pub(crate) const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

    pub(crate) fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        let mut pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        SeriesSamples {
            labels: pairs,
            samples: samples
                .iter()
                .map(|&(ts_ms, value)| SampleValue { ts_ms, value })
                .collect(),
        }
    }

    pub(crate) fn batch(series: Vec<SeriesSamples>) -> SampleBatch {
        SampleBatch {
            series,
            ..Default::default()
        }
    }

    fn stale() -> f64 {
        f64::from_bits(STALE_NAN_BITS)
    }

    fn all_samples(store: &SeriesStore) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let mut out: Vec<_> = store
            .snapshot(|_| true, i64::MIN, i64::MAX)
            .into_iter()
            .map(|s| {
                let mut samples = Vec::new();
                s.samples_in(i64::MIN, i64::MAX, &mut samples);
                (s.labels, samples)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn appends_and_reads_back() {
        let store = SeriesStore::default();
        let out = store.append(
            &batch(vec![
                series(
                    &[("__name__", "up"), ("job", "a")],
                    &[(T0, 1.0), (T0 + 15_000, 0.0)],
                ),
                series(&[("__name__", "up"), ("job", "b")], &[(T0, 1.0)]),
            ]),
            T0,
        );
        assert_eq!(out.series_created, 2);
        assert_eq!(out.samples_appended, 3);
        assert_eq!(out.rejected.total(), 0);
        let again = store.append(
            &batch(vec![series(
                &[("__name__", "up"), ("job", "a")],
                &[(T0 + 30_000, 1.0)],
            )]),
            T0,
        );
        assert_eq!(again.series_created, 0);
        let data = all_samples(&store);
        assert_eq!(data.len(), 2);
        assert_eq!(
            data[0].1,
            vec![(T0, 1.0), (T0 + 15_000, 0.0), (T0 + 30_000, 1.0)]
        );
        let stats = store.stats();
        assert_eq!(stats.active_series, 2);
        assert_eq!(stats.samples, 4);
        assert_eq!(stats.samples_appended_total, 4);
        assert!(stats.approx_bytes > 0);
    }

    #[test]
    fn out_of_order_duplicates_and_conflicts_are_counted() {
        let store = SeriesStore::default();
        let l = [("__name__", "x")];
        store.append(&batch(vec![series(&l, &[(T0, 1.0), (T0 + 10, 2.0)])]), T0);
        let out = store.append(
            &batch(vec![series(
                &l,
                &[
                    (T0 + 5, 9.0),
                    (T0 + 10, 2.0),
                    (T0 + 10, 3.0),
                    (T0 + 20, 4.0),
                    (T0 + 15, 5.0),
                ],
            )]),
            T0,
        );
        assert_eq!(out.samples_appended, 1);
        assert_eq!(out.rejected.out_of_order, 2);
        assert_eq!(out.rejected.duplicate, 1);
        assert_eq!(out.rejected.conflicting_timestamp, 1);
        assert_eq!(out.rejected.errors(), 3);
        assert_eq!(
            all_samples(&store)[0].1,
            vec![(T0, 1.0), (T0 + 10, 2.0), (T0 + 20, 4.0)]
        );
        // a repeated stale marker is a duplicate too: compared by bits, not as NaN
        store.append(&batch(vec![series(&l, &[(T0 + 30, stale())])]), T0);
        let out = store.append(&batch(vec![series(&l, &[(T0 + 30, stale())])]), T0);
        assert_eq!(out.rejected.duplicate, 1);
        assert_eq!(store.stats().rejected_total.out_of_order, 2);
    }

    #[test]
    fn time_window_rejections() {
        let store = SeriesStore::default();
        let l = [("__name__", "x")];
        let three_hours = 3 * 60 * MIN;
        let out = store.append(
            &batch(vec![series(
                &l,
                &[
                    (T0 - three_hours - 1, 1.0),
                    (T0 - three_hours, 2.0),
                    (T0 + 10 * MIN, 3.0),
                    (T0 + 10 * MIN + 1, 4.0),
                ],
            )]),
            T0,
        );
        assert_eq!(out.rejected.too_old, 1);
        assert_eq!(out.rejected.too_far_in_future, 1);
        assert_eq!(out.samples_appended, 2);
        // a new series with nothing acceptable is not created
        let out = store.append(
            &batch(vec![series(
                &[("__name__", "y")],
                &[(T0 - three_hours - 1, 1.0)],
            )]),
            T0,
        );
        assert_eq!((out.series_created, out.rejected.too_old), (0, 1));
        assert_eq!(store.stats().active_series, 1);
    }

    #[test]
    fn stale_markers_are_stored_and_counted() {
        let store = SeriesStore::default();
        let out = store.append(
            &batch(vec![series(
                &[("__name__", "x")],
                &[(T0, 1.0), (T0 + 1, stale())],
            )]),
            T0,
        );
        assert_eq!((out.samples_appended, out.stale_markers), (2, 1));
        let data = all_samples(&store);
        assert!(is_stale_marker(data[0].1[1].1));
        assert_eq!(store.stats().stale_markers_total, 1);
    }

    #[test]
    fn retention_trims_whole_chunks_and_compact_removes_empty_series() {
        let store = SeriesStore::new(StoreConfig {
            retention_ms: 10 * MIN,
            ..StoreConfig::default()
        });
        let l = [("__name__", "x")];
        // one sample a second for 6 minutes: 3 closed chunks of 120
        for i in 0..360 {
            store.append(
                &batch(vec![series(&l, &[(T0 + i * 1000, i as f64)])]),
                T0 + i * 1000,
            );
        }
        store.append(
            &batch(vec![series(&[("__name__", "short")], &[(T0, 1.0)])]),
            T0,
        );
        assert_eq!(store.stats().samples, 361);
        assert_eq!(store.stats().chunks, 3);

        // at T0 + 12m the first chunk (T0 .. T0+119s) is past retention
        let now = T0 + 12 * MIN;
        let out = store.compact(now);
        assert_eq!(out.chunks_removed, 1);
        assert_eq!(out.series_removed, 1, "the short series is all expired");
        assert_eq!(out.samples_removed, 121);
        assert_eq!(out.strings_released, 1, "\"short\" is no longer used");
        let data = all_samples(&store);
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].1.first().map(|s| s.0), Some(T0 + 120_000));
        drop(data);
        let stats = store.stats();
        assert_eq!(
            (
                stats.active_series,
                stats.samples,
                stats.chunks,
                stats.series_expired_total
            ),
            (1, 240, 2, 1)
        );

        // trimming also happens on append, when a chunk closes
        for i in 360..480 {
            store.append(
                &batch(vec![series(&l, &[(T0 + i * 1000, 0.0)])]),
                T0 + 14 * MIN,
            );
        }
        assert_eq!(
            store.stats().samples,
            240,
            "chunk 2 expired when chunk 4 closed"
        );

        let out = store.compact(T0 + 60 * MIN);
        assert_eq!(out.series_removed, 1);
        let stats = store.stats();
        assert_eq!(
            (
                stats.active_series,
                stats.samples,
                stats.chunks,
                stats.interned_strings
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn samples_per_series_are_bounded() {
        let store = SeriesStore::new(StoreConfig {
            max_samples_per_series: 240,
            ..StoreConfig::default()
        });
        let l = [("__name__", "x")];
        let samples: Vec<(i64, f64)> = (0..1000).map(|i| (T0 + i, i as f64)).collect();
        store.append(&batch(vec![series(&l, &samples)]), T0);
        let stats = store.stats();
        assert!(stats.samples <= 240 + 120, "{}", stats.samples);
        let data = all_samples(&store);
        assert_eq!(data[0].1.last(), Some(&(T0 + 999, 999.0)));
    }

    #[test]
    fn series_limit_evicts_stale_series_least_recent_first() {
        let store = SeriesStore::new(StoreConfig {
            max_active_series: 3,
            ..StoreConfig::default()
        });
        let one = |name: &str, ts: i64| batch(vec![series(&[("__name__", name)], &[(ts, 1.0)])]);
        store.append(&one("a", T0), T0);
        store.append(&one("b", T0 + MIN), T0 + MIN);
        store.append(&one("c", T0 + 2 * MIN), T0 + 2 * MIN);

        // nothing is stale yet: the new series is refused
        let out = store.append(&one("d", T0 + 3 * MIN), T0 + 3 * MIN);
        assert_eq!((out.series_created, out.rejected.series_limit), (0, 1));
        // existing series still take samples at the limit
        assert_eq!(
            store
                .append(&one("a", T0 + 3 * MIN), T0 + 3 * MIN)
                .samples_appended,
            1
        );

        // at +9m, "b" (last sample +1m) is stale; "a" was refreshed at +3m
        let out = store.append(&one("d", T0 + 9 * MIN), T0 + 9 * MIN);
        assert_eq!(out.series_created, 1);
        let names: Vec<String> = all_samples(&store)
            .iter()
            .map(|(l, _)| l.metric_name().unwrap_or("").to_owned())
            .collect();
        assert_eq!(names, ["a", "c", "d"]);
        let stats = store.stats();
        assert_eq!((stats.active_series, stats.series_evicted_total), (3, 1));
        assert_eq!(stats.rejected_total.series_limit, 1);
    }

    #[test]
    fn stale_marked_series_are_evictable_at_once() {
        let store = SeriesStore::new(StoreConfig {
            max_active_series: 1,
            ..StoreConfig::default()
        });
        store.append(
            &batch(vec![series(
                &[("__name__", "a")],
                &[(T0, 1.0), (T0 + 1, stale())],
            )]),
            T0,
        );
        let out = store.append(
            &batch(vec![series(&[("__name__", "b")], &[(T0 + 2, 1.0)])]),
            T0 + 2,
        );
        assert_eq!(out.series_created, 1);
        assert_eq!(store.stats().series_evicted_total, 1);
    }

    #[test]
    fn fruitless_eviction_scans_are_rate_limited() {
        let store = SeriesStore::new(StoreConfig {
            max_active_series: 1,
            ..StoreConfig::default()
        });
        let one = |name: &str, ts: i64, value: f64| {
            batch(vec![series(&[("__name__", name)], &[(ts, value)])])
        };
        store.append(&one("a", T0, 1.0), T0);
        assert_eq!(
            store
                .append(&one("b", T0 + 1, 1.0), T0 + 1)
                .rejected
                .series_limit,
            1
        );
        // "a" ends and becomes evictable, but the scan at T0+1 found nothing
        // and isn't repeated within a second
        store.append(&one("a", T0 + 2, stale()), T0 + 2);
        assert_eq!(
            store
                .append(&one("c", T0 + 500, 1.0), T0 + 500)
                .rejected
                .series_limit,
            1
        );
        assert_eq!(
            store
                .append(&one("c", T0 + 1_001, 1.0), T0 + 1_001)
                .series_created,
            1
        );
        assert_eq!(store.stats().series_evicted_total, 1);
    }

    #[test]
    fn subscribers_share_one_arc_per_append() {
        let store = SeriesStore::default();
        let quiet = store.append(
            &batch(vec![series(&[("__name__", "before")], &[(T0, 1.0)])]),
            T0,
        );
        assert_eq!(quiet.samples_appended, 1);
        let mut first = store.subscribe();
        let mut second = store.subscribe();
        store.append(
            &batch(vec![
                series(
                    &[("__name__", "up"), ("job", "a")],
                    &[(T0, 1.0), (T0 + 1, 2.0)],
                ),
                series(&[("__name__", "before")], &[(T0 - 1, 5.0), (T0 + 1, 3.0)]),
            ]),
            T0,
        );
        let a = first.try_recv().unwrap();
        let b = second.try_recv().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            a.sample_count(),
            3,
            "the out-of-order sample is not published"
        );
        let mut seen: Vec<(String, Vec<f64>)> = a
            .iter()
            .map(|(s, samples)| {
                (
                    s.labels.to_string(),
                    samples.iter().map(|x| x.value).collect(),
                )
            })
            .collect();
        seen.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            seen,
            vec![
                ("before".to_owned(), vec![3.0]),
                ("up{job=\"a\"}".to_owned(), vec![1.0, 2.0])
            ]
        );
        // the published labels are the store's own interned set
        let stored = store.snapshot(|l| l.get("job") == Some("a"), i64::MIN, i64::MAX);
        let published = a
            .iter()
            .find(|(s, _)| s.labels.get("job") == Some("a"))
            .map(|(s, _)| s.labels.clone());
        assert!(published.is_some_and(|p| p.ptr_eq(&stored[0].labels)));
        // an append that stores nothing publishes nothing
        store.append(
            &batch(vec![series(&[("__name__", "before")], &[(T0 - 1, 5.0)])]),
            T0,
        );
        assert!(matches!(first.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn lagging_subscribers_are_counted() {
        let store = SeriesStore::new(StoreConfig {
            feed_capacity: 2,
            ..StoreConfig::default()
        });
        let mut slow = store.subscribe();
        for i in 0..5 {
            store.append(
                &batch(vec![series(&[("__name__", "x")], &[(T0 + i, 1.0)])]),
                T0,
            );
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(3))));
        assert_eq!(store.stats().subscriber_lagged_total, 3);
        assert_eq!(
            slow.try_recv()
                .unwrap()
                .iter()
                .next()
                .map(|(_, s)| s[0].ts_ms),
            Some(T0 + 3)
        );
    }

    mod invariants {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever is appended and whenever compaction runs: every
            /// offered sample is either stored or counted rejected, stored
            /// samples are strictly increasing per series and inside
            /// retention after compaction, and the stats agree with the data.
            #[test]
            fn accounting_and_ordering_hold(
                ops in prop::collection::vec((0usize..6, -5_000i64..20_000, 0u8..4, 0i64..90_000), 1..200),
                max_active_series in 1usize..6,
            ) {
                let config = StoreConfig {
                    retention_ms: 60_000,
                    max_active_series,
                    max_samples_per_series: 240,
                    stale_series_ms: 10_000,
                    ..StoreConfig::default()
                };
                let store = SeriesStore::new(config);
                let mut now = T0;
                let mut offered = 0u64;
                let mut accounted = 0u64;
                for (name, offset, kind, advance) in ops {
                    now += advance / 10;
                    if kind == 3 {
                        store.compact(now);
                        continue;
                    }
                    let name = format!("s{name}");
                    let samples: Vec<(i64, f64)> =
                        (0..3).map(|i| (now + offset + i * (kind as i64 - 1) * 7, if kind == 0 { stale() } else { i as f64 })).collect();
                    offered += samples.len() as u64;
                    let out = store.append(&batch(vec![series(&[("__name__", &name)], &samples)]), now);
                    accounted += out.samples_appended + out.rejected.total();
                }
                prop_assert_eq!(offered, accounted);
                store.compact(now);
                let data = all_samples(&store);
                let stats = store.stats();
                prop_assert_eq!(stats.active_series as usize, data.len());
                prop_assert!(data.len() <= max_active_series);
                prop_assert_eq!(stats.samples as usize, data.iter().map(|(_, s)| s.len()).sum::<usize>());
                for (_, samples) in &data {
                    prop_assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
                    prop_assert!(samples.len() <= 240 + crate::chunk::CHUNK_SAMPLES);
                    // compaction is chunk-granular: the newest sample is in retention
                    prop_assert!(samples.last().is_some_and(|s| s.0 >= now - 60_000));
                }
                let totals = stats.rejected_total.total() + stats.samples_appended_total;
                prop_assert_eq!(totals, offered);
            }
        }
    }

    #[test]
    fn concurrent_appends_land_once_each() {
        let store = Arc::new(SeriesStore::new(StoreConfig {
            shards: 4,
            ..StoreConfig::default()
        }));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for round in 0..50i64 {
                        let series_list = (0..100)
                            .map(|i| {
                                let instance = format!("i{i}");
                                series(
                                    &[
                                        ("__name__", "m"),
                                        ("instance", &instance),
                                        ("t", &t.to_string()),
                                    ],
                                    &[(T0 + round, 1.0)],
                                )
                            })
                            .collect();
                        store.append(&batch(series_list), T0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = store.stats();
        assert_eq!(
            (
                stats.active_series,
                stats.samples,
                stats.series_created_total
            ),
            (400, 20_000, 400)
        );
    }
}
