//! Where actions are carried out: the process supervisor's control API or
//! the Docker Engine. Each says what it cannot do, with a reason the
//! ledger records, and never pretends to have done it.

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
}

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
        }
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
