//! Watches the engine's incidents while a scenario runs: when each service's
//! own signals joined each incident (and when the harness first saw that),
//! and the root-cause ranking over time. A service named only as the `peer`
//! of another service's signal has not been found.

use std::collections::BTreeMap;

use serde_json::Value;

use super::judge::{IncidentSeen, Join};

/// Rankings kept per incident (a poll every second or two for an hour).
const MAX_RANKINGS: usize = 4_000;
/// Joins kept per incident (its signals are bounded too).
const MAX_JOINS: usize = 10_000;

#[derive(Default)]
pub struct IncidentWatch {
    seen: BTreeMap<String, IncidentSeen>,
    pub polls: u64,
    pub failed_polls: u64,
}

impl IncidentWatch {
    pub async fn poll(&mut self, http: &reqwest::Client, engine: &str, now_ms: i64) {
        self.polls += 1;
        let url = format!("{engine}/api/v1/incidents?limit=1000");
        let body: Option<Value> = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        match body {
            Some(body) => self.absorb(&body, now_ms),
            None => self.failed_polls += 1,
        }
    }

    /// Takes one `GET /api/v1/incidents` answer seen at `now_ms`.
    pub fn absorb(&mut self, body: &Value, now_ms: i64) {
        let Some(list) = body.get("data").and_then(Value::as_array) else {
            return;
        };
        for incident in list {
            let Some(id) = incident.get("id").and_then(Value::as_str) else {
                continue;
            };
            let opened_ms = incident
                .get("opened_at_ms")
                .and_then(Value::as_i64)
                .unwrap_or(now_ms);
            let entry = self
                .seen
                .entry(id.to_owned())
                .or_insert_with(|| IncidentSeen {
                    id: id.to_owned(),
                    opened_ms,
                    ..IncidentSeen::default()
                });
            let members = incident
                .get("signals")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for member in members {
                let joined = member
                    .get("joined_at_ms")
                    .and_then(Value::as_i64)
                    .unwrap_or(now_ms);
                let signal = member.get("signal").unwrap_or(&Value::Null);
                let Some(service) = signal.get("service").and_then(Value::as_str) else {
                    continue;
                };
                // every join counts: a service already in an incident
                // before a fault joins it again with the fault's signals
                let known = entry
                    .joins
                    .iter()
                    .any(|j| j.service == service && j.joined_ms == joined);
                if !known && entry.joins.len() < MAX_JOINS {
                    entry.joins.push(Join {
                        service: service.to_owned(),
                        joined_ms: joined,
                        seen_ms: now_ms,
                    });
                }
            }
            let ranking: Vec<String> = incident
                .get("root_cause")
                .and_then(Value::as_array)
                .map(|causes| {
                    causes
                        .iter()
                        .filter_map(|c| c.get("service").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if entry.rankings.len() < MAX_RANKINGS
                && entry.rankings.last().is_none_or(|(_, r)| *r != ranking)
            {
                entry.rankings.push((now_ms, ranking));
            }
        }
    }

    pub fn incidents(&self) -> Vec<IncidentSeen> {
        self.seen.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_rankings_are_tracked() {
        let mut w = IncidentWatch::default();
        let page = |ranking: &str, extra: &str| -> Value {
            serde_json::from_str(&format!(
                r#"{{"data":[{{"id":"i1","opened_at_ms":1000,
                  "signals":[{{"joined_at_ms":1000,"signal":{{"service":"checkout","peer":"payments"}}}}{extra}],
                  "root_cause":[{ranking}]}}]}}"#
            ))
            .expect("json")
        };
        w.absorb(&page(r#"{"service":"checkout"}"#, ""), 2000);
        w.absorb(&page(r#"{"service":"checkout"}"#, ""), 3000);
        w.absorb(
            &page(
                r#"{"service":"payments"},{"service":"checkout"}"#,
                r#",{"joined_at_ms":4000,"signal":{"service":"payments","peer":null}}"#,
            ),
            5000,
        );
        let seen = w.incidents();
        assert_eq!(seen.len(), 1);
        let i = &seen[0];
        assert_eq!(i.opened_ms, 1000);
        let joins: Vec<(&str, i64, i64)> = i
            .joins
            .iter()
            .map(|j| (j.service.as_str(), j.joined_ms, j.seen_ms))
            .collect();
        // payments as checkout's peer is not payments found
        assert_eq!(
            joins,
            vec![("checkout", 1000, 2000), ("payments", 4000, 5000)]
        );
        assert_eq!(i.rankings.len(), 2, "unchanged rankings are not repeated");
        assert_eq!(
            i.rankings[1],
            (5000, vec!["payments".into(), "checkout".into()])
        );
        w.absorb(&Value::Null, 6000);
        assert_eq!(w.incidents().len(), 1);
    }
}
