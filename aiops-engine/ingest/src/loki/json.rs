//! Loki push as JSON:
//!
//! ```json
//! {"streams": [{"stream": {"app": "shop"},
//!               "values": [["1700000000000000000", "a line"],
//!                          ["1700000000000000001", "another", {"trace_id": "abc"}]]}]}
//! ```
//!
//! Parsed with serde seeds rather than derived structs so that the stream,
//! entry and label counts are checked while parsing: a body of a million
//! tiny entries is refused at the first one over the limit instead of after
//! all of them are built.

use std::cell::{Cell, RefCell};
use std::fmt;

use aiops_core::model::{LabelPairs, LogBatch, LogEntry, LogStream};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use crate::error::{IngestError, Position};
use crate::labels;
use crate::limits::Limits;

/// Decodes a JSON push body into validated streams.
pub(super) fn decode(body: &[u8], limits: &Limits) -> Result<Vec<LogStream>, IngestError> {
    let context = Context {
        limits,
        entries: Cell::new(0),
        failure: RefCell::new(None),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = PushSeed(&context)
        .deserialize(&mut deserializer)
        .and_then(|streams| deserializer.end().map(|()| streams));
    let raw_streams = match parsed {
        Ok(streams) => streams,
        // A limit or timestamp error raised inside the parse wins over the
        // generic serde error it was wrapped in.
        Err(error) => {
            return Err(context
                .failure
                .take()
                .unwrap_or_else(|| IngestError::Json(error.to_string())));
        }
    };
    raw_streams
        .into_iter()
        .enumerate()
        .map(|(stream_index, raw)| {
            let labels = super::stream_labels(Position::Stream(stream_index), raw.labels, limits)?;
            let entries = raw
                .entries
                .into_iter()
                .enumerate()
                .map(|(entry_index, entry)| {
                    let at = Position::Entry {
                        stream: stream_index,
                        entry: entry_index,
                    };
                    super::entry(at, entry.ts_ns, entry.line, entry.metadata, limits)
                })
                .collect::<Result<_, _>>()?;
            Ok(LogStream { labels, entries })
        })
        .collect()
}

/// Encodes a batch as a JSON push body (not compressed), for tests and the
/// load tool. The tenant is not part of the body.
pub fn encode(batch: &LogBatch) -> Vec<u8> {
    let streams: Vec<Value> = batch
        .streams
        .iter()
        .map(|stream| {
            let values: Vec<Value> = stream
                .entries
                .iter()
                .map(|entry| {
                    let ts = entry.ts_ns.to_string();
                    if entry.metadata.is_empty() {
                        json!([ts, entry.line])
                    } else {
                        json!([ts, entry.line, label_object(&entry.metadata)])
                    }
                })
                .collect();
            json!({"stream": label_object(&stream.labels), "values": values})
        })
        .collect();
    json!({ "streams": streams }).to_string().into_bytes()
}

fn label_object(labels: &LabelPairs) -> Value {
    let object: Map<String, Value> = labels
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Value::Object(object)
}

/// State shared by the seeds: limits, the running entry count, and the
/// typed error behind a failed parse.
struct Context<'l> {
    limits: &'l Limits,
    entries: Cell<usize>,
    failure: RefCell<Option<IngestError>>,
}

impl Context<'_> {
    /// Stops the parse, remembering why in a form with a reason and a status.
    fn fail<E: de::Error>(&self, error: IngestError) -> E {
        let message = error.to_string();
        *self.failure.borrow_mut() = Some(error);
        E::custom(message)
    }
}

/// A stream as parsed, before its labels and lines are checked.
struct RawStream {
    labels: LabelPairs,
    entries: Vec<LogEntry>,
}

struct PushSeed<'c, 'l>(&'c Context<'l>);

impl<'de> DeserializeSeed<'de> for PushSeed<'_, '_> {
    type Value = Vec<RawStream>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PushSeed<'_, '_> {
    type Value = Vec<RawStream>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"streams\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut streams = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "streams" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if streams.is_some() {
                return Err(de::Error::duplicate_field("streams"));
            }
            streams = Some(map.next_value_seed(StreamsSeed(self.0))?);
        }
        streams.ok_or_else(|| de::Error::missing_field("streams"))
    }
}

struct StreamsSeed<'c, 'l>(&'c Context<'l>);

impl<'de> DeserializeSeed<'de> for StreamsSeed<'_, '_> {
    type Value = Vec<RawStream>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed<'_, '_> {
    type Value = Vec<RawStream>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of streams")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let context = self.0;
        let mut streams = Vec::new();
        loop {
            let index = streams.len();
            let seed = StreamSeed { context, index };
            let Some(stream) = seq.next_element_seed(seed)? else {
                return Ok(streams);
            };
            if streams.len() == context.limits.max_streams_per_push {
                let limit = context.limits.max_streams_per_push;
                return Err(context.fail(IngestError::TooManyStreams { limit }));
            }
            streams.push(stream);
        }
    }
}

struct StreamSeed<'c, 'l> {
    context: &'c Context<'l>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for StreamSeed<'_, '_> {
    type Value = RawStream;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_, '_> {
    type Value = RawStream;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream object with \"stream\" and \"values\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut labels = None;
        let mut entries = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "stream" if labels.is_some() => return Err(de::Error::duplicate_field("stream")),
                "values" if entries.is_some() => return Err(de::Error::duplicate_field("values")),
                "stream" => {
                    labels = Some(map.next_value_seed(LabelsSeed {
                        context: self.context,
                        at: Position::Stream(self.index),
                    })?);
                }
                "values" => {
                    entries = Some(map.next_value_seed(ValuesSeed {
                        context: self.context,
                        stream: self.index,
                    })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // No "stream" is an empty label set, refused later with the other label rules.
        Ok(RawStream {
            labels: labels.unwrap_or_default(),
            entries: entries.unwrap_or_default(),
        })
    }
}

struct ValuesSeed<'c, 'l> {
    context: &'c Context<'l>,
    stream: usize,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_, '_> {
    type Value = Vec<LogEntry>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_, '_> {
    type Value = Vec<LogEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [timestamp, line] entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let context = self.context;
        let mut entries = Vec::new();
        loop {
            let at = Position::Entry {
                stream: self.stream,
                entry: entries.len(),
            };
            let Some(entry) = seq.next_element_seed(EntrySeed { context, at })? else {
                return Ok(entries);
            };
            let seen = context.entries.get() + 1;
            if seen > context.limits.max_entries_per_push {
                let limit = context.limits.max_entries_per_push;
                return Err(context.fail(IngestError::TooManyEntries { limit }));
            }
            context.entries.set(seen);
            entries.push(entry);
        }
    }
}

struct EntrySeed<'c, 'l> {
    context: &'c Context<'l>,
    at: Position,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, '_> {
    type Value = LogEntry;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_, '_> {
    type Value = LogEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[timestamp, line] or [timestamp, line, {structured metadata}]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (context, at) = (self.context, self.at);
        let Some(ts_ns) = seq.next_element_seed(TimestampSeed { context, at })? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let Some(line) = seq.next_element::<String>()? else {
            return Err(de::Error::invalid_length(1, &self));
        };
        let metadata = seq
            .next_element_seed(LabelsSeed { context, at })?
            .unwrap_or_default();
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(LogEntry {
            ts_ns,
            line,
            metadata,
        })
    }
}

/// Nanoseconds since the epoch, as a decimal string.
struct TimestampSeed<'c, 'l> {
    context: &'c Context<'l>,
    at: Position,
}

impl<'de> DeserializeSeed<'de> for TimestampSeed<'_, '_> {
    type Value = i64;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // `any`, so that a number reaches the visitor and gets a timestamp error.
        deserializer.deserialize_any(self)
    }
}

impl TimestampSeed<'_, '_> {
    fn not_a_string<E: de::Error>(&self, shown: String) -> E {
        self.context.fail(IngestError::InvalidTimestamp {
            at: self.at,
            value: shown,
            why: "expected a string of decimal nanoseconds since the epoch",
        })
    }
}

impl<'de> Visitor<'de> for TimestampSeed<'_, '_> {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string of decimal nanoseconds")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
        super::parse_ns(self.at, text).map_err(|error| self.context.fail(error))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<i64, E> {
        Err(self.not_a_string(number.to_string()))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<i64, E> {
        Err(self.not_a_string(number.to_string()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<i64, E> {
        Err(self.not_a_string(number.to_string()))
    }
}

/// A JSON object of string values, kept as pairs so that duplicate names
/// reach the label checks instead of silently overwriting each other.
struct LabelsSeed<'c, 'l> {
    context: &'c Context<'l>,
    at: Position,
}

impl<'de> DeserializeSeed<'de> for LabelsSeed<'_, '_> {
    type Value = LabelPairs;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed<'_, '_> {
    type Value = LabelPairs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of string label values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let limits = self.context.limits;
        let mut pairs = LabelPairs::new();
        while let Some((name, value)) = map.next_entry::<String, String>()? {
            pairs.push((name, value));
            labels::check_count(self.at, pairs.len(), limits)
                .map_err(|error| self.context.fail(error))?;
        }
        Ok(pairs)
    }
}
