//! CPU time of this process (user + system), from getrusage: the unit of
//! the speed goal, and the same clock Python's `time.process_time` reads.

use nix::sys::resource::{UsageWho, getrusage};

/// Seconds of CPU this process has used so far.
pub fn cpu_seconds() -> anyhow::Result<f64> {
    let usage =
        getrusage(UsageWho::RUSAGE_SELF).map_err(|e| anyhow::anyhow!("getrusage failed: {e}"))?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_moves_forward() {
        let before = cpu_seconds().expect("getrusage");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let after = cpu_seconds().expect("getrusage");
        assert!(after > before, "{before} -> {after}");
    }
}
