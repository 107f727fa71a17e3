//! From successive looks at a namespace to changes: a Deployment that
//! rolled out a new revision (another image, or a `rollout restart`), a
//! Deployment scaled, a pod whose containers restarted (with the reason
//! the kubelet gives, such as `OOMKilled`), a rollout the controller gave
//! up on, and Kubernetes' own Warning events (`BackOff`, `Unhealthy`,
//! `FailedScheduling`, ...). Pure: the caller says when it looked.

use std::collections::HashMap;

/// A Deployment as the tracker compares it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFacts {
    pub name: String,
    pub service: String,
    pub revision: Option<u64>,
    /// `container=image`, in the template's order.
    pub images: Vec<String>,
    /// The template's `kubectl.kubernetes.io/restartedAt` annotation.
    pub restarted_at: Option<String>,
    pub replicas: i32,
    /// The controller's message when it reports ProgressDeadlineExceeded.
    pub stuck: Option<String>,
}

/// A pod's restarts, summed over its containers.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFacts {
    pub name: String,
    pub service: String,
    pub restarts: i64,
    /// The last termination of a container that restarted: `OOMKilled
    /// (exit 137)`.
    pub last_exit: Option<String>,
    /// When that container stopped, unix ms.
    pub last_exit_ms: Option<i64>,
}

/// A Warning event (core/v1), about an object of the namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFacts {
    pub uid: String,
    /// `Pod`, `Deployment`, `ReplicaSet`, ...
    pub object_kind: String,
    pub object_name: String,
    pub reason: String,
    pub message: String,
    /// How many times the event occurred (the API folds repeats into one).
    pub count: i64,
    /// Its last occurrence, unix ms.
    pub at_ms: Option<i64>,
}

/// One look at a namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Look {
    pub deployments: Vec<DeploymentFacts>,
    pub pods: Vec<PodFacts>,
    pub events: Vec<EventFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeChangeKind {
    /// A new revision with another pod template (an image, an argument).
    Rollout,
    /// A new revision whose only change is the restart annotation.
    RolloutRestart,
    /// The replica count changed (a person, an autoscaler, the engine).
    Scaled,
    /// A pod's containers restarted.
    PodRestart,
    /// Kubernetes reported a problem: a Warning event, a stuck rollout.
    Warning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubeChange {
    pub kind: KubeChangeKind,
    pub service: String,
    /// What changed, as Kubernetes names it: `deployment/payments`,
    /// `pod/payments-7d9c-x2`, `event/BackOff`.
    pub subject: String,
    /// When it happened by Kubernetes' account where it says, else when
    /// it was seen.
    pub at_ms: i64,
    /// One lowercase sentence with the facts behind it.
    pub why: String,
}

/// Objects remembered at most, per kind; the longest unseen go first. A
/// namespace has tens, so this only bounds a runaway (pods of a crash loop
/// recreated under new names, a storm of events).
pub const MAX_TRACKED: usize = 4_096;
/// A message is cut to this many characters in a change's text.
const MAX_MESSAGE: usize = 240;

#[derive(Debug)]
struct Seen<T> {
    facts: T,
    last_seen_ms: i64,
}

#[derive(Debug, Default)]
pub struct ChangeTracker {
    deployments: HashMap<String, Seen<DeploymentFacts>>,
    pods: HashMap<String, Seen<PodFacts>>,
    /// By uid: the count last seen.
    events: HashMap<String, Seen<i64>>,
    /// The first look only remembers: the engine starting is not a change,
    /// nor are the events that were already there.
    looked: bool,
}

impl ChangeTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// One look at `now_ms`.
    pub fn observe(&mut self, look: &Look, now_ms: i64) -> Vec<KubeChange> {
        let first = !std::mem::replace(&mut self.looked, true);
        let mut changes = Vec::new();
        for d in &look.deployments {
            if let Some(before) = self.deployments.get(&d.name)
                && !first
            {
                compare_deployment(&before.facts, d, now_ms, &mut changes);
            }
            remember(&mut self.deployments, &d.name, d.clone(), now_ms);
        }
        for p in &look.pods {
            // a pod first seen later is a new pod (a rollout, a
            // rescheduling): the deployment's change says so
            if let Some(before) = self.pods.get(&p.name)
                && p.restarts > before.facts.restarts
            {
                changes.push(pod_restart(&before.facts, p, now_ms));
            }
            remember(&mut self.pods, &p.name, p.clone(), now_ms);
        }
        for e in &look.events {
            let before = self.events.get(&e.uid).map(|s| s.facts);
            let new = match before {
                None => !first,
                Some(count) => e.count > count,
            };
            if new && let Some(service) = service_of(look, e) {
                changes.push(warning(e, service, before, now_ms));
            }
            remember(&mut self.events, &e.uid, e.count, now_ms);
        }
        changes
    }
}

fn remember<T>(map: &mut HashMap<String, Seen<T>>, key: &str, facts: T, now_ms: i64) {
    map.insert(
        key.to_owned(),
        Seen {
            facts,
            last_seen_ms: now_ms,
        },
    );
    if map.len() <= MAX_TRACKED {
        return;
    }
    let mut by_age: Vec<(i64, String)> = map
        .iter()
        .map(|(k, s)| (s.last_seen_ms, k.clone()))
        .collect();
    by_age.sort();
    let excess = map.len() - MAX_TRACKED;
    for (_, k) in by_age.into_iter().take(excess) {
        map.remove(&k);
    }
}

fn compare_deployment(
    before: &DeploymentFacts,
    now: &DeploymentFacts,
    now_ms: i64,
    out: &mut Vec<KubeChange>,
) {
    let change = |kind, why| KubeChange {
        kind,
        service: now.service.clone(),
        subject: format!("deployment/{}", now.name),
        at_ms: now_ms,
        why,
    };
    let revision = |r: Option<u64>| r.map_or_else(|| "?".to_owned(), |r| r.to_string());
    if now.revision != before.revision {
        if now.images != before.images {
            out.push(change(
                KubeChangeKind::Rollout,
                format!(
                    "deployment {} rolled out revision {}: {}, was {}",
                    now.name,
                    revision(now.revision),
                    now.images.join(", "),
                    before.images.join(", ")
                ),
            ));
        } else if now.restarted_at != before.restarted_at {
            out.push(change(
                KubeChangeKind::RolloutRestart,
                format!(
                    "deployment {} was restarted (rollout restart at {}), revision {}",
                    now.name,
                    now.restarted_at.as_deref().unwrap_or("?"),
                    revision(now.revision)
                ),
            ));
        } else {
            out.push(change(
                KubeChangeKind::Rollout,
                format!(
                    "deployment {} rolled out revision {} (was {}), same images {}",
                    now.name,
                    revision(now.revision),
                    revision(before.revision),
                    now.images.join(", ")
                ),
            ));
        }
    }
    if now.replicas != before.replicas {
        out.push(change(
            KubeChangeKind::Scaled,
            format!(
                "deployment {} scaled from {} to {} replicas",
                now.name, before.replicas, now.replicas
            ),
        ));
    }
    if let Some(why) = &now.stuck
        && before.stuck.is_none()
    {
        out.push(change(
            KubeChangeKind::Warning,
            format!(
                "the rollout of deployment {} (revision {}) is stuck: {}",
                now.name,
                revision(now.revision),
                clip(why)
            ),
        ));
    }
}

fn pod_restart(before: &PodFacts, now: &PodFacts, now_ms: i64) -> KubeChange {
    let exit = now
        .last_exit
        .as_deref()
        .map(|e| format!(", last exit: {e}"))
        .unwrap_or_default();
    KubeChange {
        kind: KubeChangeKind::PodRestart,
        service: now.service.clone(),
        subject: format!("pod/{}", now.name),
        at_ms: now.last_exit_ms.unwrap_or(now_ms).min(now_ms),
        why: format!(
            "pod {} restarted ({} -> {} restarts{exit})",
            now.name, before.restarts, now.restarts
        ),
    }
}

fn warning(e: &EventFacts, service: String, before: Option<i64>, now_ms: i64) -> KubeChange {
    let times = match before {
        Some(count) => format!(" ({} more times, {} in all)", e.count - count, e.count),
        None if e.count > 1 => format!(" ({} times)", e.count),
        None => String::new(),
    };
    KubeChange {
        kind: KubeChangeKind::Warning,
        service,
        subject: format!("event/{}", e.reason),
        at_ms: e.at_ms.unwrap_or(now_ms).min(now_ms),
        why: format!(
            "kubernetes warning {} on {}/{}{times}: {}",
            e.reason,
            e.object_kind.to_lowercase(),
            e.object_name,
            clip(&e.message)
        ),
    }
}

/// The service an event is about: its pod's or its Deployment's (a
/// ReplicaSet's name is its Deployment's and a hash). None for objects
/// of no service (a node, a PVC): those are not a service's change.
fn service_of(look: &Look, e: &EventFacts) -> Option<String> {
    let deployment = |name: &str| {
        look.deployments
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.service.clone())
    };
    match e.object_kind.as_str() {
        "Pod" => look
            .pods
            .iter()
            .find(|p| p.name == e.object_name)
            .map(|p| p.service.clone()),
        "Deployment" => deployment(&e.object_name),
        "ReplicaSet" => deployment(e.object_name.rsplit_once('-')?.0),
        "HorizontalPodAutoscaler" => deployment(&e.object_name),
        _ => None,
    }
}

fn clip(text: &str) -> String {
    text_clip::clip(text.trim(), MAX_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(revision: u64, image: &str) -> DeploymentFacts {
        DeploymentFacts {
            name: "payments".into(),
            service: "payments".into(),
            revision: Some(revision),
            images: vec![format!("payments={image}")],
            restarted_at: None,
            replicas: 2,
            stuck: None,
        }
    }

    fn pod(restarts: i64, exit: Option<&str>) -> PodFacts {
        PodFacts {
            name: "payments-7d9c-x2".into(),
            service: "payments".into(),
            restarts,
            last_exit: exit.map(str::to_owned),
            last_exit_ms: exit.map(|_| 9_000),
        }
    }

    fn event(uid: &str, kind: &str, name: &str, reason: &str, count: i64) -> EventFacts {
        EventFacts {
            uid: uid.into(),
            object_kind: kind.into(),
            object_name: name.into(),
            reason: reason.into(),
            message: "Back-off restarting failed container payments".into(),
            count,
            at_ms: Some(9_500),
        }
    }

    fn look(d: DeploymentFacts, p: PodFacts, events: Vec<EventFacts>) -> Look {
        Look {
            deployments: vec![d],
            pods: vec![p],
            events,
        }
    }

    #[test]
    fn the_first_look_only_remembers() {
        let mut t = ChangeTracker::new();
        let first = look(
            deployment(3, "aiops/shop:v3"),
            pod(4, Some("OOMKilled (exit 137)")),
            vec![event("e1", "Pod", "payments-7d9c-x2", "BackOff", 7)],
        );
        assert!(t.observe(&first, 1_000).is_empty());
        assert!(t.observe(&first, 2_000).is_empty(), "nothing changed");
    }

    #[test]
    fn a_new_image_is_a_rollout_and_a_restart_annotation_a_rollout_restart() {
        let mut t = ChangeTracker::new();
        t.observe(
            &look(deployment(3, "aiops/shop:v3"), pod(0, None), vec![]),
            1_000,
        );
        let changes = t.observe(
            &look(deployment(4, "aiops/shop:v4"), pod(0, None), vec![]),
            2_000,
        );
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].kind, KubeChangeKind::Rollout);
        assert_eq!(changes[0].subject, "deployment/payments");
        assert_eq!(
            changes[0].why,
            "deployment payments rolled out revision 4: payments=aiops/shop:v4, was payments=aiops/shop:v3"
        );
        let mut restarted = deployment(5, "aiops/shop:v4");
        restarted.restarted_at = Some("2026-12-07T10:00:00Z".into());
        let changes = t.observe(&look(restarted, pod(0, None), vec![]), 3_000);
        assert_eq!(
            changes[0].kind,
            KubeChangeKind::RolloutRestart,
            "{changes:?}"
        );
        assert!(
            changes[0]
                .why
                .contains("rollout restart at 2026-12-07T10:00:00Z")
        );
    }

    #[test]
    fn scaling_and_a_stuck_rollout_are_said_once() {
        let mut t = ChangeTracker::new();
        t.observe(&look(deployment(3, "v3"), pod(0, None), vec![]), 1_000);
        let mut scaled = deployment(3, "v3");
        scaled.replicas = 5;
        scaled.stuck = Some("ReplicaSet \"payments-x\" has timed out progressing.".into());
        let changes = t.observe(&look(scaled.clone(), pod(0, None), vec![]), 2_000);
        let kinds: Vec<_> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [KubeChangeKind::Scaled, KubeChangeKind::Warning]);
        assert_eq!(
            changes[0].why,
            "deployment payments scaled from 2 to 5 replicas"
        );
        assert!(
            changes[1].why.contains("is stuck: ReplicaSet"),
            "{}",
            changes[1].why
        );
        assert!(
            t.observe(&look(scaled, pod(0, None), vec![]), 3_000)
                .is_empty()
        );
    }

    #[test]
    fn a_pods_restart_says_how_its_container_ended() {
        let mut t = ChangeTracker::new();
        t.observe(&look(deployment(3, "v3"), pod(1, None), vec![]), 1_000);
        let changes = t.observe(
            &look(
                deployment(3, "v3"),
                pod(2, Some("OOMKilled (exit 137)")),
                vec![],
            ),
            10_000,
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, KubeChangeKind::PodRestart);
        assert_eq!(changes[0].at_ms, 9_000, "when the container stopped");
        assert_eq!(
            changes[0].why,
            "pod payments-7d9c-x2 restarted (1 -> 2 restarts, last exit: OOMKilled (exit 137))"
        );
    }

    #[test]
    fn new_warnings_and_repeats_count_and_others_do_not() {
        let mut t = ChangeTracker::new();
        let old = event("e1", "Pod", "payments-7d9c-x2", "BackOff", 3);
        t.observe(&look(deployment(3, "v3"), pod(0, None), vec![old]), 1_000);
        let events = vec![
            // repeated since
            event("e1", "Pod", "payments-7d9c-x2", "BackOff", 5),
            // new, through the replicaset
            event("e2", "ReplicaSet", "payments-7d9c", "FailedCreate", 1),
            // about no service
            event("e3", "Node", "ip-10-0-1-5", "NodeNotReady", 1),
            event("e4", "Pod", "someone-else", "Unhealthy", 1),
        ];
        let changes = t.observe(&look(deployment(3, "v3"), pod(0, None), events), 10_000);
        let whys: Vec<&str> = changes.iter().map(|c| c.why.as_str()).collect();
        assert_eq!(
            whys,
            [
                "kubernetes warning BackOff on pod/payments-7d9c-x2 (2 more times, 5 in all): Back-off restarting failed container payments",
                "kubernetes warning FailedCreate on replicaset/payments-7d9c: Back-off restarting failed container payments",
            ]
        );
        assert!(
            changes
                .iter()
                .all(|c| c.service == "payments" && c.at_ms == 9_500)
        );
    }

    #[test]
    fn memory_is_bounded_and_long_messages_cut() {
        let mut t = ChangeTracker::new();
        let mut events: Vec<EventFacts> = (0..MAX_TRACKED + 50)
            .map(|i| event(&format!("e{i}"), "Pod", "payments-7d9c-x2", "BackOff", 1))
            .collect();
        events[0].message = "x".repeat(10_000);
        t.observe(
            &look(deployment(3, "v3"), pod(0, None), events.clone()),
            1_000,
        );
        assert_eq!(t.events.len(), MAX_TRACKED);
        events[0].count = 2;
        let changes = t.observe(
            &look(deployment(3, "v3"), pod(0, None), events[..1].to_vec()),
            2_000,
        );
        assert!(changes[0].why.len() < 400, "{}", changes[0].why.len());
    }
}
