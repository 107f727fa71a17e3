//! Orders in PostgreSQL, in their own schema (set as each connection's
//! search_path), so that several shops or tests can share one server.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use shop_common::api::Order;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::{
    Insert, LineRow, Lookup, OrderRow, OrderStore, StoreError, StoreFuture, assemble,
    currency_code, is_unique_violation, placeholders,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// `created_at` as the same RFC 3339 text (UTC, milliseconds) the service writes.
const ORDER_COLUMNS: &str = "id, checkout_id, session, total_minor, currency, charge_id, email, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

pub struct PostgresStore {
    pool: PgPool,
}

/// A schema name we are willing to splice into SQL: a plain lowercase identifier.
pub fn schema_is_valid(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && schema.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl PostgresStore {
    /// Connects, creates the schema if missing and migrates it.
    pub async fn connect(url: &str, schema: &str, max_connections: u32) -> anyhow::Result<Self> {
        if !schema_is_valid(schema) {
            anyhow::bail!("invalid schema name {schema:?}");
        }
        let options = PgConnectOptions::from_str(url).context("invalid DATABASE_URL")?;
        create_schema(&options, schema).await?;
        let set_search_path = format!("SET search_path TO \"{schema}\"");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let sql = set_search_path.clone();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("cannot connect to the orders database")?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot migrate the orders database")?;
        tracing::info!(schema, "orders database connected");
        Ok(Self { pool })
    }

    async fn insert_order(&self, order: &Order) -> Result<Insert, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, checkout_id, session, total_minor, currency, charge_id, email, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz)",
        )
        .bind(&order.id)
        .bind(&order.checkout_id)
        .bind(&order.session)
        .bind(order.total.amount_minor)
        .bind(currency_code(order.total.currency))
        .bind(&order.charge_id)
        .bind(&order.email)
        .bind(&order.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Insert::Duplicate);
            }
            Err(e) => return Err(e.into()),
        }
        for (line_no, line) in order.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, product_id, name, quantity, unit_price_minor, currency) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&order.id)
            .bind(line_no as i64)
            .bind(&line.product_id)
            .bind(&line.name)
            .bind(line.quantity)
            .bind(line.unit_price.amount_minor)
            .bind(currency_code(line.unit_price.currency))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Insert::Inserted)
    }

    async fn one(&self, lookup: Lookup, value: &str) -> Result<Option<Order>, StoreError> {
        let column = match lookup {
            Lookup::Id => "id",
            Lookup::CheckoutId => "checkout_id",
        };
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {column} = $1");
        let Some(row) = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let lines = self.lines_of(std::slice::from_ref(&row)).await?;
        Ok(assemble(vec![row], lines)?.pop())
    }

    async fn list(&self, session: &str, limit: u32) -> Result<Vec<Order>, StoreError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE session = $1 ORDER BY seq DESC LIMIT $2"
        );
        let orders = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(sql))
            .bind(session)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let lines = self.lines_of(&orders).await?;
        assemble(orders, lines)
    }

    /// The lines of these orders, by order and line number.
    async fn lines_of(&self, orders: &[OrderRow]) -> Result<Vec<LineRow>, StoreError> {
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT order_id, product_id, name, quantity, unit_price_minor, currency \
             FROM order_lines WHERE order_id IN ({}) ORDER BY order_id, line_no",
            placeholders(orders.len())
        );
        let mut query = sqlx::query_as::<_, LineRow>(sqlx::AssertSqlSafe(sql));
        for row in orders {
            query = query.bind(row.0.clone());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

/// Creates the schema on a connection of its own: the pool's connections
/// set their search_path to it, which needs it to exist.
async fn create_schema(options: &PgConnectOptions, schema: &str) -> anyhow::Result<()> {
    let mut conn = options
        .connect()
        .await
        .context("cannot connect to the orders database")?;
    let created = sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
    )))
    .execute(&mut conn)
    .await;
    match created {
        Ok(_) => {}
        // Two replicas starting at once can both miss the schema and race to
        // create it; the loser sees a unique violation, which is fine.
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create schema {schema:?}")),
    }
    conn.close().await.ok();
    Ok(())
}

impl OrderStore for PostgresStore {
    fn insert<'a>(&'a self, order: &'a Order) -> StoreFuture<'a, Insert> {
        Box::pin(self.insert_order(order))
    }

    fn by_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Order>> {
        Box::pin(self.one(Lookup::Id, id))
    }

    fn by_checkout<'a>(&'a self, checkout_id: &'a str) -> StoreFuture<'a, Option<Order>> {
        Box::pin(self.one(Lookup::CheckoutId, checkout_id))
    }

    fn by_session<'a>(&'a self, session: &'a str, limit: u32) -> StoreFuture<'a, Vec<Order>> {
        Box::pin(self.list(session, limit))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.pool.close())
    }
}
