//! Changes as signals: a new build version (deploy), a process restart
//! (its start time moved), a scrape target going down and coming back, an
//! instance failing its readiness probe and passing it again.

use std::collections::HashMap;

use crate::derive::Derived;
use crate::signal::{Direction, Signal, SignalKind, Weight};

#[derive(Default, Clone)]
struct Seen {
    start_time: Option<f64>,
    version: Option<String>,
    down_since_ms: Option<i64>,
    /// Consecutive failed readiness probes, and when the first failed.
    not_ready: u32,
    not_ready_since_ms: Option<i64>,
    not_ready_reported: bool,
}

/// Failed probes in a row before an instance counts as not ready (a probe's
/// failure threshold: one slow answer is not an outage).
const NOT_READY_AFTER: u32 = 2;

#[derive(Default)]
pub struct ChangeWatch {
    seen: HashMap<(String, String), Seen>,
}

impl ChangeWatch {
    pub fn observe(&mut self, derived: &Derived, out: &mut Vec<Signal>) {
        let now = derived.ts_ms;
        for fact in &derived.instances {
            let key = (fact.service.clone(), fact.instance.clone());
            let first_sight = !self.seen.contains_key(&key);
            let seen = self.seen.entry(key).or_default();
            if let Some(start) = fact.start_time {
                if let Some(before) = seen.start_time
                    && (start - before).abs() > 0.5
                {
                    out.push(change(
                        SignalKind::Restart,
                        &fact.service,
                        "restart",
                        now,
                        (start * 1000.0) as i64,
                        Weight::Strong,
                        format!(
                            "{} ({}) restarted: process start time moved from {:.0} to {:.0}",
                            fact.service, fact.instance, before, start
                        ),
                    ));
                }
                seen.start_time = Some(start);
            }
            if let Some(version) = &fact.version {
                if let Some(before) = &seen.version
                    && before != version
                {
                    out.push(change(
                        SignalKind::Deploy,
                        &fact.service,
                        "version",
                        now,
                        now,
                        Weight::Weak,
                        format!(
                            "{} ({}) now runs version {version}, was {before}",
                            fact.service, fact.instance
                        ),
                    ));
                }
                seen.version = Some(version.clone());
            }
            match (fact.up, seen.down_since_ms) {
                (Some(up), None) if up < 0.5 && !first_sight => {
                    seen.down_since_ms = Some(now);
                    let mut signal = change(
                        SignalKind::MetricAnomaly,
                        &fact.service,
                        "up",
                        now,
                        now,
                        Weight::Strong,
                        format!(
                            "{} ({}) is down: its /metrics could not be scraped (up = 0)",
                            fact.service, fact.instance
                        ),
                    );
                    signal.key = format!("{}/up/{}", fact.service, fact.instance);
                    signal.ended_ms = None;
                    signal.direction = Direction::Down;
                    signal.value = Some(0.0);
                    signal.baseline = Some(1.0);
                    out.push(signal);
                }
                (Some(up), Some(since)) if up >= 0.5 => {
                    seen.down_since_ms = None;
                    let mut signal = change(
                        SignalKind::MetricAnomaly,
                        &fact.service,
                        "up",
                        since,
                        since,
                        Weight::Strong,
                        format!(
                            "{} ({}) was down (up = 0); scraped again after {} s",
                            fact.service,
                            fact.instance,
                            (now - since) / 1000
                        ),
                    );
                    signal.key = format!("{}/up/{}", fact.service, fact.instance);
                    signal.ended_ms = Some(now);
                    signal.direction = Direction::Down;
                    out.push(signal);
                }
                _ => {}
            }
            self.readiness(fact, now, out);
        }
    }

    fn readiness(&mut self, fact: &crate::derive::InstanceFacts, now: i64, out: &mut Vec<Signal>) {
        let key = (fact.service.clone(), fact.instance.clone());
        let Some(seen) = self.seen.get_mut(&key) else {
            return;
        };
        // while the target is down, readiness is not probed: nothing to say
        let Some(ready) = fact.ready.filter(|_| fact.up.is_none_or(|u| u >= 0.5)) else {
            return;
        };
        let signal_key = format!("{}/ready/{}", fact.service, fact.instance);
        if ready < 0.5 {
            seen.not_ready += 1;
            let since = *seen.not_ready_since_ms.get_or_insert(now);
            if seen.not_ready >= NOT_READY_AFTER && !seen.not_ready_reported {
                seen.not_ready_reported = true;
                let mut signal = change(
                    SignalKind::MetricAnomaly,
                    &fact.service,
                    "ready",
                    now,
                    since,
                    Weight::Strong,
                    format!(
                        "{} ({}) is not ready: its readiness probe failed {} times in a row",
                        fact.service, fact.instance, seen.not_ready
                    ),
                );
                signal.key = signal_key;
                signal.ended_ms = None;
                signal.direction = Direction::Down;
                signal.value = Some(0.0);
                signal.baseline = Some(1.0);
                out.push(signal);
            }
            return;
        }
        let since = seen.not_ready_since_ms.take();
        seen.not_ready = 0;
        if std::mem::take(&mut seen.not_ready_reported)
            && let Some(since) = since
        {
            let mut signal = change(
                SignalKind::MetricAnomaly,
                &fact.service,
                "ready",
                since,
                since,
                Weight::Strong,
                format!(
                    "{} ({}) was not ready for {} s; its readiness probe passes again",
                    fact.service,
                    fact.instance,
                    (now - since) / 1000
                ),
            );
            signal.key = signal_key;
            signal.ended_ms = Some(now);
            signal.direction = Direction::Down;
            out.push(signal);
        }
    }
}

/// A change another system saw and attributed to a service (the Docker
/// engine restarting or recreating a container, Kubernetes rolling out a
/// Deployment or warning about a pod): it joins
/// that service's incident like a change the engine derived itself.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideChange {
    pub service: String,
    pub kind: OutsideChangeKind,
    /// Who saw it: `docker`, `kubernetes`.
    pub source: String,
    /// What changed, as the source names it (a container).
    pub subject: String,
    /// When it happened by the source's account.
    pub at_ms: i64,
    /// One lowercase sentence with the facts behind it.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutsideChangeKind {
    /// The service's process started again (crash and restart policy, a
    /// manual restart, a recreation from the same image).
    Restart,
    /// The service now runs another image or release.
    Deploy,
    /// The service's replica count changed.
    Scale,
    /// The platform reported a problem with the service (a Kubernetes
    /// Warning event, a stuck rollout): context, as a weak alert.
    Warning,
    /// The service's container was taken off a network (`docker network
    /// disconnect`): cut off from its peers there, a fault in itself.
    LeftNetwork,
    /// The service's container was put on another network: context.
    JoinedNetwork,
}

impl OutsideChange {
    /// As a signal seen at `now_ms`: a restart and a network cut weigh
    /// strong (they can open an incident), a deploy, a scale, a warning and
    /// a network joined weak (context), as for derived changes. Network
    /// changes are the platform's alerts, not deploys: a roll-back would
    /// not undo them.
    pub fn into_signal(self, now_ms: i64) -> Signal {
        let (kind, what, weight) = match self.kind {
            OutsideChangeKind::Restart => (SignalKind::Restart, "restart", Weight::Strong),
            OutsideChangeKind::Deploy => (SignalKind::Deploy, "deploy", Weight::Weak),
            OutsideChangeKind::Scale => (SignalKind::Deploy, "scale", Weight::Weak),
            OutsideChangeKind::Warning => (SignalKind::Alert, "warning", Weight::Weak),
            OutsideChangeKind::LeftNetwork => (SignalKind::Alert, "network_left", Weight::Strong),
            OutsideChangeKind::JoinedNetwork => (SignalKind::Alert, "network_joined", Weight::Weak),
        };
        let metric = format!("{}_{what}", self.source);
        let mut signal = change(
            kind,
            &self.service,
            &metric,
            now_ms,
            self.at_ms,
            weight,
            self.why,
        );
        signal.key = format!("{}/{metric}/{}", self.service, self.subject);
        signal
    }
}

fn change(
    kind: SignalKind,
    service: &str,
    metric: &str,
    detected_ms: i64,
    onset_ms: i64,
    weight: Weight,
    why: String,
) -> Signal {
    Signal {
        key: format!("{service}/{metric}"),
        kind,
        service: service.to_owned(),
        peer: None,
        labels: Default::default(),
        metric: metric.to_owned(),
        score: 1.0,
        direction: Direction::None,
        weight,
        onset_ms: onset_ms.min(detected_ms),
        detected_ms,
        // a change is a moment, not a state
        ended_ms: Some(detected_ms),
        value: None,
        baseline: None,
        deviation: None,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::InstanceFacts;

    fn facts(ts_ms: i64, up: f64, ready: Option<f64>) -> Derived {
        Derived {
            ts_ms,
            instances: vec![InstanceFacts {
                service: "frontend".into(),
                instance: "a:1".into(),
                start_time: Some(100.0),
                up: Some(up),
                ready,
                version: Some("1.0".into()),
            }],
            ..Derived::default()
        }
    }

    #[test]
    fn an_outside_restart_is_a_strong_momentary_change_of_its_service() {
        let signal = OutsideChange {
            service: "cart".into(),
            kind: OutsideChangeKind::Restart,
            source: "docker".into(),
            subject: "shop_cart_1".into(),
            at_ms: 9_000,
            why: "cart container shop_cart_1 was restarted".into(),
        }
        .into_signal(10_000);
        assert_eq!(signal.kind, SignalKind::Restart);
        assert_eq!(signal.service, "cart");
        assert_eq!(signal.metric, "docker_restart");
        assert_eq!(signal.key, "cart/docker_restart/shop_cart_1");
        assert_eq!(signal.weight, Weight::Strong);
        assert_eq!((signal.onset_ms, signal.detected_ms), (9_000, 10_000));
        assert_eq!(signal.ended_ms, Some(10_000));
        assert!(signal.is_change());
        let deploy = OutsideChange {
            kind: OutsideChangeKind::Deploy,
            at_ms: 20_000,
            ..OutsideChange {
                service: "cart".into(),
                kind: OutsideChangeKind::Restart,
                source: "docker".into(),
                subject: "shop_cart_1".into(),
                at_ms: 0,
                why: "new image".into(),
            }
        }
        .into_signal(15_000);
        assert_eq!(deploy.kind, SignalKind::Deploy);
        assert_eq!(deploy.weight, Weight::Weak);
        assert_eq!(deploy.onset_ms, 15_000, "never after it was seen");
    }

    #[test]
    fn a_platforms_scale_and_warning_are_weak_context() {
        let outside = |kind, subject: &str| OutsideChange {
            service: "payments".into(),
            kind,
            source: "kubernetes".into(),
            subject: subject.into(),
            at_ms: 9_000,
            why: "kubernetes warning BackOff on pod/payments-x".into(),
        };
        let scale = outside(OutsideChangeKind::Scale, "deployment/payments").into_signal(10_000);
        assert_eq!(
            (scale.kind, scale.weight, scale.metric.as_str()),
            (SignalKind::Deploy, Weight::Weak, "kubernetes_scale")
        );
        let warning = outside(OutsideChangeKind::Warning, "event/BackOff").into_signal(10_000);
        assert_eq!(
            (warning.kind, warning.weight),
            (SignalKind::Alert, Weight::Weak)
        );
        assert_eq!(warning.key, "payments/kubernetes_warning/event/BackOff");
        assert!(!warning.is_change(), "a warning is a state, not a change");
    }

    #[test]
    fn a_container_cut_off_its_network_is_a_strong_alert_not_a_deploy() {
        let outside = |kind| {
            OutsideChange {
            service: "payments".into(),
            kind,
            source: "docker".into(),
            subject: "shop-payments-1".into(),
            at_ms: 9_000,
            why: "payments container shop-payments-1 was disconnected from network shop_default (now on no network)".into(),
        }
        };
        let left = outside(OutsideChangeKind::LeftNetwork).into_signal(10_000);
        assert_eq!(
            (left.kind, left.weight, left.metric.as_str()),
            (SignalKind::Alert, Weight::Strong, "docker_network_left")
        );
        assert_eq!(left.key, "payments/docker_network_left/shop-payments-1");
        assert!(left.why.contains("disconnected from network shop_default"));
        // a roll-back playbook keys on deploys: this must not look like one
        assert!(!left.is_change());
        let joined = outside(OutsideChangeKind::JoinedNetwork).into_signal(10_000);
        assert_eq!(
            (joined.kind, joined.weight),
            (SignalKind::Alert, Weight::Weak)
        );
    }

    #[test]
    fn readiness_needs_two_failed_probes_and_reports_recovery() {
        let mut watch = ChangeWatch::default();
        let mut out = Vec::new();
        watch.observe(&facts(0, 1.0, Some(1.0)), &mut out);
        watch.observe(&facts(5_000, 1.0, Some(0.0)), &mut out);
        assert!(out.is_empty(), "one failed probe is not an outage: {out:?}");
        watch.observe(&facts(10_000, 1.0, Some(0.0)), &mut out);
        assert_eq!(out.len(), 1);
        let not_ready = &out[0];
        assert_eq!(not_ready.key, "frontend/ready/a:1");
        assert_eq!(not_ready.weight, Weight::Strong);
        assert_eq!(not_ready.onset_ms, 5_000);
        assert_eq!(not_ready.ended_ms, None);
        assert!(not_ready.why.contains("not ready"), "{}", not_ready.why);
        watch.observe(&facts(15_000, 1.0, Some(0.0)), &mut out);
        assert_eq!(out.len(), 1, "reported once");
        watch.observe(&facts(20_000, 1.0, Some(1.0)), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].ended_ms, Some(20_000));
        assert_eq!(out[1].key, "frontend/ready/a:1");
    }

    #[test]
    fn a_blip_or_a_down_target_says_nothing_about_readiness() {
        let mut watch = ChangeWatch::default();
        let mut out = Vec::new();
        watch.observe(&facts(0, 1.0, Some(1.0)), &mut out);
        watch.observe(&facts(5_000, 1.0, Some(0.0)), &mut out);
        watch.observe(&facts(10_000, 1.0, Some(1.0)), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // down: the up signal speaks, readiness stays silent
        watch.observe(&facts(15_000, 0.0, Some(0.0)), &mut out);
        watch.observe(&facts(20_000, 0.0, Some(0.0)), &mut out);
        assert!(out.iter().all(|s| s.metric == "up"), "{out:?}");
    }
}
