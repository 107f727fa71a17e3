//! The standard `process_*` metrics (CPU seconds, resident and virtual
//! memory, open file descriptors, start time) read from `/proc/self` at
//! scrape time, as Prometheus' own client libraries export them.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// `/proc/self` figures, read at scrape time as Prometheus' client libraries do.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCollector;

/// Linux reports CPU times in USER_HZ ticks, fixed at 100 by the kernel ABI.
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    pub fn read() -> Self {
        let mut stats = ProcessStats::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name, which is in parentheses and may contain spaces.
            if let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let field = |n: usize| {
                    fields
                        .get(n - 3)
                        .and_then(|f| f.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                stats.cpu_seconds = (field(14) + field(15)) / USER_HZ;
                stats.virtual_bytes = field(23) as u64;
                let boot_time = std::fs::read_to_string("/proc/stat")
                    .ok()
                    .and_then(|s| {
                        s.lines().find_map(|l| {
                            l.strip_prefix("btime ")
                                .and_then(|v| v.trim().parse::<f64>().ok())
                        })
                    })
                    .unwrap_or(0.0);
                stats.start_time_seconds = boot_time + field(22) / USER_HZ;
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            stats.resident_bytes = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or(0);
        }
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        stats
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent in seconds",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(stats.resident_bytes as i64);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size in bytes",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        let vsz = ConstGauge::new(stats.virtual_bytes as i64);
        vsz.encode(encoder.encode_descriptor(
            "process_virtual_memory",
            "Virtual memory size in bytes",
            Some(&Unit::Bytes),
            vsz.metric_type(),
        )?)?;
        let fds = ConstGauge::new(stats.open_fds as i64);
        fds.encode(encoder.encode_descriptor(
            "process_open_fds",
            "Number of open file descriptors",
            None,
            fds.metric_type(),
        )?)?;
        let start = ConstGauge::new(stats.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time",
            "Start time of the process since unix epoch in seconds",
            Some(&Unit::Seconds),
            start.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_are_plausible() {
        let s = ProcessStats::read();
        assert!(s.resident_bytes > 1024 * 1024);
        assert!(s.open_fds >= 3);
        assert!(s.start_time_seconds > 1.6e9);
        assert!(s.virtual_bytes >= s.resident_bytes);
    }

    #[test]
    fn exposition_names_follow_the_convention() {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing in {text}");
        }
    }
}
