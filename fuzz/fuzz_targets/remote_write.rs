//! Remote-write bodies, both as sent (snappy) and already decompressed, for
//! both protocol versions: the decoder must answer Ok or Err, never panic.
#![no_main]

use aiops_ingest::compression::snappy_compress;
use aiops_ingest::{Limits, decode_remote_write};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 2] = [
    "application/x-protobuf",
    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
];

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    // Compressing the input too gets the fuzzer past snappy into protobuf decoding.
    let compressed = snappy_compress(data);
    for content_type in CONTENT_TYPES {
        let _ = decode_remote_write(Some(content_type), Some("snappy"), data, &limits);
        let _ = decode_remote_write(Some(content_type), Some("snappy"), &compressed, &limits);
    }
});
