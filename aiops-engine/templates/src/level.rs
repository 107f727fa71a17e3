//! Log levels, ordered by severity, and the words that name them.

use serde::{Deserialize, Serialize};

/// Severity of a log line. `Unknown` sorts lowest so that "at least warn"
/// comparisons never count a line whose level could not be found.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Unknown,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// Letters in the longest level word, "informational".
const LONGEST: usize = 13;

impl Level {
    /// Parses a level word case-insensitively: the names used by tracing,
    /// log4j, syslog, zap, logrus and Python's logging.
    pub fn parse(word: &str) -> Option<Level> {
        Level::parse_bytes(word.as_bytes())
    }

    /// As [`Level::parse`], on bytes: no UTF-8 check for words that are
    /// tested by the hundred per line.
    pub(crate) fn parse_bytes(b: &[u8]) -> Option<Level> {
        if b.len() < 3 || b.len() > LONGEST {
            return None;
        }
        let mut buf = [0u8; LONGEST];
        for (d, s) in buf.iter_mut().zip(b) {
            *d = s.to_ascii_lowercase();
        }
        Some(match &buf[..b.len()] {
            b"trace" | b"trc" | b"finest" | b"finer" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"verbose" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" => Level::Info,
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" => Level::Error,
            b"fatal" | b"crit" | b"critical" | b"panic" | b"emerg" | b"emergency" | b"alert"
            | b"dpanic" => Level::Fatal,
            _ => return None,
        })
    }

    /// Bunyan and pino write numeric levels (10 trace .. 60 fatal); syslog
    /// severities (0 emergency .. 7 debug) are too ambiguous to guess.
    pub fn from_number(n: f64) -> Option<Level> {
        Some(match n as i64 {
            10 => Level::Trace,
            20 => Level::Debug,
            30 => Level::Info,
            40 => Level::Warn,
            50 => Level::Error,
            60 => Level::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Warn and above: what an error burst counts.
    pub fn is_problem(self) -> bool {
        self >= Level::Warn
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_numbers() {
        assert_eq!(Level::parse("ERROR"), Some(Level::Error));
        assert_eq!(Level::parse("Warning"), Some(Level::Warn));
        assert_eq!(Level::parse("info"), Some(Level::Info));
        assert_eq!(Level::parse("CRITICAL"), Some(Level::Fatal));
        assert_eq!(Level::parse("request"), None);
        assert_eq!(Level::parse("Informational"), Some(Level::Info));
        assert_eq!(Level::parse(""), None);
        assert_eq!(Level::from_number(50.0), Some(Level::Error));
        assert_eq!(Level::from_number(3.0), None);
        assert!(Level::Error > Level::Warn && Level::Warn > Level::Info);
        assert!(Level::Unknown < Level::Trace);
    }
}
