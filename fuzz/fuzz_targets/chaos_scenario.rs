//! Chaos scenario files (`rules/chaos/*.yaml`): a scenario or an error
//! naming the field, never a panic.
#![no_main]

use aiops_eval::chaos::scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = scenario::parse(text);
});
