//! From successive looks at a stack's containers to changes: a container
//! that started again (Docker's restart policy, `docker restart`, or a
//! recreation from the same image) is a restart; a container recreated from
//! another image is an image change; a running container taken off a network
//! (`docker network disconnect`) or put on one is a network change. Pure:
//! the caller says when it looked.

use std::collections::HashMap;

use crate::facts::ContainerFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerChangeKind {
    Restart,
    ImageChange,
    /// Taken off at least one network: its peers there lose it.
    LeftNetwork,
    /// Only put on more networks.
    JoinedNetwork,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerChange {
    pub kind: ContainerChangeKind,
    pub service: String,
    pub container: String,
    /// When the change happened by Docker's account (the new run's start),
    /// else when it was seen.
    pub at_ms: i64,
    pub restart_count: i64,
    /// One lowercase sentence with the facts behind it.
    pub why: String,
}

#[derive(Debug, Clone)]
struct Seen {
    id: String,
    image_id: String,
    image_ref: String,
    started_at_ms: Option<i64>,
    restart_count: i64,
    networks: Vec<String>,
    last_seen_ms: i64,
}

/// Containers remembered at most; the longest unseen go first. A stack has
/// tens, so this only bounds a runaway (a crash loop of fresh containers).
pub const MAX_TRACKED: usize = 4_096;

#[derive(Debug, Default)]
pub struct ChangeTracker {
    /// By container name, which a recreation keeps while the id changes.
    seen: HashMap<String, Seen>,
}

impl ChangeTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// One look at the containers at `now_ms`. The first look at a
    /// container only remembers it: the engine starting is not a change.
    pub fn observe(&mut self, containers: &[ContainerFacts], now_ms: i64) -> Vec<ContainerChange> {
        let mut changes = Vec::new();
        for facts in containers {
            let before = self.seen.get(&facts.name);
            // recreated but not started yet: its start, at a later look, is
            // the change, judged against the container it replaced
            if before.is_some_and(|b| b.id != facts.id) && facts.started_at_ms.is_none() {
                continue;
            }
            if let Some(change) = before.and_then(|b| compare(b, facts, now_ms)) {
                changes.push(change);
            }
            self.seen.insert(
                facts.name.clone(),
                Seen {
                    id: facts.id.clone(),
                    image_id: facts.image_id.clone(),
                    image_ref: facts.image_ref.clone(),
                    // a stopped container keeps its last start: a later
                    // start is then a restart
                    started_at_ms: facts.started_at_ms,
                    restart_count: facts.restart_count,
                    networks: facts.networks.clone(),
                    last_seen_ms: now_ms,
                },
            );
        }
        self.evict();
        changes
    }

    fn evict(&mut self) {
        if self.seen.len() <= MAX_TRACKED {
            return;
        }
        let mut by_age: Vec<(i64, String)> = self
            .seen
            .iter()
            .map(|(name, seen)| (seen.last_seen_ms, name.clone()))
            .collect();
        by_age.sort();
        let excess = self.seen.len() - MAX_TRACKED;
        for (_, name) in by_age.into_iter().take(excess) {
            self.seen.remove(&name);
        }
    }
}

fn compare(before: &Seen, now: &ContainerFacts, now_ms: i64) -> Option<ContainerChange> {
    let at_ms = now.started_at_ms.unwrap_or(now_ms).min(now_ms);
    let change = |kind, why| ContainerChange {
        kind,
        service: now.service.clone(),
        container: now.name.clone(),
        at_ms,
        restart_count: now.restart_count,
        why,
    };
    if before.id != now.id {
        if before.image_id != now.image_id {
            return Some(change(
                ContainerChangeKind::ImageChange,
                format!(
                    "{} container {} was recreated from image {} ({}), was {} ({})",
                    now.service,
                    now.name,
                    now.image_ref,
                    short_id(&now.image_id),
                    before.image_ref,
                    short_id(&before.image_id)
                ),
            ));
        }
        return Some(change(
            ContainerChangeKind::Restart,
            format!(
                "{} container {} was recreated from the same image {}",
                now.service, now.name, now.image_ref
            ),
        ));
    }
    let started_again = matches!(
        (before.started_at_ms, now.started_at_ms),
        (Some(a), Some(b)) if b > a
    );
    if !started_again {
        return network_change(before, now, now_ms);
    }
    let by_policy = now.restart_count > before.restart_count;
    let exit = now
        .exit_code
        .filter(|code| *code != 0)
        .map(|code| format!(", last exit code {code}"))
        .unwrap_or_default();
    Some(change(
        ContainerChangeKind::Restart,
        if by_policy {
            format!(
                "{} container {} was restarted by docker's restart policy (restart count {} -> {}{exit})",
                now.service, now.name, before.restart_count, now.restart_count
            )
        } else {
            format!(
                "{} container {} was started again (restart count {}{exit})",
                now.service, now.name, now.restart_count
            )
        },
    ))
}

/// The same run of a container on other networks: seen when it happens
/// (Docker keeps no time of it).
fn network_change(before: &Seen, now: &ContainerFacts, now_ms: i64) -> Option<ContainerChange> {
    if before.networks == now.networks {
        return None;
    }
    let left: Vec<&str> = before
        .networks
        .iter()
        .filter(|n| !now.networks.contains(n))
        .map(String::as_str)
        .collect();
    let joined: Vec<&str> = now
        .networks
        .iter()
        .filter(|n| !before.networks.contains(n))
        .map(String::as_str)
        .collect();
    let on = if now.networks.is_empty() {
        "no network".to_string()
    } else {
        now.networks.join(", ")
    };
    let (kind, what) = if left.is_empty() {
        (
            ContainerChangeKind::JoinedNetwork,
            format!("was connected to network {}", joined.join(", ")),
        )
    } else {
        (
            ContainerChangeKind::LeftNetwork,
            format!("was disconnected from network {}", left.join(", ")),
        )
    };
    Some(ContainerChange {
        kind,
        service: now.service.clone(),
        container: now.name.clone(),
        at_ms: now_ms,
        restart_count: now.restart_count,
        why: format!(
            "{} container {} {what} (now on {on})",
            now.service, now.name
        ),
    })
}

fn short_id(image_id: &str) -> &str {
    let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::RunState;

    fn cart(id: &str, image: &str, started: Option<i64>, restarts: i64) -> ContainerFacts {
        ContainerFacts {
            id: id.into(),
            name: "shop_cart_1".into(),
            service: "cart".into(),
            image_id: format!("sha256:{image}"),
            image_ref: format!("aiops/shop:{image}"),
            state: RunState::Running,
            started_at_ms: started,
            restart_count: restarts,
            exit_code: Some(0),
            health: None,
            networks: vec!["shop_default".into()],
        }
    }

    #[test]
    fn the_first_look_is_not_a_change() {
        let mut tracker = ChangeTracker::new();
        assert!(
            tracker
                .observe(&[cart("a", "v1", Some(1_000), 3)], 5_000)
                .is_empty()
        );
        assert!(
            tracker
                .observe(&[cart("a", "v1", Some(1_000), 3)], 7_000)
                .is_empty()
        );
    }

    #[test]
    fn a_policy_restart_is_reported_once_with_its_count_and_exit_code() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let mut crashed = cart("a", "v1", Some(9_000), 1);
        crashed.exit_code = Some(134);
        let changes = tracker.observe(std::slice::from_ref(&crashed), 9_500);
        assert_eq!(changes.len(), 1);
        let restart = &changes[0];
        assert_eq!(restart.kind, ContainerChangeKind::Restart);
        assert_eq!(restart.service, "cart");
        assert_eq!(restart.at_ms, 9_000);
        assert_eq!(restart.restart_count, 1);
        assert!(restart.why.contains("restart policy"), "{}", restart.why);
        assert!(restart.why.contains("0 -> 1"), "{}", restart.why);
        assert!(restart.why.contains("exit code 134"), "{}", restart.why);
        assert!(
            tracker.observe(&[crashed], 11_000).is_empty(),
            "reported once"
        );
    }

    #[test]
    fn a_manual_restart_changes_the_start_but_not_the_count() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let changes = tracker.observe(&[cart("a", "v1", Some(3_000), 0)], 4_000);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ContainerChangeKind::Restart);
        assert!(
            changes[0].why.contains("started again"),
            "{}",
            changes[0].why
        );
    }

    #[test]
    fn a_stopped_container_is_no_change_until_it_starts_again() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let mut stopped = cart("a", "v1", Some(1_000), 0);
        stopped.state = RunState::Exited;
        assert!(tracker.observe(&[stopped], 3_000).is_empty());
        assert_eq!(
            tracker
                .observe(&[cart("a", "v1", Some(4_000), 0)], 5_000)
                .len(),
            1
        );
    }

    #[test]
    fn a_recreation_from_another_image_is_an_image_change() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let changes = tracker.observe(&[cart("b", "v2", Some(6_000), 0)], 7_000);
        assert_eq!(changes.len(), 1);
        let change = &changes[0];
        assert_eq!(change.kind, ContainerChangeKind::ImageChange);
        assert_eq!(change.at_ms, 6_000);
        assert!(change.why.contains("aiops/shop:v2"), "{}", change.why);
        assert!(change.why.contains("was aiops/shop:v1"), "{}", change.why);
    }

    #[test]
    fn a_recreation_from_the_same_image_is_a_restart_once_started() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        assert!(
            tracker
                .observe(&[cart("b", "v1", None, 0)], 3_000)
                .is_empty(),
            "created, not started"
        );
        let changes = tracker.observe(&[cart("b", "v1", Some(3_500), 0)], 4_000);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ContainerChangeKind::Restart);
        assert!(changes[0].why.contains("recreated"), "{}", changes[0].why);
    }

    #[test]
    fn a_start_time_in_the_future_is_clamped_to_now() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let changes = tracker.observe(&[cart("a", "v1", Some(90_000), 1)], 5_000);
        assert_eq!(changes[0].at_ms, 5_000);
    }

    #[test]
    fn a_container_taken_off_its_network_is_a_change_once() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let mut cut_off = cart("a", "v1", Some(1_000), 0);
        cut_off.networks.clear();
        let changes = tracker.observe(std::slice::from_ref(&cut_off), 3_000);
        assert_eq!(changes.len(), 1);
        let change = &changes[0];
        assert_eq!(change.kind, ContainerChangeKind::LeftNetwork);
        assert_eq!(change.at_ms, 3_000);
        assert_eq!(
            change.why,
            "cart container shop_cart_1 was disconnected from network shop_default (now on no network)"
        );
        assert!(
            tracker.observe(&[cut_off], 4_000).is_empty(),
            "reported once"
        );
        let changes = tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 5_000);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ContainerChangeKind::JoinedNetwork);
        assert!(
            changes[0].why.contains("connected to network shop_default"),
            "{}",
            changes[0].why
        );
    }

    #[test]
    fn a_restart_is_a_restart_whatever_its_networks() {
        let mut tracker = ChangeTracker::new();
        tracker.observe(&[cart("a", "v1", Some(1_000), 0)], 2_000);
        let mut restarted = cart("a", "v1", Some(3_000), 1);
        restarted.networks.push("shop_backend".into());
        let changes = tracker.observe(&[restarted], 4_000);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ContainerChangeKind::Restart);
    }

    #[test]
    fn memory_is_bounded() {
        let mut tracker = ChangeTracker::new();
        for i in 0..(MAX_TRACKED + 50) {
            let mut c = cart(&format!("id{i}"), "v1", Some(1_000), 0);
            c.name = format!("c{i}");
            tracker.observe(&[c], i as i64);
        }
        assert_eq!(tracker.len(), MAX_TRACKED);
        // the oldest went first
        let mut first = cart("x", "v2", Some(2_000), 0);
        first.name = "c0".into();
        assert!(
            tracker.observe(&[first], 1_000_000).is_empty(),
            "c0 was forgotten"
        );
    }
}
