//! The `Idempotency-Key` request header, as the services that take one
//! (payments, checkout) read it.

use axum::http::HeaderMap;

use crate::error::ApiError;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const MAX_KEY_BYTES: usize = 128;

/// The key, or a 400 saying it is missing or malformed.
pub fn key_from_headers(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Err(ApiError::bad_request(
            "missing_idempotency_key",
            "the Idempotency-Key header is required",
        ));
    };
    let key = value.to_str().unwrap_or("");
    let valid = (1..=MAX_KEY_BYTES).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "the Idempotency-Key header must be 1 to {MAX_KEY_BYTES} characters of A-Z, a-z, 0-9, '-' and '_'"
            ),
        ));
    }
    Ok(key.to_string())
}
