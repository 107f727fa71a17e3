//! One miner per service: templates of different services never mix, and
//! their ids are derived from the service too.

use serde::{Deserialize, Serialize};

use crate::drain::{Map, Miner, MinerConfig, Observation, new_map};
use crate::level::Level;
use crate::snapshot::{MinerSnapshot, RestoreError};

/// Where lines of services beyond `max_services` are mined, so that a flood
/// of made-up service names cannot grow memory without bound.
pub const OVERFLOW_SERVICE: &str = "_overflow";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplatesConfig {
    pub miner: MinerConfig,
    pub max_services: usize,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        TemplatesConfig {
            miner: MinerConfig::default(),
            max_services: 1000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplatesSnapshot {
    /// Sorted by service.
    pub miners: Vec<MinerSnapshot>,
    pub overflow_lines: u64,
}

#[derive(Debug)]
pub struct Templates {
    cfg: TemplatesConfig,
    miners: Map<Box<str>, Miner>,
    overflow_lines: u64,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new(TemplatesConfig::default())
    }
}

impl Templates {
    pub fn new(cfg: TemplatesConfig) -> Templates {
        Templates {
            cfg,
            miners: new_map(),
            overflow_lines: 0,
        }
    }

    /// Mines one line of `service` seen at `ts_ns`; `level` is the caller's
    /// (labels, structured metadata) and wins over the line's own.
    pub fn observe(
        &mut self,
        service: &str,
        ts_ns: i64,
        level: Option<Level>,
        line: &str,
    ) -> Observation {
        if let Some(m) = self.miners.get_mut(service) {
            return m.observe(ts_ns, level, line);
        }
        let name = if self.miners.len() < self.cfg.max_services {
            service
        } else {
            self.overflow_lines += 1;
            OVERFLOW_SERVICE
        };
        let cfg = &self.cfg.miner;
        self.miners
            .entry(Box::from(name))
            .or_insert_with(|| Miner::new(name, cfg.clone()))
            .observe(ts_ns, level, line)
    }

    pub fn miner(&self, service: &str) -> Option<&Miner> {
        self.miners.get(service)
    }

    /// Services with a miner, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.miners.keys().map(|k| k.as_ref()).collect();
        v.sort_unstable();
        v
    }

    /// Lines of services beyond `max_services`, mined as [`OVERFLOW_SERVICE`].
    pub fn overflow_lines(&self) -> u64 {
        self.overflow_lines
    }

    pub fn snapshot(&self) -> TemplatesSnapshot {
        let mut miners: Vec<MinerSnapshot> = self.miners.values().map(Miner::snapshot).collect();
        miners.sort_unstable_by(|a, b| a.service.cmp(&b.service));
        TemplatesSnapshot {
            miners,
            overflow_lines: self.overflow_lines,
        }
    }

    /// Continues from a snapshot with the given settings (the miner settings
    /// in `cfg` replace the snapshot's).
    pub fn restore(
        cfg: TemplatesConfig,
        snapshot: TemplatesSnapshot,
    ) -> Result<Templates, RestoreError> {
        let mut t = Templates::new(cfg);
        t.overflow_lines = snapshot.overflow_lines;
        for s in snapshot.miners {
            let service = s.service.clone();
            if t.miners.contains_key(service.as_str()) {
                return Err(RestoreError::DuplicateService(service));
            }
            let m = Miner::restore_with(t.cfg.miner.clone(), s)?;
            t.miners.insert(Box::from(service.as_str()), m);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_apart_and_restorable() {
        let mut t = Templates::default();
        let a = t.observe("cart", 1, None, "cart emptied");
        let b = t.observe("orders", 2, None, "cart emptied");
        assert_ne!(a.template_id, b.template_id);
        assert!(a.is_new && b.is_new);
        assert_eq!(t.services(), vec!["cart", "orders"]);
        let json = serde_json::to_string(&t.snapshot()).unwrap();
        let mut r = Templates::restore(
            TemplatesConfig::default(),
            serde_json::from_str(&json).unwrap(),
        )
        .unwrap();
        let again = r.observe("cart", 3, None, "cart emptied");
        assert_eq!(again.template_id, a.template_id);
        assert!(!again.is_new);
        assert_eq!(again.count, 2);
        let mut snap = t.snapshot();
        snap.miners.push(snap.miners[0].clone());
        assert!(matches!(
            Templates::restore(TemplatesConfig::default(), snap),
            Err(RestoreError::DuplicateService(_))
        ));
    }

    #[test]
    fn services_beyond_the_cap_share_one_miner() {
        let mut t = Templates::new(TemplatesConfig {
            max_services: 2,
            ..TemplatesConfig::default()
        });
        for s in ["a", "b", "c", "d"] {
            t.observe(s, 0, None, "hello");
        }
        assert_eq!(t.services(), vec!["_overflow", "a", "b"]);
        assert_eq!(t.overflow_lines(), 2);
        assert_eq!(t.miner(OVERFLOW_SERVICE).map(|m| m.stats().lines), Some(2));
    }
}
