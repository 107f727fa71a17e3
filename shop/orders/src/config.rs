//! The orders service's own settings: where the orders are stored.

use std::path::PathBuf;
use std::str::FromStr;

use shop_common::{ConfigError, EnvSource, Vars};
use sqlx::postgres::PgConnectOptions;

use crate::store::postgres_schema_is_valid;

#[derive(Debug, Clone)]
pub struct OrdersConfig {
    pub storage: StorageConfig,
}

#[derive(Clone)]
pub enum StorageConfig {
    /// A SQLite file, created if missing.
    Sqlite { path: PathBuf, max_connections: u32 },
    /// PostgreSQL, in `schema` (created if missing).
    Postgres {
        url: String,
        schema: String,
        max_connections: u32,
    },
}

// The URL may carry a password: never print it.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageConfig::Sqlite {
                path,
                max_connections,
            } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("max_connections", max_connections)
                .finish(),
            StorageConfig::Postgres {
                schema,
                max_connections,
                ..
            } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("schema", schema)
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

impl OrdersConfig {
    /// `DATABASE_URL` (PostgreSQL) wins; otherwise `ORDERS_DB_PATH` (SQLite,
    /// default `orders.db`). `ORDERS_DB_SCHEMA` (default `orders`) and
    /// `ORDERS_DB_MAX_CONNECTIONS` (default 8) tune them.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let vars = Vars(env);
        let max_connections = vars.bounded_u64("ORDERS_DB_MAX_CONNECTIONS", 8, 1, 100)? as u32;
        if let Some(url) = vars.string("DATABASE_URL") {
            let url = url.trim().to_string();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "must be a postgres:// or postgresql:// url",
                ));
            }
            // Parse now so a typo stops the service before it binds; the
            // parser's message may quote the url, so it is not repeated.
            if PgConnectOptions::from_str(&url).is_err() {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "is not a valid PostgreSQL connection url",
                ));
            }
            let schema = vars
                .string("ORDERS_DB_SCHEMA")
                .unwrap_or_else(|| "orders".to_string());
            if !postgres_schema_is_valid(&schema) {
                return Err(ConfigError::new(
                    "ORDERS_DB_SCHEMA",
                    format!("{schema:?} must be 1 to 63 of [a-z0-9_], not starting with a digit"),
                ));
            }
            return Ok(Self {
                storage: StorageConfig::Postgres {
                    url,
                    schema,
                    max_connections,
                },
            });
        }
        let path = vars
            .string("ORDERS_DB_PATH")
            .unwrap_or_else(|| "orders.db".to_string());
        Ok(Self {
            storage: StorageConfig::Sqlite {
                path: PathBuf::from(path),
                max_connections,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use shop_common::MapEnv;

    use super::*;

    #[test]
    fn sqlite_by_default() {
        let config = OrdersConfig::from_env(&MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(config.storage, StorageConfig::Sqlite { ref path, .. } if path == &PathBuf::from("orders.db"))
        );
        let env = MapEnv::new([("ORDERS_DB_PATH", "/tmp/x.db")]);
        let config = OrdersConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(config.storage, StorageConfig::Sqlite { ref path, .. } if path == &PathBuf::from("/tmp/x.db"))
        );
    }

    #[test]
    fn postgres_when_database_url_is_set() {
        let env = MapEnv::new([
            ("DATABASE_URL", "postgres://u:secret@db:5432/shop"),
            ("ORDERS_DB_SCHEMA", "orders_t1"),
        ]);
        let config = OrdersConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        match &config.storage {
            StorageConfig::Postgres { schema, .. } => assert_eq!(schema, "orders_t1"),
            other => panic!("expected postgres, got {other:?}"),
        }
        assert!(
            !format!("{config:?}").contains("secret"),
            "the password must not be printed"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value, bad) in [
            ("DATABASE_URL", "mysql://db/shop", "DATABASE_URL"),
            (
                "DATABASE_URL",
                "postgres://db:notaport/shop",
                "DATABASE_URL",
            ),
            (
                "ORDERS_DB_MAX_CONNECTIONS",
                "0",
                "ORDERS_DB_MAX_CONNECTIONS",
            ),
        ] {
            let env = MapEnv::new([(key, value)]);
            let err = OrdersConfig::from_env(&env)
                .err()
                .unwrap_or_else(|| panic!("{key}={value} should fail"));
            assert_eq!(err.key, bad);
        }
        for schema in ["Orders", "1orders", "a;drop", "a\"b", ""] {
            let env = MapEnv::new([
                ("DATABASE_URL", "postgres://db/shop"),
                ("ORDERS_DB_SCHEMA", schema),
            ]);
            match OrdersConfig::from_env(&env) {
                Err(err) => assert_eq!(err.key, "ORDERS_DB_SCHEMA"),
                // Blank counts as unset: the default schema.
                Ok(_) => assert!(schema.is_empty()),
            }
        }
    }
}
