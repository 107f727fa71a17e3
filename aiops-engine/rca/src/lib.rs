//! Root-cause ranking over an incident window: which service's metrics
//! moved farthest from their pre-onset baseline, with the numbers and a
//! sentence for each.
//!
//! Two ways in, one frame: [`MetricFrame::from_csv`] reads RCAEval's
//! `data.csv` layout; [`MetricFrame::from_series`] aligns the engine's
//! in-memory series on a time grid. [`rank()`] scores every column with
//! BARO's robust deviation (median and IQR of the pre-onset window) or
//! n-sigma (mean and standard deviation), as RCAEval implements them
//! except where [`baseline`], [`score`] and [`rank`](mod@rank) say why
//! not, and ranks services by their strongest column.
//!
//! Pure: the onset is an input, nothing reads the clock, and ties are
//! broken by name, so the same frame always gives the same ranking.

pub mod align;
pub mod baseline;
pub mod csv;
pub mod error;
pub mod frame;
pub mod rank;
pub mod reason;
pub mod score;
pub mod synthetic;

use serde::Serialize;

pub use align::{AlignOptions, SeriesInput};
pub use baseline::{Baseline, Scale};
pub use csv::CsvOptions;
pub use error::{RcaError, Result};
pub use frame::{ColumnKey, DroppedColumn, MetricFrame};
pub use rank::{RankOptions, Ranking, ServiceScore, rank};
pub use score::{Direction, MetricScore, PeerScale, SharedShift};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// BARO's robust scoring: median and interquartile range.
    Baro,
    /// n-sigma: mean and standard deviation.
    Nsigma,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Baro => "baro",
            Method::Nsigma => "nsigma",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "baro" => Ok(Method::Baro),
            "nsigma" | "n-sigma" => Ok(Method::Nsigma),
            other => Err(format!("unknown method {other:?} (baro or nsigma)")),
        }
    }
}
