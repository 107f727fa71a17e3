//! Scraped `/metrics` bodies in the Prometheus text format and in
//! OpenMetrics: samples or an error with a line number, never a panic.
#![no_main]

use aiops_ingest::{ExpositionFormat, ExpositionLimits, parse_exposition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = ExpositionLimits::default();
    let _ = parse_exposition(text, ExpositionFormat::PrometheusText, &limits);
    let _ = parse_exposition(text, ExpositionFormat::OpenMetrics, &limits);
});
