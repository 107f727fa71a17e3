//! Alertmanager's webhook notification, payload version 4:
//!
//! ```json
//! {"version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0,
//!  "status": "firing", "receiver": "aiops", "groupLabels": {}, "commonLabels": {},
//!  "commonAnnotations": {}, "externalURL": "http://am:9093",
//!  "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {},
//!              "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
//!              "generatorURL": "http://prom/graph", "fingerprint": "c2f7a8d2b7e1a0f3"}]}
//! ```

use std::collections::BTreeMap;

use aiops_core::model::{AlertEvent, LabelPairs};
use serde::Deserialize;

use crate::error::{IngestError, Position};
use crate::limits::Limits;
use crate::snappy::check_body_size;

/// Longest fingerprint accepted from a sender; Alertmanager's are 16 hex digits.
const MAX_FINGERPRINT_LEN: usize = 64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    version: String,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    receiver: String,
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    // Go decodes these maps with the last duplicate key winning; so does this.
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    fingerprint: String,
}

/// Decodes one webhook notification into one event per alert.
///
/// Refused (400): a version other than "4" (`unsupported_version`), JSON
/// that does not fit the payload, including a missing `version`, `alerts`,
/// or an alert's `status` or `labels` (`json`), a status other than firing
/// or resolved, an alert without labels, or a fingerprint that is not
/// 1 to 64 hex digits (`invalid_alert`). A missing or empty fingerprint is
/// computed from the labels exactly as Alertmanager does (see [`fingerprint`]).
/// Timestamps are passed on as the RFC 3339 strings they are.
pub fn decode_alertmanager(body: &[u8], limits: &Limits) -> Result<Vec<AlertEvent>, IngestError> {
    check_body_size(body, limits)?;
    let notification: Notification =
        serde_json::from_slice(body).map_err(|error| IngestError::Json(error.to_string()))?;
    if notification.version != "4" {
        return Err(IngestError::UnsupportedVersion {
            version: crate::error::excerpt(&notification.version),
        });
    }
    notification
        .alerts
        .into_iter()
        .enumerate()
        .map(|(index, alert)| {
            event(
                Position::Alert(index),
                alert,
                &notification.receiver,
                &notification.group_key,
            )
        })
        .collect()
}

fn event(
    at: Position,
    alert: Alert,
    receiver: &str,
    group_key: &str,
) -> Result<AlertEvent, IngestError> {
    let invalid = |why: String| IngestError::InvalidAlert { at, why };
    if alert.status != "firing" && alert.status != "resolved" {
        return Err(invalid(format!(
            "status {:?} is neither firing nor resolved",
            crate::error::excerpt(&alert.status)
        )));
    }
    if alert.labels.is_empty() {
        return Err(invalid("no labels".to_owned()));
    }
    let labels: LabelPairs = alert.labels.into_iter().collect();
    let fingerprint = if alert.fingerprint.is_empty() {
        fingerprint(&labels)
    } else {
        check_fingerprint(&alert.fingerprint).map_err(|why| invalid(why.to_owned()))?;
        alert.fingerprint
    };
    Ok(AlertEvent {
        fingerprint,
        status: alert.status,
        labels,
        annotations: alert.annotations.into_iter().collect(),
        starts_at: alert.starts_at,
        ends_at: alert.ends_at,
        generator_url: alert.generator_url,
        receiver: receiver.to_owned(),
        group_key: group_key.to_owned(),
    })
}

fn check_fingerprint(fingerprint: &str) -> Result<(), &'static str> {
    if fingerprint.len() > MAX_FINGERPRINT_LEN {
        return Err("fingerprint longer than 64 characters");
    }
    if !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("fingerprint is not hexadecimal");
    }
    Ok(())
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Prometheus' label separator: a byte that cannot occur in UTF-8.
const SEPARATOR: u8 = 0xff;

/// An alert's fingerprint as Alertmanager computes it (Prometheus'
/// `LabelSet.Fingerprint`): 64-bit FNV-1a over the labels sorted by name,
/// each as name, 0xff, value, 0xff; printed as 16 lowercase hex digits.
/// Matching it means an alert keeps one identity whether or not the sender
/// included the fingerprint.
pub fn fingerprint(labels: &LabelPairs) -> String {
    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut hash = FNV_OFFSET_BASIS;
    let mut add = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in sorted {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // FNV-1a 64 of "" and "a", from the FNV reference test suite.
        assert_eq!(fingerprint(&Vec::new()), "cbf29ce484222325");
        let mut hash = FNV_OFFSET_BASIS;
        hash ^= u64::from(b'a');
        hash = hash.wrapping_mul(FNV_PRIME);
        assert_eq!(format!("{hash:016x}"), "af63dc4c8601ec8c");
    }

    #[test]
    fn fingerprint_ignores_input_order() {
        let a = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        let b = vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ];
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
        // The separator keeps {a="b1"} and {ab="1"} apart.
        let c = vec![("a".to_owned(), "b1".to_owned())];
        let d = vec![("ab".to_owned(), "1".to_owned())];
        assert_ne!(fingerprint(&c), fingerprint(&d));
    }
}
