//! The suite against SQLite, one temp file per test.

#![allow(clippy::unwrap_used)]

mod common;

use aiops_incident_db::{DbError, IncidentDb};
use common::Fixture;

fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("aiops-incident-db-")
        .tempdir()
        .unwrap();
    let url = format!("sqlite:{}", dir.path().join("incidents.db").display());
    Fixture {
        url,
        schema: None,
        _dir: Some(dir),
    }
}

macro_rules! sqlite_suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            common::$name(&fixture()).await;
        }
    )*};
}

sqlite_suite!(
    upsert_get_roundtrip,
    stale_revision_ignored,
    list_filters,
    restart_reloads_everything,
    invalid_rows_rejected,
    concurrent_upserts_same_id,
    hostile_strings_roundtrip,
    engine_state_roundtrip,
    action_ledger_appends_once,
    leases_are_held_by_one_holder_at_a_time,
    a_contested_lease_goes_to_one,
);

#[tokio::test]
async fn file_is_created_in_wal_mode() {
    let fx = fixture();
    let db = fx.open().await;
    assert_eq!(db.backend(), "sqlite");
    let path = fx._dir.as_ref().unwrap().path().join("incidents.db");
    assert!(path.exists());
    db.close().await;
    // The journal mode is persistent in the file header; a plain connection sees it.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&fx.url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn unsupported_urls_are_rejected() {
    for url in ["mysql://root:hunter2@localhost/db", "", "incidents.db"] {
        let err = IncidentDb::connect(url).await.unwrap_err();
        assert!(matches!(err, DbError::UnsupportedUrl { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }
    let err = IncidentDb::connect_with_schema("sqlite:x.db", "s")
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::UnsupportedUrl { .. }), "{err}");
}

#[tokio::test]
async fn unopenable_file_reports_why() {
    let err = IncidentDb::connect("sqlite:/proc/no-such-dir/incidents.db")
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("failed to connect to sqlite: "), "{msg}");
    assert!(msg.contains("unable to open database file"), "{msg}");
}
