//! Errors. Messages say what failed and why, and never echo the connection
//! URL, so a password embedded in it cannot leak into logs.
//!
//! The underlying cause is part of the message (callers log `{e}`, and
//! "failed to connect" alone is useless at 3 a.m.). It is therefore not also
//! exposed as `source()`, which would print it twice in chained reports;
//! [`DbError::sqlx_error`] gives programmatic access instead.

/// Everything that can go wrong talking to the incident store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL scheme is not one this crate can serve.
    #[error("unsupported database url: expected {expected}")]
    UnsupportedUrl { expected: &'static str },

    /// The URL was recognised but its options could not be parsed.
    #[error("invalid {backend} connection options: {cause}")]
    InvalidOptions {
        backend: &'static str,
        cause: sqlx::Error,
    },

    /// The PostgreSQL schema name is not a plain identifier; it is spliced
    /// into `CREATE SCHEMA` / `SET search_path`, so anything else is refused.
    #[error(
        "invalid postgres schema name {schema:?}: expected 1-63 characters of [a-z0-9_], not starting with a digit"
    )]
    InvalidSchema { schema: String },

    #[error("failed to connect to {backend}: {cause}")]
    Connect {
        backend: &'static str,
        cause: sqlx::Error,
    },

    #[error("failed to run {backend} migrations: {cause}")]
    Migrate {
        backend: &'static str,
        cause: sqlx::migrate::MigrateError,
    },

    /// An incident (or list filter) names a state outside the known set.
    #[error(
        "invalid incident state {state:?}: expected one of open, acknowledged, mitigated, resolved"
    )]
    InvalidState { state: String },

    /// An incident cannot be stored as given (e.g. empty id).
    #[error("invalid incident {id:?}: {reason}")]
    InvalidRow { id: String, reason: &'static str },

    /// Engine state is stored under a non-empty key.
    #[error("invalid engine state key {key:?}: expected a non-empty name")]
    InvalidStateKey { key: String },

    /// An action ledger event cannot be stored as given.
    #[error("invalid action event: {reason}")]
    InvalidAction { reason: String },

    /// A statement failed; `op` names what was being attempted.
    #[error("failed to {op} ({backend}): {cause}")]
    Query {
        op: &'static str,
        backend: &'static str,
        cause: sqlx::Error,
    },

    /// A lease cannot be taken as asked.
    #[error("invalid lease: {reason}")]
    InvalidLease { reason: String },

    /// A stored row could not be turned back into an [`crate::IncidentRow`].
    #[error("stored incident {id:?} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
}

impl DbError {
    /// The driver error behind a connect/query failure, e.g. to inspect a
    /// database error code.
    pub fn sqlx_error(&self) -> Option<&sqlx::Error> {
        match self {
            DbError::InvalidOptions { cause, .. }
            | DbError::Connect { cause, .. }
            | DbError::Query { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// Worth retrying later: the store could not be reached or refused a
    /// statement (stopped, unreachable, out of disk). The others are about
    /// the input itself and fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Connect { .. } | DbError::Query { .. })
    }

    pub(crate) fn query(
        op: &'static str,
        backend: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> DbError {
        move |cause| DbError::Query { op, backend, cause }
    }
}
