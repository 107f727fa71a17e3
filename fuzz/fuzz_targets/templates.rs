//! Log lines from outside into one miner: the plain-line tokeniser, the
//! JSON and logfmt extractors and Drain. Never a panic; every line gets a
//! live template that counts it, and the miner stays within its template
//! bound.
#![no_main]

use aiops_templates::{Miner, MinerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cfg = MinerConfig {
        max_templates: 16,
        ..MinerConfig::default()
    };
    let mut miner = Miner::new("fuzz", cfg);
    // each input line, then each again: the second pass must find the
    // templates the first made (or their evicted successors), never panic
    for round in 0..2 {
        for (i, line) in text.split('\n').enumerate() {
            let seen = miner.observe((round * 1000 + i) as i64, None, line);
            assert!(seen.count >= 1);
            assert!(miner.get(seen.template_id).is_some(), "{seen:?}");
        }
    }
    assert!(miner.len() <= 16);
});
