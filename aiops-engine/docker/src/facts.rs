//! What the engine needs to know about one container, taken from Docker's
//! inspect answer: who it is (service, name, id), what it runs (image), and
//! how it runs (state, when it started, how often Docker restarted it, the
//! networks it is attached to).

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Restarting => "restarting",
            RunState::Removing => "removing",
            RunState::Exited => "exited",
            RunState::Dead => "dead",
            RunState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerFacts {
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    /// The service identity (from the configured label), as the engine's
    /// other sources name it.
    pub service: String,
    /// The image's content id (`sha256:...`): what actually runs.
    pub image_id: String,
    /// The image as the container was created from it (`aiops/shop:1.2`).
    pub image_ref: String,
    pub state: RunState,
    /// When the current run began; `None` before the first start.
    pub started_at_ms: Option<i64>,
    /// Restarts Docker's restart policy made since the container was created.
    pub restart_count: i64,
    pub exit_code: Option<i64>,
    /// `healthy`, `unhealthy`, `starting`, when the image has a healthcheck.
    pub health: Option<String>,
    /// The networks it is attached to, by name, sorted.
    pub networks: Vec<String>,
}

/// Reads the facts from an inspect answer; `None` when the container does
/// not carry `service_label` (it is not part of a watched stack) or the
/// answer lacks its id.
pub fn from_inspect(
    inspect: &ContainerInspectResponse,
    service_label: &str,
) -> Option<ContainerFacts> {
    let empty = HashMap::new();
    let labels = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .unwrap_or(&empty);
    let service = labels.get(service_label).filter(|s| !s.is_empty())?.clone();
    let id = inspect.id.clone().filter(|s| !s.is_empty())?;
    let name = inspect
        .name
        .as_deref()
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| id.chars().take(12).collect());
    let state = inspect.state.as_ref();
    let status = state.and_then(|s| s.status);
    Some(ContainerFacts {
        id,
        name,
        service,
        image_id: inspect.image.clone().unwrap_or_default(),
        image_ref: inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        state: run_state(status),
        started_at_ms: state
            .and_then(|s| s.started_at.as_deref())
            .and_then(docker_time_ms),
        restart_count: inspect.restart_count.unwrap_or(0),
        exit_code: state.and_then(|s| s.exit_code),
        health: state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|h| h.to_string())
            .filter(|h| !h.is_empty() && h != "none"),
        networks: networks(inspect),
    })
}

fn networks(inspect: &ContainerInspectResponse) -> Vec<String> {
    let mut names: Vec<String> = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn run_state(status: Option<ContainerStateStatusEnum>) -> RunState {
    match status {
        Some(ContainerStateStatusEnum::CREATED) => RunState::Created,
        Some(ContainerStateStatusEnum::RUNNING) => RunState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => RunState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => RunState::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => RunState::Removing,
        Some(ContainerStateStatusEnum::EXITED) => RunState::Exited,
        Some(ContainerStateStatusEnum::DEAD) => RunState::Dead,
        _ => RunState::Unknown,
    }
}

/// Docker's RFC 3339 times with nanoseconds; its zero time
/// (`0001-01-01T00:00:00Z`, never started) reads as `None`.
pub fn docker_time_ms(raw: &str) -> Option<i64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(raw).ok()?;
    let ms = parsed.timestamp_millis();
    (ms > 0).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState, EndpointSettings, NetworkSettings};

    fn inspect(labels: &[(&str, &str)]) -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("abc123".into()),
            name: Some("/shop_cart_1".into()),
            image: Some("sha256:1111".into()),
            restart_count: Some(2),
            config: Some(ContainerConfig {
                image: Some("aiops/shop:dev".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ContainerConfig::default()
            }),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::RUNNING),
                started_at: Some("2026-12-01T19:33:34.123456789Z".into()),
                exit_code: Some(0),
                ..ContainerState::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(
                    ["shop_default", "shop_backend"]
                        .map(|n| (n.to_string(), EndpointSettings::default()))
                        .into(),
                ),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        }
    }

    #[test]
    fn reads_identity_image_and_run_state() {
        let facts = from_inspect(
            &inspect(&[("com.docker.compose.service", "cart")]),
            "com.docker.compose.service",
        )
        .expect("labelled container");
        assert_eq!(facts.service, "cart");
        assert_eq!(facts.name, "shop_cart_1");
        assert_eq!(facts.image_id, "sha256:1111");
        assert_eq!(facts.image_ref, "aiops/shop:dev");
        assert_eq!(facts.state, RunState::Running);
        assert_eq!(facts.restart_count, 2);
        assert_eq!(facts.started_at_ms, Some(1_796_153_614_123));
        assert_eq!(facts.networks, ["shop_backend", "shop_default"]);
    }

    #[test]
    fn a_container_without_the_service_label_is_not_watched() {
        assert_eq!(
            from_inspect(&inspect(&[("other", "x")]), "com.docker.compose.service"),
            None
        );
        assert_eq!(
            from_inspect(
                &inspect(&[("com.docker.compose.service", "")]),
                "com.docker.compose.service"
            ),
            None
        );
    }

    #[test]
    fn docker_zero_time_means_never_started() {
        assert_eq!(docker_time_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(docker_time_ms("garbage"), None);
        assert_eq!(docker_time_ms("1970-01-01T00:00:01Z"), Some(1_000));
    }
}
