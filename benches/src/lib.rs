//! Benchmarks live in `benches/`; see the README for how to run them. What
//! the benchmark programs share: how a remote-write request is labelled and
//! how a measured process' memory is read.

use anyhow::{Context, Result};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

/// The headers of a Prometheus remote-write 1.0 request (snappy protobuf).
pub fn remote_write_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    headers.insert(
        HeaderName::from_static("x-prometheus-remote-write-version"),
        HeaderValue::from_static("0.1.0"),
    );
    headers
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    let kb: u64 = line
        .split_whitespace()
        .next()
        .context("empty status line")?
        .parse()
        .context("status value")?;
    Ok(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bytes_reads_this_process() {
        let pid = std::process::id();
        assert!(status_bytes(pid, "VmRSS").expect("status") > 0);
        assert!(status_bytes(pid, "NoSuchKey").is_err());
    }
}
