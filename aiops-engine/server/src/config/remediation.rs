//! The `remediation:` section: which playbooks, acting through which
//! target, within which engine-wide limits. Playbooks are read and checked
//! here, so a broken one stops the engine before it binds a port, with
//! `file:line:column`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aiops_playbooks::{Playbook, Settings};
use serde::Deserialize;

use super::{ConfigError, EnvSource, duration};

/// Where actions are carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorConfig {
    /// The process supervisor's control API (`shop up --control`, `aiops demo`).
    Process { url: String, token: String },
    /// The Docker Engine of the `docker:` section.
    Docker,
    /// The Kubernetes API: a service is the Deployment of its name in
    /// `namespace`, which must be one of `allowed_namespaces`.
    Kubernetes {
        namespace: String,
        allowed_namespaces: Vec<String>,
        /// Roll-backs as git reverts Argo CD syncs, when set.
        gitops: Option<GitOpsConfig>,
    },
}

/// Where a roll-back is committed when Argo CD owns the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOpsConfig {
    /// The engine's clone of the deployment repository.
    pub repository: PathBuf,
    pub remote: String,
    pub branch: String,
    /// The kustomization whose `images:` carries the tag, in the repository.
    pub file: PathBuf,
    /// The image whose tag a roll-back reverts (`aiops/shop`).
    pub image: String,
    pub argocd: Option<ArgoCdConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoCdConfig {
    pub url: String,
    pub application: String,
    pub token: super::Secret,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemediationConfig {
    pub playbooks: Vec<Playbook>,
    /// Where they were read from, for the record.
    pub source: Option<PathBuf>,
    /// The switch's position at the first start (the API changes it, and
    /// a change is kept across restarts).
    pub enabled: bool,
    pub executor: Option<ExecutorConfig>,
    pub settings: Settings,
}

impl Default for RemediationConfig {
    fn default() -> Self {
        RemediationConfig {
            playbooks: Vec::new(),
            source: None,
            enabled: true,
            executor: None,
            settings: Settings::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemediation {
    playbooks: Option<String>,
    enabled: Option<bool>,
    executor: Option<String>,
    #[serde(default)]
    supervisor: RawSupervisor,
    #[serde(default)]
    kubernetes: RawKubernetes,
    approval_ttl: Option<String>,
    stale_after: Option<String>,
    verify_settle: Option<String>,
    max_concurrent_actions: Option<usize>,
    max_actions_per_incident: Option<u32>,
    #[serde(default)]
    allowed_targets: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervisor {
    url: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    namespace: Option<String>,
    #[serde(default)]
    allowed_namespaces: Vec<String>,
    gitops: Option<RawGitOps>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGitOps {
    repository: String,
    remote: Option<String>,
    branch: Option<String>,
    file: String,
    image: String,
    argocd: Option<RawArgoCd>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArgoCd {
    url: String,
    application: String,
    token_env: Option<String>,
}

fn gitops(
    raw: RawGitOps,
    env: &dyn EnvSource,
    relative: impl Fn(String) -> PathBuf,
) -> Result<GitOpsConfig, ConfigError> {
    let field = "remediation.kubernetes.gitops";
    let file = PathBuf::from(&raw.file);
    if file.is_absolute() || raw.file.split('/').any(|p| p == "..") || raw.file.is_empty() {
        return Err(ConfigError::new(
            format!("{field}.file"),
            "a path inside the repository (no leading / and no ..)",
        ));
    }
    let git_ref = |r: &str| {
        !r.is_empty()
            && r.len() <= 100
            && !r.starts_with('-')
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    let remote = raw.remote.unwrap_or_else(|| "origin".into());
    let branch = raw.branch.unwrap_or_else(|| "main".into());
    if !git_ref(&remote) || !git_ref(&branch) || raw.image.is_empty() {
        return Err(ConfigError::new(
            field,
            "remote, branch and image are names (letters, digits, - _ . /, not starting with -)",
        ));
    }
    let argocd = match raw.argocd {
        None => None,
        Some(a) => {
            if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                return Err(ConfigError::new(
                    format!("{field}.argocd.url"),
                    format!("{:?} is not an http(s) URL", a.url),
                ));
            }
            let name = a.token_env.unwrap_or_else(|| "AIOPS_ARGOCD_TOKEN".into());
            let token = env.var(&name).filter(|t| !t.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    format!("{field}.argocd.token_env"),
                    format!("the environment variable {name} is not set"),
                )
            })?;
            Some(ArgoCdConfig {
                url: a.url,
                application: a.application,
                token: super::Secret(token),
            })
        }
    };
    Ok(GitOpsConfig {
        repository: relative(raw.repository),
        remote,
        branch,
        file,
        image: raw.image,
        argocd,
    })
}

/// A namespace name as Kubernetes allows it (RFC 1123 label).
fn namespace_name(n: &str) -> bool {
    (1..=63).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-')
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `AIOPS_PLAYBOOKS`, `AIOPS_REMEDIATION_EXECUTOR`, `AIOPS_SUPERVISOR_URL`
/// and `AIOPS_SUPERVISOR_TOKEN` override the file.
pub(super) fn remediation(
    raw: Option<RawRemediation>,
    env: &dyn EnvSource,
    base: Option<&Path>,
    docker_configured: bool,
) -> Result<RemediationConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let relative = |path: String| match base {
        Some(base) if Path::new(&path).is_relative() => base.join(path),
        _ => PathBuf::from(path),
    };
    let source = env.var("AIOPS_PLAYBOOKS").or(raw.playbooks).map(relative);
    let playbooks = match &source {
        None => Vec::new(),
        Some(path) => {
            let (playbooks, errors) = aiops_playbooks::load::load_all(std::slice::from_ref(path));
            if let Some(first) = errors.first() {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                let _ = first;
                return Err(ConfigError::new("remediation.playbooks", all.join("\n")));
            }
            playbooks
        }
    };
    let executor = match env
        .var("AIOPS_REMEDIATION_EXECUTOR")
        .or(raw.executor)
        .as_deref()
    {
        None | Some("none") => None,
        Some("process") => {
            let url = env
                .var("AIOPS_SUPERVISOR_URL")
                .or(raw.supervisor.url)
                .ok_or_else(|| {
                    ConfigError::new(
                        "remediation.supervisor.url",
                        "the process executor needs the supervisor's control API (e.g. http://127.0.0.1:9801)",
                    )
                })?;
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                return Err(ConfigError::new(
                    "remediation.supervisor.url",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
            let token = env
                .var("AIOPS_SUPERVISOR_TOKEN")
                .or(raw.supervisor.token)
                .ok_or_else(|| {
                    ConfigError::new(
                        "remediation.supervisor.token",
                        "the control API's bearer token is required (or AIOPS_SUPERVISOR_TOKEN)",
                    )
                })?;
            if token.len() < 8 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    "remediation.supervisor.token",
                    "at least 8 printable characters without spaces",
                ));
            }
            Some(ExecutorConfig::Process { url, token })
        }
        Some("docker") => {
            if !docker_configured {
                return Err(ConfigError::new(
                    "remediation.executor",
                    "docker needs the docker: section (or AIOPS_DOCKER_SOCKET)",
                ));
            }
            Some(ExecutorConfig::Docker)
        }
        Some("kubernetes") => {
            if !cfg!(feature = "kubernetes") {
                return Err(ConfigError::new(
                    "remediation.executor",
                    "this engine was built without its kubernetes feature (cargo build --features aiops-server/kubernetes)",
                ));
            }
            let namespace = env
                .var("AIOPS_KUBERNETES_NAMESPACE")
                .or(raw.kubernetes.namespace)
                .ok_or_else(|| {
                    ConfigError::new(
                        "remediation.kubernetes.namespace",
                        "the namespace the shop's Deployments are in is required",
                    )
                })?;
            let allowed = if raw.kubernetes.allowed_namespaces.is_empty() {
                vec![namespace.clone()]
            } else {
                raw.kubernetes.allowed_namespaces
            };
            if let Some(bad) = allowed
                .iter()
                .chain([&namespace])
                .find(|n| !namespace_name(n))
            {
                return Err(ConfigError::new(
                    "remediation.kubernetes",
                    format!("{bad:?} is not a namespace name"),
                ));
            }
            if !allowed.contains(&namespace) {
                return Err(ConfigError::new(
                    "remediation.kubernetes.allowed_namespaces",
                    format!("{namespace:?} is not among them"),
                ));
            }
            let gitops = match raw.kubernetes.gitops {
                Some(g) => Some(gitops(g, env, relative)?),
                None => None,
            };
            Some(ExecutorConfig::Kubernetes {
                namespace,
                allowed_namespaces: allowed,
                gitops,
            })
        }
        Some(other) => {
            return Err(ConfigError::new(
                "remediation.executor",
                format!("{other:?} is not process, docker, kubernetes or none"),
            ));
        }
    };
    let defaults = Settings::default();
    let approval_ttl = duration(
        "remediation.approval_ttl",
        raw.approval_ttl.as_deref(),
        Duration::from_millis(defaults.approval_ttl_ms.unsigned_abs()),
        Duration::from_secs(10),
        Duration::from_secs(7 * 86_400),
    )?;
    let stale_after = duration(
        "remediation.stale_after",
        raw.stale_after.as_deref(),
        Duration::from_millis(defaults.stale_after_ms.unsigned_abs()),
        Duration::from_secs(1),
        Duration::from_secs(3600),
    )?;
    let verify_settle = duration(
        "remediation.verify_settle",
        raw.verify_settle.as_deref(),
        Duration::from_millis(defaults.verify_settle_ms.unsigned_abs()),
        Duration::ZERO,
        Duration::from_secs(600),
    )?;
    let max_concurrent_actions = raw
        .max_concurrent_actions
        .unwrap_or(defaults.max_concurrent_actions);
    if !(1..=100).contains(&max_concurrent_actions) {
        return Err(ConfigError::new(
            "remediation.max_concurrent_actions",
            format!("{max_concurrent_actions} is outside 1..=100"),
        ));
    }
    let max_actions_per_incident = raw
        .max_actions_per_incident
        .unwrap_or(defaults.max_actions_per_incident);
    if !(1..=100).contains(&max_actions_per_incident) {
        return Err(ConfigError::new(
            "remediation.max_actions_per_incident",
            format!("{max_actions_per_incident} is outside 1..=100"),
        ));
    }
    if raw
        .allowed_targets
        .iter()
        .any(|t| t.is_empty() || t.len() > 128)
    {
        return Err(ConfigError::new(
            "remediation.allowed_targets",
            "service names of 1 to 128 characters",
        ));
    }
    Ok(RemediationConfig {
        playbooks,
        source,
        enabled: raw.enabled.unwrap_or(true),
        executor,
        settings: Settings {
            approval_ttl_ms: ms(approval_ttl),
            stale_after_ms: ms(stale_after),
            max_concurrent_actions,
            max_actions_per_incident,
            allowed_targets: raw.allowed_targets,
            verify_settle_ms: ms(verify_settle),
        },
    })
}
