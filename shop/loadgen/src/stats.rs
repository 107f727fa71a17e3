//! Per-step latency histograms and counts, and the printed summary.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Default)]
pub struct Stats {
    steps: Mutex<BTreeMap<&'static str, StepStats>>,
    pub skipped: AtomicU64,
}

struct StepStats {
    latency_us: Histogram<u64>,
    errors: u64,
}

impl Stats {
    pub fn record(&self, step: &'static str, latency: Duration, ok: bool) {
        let Ok(mut steps) = self.steps.lock() else {
            return;
        };
        let entry = steps.entry(step).or_insert_with(|| StepStats {
            // 1 µs to 1 h at 3 significant figures.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant bounds are valid"),
            errors: 0,
        });
        entry
            .latency_us
            .saturating_record(latency.as_micros().max(1) as u64);
        if !ok {
            entry.errors += 1;
        }
    }

    pub fn summary(&self, elapsed: Duration) -> Summary {
        let steps = self.steps.lock().map(|s| {
            s.iter()
                .map(|(name, st)| StepSummary {
                    step: name.to_string(),
                    count: st.latency_us.len(),
                    errors: st.errors,
                    p50_ms: st.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
                    p99_ms: st.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
                    max_ms: st.latency_us.max() as f64 / 1000.0,
                })
                .collect()
        });
        Summary {
            elapsed_s: elapsed.as_secs_f64(),
            skipped_journeys: self.skipped.load(std::sync::atomic::Ordering::Relaxed),
            steps: steps.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub step: String,
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub elapsed_s: f64,
    /// Journeys that arrived while every shopper was busy.
    pub skipped_journeys: u64,
    pub steps: Vec<StepSummary>,
}

impl Summary {
    pub fn total_requests(&self) -> u64 {
        self.steps.iter().map(|s| s.count).sum()
    }
    pub fn total_errors(&self) -> u64 {
        self.steps.iter().map(|s| s.errors).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>9} {:>8} {:>10} {:>10} {:>10}",
            "step", "count", "errors", "p50 ms", "p99 ms", "max ms"
        )?;
        for s in &self.steps {
            writeln!(
                f,
                "{:<16} {:>9} {:>8} {:>10.2} {:>10.2} {:>10.2}",
                s.step, s.count, s.errors, s.p50_ms, s.p99_ms, s.max_ms
            )?;
        }
        let total = self.total_requests();
        writeln!(
            f,
            "{} requests, {} errors, {:.1} requests/s over {:.1} s; {} journeys skipped (all shoppers busy)",
            total,
            self.total_errors(),
            total as f64 / self.elapsed_s.max(1e-9),
            self.elapsed_s,
            self.skipped_journeys
        )
    }
}
