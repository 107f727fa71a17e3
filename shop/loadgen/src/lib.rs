//! A load generator for the shop: virtual shoppers run weighted journeys
//! against the frontend's HTML pages at a set arrival rate, in steps, and a
//! summary gives count, errors, p50 and p99 per journey step.

pub mod journeys;
pub mod plan;
pub mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use plan::{LoadPlan, Step};
pub use stats::{StepSummary, Summary};

pub use journeys::Journey;
use journeys::Shopper;
use stats::Stats;

#[derive(Debug, Clone)]
pub struct Options {
    /// The frontend's base URL.
    pub target: String,
    /// Concurrent virtual shoppers: journeys arriving while all are busy are skipped and counted.
    pub users: usize,
    pub plan: LoadPlan,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Seed for the journey mix, so runs are repeatable.
    pub seed: u64,
    /// Run only this journey instead of the weighted mix.
    pub only: Option<Journey>,
}

/// Runs the plan to its end (or until `stop` resolves) and returns the summary.
pub async fn run(
    options: Options,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout)
        .pool_max_idle_per_host(options.users.max(1))
        .build()?;
    let shopper = Arc::new(Shopper::new(
        http,
        options.target.trim_end_matches('/').to_string(),
    ));
    shopper.discover_products().await?;
    let stats = Arc::new(Stats::default());
    let users = options.users.max(1);
    let (tx, rx) = mpsc::channel::<Journey>(users);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::with_capacity(users);
    for user in 0..users {
        let rx = rx.clone();
        let shopper = shopper.clone();
        let stats = stats.clone();
        workers.push(tokio::spawn(async move {
            let session = format!("load{user:04}{}", journeys::random_suffix());
            loop {
                let next = rx.lock().await.recv().await;
                let Some(journey) = next else { return };
                shopper.run(journey, &session, &stats).await;
            }
        }));
    }
    let started = Instant::now();
    let mut mix = journeys::Mix::new(options.seed);
    tokio::pin!(stop);
    'steps: for step in &options.plan.steps {
        let step_end = Instant::now() + step.duration;
        let interval = Duration::from_secs_f64(1.0 / step.rate.max(0.001));
        let mut next_arrival = tokio::time::Instant::now();
        while Instant::now() < step_end {
            tokio::select! {
                _ = &mut stop => break 'steps,
                _ = tokio::time::sleep_until(next_arrival) => {}
            }
            next_arrival += interval;
            // An open model: arrivals don't wait for busy shoppers; they are skipped and counted.
            let journey = options.only.unwrap_or_else(|| mix.draw());
            if tx.try_send(journey).is_err() {
                stats
                    .skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    Ok(stats.summary(started.elapsed()))
}
