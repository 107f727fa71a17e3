//! The catalog's own settings: where its database is, if it has one.

use std::str::FromStr;

use shop_common::{ConfigError, EnvSource, Vars};
use sqlx::postgres::PgConnectOptions;

use crate::store::postgres::{PgSettings, valid_schema};

pub const DEFAULT_SCHEMA: &str = "catalog";

#[derive(Debug, Clone, Default)]
pub struct CatalogConfig {
    /// `None`: products are served from memory (the embedded seed).
    pub database: Option<PgSettings>,
}

impl CatalogConfig {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let vars = Vars(env);
        let Some(url) = vars.string("DATABASE_URL") else {
            return Ok(Self { database: None });
        };
        let url = url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            // Not echoing the value: it may carry a password.
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            ConfigError::new(
                "DATABASE_URL",
                format!("not a valid postgres URL: {}", redact(&e.to_string(), url)),
            )
        })?;
        let schema = vars
            .string("CATALOG_DB_SCHEMA")
            .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
        if !valid_schema(&schema) {
            return Err(ConfigError::new(
                "CATALOG_DB_SCHEMA",
                format!("{schema:?} must be 1 to 63 of [a-z0-9_], not starting with a digit"),
            ));
        }
        let max_connections = vars.bounded_u64("CATALOG_DB_MAX_CONNECTIONS", 5, 1, 64)? as u32;
        Ok(Self {
            database: Some(PgSettings {
                options,
                schema,
                max_connections,
            }),
        })
    }
}

/// Parser messages can quote the URL; never let the password through.
fn redact(message: &str, url: &str) -> String {
    if message.contains(url) {
        message.replace(url, "<DATABASE_URL>")
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_common::MapEnv;

    #[test]
    fn no_database_url_means_memory() {
        let config = CatalogConfig::from_env(&MapEnv::default()).expect("defaults are valid");
        assert!(config.database.is_none());
    }

    #[test]
    fn postgres_url_and_schema_are_read() {
        let env = MapEnv::new([
            ("DATABASE_URL", "postgres://u:secret@db:5433/shop"),
            ("CATALOG_DB_SCHEMA", "cat_test_1"),
        ]);
        let config = CatalogConfig::from_env(&env).expect("valid");
        let db = config.database.expect("database configured");
        assert_eq!(db.schema, "cat_test_1");
        assert_eq!(db.options.get_port(), 5433);
        assert_eq!(db.max_connections, 5);
        assert!(!format!("{db:?}").contains("secret"));
    }

    #[test]
    fn bad_values_are_config_errors() {
        for (key, env) in [
            (
                "DATABASE_URL",
                MapEnv::new([("DATABASE_URL", "mysql://db/shop")]),
            ),
            ("DATABASE_URL", MapEnv::new([("DATABASE_URL", "not a url")])),
            (
                "DATABASE_URL",
                MapEnv::new([("DATABASE_URL", "postgres://db:notaport/shop")]),
            ),
            (
                "CATALOG_DB_SCHEMA",
                MapEnv::new([
                    ("DATABASE_URL", "postgres://db/shop"),
                    ("CATALOG_DB_SCHEMA", "bad-name"),
                ]),
            ),
            (
                "CATALOG_DB_MAX_CONNECTIONS",
                MapEnv::new([
                    ("DATABASE_URL", "postgres://db/shop"),
                    ("CATALOG_DB_MAX_CONNECTIONS", "0"),
                ]),
            ),
        ] {
            let err = CatalogConfig::from_env(&env).expect_err("should be rejected");
            assert_eq!(err.key, key);
        }
    }
}
