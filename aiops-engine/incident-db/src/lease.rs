//! Leases: of several engines sharing one store, the holder of a lease is
//! the one that acts. One conditional upsert takes, renews or refuses it,
//! so two engines can never both hold a lease at the same moment of the
//! store's order of writes.

/// A lease as held after a successful take or renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub expires_at_ms: i64,
    /// Rises with every new term; equal across renewals of one term.
    pub generation: i64,
}

/// Names and holders are plain words, so they read well in logs.
pub(crate) fn check(name: &str, holder: &str, ttl_ms: i64) -> Result<(), crate::DbError> {
    let word = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    };
    if !word(name) || !word(holder) || ttl_ms <= 0 {
        return Err(crate::DbError::InvalidLease {
            reason: format!(
                "name {name:?} and holder {holder:?} must be 1-128 of [A-Za-z0-9._:-], the duration positive"
            ),
        });
    }
    Ok(())
}

/// Takes the lease if it is free or expired, renews it if `holder` holds
/// it; the same statement on both backends (`$n` are positional).
pub(crate) const TAKE: &str = "INSERT INTO leases (name, holder, expires_at_ms, generation) \
     VALUES ($1, $2, $3, 1) \
     ON CONFLICT (name) DO UPDATE SET \
     generation = CASE WHEN leases.holder = excluded.holder AND leases.expires_at_ms >= $4 \
                  THEN leases.generation ELSE leases.generation + 1 END, \
     holder = excluded.holder, \
     expires_at_ms = excluded.expires_at_ms \
     WHERE leases.holder = excluded.holder OR leases.expires_at_ms < $4 \
     RETURNING generation";

/// Gives the lease up at once (a clean shutdown), so another engine need
/// not wait for it to expire.
pub(crate) const RELEASE: &str =
    "UPDATE leases SET expires_at_ms = 0 WHERE name = $1 AND holder = $2";

pub(crate) const CURRENT: &str =
    "SELECT holder, expires_at_ms, generation FROM leases WHERE name = $1";
