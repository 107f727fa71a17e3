//! What the analysis says about a service at a time: the one type every
//! source (metric detectors, log templates, changes, alerts) produces and
//! the correlator groups.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    MetricAnomaly,
    NewLogTemplate,
    LogRateShift,
    LogErrorBurst,
    Alert,
    Deploy,
    Restart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    None,
}

/// How much a signal weighs in grouping: only `Strong` ones open incidents;
/// `Weak` ones (a traffic drop, an info-level template, a deploy) join an
/// incident that something else opened, as context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weight {
    Weak,
    Strong,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Stable identity of what is measured (`payments/error_ratio`,
    /// `checkout->payments/peer_error_ratio`, `cart/template/ab12..`):
    /// the dedup key while the signal is active.
    pub key: String,
    pub kind: SignalKind,
    pub service: String,
    /// For client-side signals: the callee as the caller names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// An alert's labels (bounded), for playbooks that match on them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The measured thing: `error_ratio`, `latency_p99`, a template text...
    pub metric: String,
    /// 0..=1.
    pub score: f64,
    pub direction: Direction,
    pub weight: Weight,
    pub onset_ms: i64,
    pub detected_ms: i64,
    /// Set when the source says it is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// Deviation in robust sigmas, where the source measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<f64>,
    /// One lowercase sentence with the numbers behind it.
    pub why: String,
}

impl Signal {
    pub fn is_active(&self) -> bool {
        self.ended_ms.is_none()
    }

    /// A change (deploy, restart) rather than a symptom.
    pub fn is_change(&self) -> bool {
        matches!(self.kind, SignalKind::Deploy | SignalKind::Restart)
    }
}
