//! `aiops eval chaos <scenario files>`: runs the shop, the engine and the
//! load generator as real processes, injects each scenario's faults through
//! the chaos API (or a bad release), and reports per fault whether the
//! engine opened an incident naming the service, how fast, and where it
//! ranked the service; and the incidents opened while no fault was active.
//! With Prometheus and Alertmanager installed, the alert rules in `rules/`
//! run on the same shop at the same time and are judged the same way.

pub mod judge;
mod observe;
pub mod receiver;
pub mod record;
pub mod scenario;
mod stack;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;

use judge::{AlertDetection, Detection, FalseAlarm, FaultWindow, Rules};
use observe::IncidentWatch;
use scenario::Scenario;
use stack::{Ports, Stack, StackConfig};

#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Scenario files (YAML), or folders of them (every `*.yaml` inside).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Where each run's logs, databases and reports go.
    #[arg(long, default_value = "aiops-eval-chaos")]
    pub out: PathBuf,
    /// Also write each fault as a root-cause case (RCAEval layout) here.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// First of the ports the run uses (services at base..base+6, engine at
    /// base+720, Prometheus base+10..base+12, Alertmanager base+13).
    #[arg(long, default_value_t = 18080)]
    pub port_base: u16,
    /// Scrape (and evaluation) interval of the engine and of Prometheus.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
    /// The alert rules to compare with (`recording.yml`, `alerts.yml`).
    #[arg(long, default_value = "rules/prometheus")]
    pub rules: PathBuf,
    /// Do not run Prometheus and Alertmanager even when installed.
    #[arg(long)]
    pub no_alert_rules: bool,
    /// Fast variants of the alert rules, run beside them in Prometheus
    /// instances of their own: each caps every `for:` at this duration
    /// (`0s` fires as soon as the expression holds). At most two; `none`
    /// for none.
    #[arg(long, default_value = "1m,0s", value_parser = parse_variants)]
    pub rule_variants: RuleVariants,
    /// The `shop` binary (default: beside this one).
    #[arg(long)]
    pub shop: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct FaultReport {
    scenario: String,
    fault: String,
    service: String,
    kind: String,
    start_s: f64,
    duration_s: f64,
    engine: Detection,
    /// Per alert rule set (`standard` and its fast variants).
    alerts: BTreeMap<String, AlertDetection>,
}

#[derive(Debug, Serialize)]
struct ScenarioReport {
    scenario: String,
    duration_s: f64,
    /// Time no fault (nor its settle time) was on.
    fault_free_s: f64,
    faults: Vec<FaultReport>,
    /// Every incident that should not have opened, and why.
    false_incidents: Vec<FalseAlarm>,
    /// Per alert rule set: alerts that started while no fault was on.
    false_alerts: BTreeMap<String, Vec<FalseAlarm>>,
    /// Per service: exits nobody asked for (crashes the supervisor recovered).
    crashes: BTreeMap<String, u64>,
    /// Per service: restarts someone asked for (a playbook's).
    restarts_asked: BTreeMap<String, u64>,
    /// Times a fault was applied again to a restarted process.
    reapplied: BTreeMap<String, u32>,
}

pub fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let scenarios = load_all(&args.scenarios)?;
    let this = std::env::current_exe().context("cannot find this program")?;
    // `aiops eval` or the standalone `aiops-eval`: the engine is `aiops`
    let aiops = this.with_file_name("aiops");
    if !aiops.is_file() {
        anyhow::bail!(
            "no aiops binary at {} (build it with `cargo build --release --bins`)",
            aiops.display()
        );
    }
    let shop = match &args.shop {
        Some(p) => p.clone(),
        None => aiops.with_file_name("shop"),
    };
    if !shop.is_file() {
        anyhow::bail!(
            "no shop binary at {} (build it with `cargo build --release --bins`, or pass --shop)",
            shop.display()
        );
    }
    if args.scrape_interval < Duration::from_secs(1)
        || args.scrape_interval > Duration::from_secs(60)
    {
        anyhow::bail!("--scrape-interval must be between 1s and 60s");
    }
    let ports = Ports {
        base: args.port_base,
    };
    if args.port_base > 60_000 {
        anyhow::bail!("--port-base must be at most 60000");
    }
    for port in ports.all() {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            anyhow::bail!("port {port} is in use (pick another --port-base)");
        }
    }
    let (prometheus, alertmanager) = if args.no_alert_rules {
        (None, None)
    } else {
        (
            find_program(&["prometheus"]),
            find_program(&["prometheus-alertmanager", "alertmanager"]),
        )
    };
    let compare = prometheus.is_some() && alertmanager.is_some() && args.rules.is_dir();
    if !compare && !args.no_alert_rules {
        eprintln!(
            "note: the alert rules are not compared (needs `prometheus`, `prometheus-alertmanager` and {})",
            args.rules.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut reports = Vec::new();
    for scenario in &scenarios {
        let config = StackConfig {
            aiops: aiops.clone(),
            shop: shop.clone(),
            run_dir: args.out.join(&scenario.name),
            ports,
            scrape_interval: args.scrape_interval,
            admin_token: "chaos-eval-token".into(),
            rules_dir: compare.then(|| args.rules.clone()),
            prometheus: prometheus.clone().filter(|_| compare),
            alertmanager: alertmanager.clone().filter(|_| compare),
            rule_variants: args.rule_variants.0.clone(),
            log_callsites: args.record.is_some(),
        };
        eprintln!(
            "scenario {}: {} ({} fault(s), {})",
            scenario.name,
            scenario.about,
            scenario.faults.len(),
            humantime::format_duration(scenario.duration)
        );
        let report = runtime.block_on(run_one(scenario, config, args.record.as_deref()))?;
        println!("{}", serde_json::to_string(&report)?);
        std::fs::write(
            args.out.join(&scenario.name).join("report.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        reports.push(report);
    }
    summarise(&reports);
    Ok(())
}

/// The `for:` caps of `--rule-variants`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVariants(pub Vec<Duration>);

fn parse_variants(raw: &str) -> Result<RuleVariants, String> {
    if raw.trim() == "none" {
        return Ok(RuleVariants(Vec::new()));
    }
    let caps = raw
        .split(',')
        .map(|v| humantime::parse_duration(v.trim()).map_err(|e| format!("{v:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if caps.len() > stack::MAX_RULE_VARIANTS {
        return Err(format!("at most {} variants", stack::MAX_RULE_VARIANTS));
    }
    Ok(RuleVariants(caps))
}

fn load_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Scenario>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        anyhow::bail!("no scenario files found");
    }
    let mut scenarios = Vec::new();
    for file in &files {
        scenarios.push(scenario::load(file).map_err(anyhow::Error::msg)?);
    }
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("two scenarios are named {:?}", w[0]);
    }
    Ok(scenarios)
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How often the engine's incidents are read.
const POLL_EVERY: Duration = Duration::from_secs(1);

async fn run_one(
    scenario: &Scenario,
    config: StackConfig,
    record: Option<&Path>,
) -> anyhow::Result<ScenarioReport> {
    let run_dir = config.run_dir.clone();
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot clear {}", run_dir.display()))?;
    }
    let mut stack = Stack::up(config, scenario).await?;
    let result = drive(scenario, &mut stack, record).await;
    stack.down().await;
    if let (Ok(_), Some(dir)) = (&result, record) {
        record_logs(&run_dir, &dir.join("logs"), &scenario.name)?;
    }
    result
}

/// The services' labelled stdout (every service's lines, service by
/// service) as a Loghub-layout corpus `<dir>/<scenario>.log` with its
/// `.log_structured.csv` truth.
fn record_logs(run_dir: &Path, dir: &Path, name: &str) -> anyhow::Result<()> {
    let mut input: Box<dyn std::io::Read> = Box::new(std::io::empty());
    for service in shop_topology::START_ORDER {
        let path = run_dir.join(format!("{service}.log"));
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        input = Box::new(input.chain(file));
    }
    let summary = crate::logs::record::record(
        std::io::BufReader::new(input),
        &run_dir.display().to_string(),
        dir,
        name,
    )?;
    eprintln!(
        "  recorded {} labelled log lines ({} statements) in {}",
        summary.lines,
        summary.statements,
        summary.log.display()
    );
    Ok(())
}

async fn drive(
    scenario: &Scenario,
    stack: &mut Stack,
    record: Option<&Path>,
) -> anyhow::Result<ScenarioReport> {
    let started = tokio::time::Instant::now();
    let started_ms = now_ms();
    let engine = stack.engine_url();
    // (offset, fault index, inject?) in time order
    let mut events: Vec<(Duration, usize, bool)> = Vec::new();
    for (i, f) in scenario.faults.iter().enumerate() {
        events.push((f.start, i, true));
        events.push((f.end(), i, false));
    }
    events.sort_by_key(|(at, i, inject)| (*at, !*inject, *i));
    let mut windows: Vec<FaultWindow> = scenario
        .faults
        .iter()
        .map(|f| FaultWindow {
            label: f.label(),
            service: f.service.clone(),
            kind: f.kind.clone(),
            start_ms: started_ms + duration_ms(f.start),
            end_ms: started_ms + duration_ms(f.end()),
        })
        .collect();
    let mut watch = IncidentWatch::default();
    let mut next = events.into_iter().peekable();
    let end = started + scenario.duration;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    loop {
        let due = next.peek().map(|(at, _, _)| started + *at);
        tokio::select! {
            _ = ticker.tick() => {
                watch.poll(&stack.http, &engine, now_ms()).await;
            }
            _ = tokio::time::sleep_until(due.unwrap_or(end)), if due.is_some() => {
                let Some((_, i, inject)) = next.next() else { continue };
                let fault = &scenario.faults[i];
                let at = now_ms();
                if inject {
                    eprintln!("  {:>6.1}s inject {} on {}", secs(at - started_ms), fault.kind, fault.service);
                    stack.inject(fault).await.with_context(|| format!("injecting {}", fault.label()))?;
                    windows[i].start_ms = at;
                } else {
                    eprintln!("  {:>6.1}s clear {} on {}", secs(at - started_ms), fault.kind, fault.service);
                    if let Err(e) = stack.clear(fault).await {
                        eprintln!("  warning: {e:#}");
                    }
                    windows[i].end_ms = at;
                }
            }
        }
        if tokio::time::Instant::now() >= end && next.peek().is_none() {
            break;
        }
    }
    let ended_ms = now_ms();
    watch.poll(&stack.http, &engine, ended_ms).await;
    let incidents = watch.incidents();
    let alerts = stack.alerts.lock().clone();
    let rules = Rules::default();
    let rulesets = stack.rulesets();
    let faults = windows
        .iter()
        .map(|w| FaultReport {
            scenario: scenario.name.clone(),
            fault: w.label.clone(),
            service: w.service.clone(),
            kind: w.kind.clone(),
            start_s: secs(w.start_ms - started_ms),
            duration_s: secs(w.end_ms - w.start_ms),
            engine: judge::engine(w, &incidents, &rules),
            alerts: rulesets
                .iter()
                .map(|r| (r.clone(), judge::alerts(w, &alerts, r, &rules)))
                .collect(),
        })
        .collect();
    if let Some(dir) = record {
        let history: serde_json::Value = stack
            .http
            .get(format!("{engine}/api/v1/history"))
            .query(&[
                ("start", (started_ms / 1000).to_string()),
                ("end", (now_ms() / 1000 + 1).to_string()),
            ])
            .send()
            .await?
            .json()
            .await?;
        for w in &windows {
            let folder = record::write_case(dir, &scenario.name, w, &history)?;
            eprintln!("  recorded {}", folder.display());
        }
    }
    let (crashes, restarts_asked) = stack.restarts();
    let false_incidents = judge::false_incidents(&windows, &incidents, &rules);
    for f in &false_incidents {
        eprintln!("  false incident {}: {}", f.id, f.why);
    }
    Ok(ScenarioReport {
        scenario: scenario.name.clone(),
        duration_s: secs(ended_ms - started_ms),
        fault_free_s: secs(judge::fault_free_ms(&windows, started_ms, ended_ms, &rules)),
        faults,
        false_incidents,
        false_alerts: rulesets
            .iter()
            .map(|r| (r.clone(), judge::false_alerts(&windows, &alerts, r, &rules)))
            .collect(),
        crashes,
        restarts_asked,
        reapplied: stack.reapplied(),
    })
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn summarise(reports: &[ScenarioReport]) {
    let faults: Vec<&FaultReport> = reports.iter().flat_map(|r| r.faults.iter()).collect();
    let rulesets: Vec<String> = faults
        .first()
        .map(|f| f.alerts.keys().cloned().collect())
        .unwrap_or_default();
    println!();
    let mut header = format!(
        "{:<26} {:<22} {:>8} {:>5} {:>8} {:>5}",
        "scenario", "fault", "TTD", "rank", "to #1", "end"
    );
    for r in &rulesets {
        header.push_str(&format!(" {:>16}", format!("{r} notify")));
    }
    println!("{header}");
    let show = |v: Option<f64>| {
        v.map(|s| format!("{s:.1}s"))
            .unwrap_or_else(|| "missed".into())
    };
    let rank = |r: Option<usize>| r.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
    for f in &faults {
        let mut row = format!(
            "{:<26} {:<22} {:>8} {:>5} {:>8} {:>5}",
            f.scenario,
            f.fault,
            show(f.engine.time_to_detect_s),
            rank(f.engine.rank_first),
            f.engine
                .time_to_rank_1_s
                .map(|s| format!("{s:.1}s"))
                .unwrap_or_else(|| "-".into()),
            rank(f.engine.rank_end),
        );
        for a in f.alerts.values() {
            row.push_str(&format!(
                " {:>16}",
                format!(
                    "{} (#{})",
                    show(a.notified.time_to_detect_s),
                    rank(a.notified.rank_first)
                )
            ));
        }
        println!("{row}");
    }
    for r in reports {
        for f in &r.false_incidents {
            println!("false incident in {}: {} {}", r.scenario, f.id, f.why);
        }
    }
    let summary = summary_json(reports, &rulesets);
    println!();
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}

/// The figures of a whole run: the engine's, each alert rule set's, and
/// the engine's median time to rank 1 against the fastest rule set's median
/// time to notify.
fn summary_json(reports: &[ScenarioReport], rulesets: &[String]) -> serde_json::Value {
    let faults: Vec<&FaultReport> = reports.iter().flat_map(|r| r.faults.iter()).collect();
    let n = faults.len();
    let share = |hits: usize| hits as f64 / n.max(1) as f64;
    let worst = |v: &[f64]| {
        v.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let fault_free_h: f64 = reports.iter().map(|r| r.fault_free_s).sum::<f64>() / 3600.0;
    let per_hour = |count: usize| (fault_free_h > 0.0).then(|| count as f64 / fault_free_h);

    let engine: Vec<&Detection> = faults.iter().map(|f| &f.engine).collect();
    let mut ttd: Vec<f64> = engine.iter().filter_map(|d| d.time_to_detect_s).collect();
    let to_first: Vec<f64> = engine.iter().filter_map(|d| d.time_to_rank_1_s).collect();
    let first_at = |k: usize| {
        share(
            engine
                .iter()
                .filter(|d| d.rank_first.is_some_and(|r| r <= k))
                .count(),
        )
    };
    let end_at = |k: usize| {
        share(
            engine
                .iter()
                .filter(|d| d.rank_end.is_some_and(|r| r <= k))
                .count(),
        )
    };
    let false_all: usize = reports.iter().map(|r| r.false_incidents.len()).sum();
    let false_quiet: usize = reports
        .iter()
        .flat_map(|r| &r.false_incidents)
        .filter(|f| f.without_fault)
        .count();
    let engine_median_rank_1 = judge::median(&mut to_first.clone());
    let mut out = json!({
        "faults": n,
        "fault_free_hours": fault_free_h,
        "engine": {
            "detected": engine.iter().filter(|d| d.detected).count(),
            "median_time_to_detect_s": judge::median(&mut ttd),
            "worst_time_to_detect_s": worst(&ttd),
            "ranked_1_at_some_point": to_first.len(),
            "median_time_to_rank_1_s": engine_median_rank_1,
            "worst_time_to_rank_1_s": worst(&to_first),
            "ac_at_1_first_sight": first_at(1),
            "ac_at_3_first_sight": first_at(3),
            "ac_at_1_end": end_at(1),
            "ac_at_3_end": end_at(3),
            "false_incidents": false_all,
            "false_incidents_without_fault": false_quiet,
            "false_incidents_per_fault_free_hour": per_hour(false_quiet),
        },
    });
    let mut rules_out = serde_json::Map::new();
    let mut fastest: Option<(String, f64)> = None;
    for ruleset in rulesets {
        let seen: Vec<&AlertDetection> = faults
            .iter()
            .filter_map(|f| f.alerts.get(ruleset))
            .collect();
        let mut notify: Vec<f64> = seen
            .iter()
            .filter_map(|a| a.notified.time_to_detect_s)
            .collect();
        let mut fire: Vec<f64> = seen.iter().filter_map(|a| a.time_to_fire_s).collect();
        let at = |k: usize| {
            share(
                seen.iter()
                    .filter(|a| a.notified.rank_first.is_some_and(|r| r <= k))
                    .count(),
            )
        };
        let false_alerts: usize = reports
            .iter()
            .filter_map(|r| r.false_alerts.get(ruleset))
            .map(Vec::len)
            .sum();
        let median_notify = judge::median(&mut notify);
        if let Some(m) = median_notify
            && fastest.as_ref().is_none_or(|(_, best)| m < *best)
        {
            fastest = Some((ruleset.clone(), m));
        }
        rules_out.insert(
            ruleset.clone(),
            json!({
                "detected": seen.iter().filter(|a| a.notified.detected).count(),
                "median_time_to_notify_s": median_notify,
                "worst_time_to_notify_s": worst(&notify),
                "median_time_to_fire_s": judge::median(&mut fire),
                "ac_at_1": at(1),
                "ac_at_3": at(3),
                "false_alerts": false_alerts,
                "false_alerts_per_fault_free_hour": per_hour(false_alerts),
            }),
        );
    }
    if !rules_out.is_empty() {
        out["alert_rules"] = serde_json::Value::Object(rules_out);
    }
    if let (Some(engine), Some((ruleset, notify))) = (engine_median_rank_1, fastest) {
        out["engine_rank_1_vs_fastest_notify"] = json!({
            "ruleset": ruleset,
            "ratio": engine / notify.max(f64::EPSILON),
        });
    }
    out
}
