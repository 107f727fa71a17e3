//! Bearer tokens on the ingest endpoints, compared in constant time and
//! never logged.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

#[derive(Clone, Default)]
pub struct IngestAuth {
    tokens: Vec<Vec<u8>>,
}

impl std::fmt::Debug for IngestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IngestAuth({} tokens)", self.tokens.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Wrong,
}

impl IngestAuth {
    pub fn new(tokens: &[String]) -> Self {
        Self {
            tokens: tokens.iter().map(|t| t.as_bytes().to_vec()).collect(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        if self.is_open() {
            return Ok(());
        }
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AuthFailure::Missing)?;
        // Compare against every token so the time taken does not say which one matched.
        let matched = self
            .tokens
            .iter()
            .fold(subtle::Choice::from(0), |acc, token| {
                acc | presented.as_bytes().ct_eq(token)
            });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthFailure::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_are_checked() {
        let auth = IngestAuth::new(&["0123456789abcdef".into(), "fedcba9876543210".into()]);
        let mut headers = HeaderMap::new();
        assert_eq!(auth.check(&headers), Err(AuthFailure::Missing));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer fedcba9876543210"),
        );
        assert_eq!(auth.check(&headers), Ok(()));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer fedcba987654321"),
        );
        assert_eq!(auth.check(&headers), Err(AuthFailure::Wrong));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(auth.check(&headers), Err(AuthFailure::Missing));
        assert_eq!(IngestAuth::new(&[]).check(&HeaderMap::new()), Ok(()));
        assert!(!format!("{auth:?}").contains("fedcba"));
    }
}

/// Who is calling the API, from their bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: crate::config::Role,
}

/// Why a request was not let through, as an HTTP answer would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no token, or one that is not ours.
    Unauthenticated(String),
    /// 403: a known token whose role may not do this.
    Forbidden(String),
}

/// The API's tokens and roles.
#[derive(Clone, Default)]
pub struct ApiAuth {
    tokens: Vec<(Vec<u8>, Caller)>,
    anonymous_read: bool,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiAuth({} tokens)", self.tokens.len())
    }
}

impl ApiAuth {
    pub fn new(access: &crate::config::ApiAccess) -> Self {
        Self {
            tokens: access
                .tokens
                .iter()
                .map(|t| {
                    (
                        t.token.as_bytes().to_vec(),
                        Caller {
                            name: t.name.clone(),
                            role: t.role,
                        },
                    )
                })
                .collect(),
            anonymous_read: access.anonymous_read,
        }
    }

    /// The caller its token names, if it carries a known one.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Option<Caller>, Denied> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                Denied::Unauthenticated("expected Authorization: Bearer <token>".into())
            })?;
        // every token is compared, so the time taken does not say which matched
        let mut found = None;
        for (token, caller) in &self.tokens {
            if bool::from(presented.as_bytes().ct_eq(token)) {
                found = Some(caller.clone());
            }
        }
        found.map(Some).ok_or_else(|| {
            Denied::Unauthenticated("the bearer token is not one of this engine's".into())
        })
    }

    /// The caller, if their role may do what needs `role`; reading
    /// (`Role::Viewer`) needs no token while anonymous reads are allowed.
    pub fn require(
        &self,
        headers: &HeaderMap,
        role: crate::config::Role,
    ) -> Result<Option<Caller>, Denied> {
        let caller = self.caller(headers)?;
        if role == crate::config::Role::Viewer && self.anonymous_read {
            return Ok(caller);
        }
        match caller {
            None if self.tokens.is_empty() => Err(Denied::Forbidden(format!(
                "this needs a {} token, and the engine has no API tokens configured (auth.api_tokens)",
                role.as_str()
            ))),
            None => Err(Denied::Unauthenticated(format!(
                "this needs a bearer token with the {} role",
                role.as_str()
            ))),
            Some(c) if c.role < role => Err(Denied::Forbidden(format!(
                "{} is a {} and this needs a {}",
                c.name,
                c.role.as_str(),
                role.as_str()
            ))),
            Some(c) => Ok(Some(c)),
        }
    }
}

#[cfg(test)]
mod api_tests {
    use super::*;
    use crate::config::{ApiAccess, ApiToken, Role};
    use axum::http::HeaderValue;

    fn auth(anonymous_read: bool) -> ApiAuth {
        ApiAuth::new(&ApiAccess {
            tokens: vec![
                ApiToken {
                    name: "vic".into(),
                    role: Role::Viewer,
                    token: "viewer-token-0123".into(),
                },
                ApiToken {
                    name: "rita".into(),
                    role: Role::Responder,
                    token: "responder-token-01".into(),
                },
                ApiToken {
                    name: "ada".into(),
                    role: Role::Admin,
                    token: "admin-token-012345".into(),
                },
            ],
            anonymous_read,
        })
    }

    fn with(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))
                .unwrap_or(HeaderValue::from_static("x")),
        );
        h
    }

    #[test]
    fn roles_allow_what_they_should_and_no_more() {
        let a = auth(true);
        assert_eq!(
            a.require(&HeaderMap::new(), Role::Viewer),
            Ok(None),
            "anonymous read"
        );
        assert!(matches!(
            auth(false).require(&HeaderMap::new(), Role::Viewer),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            a.require(&HeaderMap::new(), Role::Responder),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(
            matches!(a.require(&with("viewer-token-0123"), Role::Responder), Err(Denied::Forbidden(m)) if m.contains("vic is a viewer"))
        );
        assert_eq!(
            a.require(&with("responder-token-01"), Role::Responder)
                .map(|c| c.map(|c| c.name)),
            Ok(Some("rita".into()))
        );
        assert!(matches!(
            a.require(&with("responder-token-01"), Role::Admin),
            Err(Denied::Forbidden(_))
        ));
        assert!(a.require(&with("admin-token-012345"), Role::Admin).is_ok());
        assert!(
            matches!(
                a.require(&with("admin-token-01234"), Role::Viewer),
                Err(Denied::Unauthenticated(_))
            ),
            "a wrong token is refused even for reading"
        );
        let none = ApiAuth::new(&ApiAccess {
            tokens: vec![],
            anonymous_read: true,
        });
        assert!(
            matches!(none.require(&HeaderMap::new(), Role::Responder), Err(Denied::Forbidden(m)) if m.contains("no API tokens"))
        );
        assert!(!format!("{a:?}").contains("token-0"));
    }
}
