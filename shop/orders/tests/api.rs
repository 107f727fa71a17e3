//! The orders API against real storage: a SQLite file in a temporary
//! directory, and PostgreSQL when `SHOP_TEST_DATABASE_URL` is set.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use shop_common::service::{Readiness, ServiceContext, full_router};
use shop_common::testing::{call, call_raw};
use shop_common::{MapEnv, Service};
use shop_orders::store::{OrderStore, PostgresStore, SqliteStore};
use shop_orders::{AppState, Orders, StoreReadiness, app};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("shop-orders-test-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn router(store: Arc<dyn OrderStore>) -> Router {
    let readiness: Arc<dyn Readiness> = Arc::new(StoreReadiness(store.clone()));
    full_router(
        &ServiceContext::for_tests("orders"),
        app(AppState::new(store)),
        readiness,
    )
}

async fn sqlite_store(dir: &TempDir) -> Arc<dyn OrderStore> {
    Arc::new(
        SqliteStore::open(&dir.0.join("orders.db"), 4)
            .await
            .unwrap_or_else(|e| panic!("open sqlite: {e:#}")),
    )
}

fn order_body(checkout_id: &str, session: &str) -> Value {
    json!({
        "checkout_id": checkout_id,
        "session": session,
        "lines": [
            {"product_id": "mug", "name": "Mug", "quantity": 2, "unit_price": {"amount_minor": 1250, "currency": "USD"}},
            {"product_id": "tea", "name": "Green tea – 100 g", "quantity": 1, "unit_price": {"amount_minor": 799, "currency": "USD"}}
        ],
        "total": {"amount_minor": 3299, "currency": "USD"},
        "charge_id": "ch_1",
        "email": "jane@example.com"
    })
}

async fn post(app: &Router, body: &Value) -> (StatusCode, Value) {
    call(app, "POST", "/orders", &[], Some(&body.to_string())).await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Create, fetch, list, idempotent repeat and conflict: the same for both databases.
async fn create_get_list(app: &Router) {
    let (status, created) = post(app, &order_body("chk_a", "sess_1")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {created}"))
        .to_string();
    assert!(id.starts_with("ord_"));
    assert_eq!(created["lines"][1]["name"], "Green tea – 100 g");
    assert_eq!(created["total"]["amount_minor"], 3299);
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let (status, fetched) = call(app, "GET", &format!("/orders/{id}"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetched, created,
        "a fetched order is exactly the created one"
    );

    // Repeat: the same order, 200, nothing new.
    let (status, again) = post(app, &order_body("chk_a", "sess_1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, created);

    // The same checkout with other content is refused.
    let mut other = order_body("chk_a", "sess_1");
    other["email"] = json!("someone@else.org");
    let (status, body) = post(app, &other).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "idempotency_conflict");

    let (status, second) = post(app, &order_body("chk_b", "sess_1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _) = post(app, &order_body("chk_c", "sess_2")).await;

    let (status, list) = call(app, "GET", "/orders?session=sess_1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let data = list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {list}"));
    assert_eq!(data.len(), 2, "only this session's orders");
    assert_eq!(data[0], second, "newest first");
    assert_eq!(data[1], created);
    assert_eq!(data[1]["lines"].as_array().map(Vec::len), Some(2));

    let (status, list) = call(app, "GET", "/orders?session=sess_1&limit=1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0], second);

    let (status, list) = call(
        app,
        "GET",
        "/orders?session=sess_1&checkout_id=chk_a",
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"data": [created]}), "narrowed to one checkout");
    for uri in [
        "/orders?session=sess_2&checkout_id=chk_a",
        "/orders?session=sess_1&checkout_id=chk_zzz",
    ] {
        let (status, list) = call(app, "GET", uri, &[], None).await;
        assert_eq!(
            (status, list),
            (StatusCode::OK, json!({"data": []})),
            "{uri}"
        );
    }

    let (status, list) = call(app, "GET", "/orders?session=nobody", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"data": []}));
}

/// Ten creates racing with one checkout id make one order.
async fn concurrent_creates(app: &Router) {
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            post(&app, &order_body("chk_race", "sess_race")).await
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap_or_else(|e| panic!("task failed: {e}"));
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        if status == StatusCode::CREATED {
            created += 1;
        }
        ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(created, 1, "exactly one create wins");
    assert!(
        ids.iter().all(|id| id == &ids[0] && !id.is_empty()),
        "all see the same order: {ids:?}"
    );
    let (_, list) = call(app, "GET", "/orders?session=sess_race", &[], None).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn sqlite_create_get_list_and_idempotency() {
    let dir = TempDir::new();
    let app = router(sqlite_store(&dir).await);
    create_get_list(&app).await;
    let (status, _) = call(&app, "GET", "/readyz", &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_creates_make_one_order() {
    let dir = TempDir::new();
    let app = router(sqlite_store(&dir).await);
    concurrent_creates(&app).await;
}

#[tokio::test]
async fn sqlite_data_survives_reopening_the_file() {
    let dir = TempDir::new();
    let store = sqlite_store(&dir).await;
    let app = router(store.clone());
    let (status, created) = post(&app, &order_body("chk_keep", "sess_keep")).await;
    assert_eq!(status, StatusCode::CREATED);
    drop(app);
    store.close().await;
    drop(store);

    let app = router(sqlite_store(&dir).await);
    let id = created["id"].as_str().unwrap_or_default();
    let (status, fetched) = call(&app, "GET", &format!("/orders/{id}"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    // Still idempotent across the restart.
    let (status, again) = post(&app, &order_body("chk_keep", "sess_keep")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, created);
}

#[tokio::test]
async fn service_builds_from_its_config() {
    let dir = TempDir::new();
    let db = dir.0.join("nested.db");
    let env = MapEnv::new([("ORDERS_DB_PATH", db.to_str().unwrap_or_default())]);
    let config = Orders::config(&env).unwrap_or_else(|e| panic!("{e}"));
    let ctx = ServiceContext::for_tests("orders");
    let (api, readiness) = Orders::build(&ctx, config)
        .await
        .unwrap_or_else(|e| panic!("build: {e:#}"));
    let app = full_router(&ctx, api, readiness);
    let (status, _) = post(&app, &order_body("chk_cfg", "sess_cfg")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(db.exists(), "the database file is created");
    let (status, _) = call(&app, "GET", "/readyz", &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_code() {
    let dir = TempDir::new();
    let app = router(sqlite_store(&dir).await);

    let raw = |body: &'static str| call(&app, "POST", "/orders", &[], Some(body));
    let (status, body) = raw("{not json").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let (status, body) = raw(r#"{"checkout_id": 5}"#).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let mut extra = order_body("chk_x", "s");
    extra["admin"] = json!(true);
    let (status, body) = post(&app, &extra).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "unknown fields: {body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/orders",
        &[("content-type", "text/plain")],
        Some(&order_body("chk_x", "s").to_string()),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let big = format!(r#"{{"checkout_id":"{}"}}"#, "a".repeat(70 * 1024));
    let (status, _) = call_raw(
        &app,
        "POST",
        "/orders",
        &[("content-type", "application/json")],
        Some(big.into_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "bad checkout id",
            |b| b["checkout_id"] = json!("chk a"),
            "invalid_field",
        ),
        (
            "long checkout id",
            |b| b["checkout_id"] = json!("c".repeat(65)),
            "invalid_field",
        ),
        (
            "empty session",
            |b| b["session"] = json!(""),
            "invalid_field",
        ),
        (
            "bad charge id",
            |b| b["charge_id"] = json!("../x"),
            "invalid_field",
        ),
        (
            "no at",
            |b| b["email"] = json!("jane.example.com"),
            "invalid_email",
        ),
        ("two ats", |b| b["email"] = json!("a@b@c"), "invalid_email"),
        (
            "long email",
            |b| b["email"] = json!(format!("{}@x.org", "a".repeat(260))),
            "invalid_email",
        ),
        ("no lines", |b| b["lines"] = json!([]), "invalid_lines"),
        (
            "too many lines",
            |b| {
                let line = json!({"product_id": "p", "name": "P", "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "USD"}});
                b["lines"] = json!(vec![line; 51]);
                b["total"]["amount_minor"] = json!(51);
            },
            "invalid_lines",
        ),
        (
            "zero quantity",
            |b| b["lines"][1]["quantity"] = json!(0),
            "invalid_quantity",
        ),
        (
            "negative quantity",
            |b| b["lines"][1]["quantity"] = json!(-3),
            "invalid_quantity",
        ),
        (
            "absurd quantity",
            |b| b["lines"][1]["quantity"] = json!(100),
            "invalid_quantity",
        ),
        (
            "negative price",
            |b| b["lines"][0]["unit_price"]["amount_minor"] = json!(-1),
            "invalid_field",
        ),
        (
            "absurd price",
            |b| b["lines"][0]["unit_price"]["amount_minor"] = json!(i64::MAX),
            "invalid_field",
        ),
        (
            "wrong total",
            |b| b["total"]["amount_minor"] = json!(3300),
            "total_mismatch",
        ),
        (
            "negative total",
            |b| b["total"]["amount_minor"] = json!(-3299),
            "invalid_field",
        ),
        (
            "mixed currency",
            |b| b["lines"][0]["unit_price"]["currency"] = json!("EUR"),
            "currency_mismatch",
        ),
        (
            "unknown currency",
            |b| b["total"]["currency"] = json!("XXX"),
            "invalid_field",
        ),
        (
            "control char in name",
            |b| b["lines"][0]["name"] = json!("Mug\u{0}"),
            "invalid_field",
        ),
        (
            "empty name",
            |b| b["lines"][0]["name"] = json!(""),
            "invalid_field",
        ),
        (
            "bad product id",
            |b| b["lines"][0]["product_id"] = json!("mug; drop"),
            "invalid_field",
        ),
        (
            "quantity not a number",
            |b| b["lines"][0]["quantity"] = json!("2"),
            "invalid_field",
        ),
        (
            "quantity overflows",
            |b| b["lines"][0]["quantity"] = json!(1e30),
            "invalid_field",
        ),
    ];
    for (what, edit, expected) in cases {
        let mut body = order_body("chk_bad", "sess_bad");
        edit(&mut body);
        let (status, reply) = post(&app, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {reply}");
        assert_eq!(code(&reply), expected, "{what}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: a message"
        );
    }
    // Nothing of the refused requests was stored.
    let (_, list) = call(&app, "GET", "/orders?session=sess_bad", &[], None).await;
    assert_eq!(list, json!({"data": []}));

    for (uri, status, expected) in [
        ("/orders/ord_nope", StatusCode::NOT_FOUND, "unknown_order"),
        (
            "/orders/..%2F..%2Fetc",
            StatusCode::NOT_FOUND,
            "unknown_order",
        ),
        ("/orders", StatusCode::BAD_REQUEST, "missing_session"),
        (
            "/orders?session=a%20b",
            StatusCode::BAD_REQUEST,
            "invalid_session",
        ),
        (
            "/orders?session=s&limit=0",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/orders?session=s&limit=101",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/orders?session=s&limit=-1",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/orders?session=s&limit=ten",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/orders?session=s&sort=asc",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/orders?session=s&checkout_id=a%3Bb",
            StatusCode::BAD_REQUEST,
            "invalid_checkout_id",
        ),
    ] {
        let (got, body) = call(&app, "GET", uri, &[], None).await;
        assert_eq!((got, code(&body)), (status, expected), "{uri}: {body}");
    }
    let (status, body) = call(&app, "DELETE", "/orders/ord_x", &[], None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_create_get_list_idempotency_and_concurrency() {
    let Some(url) = test_database_url() else {
        return;
    };
    let schema = format!("orders_test_{:016x}", rand::random::<u64>());
    let store = PostgresStore::connect(&url, &schema, 8)
        .await
        .unwrap_or_else(|e| panic!("connect postgres: {e:#}"));
    let store: Arc<dyn OrderStore> = Arc::new(store);
    let app = router(store.clone());
    create_get_list(&app).await;
    concurrent_creates(&app).await;
    let (status, _) = call(&app, "GET", "/readyz", &[], None).await;
    assert_eq!(status, StatusCode::OK);

    // Connecting again to the same schema finds the orders (the migrations
    // are recorded there and not applied twice).
    store.close().await;
    let again: Arc<dyn OrderStore> = Arc::new(
        PostgresStore::connect(&url, &schema, 2)
            .await
            .unwrap_or_else(|e| panic!("reconnect: {e:#}")),
    );
    let listed = again
        .by_session("sess_1", 10)
        .await
        .unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(listed.len(), 2);
    again.close().await;
    drop_schema(&url, &schema).await;
}

/// `SHOP_TEST_DATABASE_URL`, or `None` after saying why the test is skipped
/// (outside CI); in CI a missing database fails the test.
fn test_database_url() -> Option<String> {
    match std::env::var("SHOP_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "SHOP_TEST_DATABASE_URL is not set: CI must provide a PostgreSQL server for the orders tests"
            )
        }
        _ => {
            eprintln!(
                "SKIPPED: SHOP_TEST_DATABASE_URL is not set, no PostgreSQL to test orders against"
            );
            None
        }
    }
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("drop schema: {e}"));
    let _ = conn.close().await;
}
