//! Synthetic incident windows with a known root cause, for tests,
//! benchmarks and demos: a small call tree of services, each with request
//! rate, error ratio, p99 latency, CPU and memory; noise; a fault in one
//! service after the onset, weaker symptoms in its callers; optionally a
//! load step that every service sees at the same moment.
//!
//! Deterministic for a given seed (its own small generator, so the
//! numbers do not change with a dependency's version).

use std::io::Write;
use std::path::Path;

use crate::SeriesInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The root's p99 latency is multiplied by `1 + size`.
    Latency,
    /// The root's error ratio rises by `size` (a fraction of requests).
    Errors,
    /// The root stops serving: its request rate and CPU fall to a
    /// trickle, and `size` of its callers' requests (times the
    /// propagation share) fail.
    Stop,
    /// The root burns `size` more cores; its latency rises by a third of
    /// `size` times its own (a slower root, weaker than a delay fault).
    Cpu,
    /// The root's memory grows by `size` times its level over the
    /// post-onset window; nothing else shows it.
    Leak,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Latency,
        Fault::Errors,
        Fault::Stop,
        Fault::Cpu,
        Fault::Leak,
    ];

    /// The fault's name in a case folder's name, as RCAEval's
    /// `<service>_<fault>` spells them where it has one.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Latency => "delay",
            Fault::Errors => "errors",
            Fault::Stop => "stop",
            Fault::Cpu => "cpu",
            Fault::Leak => "mem",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// 3 to 7 make a plausible shop; service 0 is the entry point and
    /// service i is called by service (i - 1) / 2.
    pub services: usize,
    pub root: usize,
    pub fault: Fault,
    pub size: f64,
    /// Each caller up the tree sees this share of the symptom of the one
    /// below it (not all of its requests take the faulty path).
    pub propagation: f64,
    /// Request rates step up by this fraction at the onset everywhere
    /// (CPU with them); 0 for none.
    pub load_step: f64,
    /// Relative noise (standard deviation over level).
    pub noise: f64,
    pub pre_rows: usize,
    pub post_rows: usize,
    pub step_s: i64,
    pub start_s: i64,
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            services: 5,
            root: 2,
            fault: Fault::Latency,
            size: 3.0,
            propagation: 0.5,
            load_step: 0.0,
            noise: 0.05,
            pre_rows: 300,
            post_rows: 120,
            step_s: 1,
            start_s: 1_700_000_000,
            seed: 1,
        }
    }
}

const NAMES: [&str; 7] = [
    "frontend",
    "checkout",
    "catalog",
    "payments",
    "orders",
    "cart",
    "recommendation",
];

#[derive(Debug, Clone)]
pub struct Case {
    pub root: String,
    pub inject_s: i64,
    pub time_s: Vec<i64>,
    /// `<service>_<metric>` and its values, one per time.
    pub columns: Vec<(String, Vec<f64>)>,
}

/// splitmix64 with Box-Muller normals.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn parent(service: usize) -> Option<usize> {
    (service > 0).then(|| (service - 1) / 2)
}

/// Hops from `service` down to `root` when `service` is `root` or one of
/// its callers.
fn hops_above(service: usize, root: usize) -> Option<u32> {
    let mut at = root;
    let mut hops = 0;
    loop {
        if at == service {
            return Some(hops);
        }
        at = parent(at)?;
        hops += 1;
    }
}

pub fn service_name(index: usize) -> String {
    NAMES
        .get(index)
        .map_or_else(|| format!("svc{index}"), |n| (*n).to_owned())
}

impl Scenario {
    pub fn generate(&self) -> Case {
        let mut noise = Noise(self.seed);
        let rows = self.pre_rows + self.post_rows;
        let time_s: Vec<i64> = (0..rows as i64)
            .map(|i| self.start_s + i * self.step_s)
            .collect();
        let inject_s = self.start_s + self.pre_rows as i64 * self.step_s;
        let services = self.services.max(1);
        // a caller waits for its slowest callee, then adds its own work;
        // callees have higher indices, so one backward pass sums the tree
        let own_latency: Vec<f64> = (0..services)
            .map(|_| 0.02 + 0.08 * noise.uniform())
            .collect();
        let mut path_latency = own_latency.clone();
        for s in (1..services).rev() {
            if let Some(p) = parent(s) {
                path_latency[p] = path_latency[p].max(own_latency[p] + path_latency[s]);
            }
        }
        let mut columns = Vec::new();
        for s in 0..services {
            let name = service_name(s);
            let hops = hops_above(s, self.root);
            let share = hops.map(|h| self.propagation.powi(h as i32));
            let rate = 20.0 + 200.0 * noise.uniform();
            let latency = path_latency[s];
            let root_latency = path_latency[self.root.min(services - 1)];
            let cpu = 0.1 + 0.5 * noise.uniform();
            let level = 1.0e8 + 4.0e8 * noise.uniform();
            let mut memory = level;
            let mut series: [Vec<f64>; 5] = Default::default();
            for row in 0..rows {
                let after = row >= self.pre_rows;
                let load = if after { 1.0 + self.load_step } else { 1.0 };
                let mut rate = rate * load;
                let mut busy = cpu * (0.3 + 0.7 * load);
                let mut p99 = latency * (1.0 + 0.02 * (load - 1.0));
                let mut errors = if noise.uniform() < 0.03 {
                    0.002 * noise.uniform()
                } else {
                    0.0
                };
                let mut leaked = 0.0;
                if let (true, Some(share), Some(hops)) = (after, share, hops) {
                    let at_root = hops == 0;
                    match self.fault {
                        Fault::Latency => p99 += root_latency * self.size * share,
                        Fault::Errors => errors += self.size * share,
                        Fault::Stop if at_root => {
                            rate *= 0.02;
                            busy = cpu * 0.1;
                        }
                        Fault::Stop => errors += self.size.min(1.0) * share,
                        Fault::Cpu => {
                            p99 += root_latency * self.size / 3.0 * share;
                            if at_root {
                                busy += self.size;
                            }
                        }
                        Fault::Leak if at_root => {
                            let into = (row - self.pre_rows + 1) as f64 / self.post_rows as f64;
                            leaked = self.size * level * into;
                        }
                        Fault::Leak => {}
                    }
                }
                let jitter = |n: &mut Noise| 1.0 + self.noise * n.normal();
                series[0].push((rate * jitter(&mut noise)).max(0.0));
                series[1].push((errors * jitter(&mut noise)).clamp(0.0, 1.0));
                series[2].push((p99 * jitter(&mut noise)).max(0.0));
                series[3].push((busy * jitter(&mut noise)).max(0.0));
                memory += 1.0e5 * noise.normal();
                series[4].push(memory + leaked);
            }
            for (metric, values) in [
                "request_rate",
                "error_ratio",
                "p99_latency",
                "cpu",
                "memory",
            ]
            .iter()
            .zip(series)
            {
                columns.push((format!("{name}_{metric}"), values));
            }
        }
        Case {
            root: service_name(self.root),
            inject_s,
            time_s,
            columns,
        }
    }
}

impl Case {
    /// Writes `data.csv` and `inject_time.txt` into `dir` (created).
    pub fn write_rcaeval(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("data.csv"))?);
        write!(csv, "time")?;
        for (name, _) in &self.columns {
            write!(csv, ",{name}")?;
        }
        writeln!(csv)?;
        for (row, t) in self.time_s.iter().enumerate() {
            write!(csv, "{t}")?;
            for (_, values) in &self.columns {
                write!(csv, ",{}", values[row])?;
            }
            writeln!(csv)?;
        }
        csv.flush()?;
        std::fs::write(dir.join("inject_time.txt"), format!("{}\n", self.inject_s))
    }

    /// The columns as `(ms, value)` points, for [`crate::MetricFrame::from_series`].
    pub fn series(&self) -> Vec<CaseSeries> {
        self.columns
            .iter()
            .filter_map(|(name, values)| {
                let (service, metric) = name.split_once('_')?;
                let points = self
                    .time_s
                    .iter()
                    .zip(values)
                    .map(|(t, v)| (t * 1000, *v))
                    .collect();
                Some(CaseSeries {
                    service: service.to_owned(),
                    metric: metric.to_owned(),
                    points,
                })
            })
            .collect()
    }
}

/// One column of a [`Case`] as in-memory points.
#[derive(Debug, Clone)]
pub struct CaseSeries {
    pub service: String,
    pub metric: String,
    pub points: Vec<(i64, f64)>,
}

impl CaseSeries {
    pub fn input(&self) -> SeriesInput<'_> {
        SeriesInput {
            service: &self.service,
            metric: &self.metric,
            points: &self.points,
        }
    }
}
