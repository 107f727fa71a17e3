//! The reference shop's topology, defined once and read by everything that
//! starts, watches or breaks the shop: the services themselves (their
//! default ports and peers), `shop up`, `aiops demo` and the chaos harness.
//! Plain data with no dependencies, so the engine can know the shop's shape
//! without linking any shop code.

/// One service of the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    /// Its port on loopback in embedded mode (`aiops demo`, `shop up`).
    pub port: u16,
    /// The services it calls.
    pub peers: &'static [&'static str],
}

/// Every service, in port order (frontend 8080 ... recommendation 8086).
pub const SERVICES: [Service; 7] = [
    Service {
        name: "frontend",
        port: 8080,
        peers: &["catalog", "cart", "checkout", "orders", "recommendation"],
    },
    Service {
        name: "catalog",
        port: 8081,
        peers: &[],
    },
    Service {
        name: "cart",
        port: 8082,
        peers: &["catalog"],
    },
    Service {
        name: "orders",
        port: 8083,
        peers: &[],
    },
    Service {
        name: "checkout",
        port: 8084,
        peers: &["cart", "catalog", "payments", "orders"],
    },
    Service {
        name: "payments",
        port: 8085,
        peers: &[],
    },
    Service {
        name: "recommendation",
        port: 8086,
        peers: &["catalog"],
    },
];

/// The order to start them in: every service after the services it calls,
/// so the first requests find their peers (stop in the reverse order).
pub const START_ORDER: [&str; 7] = [
    "catalog",
    "payments",
    "orders",
    "cart",
    "recommendation",
    "checkout",
    "frontend",
];

/// The fault kinds of every service's chaos API (`/admin/chaos`).
pub const FAULT_KINDS: [&str; 7] = [
    "latency",
    "errors",
    "crash",
    "leak",
    "cpu",
    "peer",
    "readiness",
];

/// Fault kinds that a restart really cures: the leaked memory or the
/// runaway loop lives in the process and dies with it. Every other kind is
/// a bug in the code or its configuration and comes back with the next
/// process, so a harness that models real bugs applies it again.
pub const CURED_BY_RESTART: [&str; 2] = ["leak", "cpu"];

/// The service called `name`.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// Every service's name, in port order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().map(|s| s.name)
}

/// A service's default port.
pub fn default_port(name: &str) -> Option<u16> {
    service(name).map(|s| s.port)
}

/// The environment variable that holds a peer's base URL, e.g. `SHOP_CATALOG_URL`.
pub fn peer_url_var(peer: &str) -> String {
    format!("SHOP_{}_URL", peer.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_order_starts_callees_first() {
        let mut ordered: Vec<&str> = START_ORDER.to_vec();
        ordered.sort_unstable();
        let mut all: Vec<&str> = names().collect();
        all.sort_unstable();
        assert_eq!(ordered, all, "every service once");
        for (i, name) in START_ORDER.iter().enumerate() {
            let svc = service(name).expect("known");
            for peer in svc.peers {
                let at = START_ORDER
                    .iter()
                    .position(|s| s == peer)
                    .expect("peer known");
                assert!(at < i, "{name} starts before its peer {peer}");
            }
        }
    }

    #[test]
    fn ports_are_distinct_and_consecutive() {
        for (i, s) in SERVICES.iter().enumerate() {
            assert_eq!(usize::from(s.port - 8080), i);
        }
        assert_eq!(default_port("payments"), Some(8085));
        assert_eq!(default_port("database"), None);
        assert_eq!(peer_url_var("catalog"), "SHOP_CATALOG_URL");
    }

    #[test]
    fn restart_cures_only_process_state() {
        for kind in CURED_BY_RESTART {
            assert!(FAULT_KINDS.contains(&kind));
        }
    }
}
