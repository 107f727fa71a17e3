//! The action ledger's rules: what a record holds, the states it goes
//! through, and the keys that make an action run at most once. Every state
//! a record enters is appended (the edge stores each as an event, never
//! overwriting one) before anything is carried out; a record's id derives
//! from its key, so an engine that restarts and decides the same thing
//! again computes the same id and finds it already there.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Decided; a dry run stays here.
    Planned,
    /// Waiting for a responder (it expires).
    PendingApproval,
    Approved,
    Denied,
    /// Handed to the executor: it runs at most once from here.
    Running,
    Succeeded,
    Failed,
    /// Succeeded, then taken back because verification failed.
    Undone,
    /// A guardrail stopped it (the reason says which), or its approval expired.
    Skipped,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Planned => "planned",
            ActionState::PendingApproval => "pending_approval",
            ActionState::Approved => "approved",
            ActionState::Denied => "denied",
            ActionState::Running => "running",
            ActionState::Succeeded => "succeeded",
            ActionState::Failed => "failed",
            ActionState::Undone => "undone",
            ActionState::Skipped => "skipped",
        }
    }

    pub const ALL: [ActionState; 9] = [
        ActionState::Planned,
        ActionState::PendingApproval,
        ActionState::Approved,
        ActionState::Denied,
        ActionState::Running,
        ActionState::Succeeded,
        ActionState::Failed,
        ActionState::Undone,
        ActionState::Skipped,
    ];

    pub fn parse(raw: &str) -> Option<ActionState> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// No further state follows (a dry run's `planned` is final too; see
    /// [`ActionRecord::is_final`]).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ActionState::Denied
                | ActionState::Failed
                | ActionState::Undone
                | ActionState::Skipped
                | ActionState::Succeeded
        )
    }

    /// The states a record may move to from this one.
    pub fn may_become(self, next: ActionState) -> bool {
        use ActionState::*;
        matches!(
            (self, next),
            (Planned, PendingApproval | Running | Skipped)
                | (PendingApproval, Approved | Denied | Skipped)
                | (Approved, Running | Skipped)
                | (Running, Succeeded | Failed)
                | (Succeeded, Undone)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    Pending,
    Passed,
    Failed,
}

/// After an action: did the target get healthy in time?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub state: VerificationState,
    /// Unix ms by which the target must be healthy.
    pub deadline_ms: i64,
    /// Unix ms it was decided, once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<i64>,
    #[serde(default)]
    pub why: String,
}

/// One state a record went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub state: ActionState,
    pub at_ms: i64,
    /// `engine`, or the user who approved, denied or switched.
    pub by: String,
    pub reason: String,
}

/// One action (or a decision not to act) and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// `act-` and 16 hex digits of the key's hash.
    pub id: String,
    /// What makes it unique: `<incident>/<playbook>/<attempt>/<step>` (and a
    /// suffix for an undo or an escalation, or `skip/<guardrail>`).
    pub key: String,
    pub incident_id: String,
    pub playbook: String,
    /// The playbook's step index (0-based).
    pub step: u32,
    /// Which run of the playbook on this incident (1-based).
    pub attempt: u32,
    /// `restart`, `rollback`, `scale`, `annotate`, `wait`, `escalate`, or
    /// `undo-rollback` / `undo-scale`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `process`, `docker`, `kubernetes`, or none for timeline steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// The playbook's mode when decided: `auto`, `approve`, `dry-run`.
    pub mode: String,
    pub state: ActionState,
    /// Why it is in this state.
    pub reason: String,
    /// What it does, for a person approving it.
    pub plan: String,
    /// The executor's dry run of it, where the executor has one: on
    /// Kubernetes, the fields the API server would change (the same
    /// request with `dryRun=All`), or why the dry run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// For `scale`: the replicas asked for; for a `wait`: its end (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_ms: Option<i64>,
    /// Unix ms it was first recorded, and of its current state.
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Who moved it to its current state.
    pub by: String,
    /// An approval's expiry (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// What the executor said it did, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    pub history: Vec<Transition>,
}

/// Histories keep their first and latest entries past this.
const MAX_HISTORY: usize = 32;

impl ActionRecord {
    /// A new record in `state`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: String,
        incident_id: &str,
        playbook: &str,
        step: u32,
        attempt: u32,
        action: &str,
        mode: &str,
        state: ActionState,
        reason: String,
        plan: String,
        now_ms: i64,
    ) -> ActionRecord {
        ActionRecord {
            id: id_of(&key),
            key,
            incident_id: incident_id.to_owned(),
            playbook: playbook.to_owned(),
            step,
            attempt,
            action: action.to_owned(),
            service: None,
            executor: None,
            mode: mode.to_owned(),
            state,
            reason: reason.clone(),
            plan,
            preview: None,
            replicas: None,
            due_ms: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            by: ENGINE.to_owned(),
            expires_ms: None,
            result: None,
            verification: None,
            history: vec![Transition {
                state,
                at_ms: now_ms,
                by: ENGINE.to_owned(),
                reason,
            }],
        }
    }

    /// The same record in `next`, if the ledger's rules allow the move.
    pub fn moved(
        &self,
        next: ActionState,
        by: &str,
        reason: impl Into<String>,
        now_ms: i64,
    ) -> Result<ActionRecord, String> {
        if !self.state.may_become(next) {
            return Err(format!(
                "action {} is {} and cannot become {}",
                self.id,
                self.state.as_str(),
                next.as_str()
            ));
        }
        let reason = reason.into();
        let mut out = self.clone();
        out.state = next;
        out.reason = reason.clone();
        out.by = by.to_owned();
        out.updated_ms = now_ms;
        if out.history.len() >= MAX_HISTORY {
            out.history.remove(1);
        }
        out.history.push(Transition {
            state: next,
            at_ms: now_ms,
            by: by.to_owned(),
            reason,
        });
        Ok(out)
    }

    /// Nothing more will happen to it.
    pub fn is_final(&self) -> bool {
        let verifying = self
            .verification
            .as_ref()
            .is_some_and(|v| v.state == VerificationState::Pending);
        (self.state.is_terminal() && !verifying)
            || (self.state == ActionState::Planned && self.mode == "dry-run")
    }

    /// It changes a service (restart, roll back, scale, or an undo).
    pub fn acts(&self) -> bool {
        self.service.is_some() && self.executor.is_some()
    }

    /// It was carried out (whatever came of it).
    pub fn executed(&self) -> bool {
        self.history.iter().any(|t| t.state == ActionState::Running)
    }
}

/// Who the engine's own decisions are by.
pub const ENGINE: &str = "engine";

/// The id of a key: stable, short, and the same in every engine.
pub fn id_of(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("act-{hex}")
}

/// The key of a playbook step on an incident.
pub fn step_key(incident: &str, playbook: &str, attempt: u32, step: u32) -> String {
    format!("{incident}/{playbook}/{attempt}/{step}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ActionRecord {
        ActionRecord::new(
            step_key("inc-1", "restart", 1, 0),
            "inc-1",
            "restart",
            0,
            1,
            "restart",
            "auto",
            ActionState::Planned,
            "matched".into(),
            "restart cart".into(),
            1_000,
        )
    }

    #[test]
    fn ids_are_stable_and_differ_by_key() {
        let a = record();
        assert_eq!(a.id, id_of("inc-1/restart/1/0"));
        assert_eq!(a.id.len(), 4 + 16);
        assert_ne!(a.id, id_of("inc-1/restart/2/0"));
    }

    #[test]
    fn only_the_ledgers_moves_are_allowed() {
        let a = record();
        let running = a
            .moved(ActionState::Running, ENGINE, "auto", 2_000)
            .unwrap();
        assert_eq!(running.history.len(), 2);
        assert!(running.executed());
        assert!(
            running
                .moved(ActionState::Running, ENGINE, "again", 3_000)
                .is_err(),
            "never twice"
        );
        assert!(
            a.moved(ActionState::Succeeded, ENGINE, "skip ahead", 2_000)
                .is_err()
        );
        let done = running
            .moved(ActionState::Succeeded, ENGINE, "ok", 3_000)
            .unwrap();
        assert!(done.is_final());
        assert!(
            done.moved(ActionState::Undone, "engine", "verify failed", 4_000)
                .is_ok()
        );
        for s in ActionState::ALL {
            assert_eq!(ActionState::parse(s.as_str()), Some(s));
            assert!(
                !s.may_become(ActionState::Planned),
                "nothing goes back to planned"
            );
        }
    }

    #[test]
    fn histories_stay_bounded() {
        let mut a = record();
        for i in 0..100 {
            a.history.push(Transition {
                state: ActionState::Planned,
                at_ms: i,
                by: ENGINE.into(),
                reason: String::new(),
            });
        }
        a.history.truncate(MAX_HISTORY);
        let b = a.moved(ActionState::Running, ENGINE, "x", 5).unwrap();
        assert_eq!(b.history.len(), MAX_HISTORY);
        assert_eq!(b.history[0].at_ms, 1_000, "the first is kept");
    }
}
