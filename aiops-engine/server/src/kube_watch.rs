//! The Kubernetes watcher at the edge: with the Kubernetes executor, the
//! engine also looks at the namespace it acts in, and reports every
//! rollout, scale, pod restart and Warning event to the analysis as a
//! change of its service.

use std::time::Duration;

use aiops_analysis::{OutsideChange, OutsideChangeKind};
use aiops_kube::{KubeChange, KubeChangeKind, KubeTarget};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ExecutorConfig;
use crate::state::AppState;

/// A look at the namespace every this often: three lists, each one page.
const LOOK_EVERY: Duration = Duration::from_secs(10);
const RECONNECT_EVERY: Duration = Duration::from_secs(30);

/// Starts the watcher when the executor is Kubernetes.
pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let Some(ExecutorConfig::Kubernetes {
        namespace,
        allowed_namespaces,
        ..
    }) = state.config.remediation.executor.clone()
    else {
        return None;
    };
    Some(tokio::spawn(run(
        state.clone(),
        namespace,
        allowed_namespaces,
        stop,
    )))
}

async fn run(
    state: AppState,
    namespace: String,
    allowed: Vec<String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut warned = false;
    let target = loop {
        match KubeTarget::connect(&namespace, &allowed).await {
            Ok(target) => break target,
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %e, "kubernetes api not reachable; rollouts, restarts and warnings are not watched until it is");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_EVERY) => {}
            _ = stop.changed() => return,
        }
    };
    tracing::info!(namespace = %namespace, "watching deployments, pods and warning events through the kubernetes api");
    let clock = state.clock.clone();
    let analysis = state.analysis.clone();
    aiops_kube::watch(
        target,
        LOOK_EVERY,
        move || clock.now_ms(),
        move |changes, now_ms| {
            let mut analysis = analysis.lock();
            for change in changes {
                tracing::info!(service = %change.service, subject = %change.subject, why = %change.why, "kubernetes change");
                analysis.observe_change(outside_change(change), now_ms);
            }
        },
        stop,
    )
    .await;
}

/// A rollout restart is a deploy, not a crash: the controller replaced
/// the pods on purpose, one at a time.
pub fn outside_change(change: KubeChange) -> OutsideChange {
    OutsideChange {
        service: change.service,
        kind: match change.kind {
            KubeChangeKind::Rollout | KubeChangeKind::RolloutRestart => OutsideChangeKind::Deploy,
            KubeChangeKind::Scaled => OutsideChangeKind::Scale,
            KubeChangeKind::PodRestart => OutsideChangeKind::Restart,
            KubeChangeKind::Warning => OutsideChangeKind::Warning,
        },
        source: "kubernetes".into(),
        subject: change.subject,
        at_ms: change.at_ms,
        why: change.why,
    }
}
