//! The `console:` section: who may sign in (users with argon2 password
//! hashes, or a name an authenticating proxy in front sets in a header),
//! how long a session lasts, and whether cookies need HTTPS.

use std::collections::BTreeMap;
use std::time::Duration;

use aiops_console::Role;
use aiops_console::auth::User;
use serde::Deserialize;

use super::{ConfigError, duration};

#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    pub users: Vec<User>,
    /// A header an authenticating proxy (oauth2-proxy: `X-Forwarded-User`)
    /// sets to the signed-in person's name. Only set this when every request
    /// comes through that proxy: anyone who can reach the engine directly
    /// could set it.
    pub trusted_user_header: Option<String>,
    /// Roles of people the proxy names; others get `trusted_default_role`.
    pub trusted_roles: BTreeMap<String, Role>,
    pub trusted_default_role: Role,
    pub session_ttl: Duration,
    /// Session cookies only over HTTPS (browsers treat http://localhost as
    /// secure, so the loopback demo still works).
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            users: Vec::new(),
            trusted_user_header: None,
            trusted_roles: BTreeMap::new(),
            trusted_default_role: Role::Viewer,
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    #[serde(default)]
    users: Vec<User>,
    trusted_user_header: Option<String>,
    #[serde(default)]
    trusted_roles: BTreeMap<String, Role>,
    trusted_default_role: Option<Role>,
    session_ttl: Option<String>,
    secure_cookies: Option<bool>,
}

pub(super) fn console(raw: Option<RawConsole>) -> Result<ConsoleConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    for (i, u) in raw.users.iter().enumerate() {
        if u.name.is_empty()
            || u.name.len() > 64
            || !u
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        {
            return Err(ConfigError::new(
                format!("console.users[{i}].name"),
                "1-64 characters of A-Z a-z 0-9 - _ . @",
            ));
        }
        if !aiops_console::auth::valid_hash(&u.password_hash) {
            return Err(ConfigError::new(
                format!("console.users[{i}].password_hash"),
                "not an argon2 hash: make one with `aiops console hash-password`",
            ));
        }
        if raw.users[..i].iter().any(|o| o.name == u.name) {
            return Err(ConfigError::new(
                format!("console.users[{i}].name"),
                format!("{:?} twice", u.name),
            ));
        }
    }
    if let Some(h) = &raw.trusted_user_header
        && (h.is_empty()
            || h.len() > 128
            || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(ConfigError::new(
            "console.trusted_user_header",
            format!("{h:?} is not a header name"),
        ));
    }
    let session_ttl = duration(
        "console.session_ttl",
        raw.session_ttl.as_deref(),
        Duration::from_secs(12 * 3600),
        Duration::from_secs(60),
        Duration::from_secs(30 * 86_400),
    )?;
    Ok(ConsoleConfig {
        users: raw.users,
        trusted_user_header: raw.trusted_user_header,
        trusted_roles: raw.trusted_roles,
        trusted_default_role: raw.trusted_default_role.unwrap_or(Role::Viewer),
        session_ttl,
        secure_cookies: raw.secure_cookies.unwrap_or(true),
    })
}
