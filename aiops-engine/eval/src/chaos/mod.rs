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
    /// Remediation playbooks (a folder or a file) the engine runs, acting
    /// on the shop through this run's supervisor; the report then says,
    /// per fault, what they did and how soon the service recovered.
    #[arg(long)]
    pub playbooks: Option<PathBuf>,
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
    /// What the playbooks did, when they ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    remedy: Option<judge::Remedy>,
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
    /// With playbooks: actions that changed a service while no fault was on.
    #[serde(skip_serializing_if = "Option::is_none")]
    actions_without_fault: Option<Vec<String>>,
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
    let playbooks = match &args.playbooks {
        None => None,
        Some(path) => {
            let loaded = check_playbooks(path)?;
            eprintln!(
                "playbooks: {loaded} from {} act through the run's supervisor",
                path.display()
            );
            Some(std::path::absolute(path)?)
        }
    };
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
            playbooks: playbooks.clone(),
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

/// Refuses a run whose playbooks the engine would refuse, before anything
/// starts; the number it would load.
fn check_playbooks(path: &Path) -> anyhow::Result<usize> {
    let (loaded, errors) = aiops_playbooks::load::load_all(&[path.to_owned()]);
    if !errors.is_empty() {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!("--playbooks:\n{}", all.join("\n"));
    }
    Ok(loaded.len())
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
    // the incident each fault was first found in, saved as the API showed
    // it then: the fixtures `aiops playbook test` is tried on
    let mut snapshots: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut next = events.into_iter().peekable();
    let end = started + scenario.duration;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    loop {
        let due = next.peek().map(|(at, _, _)| started + *at);
        tokio::select! {
            _ = ticker.tick() => {
                watch.poll(&stack.http, &engine, now_ms()).await;
                snapshot_incidents(stack, &engine, &windows, &watch, &mut snapshots).await;
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
                    // the incident as it stands when the fault ends: the
                    // fuller picture summaries and similar incidents are
                    // judged on
                    watch.poll(&stack.http, &engine, at).await;
                    let path = stack.run_dir().join(format!("incident-{}.at-clear.json", windows[i].label));
                    save_incident_of(stack, &engine, &windows[i], &watch, &path).await;
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
    let actions = if stack.playbooks_on() {
        Some(read_actions(&stack.http, &engine).await?)
    } else {
        None
    };
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
            remedy: actions.as_ref().map(|a| judge::remedy(w, a, &rules)),
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
        actions_without_fault: actions
            .as_ref()
            .map(|a| judge::actions_without_fault(&windows, a, &rules)),
        reapplied: stack.reapplied(),
    })
}

/// Saves, once per fault, the incident its service's own signals first
/// joined, as `GET /api/v1/incidents/{id}` answered at that moment.
async fn snapshot_incidents(
    stack: &Stack,
    engine: &str,
    windows: &[FaultWindow],
    watch: &IncidentWatch,
    saved: &mut BTreeMap<String, PathBuf>,
) {
    let now = now_ms();
    for w in windows {
        if saved.contains_key(&w.label) || now < w.start_ms || now > w.end_ms {
            continue;
        }
        let path = stack.run_dir().join(format!("incident-{}.json", w.label));
        if save_incident_of(stack, engine, w, watch, &path).await {
            saved.insert(w.label.clone(), path);
        }
    }
}

/// Writes to `path` the incident the fault's service's own signals joined
/// since the fault began, as the API shows it now; false when there is none
/// yet or the engine did not answer.
async fn save_incident_of(
    stack: &Stack,
    engine: &str,
    w: &FaultWindow,
    watch: &IncidentWatch,
    path: &std::path::Path,
) -> bool {
    let seen = watch.incidents();
    let Some(incident) = seen.iter().find(|i| {
        i.joins
            .iter()
            .any(|j| j.service == w.service && j.joined_ms >= w.start_ms)
    }) else {
        return false;
    };
    let url = format!("{engine}/api/v1/incidents/{}", incident.id);
    let Ok(response) = stack.http.get(url).send().await else {
        return false;
    };
    let Ok(body) = response.text().await else {
        return false;
    };
    std::fs::write(path, body).is_ok()
}

/// The engine's ledger at the end of a run.
async fn read_actions(
    http: &reqwest::Client,
    engine: &str,
) -> anyhow::Result<Vec<judge::ActionSeen>> {
    let body: serde_json::Value = http
        .get(format!("{engine}/api/v1/actions?limit=1000"))
        .send()
        .await?
        .json()
        .await?;
    let mut out = Vec::new();
    for a in body
        .get("data")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| {
            a.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let history = a.get("history").and_then(serde_json::Value::as_array);
        let entered = |state: &str| {
            history
                .into_iter()
                .flatten()
                .find(|t| t.get("state").and_then(serde_json::Value::as_str) == Some(state))
                .and_then(|t| t.get("at_ms").and_then(serde_json::Value::as_i64))
        };
        out.push(judge::ActionSeen {
            id: text("id"),
            playbook: text("playbook"),
            action: text("action"),
            service: a
                .get("service")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            state: text("state"),
            created_ms: a
                .get("created_ms")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0),
            succeeded_ms: entered("succeeded"),
            verified: a
                .get("verification")
                .and_then(|v| v.get("state"))
                .and_then(serde_json::Value::as_str)
                .and_then(|s| match s {
                    "passed" => Some(true),
                    "failed" => Some(false),
                    _ => None,
                }),
            executed: entered("running").is_some(),
        });
    }
    Ok(out)
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
    if faults.iter().any(|f| f.remedy.is_some()) {
        println!();
        println!(
            "{:<26} {:<22} {:>8} {:>10} {:>9} {:>8} {:>8}",
            "scenario", "fault", "actions", "recovered", "escalated", "harmful", "repeated"
        );
        for f in &faults {
            let Some(r) = &f.remedy else { continue };
            println!(
                "{:<26} {:<22} {:>8} {:>10} {:>9} {:>8} {:>8}",
                f.scenario,
                f.fault,
                r.executed,
                r.time_to_recover_s
                    .map(|s| format!("{s:.1}s"))
                    .unwrap_or_else(|| "-".into()),
                if r.escalated { "yes" } else { "no" },
                r.harmful.len(),
                if r.repeated { "yes" } else { "no" },
            );
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
/// What the playbooks did over the run, against the goals: a leak or a
/// runaway CPU cured by a restart within 60 s of the fault, a bad release
/// rolled back within 90 s, no action without a fault, and faults no
/// playbook cures tried at most once and escalated.
fn remediation_json(reports: &[ScenarioReport], faults: &[&FaultReport]) -> serde_json::Value {
    let by = |kinds: &[&str]| -> Vec<&FaultReport> {
        faults
            .iter()
            .copied()
            .filter(|f| kinds.contains(&f.kind.as_str()))
            .collect()
    };
    let recovered_within = |list: &[&FaultReport], s: f64| {
        list.iter()
            .filter(|f| {
                f.remedy
                    .as_ref()
                    .and_then(|r| r.time_to_recover_s)
                    .is_some_and(|t| t <= s)
            })
            .count()
    };
    let times = |list: &[&FaultReport]| -> Vec<f64> {
        list.iter()
            .filter_map(|f| f.remedy.as_ref()?.time_to_recover_s)
            .collect()
    };
    let restartable = by(&["leak", "cpu"]);
    let releases = by(&["release"]);
    let others: Vec<&FaultReport> = faults
        .iter()
        .copied()
        .filter(|f| !["leak", "cpu", "release"].contains(&f.kind.as_str()))
        .collect();
    let without_fault: usize = reports
        .iter()
        .filter_map(|r| r.actions_without_fault.as_ref())
        .map(Vec::len)
        .sum();
    let remedies = || faults.iter().filter_map(|f| f.remedy.as_ref());
    json!({
        "leak_or_cpu": {
            "faults": restartable.len(),
            "recovered_within_60s": recovered_within(&restartable, 60.0),
            "median_time_to_recover_s": judge::median(&mut times(&restartable)),
        },
        "bad_release": {
            "faults": releases.len(),
            "rolled_back_within_90s": recovered_within(&releases, 90.0),
            "median_time_to_recover_s": judge::median(&mut times(&releases)),
        },
        "others": {
            "faults": others.len(),
            "at_most_one_action": others.iter().filter(|f| f.remedy.as_ref().is_some_and(|r| r.executed <= 1)).count(),
            "escalated": others.iter().filter(|f| f.remedy.as_ref().is_some_and(|r| r.escalated)).count(),
        },
        "actions": remedies().map(|r| r.executed).sum::<usize>(),
        "harmful_actions": remedies().map(|r| r.harmful.len()).sum::<usize>(),
        "faults_with_repeated_actions": remedies().filter(|r| r.repeated).count(),
        "actions_without_fault": without_fault,
    })
}

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
    if faults.iter().any(|f| f.remedy.is_some()) {
        out["remediation"] = remediation_json(reports, &faults);
    }
    if let (Some(engine), Some((ruleset, notify))) = (engine_median_rank_1, fastest) {
        out["engine_rank_1_vs_fastest_notify"] = json!({
            "ruleset": ruleset,
            "ratio": engine / notify.max(f64::EPSILON),
        });
    }
    out
}
