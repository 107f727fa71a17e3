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
//!
//! ```
//! use aiops_rca::{AlignOptions, Method, MetricFrame, RankOptions, SeriesInput, rank};
//!
//! let calm = |v: f64| (0..20).map(move |i| (i * 5_000, v + (i % 3) as f64 * 0.001));
//! let p99: Vec<(i64, f64)> = calm(0.012).chain((20..26).map(|i| (i * 5_000, 0.81))).collect();
//! let cpu: Vec<(i64, f64)> = calm(0.3).chain((20..26).map(|i| (i * 5_000, 0.301))).collect();
//! let frame = MetricFrame::from_series(
//!     &[
//!         SeriesInput { service: "payments", metric: "p99_latency", points: &p99 },
//!         SeriesInput { service: "checkout", metric: "cpu", points: &cpu },
//!     ],
//!     &AlignOptions { step_ms: 5_000, origin_ms: 100_000, max_fill_steps: 2 },
//! )?;
//! // pre-onset: median 0.013, IQR 0.014 - 0.012; (0.81 - 0.013) / 0.002 = 398.5
//! let ranking = rank(&frame, 100_000, Method::Baro, &RankOptions::default())?;
//! let top = &ranking.services[0];
//! assert_eq!(top.service, "payments");
//! assert_eq!(top.reason, "p99 latency 398.5 IQRs above its pre-onset median (0.013 -> 0.81)");
//! # Ok::<(), aiops_rca::RcaError>(())
//! ```
//!
//! Where this differs from RCAEval (`RCAEval/e2e/baro.py`, `nsigma` in
//! `RCAEval/e2e/__init__.py`, `RCAEval/io/time_series.py`, `main.py`),
//! each scoring departure on a switch of its own ([`Departure`]):
//! - the score is the largest *absolute* deviation after the onset, not
//!   the largest signed one, so falls (a stopped service's rate and CPU)
//!   count;
//! - RCAEval drops every column constant within either window; here only
//!   columns constant on both sides are left out: constant before and
//!   moved after is strong evidence ([`Scale::ChangeFloor`]), and a
//!   series gone flat after the onset (a crash) is scored;
//! - a zero IQR is not replaced by 1 (the column's raw units) but by the
//!   largest pre-onset excursion, never finer than other services' for
//!   the same metric ([`PeerScale`]);
//! - missing values are filled forward for a few rows only and never set
//!   to 0 (RCAEval: `ffill()` then `fillna(0)`);
//! - a move most services share (load) is taken out of the baseline
//!   ([`rank`](mod@rank));
//! - the service is the column's prefix before the first `_`, without
//!   RCAEval's merging of `<service>-db` into `<service>`.

pub mod align;
pub mod baseline;
pub mod csv;
pub mod departures;
pub mod error;
pub mod frame;
pub mod rank;
pub mod rcaeval;
pub mod reason;
pub mod score;
pub mod synthetic;

use serde::Serialize;

pub use align::{AlignOptions, SeriesInput};
pub use baseline::{Baseline, Scale};
pub use csv::CsvOptions;
pub use departures::{Departure, Departures};
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
