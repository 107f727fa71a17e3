//! The Docker watcher at the edge: connects to the engine's socket (waiting
//! while it is not there yet), then reports every restart, image change and
//! network (dis)connection of the stack's containers to the analysis as a
//! change of their service.

use std::time::Duration;

use aiops_analysis::{OutsideChange, OutsideChangeKind};
use aiops_docker::{ContainerChange, ContainerChangeKind, DockerTarget, Selector, WatchConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::DockerConfig;
use crate::state::AppState;

const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Starts the watcher when `docker` is configured.
pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let config = state.config.docker.clone()?;
    Some(tokio::spawn(run(state.clone(), config, stop)))
}

async fn run(state: AppState, config: DockerConfig, mut stop: watch::Receiver<bool>) {
    let selector = Selector {
        service_label: config.service_label.clone(),
        project: config.project.clone(),
    };
    let mut warned = false;
    let target = loop {
        match DockerTarget::connect(&config.socket, selector.clone()).await {
            Ok(target) => break target,
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %e, "docker engine not reachable; container changes are not watched until it is");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_EVERY) => {}
            _ = stop.changed() => return,
        }
    };
    tracing::info!(socket = %config.socket, project = ?config.project, "watching containers through the docker engine");
    let _ = state.docker_target.set(target.clone());
    let clock = state.clock.clone();
    let analysis = state.analysis.clone();
    aiops_docker::watch(
        target,
        WatchConfig {
            poll_every: config.poll_interval,
        },
        move || clock.now_ms(),
        move |changes, now_ms| {
            let mut analysis = analysis.lock();
            for change in changes {
                tracing::info!(service = %change.service, container = %change.container, why = %change.why, "container change");
                analysis.observe_change(outside_change(change), now_ms);
            }
        },
        stop,
    )
    .await;
}

fn outside_change(change: ContainerChange) -> OutsideChange {
    OutsideChange {
        service: change.service,
        kind: match change.kind {
            ContainerChangeKind::Restart => OutsideChangeKind::Restart,
            ContainerChangeKind::ImageChange => OutsideChangeKind::Deploy,
            ContainerChangeKind::LeftNetwork => OutsideChangeKind::LeftNetwork,
            ContainerChangeKind::JoinedNetwork => OutsideChangeKind::JoinedNetwork,
        },
        source: "docker".into(),
        subject: change.container,
        at_ms: change.at_ms,
        why: change.why,
    }
}
