//! Interned label sets. A store holds hundreds of thousands of series whose
//! label names and most values repeat (`job`, `instance`, `service="cart"`),
//! so every string is stored once and a label set is one `Arc` of pointer
//! pairs: cloning it into query results and subscriber feeds is a refcount
//! bump, never a copy.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::Mutex;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::model::METRIC_NAME;

/// A series' identity inside one store: assigned on creation, never reused,
/// so a subscriber may key its own state by it. A series evicted and created
/// again gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SeriesId(pub u64);

/// A log stream's identity inside one log store, with the same rules as
/// [`SeriesId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct StreamId(pub u64);

/// One interned `(name, value)` pair.
pub type Label = (Arc<str>, Arc<str>);

/// The order in which [`service_of`] looks for a service's name, unless
/// configured otherwise.
pub const DEFAULT_SERVICE_KEYS: [&str; 4] = ["service", "job", "app", "container"];

/// A `(name, value)` pair as the intake hands it over, owned or borrowed
/// from a request buffer; lets the stores look up and intern either.
pub trait PairRef {
    fn name(&self) -> &str;
    fn value(&self) -> &str;
}

impl PairRef for (String, String) {
    fn name(&self) -> &str {
        &self.0
    }
    fn value(&self) -> &str {
        &self.1
    }
}

impl PairRef for (&str, &str) {
    fn name(&self) -> &str {
        self.0
    }
    fn value(&self) -> &str {
        self.1
    }
}

/// A label set sorted by name: cheap to clone, compared and hashed by content.
#[derive(Clone)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// Builds a label set without an interner (tests, query results built by
    /// hand). Sorts by name; on a repeated name the first pair wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut owned: Vec<Label> = pairs
            .into_iter()
            .map(|(name, value)| (Arc::from(name.as_ref()), Arc::from(value.as_ref())))
            .collect();
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        owned.dedup_by(|later, earlier| later.0 == earlier.0);
        Labels(owned.into())
    }

    pub fn empty() -> Self {
        Labels(Arc::from(Vec::new()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `name`, if present. Label sets are small, so a linear
    /// scan beats a binary search on the pointer-chasing string compares.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Copies the pairs out, e.g. to hand them back to code speaking the
    /// intake's types.
    pub fn to_pairs(&self) -> crate::model::LabelPairs {
        self.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// True when this set holds exactly `pairs` (sorted, as the intake
    /// delivers them): the allocation-free lookup key of the stores.
    pub fn eq_pairs<P: PairRef>(&self, pairs: &[P]) -> bool {
        self.0.len() == pairs.len()
            && self
                .0
                .iter()
                .zip(pairs)
                .all(|((n, v), pair)| **n == *pair.name() && **v == *pair.value())
    }

    /// Whether two handles share one allocation (the same interned set).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Bytes of this set's own allocation; the strings are shared and
    /// counted by the interner.
    pub fn approx_bytes(&self) -> usize {
        16 + self.0.len() * std::mem::size_of::<Label>()
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.len() == other.0.len()
                && self
                    .0
                    .iter()
                    .zip(other.0.iter())
                    .all(|(a, b)| str_eq(&a.0, &b.0) && str_eq(&a.1, &b.1)))
    }
}

impl Eq for Labels {}

/// Interned strings are usually the same allocation; compare pointers first.
fn str_eq(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_pairs_into(self.iter(), state);
    }
}

/// Ordered as Prometheus' `labels.Compare`: pairwise by name then value,
/// a shorter prefix first.
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let by_pair = a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1));
            if by_pair != Ordering::Equal {
                return by_pair;
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Prometheus' text form: `up{job="x", instance="y"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(name) = name {
            f.write_str(name)?;
        }
        let mut rest = self.iter().filter(|(n, _)| *n != METRIC_NAME).peekable();
        if rest.peek().is_none() && name.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (n, v)) in rest.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={}", QuotedStr(v))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A JSON object, names in order, as Prometheus' HTTP API writes label sets.
impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (n, v) in self.iter() {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

/// Writes a string as a PromQL double-quoted literal, which the selector
/// parser reads back: Rust's `{:?}` would write `\u{..}`, which PromQL
/// doesn't know.
pub(crate) struct QuotedStr<'a>(pub &'a str);

impl fmt::Display for QuotedStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() && (c as u32) <= 0xffff => write!(f, "\\u{:04x}", c as u32)?,
                c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Feeds `(name, value)` pairs into a hasher. Borrowed intake pairs and an
/// interned set hash identically, which is what lets a store find an
/// existing series without building its label set first.
pub fn hash_pairs_into<'a, H: Hasher>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    state: &mut H,
) {
    for (n, v) in pairs {
        n.hash(state);
        v.hash(state);
    }
}

pub fn hash_pairs<'a, S: BuildHasher>(
    build: &S,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let mut state = build.build_hasher();
    hash_pairs_into(pairs, &mut state);
    state.finish()
}

/// The service a series or stream belongs to: the first non-empty value of
/// `keys` (in that order), e.g. [`DEFAULT_SERVICE_KEYS`].
pub fn service_of<'a>(labels: &'a Labels, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|key| labels.get(key).filter(|v| !v.is_empty()))
}

const INTERNER_SHARDS: usize = 16;

/// Stores every distinct string once. Sharded so that series creation on
/// many threads doesn't serialise on one lock; only creation interns, the
/// append hot path never does.
pub struct Interner {
    shards: Box<[Mutex<HashTable<Arc<str>>>]>,
    hasher: foldhash::fast::FixedState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl Interner {
    pub fn new() -> Self {
        Interner {
            shards: (0..INTERNER_SHARDS)
                .map(|_| Mutex::new(HashTable::new()))
                .collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_1abe_15c0_ffee),
        }
    }

    pub fn intern(&self, s: &str) -> Arc<str> {
        let hash = self.hasher.hash_one(s);
        let mut table = self.shards[shard_of(hash, INTERNER_SHARDS)].lock();
        let entry = table.entry(
            hash,
            |known| **known == *s,
            |known| self.hasher.hash_one(&**known),
        );
        entry.or_insert_with(|| Arc::from(s)).get().clone()
    }

    /// Interns intake pairs into a label set. The intake sorts pairs; sort
    /// again only if it didn't, so a mistake upstream can't corrupt lookups.
    pub fn labels<P: PairRef>(&self, pairs: &[P]) -> Labels {
        let mut interned: Vec<Label> = pairs
            .iter()
            .map(|pair| (self.intern(pair.name()), self.intern(pair.value())))
            .collect();
        if !interned.is_sorted_by(|a, b| a.0 <= b.0) {
            interned.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Labels(interned.into())
    }

    /// Forgets strings no label set uses any more (their series were evicted
    /// or expired). Holding the shard lock makes the count check safe: the
    /// only way to obtain a new handle is `intern`, which needs that lock.
    pub fn purge_unused(&self) -> usize {
        let mut released = 0;
        for shard in self.shards.iter() {
            let mut table = shard.lock();
            let before = table.len();
            table.retain(|s| Arc::strong_count(s) > 1);
            released += before - table.len();
            if table.capacity() > 64 && table.len() < table.capacity() / 4 {
                table.shrink_to_fit(|s| self.hasher.hash_one(&**s));
            }
        }
        released
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// String bytes plus the per-string `Arc` header and table slot.
    pub fn approx_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let table = s.lock();
                table.capacity() * (std::mem::size_of::<Arc<str>>() + 1)
                    + table.iter().map(|s| s.len() + 16).sum::<usize>()
            })
            .sum()
    }
}

/// Picks a shard from the hash's middle bits: hashbrown uses the low bits for
/// the bucket and the top seven for its tag, so sharding on either would
/// leave every key of a shard sharing them.
pub(crate) fn shard_of(hash: u64, shards: usize) -> usize {
    ((hash >> 32) as usize) % shards
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interned_sets_share_strings() {
        let interner = Interner::new();
        let a = interner.labels(&pairs(&[("__name__", "up"), ("job", "cart")]));
        let b = interner.labels(&pairs(&[("__name__", "up"), ("job", "orders")]));
        assert!(Arc::ptr_eq(&a.as_slice()[0].0, &b.as_slice()[0].0));
        assert!(Arc::ptr_eq(&a.as_slice()[0].1, &b.as_slice()[0].1));
        assert_eq!(interner.len(), 5, "__name__, up, job, cart, orders");
        assert_ne!(a, b);
        assert_eq!(a, Labels::from_pairs([("job", "cart"), ("__name__", "up")]));
    }

    #[test]
    fn borrowed_pairs_and_labels_hash_alike() {
        let build = foldhash::fast::FixedState::with_seed(7);
        let raw = pairs(&[("a", "1"), ("b", "2")]);
        let labels = Labels::from_pairs([("b", "2"), ("a", "1")]);
        let from_raw = hash_pairs(&build, raw.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert_eq!(from_raw, hash_pairs(&build, labels.iter()));
        assert!(labels.eq_pairs(&raw));
        // "ab","" and "a","b" must not collide by concatenation
        let split = hash_pairs(&build, [("ab", ""), ("c", "")].into_iter());
        let joined = hash_pairs(&build, [("a", "b"), ("c", "")].into_iter());
        assert_ne!(split, joined);
    }

    #[test]
    fn purge_releases_unused_strings() {
        let interner = Interner::new();
        let kept = interner.labels(&pairs(&[("job", "a")]));
        drop(interner.labels(&pairs(&[("job", "b")])));
        assert_eq!(interner.purge_unused(), 1);
        assert_eq!(interner.len(), 2);
        assert_eq!(kept.get("job"), Some("a"));
    }

    #[test]
    fn unsorted_input_is_sorted() {
        let interner = Interner::new();
        let l = interner.labels(&pairs(&[("z", "1"), ("a", "2")]));
        assert_eq!(l.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "z"]);
    }

    #[test]
    fn service_identity_follows_key_order() {
        let l = Labels::from_pairs([("job", "api"), ("container", "c1"), ("service", "")]);
        assert_eq!(service_of(&l, &DEFAULT_SERVICE_KEYS), Some("api"));
        assert_eq!(service_of(&l, &["container", "job"]), Some("c1"));
        assert_eq!(service_of(&l, &["app"]), None);
        let with_service = Labels::from_pairs([("job", "api"), ("service", "cart")]);
        assert_eq!(
            service_of(&with_service, &DEFAULT_SERVICE_KEYS),
            Some("cart")
        );
    }

    #[test]
    fn display_and_json() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x\"y")]);
        assert_eq!(l.to_string(), r#"up{job="x\"y"}"#);
        assert_eq!(Labels::from_pairs([("__name__", "up")]).to_string(), "up");
        assert_eq!(Labels::from_pairs([("a", "b")]).to_string(), r#"{a="b"}"#);
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"__name__":"up","job":"x\"y"}"#
        );
    }

    #[test]
    fn ordering_matches_prometheus_compare() {
        let a = Labels::from_pairs([("a", "1")]);
        let ab = Labels::from_pairs([("a", "1"), ("b", "1")]);
        let a2 = Labels::from_pairs([("a", "2")]);
        assert!(a < ab);
        assert!(ab < a2);
    }
}
