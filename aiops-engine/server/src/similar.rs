//! Similar past incidents at the edge: the index of resolved incidents
//! (with the actions taken on each), filled from the database at start and
//! as incidents resolve, and asked for the nearest ones of an incident.

use aiops_analysis::{Incident, PastAction, PastIncident, SimilarIncident};
use aiops_incident_db::{IncidentDb, ListFilter, MAX_LIST_LIMIT};
use aiops_playbooks::{ActionRecord, ActionState, VerificationState};

use crate::state::AppState;

pub use aiops_analysis::similar::INDEX_CAPACITY;

/// Similar incidents shown per incident.
pub const SHOWN: usize = 3;
/// Actions kept per past incident.
const ACTIONS_PER_INCIDENT: usize = 20;

fn past_action(record: &ActionRecord) -> PastAction {
    let verified = record
        .verification
        .as_ref()
        .is_some_and(|v| v.state == VerificationState::Passed);
    PastAction {
        playbook: record.playbook.clone(),
        action: record.action.clone(),
        service: record.service.clone(),
        state: record.state.as_str().to_owned(),
        worked: record.state == ActionState::Succeeded && verified,
    }
}

/// The actions the ledger holds for an incident, oldest first.
fn actions_of(state: &AppState, incident_id: &str) -> Vec<PastAction> {
    let mut records = state
        .remediation
        .records(Some(incident_id), ACTIONS_PER_INCIDENT);
    records.reverse();
    records.iter().map(past_action).collect()
}

/// Adds the resolved ones among `incidents` to the index.
pub fn remember(state: &AppState, incidents: &[Incident]) {
    let entries: Vec<PastIncident> = incidents
        .iter()
        .filter_map(|i| PastIncident::of(i, actions_of(state, &i.id)))
        .collect();
    if entries.is_empty() {
        return;
    }
    let mut index = state.similar.lock();
    for entry in entries {
        index.insert(entry);
    }
}

/// At start: the most recently resolved incidents from the database, in
/// the order they resolved. Unreadable rows are passed over, as at restore.
pub async fn load(state: &AppState, db: &IncidentDb) -> Result<usize, String> {
    let rows = db
        .list(&ListFilter {
            state: Some("resolved".into()),
            limit: MAX_LIST_LIMIT.min(INDEX_CAPACITY),
            ..ListFilter::default()
        })
        .await
        .map_err(|e| format!("incidents database: {e}"))?;
    let mut incidents: Vec<Incident> = rows
        .into_iter()
        .filter_map(|row| serde_json::from_value::<Incident>(row.document).ok())
        .collect();
    incidents.sort_by_key(|i| (i.resolved_at_ms, i.opened_at_ms));
    remember(state, &incidents);
    Ok(incidents.len())
}

/// The past incidents most like this one, most similar first.
pub fn of(state: &AppState, incident: &Incident) -> Vec<SimilarIncident> {
    state.similar.lock().nearest(incident, SHOWN)
}
