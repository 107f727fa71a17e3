//! The engine's configuration: a YAML file, then environment overrides.
//! Every error names the field and the reason; the binary prints it and
//! exits 64 before binding a port.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

mod access;
mod console;
mod llm;
mod notifications;
mod remediation;

pub use access::{ApiAccess, ApiToken, Role};
pub use console::ConsoleConfig;
pub use llm::LlmConfig;
pub use notifications::{NotificationsConfig, Secret, SlackConfig, SmtpConfig, SmtpTls};
pub use remediation::{ArgoCdConfig, ExecutorConfig, GitOpsConfig, RemediationConfig};

pub const EXIT_CONFIG: i32 = 64;

/// Where environment overrides come from, so tests never set process env.
pub trait EnvSource {
    fn var(&self, key: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl EnvSource for std::collections::HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// Bearer tokens accepted on the ingest endpoints; empty leaves them open.
    pub ingest_tokens: Vec<String>,
    pub retention: Duration,
    pub max_active_series: usize,
    /// Line bytes the log store holds at most, over all streams.
    pub max_log_bytes: usize,
    /// Ingest requests decoded at once; more wait up to `queue_wait`, then get 429.
    pub max_inflight_ingest: usize,
    pub queue_wait: Duration,
    pub limits: aiops_ingest::Limits,
    pub scrape: ScrapeConfig,
    pub incidents: IncidentsConfig,
    /// Containers watched through the Docker Engine API; off when `None`.
    pub docker: Option<DockerConfig>,
    /// API tokens and their roles.
    pub api: ApiAccess,
    pub remediation: RemediationConfig,
    /// Console users and sessions.
    pub console: ConsoleConfig,
    /// The model that writes summaries; none: deterministic summaries only.
    pub llm: Option<LlmConfig>,
    /// Redact IP addresses from what the engine shows or sends (secrets,
    /// e-mail addresses and card numbers always are).
    pub redact_ip_addresses: bool,
    /// Where incident notifications go; none: the console and API only.
    pub notifications: Option<NotificationsConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DockerConfig {
    /// The engine's unix socket.
    pub socket: String,
    /// The label naming a container's service (compose's by default).
    pub service_label: String,
    /// Only this compose project's containers, when set.
    pub project: Option<String>,
    /// Looks at the containers at least this often, besides on events.
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentsConfig {
    /// `sqlite:<path>` (created if missing) or `postgres://...`.
    pub database: String,
    /// How often the analysis derives service signals and runs detectors.
    pub evaluation_interval: Duration,
    /// An incident with no active signal for this long is resolved.
    pub resolve_after: Duration,
    /// Detector settings, metric names, dependencies (`rules/detectors.yaml`).
    pub rules: Option<aiops_analysis::RulesFile>,
    /// Each service's log digest covers this window (what changed in its
    /// logs since the last one).
    pub log_digest_window: Duration,
    /// Several engines share the database and the one holding this lease
    /// persists incidents, notifies and acts; the others ingest and detect,
    /// ready to take over. `None`: this engine acts alone.
    pub leader_lease: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub jobs: Vec<ScrapeJob>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeJob {
    pub job: String,
    /// `host:port` targets; the path is `/metrics`.
    pub targets: Vec<String>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// Also probe this path (e.g. `/readyz`) after each scrape, as a
    /// readiness probe would, recorded as `aiops_target_ready` 1 (2xx) or 0.
    #[serde(default)]
    pub readiness_path: Option<String>,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

/// The file as written; durations are strings such as `15s` or `3h`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    scrape: RawScrape,
    #[serde(default)]
    incidents: RawIncidents,
    docker: Option<RawDocker>,
    remediation: Option<remediation::RawRemediation>,
    console: Option<console::RawConsole>,
    llm: Option<llm::RawLlm>,
    notifications: Option<notifications::RawNotifications>,
    #[serde(default)]
    redaction: RawRedaction,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedaction {
    ip_addresses: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    socket: Option<String>,
    service_label: Option<String>,
    project: Option<String>,
    poll_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    database: Option<String>,
    evaluation_interval: Option<String>,
    resolve_after: Option<String>,
    rules: Option<String>,
    log_digest_window: Option<String>,
    leader_lease: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    ingest_tokens: Vec<String>,
    #[serde(default)]
    api_tokens: Vec<ApiToken>,
    anonymous_read: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    retention: Option<String>,
    max_active_series: Option<usize>,
    max_log_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    max_inflight_requests: Option<usize>,
    queue_wait: Option<String>,
    max_body_bytes: Option<usize>,
    max_decoded_bytes: Option<usize>,
    max_series_per_request: Option<usize>,
    max_samples_per_request: Option<usize>,
    max_labels_per_series: Option<usize>,
    max_label_name_length: Option<usize>,
    max_label_value_length: Option<usize>,
    max_line_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrape {
    interval: Option<String>,
    timeout: Option<String>,
    #[serde(default)]
    jobs: Vec<ScrapeJob>,
}

/// The `docker` section, or `AIOPS_DOCKER_SOCKET` alone, turns the watcher
/// on; `AIOPS_DOCKER_PROJECT` names the compose project to watch.
fn docker_config(
    raw: Option<RawDocker>,
    env: &dyn EnvSource,
) -> Result<Option<DockerConfig>, ConfigError> {
    let socket_env = env.var("AIOPS_DOCKER_SOCKET");
    if raw.is_none() && socket_env.is_none() {
        return Ok(None);
    }
    let raw = raw.unwrap_or_default();
    let socket = socket_env
        .or(raw.socket)
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let path = socket.trim_start_matches("unix://");
    if !path.starts_with('/') || path.len() > 4096 {
        return Err(ConfigError::new(
            "docker.socket",
            format!("{socket:?} is not an absolute path to a unix socket"),
        ));
    }
    let service_label = raw
        .service_label
        .unwrap_or_else(|| "com.docker.compose.service".into());
    if service_label.is_empty()
        || service_label.len() > 256
        || service_label.contains(['=', ' ', ','])
    {
        return Err(ConfigError::new(
            "docker.service_label",
            format!("{service_label:?} must be 1 to 256 characters without '=', ',' or spaces"),
        ));
    }
    let project = env.var("AIOPS_DOCKER_PROJECT").or(raw.project);
    if let Some(project) = &project {
        let valid = !project.is_empty()
            && project.len() <= 128
            && project
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(ConfigError::new(
                "docker.project",
                format!("{project:?} is not a compose project name ([a-z0-9_-], at most 128)"),
            ));
        }
    }
    let poll_interval = duration(
        "docker.poll_interval",
        raw.poll_interval.as_deref(),
        Duration::from_secs(5),
        Duration::from_millis(500),
        Duration::from_secs(300),
    )?;
    Ok(Some(DockerConfig {
        socket: path.to_owned(),
        service_label,
        project,
        poll_interval,
    }))
}

fn duration(
    field: &str,
    raw: Option<&str>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    let parsed = humantime::parse_duration(raw.trim()).map_err(|e| {
        ConfigError::new(
            field,
            format!("{raw:?} is not a duration like 15s or 3h: {e}"),
        )
    })?;
    if parsed < min || parsed > max {
        return Err(ConfigError::new(
            field,
            format!(
                "{raw} is outside {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(parsed)
}

fn bounded(
    field: &str,
    value: Option<usize>,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(ConfigError::new(
            field,
            format!("{v} is outside {min}..={max}"),
        )),
    }
}

/// Reads and checks a rules file; every error names the file and the entry.
fn load_rules(path: &str) -> Result<aiops_analysis::RulesFile, ConfigError> {
    let field = "incidents.rules";
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(field, format!("cannot read {path}: {e}")))?;
    let rules: aiops_analysis::RulesFile = serde_saphyr::from_str(&text)
        .map_err(|e| ConfigError::new(field, format!("{path}: {e}")))?;
    rules
        .clone()
        .apply(&mut aiops_analysis::AnalysisConfig::default())
        .map_err(|e| ConfigError::new(field, format!("{path}: {e}")))?;
    Ok(rules)
}

impl Config {
    /// Parses YAML text, applies environment overrides, validates.
    pub fn parse(yaml: &str, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        Self::parse_in(yaml, env, None)
    }

    /// [`Config::parse`] for a file in `base`: relative paths in it (the
    /// rules file) are read relative to the file, not to the working directory.
    pub fn parse_in(
        yaml: &str,
        env: &dyn EnvSource,
        base: Option<&std::path::Path>,
    ) -> Result<Config, ConfigError> {
        let mut raw: RawConfig = if yaml.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(yaml).map_err(|e| ConfigError::new("(file)", e.to_string()))?
        };
        let listen_raw = env
            .var("AIOPS_LISTEN")
            .or(raw.listen)
            .unwrap_or_else(|| "127.0.0.1:9800".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|e| {
            ConfigError::new("listen", format!("{listen_raw:?} is not host:port: {e}"))
        })?;
        let ingest_tokens = match env.var("AIOPS_INGEST_TOKENS") {
            Some(list) => list
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            None => std::mem::take(&mut raw.auth.ingest_tokens),
        };
        for (i, token) in ingest_tokens.iter().enumerate() {
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    format!("auth.ingest_tokens[{i}]"),
                    "a token must be at least 16 printable characters without spaces",
                ));
            }
        }
        let retention_raw = env.var("AIOPS_RETENTION").or(raw.store.retention);
        let retention = duration(
            "store.retention",
            retention_raw.as_deref(),
            Duration::from_secs(3 * 3600),
            Duration::from_secs(60),
            Duration::from_secs(7 * 86_400),
        )?;
        let max_series_env = match env.var("AIOPS_MAX_ACTIVE_SERIES") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|e| ConfigError::new("AIOPS_MAX_ACTIVE_SERIES", e.to_string()))?,
            ),
            None => raw.store.max_active_series,
        };
        let max_active_series = bounded(
            "store.max_active_series",
            max_series_env,
            500_000,
            1,
            50_000_000,
        )?;
        let max_log_bytes = bounded(
            "store.max_log_bytes",
            raw.store.max_log_bytes,
            aiops_core::limits::DEFAULT_MAX_LOG_BYTES,
            1024 * 1024,
            64 * 1024 * 1024 * 1024,
        )?;
        let ing = raw.ingest;
        let defaults = aiops_ingest::Limits::default();
        let limits = aiops_ingest::Limits {
            max_body_bytes: bounded(
                "ingest.max_body_bytes",
                ing.max_body_bytes,
                defaults.max_body_bytes,
                1024,
                1 << 30,
            )?,
            max_decoded_bytes: bounded(
                "ingest.max_decoded_bytes",
                ing.max_decoded_bytes,
                defaults.max_decoded_bytes,
                1024,
                4 << 30,
            )?,
            max_series_per_request: bounded(
                "ingest.max_series_per_request",
                ing.max_series_per_request,
                defaults.max_series_per_request,
                1,
                10_000_000,
            )?,
            max_samples_per_request: bounded(
                "ingest.max_samples_per_request",
                ing.max_samples_per_request,
                defaults.max_samples_per_request,
                1,
                100_000_000,
            )?,
            max_labels_per_series: bounded(
                "ingest.max_labels_per_series",
                ing.max_labels_per_series,
                defaults.max_labels_per_series,
                1,
                1024,
            )?,
            max_label_name_len: bounded(
                "ingest.max_label_name_length",
                ing.max_label_name_length,
                defaults.max_label_name_len,
                1,
                65_536,
            )?,
            max_label_value_len: bounded(
                "ingest.max_label_value_length",
                ing.max_label_value_length,
                defaults.max_label_value_len,
                1,
                1 << 20,
            )?,
            max_line_bytes: bounded(
                "ingest.max_line_bytes",
                ing.max_line_bytes,
                defaults.max_line_bytes,
                64,
                16 << 20,
            )?,
            ..defaults
        };
        if limits.max_decoded_bytes < limits.max_body_bytes {
            return Err(ConfigError::new(
                "ingest.max_decoded_bytes",
                "must be at least ingest.max_body_bytes",
            ));
        }
        let max_inflight_ingest = bounded(
            "ingest.max_inflight_requests",
            ing.max_inflight_requests,
            64,
            1,
            100_000,
        )?;
        let queue_wait = duration(
            "ingest.queue_wait",
            ing.queue_wait.as_deref(),
            Duration::from_millis(500),
            Duration::ZERO,
            Duration::from_secs(60),
        )?;
        let scrape_interval_raw = env.var("AIOPS_SCRAPE_INTERVAL").or(raw.scrape.interval);
        let interval = duration(
            "scrape.interval",
            scrape_interval_raw.as_deref(),
            Duration::from_secs(15),
            Duration::from_millis(100),
            Duration::from_secs(3600),
        )?;
        let timeout = duration(
            "scrape.timeout",
            raw.scrape.timeout.as_deref(),
            interval.min(Duration::from_secs(10)),
            Duration::from_millis(10),
            Duration::from_secs(3600),
        )?;
        if timeout > interval {
            return Err(ConfigError::new(
                "scrape.timeout",
                "must not be longer than scrape.interval",
            ));
        }
        for (i, job) in raw.scrape.jobs.iter().enumerate() {
            if job.job.is_empty() || job.job.len() > 128 {
                return Err(ConfigError::new(
                    format!("scrape.jobs[{i}].job"),
                    "must be 1 to 128 characters",
                ));
            }
            if !job.metrics_path.starts_with('/') {
                return Err(ConfigError::new(
                    format!("scrape.jobs[{i}].metrics_path"),
                    "must start with /",
                ));
            }
            if job
                .readiness_path
                .as_ref()
                .is_some_and(|p| !p.starts_with('/') || p.len() > 1024)
            {
                return Err(ConfigError::new(
                    format!("scrape.jobs[{i}].readiness_path"),
                    "must start with / (at most 1024 characters)",
                ));
            }
            for (j, target) in job.targets.iter().enumerate() {
                let valid = target.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                });
                if !valid {
                    return Err(ConfigError::new(
                        format!("scrape.jobs[{i}].targets[{j}]"),
                        format!("{target:?} is not host:port"),
                    ));
                }
            }
        }
        let database = env
            .var("AIOPS_DATABASE")
            .or(raw.incidents.database)
            .unwrap_or_else(|| "sqlite:aiops-incidents.db".into());
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "incidents.database",
                format!("{database:?} is neither sqlite:<path> nor postgres://..."),
            ));
        }
        let evaluation_interval = duration(
            "incidents.evaluation_interval",
            raw.incidents.evaluation_interval.as_deref(),
            interval.min(Duration::from_secs(15)),
            Duration::from_millis(100),
            Duration::from_secs(300),
        )?;
        let resolve_after = duration(
            "incidents.resolve_after",
            raw.incidents.resolve_after.as_deref(),
            Duration::from_secs(300),
            Duration::from_secs(1),
            Duration::from_secs(7 * 86_400),
        )?;
        let log_digest_window = duration(
            "incidents.log_digest_window",
            raw.incidents.log_digest_window.as_deref(),
            Duration::from_secs(300),
            Duration::from_secs(10),
            Duration::from_secs(86_400),
        )?;
        let leader_lease = match env.var("AIOPS_LEADER_LEASE").or(raw.incidents.leader_lease) {
            None => None,
            Some(raw) if raw.trim() == "off" => None,
            Some(raw) => Some(duration(
                "incidents.leader_lease",
                Some(&raw),
                Duration::from_secs(15),
                Duration::from_secs(3),
                Duration::from_secs(300),
            )?),
        };
        let rules = match env.var("AIOPS_RULES").or(raw.incidents.rules) {
            None => None,
            Some(path) => {
                let path = match base {
                    Some(base) if std::path::Path::new(&path).is_relative() => {
                        base.join(&path).display().to_string()
                    }
                    _ => path,
                };
                Some(load_rules(&path)?)
            }
        };
        let docker = docker_config(raw.docker, env)?;
        let config = Config {
            listen,
            ingest_tokens,
            retention,
            max_active_series,
            max_log_bytes,
            max_inflight_ingest,
            queue_wait,
            limits,
            scrape: ScrapeConfig {
                interval,
                timeout,
                jobs: raw.scrape.jobs,
            },
            incidents: IncidentsConfig {
                database,
                evaluation_interval,
                resolve_after,
                rules,
                log_digest_window,
                leader_lease,
            },
            api: access::api_access(raw.auth.api_tokens, raw.auth.anonymous_read, env)?,
            remediation: remediation::remediation(raw.remediation, env, base, docker.is_some())?,
            console: console::console(raw.console)?,
            llm: llm::llm(raw.llm, env)?,
            redact_ip_addresses: raw.redaction.ip_addresses.unwrap_or(true),
            notifications: notifications::notifications(
                raw.notifications,
                env,
                base,
                &listen.to_string(),
            )?,
            docker,
        };
        slack_people_exist(&config)?;
        Ok(config)
    }

    /// The people Slack users act as, with their roles.
    fn slack_people(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        Some(&self.notifications.as_ref()?.slack.as_ref()?.users)
    }

    pub fn load(path: &std::path::Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::parse_in(&text, env, path.parent())
    }
}

/// Every Slack user maps to a console user or an API token's name, whose
/// role they act with: a typo would otherwise leave someone unable to act.
fn slack_people_exist(config: &Config) -> Result<(), ConfigError> {
    let Some(users) = config.slack_people() else {
        return Ok(());
    };
    for (slack_id, name) in users {
        let known = config.console.users.iter().any(|u| &u.name == name)
            || config.api.tokens.iter().any(|t| &t.name == name);
        if !known {
            return Err(ConfigError::new(
                "notifications.slack.users",
                format!(
                    "{slack_id} maps to {name:?}, who is neither a console user nor an API token's name"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_kubernetes_executor_needs_an_allowed_namespace() {
        let none = env(&[]);
        let parse = |yaml: &str| Config::parse(yaml, &none).map(|c| c.remediation.executor);
        let e = parse("remediation: {executor: kubernetes}").expect_err("no namespace");
        assert_eq!(e.field, "remediation.kubernetes.namespace");
        assert_eq!(
            parse("remediation: {executor: kubernetes, kubernetes: {namespace: shop}}")
                .expect("valid"),
            Some(remediation::ExecutorConfig::Kubernetes {
                namespace: "shop".into(),
                allowed_namespaces: vec!["shop".into()],
                gitops: None,
            })
        );
        let with_gitops = |extra: &str, vars: &[(&str, &str)]| {
            Config::parse(
                &format!(
                    "remediation: {{executor: kubernetes, kubernetes: {{namespace: shop, gitops: {{repository: /data/deploy, file: deploy/k8s/overlays/prod/shop/kustomization.yaml, image: aiops/shop{extra}}}}}}}"
                ),
                &env(vars),
            )
            .map(|c| c.remediation.executor)
        };
        let Some(remediation::ExecutorConfig::Kubernetes {
            gitops: Some(g), ..
        }) = with_gitops("", &[]).expect("valid")
        else {
            panic!("gitops configured");
        };
        assert_eq!((g.remote.as_str(), g.branch.as_str()), ("origin", "main"));
        let e = with_gitops(
            ", argocd: {url: \"https://argocd.example\", application: shop}",
            &[],
        )
        .expect_err("no token");
        assert_eq!(e.field, "remediation.kubernetes.gitops.argocd.token_env");
        assert!(
            with_gitops(
                ", argocd: {url: \"https://argocd.example\", application: shop}",
                &[("AIOPS_ARGOCD_TOKEN", "t")]
            )
            .is_ok()
        );
        let e = Config::parse(
            "remediation: {executor: kubernetes, kubernetes: {namespace: shop, gitops: {repository: /d, file: ../../etc/passwd, image: x}}}",
            &none,
        )
        .expect_err("outside the repository");
        assert_eq!(e.field, "remediation.kubernetes.gitops.file");
        let e = Config::parse(
            "remediation: {executor: kubernetes, kubernetes: {namespace: shop, gitops: {repository: /d, file: k.yaml, image: x, branch: --force}}}",
            &none,
        )
        .expect_err("an option, not a branch");
        assert_eq!(e.field, "remediation.kubernetes.gitops");
        let e = parse(
            "remediation: {executor: kubernetes, kubernetes: {namespace: shop, allowed_namespaces: [shop-dev]}}",
        )
        .expect_err("not allowed");
        assert_eq!(e.field, "remediation.kubernetes.allowed_namespaces");
        let e = parse("remediation: {executor: kubernetes, kubernetes: {namespace: Kube_System}}")
            .expect_err("not a name");
        assert!(e.reason.contains("not a namespace name"), "{e:?}");
        let e = parse("remediation: {executor: k8s}").expect_err("unknown");
        assert!(
            e.reason.contains("process, docker, kubernetes or none"),
            "{e:?}"
        );
    }

    #[test]
    fn docker_is_off_unless_configured_and_checked_when_it_is() {
        let none = env(&[]);
        assert_eq!(Config::parse("", &none).expect("defaults").docker, None);
        let on = Config::parse("docker: {}", &none)
            .expect("docker defaults")
            .docker
            .expect("docker on");
        assert_eq!(on.socket, "/var/run/docker.sock");
        assert_eq!(on.service_label, "com.docker.compose.service");
        assert_eq!(on.project, None);
        assert_eq!(on.poll_interval, Duration::from_secs(5));
        let by_env = Config::parse(
            "",
            &env(&[
                ("AIOPS_DOCKER_SOCKET", "unix:///run/docker.sock"),
                ("AIOPS_DOCKER_PROJECT", "shop_e2e"),
            ]),
        )
        .expect("env")
        .docker
        .expect("docker on by env");
        assert_eq!(by_env.socket, "/run/docker.sock");
        assert_eq!(by_env.project.as_deref(), Some("shop_e2e"));
        for (yaml, field) in [
            ("docker: {socket: docker.sock}", "docker.socket"),
            ("docker: {service_label: \"a=b\"}", "docker.service_label"),
            ("docker: {project: \"My Shop\"}", "docker.project"),
            ("docker: {poll_interval: 1ms}", "docker.poll_interval"),
        ] {
            let e = Config::parse(yaml, &none).expect_err(yaml);
            assert_eq!(e.field, field, "{yaml}: {e}");
        }
        let e = Config::parse("docker: {sockets: /x}", &none).expect_err("unknown field");
        assert!(e.reason.contains("sockets"), "{e}");
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_leader_lease_is_a_bounded_duration_or_off() {
        let parse = |yaml: &str, vars: &[(&str, &str)]| Config::parse(yaml, &env(vars));
        assert_eq!(parse("", &[]).expect("none").incidents.leader_lease, None);
        let c = parse("incidents: {leader_lease: 15s}", &[]).expect("15s");
        assert_eq!(c.incidents.leader_lease, Some(Duration::from_secs(15)));
        let c = parse(
            "incidents: {leader_lease: 15s}",
            &[("AIOPS_LEADER_LEASE", "off")],
        );
        assert_eq!(c.expect("off").incidents.leader_lease, None);
        for bad in ["1s", "1h", "soon"] {
            let e = parse(&format!("incidents: {{leader_lease: {bad}}}"), &[]).expect_err(bad);
            assert_eq!(e.field, "incidents.leader_lease", "{bad}: {e:?}");
        }
    }

    #[test]
    fn the_sample_config_is_valid() {
        let text = include_str!("../../../../aiops.example.yaml");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = Config::parse_in(text, &env(&[]), Some(&root)).expect("sample config");
        assert!(config.incidents.rules.is_some());
        assert_eq!(config.listen.port(), 9800);
        assert_eq!(config.retention, Duration::from_secs(3 * 3600));
    }

    #[test]
    fn the_shipped_detector_rules_are_valid_and_bad_ones_are_refused() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/detectors.yaml");
        let config = Config::parse(&format!("incidents: {{rules: {shipped}}}"), &env(&[]))
            .expect("rules/detectors.yaml");
        assert!(
            config
                .incidents
                .rules
                .is_some_and(|r| !r.detectors.is_empty())
        );
        let dir = std::env::temp_dir().join(format!("aiops-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (text, needle) in [
            ("detectors: [{signal: error_ratio, window: 1}]", "window"),
            ("detectors: [{signal: error_ratio, typo: 1}]", "typo"),
            ("dependencies: [{caller: a, callee: a}]", "dependencies[0]"),
            ("detectors: {", "rules"),
        ] {
            let path = dir.join("rules.yaml");
            std::fs::write(&path, text).expect("write");
            let err = Config::parse(
                &format!("incidents: {{rules: {}}}", path.display()),
                &env(&[]),
            )
            .expect_err(text);
            assert_eq!(err.field, "incidents.rules");
            assert!(err.reason.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::parse(
            "listen: 127.0.0.1:1\nstore: {retention: 1h}\n",
            &env(&[
                ("AIOPS_LISTEN", "127.0.0.1:2"),
                ("AIOPS_RETENTION", "2h"),
                ("AIOPS_INGEST_TOKENS", "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.listen.port(), 2);
        assert_eq!(config.retention, Duration::from_secs(7200));
        assert_eq!(config.ingest_tokens.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        for (yaml, field) in [
            ("listen: nowhere", "listen"),
            ("store: {retention: forever}", "store.retention"),
            ("store: {retention: 1s}", "store.retention"),
            ("store: {max_active_series: 0}", "store.max_active_series"),
            ("store: {max_log_bytes: 1000}", "store.max_log_bytes"),
            ("auth: {ingest_tokens: [short]}", "auth.ingest_tokens[0]"),
            ("scrape: {interval: 5s, timeout: 10s}", "scrape.timeout"),
            (
                "scrape: {jobs: [{job: shop, targets: ['nohost']}]}",
                "scrape.jobs[0].targets[0]",
            ),
            (
                "scrape: {jobs: [{job: shop, targets: [], metrics_path: metrics}]}",
                "scrape.jobs[0].metrics_path",
            ),
            (
                "scrape: {jobs: [{job: shop, targets: [], readiness_path: readyz}]}",
                "scrape.jobs[0].readiness_path",
            ),
            ("ingest: {max_body_bytes: 5}", "ingest.max_body_bytes"),
            ("incidents: {database: 'mysql://x'}", "incidents.database"),
            ("incidents: {resolve_after: 0s}", "incidents.resolve_after"),
            (
                "incidents: {log_digest_window: 1s}",
                "incidents.log_digest_window",
            ),
            (
                "incidents: {rules: /nonexistent/rules.yaml}",
                "incidents.rules",
            ),
            ("notifications: {}", "notifications.routing"),
            (
                "notifications: {routing: /no/such/notify.yaml}",
                "notifications.routing",
            ),
            // its receivers' secrets are not in this environment
            (
                "notifications: {routing: ../../rules/notify.yaml}",
                "notifications.routing",
            ),
            ("notifications: {color: red}", "(file)"),
            (
                "auth: {api_tokens: [{name: a, role: boss, token: aaaaaaaaaaaaaaaaaa}]}",
                "(file)",
            ),
            (
                "auth: {api_tokens: [{name: a, role: admin, token: short}]}",
                "auth.api_tokens[0].token",
            ),
            (
                "auth: {api_tokens: [{name: 'a b', role: admin, token: aaaaaaaaaaaaaaaaaa}]}",
                "auth.api_tokens[0].name",
            ),
            (
                "auth: {api_tokens: [{name: a, role: admin, token: aaaaaaaaaaaaaaaaaa}, {name: b, role: viewer, token: aaaaaaaaaaaaaaaaaa}]}",
                "auth.api_tokens[1].token",
            ),
            ("remediation: {executor: ssh}", "remediation.executor"),
            (
                "remediation: {executor: process}",
                "remediation.supervisor.url",
            ),
            (
                "remediation: {executor: process, supervisor: {url: 'ftp://x', token: abcdefgh}}",
                "remediation.supervisor.url",
            ),
            (
                "remediation: {executor: process, supervisor: {url: 'http://x:1'}}",
                "remediation.supervisor.token",
            ),
            ("remediation: {executor: docker}", "remediation.executor"),
            (
                "remediation: {playbooks: /nonexistent/playbooks}",
                "remediation.playbooks",
            ),
            (
                "remediation: {max_concurrent_actions: 0}",
                "remediation.max_concurrent_actions",
            ),
            (
                "remediation: {approval_ttl: 1s}",
                "remediation.approval_ttl",
            ),
            ("bogus: 1", "(file)"),
            ("listen: [1, 2", "(file)"),
        ] {
            let err = Config::parse(yaml, &env(&[])).expect_err(yaml);
            assert_eq!(err.field, field, "{yaml}: {err}");
        }
        let err =
            Config::parse("", &env(&[("AIOPS_MAX_ACTIVE_SERIES", "lots")])).expect_err("bad env");
        assert_eq!(err.field, "AIOPS_MAX_ACTIVE_SERIES");
        let err = Config::parse(
            "",
            &env(&[("AIOPS_API_TOKENS", "alice:chief:aaaaaaaaaaaaaaaaaa")]),
        )
        .expect_err("bad role");
        assert_eq!(err.field, "AIOPS_API_TOKENS[0]");
    }

    #[test]
    fn the_shipped_playbooks_load_and_a_broken_one_is_placed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = Config::parse_in(
            "remediation: {playbooks: rules/playbooks, executor: process, supervisor: {url: 'http://127.0.0.1:9801', token: abcdefgh}}\n\
             auth: {api_tokens: [{name: ops, role: admin, token: aaaaaaaaaaaaaaaaaaaa}]}\n",
            &env(&[]),
            Some(&root),
        )
        .expect("valid");
        assert_eq!(config.remediation.playbooks.len(), 4);
        assert!(matches!(
            config.remediation.executor,
            Some(ExecutorConfig::Process { .. })
        ));
        assert!(
            !format!("{config:?}").contains("aaaaaaaaaaaaaaaaaaaa"),
            "tokens never in Debug"
        );
        let dir =
            std::env::temp_dir().join(format!("aiops-broken-playbooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("bad.yaml"),
            "name: x\nwhen: {}\nsteps:\n  - action: explode\n",
        )
        .expect("write");
        let err = Config::parse(
            &format!("remediation: {{playbooks: {}}}", dir.display()),
            &env(&[]),
        )
        .expect_err("broken");
        assert_eq!(err.field, "remediation.playbooks");
        assert!(err.reason.contains("bad.yaml:4:"), "{}", err.reason);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
