//! Where each service finds its peers. The services and their default
//! ports are the shop's topology, defined once in `shop-topology`.

use crate::config::{ConfigError, EnvSource, Vars};

pub use shop_topology::{SERVICES, default_port, peer_url_var};

/// A peer's base URL from `SHOP_<PEER>_URL`, defaulting to its loopback port.
pub fn peer_url(env: &dyn EnvSource, peer: &str) -> Result<String, ConfigError> {
    let var = peer_url_var(peer);
    let port = default_port(peer)
        .ok_or_else(|| ConfigError::new(&var, format!("unknown peer service {peer:?}")))?;
    Vars(env).url_or(&var, &format!("http://127.0.0.1:{port}"))
}
