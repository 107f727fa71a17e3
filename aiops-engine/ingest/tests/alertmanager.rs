//! Alertmanager webhook payloads.

use aiops_ingest::{IngestError, Limits, alert_fingerprint, decode_alertmanager};
use serde_json::{Value, json};

fn payload() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "aiops",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"service": "payments", "alertname": "HighErrorRate"},
                "annotations": {"summary": "errors above 5%"},
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
                "fingerprint": "0123456789abcdef"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighLatency"},
                "annotations": {},
                "startsAt": "2024-05-01T09:00:00Z",
                "endsAt": "2024-05-01T09:30:00Z",
                "generatorURL": ""
            }
        ]
    })
}

fn decode(value: &Value) -> Result<Vec<aiops_core::model::AlertEvent>, IngestError> {
    decode_alertmanager(value.to_string().as_bytes(), &Limits::default())
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn decodes_a_version_4_payload() {
    let events = decode(&payload()).unwrap();
    assert_eq!(events.len(), 2);
    let first = &events[0];
    assert_eq!(first.fingerprint, "0123456789abcdef");
    assert_eq!(first.status, "firing");
    assert_eq!(
        first.labels,
        pairs(&[("alertname", "HighErrorRate"), ("service", "payments")])
    );
    assert_eq!(first.annotations, pairs(&[("summary", "errors above 5%")]));
    assert_eq!(first.starts_at, "2024-05-01T10:00:00Z");
    assert_eq!(first.ends_at, "0001-01-01T00:00:00Z");
    assert_eq!(
        first.generator_url,
        "http://prometheus:9090/graph?g0.expr=x"
    );
    assert_eq!(first.receiver, "aiops");
    assert_eq!(first.group_key, "{}:{alertname=\"HighErrorRate\"}");
    // No fingerprint sent: computed from the labels.
    let second = &events[1];
    assert_eq!(second.status, "resolved");
    assert_eq!(second.fingerprint, alert_fingerprint(&second.labels));
    assert_eq!(second.fingerprint.len(), 16);
}

#[test]
fn computed_fingerprints_are_stable() {
    let mut sent = payload();
    sent["alerts"][0]["fingerprint"] = json!("");
    let once = decode(&sent).unwrap()[0].fingerprint.clone();
    // Same labels in another order, another status: same identity.
    sent["alerts"][0]["labels"] = json!({"alertname": "HighErrorRate", "service": "payments"});
    sent["alerts"][0]["status"] = json!("resolved");
    assert_eq!(decode(&sent).unwrap()[0].fingerprint, once);
    sent["alerts"][0]["labels"]["service"] = json!("cart");
    assert_ne!(decode(&sent).unwrap()[0].fingerprint, once);
}

#[test]
fn an_empty_alert_list_is_fine() {
    let mut sent = payload();
    sent["alerts"] = json!([]);
    assert_eq!(decode(&sent).unwrap(), Vec::new());
}

fn assert_rejected(value: &Value, reason: &str) {
    let Err(error) = decode(value) else {
        panic!("expected {reason} for {value}");
    };
    assert_eq!(error.reason(), reason, "{error}");
    assert_eq!(error.status(), 400);
}

#[test]
fn refusals() {
    let mut version_3 = payload();
    version_3["version"] = json!("3");
    assert_rejected(&version_3, "unsupported_version");
    assert_eq!(
        decode(&version_3).unwrap_err().to_string(),
        "webhook payload version \"3\" is not supported, expected \"4\""
    );
    let mut numeric_version = payload();
    numeric_version["version"] = json!(4);
    assert_rejected(&numeric_version, "json");

    for field in ["version", "alerts"] {
        let mut missing = payload();
        missing.as_object_mut().unwrap().remove(field);
        assert_rejected(&missing, "json");
    }
    for field in ["status", "labels"] {
        let mut missing = payload();
        missing["alerts"][1].as_object_mut().unwrap().remove(field);
        assert_rejected(&missing, "json");
    }

    let mut bad_status = payload();
    bad_status["alerts"][1]["status"] = json!("pending");
    assert_rejected(&bad_status, "invalid_alert");
    assert_eq!(
        decode(&bad_status).unwrap_err().to_string(),
        "alert 1: status \"pending\" is neither firing nor resolved"
    );
    let mut no_labels = payload();
    no_labels["alerts"][0]["labels"] = json!({});
    assert_rejected(&no_labels, "invalid_alert");
    for fingerprint in ["not-hex!", &"a".repeat(65)] {
        let mut bad_fingerprint = payload();
        bad_fingerprint["alerts"][0]["fingerprint"] = json!(fingerprint);
        assert_rejected(&bad_fingerprint, "invalid_alert");
    }
    let mut label_not_string = payload();
    label_not_string["alerts"][0]["labels"]["n"] = json!(1);
    assert_rejected(&label_not_string, "json");
}

#[test]
fn garbage_and_size() {
    for body in [
        &b""[..],
        b"garbage",
        b"[]",
        b"{\"version\":\"4\",\"alerts\":[",
        b"\xff\xfe",
    ] {
        let error = decode_alertmanager(body, &Limits::default()).unwrap_err();
        assert_eq!(error.reason(), "json", "{body:?}");
    }
    let limits = Limits {
        max_body_bytes: 100,
        ..Limits::default()
    };
    let error = decode_alertmanager(payload().to_string().as_bytes(), &limits).unwrap_err();
    assert_eq!(error.reason(), "too_large");
    assert_eq!(error.status(), 413);
}
