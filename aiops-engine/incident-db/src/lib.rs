//! Incidents persisted, so that an engine restart loses none and duplicates
//! none: SQLite file by default, PostgreSQL when configured.
//!
//! Each incident is a few queryable columns plus the engine's full JSON
//! document, which this crate stores verbatim and never interprets.
//! Writes are ordered by the engine's `revision`: an upsert that does not
//! raise it is ignored, so a late or replayed writer cannot roll back.

mod actions;
mod error;
mod lease;
mod postgres;
mod row;
mod sqlite;

pub use actions::{ActionEvent, Appended, MAX_RECORD_BYTES};
pub use error::DbError;
pub use lease::Lease;
pub use row::{IncidentRow, ListFilter, MAX_LIST_LIMIT, RESOLVED, STATES, Upserted};

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// Runs one statement, written the same for both backends (the leases'),
/// on whichever pool the store has; `$op` names it in the error.
macro_rules! on_either_pool {
    ($db:expr, $op:literal, |$pool:ident| $query:expr) => {
        match &$db.backend {
            Backend::Sqlite($pool) => $query.map_err(DbError::query($op, "sqlite")),
            Backend::Postgres($pool) => $query.map_err(DbError::query($op, "postgres")),
        }
    };
}

/// Handle on the incident store. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct IncidentDb {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl IncidentDb {
    /// Opens (creating if needed) and migrates the store.
    ///
    /// `sqlite:<path>` (e.g. `sqlite:/var/lib/aiops/incidents.db`) or
    /// `postgres://…` / `postgresql://…`. An unreachable server is retried
    /// for up to 10 s before failing, so a database that starts alongside
    /// the engine does not fail its startup.
    pub async fn connect(url: &str) -> Result<IncidentDb, DbError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect(url).await?)
        } else if is_postgres(url) {
            Backend::Postgres(postgres::connect(url, None).await?)
        } else {
            return Err(DbError::UnsupportedUrl {
                expected: "sqlite:<path> or postgres://...",
            });
        };
        Ok(IncidentDb { backend })
    }

    /// PostgreSQL confined to `schema` (created if missing, set as the
    /// `search_path` of every pooled connection), so several engines or
    /// tests can share one database. `schema` must match `[a-z_][a-z0-9_]*`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<IncidentDb, DbError> {
        if !is_postgres(url) {
            return Err(DbError::UnsupportedUrl {
                expected: "postgres://... (schemas are a postgres feature)",
            });
        }
        let pool = postgres::connect(url, Some(schema)).await?;
        Ok(IncidentDb {
            backend: Backend::Postgres(pool),
        })
    }

    /// Inserts the incident, or replaces the stored one if `row.revision` is
    /// higher; otherwise leaves it untouched and returns [`Upserted::Stale`].
    pub async fn upsert(&self, row: &IncidentRow) -> Result<Upserted, DbError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::upsert(pool, row).await,
            Backend::Postgres(pool) => postgres::upsert(pool, row).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<IncidentRow>, DbError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::get(pool, id).await,
            Backend::Postgres(pool) => postgres::get(pool, id).await,
        }
    }

    /// Incidents matching `filter`, newest opened first (ties by id, descending).
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<IncidentRow>, DbError> {
        filter.validate()?;
        if filter.matches_nothing() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::list(pool, filter).await,
            Backend::Postgres(pool) => postgres::list(pool, filter).await,
        }
    }

    /// Every incident not yet resolved, oldest opened first: what a restarted
    /// engine loads back. Deliberately unpaginated — the engine needs all of them.
    pub async fn unresolved(&self) -> Result<Vec<IncidentRow>, DbError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::unresolved(pool).await,
            Backend::Postgres(pool) => postgres::unresolved(pool).await,
        }
    }

    /// Stores `document` under `key`, replacing what was there: engine
    /// state that is slow to rebuild from the streams (learned log
    /// templates). The document is opaque here; PostgreSQL refuses a NUL
    /// character in it, so callers store escaped text such as JSON.
    pub async fn put_state(
        &self,
        key: &str,
        updated_at_ms: i64,
        document: &str,
    ) -> Result<(), DbError> {
        if key.is_empty() {
            return Err(DbError::InvalidStateKey {
                key: key.to_owned(),
            });
        }
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::put_state(pool, key, updated_at_ms, document).await,
            Backend::Postgres(pool) => {
                postgres::put_state(pool, key, updated_at_ms, document).await
            }
        }
    }

    /// The document last stored under `key`.
    pub async fn get_state(&self, key: &str) -> Result<Option<String>, DbError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::get_state(pool, key).await,
            Backend::Postgres(pool) => postgres::get_state(pool, key).await,
        }
    }

    /// Appends an event to the action ledger; [`Appended::AlreadyThere`]
    /// when the action already had that event (nothing is stored then).
    pub async fn append_action(&self, event: &ActionEvent) -> Result<Appended, DbError> {
        event.check()?;
        let added = match &self.backend {
            Backend::Sqlite(pool) => sqlite::append_action(pool, event).await?,
            Backend::Postgres(pool) => postgres::append_action(pool, event).await?,
        };
        Ok(if added {
            Appended::New
        } else {
            Appended::AlreadyThere
        })
    }

    /// The current record (latest event) of the `limit` most recently
    /// changed actions, newest first; of one incident's only, when given.
    pub async fn actions(
        &self,
        incident_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, DbError> {
        let limit = limit.clamp(1, i64::try_from(MAX_LIST_LIMIT).unwrap_or(i64::MAX));
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::actions(pool, incident_id, limit).await,
            Backend::Postgres(pool) => postgres::actions(pool, incident_id, limit).await,
        }
    }

    /// Takes the lease `name` for `ttl_ms` from `now_ms` if it is free or
    /// expired, or renews it if `holder` holds it; `None` while another
    /// holder's lease runs. Times are the callers' clocks: engines sharing
    /// a lease need clocks that agree to well within `ttl_ms`.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, DbError> {
        lease::check(name, holder, ttl_ms)?;
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let generation: Option<i64> = on_either_pool!(self, "take a lease", |pool| {
            sqlx::query_scalar(lease::TAKE)
                .bind(name)
                .bind(holder)
                .bind(expires_at_ms)
                .bind(now_ms)
                .fetch_optional(pool)
                .await
        })?;
        Ok(generation.map(|generation| Lease {
            holder: holder.to_owned(),
            expires_at_ms,
            generation,
        }))
    }

    /// Lets the lease go if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), DbError> {
        lease::check(name, holder, 1)?;
        on_either_pool!(self, "release a lease", |pool| {
            sqlx::query(lease::RELEASE)
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    /// Who holds (or last held) the lease `name`.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>, DbError> {
        let row: Option<(String, i64, i64)> = on_either_pool!(self, "read a lease", |pool| {
            sqlx::query_as(lease::CURRENT)
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(holder, expires_at_ms, generation)| Lease {
            holder,
            expires_at_ms,
            generation,
        }))
    }

    /// Waits for in-flight queries and closes every connection (for SQLite
    /// this also checkpoints the WAL). Clones of this handle become unusable.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
