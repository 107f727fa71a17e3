//! A length of time as operators write it in `rules/` (`500ms`, `30s`,
//! `10m`, `1h`, `1d`): the same syntax as `rules/detectors.yaml`, parsed by
//! the one function that defines it.

use std::borrow::Cow;

use aiops_detect::duration::{format_duration_ms, parse_duration_ms};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    ms: i64,
}

impl Span {
    pub const fn from_ms(ms: i64) -> Self {
        Span { ms }
    }

    pub fn ms(self) -> i64 {
        self.ms
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration_ms(self.ms))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_duration_ms(&raw)
            .map(Span::from_ms)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration_ms(self.ms))
    }
}

impl JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$",
            "description": "a length of time: a number and a unit, ms, s, m, h or d (`30s`, `10m`)"
        })
    }
}
