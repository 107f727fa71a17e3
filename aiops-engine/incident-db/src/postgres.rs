//! PostgreSQL backend, optionally confined to one schema.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, QueryBuilder, Row};

use crate::DbError;
use crate::row::{Encoded, IncidentRow, ListFilter, RawRow, Upserted};

const BACKEND: &str = "postgres";

/// Incident traffic is low; a small pool leaves server connections for the
/// rest of the system (and for many test pools sharing one server).
const MAX_CONNECTIONS: u32 = 5;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Text casts give both backends the same decode path and return the JSON
/// document exactly as stored.
macro_rules! select_incidents {
    () => {
        "SELECT id, state, opened_at_ms, updated_at_ms, resolved_at_ms, \
         services::text AS services, revision, document::text AS document \
         FROM incidents"
    };
}

pub(crate) async fn connect(url: &str, schema: Option<&str>) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(|cause| DbError::InvalidOptions {
        backend: BACKEND,
        cause,
    })?;
    let mut pool_options = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if let Some(schema) = schema {
        let quoted = quote_schema(schema)?;
        create_schema(&options, &quoted).await?;
        // Every pooled connection (including ones opened after a reconnect)
        // must see only this schema, and before any statement is prepared:
        // prepared statements bind table names at prepare time.
        let set_path: Arc<str> = format!("SET search_path TO {quoted}").into();
        pool_options = pool_options.after_connect(move |conn, _meta| {
            let sql = Arc::clone(&set_path);
            Box::pin(async move {
                // `quoted` was validated by quote_schema.
                sqlx::query(AssertSqlSafe(sql)).execute(conn).await?;
                Ok(())
            })
        });
    }
    let pool = pool_options
        .connect_with(options)
        .await
        .map_err(|cause| DbError::Connect {
            backend: BACKEND,
            cause,
        })?;
    // Creates _sqlx_migrations in the first search_path schema, so each
    // schema carries its own migration history.
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|cause| DbError::Migrate {
            backend: BACKEND,
            cause,
        })?;
    Ok(pool)
}

/// Validates a schema name and returns it double-quoted. Only a strict
/// identifier subset is allowed because it is spliced into SQL text (DDL and
/// SET cannot take bind parameters).
fn quote_schema(schema: &str) -> Result<String, DbError> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(format!("\"{schema}\""))
    } else {
        Err(DbError::InvalidSchema {
            schema: schema.to_owned(),
        })
    }
}

/// Done once on a dedicated connection rather than in `after_connect`, where
/// concurrent pool connections would race on the catalog.
async fn create_schema(options: &PgConnectOptions, quoted: &str) -> Result<(), DbError> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(|cause| DbError::Connect {
            backend: BACKEND,
            cause,
        })?;
    let created = sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted}"
    )))
    .execute(&mut conn)
    .await;
    // Best effort: the schema is usable even if a graceful close fails.
    let _ = conn.close().await;
    match created {
        Ok(_) => Ok(()),
        // IF NOT EXISTS is not atomic: another process creating the same
        // schema at the same instant surfaces as a unique violation.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => Ok(()),
        Err(cause) => Err(DbError::Query {
            op: "create schema",
            backend: BACKEND,
            cause,
        }),
    }
}

/// Same protocol as the SQLite backend: update, else insert, else (lost an
/// insert race) update again. Under READ COMMITTED a conditional UPDATE
/// re-checks `revision` on the latest row version, so the highest revision
/// always wins without explicit locking.
pub(crate) async fn upsert(pool: &PgPool, row: &IncidentRow) -> Result<Upserted, DbError> {
    let enc = row.encode()?;
    if update(pool, &enc).await? {
        return Ok(Upserted::Updated);
    }
    let inserted = sqlx::query(
        "INSERT INTO incidents \
         (id, state, opened_at_ms, updated_at_ms, resolved_at_ms, services, revision, document) \
         VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8::text::json) \
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
async fn update(pool: &PgPool, enc: &Encoded<'_>) -> Result<bool, DbError> {
    let row = enc.row;
    let updated = sqlx::query(
        "UPDATE incidents SET state = $2, opened_at_ms = $3, updated_at_ms = $4, \
         resolved_at_ms = $5, services = $6::text::jsonb, revision = $7, \
         document = $8::text::json \
         WHERE id = $1 AND revision < $7",
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

pub(crate) async fn get(pool: &PgPool, id: &str) -> Result<Option<IncidentRow>, DbError> {
    let row = sqlx::query(concat!(select_incidents!(), " WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(DbError::query("get incident", BACKEND))?;
    row.map(decode).transpose()
}

pub(crate) async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<IncidentRow>, DbError> {
    // Built per call (instead of `$1 IS NULL OR ...`) so the planner sees
    // only the predicates in use and can pick the matching index.
    // Only fixed SQL fragments are pushed; every value goes through push_bind.
    let mut qb = QueryBuilder::<Postgres>::new(concat!(select_incidents!(), " WHERE TRUE"));
    if let Some(state) = &filter.state {
        qb.push(" AND state = ").push_bind(state.clone());
    }
    if let Some(service) = &filter.service {
        // Containment uses the GIN index on services.
        qb.push(" AND services @> jsonb_build_array(")
            .push_bind(service.clone())
            .push("::text)");
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

pub(crate) async fn unresolved(pool: &PgPool) -> Result<Vec<IncidentRow>, DbError> {
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

fn decode(row: PgRow) -> Result<IncidentRow, DbError> {
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
    pool: &PgPool,
    key: &str,
    updated_at_ms: i64,
    document: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO engine_state (key, updated_at_ms, document) VALUES ($1, $2, $3) \
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

pub(crate) async fn get_state(pool: &PgPool, key: &str) -> Result<Option<String>, DbError> {
    sqlx::query_scalar("SELECT document FROM engine_state WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(DbError::query("read engine state", BACKEND))
}

pub(crate) async fn append_action(pool: &PgPool, e: &crate::ActionEvent) -> Result<bool, DbError> {
    let added = sqlx::query(
        "INSERT INTO action_events (action_id, event, incident_id, at_ms, by_whom, record) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (action_id, event) DO NOTHING",
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
    pool: &PgPool,
    incident_id: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    // the latest event of each action, newest first
    sqlx::query_scalar(
        "SELECT e.record FROM action_events e \
         WHERE e.seq = (SELECT MAX(l.seq) FROM action_events l WHERE l.action_id = e.action_id) \
         AND ($1 IS NULL OR e.incident_id = $1) \
         ORDER BY e.seq DESC LIMIT $2",
    )
    .bind(incident_id)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read the action ledger", BACKEND))
}

#[cfg(test)]
mod tests {
    use super::quote_schema;

    #[test]
    fn schema_names_are_strict_identifiers() {
        assert_eq!(
            quote_schema("t_abc_123").ok().as_deref(),
            Some("\"t_abc_123\"")
        );
        for bad in [
            "",
            "1abc",
            "Upper",
            "a-b",
            "a\"b",
            "a;drop schema public",
            "ünï",
            &"a".repeat(64),
        ] {
            assert!(quote_schema(bad).is_err(), "{bad:?}");
        }
    }
}
