//! Where actions are carried out: the process supervisor's control API,
//! the Docker Engine, or the Kubernetes API (with the `kubernetes`
//! feature). Each says what it cannot do, with a reason the ledger
//! records, and never pretends to have done it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aiops_playbooks::{ActionRecord, Capability, Executor as Kind};
use supervisor::client::SupervisorClient;

use crate::config::ExecutorConfig;

/// A supervisor request includes the process's stop grace (10 s) and its start.
const SUPERVISOR_TIMEOUT: Duration = Duration::from_secs(40);

/// A container's grace between SIGTERM and SIGKILL when the engine acts.
const DOCKER_STOP_GRACE: Duration = Duration::from_secs(10);

pub enum Executor {
    Process(SupervisorClient),
    /// The watcher's connection, once it has one: its looks at the
    /// containers are what a roll-back goes back to.
    Docker(Arc<OnceLock<aiops_docker::DockerTarget>>),
    #[cfg(feature = "kubernetes")]
    Kubernetes(Box<Kubernetes>),
}

/// The Kubernetes API, connected at the first action (in-cluster or a
/// kubeconfig).
#[cfg(feature = "kubernetes")]
pub struct Kubernetes {
    target: tokio::sync::OnceCell<aiops_kube::KubeTarget>,
    namespace: String,
    allowed: Vec<String>,
    /// Roll-backs as git reverts, where Argo CD owns the cluster.
    gitops: Option<crate::config::GitOpsConfig>,
}

#[cfg(feature = "kubernetes")]
impl Kubernetes {
    /// The API connection, made at the first use.
    async fn target(&self) -> Result<&aiops_kube::KubeTarget, aiops_kube::KubeError> {
        self.target
            .get_or_try_init(|| aiops_kube::KubeTarget::connect(&self.namespace, &self.allowed))
            .await
    }

    /// The git setup an action goes through instead of the API: a
    /// roll-back (or its undoing) where Argo CD owns the cluster.
    fn through_git(&self, action: &str) -> Option<&crate::config::GitOpsConfig> {
        self.gitops
            .as_ref()
            .filter(|_| matches!(action, "rollback" | "undo-rollback"))
    }

    /// Uses this connection instead of inferring one at the first action.
    #[cfg(test)]
    pub(crate) fn connect_to(&self, target: aiops_kube::KubeTarget) {
        let _ = self.target.set(target);
    }
}

/// How long a git roll-back waits for Argo CD to sync it.
#[cfg(feature = "kubernetes")]
const ARGO_SYNC: aiops_gitops::SyncWait = aiops_gitops::SyncWait {
    poll: Duration::from_secs(5),
    timeout: Duration::from_secs(300),
};

/// How long a dry run may take before the approval is asked without it.
#[cfg(feature = "kubernetes")]
const DRY_RUN: Duration = Duration::from_secs(10);

/// How long an action waits for the rollout it started: the ledger then
/// says whether the new pods came up.
#[cfg(feature = "kubernetes")]
const ROLLOUT: aiops_kube::Rollout = aiops_kube::Rollout {
    poll: Duration::from_secs(2),
    timeout: Duration::from_secs(90),
};

impl Executor {
    pub fn new(
        config: &ExecutorConfig,
        docker: Arc<OnceLock<aiops_docker::DockerTarget>>,
    ) -> Result<Executor, String> {
        match config {
            ExecutorConfig::Process { url, token } => {
                SupervisorClient::new(url, token, SUPERVISOR_TIMEOUT)
                    .map(Executor::Process)
                    .map_err(|e| e.to_string())
            }
            ExecutorConfig::Docker => Ok(Executor::Docker(docker)),
            #[cfg(feature = "kubernetes")]
            ExecutorConfig::Kubernetes {
                namespace,
                allowed_namespaces,
                gitops,
            } => Ok(Executor::Kubernetes(Box::new(Kubernetes {
                target: tokio::sync::OnceCell::new(),
                namespace: namespace.clone(),
                allowed: allowed_namespaces.clone(),
                gitops: gitops.clone(),
            }))),
            #[cfg(not(feature = "kubernetes"))]
            ExecutorConfig::Kubernetes { .. } => {
                Err("this engine was built without its kubernetes feature".into())
            }
        }
    }

    pub fn capability(&self) -> Capability {
        match self {
            Executor::Process(_) => Capability {
                executor: Kind::Process,
                refuses: vec![(
                    "scale".into(),
                    "the process supervisor runs one process per service; scaling needs Kubernetes".into(),
                )],
            },
            Executor::Docker(_) => Capability {
                executor: Kind::Docker,
                refuses: vec![(
                    "scale".into(),
                    "a compose service runs the containers its file says; the engine does not add any (scaling needs Kubernetes)".into(),
                )],
            },
            #[cfg(feature = "kubernetes")]
            Executor::Kubernetes(_) => Capability {
                executor: Kind::Kubernetes,
                refuses: Vec::new(),
            },
        }
    }

    /// What the action would change, from the target itself, without
    /// changing it: the Kubernetes API's dry run. None where the executor
    /// has no dry run (the supervisor, Docker, a git roll-back, which is
    /// its own record of what it changes).
    pub async fn preview(&self, record: &ActionRecord) -> Option<String> {
        #[cfg(feature = "kubernetes")]
        if let Executor::Kubernetes(k) = self {
            let service = record.service.as_deref()?;
            if k.through_git(&record.action).is_some() {
                return None;
            }
            let change = change_of(record).ok()?;
            let planned = async { k.target().await?.plan(service, &change).await };
            let text = match tokio::time::timeout(DRY_RUN, planned).await {
                Ok(Ok(lines)) if lines.is_empty() => {
                    "dry run (dryRun=All): the api server would change no field".to_owned()
                }
                Ok(Ok(lines)) => format!(
                    "dry run (dryRun=All) of deployment {service} in {}: {}",
                    k.namespace,
                    lines.join("; ")
                ),
                Ok(Err(e)) => format!("dry run failed: {e}"),
                Err(_) => format!(
                    "dry run failed: the api server did not answer within {} s",
                    DRY_RUN.as_secs()
                ),
            };
            return Some(text);
        }
        let _ = record;
        None
    }

    /// Carries out a record's action; the text says what was done, the
    /// error why it was not.
    pub async fn act(&self, record: &ActionRecord) -> Result<String, String> {
        let service = record
            .service
            .as_deref()
            .ok_or_else(|| format!("{} has no target service", record.id))?;
        let action = record.action.as_str();
        if let Some((_, why)) = self
            .capability()
            .refuses
            .iter()
            .find(|(a, _)| a == action || action.strip_prefix("undo-") == Some(a.as_str()))
        {
            return Err(format!("refused: {why}"));
        }
        match self {
            Executor::Process(client) => process(client, action, service).await,
            Executor::Docker(target) => {
                let docker = target
                    .get()
                    .ok_or("the docker engine has not been reached yet")?;
                match action {
                    "restart" => docker
                        .restart_service(service, DOCKER_STOP_GRACE)
                        .await
                        .map_err(|e| e.to_string()),
                    "rollback" | "undo-rollback" => docker
                        .rollback_service(service, DOCKER_STOP_GRACE)
                        .await
                        .map_err(|e| e.to_string()),
                    other => Err(format!("the docker executor cannot {other}")),
                }
            }
            #[cfg(feature = "kubernetes")]
            Executor::Kubernetes(k) => {
                if let Some(gitops) = k.through_git(action) {
                    return git_roll_back(gitops, service).await;
                }
                let target = k.target().await.map_err(|e| e.to_string())?;
                kubernetes(target, record, service).await
            }
        }
    }
}

/// A roll-back as a commit: the last tag change reverted and pushed, then
/// Argo CD's sync of it awaited. Undoing a roll-back reverts the revert.
#[cfg(feature = "kubernetes")]
async fn git_roll_back(
    config: &crate::config::GitOpsConfig,
    service: &str,
) -> Result<String, String> {
    let repo = aiops_gitops::DeployRepo {
        dir: config.repository.clone(),
        remote: config.remote.clone(),
        branch: config.branch.clone(),
        author: ("aiops".into(), "aiops@localhost".into()),
    };
    let done = repo
        .roll_back(&config.file, &config.image)
        .await
        .map_err(|e| e.to_string())?;
    let what = format!(
        "rolled {service} back in git: reverted {} ({}), {} {} -> {}, pushed {}",
        aiops_gitops::short(&done.commit),
        done.subject,
        config.image,
        done.from_tag,
        done.to_tag,
        aiops_gitops::short(&done.revision)
    );
    let Some(argocd) = &config.argocd else {
        return Ok(format!("{what}; no argo cd configured to wait for"));
    };
    let client = aiops_gitops::ArgoCd::new(&argocd.url, &argocd.token.0, &argocd.application)
        .map_err(|e| format!("{what}, but {e}"))?;
    match client.wait_synced(&done.revision, ARGO_SYNC).await {
        Ok(synced) => Ok(format!("{what}; {synced}")),
        Err(e) => Err(format!("{what}, but {e}")),
    }
}

/// The change an action makes to a Deployment.
#[cfg(feature = "kubernetes")]
fn change_of(record: &ActionRecord) -> Result<aiops_kube::Change, String> {
    use aiops_kube::Change;
    Ok(match record.action.as_str() {
        "restart" => Change::Restart {
            at: chrono::Utc::now(),
        },
        "scale" | "undo-scale" => Change::Scale {
            replicas: record
                .replicas
                .ok_or_else(|| format!("{} names no replica count", record.id))?,
        },
        // undoing a roll-back rolls forward: the newest older revision is
        // then the one rolled back from
        "rollback" | "undo-rollback" => Change::Rollback,
        other => return Err(format!("the kubernetes executor cannot {other}")),
    })
}

/// One action on the service's Deployment, then its rollout followed.
#[cfg(feature = "kubernetes")]
async fn kubernetes(
    target: &aiops_kube::KubeTarget,
    record: &ActionRecord,
    service: &str,
) -> Result<String, String> {
    let change = change_of(record)?;
    let done = target
        .apply(service, &change)
        .await
        .map_err(|e| e.to_string())?;
    match target.wait_rollout(service, ROLLOUT).await {
        Ok(rollout) => Ok(format!("{done}; {rollout}")),
        Err(e) => Err(format!("{done}, but {e}")),
    }
}

async fn process(client: &SupervisorClient, action: &str, service: &str) -> Result<String, String> {
    let before = client.state(service).await.map_err(|e| e.message)?;
    match action {
        "restart" => {
            let after = client.restart(service).await.map_err(|e| e.message)?;
            Ok(format!(
                "restarted {service} through the supervisor at {}: pid {} -> {}",
                client.base(),
                pid(before.pid),
                pid(after.pid)
            ))
        }
        "rollback" | "undo-rollback" => {
            let after = client.rollback(service).await.map_err(|e| e.message)?;
            Ok(format!(
                "{} {service} from release {} to {} through the supervisor at {}",
                if action == "rollback" {
                    "rolled back"
                } else {
                    "rolled forward again"
                },
                version(&before.release.version),
                version(&after.release.version),
                client.base()
            ))
        }
        other => Err(format!("the process executor cannot {other}")),
    }
}

fn pid(p: Option<u32>) -> String {
    p.map_or_else(|| "none".into(), |p| p.to_string())
}

fn version(v: &str) -> &str {
    if v.is_empty() { "(as started)" } else { v }
}

#[cfg(all(test, feature = "kubernetes"))]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use aiops_playbooks::ActionState;

    use super::*;
    use crate::config::GitOpsConfig;

    const FILE: &str = "overlays/prod/shop/kustomization.yaml";

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=ci", "-c", "user.email=ci@shop.example"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// With gitops configured, a roll-back is a git revert: the Kubernetes
    /// API (none here) is never called for it.
    #[tokio::test]
    async fn a_roll_back_goes_through_git_when_argo_cd_owns_the_cluster() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = dir.path().join("deploy.git");
        let seed = dir.path().join("seed");
        let clone = dir.path().join("engine");
        let path = |p: &Path| p.display().to_string();
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", &path(&remote)],
        );
        git(dir.path(), &["clone", "-q", &path(&remote), &path(&seed)]);
        git(&seed, &["checkout", "-q", "-b", "main"]);
        for tag in ["v1", "v2"] {
            let file = seed.join(FILE);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
            std::fs::write(
                &file,
                format!("images:\n  - name: aiops/shop\n    newTag: {tag}\n"),
            )
            .expect("write");
            git(&seed, &["add", "-A"]);
            git(&seed, &["commit", "-q", "-m", &format!("images at {tag}")]);
            git(&seed, &["push", "-q", "origin", "HEAD:main"]);
        }
        git(dir.path(), &["clone", "-q", &path(&remote), &path(&clone)]);
        let config = ExecutorConfig::Kubernetes {
            namespace: "shop".into(),
            allowed_namespaces: vec!["shop".into()],
            gitops: Some(GitOpsConfig {
                repository: clone,
                remote: "origin".into(),
                branch: "main".into(),
                file: FILE.into(),
                image: "aiops/shop".into(),
                argocd: None,
            }),
        };
        let executor = Executor::new(&config, Arc::new(OnceLock::new())).expect("executor");
        assert_eq!(executor.capability().executor, Kind::Kubernetes);
        let mut record = ActionRecord::new(
            "inc-1/rollback/1/0".into(),
            "inc-1",
            "rollback-after-deploy",
            0,
            1,
            "rollback",
            "auto",
            ActionState::Running,
            "a deploy preceded the errors".into(),
            "roll back payments".into(),
            0,
        );
        record.service = Some("payments".into());
        let done = executor.act(&record).await.expect("rolled back");
        assert!(
            done.contains("aiops/shop v2 -> v1") && done.contains("no argo cd configured"),
            "{done}"
        );
        let now = git(&remote, &["show", &format!("main:{FILE}")]);
        assert!(now.ends_with("newTag: v1"), "{now}");
        // undone: the revert is reverted
        record.action = "undo-rollback".into();
        let undone = executor.act(&record).await.expect("rolled forward");
        assert!(undone.contains("aiops/shop v1 -> v2"), "{undone}");
    }
}
