//! Series selectors of the query API and Loki stream selectors: parsed or
//! refused, never a panic; what parses prints back to something that
//! parses to the same thing.
#![no_main]

use aiops_core::Selector;
use aiops_ingest::{format_selector, parse_selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Selector::parse(text);
    if let Ok(labels) = parse_selector(text) {
        let printed = format_selector(&labels);
        let again = parse_selector(&printed);
        assert_eq!(
            again.as_ref(),
            Ok(&labels),
            "{printed:?} does not read back"
        );
    }
});
