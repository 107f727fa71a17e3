//! `logproto.PushRequest`: Loki's push (`proto/loki_push.proto`), from the shared crate.

pub use loki_proto::*;
