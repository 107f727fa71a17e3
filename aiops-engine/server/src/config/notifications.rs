//! The `notifications:` section: the routing tree file, where links in
//! messages point, and the secrets its receivers name (read from the
//! environment here, once, so a missing one stops the engine at start).

use std::collections::BTreeMap;

use aiops_notify::Routing;
use serde::Deserialize;

use super::{ConfigError, EnvSource};

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationsConfig {
    pub routing: Routing,
    /// The console's address as people reach it (links in messages).
    pub console_url: String,
    /// PagerDuty's Events API v2 endpoint.
    pub pagerduty_url: String,
    /// Secret by the environment variable naming it.
    pub secrets: BTreeMap<String, Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    routing: Option<String>,
    console_url: Option<String>,
    pagerduty_url: Option<String>,
}

fn http_url(field: &str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(ConfigError::new(
            field,
            format!("{url:?} is not an http(s) URL"),
        )),
    }
}

pub(super) fn notifications(
    raw: Option<RawNotifications>,
    env: &dyn EnvSource,
    base: Option<&std::path::Path>,
    listen: &str,
) -> Result<Option<NotificationsConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let field = "notifications.routing";
    let path = raw.routing.ok_or_else(|| {
        ConfigError::new(field, "the routing file is required (rules/notify.yaml)")
    })?;
    let path = match base {
        Some(base) if std::path::Path::new(&path).is_relative() => base.join(&path),
        _ => std::path::PathBuf::from(&path),
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| ConfigError::new(field, format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > aiops_notify::routing::MAX_FILE_BYTES as u64 {
        return Err(ConfigError::new(
            field,
            format!("{} is too large", path.display()),
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::new(field, format!("cannot read {}: {e}", path.display())))?;
    let routing = Routing::parse(&text).map_err(|problems| {
        ConfigError::new(
            field,
            format!("{}: {}", path.display(), problems.join("; ")),
        )
    })?;
    let mut secrets = BTreeMap::new();
    for receiver in &routing.receivers {
        let names = [
            receiver
                .pagerduty
                .as_ref()
                .map(|p| p.routing_key_env.clone()),
            receiver.webhook.as_ref().and_then(|w| w.secret_env.clone()),
        ];
        for name in names.into_iter().flatten() {
            let value = env.var(&name).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    "notifications.routing",
                    format!(
                        "receiver {}: the environment variable {name} is not set",
                        receiver.name
                    ),
                )
            })?;
            secrets.insert(name, Secret(value));
        }
    }
    let console_url = raw
        .console_url
        .unwrap_or_else(|| format!("http://{listen}"));
    http_url("notifications.console_url", &console_url)?;
    let pagerduty_url = raw
        .pagerduty_url
        .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
    http_url("notifications.pagerduty_url", &pagerduty_url)?;
    Ok(Some(NotificationsConfig {
        routing,
        console_url: console_url.trim_end_matches('/').to_owned(),
        pagerduty_url,
        secrets,
    }))
}
