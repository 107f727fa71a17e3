//! Saving and restoring miners, so that a restarted engine keeps its
//! template ids, counts and exemplars.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::drain::{Cluster, Miner, MinerConfig, MinerStats, keyed_tokens, word_tokens};
use crate::id::TemplateId;
use crate::level::Level;

/// Bumped when the snapshot's meaning changes; versions this code cannot
/// read are refused rather than misread. 2 added `spans` (a token may hold
/// spaces); version 1 snapshots, which never have such tokens, still load.
pub const SNAPSHOT_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateSnapshot {
    pub id: TemplateId,
    /// Tokens joined by single spaces.
    pub template: String,
    /// The tokens' byte ranges in `template`, given only when a token holds
    /// spaces itself (a structured field with a free-text value); without
    /// it the tokens are `template` split at spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans: Option<Vec<(u32, u32)>>,
    /// The tree keys that lead to the template's leaf.
    pub path: Vec<String>,
    pub count: u64,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    pub last_used: u64,
    pub level: Level,
    pub exemplars: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerSnapshot {
    pub version: u32,
    pub service: String,
    pub config: MinerConfig,
    /// Lines seen: the clock of least-recently-seen eviction.
    pub seq: u64,
    pub stats: MinerStats,
    /// Grouped by tree leaf, each leaf in match order.
    pub templates: Vec<TemplateSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    Version(u32),
    DuplicateId(TemplateId),
    BadPath(TemplateId),
    BadSpans(TemplateId),
    DuplicateService(String),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Version(v) => write!(
                f,
                "snapshot version {v} is not supported (expected {SNAPSHOT_VERSION})"
            ),
            RestoreError::DuplicateId(id) => write!(f, "snapshot holds template {id} twice"),
            RestoreError::BadPath(id) => write!(
                f,
                "template {id} has a tree path that does not fit its tokens or the depth"
            ),
            RestoreError::BadSpans(id) => write!(
                f,
                "template {id} has token spans that do not cover its text word by word"
            ),
            RestoreError::DuplicateService(s) => write!(f, "snapshot holds service {s:?} twice"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// Spans from a snapshot are trusted only if they tile the text: in order,
/// on char boundaries, non-empty, one space between neighbours.
fn valid_spans(text: &str, spans: &[(u32, u32)]) -> bool {
    if text.is_empty() {
        return spans.is_empty();
    }
    let mut expected_start = 0usize;
    for (i, &(s, e)) in spans.iter().enumerate() {
        let (s, e) = (s as usize, e as usize);
        if s != expected_start || e <= s || e > text.len() {
            return false;
        }
        if !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            return false;
        }
        let last = i + 1 == spans.len();
        if last {
            return e == text.len();
        }
        if text.as_bytes().get(e) != Some(&b' ') {
            return false;
        }
        expected_start = e + 1;
    }
    false
}

fn tokens(text: &str) -> Vec<(u32, u32)> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b' ' {
            spans.push((start as u32, i as u32));
            start = i + 1;
        }
    }
    spans.push((start as u32, text.len() as u32));
    spans
}

impl Miner {
    pub fn snapshot(&self) -> MinerSnapshot {
        let templates = self
            .leaf_order()
            .into_iter()
            .filter_map(|slot| self.clusters[slot as usize].as_ref())
            .map(|c| TemplateSnapshot {
                id: c.id,
                template: c.text.to_string(),
                spans: c
                    .spans
                    .iter()
                    .any(|&(s, e)| c.text[s as usize..e as usize].contains(' '))
                    .then(|| c.spans.clone()),
                path: c.path.iter().map(|p| p.to_string()).collect(),
                count: c.count,
                first_seen_ns: c.first_seen_ns,
                last_seen_ns: c.last_seen_ns,
                last_used: c.last_used,
                level: c.level,
                exemplars: c.exemplars.iter().map(|e| e.to_string()).collect(),
            })
            .collect();
        MinerSnapshot {
            version: SNAPSHOT_VERSION,
            service: self.service.to_string(),
            config: self.cfg.clone(),
            seq: self.seq,
            stats: self.stats.clone(),
            templates,
        }
    }

    /// A miner that continues where the snapshot's left off, with the
    /// snapshot's settings.
    pub fn restore(snapshot: MinerSnapshot) -> Result<Miner, RestoreError> {
        let cfg = snapshot.config.clone();
        Miner::restore_with(cfg, snapshot)
    }

    /// As [`Miner::restore`] with other settings. With a smaller
    /// `max_templates` the least recently seen templates are dropped.
    pub fn restore_with(cfg: MinerConfig, snapshot: MinerSnapshot) -> Result<Miner, RestoreError> {
        if !(1..=SNAPSHOT_VERSION).contains(&snapshot.version) {
            return Err(RestoreError::Version(snapshot.version));
        }
        let mut keep: Vec<&TemplateSnapshot> = snapshot.templates.iter().collect();
        if keep.len() > cfg.max_templates {
            let mut recency: Vec<u64> = keep.iter().map(|t| t.last_used).collect();
            recency.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = recency[cfg.max_templates.max(1) - 1];
            keep.retain(|t| t.last_used >= cutoff);
            keep.truncate(cfg.max_templates.max(1));
        }
        let layers = cfg.depth.max(3) - 3;
        let mut miner = Miner::new(&snapshot.service, cfg);
        miner.seq = snapshot.seq;
        miner.stats = snapshot.stats.clone();
        for t in keep {
            let spans = match &t.spans {
                Some(spans) if valid_spans(&t.template, spans) => spans.clone(),
                Some(_) => return Err(RestoreError::BadSpans(t.id)),
                None => tokens(&t.template),
            };
            if t.path.len() != layers.min(spans.len()) || t.path.iter().any(|p| p.is_empty()) {
                return Err(RestoreError::BadPath(t.id));
            }
            if miner.get(t.id).is_some() {
                return Err(RestoreError::DuplicateId(t.id));
            }
            miner.insert(Cluster {
                id: t.id,
                text: Arc::from(t.template.as_str()),
                keyed: keyed_tokens(&t.template, &spans),
                words: word_tokens(&t.template, &spans),
                spans,
                path: t.path.iter().map(|p| Box::from(p.as_str())).collect(),
                leaf: 0,
                count: t.count,
                first_seen_ns: t.first_seen_ns,
                last_seen_ns: t.last_seen_ns,
                last_used: t.last_used,
                level: t.level,
                exemplars: t.exemplars.iter().map(|e| Box::from(e.as_str())).collect(),
            });
        }
        Ok(miner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_must_tile_the_text() {
        assert!(valid_spans("a bc", &[(0, 1), (2, 4)]));
        assert!(valid_spans("k=a b c", &[(0, 7)]));
        assert!(valid_spans("", &[]));
        assert!(!valid_spans("a bc", &[(0, 1)]));
        assert!(!valid_spans("a bc", &[(0, 2), (2, 4)]));
        assert!(!valid_spans("a bc", &[(0, 1), (2, 9)]));
        assert!(!valid_spans("ab", &[(0, 0), (0, 2)]));
        assert!(!valid_spans("é", &[(0, 1)]));
        assert!(!valid_spans("a", &[]));
    }

    #[test]
    fn spaced_tokens_survive_a_restore() {
        let mut m = Miner::new("svc", MinerConfig::default());
        let line = |e: &str| {
            format!(r#"{{"message":"payment failed","fields":{{"error":"{e}","id":1}}}}"#)
        };
        let a = m.observe(1, None, &line("cannot reach payments: connection refused"));
        let snap = m.snapshot();
        assert_eq!(snap.version, SNAPSHOT_VERSION);
        assert!(snap.templates[0].spans.is_some());
        let json = serde_json::to_string(&snap).expect("json");
        let back: MinerSnapshot = serde_json::from_str(&json).expect("parse");
        let mut r = Miner::restore(back).expect("restore");
        let b = r.observe(
            2,
            None,
            &line("payments answered 500 internal server error"),
        );
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(&*b.template, "payment failed error=<*> id=<NUM>");

        let mut bad = m.snapshot();
        bad.templates[0].spans = Some(vec![(0, 3)]);
        assert!(matches!(
            Miner::restore(bad),
            Err(RestoreError::BadSpans(_))
        ));

        // A version 1 snapshot (no spans) still loads.
        let mut old = Miner::new("svc", MinerConfig::default());
        old.observe(1, None, "hello world");
        let mut v1 = old.snapshot();
        v1.version = 1;
        assert!(v1.templates[0].spans.is_none());
        assert_eq!(Miner::restore(v1).expect("v1").len(), 1);
    }
}
