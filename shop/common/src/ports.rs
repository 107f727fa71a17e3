//! The shop's services, their default ports, and where each finds its peers.

use crate::config::{ConfigError, EnvSource, Vars};

/// Every service with its default port on loopback (embedded mode).
pub const SERVICES: [(&str, u16); 7] = [
    ("frontend", 8080),
    ("catalog", 8081),
    ("cart", 8082),
    ("orders", 8083),
    ("checkout", 8084),
    ("payments", 8085),
    ("recommendation", 8086),
];

pub fn default_port(service: &str) -> Option<u16> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, port)| *port)
}

/// The environment variable that holds a peer's base URL, e.g. `SHOP_CATALOG_URL`.
pub fn peer_url_var(peer: &str) -> String {
    format!("SHOP_{}_URL", peer.to_ascii_uppercase())
}

/// A peer's base URL from `SHOP_<PEER>_URL`, defaulting to its loopback port.
pub fn peer_url(env: &dyn EnvSource, peer: &str) -> Result<String, ConfigError> {
    let var = peer_url_var(peer);
    let port = default_port(peer)
        .ok_or_else(|| ConfigError::new(&var, format!("unknown peer service {peer:?}")))?;
    Vars(env).url_or(&var, &format!("http://127.0.0.1:{port}"))
}
