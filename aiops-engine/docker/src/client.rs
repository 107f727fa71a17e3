//! The Docker Engine API over its unix socket: list a stack's containers,
//! read one's state and restart count, restart one.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, RestartContainerOptionsBuilder,
};

use crate::facts::{self, ContainerFacts};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the docker engine at {socket}: {reason}")]
    Connect { socket: String, reason: String },
    #[error("docker {action} failed: {source}")]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("container {0} is not part of the watched stack (no service label)")]
    NotWatched(String),
    /// The action cannot be done here, and why.
    #[error("{0}")]
    Refused(String),
}

/// Which containers belong to the stack, and where their service name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Label carrying the service identity (compose: `com.docker.compose.service`).
    pub service_label: String,
    /// Only containers of this compose project (`com.docker.compose.project`).
    pub project: Option<String>,
}

impl Default for Selector {
    fn default() -> Self {
        Self {
            service_label: COMPOSE_SERVICE_LABEL.into(),
            project: None,
        }
    }
}

pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// Seconds a request to the engine may take before it counts as failed.
const REQUEST_TIMEOUT_S: u64 = 30;

#[derive(Clone)]
pub struct DockerTarget {
    docker: Docker,
    selector: Selector,
    /// Shared by every clone: the watcher's looks feed the roll-backs.
    pub(crate) images: std::sync::Arc<parking_lot::Mutex<crate::remedy::ImageHistory>>,
}

impl DockerTarget {
    /// Connects to the socket and agrees on an API version the engine
    /// speaks (Debian's 20.10 stops at 1.41).
    pub async fn connect(socket: &str, selector: Selector) -> Result<Self, DockerError> {
        let connect_error = |reason: String| DockerError::Connect {
            socket: socket.to_owned(),
            reason,
        };
        let docker =
            Docker::connect_with_unix(socket, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
                .map_err(|e| connect_error(e.to_string()))?
                .negotiate_version()
                .await
                .map_err(|e| connect_error(e.to_string()))?;
        docker
            .ping()
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        Ok(Self {
            docker,
            selector,
            images: Default::default(),
        })
    }

    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The bollard client, for what this crate does not wrap (tests set up
    /// containers with it).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Every container of the stack, running or not.
    pub async fn containers(&self) -> Result<Vec<ContainerFacts>, DockerError> {
        let mut labels = vec![self.selector.service_label.clone()];
        if let Some(project) = &self.selector.project {
            labels.push(format!("{COMPOSE_PROJECT_LABEL}={project}"));
        }
        let filters: HashMap<&str, Vec<String>> = [("label", labels)].into();
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|source| DockerError::Api {
                action: "list containers".into(),
                source,
            })?;
        let mut out = Vec::with_capacity(listed.len());
        for summary in listed {
            let Some(id) = summary.id else { continue };
            match self.inspect(&id).await {
                Ok(facts) => out.push(facts),
                // removed between the list and the inspect: nothing to say
                Err(DockerError::Api {
                    source:
                        bollard::errors::Error::DockerResponseServerError {
                            status_code: 404, ..
                        },
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        self.images.lock().observe(&out);
        Ok(out)
    }

    /// One container's state and restart count, by id or name.
    pub async fn inspect(&self, container: &str) -> Result<ContainerFacts, DockerError> {
        let inspect = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|source| DockerError::Api {
                action: format!("inspect {container}"),
                source,
            })?;
        facts::from_inspect(&inspect, &self.selector.service_label)
            .ok_or_else(|| DockerError::NotWatched(container.to_owned()))
    }

    /// Restarts a container of the stack, giving it `grace` to stop after
    /// SIGTERM before Docker kills it. Refuses containers outside the stack.
    pub async fn restart(
        &self,
        container: &str,
        grace: Duration,
    ) -> Result<ContainerFacts, DockerError> {
        self.inspect(container).await?;
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = RestartContainerOptionsBuilder::new().t(seconds).build();
        self.docker
            .restart_container(container, Some(options))
            .await
            .map_err(|source| DockerError::Api {
                action: format!("restart {container}"),
                source,
            })?;
        self.inspect(container).await
    }
}
