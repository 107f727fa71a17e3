//! On-call notifications, the pure part: the routing tree
//! (`rules/notify.yaml`), and the decisions of what to send about an
//! incident and when (one opening message per receiver, coalesced updates,
//! repeats, escalation, resolution; silences and quiet hours), each kept in
//! the incident's notification log with why. Time is an argument; the
//! senders (Slack, email, PagerDuty, webhooks) live at the edge.

pub mod decide;
pub mod message;
pub mod routing;
pub mod slack;

pub use decide::{
    Entry, Incident, Kind, MAX_ATTEMPTS, Silence, append, decide, thread_of, unfinished,
};
pub use routing::{IncidentFacts, Receiver, Routed, Routing};

#[cfg(test)]
mod tests;
