//! The catalog against a real PostgreSQL server (`SHOP_TEST_DATABASE_URL`),
//! each run in its own random schema that is dropped afterwards.

use axum::http::StatusCode;
use shop_catalog::{Catalog, CatalogConfig};
use shop_common::api::{Product, ProductList};
use shop_common::testing::call;
use shop_common::{MapEnv, Service, ServiceContext, full_router};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The server's URL, or `None` (after saying why) when the test cannot run.
fn database_url() -> Option<String> {
    match std::env::var("SHOP_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "SHOP_TEST_DATABASE_URL is not set: CI must provide a PostgreSQL server for the catalog tests"
            )
        }
        _ => {
            eprintln!(
                "SKIPPED: SHOP_TEST_DATABASE_URL is not set, so the catalog's PostgreSQL test did not run"
            );
            None
        }
    }
}

async fn admin(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

async fn count(url: &str, schema: &str) -> i64 {
    let mut conn = admin(url).await;
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".products"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("count products: {e}"));
    n
}

async fn build(url: &str, schema: &str) -> axum::Router {
    let env = MapEnv::new([("DATABASE_URL", url), ("CATALOG_DB_SCHEMA", schema)]);
    let config = CatalogConfig::from_env(&env).unwrap_or_else(|e| panic!("config: {e}"));
    let ctx = ServiceContext::for_tests("catalog");
    let (api, readiness) = Catalog::build(&ctx, config)
        .await
        .unwrap_or_else(|e| panic!("build: {e:#}"));
    full_router(&ctx, api, readiness)
}

async fn seeds_once_and_serves(url: String, schema: String) {
    let seed_len = shop_catalog::seed::products().expect("seed").len() as i64;

    let app = build(&url, &schema).await;
    assert_eq!(count(&url, &schema).await, seed_len);
    // A second start (or a second replica) migrates and seeds nothing new.
    let again = build(&url, &schema).await;
    assert_eq!(count(&url, &schema).await, seed_len);

    let (status, _) = call(&again, "GET", "/readyz", &[], None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = call(&app, "GET", "/products?limit=100", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all: ProductList = serde_json::from_value(body).expect("product list");
    assert_eq!(all.data.len() as i64, seed_len);
    let mut expected = shop_catalog::seed::products().expect("seed");
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        all.data, expected,
        "postgres serves the seed as the in-memory store would, in id order"
    );

    let (_, body) = call(&app, "GET", "/products?limit=5&offset=5", &[], None).await;
    let page: ProductList = serde_json::from_value(body).expect("product list");
    assert_eq!(page.data, expected[5..10].to_vec());

    let (_, body) = call(
        &app,
        "GET",
        "/products?q=SKILLET&category=kitchen",
        &[],
        None,
    )
    .await;
    let found: ProductList = serde_json::from_value(body).expect("product list");
    assert_eq!(
        found.data.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec!["cast-iron-skillet"]
    );
    let (_, body) = call(&app, "GET", "/products?q=Audi", &[], None).await;
    let found: ProductList = serde_json::from_value(body).expect("product list");
    assert!(found.data.iter().any(|p| p.id == "earbuds"));
    let (_, body) = call(&app, "GET", "/products?q=%25", &[], None).await;
    assert_eq!(
        body["data"],
        serde_json::json!([]),
        "% is literal text, not a wildcard"
    );

    let (status, body) = call(&app, "GET", "/products/earbuds", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let product: Product = serde_json::from_value(body).expect("product");
    assert_eq!(Some(&product), expected.iter().find(|p| p.id == "earbuds"));
    let (status, body) = call(&app, "GET", "/products/nope", &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_product");

    let (status, body) = call(&app, "GET", "/categories", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        serde_json::json!(["audio", "books", "home", "kitchen", "office", "outdoor"])
    );

    // A deliberately removed product stays removed across restarts.
    let mut conn = admin(&url).await;
    conn.execute(AssertSqlSafe(format!(
        "DELETE FROM \"{schema}\".products WHERE id = 'earbuds'"
    )))
    .await
    .expect("delete a product");
    let restarted = build(&url, &schema).await;
    assert_eq!(count(&url, &schema).await, seed_len - 1);
    let (status, _) = call(&restarted, "GET", "/products/earbuds", &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn postgres_store_seeds_once_and_serves() {
    let Some(url) = database_url() else { return };
    let schema = format!("catalog_test_{:016x}", rand::random::<u64>());
    // Run in a task so the schema is dropped even when an assertion fails.
    let outcome = tokio::spawn(seeds_once_and_serves(url.clone(), schema.clone())).await;
    let mut conn = admin(&url).await;
    let _ = conn
        .execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn unreachable_database_fails_the_build() {
    // No server listens on port 1; the build must fail with an error, not hang or panic.
    let env = MapEnv::new([("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")]);
    let config = CatalogConfig::from_env(&env).expect("config");
    let ctx = ServiceContext::for_tests("catalog");
    let started = std::time::Instant::now();
    let result = Catalog::build(&ctx, config).await;
    assert!(result.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}
