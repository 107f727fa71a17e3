//! The `notifications:` section: the routing tree file, where links in
//! messages point, and the secrets its receivers name (read from the
//! environment here, once, so a missing one stops the engine at start).

use std::collections::BTreeMap;

use aiops_notify::Routing;
use serde::Deserialize;

use super::{ConfigError, EnvSource};

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
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
    /// The Slack app, for Slack receivers and the bot's endpoints.
    pub slack: Option<SlackConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// The Web API's base, `https://slack.com/api`.
    pub api_url: String,
    /// The bot's token (`xoxb-...`).
    pub bot_token: Secret,
    /// The app's signing secret: requests to the bot are checked with it.
    pub signing_secret: Secret,
    /// Replies to a button go to Slack's `response_url` only when it starts
    /// with this (no request to an address a payload names otherwise).
    pub response_url_prefix: String,
    /// Slack user id to the console user acting for them (and so their role).
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    api_url: Option<String>,
    bot_token_env: Option<String>,
    signing_secret_env: Option<String>,
    response_url_prefix: Option<String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
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
    slack: Option<RawSlack>,
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
    let slack = slack(raw.slack, env)?;
    if slack.is_none()
        && let Some(r) = routing.receivers.iter().find(|r| r.slack.is_some())
    {
        return Err(ConfigError::new(
            "notifications.slack",
            format!(
                "receiver {} posts to Slack: the Slack app is required",
                r.name
            ),
        ));
    }
    Ok(Some(NotificationsConfig {
        smtp,
        slack,
        routing,
        console_url: console_url.trim_end_matches('/').to_owned(),
        pagerduty_url,
        secrets,
    }))
}

fn slack(raw: Option<RawSlack>, env: &dyn EnvSource) -> Result<Option<SlackConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let secret = |field: &str, name: Option<String>, default: &str| {
        let name = name.unwrap_or_else(|| default.to_owned());
        env.var(&name)
            .filter(|v| !v.is_empty())
            .map(Secret)
            .ok_or_else(|| {
                ConfigError::new(
                    format!("notifications.slack.{field}"),
                    format!("the environment variable {name} is not set"),
                )
            })
    };
    let bot_token = secret("bot_token_env", raw.bot_token_env, "AIOPS_SLACK_BOT_TOKEN")?;
    let signing_secret = secret(
        "signing_secret_env",
        raw.signing_secret_env,
        "AIOPS_SLACK_SIGNING_SECRET",
    )?;
    let api_url = raw
        .api_url
        .unwrap_or_else(|| "https://slack.com/api".into());
    http_url("notifications.slack.api_url", &api_url)?;
    let response_url_prefix = raw
        .response_url_prefix
        .unwrap_or_else(|| "https://hooks.slack.com/".into());
    http_url(
        "notifications.slack.response_url_prefix",
        &response_url_prefix,
    )?;
    if !response_url_prefix.ends_with('/') {
        return Err(ConfigError::new(
            "notifications.slack.response_url_prefix",
            "must end with / (a host alone would also match hooks.slack.com.evil.example)",
        ));
    }
    for (id, name) in &raw.users {
        let id_ok = (2..=32).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !id_ok {
            return Err(ConfigError::new(
                "notifications.slack.users",
                format!("{id:?} is not a Slack user id (U024BE7LH)"),
            ));
        }
        if name.trim().is_empty() {
            return Err(ConfigError::new(
                "notifications.slack.users",
                format!("{id}: the console user's name is empty"),
            ));
        }
    }
    Ok(Some(SlackConfig {
        api_url: api_url.trim_end_matches('/').to_owned(),
        bot_token,
        signing_secret,
        response_url_prefix,
        users: raw.users,
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
        let yaml = format!(
            "auth:\n  api_tokens:\n    - {{name: alice, role: responder, token: alice-token-0123456}}\n\
             notifications:\n  routing: ../../rules/notify.yaml\n{extra}"
        );
        Config::parse(&yaml, &env)
    }

    const SECRETS: [(&str, &str); 4] = [
        ("AIOPS_PAGERDUTY_KEY", "pd-key"),
        ("AIOPS_WEBHOOK_SECRET", "hook-secret"),
        ("AIOPS_SLACK_BOT_TOKEN", "xoxb-1"),
        ("AIOPS_SLACK_SIGNING_SECRET", "signing"),
    ];
    const SLACK: &str = "  slack: {users: {U024BE7LH: alice}}\n";

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
        let e = parse(smtp, &env).expect_err("no slack app");
        assert_eq!(e.field, "notifications.slack");
        let smtp = &format!("{smtp}{SLACK}");
        let config = parse(smtp, &env).expect("valid");
        let n = config.notifications.expect("notifications");
        let smtp = n.smtp.clone().expect("smtp");
        assert_eq!((smtp.port, smtp.tls), (587, super::SmtpTls::Starttls));
        assert!(!format!("{n:?}").contains("pd-key"), "secrets never print");
        let slack = n.slack.expect("slack");
        assert_eq!(slack.api_url, "https://slack.com/api");
        assert_eq!(
            slack.users.get("U024BE7LH").map(String::as_str),
            Some("alice")
        );
        assert!(
            !format!("{slack:?}").contains("xoxb"),
            "secrets never print"
        );
    }

    #[test]
    fn the_slack_app_is_checked() {
        let smtp = "  smtp: {host: 127.0.0.1, tls: none, from: aiops@shop.example}\n";
        let with = |slack: &str, env: &[(&str, &str)]| {
            parse(&format!("{smtp}  slack: {slack}\n"), env).map(|_| ())
        };
        let e = with("{}", &SECRETS[..3]).expect_err("no signing secret");
        assert_eq!(e.field, "notifications.slack.signing_secret_env");
        let e = with("{users: {alice: alice}}", &SECRETS).expect_err("not an id");
        assert!(e.reason.contains("not a Slack user id"), "{e:?}");
        let e = with(
            "{response_url_prefix: \"https://hooks.slack.com\"}",
            &SECRETS,
        )
        .expect_err("no slash");
        assert_eq!(e.field, "notifications.slack.response_url_prefix");
        let e = with("{api_url: \"file:///etc\"}", &SECRETS).expect_err("not http");
        assert_eq!(e.field, "notifications.slack.api_url");
        assert!(with("{api_url: \"http://127.0.0.1:1/api/\"}", &SECRETS).is_ok());
        let e = with("{users: {U1: bob}}", &SECRETS).expect_err("no such person");
        assert!(e.reason.contains("neither a console user"), "{e:?}");
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
                &format!(
                    "  smtp: {{host: 127.0.0.1, port: 2525, tls: none, from: aiops@shop.example}}\n{SLACK}"
                ),
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
