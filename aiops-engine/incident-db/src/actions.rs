//! The action ledger's storage: events appended, never changed. The
//! records are the engine's JSON, stored verbatim.

/// One event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEvent {
    pub action_id: String,
    /// The state entered (`running`, ...) or `verified` / `verification_failed`.
    pub event: String,
    pub incident_id: String,
    pub at_ms: i64,
    pub by: String,
    /// The whole record after this event, as JSON.
    pub record: String,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The event is new and stored.
    New,
    /// The action already had this event: nothing stored (an engine that
    /// restarted and decided the same thing again).
    AlreadyThere,
}

/// Events and ids are plain words; records are bounded.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

impl ActionEvent {
    pub(crate) fn check(&self) -> Result<(), crate::DbError> {
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !word(&self.action_id) || !word(&self.event) || self.incident_id.is_empty() {
            return Err(crate::DbError::InvalidAction {
                reason: format!(
                    "action id {:?} and event {:?} must be 1-128 of [A-Za-z0-9._-], and the incident id set",
                    self.action_id, self.event
                ),
            });
        }
        if self.record.len() > MAX_RECORD_BYTES || self.record.contains('\0') {
            return Err(crate::DbError::InvalidAction {
                reason: format!("a record is at most {MAX_RECORD_BYTES} bytes of text without NUL"),
            });
        }
        Ok(())
    }
}
