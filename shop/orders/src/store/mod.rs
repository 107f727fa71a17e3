//! Where orders live: one small trait with a SQLite implementation (the
//! default, a file next to the service) and a PostgreSQL one (when
//! `DATABASE_URL` is set). Both write an order and its lines in one
//! transaction and rely on the unique `checkout_id` for idempotency.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use shop_common::api::{Order, OrderLine};
use shop_common::{Currency, Money};

pub use postgres::{PostgresStore, schema_is_valid as postgres_schema_is_valid};
pub use sqlite::SqliteStore;

use crate::config::StorageConfig;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or gave no connection in time.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database refused, or a stored row we cannot read.
    #[error("storage failed: {0}")]
    Failed(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Failed(other.to_string()),
        }
    }
}

/// What became of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Inserted,
    /// A unique key (the checkout id, or very rarely the order id) is taken;
    /// nothing was written.
    Duplicate,
}

pub trait OrderStore: Send + Sync + 'static {
    /// Writes the order and its lines in one transaction.
    fn insert<'a>(&'a self, order: &'a Order) -> StoreFuture<'a, Insert>;
    fn by_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Order>>;
    fn by_checkout<'a>(&'a self, checkout_id: &'a str) -> StoreFuture<'a, Option<Order>>;
    /// The session's orders, newest first.
    fn by_session<'a>(&'a self, session: &'a str, limit: u32) -> StoreFuture<'a, Vec<Order>>;
    /// A trivial query, for readiness.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// Closes the pool, waiting for connections in use to come back.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Opens the configured store, creating the database or schema and running
/// the migrations.
pub async fn open(config: &StorageConfig) -> anyhow::Result<Arc<dyn OrderStore>> {
    Ok(match config {
        StorageConfig::Sqlite {
            path,
            max_connections,
        } => Arc::new(SqliteStore::open(path, *max_connections).await?),
        StorageConfig::Postgres {
            url,
            schema,
            max_connections,
        } => Arc::new(PostgresStore::connect(url, schema, *max_connections).await?),
    })
}

// ---- rows shared by both implementations -----------------------------------

/// id, checkout_id, session, total_minor, currency, charge_id, email, created_at
type OrderRow = (String, String, String, i64, String, String, String, String);
/// order_id, product_id, name, quantity, unit_price_minor, currency
type LineRow = (String, String, String, i64, i64, String);

/// Which unique key a single-order lookup uses.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    Id,
    CheckoutId,
}

/// `$1, $2, ..., $n`: bind placeholders both databases understand.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn currency_code(currency: Currency) -> &'static str {
    currency.code()
}

fn parse_currency(code: &str) -> Result<Currency, StoreError> {
    match code {
        "USD" => Ok(Currency::Usd),
        "EUR" => Ok(Currency::Eur),
        other => Err(StoreError::Failed(format!(
            "stored currency {other:?} is unknown"
        ))),
    }
}

/// Joins order rows with their lines (given in line order), keeping the
/// order of `orders`.
fn assemble(orders: Vec<OrderRow>, lines: Vec<LineRow>) -> Result<Vec<Order>, StoreError> {
    let mut by_order: HashMap<String, Vec<OrderLine>> = HashMap::with_capacity(orders.len());
    for (order_id, product_id, name, quantity, unit_price_minor, currency) in lines {
        let line = OrderLine {
            product_id,
            name,
            quantity,
            unit_price: Money {
                amount_minor: unit_price_minor,
                currency: parse_currency(&currency)?,
            },
        };
        by_order.entry(order_id).or_default().push(line);
    }
    orders
        .into_iter()
        .map(
            |(id, checkout_id, session, total_minor, currency, charge_id, email, created_at)| {
                let lines = by_order.remove(&id).unwrap_or_default();
                if lines.is_empty() {
                    // Lines are written in the order's transaction: an order without
                    // them means the database was changed behind our back.
                    return Err(StoreError::Failed(format!("order {id} has no lines")));
                }
                Ok(Order {
                    id,
                    checkout_id,
                    session,
                    lines,
                    total: Money {
                        amount_minor: total_minor,
                        currency: parse_currency(&currency)?,
                    },
                    charge_id,
                    email,
                    created_at,
                })
            },
        )
        .collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
