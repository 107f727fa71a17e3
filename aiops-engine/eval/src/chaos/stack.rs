//! The system under test for one scenario, on loopback: the engine (`aiops
//! serve`), the seven shop services (`shop run`), the load generator, a
//! readiness prober (as a kubelet would probe `/readyz`), and, when
//! installed, Prometheus evaluating `rules/prometheus` with Alertmanager
//! notifying the harness's webhook. Everything lives in the run directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::judge::AlertSeen;
use shop_topology::START_ORDER;
use supervisor::{Options, Output, Release, Spec, Supervisor};

use super::scenario::{Fault, FaultAction, Scenario};

/// Where the pieces listen: `base`..`base+6` the services (in the shop's
/// port order), `base+720` the engine, `base+10`..`base+12` a Prometheus per
/// alert rule set, `base+13` Alertmanager.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub base: u16,
}

impl Ports {
    pub fn service(&self, service: &str) -> u16 {
        let offset = shop_topology::default_port(service).map_or(0, |p| p - 8080);
        self.base + offset
    }
    pub fn engine(&self) -> u16 {
        self.base + 720
    }
    /// The Prometheus of the `i`-th rule set (0: the rules as written).
    pub fn prometheus(&self, i: usize) -> u16 {
        self.base + 10 + u16::try_from(i.min(MAX_RULE_VARIANTS)).unwrap_or(0)
    }
    pub fn alertmanager(&self) -> u16 {
        self.base + 13
    }
    /// The supervisor's control API, which the engine's playbooks act through.
    pub fn control(&self) -> u16 {
        self.base + 14
    }
    pub fn all(&self) -> Vec<u16> {
        let mut v: Vec<u16> = shop_topology::names().map(|s| self.service(s)).collect();
        v.extend([self.engine(), self.alertmanager(), self.control()]);
        v.extend((0..=MAX_RULE_VARIANTS).map(|i| self.prometheus(i)));
        v
    }
}

/// Fast variants of the alert rules run beside the rules as written, at most.
pub const MAX_RULE_VARIANTS: usize = 2;

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub aiops: PathBuf,
    pub shop: PathBuf,
    pub run_dir: PathBuf,
    pub ports: Ports,
    pub scrape_interval: Duration,
    pub admin_token: String,
    /// `rules/prometheus`; with Prometheus and Alertmanager found, the alert
    /// rules run alongside.
    pub rules_dir: Option<PathBuf>,
    pub prometheus: Option<PathBuf>,
    pub alertmanager: Option<PathBuf>,
    /// Fast variants of the alert rules: each caps every `for:` at this
    /// (what a team tuned for speed would run), in a Prometheus of its own.
    pub rule_variants: Vec<Duration>,
    /// Remediation playbooks the engine runs (acting through this run's
    /// supervisor), if any.
    pub playbooks: Option<PathBuf>,
    /// The services name the statement behind each log line on stdout
    /// (`SHOP_LOG_CALLSITE`; never in the copy the engine receives), for a
    /// labelled recording.
    pub log_callsites: bool,
}

pub struct Stack {
    config: StackConfig,
    pub http: reqwest::Client,
    /// Every process of the run: the engine, the seven services, the load,
    /// a Prometheus per rule set (`prometheus-<rule set>`), Alertmanager.
    sup: Arc<Supervisor>,
    /// The rule sets a Prometheus runs for.
    rulesets: Vec<String>,
    receiver: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
    /// The supervisor's control API, when playbooks act.
    control: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
    pub alerts: Arc<Mutex<Vec<AlertSeen>>>,
    prober: JoinHandle<()>,
    /// Faults applied again after each restart while they last, by label.
    reapply: BTreeMap<String, JoinHandle<()>>,
    /// How often each fault was applied again.
    reapplied: Arc<Mutex<BTreeMap<String, u32>>>,
}

const SHOP_ENV_VERSION: &str = "SHOP_VERSION";
const SHOP_ENV_FAULTS: &str = "SHOP_FAULTS";
/// A crashed process is started again after this, as the first runs were.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Keeps `spec` running as a process of the run, its output in `log`.
fn keep(
    sup: &Supervisor,
    name: &str,
    spec: Spec,
    log: PathBuf,
    restart: bool,
) -> anyhow::Result<()> {
    sup.start(
        name,
        spec,
        Options {
            output: Output::File(log),
            restart,
            backoff_min: RESTART_BACKOFF,
            backoff_max: RESTART_BACKOFF,
            own_process_group: true,
            version_env: Some(SHOP_ENV_VERSION.into()),
            ..Options::default()
        },
    )?;
    Ok(())
}
/// How often each service's `/readyz` is probed (a kubelet's period).
const PROBE_EVERY: Duration = Duration::from_secs(5);

impl Stack {
    pub async fn up(config: StackConfig, scenario: &Scenario) -> anyhow::Result<Stack> {
        std::fs::create_dir_all(&config.run_dir)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let ports = config.ports;
        let engine_url = format!("http://127.0.0.1:{}", ports.engine());
        let sup = Supervisor::new();
        // the engine's playbooks act on the shop through this run's supervisor
        let control_token = format!(
            "ctl-{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let control = match &config.playbooks {
            None => None,
            Some(_) => {
                let listener =
                    tokio::net::TcpListener::bind(("127.0.0.1", ports.control())).await?;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let (sup, token) = (sup.clone(), control_token.clone());
                let handle = tokio::spawn(async move {
                    let _ = supervisor::control::serve(listener, sup, &token, async move {
                        let _ = stopped.await;
                    })
                    .await;
                });
                Some((handle, stop))
            }
        };
        let engine_yaml = engine_config(&config, &control_token);
        let engine_config_path = config.run_dir.join("aiops.yaml");
        std::fs::write(&engine_config_path, engine_yaml)?;
        keep(
            &sup,
            "aiops",
            Spec {
                program: config.aiops.clone(),
                args: vec![
                    "serve".into(),
                    "--config".into(),
                    engine_config_path.display().to_string(),
                ],
                env: vec![("AIOPS_LOG".into(), "warn".into())],
            },
            config.run_dir.join("aiops.log"),
            true,
        )?;
        wait_http(
            &http,
            &format!("{engine_url}/readyz"),
            Duration::from_secs(60),
        )
        .await
        .map_err(|e| anyhow::anyhow!("the engine did not become ready: {e}"))?;

        for service in START_ORDER {
            let mut env = vec![
                (
                    "SHOP_LISTEN".to_owned(),
                    format!("127.0.0.1:{}", ports.service(service)),
                ),
                ("SHOP_ADMIN_TOKEN".to_owned(), config.admin_token.clone()),
                ("SHOP_LOKI_URL".to_owned(), engine_url.clone()),
                (
                    "ORDERS_DB_PATH".to_owned(),
                    config.run_dir.join("orders.db").display().to_string(),
                ),
            ];
            if config.log_callsites {
                env.push(("SHOP_LOG_CALLSITE".to_owned(), "1".to_owned()));
            }
            for peer in shop_topology::names() {
                env.push((
                    format!("SHOP_{}_URL", peer.to_ascii_uppercase()),
                    format!("http://127.0.0.1:{}", ports.service(peer)),
                ));
            }
            keep(
                &sup,
                service,
                Spec {
                    program: config.shop.clone(),
                    args: vec!["run".into(), service.into()],
                    env,
                },
                config.run_dir.join(format!("{service}.log")),
                true,
            )?;
        }
        for service in START_ORDER {
            let url = format!("http://127.0.0.1:{}/healthz", ports.service(service));
            wait_http(&http, &url, Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("{service} did not come up: {e}"))?;
        }

        let alerts = Arc::new(Mutex::new(Vec::new()));
        let (mut rulesets, mut receiver) = (Vec::new(), None);
        if let (Some(rules), Some(prom), Some(am)) =
            (&config.rules_dir, &config.prometheus, &config.alertmanager)
        {
            let (port, handle, stop) = super::receiver::spawn(alerts.clone()).await?;
            receiver = Some((handle, stop));
            let am_dir = config.run_dir.join("alertmanager");
            std::fs::create_dir_all(&am_dir)?;
            std::fs::write(am_dir.join("alertmanager.yml"), alertmanager_config(port))?;
            keep(
                &sup,
                "alertmanager",
                Spec {
                    program: am.clone(),
                    args: vec![
                        format!(
                            "--config.file={}",
                            am_dir.join("alertmanager.yml").display()
                        ),
                        format!("--storage.path={}", am_dir.join("data").display()),
                        format!("--web.listen-address=127.0.0.1:{}", ports.alertmanager()),
                        "--cluster.listen-address=".into(),
                    ],
                    env: vec![],
                },
                config.run_dir.join("alertmanager.log"),
                true,
            )?;
            for (i, (name, cap)) in rule_sets(&config.rule_variants).into_iter().enumerate() {
                let prom_dir = config.run_dir.join(format!("prometheus-{name}"));
                std::fs::create_dir_all(&prom_dir)?;
                let rules = match cap {
                    None => rules.clone(),
                    Some(cap) => {
                        let dir = prom_dir.join("rules");
                        std::fs::create_dir_all(&dir)?;
                        std::fs::copy(rules.join("recording.yml"), dir.join("recording.yml"))?;
                        let alerts = std::fs::read_to_string(rules.join("alerts.yml"))?;
                        std::fs::write(dir.join("alerts.yml"), cap_for(&alerts, cap))?;
                        dir
                    }
                };
                std::fs::write(
                    prom_dir.join("prometheus.yml"),
                    prometheus_config(&config, &rules, &name)?,
                )?;
                keep(
                    &sup,
                    &format!("prometheus-{name}"),
                    Spec {
                        program: prom.clone(),
                        args: vec![
                            format!(
                                "--config.file={}",
                                prom_dir.join("prometheus.yml").display()
                            ),
                            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
                            format!("--web.listen-address=127.0.0.1:{}", ports.prometheus(i)),
                        ],
                        env: vec![],
                    },
                    config.run_dir.join(format!("prometheus-{name}.log")),
                    true,
                )?;
                wait_http(
                    &http,
                    &format!("http://127.0.0.1:{}/-/ready", ports.prometheus(i)),
                    Duration::from_secs(60),
                )
                .await
                .map_err(|e| anyhow::anyhow!("prometheus ({name}) did not become ready: {e}"))?;
                rulesets.push(name);
            }
            wait_http(
                &http,
                &format!("http://127.0.0.1:{}/-/ready", ports.alertmanager()),
                Duration::from_secs(60),
            )
            .await
            .map_err(|e| anyhow::anyhow!("alertmanager did not become ready: {e}"))?;
        }

        let prober = tokio::spawn(probe_readiness(http.clone(), ports));
        keep(
            &sup,
            "load",
            Spec {
                program: config.shop.clone(),
                args: vec![
                    "load".into(),
                    "--target".into(),
                    format!("http://127.0.0.1:{}", ports.service("frontend")),
                    "--users".into(),
                    scenario.load.users.to_string(),
                    "--steps".into(),
                    load_steps(scenario),
                    "--seed".into(),
                    "7".into(),
                ],
                env: vec![],
            },
            config.run_dir.join("load.log"),
            false,
        )?;
        Ok(Stack {
            config,
            http,
            sup,
            rulesets,
            receiver,
            control,
            alerts,
            prober,
            reapply: BTreeMap::new(),
            reapplied: Arc::default(),
        })
    }

    pub fn run_dir(&self) -> &Path {
        &self.config.run_dir
    }

    pub fn playbooks_on(&self) -> bool {
        self.config.playbooks.is_some()
    }

    pub fn engine_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.ports.engine())
    }

    /// The alert rule sets running beside the engine (none when the alert
    /// rules are not compared).
    pub fn rulesets(&self) -> Vec<String> {
        self.rulesets.clone()
    }

    /// How often each fault was applied again to a restarted process.
    pub fn reapplied(&self) -> BTreeMap<String, u32> {
        self.reapplied.lock().clone()
    }

    fn chaos_url(&self, service: &str) -> String {
        format!(
            "http://127.0.0.1:{}/admin/chaos",
            self.config.ports.service(service)
        )
    }

    pub async fn inject(&mut self, fault: &Fault) -> anyhow::Result<()> {
        match &fault.action {
            FaultAction::Chaos(body) => {
                post_fault(
                    &self.http,
                    &self.chaos_url(&fault.service),
                    &self.config.admin_token,
                    body,
                )
                .await?;
                if !shop_topology::CURED_BY_RESTART.contains(&fault.kind.as_str()) {
                    self.reapply_after_restarts(fault, body.clone());
                }
            }
            FaultAction::Release { version, faults } => {
                let release = Release {
                    version: version.clone(),
                    env: [(
                        SHOP_ENV_FAULTS.to_owned(),
                        Value::Array(faults.clone()).to_string(),
                    )]
                    .into(),
                };
                self.sup.deploy(&fault.service, release).await?;
            }
        }
        Ok(())
    }

    /// A fault that lives in the code comes back with every new process of
    /// the service (a crash loop, a supervisor's or a playbook's restart)
    /// until the scenario clears it.
    fn reapply_after_restarts(&mut self, fault: &Fault, body: Value) {
        let Some(mut starts) = self.sup.starts(&fault.service) else {
            return;
        };
        starts.borrow_and_update();
        let http = self.http.clone();
        let url = self.chaos_url(&fault.service);
        let token = self.config.admin_token.clone();
        let health = url.replace("/admin/chaos", "/healthz");
        let label = fault.label();
        let counts = self.reapplied.clone();
        let task = tokio::spawn({
            let label = label.clone();
            async move {
                while starts.changed().await.is_ok() {
                    if wait_http(&http, &health, Duration::from_secs(30))
                        .await
                        .is_ok()
                        && post_fault(&http, &url, &token, &body).await.is_ok()
                    {
                        *counts.lock().entry(label.clone()).or_default() += 1;
                    }
                }
            }
        });
        if let Some(old) = self.reapply.insert(label, task) {
            old.abort();
        }
    }

    pub async fn clear(&mut self, fault: &Fault) -> anyhow::Result<()> {
        if let Some(task) = self.reapply.remove(&fault.label()) {
            task.abort();
        }
        match &fault.action {
            FaultAction::Chaos(_) => {
                // a crashed service may be between restarts: retry a little
                let url = self.chaos_url(&fault.service);
                let health = url.replace("/admin/chaos", "/healthz");
                let _ = wait_http(&self.http, &health, Duration::from_secs(30)).await;
                let response = self
                    .http
                    .delete(&url)
                    .bearer_auth(&self.config.admin_token)
                    .send()
                    .await?;
                if !response.status().is_success() {
                    anyhow::bail!(
                        "clearing faults of {} answered {}",
                        fault.service,
                        response.status()
                    );
                }
            }
            FaultAction::Release { version, .. } => {
                // the release the service ran before, unless something (a
                // playbook's roll-back) already took the bad one away
                let running = self.sup.state(&fault.service).map(|s| s.release.version);
                if running.as_deref() == Some(version.as_str()) {
                    self.sup.deploy(&fault.service, Release::default()).await?;
                }
            }
        }
        Ok(())
    }

    /// Each service's exits that nobody asked for (crashes the supervisor
    /// recovered), and its restarts that someone asked for (a playbook's).
    pub fn restarts(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let services: Vec<supervisor::ProcessState> = self
            .sup
            .states()
            .into_iter()
            .filter(|s| shop_topology::service(&s.name).is_some())
            .collect();
        (
            services
                .iter()
                .map(|s| (s.name.clone(), s.crashes))
                .collect(),
            services
                .iter()
                .map(|s| (s.name.clone(), s.restarts))
                .collect(),
        )
    }

    pub async fn down(mut self) {
        for (_, task) in std::mem::take(&mut self.reapply) {
            task.abort();
        }
        self.prober.abort();
        // the load, then callers before callees, so the last requests find
        // their peers; the engine last, so it sees the end
        let mut order = vec!["load"];
        order.extend(START_ORDER.iter().rev());
        let prometheus: Vec<String> = self
            .rulesets
            .iter()
            .map(|r| format!("prometheus-{r}"))
            .collect();
        order.extend(prometheus.iter().map(String::as_str));
        order.push("alertmanager");
        self.sup.stop_all(&order).await;
        for (handle, stop) in [self.receiver.take(), self.control.take()]
            .into_iter()
            .flatten()
        {
            let _ = stop.send(());
            let _ = handle.await;
        }
    }
}

async fn post_fault(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<()> {
    let response = http.post(url).bearer_auth(token).json(body).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("{url} refused the fault {body}: {status} {text}");
    }
    Ok(())
}

pub async fn wait_http(http: &reqwest::Client, url: &str, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::from("no answer");
    while tokio::time::Instant::now() < deadline {
        match http.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{url} answered {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last)
}

async fn probe_readiness(http: reqwest::Client, ports: Ports) {
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    loop {
        ticker.tick().await;
        for service in shop_topology::names() {
            let url = format!("http://127.0.0.1:{}/readyz", ports.service(service));
            let _ = http.get(url).timeout(Duration::from_secs(2)).send().await;
        }
    }
}

/// `RATE@DURATION,...` for the load generator, from the scenario's steps.
pub fn load_steps(scenario: &Scenario) -> String {
    let mut points: Vec<(Duration, f64)> = vec![(Duration::ZERO, scenario.load.rate)];
    points.extend(scenario.load.steps.iter().map(|s| (s.at, s.rate)));
    let mut out = Vec::new();
    for (i, (at, rate)) in points.iter().enumerate() {
        let until = points
            .get(i + 1)
            .map(|(t, _)| *t)
            .unwrap_or(scenario.duration);
        let length = until.saturating_sub(*at).as_secs().max(1);
        out.push(format!("{rate}@{length}s"));
    }
    out.join(",")
}

fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn engine_config(config: &StackConfig, control_token: &str) -> String {
    let mut out = String::new();
    let interval = humantime::format_duration(config.scrape_interval);
    let _ = writeln!(out, "listen: \"127.0.0.1:{}\"", config.ports.engine());
    let _ = writeln!(out, "scrape:\n  interval: {interval}\n  jobs:");
    for service in shop_topology::names() {
        let _ = writeln!(
            out,
            "    - job: {service}\n      targets: [\"127.0.0.1:{}\"]\n      readiness_path: /readyz",
            config.ports.service(service)
        );
    }
    let database = format!("sqlite:{}", config.run_dir.join("incidents.db").display());
    let _ = writeln!(
        out,
        "incidents:\n  database: {}\n  evaluation_interval: {interval}",
        yaml_str(&database)
    );
    if let Some(playbooks) = &config.playbooks {
        let services: Vec<&str> = shop_topology::names().collect();
        let _ = writeln!(
            out,
            "remediation:\n  playbooks: {}\n  executor: process\n  supervisor:\n    url: \"http://127.0.0.1:{}\"\n    token: {}\n  allowed_targets: [{}]",
            yaml_str(&playbooks.display().to_string()),
            config.ports.control(),
            yaml_str(control_token),
            services.join(", ")
        );
    }
    out
}

/// The rule sets: the rules as written (`standard`), then one per variant
/// (`for-1m`: every `for:` capped at a minute).
pub fn rule_sets(variants: &[Duration]) -> Vec<(String, Option<Duration>)> {
    let mut out = vec![(super::receiver::STANDARD_RULESET.to_owned(), None)];
    for cap in variants.iter().take(MAX_RULE_VARIANTS) {
        out.push((
            format!("for-{}", humantime::format_duration(*cap)),
            Some(*cap),
        ));
    }
    out
}

/// The alert rules with every `for:` at most `cap`: the same expressions,
/// firing as soon as a team tuned for speed would let them.
pub fn cap_for(alerts_yml: &str, cap: Duration) -> String {
    let mut out = String::with_capacity(alerts_yml.len());
    for line in alerts_yml.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let capped = trimmed
            .strip_prefix("for:")
            .map(|v| v.split('#').next().unwrap_or_default().trim())
            .and_then(|v| humantime::parse_duration(v).ok())
            .map(|d| d.min(cap));
        match capped {
            Some(d) => {
                let _ = writeln!(out, "{indent}for: {}s", d.as_secs());
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn prometheus_config(config: &StackConfig, rules: &Path, ruleset: &str) -> anyhow::Result<String> {
    let interval = humantime::format_duration(config.scrape_interval);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n  external_labels: {{ruleset: {}}}",
        yaml_str(ruleset)
    );
    out.push_str("rule_files:\n");
    for name in ["recording.yml", "alerts.yml"] {
        let path = rules.join(name);
        if !path.is_file() {
            anyhow::bail!("{} is missing", path.display());
        }
        let path = path.canonicalize()?;
        let _ = writeln!(out, "  - {}", yaml_str(&path.display().to_string()));
    }
    let _ = writeln!(
        out,
        "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"127.0.0.1:{}\"]}}]",
        config.ports.alertmanager()
    );
    out.push_str("scrape_configs:\n");
    for service in shop_topology::names() {
        let _ = writeln!(
            out,
            "  - job_name: {service}\n    static_configs: [{{targets: [\"127.0.0.1:{}\"]}}]",
            config.ports.service(service)
        );
    }
    Ok(out)
}

/// Alertmanager as an on-call setup would have it, with a short group wait
/// so that its delay does not dominate the comparison.
fn alertmanager_config(receiver_port: u16) -> String {
    format!(
        "route:\n  receiver: harness\n  group_by: [ruleset, alertname, service]\n  group_wait: 5s\n  group_interval: 10s\n  repeat_interval: 1h\nreceivers:\n  - name: harness\n    webhook_configs:\n      - url: \"http://127.0.0.1:{receiver_port}/alerts\"\n        send_resolved: true\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::scenario::parse;

    #[test]
    fn load_steps_cover_the_scenario() {
        let s = parse("name: x\nduration: 5m\nload: {rate: 20, steps: [{at: 1m, rate: 30}, {at: 3m, rate: 10}]}\n")
            .expect("scenario");
        assert_eq!(load_steps(&s), "20@60s,30@120s,10@120s");
    }

    #[test]
    fn fast_variants_cap_every_for() {
        let rules = "groups:\n  - rules:\n      - alert: A\n        for: 15m\n        # for: 10m in a comment stays\n      - alert: B\n        for: 30s # short\n      - alert: C\n";
        let capped = cap_for(rules, Duration::from_secs(60));
        assert!(capped.contains("        for: 60s\n"), "{capped}");
        assert!(capped.contains("        for: 30s\n"), "{capped}");
        assert!(capped.contains("# for: 10m in a comment stays"), "{capped}");
        assert!(cap_for(rules, Duration::ZERO).matches("for: 0s").count() == 2);
        let sets = rule_sets(&[Duration::from_secs(60), Duration::ZERO]);
        let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["standard", "for-1m", "for-0s"]);
    }

    #[test]
    fn the_real_rules_get_shorter_but_keep_every_alert() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../rules/prometheus/alerts.yml");
        let rules = std::fs::read_to_string(path).expect("alerts.yml");
        let capped = cap_for(&rules, Duration::from_secs(60));
        assert_eq!(
            rules.matches("- alert:").count(),
            capped.matches("- alert:").count()
        );
        assert!(rules.contains("for: 15m") && !capped.contains("for: 15m"));
        assert_eq!(rules.lines().count(), capped.lines().count());
    }

    #[test]
    fn ports_do_not_overlap() {
        let ports = Ports { base: 18080 };
        let mut all = ports.all();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(ports.service("frontend"), 18080);
        assert_eq!(ports.service("recommendation"), 18086);
    }
}
