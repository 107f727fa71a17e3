//! One look at a namespace through the API (its Deployments, its pods, its
//! Warning events; each list bounded) and the watcher that compares each
//! look with the last, as the Docker watcher does for containers.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use tokio::sync::watch as signal;

use crate::changes::{ChangeTracker, DeploymentFacts, EventFacts, KubeChange, Look, PodFacts};
use crate::error::KubeError;
use crate::target::{KubeTarget, RESTARTED_AT, REVISION};

/// Objects of each kind one look lists at most (one page): a namespace
/// with more is beyond what this watcher is for.
const LIST_LIMIT: u32 = 500;

/// How a service is named on Kubernetes objects: the recommended label,
/// else the older `app` label, else (for a Deployment) its name.
pub const SERVICE_LABELS: [&str; 2] = ["app.kubernetes.io/name", "app"];

fn service_label(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    let labels = meta.labels.as_ref()?;
    SERVICE_LABELS
        .iter()
        .find_map(|l| labels.get(*l).filter(|v| !v.is_empty()).cloned())
}

pub(crate) fn deployment_facts(d: &Deployment) -> Option<DeploymentFacts> {
    let name = d.metadata.name.clone()?;
    let template = &d.spec.template;
    let images = template
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| format!("{}={}", c.name, c.image.as_deref().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let restarted_at = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT).cloned());
    let stuck = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter().find(|c| {
                c.type_.as_deref() == Some("Progressing")
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        })
        .map(|c| c.message.clone().unwrap_or_default());
    Some(DeploymentFacts {
        service: service_label(&d.metadata).unwrap_or_else(|| name.clone()),
        revision: d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .and_then(|r| r.parse().ok()),
        images,
        restarted_at,
        replicas: d.spec.replicas.unwrap_or(1),
        stuck,
        name,
    })
}

pub(crate) fn pod_facts(p: &Pod) -> Option<PodFacts> {
    let name = p.metadata.name.clone()?;
    let service = service_label(&p.metadata)?;
    let statuses = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let restarts = statuses.iter().map(|c| i64::from(c.restart_count)).sum();
    // the latest termination among the containers that restarted
    let last = statuses
        .iter()
        .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
        .max_by_key(|t| t.finished_at.as_ref().map(|f| f.0.as_millisecond()));
    Some(PodFacts {
        name,
        service,
        restarts,
        last_exit: last.map(|t| {
            format!(
                "{} (exit {})",
                t.reason.as_deref().unwrap_or("terminated"),
                t.exit_code
            )
        }),
        last_exit_ms: last
            .and_then(|t| t.finished_at.as_ref())
            .map(|f| f.0.as_millisecond()),
    })
}

pub(crate) fn event_facts(e: &Event) -> Option<EventFacts> {
    let at_ms = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0.as_millisecond())
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0.as_millisecond()))
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_millisecond()));
    Some(EventFacts {
        uid: e.metadata.uid.clone()?,
        object_kind: e.involved_object.kind.clone().unwrap_or_default(),
        object_name: e.involved_object.name.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_else(|| "Warning".into()),
        message: e.message.clone().unwrap_or_default(),
        count: i64::from(
            e.series
                .as_ref()
                .and_then(|s| s.count)
                .or(e.count)
                .unwrap_or(1),
        ),
        at_ms,
    })
}

impl KubeTarget {
    /// The namespace's Deployments, pods and Warning events, now.
    pub async fn look(&self) -> Result<Look, KubeError> {
        let ns = self.namespace().to_owned();
        let err = |kind: &'static str| {
            let ns = ns.clone();
            move |e| KubeError::from_kube(e, kind, "(list)", &ns)
        };
        let page = ListParams::default().limit(LIST_LIMIT);
        let deployments: Api<Deployment> = Api::namespaced(self.client(), &ns);
        let pods: Api<Pod> = Api::namespaced(self.client(), &ns);
        let events: Api<Event> = Api::namespaced(self.client(), &ns);
        let deployments = deployments.list(&page).await.map_err(err("deployment"))?;
        let pods = pods.list(&page).await.map_err(err("pod"))?;
        let events = events
            .list(&page.clone().fields("type=Warning"))
            .await
            .map_err(err("event"))?;
        Ok(Look {
            deployments: deployments
                .items
                .iter()
                .filter_map(deployment_facts)
                .collect(),
            pods: pods.items.iter().filter_map(pod_facts).collect(),
            events: events.items.iter().filter_map(event_facts).collect(),
        })
    }
}

/// Looks every `poll` until `stop` turns true; `on_changes` gets every
/// batch of changes with the time of the look. An API that does not
/// answer is said once per outage, not every poll.
pub async fn watch(
    target: KubeTarget,
    poll: Duration,
    now_ms: impl Fn() -> i64,
    mut on_changes: impl FnMut(Vec<KubeChange>, i64),
    mut stop: signal::Receiver<bool>,
) {
    let mut tracker = ChangeTracker::new();
    let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        match target.look().await {
            Ok(look) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(namespace = %target.namespace(), "kubernetes api answers again");
                }
                let now = now_ms();
                let changes = tracker.observe(&look, now);
                if !changes.is_empty() {
                    on_changes(changes, now);
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, namespace = %target.namespace(), "cannot look at the namespace; retrying");
                }
            }
        }
    }
}
