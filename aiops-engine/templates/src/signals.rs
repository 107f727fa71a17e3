//! Log signals from mined templates, on simulated time: a new template
//! after a service's warm-up, a template's rate shifting against its own
//! past, and a burst of error and warning lines. Counts go into fixed
//! buckets; a bucket is judged when time (the next line, or `advance`)
//! moves past it.
//!
//! Baselines are exponentially weighted means and variances of bucket
//! counts. The test statistic is `(x - mean) / sqrt(max(var, mean) + 1)`:
//! Poisson noise (variance = mean) is the least noise assumed, bursty
//! templates get their own larger variance, and the `+ 1` keeps tiny
//! baselines from making single lines look significant. Updates are
//! clamped to `z` standard deviations so one burst does not teach the
//! baseline that bursts are normal.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::drain::{Map, Observation, new_map};
use crate::id::TemplateId;
use crate::level::Level;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalsConfig {
    /// Width of the counting buckets.
    pub bucket_ns: i64,
    /// No signals for a service until this long after its first line.
    pub warmup_ns: i64,
    /// Ends warm-up early once a service has sent this many lines.
    pub warmup_lines: Option<u64>,
    /// A new template is reported this long after its first line, with the
    /// number of lines it had by then.
    pub new_template_window_ns: i64,
    /// New-template signals per service per bucket; a flood of new
    /// templates (a masking gap, a deploy) beyond it is only counted.
    pub max_new_per_bucket: usize,
    /// Weight of the newest bucket in the baselines.
    pub alpha: f64,
    /// Buckets a template's baseline needs before its rate is judged.
    pub min_history: u32,
    /// How many standard deviations a shift must be.
    pub z: f64,
    /// How many times the baseline (or its fraction, downwards) a shift must be.
    pub min_ratio: f64,
    /// Extra lines per bucket an upward shift must add.
    pub min_delta: f64,
    /// Lines per bucket a template must have had to report it dropping.
    pub min_expected_down: f64,
    /// Error and warning lines per bucket that make a burst.
    pub burst_min_lines: u32,
    /// Times the service's usual error and warning rate that make a burst.
    pub burst_min_ratio: f64,
    pub max_templates_per_service: usize,
    pub max_services: usize,
}

const SECOND: i64 = 1_000_000_000;

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            bucket_ns: 10 * SECOND,
            warmup_ns: 600 * SECOND,
            warmup_lines: None,
            new_template_window_ns: 10 * SECOND,
            max_new_per_bucket: 20,
            alpha: 0.05,
            min_history: 30,
            z: 4.0,
            min_ratio: 3.0,
            min_delta: 10.0,
            min_expected_down: 20.0,
            burst_min_lines: 5,
            burst_min_ratio: 3.0,
            max_templates_per_service: 1000,
            max_services: 1000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSignalKind {
    NewTemplate,
    RateShift,
    ErrorBurst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// Something the logs say about a service at a time, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogSignal {
    pub kind: LogSignalKind,
    pub service: String,
    /// The template, except for error bursts (which count all templates).
    pub template_id: Option<TemplateId>,
    pub template: Option<String>,
    /// The template's level; for bursts, `Error`.
    pub level: Level,
    pub direction: Direction,
    /// 0 to 1.
    pub score: f64,
    /// When it started: the first line of a new template or of a burst, the
    /// start of the bucket where a rate shifted.
    pub onset_ns: i64,
    /// When it was decided.
    pub detected_ns: i64,
    /// Lines counted in the window or bucket judged.
    pub observed: f64,
    /// Lines the baseline expected there (0 for a new template).
    pub expected: f64,
    pub why: String,
}

#[derive(Clone, Copy, Debug, Default)]
struct Baseline {
    mean: f64,
    var: f64,
    n: u32,
}

impl Baseline {
    fn sd(&self) -> f64 {
        (self.var.max(self.mean) + 1.0).sqrt()
    }

    fn z(&self, x: f64) -> f64 {
        (x - self.mean) / self.sd()
    }

    fn update(&mut self, x: f64, alpha: f64, clamp_z: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = x;
        } else {
            let sd = self.sd();
            let x = x.clamp(self.mean - clamp_z * sd, self.mean + clamp_z * sd);
            let d = x - self.mean;
            self.mean += alpha * d;
            self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        }
        self.n = self.n.saturating_add(1);
    }

    /// `k` empty buckets at once, for gaps in time: the unclamped decay.
    fn decay(&mut self, k: i64, alpha: f64) {
        if self.n == 0 {
            return;
        }
        let f = (1.0 - alpha).powf(k as f64);
        self.mean *= f;
        self.var *= f;
        self.n = self.n.saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
    }
}

#[derive(Debug)]
struct NewWindow {
    onset_ns: i64,
    end_ns: i64,
    count: u64,
}

#[derive(Debug)]
struct TemplateState {
    text: Arc<str>,
    level: Level,
    count: u32,
    /// The first bucket a template is seen in is partly before it existed.
    partial: bool,
    base: Baseline,
    active: Option<Direction>,
    last_seen_bucket: i64,
    window: Option<NewWindow>,
}

#[derive(Debug)]
struct ServiceState {
    first_ns: i64,
    lines: u64,
    warm: bool,
    bucket: i64,
    templates: Map<TemplateId, TemplateState>,
    /// Templates with an open new-template window.
    pending: Vec<TemplateId>,
    new_this_bucket: usize,
    suppressed_new: u64,
    err_count: u32,
    err_first_ns: i64,
    err_base: Baseline,
    err_active: bool,
    /// First error of the previous bucket when it was already elevated
    /// but not yet a burst: the burst's onset if the next bucket is one.
    err_prev_elevated: Option<i64>,
}

/// Log signals for many services.
#[derive(Debug)]
pub struct LogSignals {
    cfg: SignalsConfig,
    services: Map<Box<str>, ServiceState>,
    dropped_lines: u64,
}

impl Default for LogSignals {
    fn default() -> Self {
        LogSignals::new(SignalsConfig::default())
    }
}

fn weight(level: Level) -> f64 {
    match level {
        Level::Fatal | Level::Error => 1.0,
        Level::Warn => 0.6,
        Level::Info | Level::Unknown => 0.25,
        Level::Debug | Level::Trace => 0.1,
    }
}

fn span(ns: i64) -> String {
    if ns % (60 * SECOND) == 0 && ns >= 60 * SECOND {
        format!("{} min", ns / (60 * SECOND))
    } else if ns % SECOND == 0 {
        format!("{} s", ns / SECOND)
    } else {
        format!("{} ms", ns / 1_000_000)
    }
}

fn quote(t: &str) -> String {
    const MAX: usize = 160;
    if t.len() <= MAX {
        format!("'{t}'")
    } else {
        format!("'{}...'", crate::drain::cut(t, MAX))
    }
}

fn times(n: u64) -> &'static str {
    if n == 1 { "time" } else { "times" }
}

impl LogSignals {
    pub fn new(cfg: SignalsConfig) -> LogSignals {
        LogSignals {
            cfg,
            services: new_map(),
            dropped_lines: 0,
        }
    }

    pub fn config(&self) -> &SignalsConfig {
        &self.cfg
    }

    /// Whether a service is past its warm-up.
    pub fn is_warm(&self, service: &str) -> bool {
        self.services.get(service).is_some_and(|s| s.warm)
    }

    /// Lines ignored because `max_services` services were already tracked.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped_lines
    }

    /// New templates seen beyond `max_new_per_bucket`, not reported one by one.
    pub fn suppressed_new(&self, service: &str) -> u64 {
        self.services.get(service).map_or(0, |s| s.suppressed_new)
    }

    /// Counts one mined line; signals decided by the time it brings are
    /// appended to `out`.
    pub fn observe(
        &mut self,
        service: &str,
        ts_ns: i64,
        obs: &Observation,
        out: &mut Vec<LogSignal>,
    ) {
        let cfg = &self.cfg;
        let bucket_ns = cfg.bucket_ns.max(1);
        if !self.services.contains_key(service) {
            if self.services.len() >= cfg.max_services {
                self.dropped_lines += 1;
                return;
            }
            self.services.insert(
                Box::from(service),
                ServiceState {
                    first_ns: ts_ns,
                    lines: 0,
                    warm: false,
                    bucket: ts_ns.div_euclid(bucket_ns),
                    templates: new_map(),
                    pending: Vec::new(),
                    new_this_bucket: 0,
                    suppressed_new: 0,
                    err_count: 0,
                    err_first_ns: ts_ns,
                    err_base: Baseline::default(),
                    err_active: false,
                    err_prev_elevated: None,
                },
            );
        }
        let Some(st) = self.services.get_mut(service) else {
            return;
        };
        st.advance(service, ts_ns, cfg, out);
        st.lines += 1;
        if !st.warm
            && (ts_ns.saturating_sub(st.first_ns) >= cfg.warmup_ns
                || cfg.warmup_lines.is_some_and(|n| st.lines > n))
        {
            st.warm = true;
        }
        let bucket = st.bucket;
        let tpl = st
            .templates
            .entry(obs.template_id)
            .or_insert_with(|| TemplateState {
                text: Arc::clone(&obs.template),
                level: obs.level,
                count: 0,
                partial: true,
                base: Baseline::default(),
                active: None,
                last_seen_bucket: bucket,
                window: None,
            });
        tpl.count = tpl.count.saturating_add(1);
        tpl.last_seen_bucket = bucket;
        tpl.level = tpl.level.max(obs.level);
        if !Arc::ptr_eq(&tpl.text, &obs.template) {
            tpl.text = Arc::clone(&obs.template);
        }
        if let Some(w) = tpl.window.as_mut()
            && ts_ns < w.end_ns
        {
            w.count += 1;
        }
        if obs.is_new && st.warm && tpl.window.is_none() {
            if st.new_this_bucket < cfg.max_new_per_bucket {
                tpl.window = Some(NewWindow {
                    onset_ns: ts_ns,
                    end_ns: ts_ns.saturating_add(cfg.new_template_window_ns),
                    count: 1,
                });
                st.pending.push(obs.template_id);
                st.new_this_bucket += 1;
            } else {
                st.suppressed_new += 1;
            }
        }
        if obs.level.is_problem() {
            if st.err_count == 0 {
                st.err_first_ns = ts_ns;
            }
            st.err_count = st.err_count.saturating_add(1);
        }
        if st.templates.len() > cfg.max_templates_per_service {
            st.evict_one(obs.template_id);
        }
    }

    /// Moves every service's clock to `now_ns`: judges the buckets that
    /// ended (so that silence is noticed) and closes new-template windows.
    pub fn advance(&mut self, now_ns: i64, out: &mut Vec<LogSignal>) {
        let mut names: Vec<&Box<str>> = self.services.keys().collect();
        names.sort_unstable();
        let names: Vec<Box<str>> = names.into_iter().cloned().collect();
        for name in names {
            if let Some(st) = self.services.get_mut(&name) {
                st.advance(&name, now_ns, &self.cfg, out);
            }
        }
    }
}

impl ServiceState {
    fn advance(
        &mut self,
        service: &str,
        now_ns: i64,
        cfg: &SignalsConfig,
        out: &mut Vec<LogSignal>,
    ) {
        let bucket_ns = cfg.bucket_ns.max(1);
        let b = now_ns.div_euclid(bucket_ns);
        if b > self.bucket {
            self.close_bucket(service, now_ns, cfg, out);
            let gap = b - self.bucket - 1;
            if gap > 0 {
                // The first empty bucket is judged (a rate dropping to
                // nothing); the rest only fade the baselines.
                self.bucket += 1;
                self.close_bucket(service, now_ns, cfg, out);
                for t in self.templates.values_mut() {
                    t.base.decay(gap - 1, cfg.alpha);
                }
                self.err_base.decay(gap - 1, cfg.alpha);
            }
            self.bucket = b;
            self.new_this_bucket = 0;
        }
        if !self.pending.is_empty() {
            self.close_windows(service, now_ns, cfg, out);
        }
    }

    fn close_windows(
        &mut self,
        service: &str,
        now_ns: i64,
        cfg: &SignalsConfig,
        out: &mut Vec<LogSignal>,
    ) {
        let templates = &mut self.templates;
        self.pending.retain(|id| {
            let Some(t) = templates.get_mut(id) else {
                return false;
            };
            let Some(w) = t.window.as_ref() else {
                return false;
            };
            if now_ns < w.end_ns {
                return true;
            }
            let level = t.level;
            let score = weight(level) * (0.5 + 0.5 * (w.count as f64 / 10.0).min(1.0));
            let what = if level == Level::Unknown {
                "new template".to_string()
            } else {
                format!("new {level} template")
            };
            out.push(LogSignal {
                kind: LogSignalKind::NewTemplate,
                service: service.to_string(),
                template_id: Some(*id),
                template: Some(t.text.to_string()),
                level,
                direction: Direction::Up,
                score,
                onset_ns: w.onset_ns,
                detected_ns: now_ns,
                observed: w.count as f64,
                expected: 0.0,
                why: format!(
                    "{what} after warm-up: {} seen {} {} in {}",
                    quote(&t.text),
                    w.count,
                    times(w.count),
                    span(cfg.new_template_window_ns)
                ),
            });
            // The closed window stays so that the template is not reported
            // again while it is tracked.
            false
        });
    }

    /// Judges the bucket `self.bucket` and resets its counts.
    fn close_bucket(
        &mut self,
        service: &str,
        now_ns: i64,
        cfg: &SignalsConfig,
        out: &mut Vec<LogSignal>,
    ) {
        let bucket_ns = cfg.bucket_ns.max(1);
        let start_ns = self.bucket.saturating_mul(bucket_ns);
        let width = span(bucket_ns);
        self.close_errors(service, now_ns, cfg, &width, out);
        for (id, t) in self.templates.iter_mut() {
            let x = f64::from(t.count);
            t.count = 0;
            if t.partial {
                t.partial = false;
                continue;
            }
            if self.warm && t.base.n >= cfg.min_history {
                judge_rate(service, *id, t, x, start_ns, now_ns, cfg, &width, out);
            }
            t.base.update(x, cfg.alpha, cfg.z);
        }
        // Templates silent for a long time with nothing left of their
        // baseline are forgotten; they come back as known templates in the
        // miner, so no new-template signal, only a fresh baseline.
        let horizon = self.bucket.saturating_sub(360);
        self.templates.retain(|_, t| {
            !(t.last_seen_bucket < horizon && t.base.mean < 0.01 && t.window.is_none())
        });
    }

    fn close_errors(
        &mut self,
        service: &str,
        now_ns: i64,
        cfg: &SignalsConfig,
        width: &str,
        out: &mut Vec<LogSignal>,
    ) {
        let c = f64::from(self.err_count);
        let expected = self.err_base.mean;
        let elevated = self.err_count >= 2 && c >= cfg.burst_min_ratio * expected;
        let burst = self.warm
            && self.err_count >= cfg.burst_min_lines
            && c >= cfg.burst_min_ratio * expected
            && self.err_base.z(c) >= cfg.z;
        let mut fired = false;
        if burst && !self.err_active {
            let z = self.err_base.z(c);
            let onset = self.err_prev_elevated.unwrap_or(self.err_first_ns);
            let vs = if expected < 0.05 {
                "where none are usual".to_string()
            } else {
                format!("vs {expected:.1} expected ({:.1}x)", c / expected)
            };
            out.push(LogSignal {
                kind: LogSignalKind::ErrorBurst,
                service: service.to_string(),
                template_id: None,
                template: None,
                level: Level::Error,
                direction: Direction::Up,
                score: 1.0 - (-z / cfg.z.max(1e-9)).exp(),
                onset_ns: onset,
                detected_ns: now_ns,
                observed: c,
                expected,
                why: format!(
                    "error burst: {} error/warn lines in {width} {vs}",
                    self.err_count
                ),
            });
            self.err_active = true;
            fired = true;
        } else if !elevated {
            self.err_active = false;
        }
        self.err_prev_elevated =
            (elevated && !fired && !self.err_active).then_some(self.err_first_ns);
        self.err_base.update(c, cfg.alpha, cfg.z);
        self.err_count = 0;
    }

    /// Drops the least recently seen template other than `keep`.
    fn evict_one(&mut self, keep: TemplateId) {
        let victim = self
            .templates
            .iter()
            .filter(|(id, _)| **id != keep)
            .min_by_key(|(id, t)| (t.last_seen_bucket, **id))
            .map(|(id, _)| *id);
        if let Some(id) = victim {
            self.templates.remove(&id);
            self.pending.retain(|p| *p != id);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_rate(
    service: &str,
    id: TemplateId,
    t: &mut TemplateState,
    x: f64,
    start_ns: i64,
    now_ns: i64,
    cfg: &SignalsConfig,
    width: &str,
    out: &mut Vec<LogSignal>,
) {
    let mean = t.base.mean;
    let z = t.base.z(x);
    let up = x - mean >= cfg.min_delta && x >= cfg.min_ratio * mean && z >= cfg.z;
    let down = mean >= cfg.min_expected_down && x * cfg.min_ratio <= mean && z <= -cfg.z;
    let direction = match (up, down) {
        (true, _) => Direction::Up,
        (_, true) => Direction::Down,
        _ => {
            if z.abs() < cfg.z / 2.0 {
                t.active = None;
            }
            return;
        }
    };
    if t.active == Some(direction) {
        return;
    }
    t.active = Some(direction);
    let why = match direction {
        Direction::Up => format!(
            "template {} rate up {:.1}x: {x:.0} lines in {width} vs {mean:.1} expected (z {z:.1})",
            quote(&t.text),
            x / mean.max(1e-9),
        ),
        Direction::Down => format!(
            "template {} rate down to {x:.0} lines in {width} vs {mean:.1} expected (z {z:.1})",
            quote(&t.text),
        ),
    };
    out.push(LogSignal {
        kind: LogSignalKind::RateShift,
        service: service.to_string(),
        template_id: Some(id),
        template: Some(t.text.to_string()),
        level: t.level,
        direction,
        score: (1.0 - (-z.abs() / cfg.z.max(1e-9)).exp()) * (0.6 + 0.4 * weight(t.level)),
        onset_ns: start_ns,
        detected_ns: now_ns,
        observed: x,
        expected: mean,
        why,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Templates;

    const MIN: i64 = 60 * SECOND;

    /// Mines and signals side by side on simulated time.
    struct Sim {
        templates: Templates,
        signals: LogSignals,
        out: Vec<LogSignal>,
        /// A tiny LCG: jitter without a dependency, the same every run.
        rng: u64,
    }

    impl Sim {
        fn new() -> Sim {
            Sim {
                templates: Templates::default(),
                signals: LogSignals::default(),
                out: Vec::new(),
                rng: 0x2545_f491_4f6c_dd1d,
            }
        }

        fn line(&mut self, service: &str, ts: i64, line: &str) {
            let obs = self.templates.observe(service, ts, None, line);
            self.signals.observe(service, ts, &obs, &mut self.out);
        }

        fn next(&mut self) -> u64 {
            self.rng = self
                .rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.rng >> 33
        }

        /// `n` lines spread evenly over the bucket starting at `start`.
        fn spread(&mut self, service: &str, start: i64, n: u64, make: impl Fn(u64) -> String) {
            for k in 0..n {
                let ts = start + (k as i64) * (10 * SECOND) / (n as i64);
                self.line(service, ts, &make(k));
            }
        }

        fn steady(&mut self, service: &str, from: i64, to: i64) {
            let mut t = from;
            while t < to {
                let jitter = self.next() % 9;
                let n = 16 + jitter; // 16..24 lines per 10 s
                let errs = self.next() % 2; // 0..1 warnings per 10 s
                self.spread(service, t, n, |k| {
                    format!(r#"{{"level":"info","message":"item added to cart","fields":{{"lines":{k},"product_id":"p{k}x"}}}}"#)
                });
                for e in 0..errs {
                    let ts = t + 3 * SECOND + e as i64;
                    self.line(service, ts, r#"{"level":"warn","message":"catalog lookup failed","fields":{"error":"catalog did not answer within 2s"}}"#);
                }
                t += 10 * SECOND;
            }
        }

        fn kinds(&self) -> Vec<LogSignalKind> {
            self.out.iter().map(|s| s.kind).collect()
        }
    }

    #[test]
    fn nothing_during_warm_up() {
        let mut sim = Sim::new();
        sim.steady("cart", 0, 9 * MIN);
        // new templates, an error burst and a rate jump, all inside warm-up
        for k in 0..50 {
            sim.line(
                "cart",
                5 * MIN + k * 100_000_000,
                &format!(
                    r#"{{"level":"error","message":"charge failed","fields":{{"card":"c{k}z"}}}}"#
                ),
            );
        }
        sim.spread("cart", 6 * MIN, 300, |k| format!(r#"{{"level":"info","message":"item added to cart","fields":{{"lines":{k},"product_id":"p{k}x"}}}}"#));
        sim.signals.advance(9 * MIN + 30 * SECOND, &mut sim.out);
        assert!(sim.out.is_empty(), "{:#?}", sim.out);
        assert!(!sim.signals.is_warm("cart"));
    }

    #[test]
    fn steady_hour_is_quiet() {
        let mut sim = Sim::new();
        sim.steady("cart", 0, 70 * MIN);
        sim.signals.advance(70 * MIN, &mut sim.out);
        assert!(sim.signals.is_warm("cart"));
        assert!(sim.out.is_empty(), "{:#?}", sim.out);
    }

    #[test]
    fn new_error_template_after_warm_up_fires_once() {
        let mut sim = Sim::new();
        sim.steady("payments", 0, 12 * MIN);
        let onset = 12 * MIN + 2 * SECOND;
        for k in 0..12 {
            let line = format!(
                r#"{{"level":"error","message":"charge failed","fields":{{"card":"card_{k}a9","amount":{}}}}}"#,
                1000 + k
            );
            sim.line("payments", onset + k * 700_000_000, &line);
        }
        // it goes on failing now and then; no second signal for it
        for k in 0..20 {
            sim.line("payments", onset + 20 * SECOND + k * 15 * SECOND, r#"{"level":"error","message":"charge failed","fields":{"card":"card_77b","amount":5}}"#);
        }
        sim.steady("payments", 12 * MIN, 20 * MIN);
        sim.signals.advance(20 * MIN, &mut sim.out);
        let new: Vec<&LogSignal> = sim
            .out
            .iter()
            .filter(|s| s.kind == LogSignalKind::NewTemplate)
            .collect();
        assert_eq!(new.len(), 1, "{:#?}", sim.out);
        let s = new[0];
        assert_eq!(s.level, Level::Error);
        assert_eq!(s.onset_ns, onset);
        assert_eq!(s.observed, 12.0);
        assert_eq!(
            s.why,
            "new error template after warm-up: 'charge failed amount=<NUM> card=<ID>' seen 12 times in 10 s"
        );
        assert!(s.score > 0.9, "{}", s.score);
        assert_eq!(s.service, "payments");
    }

    #[test]
    fn new_info_template_is_weak() {
        let mut sim = Sim::new();
        sim.steady("cart", 0, 11 * MIN);
        sim.line(
            "cart",
            11 * MIN + SECOND,
            r#"{"level":"info","message":"cart emptied"}"#,
        );
        sim.steady("cart", 11 * MIN, 12 * MIN);
        sim.signals.advance(12 * MIN, &mut sim.out);
        assert_eq!(sim.kinds(), vec![LogSignalKind::NewTemplate]);
        assert!(sim.out[0].score < 0.2, "{}", sim.out[0].score);
        assert!(
            sim.out[0].why.contains("seen 1 time in 10 s"),
            "{}",
            sim.out[0].why
        );
    }

    #[test]
    fn rate_times_ten_fires_once() {
        let mut sim = Sim::new();
        sim.steady("cart", 0, 20 * MIN);
        let jump = 20 * MIN;
        for b in 0..12 {
            sim.spread("cart", jump + b * 10 * SECOND, 200, |k| {
                format!(r#"{{"level":"info","message":"item added to cart","fields":{{"lines":{k},"product_id":"p{k}x"}}}}"#)
            });
        }
        sim.signals.advance(jump + 2 * MIN + SECOND, &mut sim.out);
        let shifts: Vec<&LogSignal> = sim
            .out
            .iter()
            .filter(|s| s.kind == LogSignalKind::RateShift)
            .collect();
        assert_eq!(shifts.len(), 1, "{:#?}", sim.out);
        assert_eq!(shifts[0].direction, Direction::Up);
        assert_eq!(shifts[0].onset_ns, jump);
        assert_eq!(shifts[0].observed, 200.0);
        assert!(
            shifts[0]
                .why
                .starts_with("template 'item added to cart lines=<NUM> product_id=<*>' rate up"),
            "{}",
            shifts[0].why
        );
        assert!(
            sim.out.iter().all(|s| s.kind == LogSignalKind::RateShift),
            "{:#?}",
            sim.out
        );
    }

    #[test]
    fn rate_drop_to_silence_fires_down() {
        let mut sim = Sim::new();
        sim.steady("cart", 0, 20 * MIN);
        sim.signals.advance(25 * MIN, &mut sim.out);
        let down: Vec<&LogSignal> = sim
            .out
            .iter()
            .filter(|s| s.direction == Direction::Down)
            .collect();
        assert_eq!(down.len(), 1, "{:#?}", sim.out);
        assert_eq!(down[0].onset_ns, 20 * MIN);
        assert_eq!(down[0].observed, 0.0);
    }

    #[test]
    fn error_burst_with_onset_at_its_start() {
        let mut sim = Sim::new();
        sim.steady("checkout", 0, 15 * MIN);
        // The burst starts late in a bucket with 3 lines (not yet a burst),
        // then goes on at 40 per 10 s.
        let start = 15 * MIN + 9 * SECOND + 250_000_000;
        let mut ts = start;
        while ts < 15 * MIN + 40 * SECOND {
            sim.line("checkout", ts, r#"{"level":"error","message":"order failed","fields":{"error":"orders answered 503"}}"#);
            ts += 250_000_000;
        }
        sim.steady("checkout", 15 * MIN + 40 * SECOND, 17 * MIN);
        sim.signals.advance(17 * MIN, &mut sim.out);
        let bursts: Vec<&LogSignal> = sim
            .out
            .iter()
            .filter(|s| s.kind == LogSignalKind::ErrorBurst)
            .collect();
        assert_eq!(bursts.len(), 1, "{:#?}", sim.out);
        assert_eq!(bursts[0].onset_ns, start);
        assert!(bursts[0].observed >= 40.0);
        assert!(
            bursts[0]
                .why
                .starts_with("error burst: 40 error/warn lines in 10 s"),
            "{}",
            bursts[0].why
        );
    }

    #[test]
    fn bounded_per_service() {
        let cfg = SignalsConfig {
            max_templates_per_service: 10,
            max_services: 2,
            ..SignalsConfig::default()
        };
        let mut sig = LogSignals::new(cfg);
        let mut tpl = Templates::default();
        let mut out = Vec::new();
        for k in 0..100 {
            let line = "tok ".repeat(k + 1);
            let obs = tpl.observe("a", k as i64 * SECOND, None, &line);
            sig.observe("a", k as i64 * SECOND, &obs, &mut out);
            sig.observe(&format!("svc{k}"), 0, &obs, &mut out);
        }
        assert!(
            sig.services
                .get("a")
                .is_some_and(|s| s.templates.len() <= 10)
        );
        assert_eq!(sig.services.len(), 2);
        assert_eq!(sig.dropped_lines(), 99);
    }

    #[test]
    fn warm_up_by_lines() {
        let cfg = SignalsConfig {
            warmup_lines: Some(10),
            ..SignalsConfig::default()
        };
        let mut sig = LogSignals::new(cfg);
        let mut tpl = Templates::default();
        let mut out = Vec::new();
        for k in 0..11 {
            let obs = tpl.observe("a", k * SECOND, None, "steady line");
            sig.observe("a", k * SECOND, &obs, &mut out);
        }
        assert!(sig.is_warm("a"));
        let obs = tpl.observe("a", 12 * SECOND, None, "ERROR something broke");
        sig.observe("a", 12 * SECOND, &obs, &mut out);
        sig.advance(30 * SECOND, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].why,
            "new error template after warm-up: 'ERROR something broke' seen 1 time in 10 s"
        );
        let json = serde_json::to_value(&out[0]).unwrap();
        assert_eq!(json["kind"], "new_template");
        assert_eq!(json["direction"], "up");
        assert_eq!(json["level"], "error");
    }
}
