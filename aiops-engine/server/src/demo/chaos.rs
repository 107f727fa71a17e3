//! The game-day planner: from a seed and a schedule, an endless list of
//! (when, which service, which fault). Pure and deterministic: time is an
//! offset from the demo's start, never the wall clock, so a seed replays the
//! same game day and the tests need no sleeping.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use shop_topology::SERVICES;

/// Who calls whom in the shop (its `SHOP_<PEER>_URL` wiring); a peer fault
/// only makes sense on a caller, naming one of its callees.
pub fn peers_of(service: &str) -> &'static [&'static str] {
    shop_topology::service(service)
        .map(|s| s.peers)
        .unwrap_or(&[])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMode {
    Timeout,
    Error,
}

impl PeerMode {
    fn as_str(self) -> &'static str {
        match self {
            PeerMode::Timeout => "timeout",
            PeerMode::Error => "error",
        }
    }
}

/// A fault as the shop's chaos API takes it (`POST /admin/chaos`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Errors { status: u16, rate: f64 },
    Latency { ms: u64, rate: f64 },
    Peer { name: &'static str, mode: PeerMode },
    Cpu { percent: u8 },
    Leak { mb_per_min: f64 },
    Crash,
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Errors { .. } => "errors",
            Fault::Latency { .. } => "latency",
            Fault::Peer { .. } => "peer",
            Fault::Cpu { .. } => "cpu",
            Fault::Leak { .. } => "leak",
            Fault::Crash => "crash",
        }
    }

    /// The request body for `POST /admin/chaos`.
    pub fn to_json(&self) -> Value {
        match self {
            Fault::Errors { status, rate } => {
                json!({"kind": "errors", "status": status, "rate": rate})
            }
            Fault::Latency { ms, rate } => json!({"kind": "latency", "ms": ms, "rate": rate}),
            Fault::Peer { name, mode } => {
                json!({"kind": "peer", "name": name, "mode": mode.as_str()})
            }
            Fault::Cpu { percent } => json!({"kind": "cpu", "percent": percent}),
            Fault::Leak { mb_per_min } => json!({"kind": "leak", "mb_per_min": mb_per_min}),
            Fault::Crash => json!({"kind": "crash"}),
        }
    }

    /// One short phrase for the terminal, e.g. `errors status=500 rate=0.5`.
    pub fn describe(&self) -> String {
        match self {
            Fault::Errors { status, rate } => format!("errors status={status} rate={rate}"),
            Fault::Latency { ms, rate } => format!("latency ms={ms} rate={rate}"),
            Fault::Peer { name, mode } => format!("peer name={name} mode={}", mode.as_str()),
            Fault::Cpu { percent } => format!("cpu percent={percent}"),
            Fault::Leak { mb_per_min } => format!("leak mb_per_min={mb_per_min}"),
            Fault::Crash => self.kind().into(),
        }
    }

    /// A crash clears itself: the process dies and the shop's supervisor
    /// starts a fresh one without the fault.
    pub fn clears_itself(&self) -> bool {
        matches!(self, Fault::Crash)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Quiet time first, so the detectors learn a baseline.
    pub warmup: Duration,
    pub every: Duration,
    /// How long a fault stays before it is cleared (at most `every`, so one
    /// fault is active at a time and the root cause stays unambiguous).
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    /// Offset from the demo's start.
    pub at: Duration,
    /// Offset at which the fault is deleted; `None` when it clears itself.
    pub clears_at: Option<Duration>,
    pub service: &'static str,
    pub port: u16,
    pub fault: Fault,
}

/// An endless iterator of injections, one per `every` after the warm-up.
pub struct Planner {
    rng: StdRng,
    schedule: Schedule,
    next: u32,
}

impl Planner {
    pub fn new(seed: u64, schedule: Schedule) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            schedule,
            next: 0,
        }
    }

    fn draw_fault(&mut self, service: &'static str) -> Fault {
        let peers = peers_of(service);
        // Peer faults only where the service has peers; the other five
        // kinds are always possible, each equally likely.
        let kinds = if peers.is_empty() { 5 } else { 6 };
        match self.rng.random_range(0..kinds) {
            0 => Fault::Errors {
                status: 500,
                // Whole percents read better in the terminal than 0.4137...
                rate: f64::from(self.rng.random_range(30u8..=80)) / 100.0,
            },
            1 => Fault::Latency {
                ms: self.rng.random_range(6u64..=30) * 50,
                rate: 1.0,
            },
            2 => Fault::Cpu { percent: 90 },
            3 => Fault::Leak { mb_per_min: 50.0 },
            4 => Fault::Crash,
            _ => Fault::Peer {
                name: peers[self.rng.random_range(0..peers.len())],
                mode: if self.rng.random_bool(0.5) {
                    PeerMode::Timeout
                } else {
                    PeerMode::Error
                },
            },
        }
    }
}

impl Iterator for Planner {
    type Item = Injection;

    fn next(&mut self) -> Option<Injection> {
        let at = self.schedule.warmup + self.schedule.every.saturating_mul(self.next);
        self.next = self.next.saturating_add(1);
        let picked = &SERVICES[self.rng.random_range(0..SERVICES.len())];
        let (service, port) = (picked.name, picked.port);
        let fault = self.draw_fault(service);
        let clears_at = (!fault.clears_itself()).then(|| at + self.schedule.duration);
        Some(Injection {
            at,
            clears_at,
            service,
            port,
            fault,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const SCHEDULE: Schedule = Schedule {
        warmup: Duration::from_secs(180),
        every: Duration::from_secs(300),
        duration: Duration::from_secs(120),
    };

    fn plan(seed: u64, n: usize) -> Vec<Injection> {
        Planner::new(seed, SCHEDULE).take(n).collect()
    }

    #[test]
    fn a_seed_replays_the_same_game_day() {
        assert_eq!(plan(42, 200), plan(42, 200));
        assert_ne!(plan(42, 200), plan(43, 200));
    }

    #[test]
    fn injections_follow_the_schedule() {
        for (k, injection) in plan(7, 50).iter().enumerate() {
            let at = SCHEDULE.warmup + SCHEDULE.every * u32::try_from(k).expect("small");
            assert_eq!(injection.at, at);
            match injection.fault {
                Fault::Crash => assert_eq!(injection.clears_at, None),
                _ => assert_eq!(injection.clears_at, Some(at + SCHEDULE.duration)),
            }
        }
    }

    #[test]
    fn many_draws_cover_every_service_and_fault_kind() {
        let injections = plan(1, 2000);
        let services: BTreeSet<_> = injections.iter().map(|i| i.service).collect();
        let kinds: BTreeSet<_> = injections.iter().map(|i| i.fault.kind()).collect();
        assert_eq!(services.len(), SERVICES.len(), "{services:?}");
        assert_eq!(
            kinds,
            ["cpu", "crash", "errors", "latency", "leak", "peer"]
                .into_iter()
                .collect()
        );
        let modes: BTreeSet<_> = injections
            .iter()
            .filter_map(|i| match i.fault {
                Fault::Peer { mode, .. } => Some(mode.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(modes.len(), 2);
        // Per service every applicable kind is equally likely: about 18% each,
        // peer faults about 10% (four of the seven services have peers).
        for kind in &kinds {
            let share = injections
                .iter()
                .filter(|i| i.fault.kind() == *kind)
                .count() as f64
                / injections.len() as f64;
            assert!((0.06..0.25).contains(&share), "{kind}: {share}");
        }
    }

    #[test]
    fn faults_stay_within_their_ranges_and_ports_match() {
        for injection in plan(3, 2000) {
            assert_eq!(
                SERVICES
                    .iter()
                    .find(|s| s.name == injection.service)
                    .map(|s| s.port),
                Some(injection.port)
            );
            match injection.fault {
                Fault::Errors { status, rate } => {
                    assert_eq!(status, 500);
                    assert!((0.3..=0.8).contains(&rate), "{rate}");
                }
                Fault::Latency { ms, rate } => {
                    assert!((300..=1500).contains(&ms), "{ms}");
                    assert!((rate - 1.0).abs() < f64::EPSILON);
                }
                Fault::Cpu { percent } => assert_eq!(percent, 90),
                Fault::Leak { mb_per_min } => assert!((mb_per_min - 50.0).abs() < f64::EPSILON),
                Fault::Peer { .. } | Fault::Crash => {}
            }
        }
    }

    #[test]
    fn peer_faults_name_a_real_peer_of_the_service() {
        let mut seen = BTreeSet::new();
        for injection in plan(11, 3000) {
            if let Fault::Peer { name, .. } = injection.fault {
                assert!(
                    peers_of(injection.service).contains(&name),
                    "{} does not call {name}",
                    injection.service
                );
                assert_ne!(name, injection.service);
                seen.insert((injection.service, name));
            }
        }
        let all: usize = SERVICES.iter().map(|s| s.peers.len()).sum();
        assert_eq!(seen.len(), all, "every caller/callee pair is drawn");
    }

    #[test]
    fn every_fault_is_one_the_shop_accepts() {
        for injection in plan(5, 500) {
            let body = injection.fault.to_json().to_string();
            let parsed: shop_common::chaos::Fault =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
            parsed
                .validate()
                .unwrap_or_else(|e| panic!("{body} is refused: {e}"));
        }
    }

    #[test]
    fn descriptions_are_short_and_name_the_kind() {
        for injection in plan(9, 100) {
            let text = injection.fault.describe();
            assert!(text.starts_with(injection.fault.kind()), "{text}");
        }
        assert_eq!(
            Fault::Errors {
                status: 500,
                rate: 0.5
            }
            .describe(),
            "errors status=500 rate=0.5"
        );
    }
}
