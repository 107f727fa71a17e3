//! Loki push bodies: protobuf (snappy) and JSON (plain and gzip). The
//! decoder must answer Ok or Err, never panic.
#![no_main]

use aiops_ingest::compression::snappy_compress;
use aiops_ingest::{Limits, decode_loki_push};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let protobuf = Some("application/x-protobuf");
    let json = Some("application/json");
    let _ = decode_loki_push(protobuf, None, None, data, &limits);
    let _ = decode_loki_push(protobuf, None, None, &snappy_compress(data), &limits);
    let _ = decode_loki_push(json, None, None, data, &limits);
    let _ = decode_loki_push(json, Some("gzip"), None, data, &limits);
});
