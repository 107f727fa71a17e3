//! Alertmanager webhook payloads (version 4 JSON): Ok or Err, never a panic.
#![no_main]

use aiops_ingest::{Limits, decode_alertmanager};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_alertmanager(data, &Limits::default());
});
