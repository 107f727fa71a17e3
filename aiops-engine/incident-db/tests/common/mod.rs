//! The backend-independent test suite. `sqlite.rs` and `postgres.rs` run
//! every function here against their own fresh, isolated store.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use aiops_incident_db::{
    ActionEvent, Appended, DbError, IncidentDb, IncidentRow, ListFilter, MAX_RECORD_BYTES, Upserted,
};
use serde_json::json;

/// Where a test's store lives; `open` may be called again after `close` to
/// simulate an engine restart against the same data.
pub struct Fixture {
    pub url: String,
    /// PostgreSQL only: the per-test schema.
    pub schema: Option<String>,
    /// SQLite only: keeps the temp directory alive for the test's duration.
    pub _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub async fn open(&self) -> IncidentDb {
        let db = match &self.schema {
            Some(schema) => IncidentDb::connect_with_schema(&self.url, schema).await,
            None => IncidentDb::connect(&self.url).await,
        };
        db.unwrap_or_else(|e| panic!("open store: {}", chain(&e)))
    }
}

/// The error and all its causes, as an operator would see them in a log.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

pub fn incident(id: &str, state: &str, opened: i64, services: &[&str], rev: i64) -> IncidentRow {
    IncidentRow {
        id: id.to_owned(),
        state: state.to_owned(),
        opened_at_ms: opened,
        updated_at_ms: opened + rev,
        resolved_at_ms: (state == "resolved").then_some(opened + 1000),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        revision: rev,
        document: json!({
            "id": id,
            "revision": rev,
            "signals": [{"kind": "latency", "value": 1.5}, {"kind": "errors", "value": 42}],
            "nested": {"null": null, "flag": true, "big": u64::MAX, "neg": i64::MIN},
        }),
    }
}

fn ids(rows: &[IncidentRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

fn filter() -> ListFilter {
    ListFilter::default()
}

pub async fn upsert_get_roundtrip(fx: &Fixture) {
    let db = fx.open().await;
    assert!(["sqlite", "postgres"].contains(&db.backend()));
    let v1 = incident("inc-0001f3a2", "open", 1_000, &["checkout", "payments"], 1);
    assert_eq!(db.upsert(&v1).await.unwrap(), Upserted::Inserted);
    assert_eq!(db.get("inc-0001f3a2").await.unwrap(), Some(v1.clone()));
    assert_eq!(db.get("inc-missing").await.unwrap(), None);

    let mut v2 = incident("inc-0001f3a2", "acknowledged", 1_000, &["checkout"], 2);
    v2.document["note"] = json!("acked by on-call");
    assert_eq!(db.upsert(&v2).await.unwrap(), Upserted::Updated);
    assert_eq!(db.get("inc-0001f3a2").await.unwrap(), Some(v2.clone()));

    let v3 = incident("inc-0001f3a2", "resolved", 1_000, &[], 3);
    assert_eq!(db.upsert(&v3).await.unwrap(), Upserted::Updated);
    let got = db.get("inc-0001f3a2").await.unwrap().unwrap();
    assert_eq!(got, v3);
    assert_eq!(got.resolved_at_ms, Some(2_000));
    assert!(got.services.is_empty());
    db.close().await;
}

pub async fn stale_revision_ignored(fx: &Fixture) {
    let db = fx.open().await;
    let current = incident("inc-stale", "mitigated", 500, &["api"], 5);
    assert_eq!(db.upsert(&current).await.unwrap(), Upserted::Inserted);

    // A late writer with an older revision, and a replay of the same one.
    let older = incident("inc-stale", "open", 500, &["other"], 4);
    assert_eq!(db.upsert(&older).await.unwrap(), Upserted::Stale);
    let mut same_rev = current.clone();
    same_rev.state = "open".into();
    assert_eq!(db.upsert(&same_rev).await.unwrap(), Upserted::Stale);
    assert_eq!(db.get("inc-stale").await.unwrap(), Some(current.clone()));

    let newer = incident("inc-stale", "resolved", 500, &["api"], 6);
    assert_eq!(db.upsert(&newer).await.unwrap(), Upserted::Updated);
    assert_eq!(db.get("inc-stale").await.unwrap(), Some(newer));
    db.close().await;
}

pub async fn list_filters(fx: &Fixture) {
    let db = fx.open().await;
    let rows = [
        incident("inc-a", "open", 100, &["api", "db"], 1),
        incident("inc-b", "resolved", 200, &["api"], 1),
        incident("inc-c", "acknowledged", 300, &["db"], 1),
        incident("inc-d", "open", 400, &["web"], 1),
        incident("inc-e", "mitigated", 500, &[], 1),
        // Same opened_at as inc-d: order falls back to id, descending.
        incident("inc-f", "open", 400, &["api"], 1),
    ];
    for r in &rows {
        assert_eq!(db.upsert(r).await.unwrap(), Upserted::Inserted);
    }

    let all = db.list(&filter()).await.unwrap();
    assert_eq!(
        ids(&all),
        ["inc-e", "inc-f", "inc-d", "inc-c", "inc-b", "inc-a"]
    );
    assert_eq!(all[0], rows[4]);

    let open = db
        .list(&ListFilter {
            state: Some("open".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&open), ["inc-f", "inc-d", "inc-a"]);

    let api = db
        .list(&ListFilter {
            service: Some("api".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&api), ["inc-f", "inc-b", "inc-a"]);

    // Exact element match, not a substring or prefix.
    let ap = db
        .list(&ListFilter {
            service: Some("ap".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert!(ap.is_empty());

    let open_api = db
        .list(&ListFilter {
            state: Some("open".into()),
            service: Some("api".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&open_api), ["inc-f", "inc-a"]);

    // Pagination: limit + before_ms.
    let page1 = db
        .list(&ListFilter {
            limit: 2,
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page1), ["inc-e", "inc-f"]);
    let page2 = db
        .list(&ListFilter {
            limit: 2,
            before_ms: Some(page1[1].opened_at_ms),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page2), ["inc-c", "inc-b"]);

    let none = db
        .list(&ListFilter {
            limit: 0,
            ..filter()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let huge = db
        .list(&ListFilter {
            limit: usize::MAX,
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(huge.len(), rows.len());

    let err = db
        .list(&ListFilter {
            state: Some("closed".into()),
            ..filter()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidState { .. }), "{err}");
    db.close().await;
}

/// The restart scenario: close the store, open it again, find everything.
pub async fn restart_reloads_everything(fx: &Fixture) {
    let db = fx.open().await;
    let rows = [
        incident("inc-r1", "open", 10, &["api"], 3),
        incident("inc-r2", "resolved", 20, &["api"], 7),
        incident("inc-r3", "acknowledged", 30, &["db"], 1),
        incident("inc-r4", "mitigated", 5, &["web"], 2),
    ];
    for r in &rows {
        db.upsert(r).await.unwrap();
    }
    db.close().await;

    let db = fx.open().await; // migrations run again and must be a no-op
    for r in &rows {
        assert_eq!(db.get(&r.id).await.unwrap().as_ref(), Some(r));
    }
    let unresolved = db.unresolved().await.unwrap();
    assert_eq!(ids(&unresolved), ["inc-r4", "inc-r1", "inc-r3"]);
    assert_eq!(unresolved[1], rows[0]);

    // Revisions survived too: a pre-restart write replayed is still stale.
    let replay = incident("inc-r1", "open", 10, &["api"], 2);
    assert_eq!(db.upsert(&replay).await.unwrap(), Upserted::Stale);
    // And no duplicates were created by re-upserting after restart.
    let dup = incident("inc-r3", "resolved", 30, &["db"], 2);
    assert_eq!(db.upsert(&dup).await.unwrap(), Upserted::Updated);
    assert_eq!(db.list(&filter()).await.unwrap().len(), rows.len());
    assert_eq!(ids(&db.unresolved().await.unwrap()), ["inc-r4", "inc-r1"]);
    db.close().await;
}

pub async fn invalid_rows_rejected(fx: &Fixture) {
    let db = fx.open().await;
    for state in ["closed", "", "OPEN", "open ", "resolved'; --"] {
        let r = incident("inc-bad", state, 1, &["api"], 1);
        let err = db.upsert(&r).await.unwrap_err();
        assert!(
            matches!(err, DbError::InvalidState { .. }),
            "{state:?}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("invalid incident state"), "{msg}");
        assert!(
            msg.contains("open, acknowledged, mitigated, resolved"),
            "{msg}"
        );
    }
    for (id, services) in [
        ("", vec!["api"]),
        ("inc\0x", vec!["api"]),
        ("inc-x", vec!["a\0"]),
    ] {
        let r = incident(id, "open", 1, &services, 1);
        let err = db.upsert(&r).await.unwrap_err();
        assert!(matches!(err, DbError::InvalidRow { .. }), "{id:?}: {err}");
    }
    assert!(db.list(&filter()).await.unwrap().is_empty());
    // A service with NUL cannot match anything and must not error on postgres.
    let nul = db
        .list(&ListFilter {
            service: Some("a\0".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert!(nul.is_empty());
    db.close().await;
}

/// 10 tasks race to write revisions 1..=10 of the same incidents: exactly
/// one row each, holding revision 10, and exactly one writer saw Inserted.
pub async fn concurrent_upserts_same_id(fx: &Fixture) {
    let db = fx.open().await;
    for round in 0..5 {
        let id = format!("inc-race-{round}");
        let mut tasks = Vec::new();
        for i in 0..10_i64 {
            let db = db.clone();
            // Interleave revisions so the highest is not simply the last spawned.
            let rev = (i * 7 + round) % 10 + 1;
            let row = incident(
                &id,
                if rev == 10 { "resolved" } else { "open" },
                1,
                &["api"],
                rev,
            );
            tasks.push(tokio::spawn(async move { db.upsert(&row).await.unwrap() }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let inserted = outcomes
            .iter()
            .filter(|o| **o == Upserted::Inserted)
            .count();
        assert_eq!(inserted, 1, "round {round}: {outcomes:?}");
        let stored = db.get(&id).await.unwrap().unwrap();
        assert_eq!(stored.revision, 10, "round {round}");
        assert_eq!(stored.document["revision"], json!(10));
        assert_eq!(stored.state, "resolved");
    }
    let all = db.list(&filter()).await.unwrap();
    assert_eq!(all.len(), 5);
    let unique: HashSet<_> = all.iter().map(|r| r.id.clone()).collect();
    assert_eq!(unique.len(), 5);
    db.close().await;
}

pub async fn hostile_strings_roundtrip(fx: &Fixture) {
    let db = fx.open().await;
    let id = r#"inc-'"; DROP TABLE incidents; -- \ ☃ 事件 🚨"#;
    let services = [
        "o'brien",
        r#"quote"d"#,
        "back\\slash",
        "100%_like",
        "пла-тежи",
        "עברית‏",
        "emoji 🔥",
        "",
    ];
    let mut row = incident(id, "open", 42, &services, 1);
    let big = "x".repeat(1024 * 1024);
    row.document = json!({
        "title": "'; DELETE FROM incidents; --",
        "json_in_string": "{\"a\": [1, 2]}",
        "control": "tab\tnewline\ncr\r nul\u{0} bell\u{7}",
        "unicode": "ζ 中 😀 \u{FEFF} \u{10FFFF}",
        "keys": {"'": 1, "\"": 2, "\\": 3, "ключ": 4, "\u{0}": 5},
        "big": big,
    });
    assert_eq!(db.upsert(&row).await.unwrap(), Upserted::Inserted);
    assert_eq!(db.get(id).await.unwrap().as_ref(), Some(&row));

    for service in services {
        let hits = db
            .list(&ListFilter {
                service: Some(service.to_owned()),
                ..filter()
            })
            .await
            .unwrap();
        assert_eq!(ids(&hits), [id], "service {service:?}");
    }
    // LIKE metacharacters must not act as wildcards.
    let wild = db
        .list(&ListFilter {
            service: Some("%".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert!(wild.is_empty());

    // Updating a large document in place works too.
    let mut v2 = row.clone();
    v2.revision = 2;
    v2.document["big"] = json!("y".repeat(1024 * 1024));
    assert_eq!(db.upsert(&v2).await.unwrap(), Upserted::Updated);
    assert_eq!(db.get(id).await.unwrap(), Some(v2));
    db.close().await;
}

/// Engine state survives a restart, a second put replaces the first, and
/// hostile text comes back byte for byte.
pub async fn engine_state_roundtrip(f: &Fixture) {
    let db = f.open().await;
    assert_eq!(db.get_state("templates").await.unwrap(), None);
    db.put_state("templates", 1, r#"{"v":1}"#).await.unwrap();
    let hostile = "{\"line\":\"'; DROP TABLE incidents; --\\u0000 \u{1F4A5} \\\"q\\\"\"}";
    db.put_state("templates", 2, hostile).await.unwrap();
    db.put_state("other", 3, "{}").await.unwrap();
    db.close().await;
    let db = f.open().await;
    assert_eq!(
        db.get_state("templates").await.unwrap().as_deref(),
        Some(hostile)
    );
    assert_eq!(db.get_state("other").await.unwrap().as_deref(), Some("{}"));
    assert!(matches!(
        db.put_state("", 4, "{}").await,
        Err(DbError::InvalidStateKey { .. })
    ));
    db.close().await;
}

fn event(action: &str, event: &str, incident: &str, at_ms: i64, record: &str) -> ActionEvent {
    ActionEvent {
        action_id: action.into(),
        event: event.into(),
        incident_id: incident.into(),
        at_ms,
        by: "engine".into(),
        record: record.into(),
    }
}

/// The ledger is append-only, an event is taken once per action (so a
/// second `running` for the same action is refused, also across a
/// restart), and the current record of each action is its latest event.
pub async fn action_ledger_appends_once(fx: &Fixture) {
    let db = fx.open().await;
    let planned = event("act-1", "planned", "inc-a", 1, r#"{"state":"planned"}"#);
    let running = event("act-1", "running", "inc-a", 2, r#"{"state":"running"}"#);
    assert_eq!(db.append_action(&planned).await.unwrap(), Appended::New);
    assert_eq!(db.append_action(&running).await.unwrap(), Appended::New);
    let again = event(
        "act-1",
        "running",
        "inc-a",
        3,
        r#"{"state":"running","again":true}"#,
    );
    assert_eq!(
        db.append_action(&again).await.unwrap(),
        Appended::AlreadyThere
    );
    db.append_action(&event("act-2", "skipped", "inc-b", 4, r#"{"id":"act-2"}"#))
        .await
        .unwrap();
    let all = db.actions(None, 100).await.unwrap();
    assert_eq!(
        all,
        [r#"{"id":"act-2"}"#, r#"{"state":"running"}"#],
        "latest event per action, newest first"
    );
    assert_eq!(
        db.actions(Some("inc-a"), 100).await.unwrap(),
        [r#"{"state":"running"}"#]
    );
    assert!(db.actions(Some("inc-none"), 100).await.unwrap().is_empty());
    db.close().await;
    // restarted: the same event is still refused
    let db = fx.open().await;
    assert_eq!(
        db.append_action(&again).await.unwrap(),
        Appended::AlreadyThere
    );
    assert_eq!(
        db.actions(None, 1).await.unwrap().len(),
        1,
        "the limit holds"
    );
    // hostile input is refused with a reason, and stores nothing
    for bad in [
        event("", "planned", "inc", 1, "{}"),
        event("act-3", "drop table; --", "inc", 1, "{}"),
        event("act-3", "planned", "", 1, "{}"),
        event("act-3", "planned", "inc", 1, "nul\0byte"),
        event(
            "act-3",
            "planned",
            "inc",
            1,
            &"x".repeat(MAX_RECORD_BYTES + 1),
        ),
    ] {
        let err = db.append_action(&bad).await.unwrap_err();
        assert!(matches!(err, DbError::InvalidAction { .. }), "{err}");
    }
    assert_eq!(db.actions(None, 100).await.unwrap().len(), 2);
    // concurrent appends of the same event: exactly one wins
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.append_action(&event("act-9", "running", "inc-c", i, "{}"))
                .await
                .unwrap()
        }));
    }
    let mut new = 0;
    for t in tasks {
        if t.await.unwrap() == Appended::New {
            new += 1;
        }
    }
    assert_eq!(new, 1, "one running event for one action, whoever races");
}

pub async fn leases_are_held_by_one_holder_at_a_time(fx: &Fixture) {
    let db = fx.open().await;
    let a = db.take_lease("engine", "a", 1_000, 10_000).await.unwrap();
    let a = a.expect("a free lease is taken");
    assert_eq!((a.holder.as_str(), a.expires_at_ms), ("a", 11_000));
    assert_eq!(
        db.take_lease("engine", "b", 5_000, 10_000).await.unwrap(),
        None,
        "held by a"
    );
    let renewed = db.take_lease("engine", "a", 6_000, 10_000).await.unwrap();
    assert_eq!(
        renewed.map(|l| (l.expires_at_ms, l.generation)),
        Some((16_000, a.generation)),
        "a renewal keeps the term"
    );
    // expired: b takes it, in a new term, and a cannot renew
    let b = db.take_lease("engine", "b", 16_001, 10_000).await.unwrap();
    let b = b.expect("an expired lease is taken");
    assert!(b.generation > a.generation);
    assert_eq!(
        db.take_lease("engine", "a", 16_002, 10_000).await.unwrap(),
        None
    );
    assert_eq!(
        db.lease("engine").await.unwrap().map(|l| l.holder),
        Some("b".into())
    );
    // released: a takes it at once
    db.release_lease("engine", "a").await.unwrap();
    assert_eq!(
        db.lease("engine").await.unwrap().map(|l| l.holder),
        Some("b".into()),
        "a cannot release b's lease"
    );
    db.release_lease("engine", "b").await.unwrap();
    let again = db.take_lease("engine", "a", 16_003, 10_000).await.unwrap();
    assert!(again.is_some_and(|l| l.generation > b.generation));
    // other names are other leases; hostile names are refused
    assert!(
        db.take_lease("other", "b", 16_004, 10_000)
            .await
            .unwrap()
            .is_some()
    );
    for (name, holder) in [
        ("", "a"),
        ("engine", ""),
        ("eng ine", "a"),
        ("engine", "a'; DROP TABLE leases; --"),
    ] {
        let e = db.take_lease(name, holder, 0, 10).await.unwrap_err();
        assert!(matches!(e, DbError::InvalidLease { .. }), "{e}");
    }
    assert!(matches!(
        db.take_lease("engine", "a", 0, 0).await.unwrap_err(),
        DbError::InvalidLease { .. }
    ));
}

/// Many engines racing for one free lease: exactly one gets it.
pub async fn a_contested_lease_goes_to_one(fx: &Fixture) {
    let db = fx.open().await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.take_lease("engine", &format!("engine-{n}"), 1_000, 10_000)
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}
