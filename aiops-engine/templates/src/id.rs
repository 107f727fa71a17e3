//! Template ids that survive restarts and upgrades.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A template's id: FNV-1a 64 of the service and the template's first-seen
/// text. FNV rather than the hash maps' foldhash because its output is fixed
/// by its definition, so ids stay the same across dependency upgrades.
/// Serialised as 16 hex digits: JSON numbers above 2^53 lose precision in
/// browsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateId(pub u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl TemplateId {
    /// `salt` is 0 except when two live templates of one service would share
    /// an id; the miner then retries with 1, 2, ... in a deterministic order.
    pub fn derive(service: &str, first_text: &str, salt: u32) -> TemplateId {
        let mut h = fnv(FNV_OFFSET, service.as_bytes());
        // A separator byte that cannot occur in UTF-8 text keeps
        // ("ab", "c") and ("a", "bc") apart.
        h = fnv(h, &[0xff]);
        h = fnv(h, first_text.as_bytes());
        if salt != 0 {
            h = fnv(h, &salt.to_le_bytes());
        }
        TemplateId(h)
    }

    pub fn parse_hex(s: &str) -> Option<TemplateId> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(TemplateId)
    }
}

impl std::fmt::Display for TemplateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for TemplateId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TemplateId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TemplateId::parse_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("template id must be 16 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a of the lone separator byte.
    const PINNED_EMPTY: u64 = 0xaf64_724c_8602_eb6e;

    #[test]
    fn stable_and_distinct() {
        // Pinned: a change here would renumber every stored template.
        let a = TemplateId::derive("cart", "item added to cart", 0);
        assert_eq!(a, TemplateId::derive("cart", "item added to cart", 0));
        assert_eq!(a.to_string(), format!("{:016x}", a.0));
        assert_ne!(a, TemplateId::derive("orders", "item added to cart", 0));
        assert_ne!(a, TemplateId::derive("cart", "item added to cart", 1));
        assert_ne!(
            TemplateId::derive("ab", "c", 0),
            TemplateId::derive("a", "bc", 0)
        );
        assert_eq!(TemplateId::derive("", "", 0).0, PINNED_EMPTY);
        let json = serde_json::to_string(&a).unwrap();
        let back: TemplateId = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
        assert!(serde_json::from_str::<TemplateId>("\"xyz\"").is_err());
    }
}
