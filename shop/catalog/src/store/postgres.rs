//! The PostgreSQL store. Everything lives in one schema (default `catalog`,
//! configurable so tests can isolate themselves): the schema is created if
//! missing, every pooled connection gets it as its `search_path`, the
//! migrations run, and the seed goes in once, when the table is empty.

use std::sync::Arc;
use std::time::Duration;

use shop_common::api::Product;
use shop_common::{Currency, Money};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::{ProductStore, Search, StoreError, StoreFuture};
use crate::seed;

/// How long start-up waits for the database before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// More distinct categories than this is not a catalog a page can show.
const MAX_CATEGORIES: i64 = 1000;

const COLUMNS: &str =
    "id, name, description, price_minor, currency, categories, image, stock, popularity";

type Row = (
    String,
    String,
    String,
    i64,
    String,
    Vec<String>,
    String,
    i64,
    i64,
);

/// How to reach the database; built by the service's `config()`.
#[derive(Clone)]
pub struct PgSettings {
    pub options: PgConnectOptions,
    pub schema: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for PgSettings {
    // The connect options hold the password; show only where we connect.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Schema names are interpolated into SQL, so only plain identifiers pass.
pub fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects, prepares the schema, migrates and seeds. Safe to run again
    /// and from several instances at once: nothing is duplicated.
    pub async fn connect(settings: &PgSettings) -> anyhow::Result<Self> {
        if !valid_schema(&settings.schema) {
            anyhow::bail!(
                "schema name {:?} is not a plain lowercase identifier",
                settings.schema
            );
        }
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            create_schema(&settings.options, &settings.schema),
        )
        .await
        .map_err(|_| anyhow::anyhow!("timed out connecting to postgres"))??;

        let set_path: Arc<str> = format!("SET search_path TO \"{}\"", settings.schema).into();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                let sql = set_path.clone();
                Box::pin(async move { conn.execute(AssertSqlSafe(sql)).await.map(|_| ()) })
            })
            .connect_with(settings.options.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to postgres: {e}"))?;

        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("catalog migrations failed: {e}"))?;

        let store = Self { pool };
        let inserted = store.seed_if_empty(&seed::products()?).await?;
        tracing::info!(schema = %settings.schema, seeded = inserted, "catalog database ready");
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inserts `products` when the table holds none, in one transaction, and
    /// returns how many rows went in. A table with products is left alone so
    /// deliberate deletions are not undone at the next start.
    pub async fn seed_if_empty(&self, products: &[Product]) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await?;
        let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM products)")
            .fetch_one(&mut *tx)
            .await?;
        if !empty {
            return Ok(0);
        }
        let mut inserted = 0;
        for p in products {
            // ON CONFLICT: another instance seeding at the same moment is fine.
            let result = sqlx::query(
                "INSERT INTO products (id, name, description, price_minor, currency, categories, image, stock, popularity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.price.amount_minor)
            .bind(p.price.currency.code())
            .bind(&p.categories)
            .bind(&p.image)
            .bind(p.stock)
            .bind(p.popularity)
            .execute(&mut *tx)
            .await?;
            inserted += result.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }
}

async fn create_schema(options: &PgConnectOptions, schema: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to postgres: {e}"))?;
    let result = conn
        .execute(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .await;
    let _ = conn.close().await;
    match result {
        Ok(_) => Ok(()),
        // Two instances creating the same schema at once: one loses the race
        // with a duplicate error, and the schema exists either way.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P06" | "23505")) => {
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("cannot create schema {schema:?}: {e}")),
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_product(row: Row) -> Result<Product, StoreError> {
    let (id, name, description, price_minor, currency, categories, image, stock, popularity) = row;
    let currency = match currency.as_str() {
        "USD" => Currency::Usd,
        "EUR" => Currency::Eur,
        other => {
            return Err(StoreError::Corrupt(format!(
                "product {id:?} has unknown currency {other:?}"
            )));
        }
    };
    Ok(Product {
        id,
        name,
        description,
        price: Money {
            amount_minor: price_minor,
            currency,
        },
        categories,
        image,
        stock,
        popularity,
    })
}

impl ProductStore for PgStore {
    fn search<'a>(&'a self, search: &'a Search) -> StoreFuture<'a, Vec<Product>> {
        Box::pin(async move {
            // strpos, not LIKE: the search text may hold % or _ literally.
            let sql = format!(
                "SELECT {COLUMNS} FROM products \
                 WHERE ($1::text IS NULL OR $1 = ANY(categories)) \
                   AND ($2::text IS NULL OR strpos(lower(name), $2) > 0 OR strpos(lower(description), $2) > 0 \
                        OR EXISTS (SELECT 1 FROM unnest(categories) AS c WHERE strpos(lower(c), $2) > 0)) \
                 ORDER BY id COLLATE \"C\" LIMIT $3 OFFSET $4"
            );
            let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(search.category.as_deref())
                .bind(search.text.as_deref())
                .bind(i64::from(search.limit))
                .bind(i64::from(search.offset))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            rows.into_iter().map(to_product).collect()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Product>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
            let row: Option<Row> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            row.map(to_product).transpose()
        })
    }

    fn categories(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            sqlx::query_scalar(
                "SELECT c FROM (SELECT DISTINCT unnest(categories) AS c FROM products) AS t ORDER BY c COLLATE \"C\" LIMIT $1",
            )
            .bind(MAX_CATEGORIES)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["catalog", "_t", "test_ab12"] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Catalog",
            "a-b",
            "a\"b",
            "a;drop",
            &"x".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }
}
