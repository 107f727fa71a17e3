//! What a detector says about each point, and about anomalies as they open
//! and close.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn of(delta: f64) -> Direction {
        if delta < 0.0 {
            Direction::Down
        } else {
            Direction::Up
        }
    }

    /// +1 for up, -1 for down: turns a deviation into "how far in this
    /// direction".
    pub fn sign(self) -> f64 {
        match self {
            Direction::Up => 1.0,
            Direction::Down => -1.0,
        }
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Direction::Up => "above",
            Direction::Down => "below",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Normal,
    Anomalous,
}

/// An anomaly as it is confirmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The point that confirmed it.
    pub detected_ms: i64,
    /// When the shift began by the detector's estimate; at or before
    /// `detected_ms`.
    pub onset_ms: i64,
    pub value: f64,
    pub baseline: f64,
    /// (value - baseline) in robust sigmas.
    pub deviation: f64,
    /// value - baseline, in the signal's unit.
    pub effect: f64,
    pub direction: Direction,
    /// `robust`, `changepoint` or `seasonal`.
    pub detector: &'static str,
    /// One lowercase sentence with the numbers behind the decision.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// The series came back near its baseline.
    Recovered,
    /// The shift lasted so long that its level became the new baseline.
    Rebaselined,
}

/// An anomaly closing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ended {
    pub ended_ms: i64,
    pub reason: EndReason,
    pub why: String,
}

/// The judgement of one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// 0..=1, how anomalous this point alone looks (0.5 where it just
    /// crosses both the sigma threshold and the minimum effect); 0 while
    /// warming up, for skipped points and directions that don't matter.
    pub score: f64,
    /// The series' state after this point.
    pub state: State,
    pub started: Option<Anomaly>,
    pub ended: Option<Ended>,
}

impl Verdict {
    pub(crate) fn quiet(state: State) -> Verdict {
        Verdict {
            score: 0.0,
            state,
            started: None,
            ended: None,
        }
    }
}
