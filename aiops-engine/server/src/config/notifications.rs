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
    /// The mail server, for e-mail receivers.
    pub smtp: Option<SmtpConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain, then STARTTLS (required).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: a relay on loopback only.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: String,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, Secret)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<SmtpTls>,
    from: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    routing: Option<String>,
    console_url: Option<String>,
    pagerduty_url: Option<String>,
    smtp: Option<RawSmtp>,
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
    let smtp = smtp(raw.smtp, env)?;
    if smtp.is_none()
        && let Some(r) = routing.receivers.iter().find(|r| r.email.is_some())
    {
        return Err(ConfigError::new(
            "notifications.smtp",
            format!(
                "receiver {} sends e-mail: a mail server is required",
                r.name
            ),
        ));
    }
    Ok(Some(NotificationsConfig {
        smtp,
        routing,
        console_url: console_url.trim_end_matches('/').to_owned(),
        pagerduty_url,
        secrets,
    }))
}

fn smtp(raw: Option<RawSmtp>, env: &dyn EnvSource) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let host = raw.host.filter(|h| !h.trim().is_empty()).ok_or_else(|| {
        ConfigError::new(
            "notifications.smtp.host",
            "the mail server's host is required",
        )
    })?;
    let tls = raw.tls.unwrap_or(SmtpTls::Starttls);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if tls == SmtpTls::None && !loopback {
        return Err(ConfigError::new(
            "notifications.smtp.tls",
            format!("none sends mail in clear text: only to a relay on loopback, not {host}"),
        ));
    }
    let port = raw.port.unwrap_or(match tls {
        SmtpTls::Implicit => 465,
        SmtpTls::Starttls => 587,
        SmtpTls::None => 25,
    });
    let from = raw
        .from
        .filter(|f| f.contains('@') && f.parse::<lettre::message::Mailbox>().is_ok())
        .ok_or_else(|| {
            ConfigError::new(
                "notifications.smtp.from",
                "a sender address is required (aiops@shop.example)",
            )
        })?;
    let credentials = match (raw.username, raw.password_env) {
        (None, None) => None,
        (Some(user), Some(var)) => {
            let password = env.var(&var).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    "notifications.smtp.password_env",
                    format!("the environment variable {var} is not set"),
                )
            })?;
            Some((user, Secret(password)))
        }
        _ => {
            return Err(ConfigError::new(
                "notifications.smtp",
                "username and password_env go together",
            ));
        }
    };
    Ok(Some(SmtpConfig {
        host,
        port,
        tls,
        from,
        credentials,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Config;

    fn parse(extra: &str, env: &[(&str, &str)]) -> Result<Config, super::ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let yaml = format!("notifications:\n  routing: ../../rules/notify.yaml\n{extra}");
        Config::parse(&yaml, &env)
    }

    const SECRETS: [(&str, &str); 2] = [
        ("AIOPS_PAGERDUTY_KEY", "pd-key"),
        ("AIOPS_WEBHOOK_SECRET", "hook-secret"),
    ];

    #[test]
    fn the_sample_routing_needs_its_secrets_and_a_mail_server() {
        let e = parse("", &[]).expect_err("no secrets");
        assert!(e.reason.contains("AIOPS_PAGERDUTY_KEY is not set"), "{e:?}");
        let e = parse("", &SECRETS).expect_err("no mail server");
        assert_eq!(e.field, "notifications.smtp");
        let smtp = "  smtp: {host: mail.shop.example, from: aiops@shop.example, username: aiops, password_env: SMTP_PASSWORD}\n";
        let e = parse(smtp, &SECRETS).expect_err("no password");
        assert_eq!(e.field, "notifications.smtp.password_env");
        let mut env = SECRETS.to_vec();
        env.push(("SMTP_PASSWORD", "pw"));
        let config = parse(smtp, &env).expect("valid");
        let n = config.notifications.expect("notifications");
        let smtp = n.smtp.clone().expect("smtp");
        assert_eq!((smtp.port, smtp.tls), (587, super::SmtpTls::Starttls));
        assert!(!format!("{n:?}").contains("pd-key"), "secrets never print");
    }

    #[test]
    fn clear_text_mail_goes_only_to_loopback() {
        let e = parse(
            "  smtp: {host: mail.shop.example, tls: none, from: aiops@shop.example}\n",
            &SECRETS,
        )
        .expect_err("refused");
        assert_eq!(e.field, "notifications.smtp.tls");
        assert!(
            parse(
                "  smtp: {host: 127.0.0.1, port: 2525, tls: none, from: aiops@shop.example}\n",
                &SECRETS
            )
            .is_ok()
        );
        let e = parse(
            "  smtp: {host: 127.0.0.1, tls: none, from: nobody}\n",
            &SECRETS,
        )
        .expect_err("refused");
        assert_eq!(e.field, "notifications.smtp.from");
    }
}
