//! The shopper's session: a random id in the `shop_session` cookie, created
//! on first visit. Ids from the cookie are validated like any input.

use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::header::{COOKIE, SET_COOKIE};
use rand::Rng;

pub const COOKIE_NAME: &str = "shop_session";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// True when this request created it; the reply must set the cookie.
    pub is_new: bool,
}

impl Session {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let existing = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| value.trim().to_string())
            .filter(|id| shop_common::api::valid_id(id));
        match existing {
            Some(id) => Session { id, is_new: false },
            None => Session {
                id: new_id(),
                is_new: true,
            },
        }
    }

    pub fn set_cookie_header(&self) -> Option<(axum::http::HeaderName, HeaderValue)> {
        if !self.is_new {
            return None;
        }
        let cookie = format!(
            "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800",
            self.id
        );
        HeaderValue::from_str(&cookie).ok().map(|v| (SET_COOKIE, v))
    }
}

/// 128 random bits as 22 url-safe characters.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_cookie_and_replaces_a_hostile_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=b; shop_session=abc123; c=d"),
        );
        assert_eq!(
            Session::from_headers(&headers),
            Session {
                id: "abc123".into(),
                is_new: false
            }
        );
        headers.insert(
            COOKIE,
            HeaderValue::from_static("shop_session=../../etc/passwd"),
        );
        let s = Session::from_headers(&headers);
        assert!(s.is_new);
        assert_eq!(s.id.len(), 22);
        assert!(s.set_cookie_header().is_some());
    }
}
