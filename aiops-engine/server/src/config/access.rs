//! Who may do what through the API: bearer tokens, each with a name and a
//! role. Reading is open unless `auth.anonymous_read` is false; every
//! change needs a token whose role allows it, and the change is recorded
//! under the token's name.

use serde::Deserialize;

use super::{ConfigError, EnvSource};

pub use aiops_console::Role;

/// One API token. Its value never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who acts with it, as the ledger and the timeline will say.
    pub name: String,
    pub role: Role,
    pub token: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({}, {})", self.name, self.role.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    pub tokens: Vec<ApiToken>,
    /// GET requests need no token.
    pub anonymous_read: bool,
}

/// `AIOPS_API_TOKENS` holds `name:role:token` entries separated by commas
/// and replaces the file's list.
pub(super) fn api_access(
    from_file: Vec<ApiToken>,
    anonymous_read: Option<bool>,
    env: &dyn EnvSource,
) -> Result<ApiAccess, ConfigError> {
    let tokens = match env.var("AIOPS_API_TOKENS") {
        None => from_file,
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                let mut parts = entry.splitn(3, ':');
                let (Some(name), Some(role), Some(token)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(ConfigError::new(
                        format!("AIOPS_API_TOKENS[{i}]"),
                        "expected name:role:token",
                    ));
                };
                let role = Role::parse(role).ok_or_else(|| {
                    ConfigError::new(
                        format!("AIOPS_API_TOKENS[{i}]"),
                        format!("role {role:?} is not viewer, responder or admin"),
                    )
                })?;
                Ok(ApiToken {
                    name: name.to_owned(),
                    role,
                    token: token.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    for (i, t) in tokens.iter().enumerate() {
        let field = format!("auth.api_tokens[{i}]");
        if t.name.is_empty()
            || t.name.len() > 64
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        {
            return Err(ConfigError::new(
                format!("{field}.name"),
                "1-64 characters of A-Z a-z 0-9 - _ . @",
            ));
        }
        if t.token.len() < 16 || !t.token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                format!("{field}.token"),
                "a token must be at least 16 printable characters without spaces",
            ));
        }
        if tokens[..i].iter().any(|o| o.token == t.token) {
            return Err(ConfigError::new(
                format!("{field}.token"),
                "the same token twice: each person or script gets its own",
            ));
        }
    }
    Ok(ApiAccess {
        tokens,
        anonymous_read: anonymous_read.unwrap_or(true),
    })
}
