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
