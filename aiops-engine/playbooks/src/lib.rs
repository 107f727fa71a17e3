//! Remediation playbooks, pure: the format operators write (`model`, with
//! its JSON Schema in `schema`), reading it with every error placed at
//! `file:line:column` (`load`), whether a playbook applies to an incident
//! and why (`matching`), the guardrails that stop it (`guardrails`), the
//! ledger's records and rules (`ledger`), and the loop's decisions
//! (`decide`). Time is an argument; nothing here does I/O beyond reading
//! the playbook files it is pointed at.

pub mod at;
pub mod decide;
pub mod guardrails;
pub mod ledger;
pub mod load;
pub mod matching;
pub mod model;
pub mod schema;
pub mod span;

pub use at::At;
pub use decide::{Effect, Rehearsal, Remediator, describe, recover, rehearse, target_health};
pub use guardrails::{Blocked, Capability, Settings, World};
pub use ledger::{ActionRecord, ActionState, Verification, VerificationState};
pub use load::{FileErrors, Problem};
pub use matching::{MatchReport, matches};
pub use model::{Executor, Mode, Playbook, Step};
pub use span::Span;

#[cfg(test)]
mod tests;
