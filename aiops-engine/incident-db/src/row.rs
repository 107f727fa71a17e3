//! The stored shape of an incident and the inputs of queries.

use serde::{Deserialize, Serialize};

use crate::DbError;

/// Every state an incident may be stored in. Kept in sync with the CHECK
/// constraints in both migrations.
pub const STATES: [&str; 4] = ["open", "acknowledged", "mitigated", "resolved"];

/// The terminal state; anything else is reloaded by [`crate::IncidentDb::unresolved`].
pub const RESOLVED: &str = "resolved";

/// Upper bound on [`ListFilter::limit`]: a list call must stay cheap no
/// matter what a caller (or an HTTP query string) asks for.
pub const MAX_LIST_LIMIT: usize = 1000;

/// One incident as persisted: queryable columns plus the engine's document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRow {
    /// Engine-chosen, unique (e.g. `inc-0001f3a2`); the primary key.
    pub id: String,
    /// One of [`STATES`].
    pub state: String,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub services: Vec<String>,
    /// Incremented by the engine on every change; an upsert that does not
    /// raise it is ignored.
    pub revision: i64,
    /// The whole incident as the engine sees it; stored verbatim.
    pub document: serde_json::Value,
}

/// What [`crate::IncidentDb::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// No row with this id existed; it was created.
    Inserted,
    /// The stored row had a lower revision and was replaced.
    Updated,
    /// The stored row's revision is >= the given one; nothing was written,
    /// so a late writer never rolls an incident back.
    Stale,
}

/// Selection for [`crate::IncidentDb::list`]; results are newest opened first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    /// Only incidents in this state (must be one of [`STATES`]).
    pub state: Option<String>,
    /// Only incidents whose `services` contains this exact name.
    pub service: Option<String>,
    /// At most this many rows, capped at [`MAX_LIST_LIMIT`]; 0 returns nothing.
    pub limit: usize,
    /// Only incidents opened strictly before this time: pass the last
    /// `opened_at_ms` of a page to get the next one.
    pub before_ms: Option<i64>,
}

impl Default for ListFilter {
    fn default() -> Self {
        ListFilter {
            state: None,
            service: None,
            limit: 100,
            before_ms: None,
        }
    }
}

impl ListFilter {
    pub(crate) fn effective_limit(&self) -> i64 {
        // Both backends take the limit as a signed 64-bit integer; the cap
        // keeps the conversion lossless.
        self.limit.min(MAX_LIST_LIMIT) as i64
    }

    pub(crate) fn validate(&self) -> Result<(), DbError> {
        match &self.state {
            Some(state) => validate_state(state),
            None => Ok(()),
        }
    }

    /// A service name with a NUL can never have been stored (see
    /// [`IncidentRow::validate`]), and PostgreSQL would reject it as a
    /// parameter, so callers skip the query instead.
    pub(crate) fn matches_nothing(&self) -> bool {
        self.limit == 0 || self.service.as_deref().is_some_and(|s| s.contains('\0'))
    }
}

pub(crate) fn validate_state(state: &str) -> Result<(), DbError> {
    if STATES.contains(&state) {
        Ok(())
    } else {
        Err(DbError::InvalidState {
            state: state.to_owned(),
        })
    }
}

/// The row with its JSON columns already serialized, ready to bind.
pub(crate) struct Encoded<'a> {
    pub row: &'a IncidentRow,
    pub services: String,
    pub document: String,
}

impl IncidentRow {
    /// Checks what the database would otherwise reject (or, worse, accept on
    /// SQLite but not on PostgreSQL) so both backends behave the same.
    pub(crate) fn validate(&self) -> Result<(), DbError> {
        validate_state(&self.state)?;
        let invalid = |reason| DbError::InvalidRow {
            id: self.id.clone(),
            reason,
        };
        if self.id.is_empty() {
            return Err(invalid("id is empty"));
        }
        // PostgreSQL TEXT and JSONB cannot hold NUL; the document column is
        // JSON (kept as escaped text) so NULs inside the document are fine.
        if self.id.contains('\0') {
            return Err(invalid("id contains a NUL character"));
        }
        if self.services.iter().any(|s| s.contains('\0')) {
            return Err(invalid("a service name contains a NUL character"));
        }
        Ok(())
    }

    pub(crate) fn encode(&self) -> Result<Encoded<'_>, DbError> {
        self.validate()?;
        let encode_failed = |_| DbError::InvalidRow {
            id: self.id.clone(),
            reason: "cannot be serialized as JSON",
        };
        Ok(Encoded {
            row: self,
            services: serde_json::to_string(&self.services).map_err(encode_failed)?,
            document: serde_json::to_string(&self.document).map_err(encode_failed)?,
        })
    }
}

/// Column values as read back, before the JSON columns are parsed.
pub(crate) struct RawRow {
    pub id: String,
    pub state: String,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub services: String,
    pub revision: i64,
    pub document: String,
}

impl RawRow {
    pub(crate) fn decode(self) -> Result<IncidentRow, DbError> {
        let services = serde_json::from_str(&self.services).map_err(|e| DbError::Corrupt {
            id: self.id.clone(),
            reason: format!("services column is not a JSON array of strings: {e}"),
        })?;
        let document = serde_json::from_str(&self.document).map_err(|e| DbError::Corrupt {
            id: self.id.clone(),
            reason: format!("document column is not valid JSON: {e}"),
        })?;
        Ok(IncidentRow {
            id: self.id,
            state: self.state,
            opened_at_ms: self.opened_at_ms,
            updated_at_ms: self.updated_at_ms,
            resolved_at_ms: self.resolved_at_ms,
            services,
            revision: self.revision,
            document,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str) -> IncidentRow {
        IncidentRow {
            id: "inc-1".into(),
            state: state.into(),
            opened_at_ms: 1,
            updated_at_ms: 1,
            resolved_at_ms: None,
            services: vec!["api".into()],
            revision: 1,
            document: serde_json::json!({}),
        }
    }

    #[test]
    fn every_known_state_is_accepted() {
        for s in STATES {
            row(s).validate().expect("known state");
        }
    }

    #[test]
    fn unknown_states_are_rejected() {
        for s in ["", "OPEN", "closed", "open ", "resolved\0"] {
            let err = row(s).validate().expect_err(s);
            assert!(matches!(err, DbError::InvalidState { .. }), "{s:?}: {err}");
        }
    }

    #[test]
    fn nul_in_id_or_services_is_rejected_but_not_in_document() {
        let mut r = row("open");
        r.id = "inc\0".into();
        assert!(matches!(r.validate(), Err(DbError::InvalidRow { .. })));
        let mut r = row("open");
        r.services.push("a\0b".into());
        assert!(matches!(r.validate(), Err(DbError::InvalidRow { .. })));
        let mut r = row("open");
        r.document = serde_json::json!({"line": "a\0b"});
        r.validate().expect("NUL inside the document is storable");
    }

    #[test]
    fn list_limit_is_capped() {
        let f = |limit| ListFilter {
            limit,
            ..ListFilter::default()
        };
        assert_eq!(f(0).effective_limit(), 0);
        assert_eq!(f(10).effective_limit(), 10);
        assert_eq!(f(MAX_LIST_LIMIT).effective_limit(), 1000);
        assert_eq!(f(usize::MAX).effective_limit(), 1000);
        assert!(f(0).matches_nothing());
    }
}
