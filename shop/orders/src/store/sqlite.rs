//! Orders in a SQLite file (WAL mode), the default storage.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use shop_common::api::Order;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{
    Insert, LineRow, Lookup, OrderRow, OrderStore, StoreError, StoreFuture, assemble,
    currency_code, is_unique_violation, placeholders,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and migrates it.
    pub async fn open(path: &Path, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed order survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Writers queue for the file lock instead of failing at once.
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the orders database {}", path.display()))?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot migrate the orders database")?;
        tracing::info!(path = %path.display(), "orders database opened");
        Ok(Self { pool })
    }

    async fn insert_order(&self, order: &Order) -> Result<Insert, StoreError> {
        // IMMEDIATE takes the write lock up front, so concurrent creates queue
        // on the busy timeout rather than failing on a lock upgrade.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, checkout_id, session, total_minor, currency, charge_id, email, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        let sql = match lookup {
            Lookup::Id => {
                "SELECT id, checkout_id, session, total_minor, currency, charge_id, email, created_at \
                           FROM orders WHERE id = $1"
            }
            Lookup::CheckoutId => {
                "SELECT id, checkout_id, session, total_minor, currency, charge_id, email, created_at \
                                   FROM orders WHERE checkout_id = $1"
            }
        };
        let Some(row) = sqlx::query_as::<_, OrderRow>(sql)
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
        let orders = sqlx::query_as::<_, OrderRow>(
            "SELECT id, checkout_id, session, total_minor, currency, charge_id, email, created_at \
             FROM orders WHERE session = $1 ORDER BY seq DESC LIMIT $2",
        )
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

impl OrderStore for SqliteStore {
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
