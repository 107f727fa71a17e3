//! Remediation by service: restart a service's container, or roll it back
//! to the image it ran before, recreated with the same name, labels,
//! environment, command, mounts, restart policy and networks (aliases
//! included). The images each service ran are remembered from every look
//! at the containers (the watcher looks every few seconds and on every
//! event), so a roll-back knows where to go, and a roll-back of a roll-back
//! goes forward again. Scaling is not offered: a compose service runs the
//! containers its file says.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, NetworkConnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use crate::client::{DockerError, DockerTarget};
use crate::facts::ContainerFacts;

/// Images remembered per service, newest last.
pub const MAX_IMAGES_PER_SERVICE: usize = 16;

fn api(action: String) -> impl FnOnce(bollard::errors::Error) -> DockerError {
    move |source| DockerError::Api { action, source }
}

fn short(image: &str) -> &str {
    let id = image.strip_prefix("sha256:").unwrap_or(image);
    &id[..id.len().min(12)]
}

/// Each service's images in the order they were seen running.
#[derive(Debug, Default)]
pub struct ImageHistory {
    by_service: HashMap<String, Vec<String>>,
}

impl ImageHistory {
    pub fn observe(&mut self, containers: &[ContainerFacts]) {
        for c in containers {
            let seen = self.by_service.entry(c.service.clone()).or_default();
            if seen.last() != Some(&c.image_id) && !c.image_id.is_empty() {
                seen.push(c.image_id.clone());
                if seen.len() > MAX_IMAGES_PER_SERVICE {
                    seen.remove(0);
                }
            }
        }
    }

    /// The image the service ran before `current`.
    pub fn before(&self, service: &str, current: &str) -> Option<&str> {
        let seen = self.by_service.get(service)?;
        let at = seen.iter().rposition(|i| i == current)?;
        seen[..at]
            .iter()
            .rev()
            .find(|i| *i != current)
            .map(String::as_str)
    }
}

impl DockerTarget {
    /// The service's one container (a compose service the engine acts on
    /// runs one; more is refused rather than guessed at).
    async fn container_of(&self, service: &str) -> Result<ContainerFacts, DockerError> {
        let mut mine: Vec<ContainerFacts> = self
            .containers()
            .await?
            .into_iter()
            .filter(|c| c.service == service)
            .collect();
        match mine.len() {
            0 => Err(DockerError::Refused(format!(
                "no container of {service} in the stack"
            ))),
            1 => Ok(mine.remove(0)),
            n => Err(DockerError::Refused(format!(
                "{service} has {n} containers; the engine acts on services with one"
            ))),
        }
    }

    /// Restarts the service's container (SIGTERM, `grace`, SIGKILL).
    pub async fn restart_service(
        &self,
        service: &str,
        grace: Duration,
    ) -> Result<String, DockerError> {
        let before = self.container_of(service).await?;
        let after = self.restart(&before.name, grace).await?;
        Ok(format!(
            "restarted container {} of {service} (image {})",
            after.name,
            short(&after.image_id)
        ))
    }

    /// Recreates the service's container from the image it ran before. On
    /// any failure after the old container was set aside, the old one is
    /// put back and started again.
    pub async fn rollback_service(
        &self,
        service: &str,
        grace: Duration,
    ) -> Result<String, DockerError> {
        let current = self.container_of(service).await?;
        let previous = self
            .images
            .lock()
            .before(service, &current.image_id)
            .map(str::to_owned)
            .ok_or_else(|| {
                DockerError::Refused(format!(
                    "no earlier image of {service} was seen running: nothing to roll back to"
                ))
            })?;
        let docker = self.client();
        docker.inspect_image(&previous).await.map_err(api(format!(
            "inspect image {} (removed since?)",
            short(&previous)
        )))?;
        let old = docker
            .inspect_container(&current.id, None::<InspectContainerOptions>)
            .await
            .map_err(api(format!("inspect {}", current.name)))?;
        let config = old.config.clone().unwrap_or_default();
        let networks: Vec<(String, EndpointSettings)> = old
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, ep)| {
                // aliases only: addresses and ids belong to the old endpoint
                let aliases = ep.aliases.map(|a| {
                    a.into_iter()
                        .filter(|x| !current.id.starts_with(x.as_str()))
                        .collect()
                });
                (
                    name,
                    EndpointSettings {
                        aliases,
                        ..EndpointSettings::default()
                    },
                )
            })
            .collect();
        let body = ContainerCreateBody {
            hostname: config.hostname,
            domainname: config.domainname,
            user: config.user,
            exposed_ports: config.exposed_ports,
            tty: config.tty,
            open_stdin: config.open_stdin,
            env: config.env,
            cmd: config.cmd,
            healthcheck: config.healthcheck,
            image: Some(previous.clone()),
            volumes: config.volumes,
            working_dir: config.working_dir,
            entrypoint: config.entrypoint,
            labels: config.labels,
            stop_signal: config.stop_signal,
            stop_timeout: config.stop_timeout,
            host_config: old.host_config.clone(),
            // an older engine (API < 1.44) takes one network at creation
            networking_config: networks.first().map(|(name, ep)| NetworkingConfig {
                endpoints_config: Some([(name.clone(), ep.clone())].into()),
            }),
            ..ContainerCreateBody::default()
        };
        let name = current.name.clone();
        let aside = format!("{name}-aiops-replaced");
        docker
            .rename_container(
                &current.id,
                RenameContainerOptionsBuilder::new().name(&aside).build(),
            )
            .await
            .map_err(api(format!("rename {name} aside")))?;
        let created = async {
            let made = docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::new().name(&name).build()),
                    body,
                )
                .await
                .map_err(api(format!("create {name} from {}", short(&previous))))?;
            for (network, ep) in networks.iter().skip(1) {
                docker
                    .connect_network(
                        network,
                        NetworkConnectRequest {
                            container: made.id.clone(),
                            endpoint_config: Some(ep.clone()),
                        },
                    )
                    .await
                    .map_err(api(format!("connect {name} to {network}")))?;
            }
            let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
            docker
                .stop_container(
                    &current.id,
                    Some(StopContainerOptionsBuilder::new().t(seconds).build()),
                )
                .await
                .map_err(api(format!("stop the old {name}")))?;
            docker
                .start_container(
                    &made.id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(api(format!("start {name} from {}", short(&previous))))?;
            Ok::<String, DockerError>(made.id)
        }
        .await;
        let force = RemoveContainerOptionsBuilder::new().force(true).build();
        match created {
            Ok(_) => {
                docker
                    .remove_container(&current.id, Some(force))
                    .await
                    .map_err(api(format!("remove the old {name}")))?;
                let facts = self.container_of(service).await?;
                self.images.lock().observe(std::slice::from_ref(&facts));
                Ok(format!(
                    "recreated {name} from image {} (it ran {})",
                    short(&previous),
                    short(&current.image_id)
                ))
            }
            Err(e) => {
                // put the old one back as it was
                let _ = docker.remove_container(&name, Some(force)).await;
                let _ = docker
                    .rename_container(
                        &current.id,
                        RenameContainerOptionsBuilder::new().name(&name).build(),
                    )
                    .await;
                let _ = docker
                    .start_container(
                        &current.id,
                        None::<bollard::query_parameters::StartContainerOptions>,
                    )
                    .await;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::RunState;

    fn facts(service: &str, image: &str) -> ContainerFacts {
        ContainerFacts {
            id: "c1".into(),
            name: format!("{service}-1"),
            service: service.into(),
            image_id: image.into(),
            image_ref: "x".into(),
            state: RunState::Running,
            started_at_ms: Some(1),
            restart_count: 0,
            exit_code: None,
            health: None,
            networks: Vec::new(),
        }
    }

    #[test]
    fn the_image_before_goes_back_and_forth() {
        let mut h = ImageHistory::default();
        h.observe(&[facts("cart", "sha256:a")]);
        assert_eq!(
            h.before("cart", "sha256:a"),
            None,
            "nothing before the first"
        );
        h.observe(&[facts("cart", "sha256:a")]);
        h.observe(&[facts("cart", "sha256:b")]);
        assert_eq!(h.before("cart", "sha256:b"), Some("sha256:a"));
        h.observe(&[facts("cart", "sha256:a")]);
        assert_eq!(
            h.before("cart", "sha256:a"),
            Some("sha256:b"),
            "undoing a roll-back goes forward"
        );
        assert_eq!(h.before("orders", "sha256:a"), None);
        for i in 0..100 {
            h.observe(&[facts("cart", &format!("sha256:{i}"))]);
        }
        assert!(h.by_service["cart"].len() <= MAX_IMAGES_PER_SERVICE);
    }
}
