//! Loki push bodies as JSON, plain and gzipped: Ok or Err, never a panic.
#![no_main]

use aiops_ingest::compression::gzip_compress;
use aiops_ingest::{Limits, decode_loki_push};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let json = Some("application/json");
    let _ = decode_loki_push(json, None, Some("tenant-a"), data, &limits);
    // gzipping the input gets the fuzzer past gzip into the JSON decoder
    let _ = decode_loki_push(json, Some("gzip"), None, &gzip_compress(data), &limits);
    let _ = decode_loki_push(json, Some("gzip"), None, data, &limits);
});
