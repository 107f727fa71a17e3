//! `rules/detectors.yaml` as the engine reads it: parsed, then applied over
//! the defaults; either step may refuse, neither may panic.
#![no_main]

use aiops_analysis::{AnalysisConfig, RulesFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = serde_saphyr::from_str::<RulesFile>(text) {
        let _ = rules.apply(&mut AnalysisConfig::default());
    }
});
