//! Configuration read from the environment through a small trait, so tests
//! never touch the process environment. A bad value is a [`ConfigError`] that
//! names the variable and the reason; binaries print it and exit with 64
//! before binding a port.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Exit status for a configuration error (`EX_CONFIG`-like `EX_USAGE`, as sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// Where configuration values come from.
pub trait EnvSource: Send + Sync {
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// A fixed set of variables, for tests and for composing child environments.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    pub fn new<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn var(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Prints the configuration error and exits with status 64.
pub fn exit_on_config_error(err: &ConfigError) -> ! {
    eprintln!("{err}");
    std::process::exit(EXIT_CONFIG)
}

/// Typed accessors over an [`EnvSource`]. Empty values count as unset.
pub struct Vars<'a>(pub &'a dyn EnvSource);

impl Vars<'_> {
    pub fn string(&self, key: &str) -> Option<String> {
        self.0.var(key).filter(|v| !v.trim().is_empty())
    }

    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        match self.string(key) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|e| ConfigError::new(key, format!("cannot parse {raw:?}: {e}"))),
        }
    }

    pub fn socket_addr(&self, key: &str, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// An `http://` or `https://` base URL without a trailing slash.
    pub fn url(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.string(key) else {
            return Ok(None);
        };
        checked_url(key, &raw).map(Some)
    }

    /// A comma-separated list of URLs, each checked as [`Vars::url`] does.
    pub fn urls(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.string(key) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| checked_url(key, part))
            .collect()
    }

    pub fn url_or(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.url(key)?.unwrap_or_else(|| default.to_string()))
    }

    /// Milliseconds, bounded to `[min, max]`.
    pub fn millis(
        &self,
        key: &str,
        default: Duration,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        match self.parse::<u64>(key)? {
            None => Ok(default),
            Some(ms) if (min..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
            Some(ms) => Err(ConfigError::new(
                key,
                format!("{ms} ms is outside {min}..={max}"),
            )),
        }
    }

    pub fn bounded_u64(
        &self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        match self.parse::<u64>(key)? {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(v),
            Some(v) => Err(ConfigError::new(
                key,
                format!("{v} is outside {min}..={max}"),
            )),
        }
    }
}

/// An http(s) URL with a host, without its trailing slash.
fn checked_url(key: &str, raw: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(key, format!("not a url {raw:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            key,
            format!("scheme must be http or https, got {:?}", parsed.scheme()),
        ));
    }
    if parsed.host_str().is_none() {
        return Err(ConfigError::new(key, "url has no host"));
    }
    Ok(raw.trim().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_variable() {
        let env = MapEnv::new([
            ("SHOP_LISTEN", "nope"),
            ("SHOP_X_URL", "ftp://a"),
            ("N", "9"),
        ]);
        let vars = Vars(&env);
        let err = vars
            .socket_addr("SHOP_LISTEN", ([127, 0, 0, 1], 1).into())
            .unwrap_err();
        assert_eq!(err.key, "SHOP_LISTEN");
        assert!(err.to_string().contains("nope"));
        assert!(
            vars.url("SHOP_X_URL")
                .unwrap_err()
                .reason
                .contains("scheme")
        );
        assert!(vars.bounded_u64("N", 1, 10, 20).is_err());
        assert_eq!(vars.bounded_u64("MISSING", 15, 10, 20).unwrap(), 15);
    }

    #[test]
    fn url_lists_are_split_and_each_checked() {
        let env = MapEnv::new([
            ("A", "http://loki:3100/, http://aiops:9800"),
            ("B", "http://ok:1,ftp://no"),
        ]);
        let vars = Vars(&env);
        assert_eq!(
            vars.urls("A").unwrap(),
            vec![
                "http://loki:3100".to_string(),
                "http://aiops:9800".to_string()
            ]
        );
        assert_eq!(vars.urls("B").unwrap_err().key, "B");
        assert!(vars.urls("UNSET").unwrap().is_empty());
    }

    #[test]
    fn urls_lose_trailing_slash_and_blank_is_unset() {
        let env = MapEnv::new([("A", "http://127.0.0.1:1/"), ("B", "  ")]);
        let vars = Vars(&env);
        assert_eq!(
            vars.url("A").unwrap().as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(vars.url("B").unwrap(), None);
    }
}
