//! SQLite backend: a single file, WAL, one writer at a time.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::DbError;
use crate::row::{Encoded, IncidentRow, ListFilter, RawRow, Upserted};

const BACKEND: &str = "sqlite";

/// SQLite serialises writers anyway; a few connections let reads proceed
/// alongside a write (WAL) without holding many file handles.
const MAX_CONNECTIONS: u32 = 4;

/// How long a writer waits for the lock before failing with "database is
/// locked". Incident writes are small, so contention clears well within this.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A macro rather than a const so it can be `concat!`ed into `&'static str`
/// SQL, which is what sqlx accepts without an injection-audit wrapper.
macro_rules! select_incidents {
    () => {
        "SELECT id, state, opened_at_ms, updated_at_ms, resolved_at_ms, services, revision, document \
         FROM incidents"
    };
}

pub(crate) async fn connect(url: &str) -> Result<SqlitePool, DbError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|cause| DbError::InvalidOptions {
            backend: BACKEND,
            cause,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL (not NORMAL) so a committed incident also survives power loss,
        // not just an engine crash; incident writes are rare enough to afford it.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|cause| DbError::Connect {
            backend: BACKEND,
            cause,
        })?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|cause| DbError::Migrate {
            backend: BACKEND,
            cause,
        })?;
    Ok(pool)
}

/// Update first (the common case for a live incident), insert if absent, and
/// if the insert lost a race to another writer, retry the update: since rows
/// are never deleted, the row then exists and the conditional update decides.
/// Each statement is atomic on its own, so no transaction (and no lock
/// upgrade that could fail with SQLITE_BUSY) is needed.
pub(crate) async fn upsert(pool: &SqlitePool, row: &IncidentRow) -> Result<Upserted, DbError> {
    let enc = row.encode()?;
    if update(pool, &enc).await? {
        return Ok(Upserted::Updated);
    }
    let inserted = sqlx::query(
        "INSERT INTO incidents \
         (id, state, opened_at_ms, updated_at_ms, resolved_at_ms, services, revision, document) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.state)
    .bind(row.opened_at_ms)
    .bind(row.updated_at_ms)
    .bind(row.resolved_at_ms)
    .bind(&enc.services)
    .bind(row.revision)
    .bind(&enc.document)
    .execute(pool)
    .await
    .map_err(DbError::query("insert incident", BACKEND))?
    .rows_affected();
    if inserted == 1 {
        return Ok(Upserted::Inserted);
    }
    if update(pool, &enc).await? {
        Ok(Upserted::Updated)
    } else {
        Ok(Upserted::Stale)
    }
}

/// Replaces the row only if it exists with a lower revision.
async fn update(pool: &SqlitePool, enc: &Encoded<'_>) -> Result<bool, DbError> {
    let row = enc.row;
    let updated = sqlx::query(
        "UPDATE incidents SET state = ?2, opened_at_ms = ?3, updated_at_ms = ?4, \
         resolved_at_ms = ?5, services = ?6, revision = ?7, document = ?8 \
         WHERE id = ?1 AND revision < ?7",
    )
    .bind(&row.id)
    .bind(&row.state)
    .bind(row.opened_at_ms)
    .bind(row.updated_at_ms)
    .bind(row.resolved_at_ms)
    .bind(&enc.services)
    .bind(row.revision)
    .bind(&enc.document)
    .execute(pool)
    .await
    .map_err(DbError::query("update incident", BACKEND))?
    .rows_affected();
    Ok(updated == 1)
}

pub(crate) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<IncidentRow>, DbError> {
    let row = sqlx::query(concat!(select_incidents!(), " WHERE id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(DbError::query("get incident", BACKEND))?;
    row.map(decode).transpose()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &ListFilter,
) -> Result<Vec<IncidentRow>, DbError> {
    // Only fixed SQL fragments are pushed; every value goes through push_bind.
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(select_incidents!(), " WHERE 1 = 1"));
    if let Some(state) = &filter.state {
        qb.push(" AND state = ").push_bind(state.clone());
    }
    if let Some(service) = &filter.service {
        qb.push(
            " AND EXISTS (SELECT 1 FROM json_each(incidents.services) WHERE json_each.value = ",
        )
        .push_bind(service.clone())
        .push(")");
    }
    if let Some(before) = filter.before_ms {
        qb.push(" AND opened_at_ms < ").push_bind(before);
    }
    // id breaks ties so pages are deterministic.
    qb.push(" ORDER BY opened_at_ms DESC, id DESC LIMIT ")
        .push_bind(filter.effective_limit());
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(DbError::query("list incidents", BACKEND))?;
    rows.into_iter().map(decode).collect()
}

pub(crate) async fn unresolved(pool: &SqlitePool) -> Result<Vec<IncidentRow>, DbError> {
    // The WHERE clause matches the partial index incidents_unresolved_idx.
    let rows = sqlx::query(concat!(
        select_incidents!(),
        " WHERE state <> 'resolved' ORDER BY opened_at_ms ASC, id ASC"
    ))
    .fetch_all(pool)
    .await
    .map_err(DbError::query("load unresolved incidents", BACKEND))?;
    rows.into_iter().map(decode).collect()
}

fn decode(row: SqliteRow) -> Result<IncidentRow, DbError> {
    let raw = (|| {
        Ok::<_, sqlx::Error>(RawRow {
            id: row.try_get("id")?,
            state: row.try_get("state")?,
            opened_at_ms: row.try_get("opened_at_ms")?,
            updated_at_ms: row.try_get("updated_at_ms")?,
            resolved_at_ms: row.try_get("resolved_at_ms")?,
            services: row.try_get("services")?,
            revision: row.try_get("revision")?,
            document: row.try_get("document")?,
        })
    })()
    .map_err(DbError::query("decode incident", BACKEND))?;
    raw.decode()
}

pub(crate) async fn put_state(
    pool: &SqlitePool,
    key: &str,
    updated_at_ms: i64,
    document: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO engine_state (key, updated_at_ms, document) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET updated_at_ms = excluded.updated_at_ms, \
         document = excluded.document",
    )
    .bind(key)
    .bind(updated_at_ms)
    .bind(document)
    .execute(pool)
    .await
    .map_err(DbError::query("store engine state", BACKEND))?;
    Ok(())
}

pub(crate) async fn get_state(pool: &SqlitePool, key: &str) -> Result<Option<String>, DbError> {
    sqlx::query_scalar("SELECT document FROM engine_state WHERE key = ?1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(DbError::query("read engine state", BACKEND))
}

pub(crate) async fn append_action(
    pool: &SqlitePool,
    e: &crate::ActionEvent,
) -> Result<bool, DbError> {
    let added = sqlx::query(
        "INSERT INTO action_events (action_id, event, incident_id, at_ms, by_whom, record) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (action_id, event) DO NOTHING",
    )
    .bind(&e.action_id)
    .bind(&e.event)
    .bind(&e.incident_id)
    .bind(e.at_ms)
    .bind(&e.by)
    .bind(&e.record)
    .execute(pool)
    .await
    .map_err(DbError::query("append an action event", BACKEND))?
    .rows_affected();
    Ok(added == 1)
}

pub(crate) async fn actions(
    pool: &SqlitePool,
    incident_id: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    // the latest event of each action, newest first
    sqlx::query_scalar(
        "SELECT e.record FROM action_events e \
         WHERE e.seq = (SELECT MAX(l.seq) FROM action_events l WHERE l.action_id = e.action_id) \
         AND (?1 IS NULL OR e.incident_id = ?1) \
         ORDER BY e.seq DESC LIMIT ?2",
    )
    .bind(incident_id)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read the action ledger", BACKEND))
}
