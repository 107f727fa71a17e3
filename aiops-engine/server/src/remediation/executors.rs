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
    /// Connected at the first action (in-cluster or a kubeconfig).
    #[cfg(feature = "kubernetes")]
    Kubernetes {
        target: tokio::sync::OnceCell<aiops_kube::KubeTarget>,
        namespace: String,
        allowed: Vec<String>,
    },
}

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
            } => Ok(Executor::Kubernetes {
                target: tokio::sync::OnceCell::new(),
                namespace: namespace.clone(),
                allowed: allowed_namespaces.clone(),
            }),
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
            Executor::Kubernetes { .. } => Capability {
                executor: Kind::Kubernetes,
                refuses: Vec::new(),
            },
        }
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
            Executor::Kubernetes {
                target,
                namespace,
                allowed,
            } => {
                let target = target
                    .get_or_try_init(|| aiops_kube::KubeTarget::connect(namespace, allowed))
                    .await
                    .map_err(|e| e.to_string())?;
                kubernetes(target, record, service).await
            }
        }
    }
}

/// One action on the service's Deployment, then its rollout followed.
#[cfg(feature = "kubernetes")]
async fn kubernetes(
    target: &aiops_kube::KubeTarget,
    record: &ActionRecord,
    service: &str,
) -> Result<String, String> {
    use aiops_kube::Change;
    let change = match record.action.as_str() {
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
    };
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
