//! The cart's API driven in memory through the full router, against a stub
//! catalog on loopback; the Redis store against a real server when
//! `SHOP_TEST_REDIS_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shop_common::api::{CartItem, MAX_CART_LINES, Product};
use shop_common::config::MapEnv;
use shop_common::testing::call;
use shop_common::{
    AlwaysReady, ApiError, Currency, Money, Path, Service, ServiceContext, full_router,
};
use tokio::net::TcpListener;

use crate::config::{CartConfig, RedisConfig};
use crate::store::{CartStore, MemoryStore, RedisStore};
use crate::{AppState, app};

const PRICE: i64 = 1999;

fn product(id: &str, stock: i64) -> Product {
    Product {
        id: id.to_string(),
        name: format!("Product {id}"),
        description: "a product".into(),
        price: Money {
            amount_minor: PRICE,
            currency: Currency::Usd,
        },
        categories: vec!["kitchen".into()],
        image: format!("/img/{id}.jpg"),
        stock,
        popularity: 50,
    }
}

/// The catalog's documented `GET /products/{id}`: "missing" is unknown,
/// "few" has 10 in stock, "soldout" none, "slow" answers after 2 s,
/// "broken" fails with 500; any other id has 100 in stock.
async fn stub_product(Path(id): Path<String>) -> Response {
    match id.as_str() {
        "missing" => ApiError::not_found("not_found", "no such product").into_response(),
        "broken" => ApiError::internal("database on fire").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            axum::Json(product(&id, 100)).into_response()
        }
        "few" => axum::Json(product(&id, 10)).into_response(),
        "soldout" => axum::Json(product(&id, 0)).into_response(),
        _ => axum::Json(product(&id, 100)).into_response(),
    }
}

async fn start_catalog() -> String {
    let router = Router::new().route("/products/{id}", axum::routing::get(stub_product));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind stub catalog: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("stub address: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A loopback URL where nothing listens.
async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    drop(listener);
    format!("http://{addr}")
}

fn router_with(store: Arc<dyn CartStore>, catalog_url: &str) -> Router {
    let ctx = ServiceContext::for_tests("cart");
    let catalog = ctx
        .peer("catalog", catalog_url)
        .with_timeout(Duration::from_millis(300));
    full_router(
        &ctx,
        app(AppState::new(store, catalog)),
        Arc::new(AlwaysReady),
    )
}

async fn router() -> Router {
    router_with(Arc::new(MemoryStore::new(1000)), &start_catalog().await)
}

async fn add(app: &Router, session: &str, product_id: &str, quantity: i64) -> (StatusCode, Value) {
    let body = json!({"product_id": product_id, "quantity": quantity}).to_string();
    call(
        app,
        "POST",
        &format!("/carts/{session}/items"),
        &[],
        Some(&body),
    )
    .await
}

async fn set(app: &Router, session: &str, product_id: &str, quantity: i64) -> (StatusCode, Value) {
    let body = json!({ "quantity": quantity }).to_string();
    call(
        app,
        "PUT",
        &format!("/carts/{session}/items/{product_id}"),
        &[],
        Some(&body),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn quantities(body: &Value) -> Vec<(String, i64)> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["product_id"].as_str().unwrap_or("").to_string(),
                        i["quantity"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn q(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(id, n)| (id.to_string(), *n)).collect()
}

#[tokio::test]
async fn empty_cart_for_a_new_session() {
    let app = router().await;
    let (status, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"session": "s1", "items": []}));
}

#[tokio::test]
async fn add_stores_name_and_price_and_sums_quantities() {
    let app = router().await;
    let (status, body) = add(&app, "s1", "p1", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["session"], "s1");
    assert_eq!(body["items"][0]["name"], "Product p1");
    assert_eq!(
        body["items"][0]["unit_price"],
        json!({"amount_minor": PRICE, "currency": "USD"})
    );
    let (_, body) = add(&app, "s1", "p1", 3).await;
    assert_eq!(quantities(&body), q(&[("p1", 5)]));
    let (_, body) = add(&app, "s1", "p2", 1).await;
    assert_eq!(quantities(&body), q(&[("p1", 5), ("p2", 1)]));
    let (status, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&body), q(&[("p1", 5), ("p2", 1)]));
    // Other sessions are untouched.
    let (_, other) = call(&app, "GET", "/carts/s2", &[], None).await;
    assert_eq!(quantities(&other), q(&[]));
}

#[tokio::test]
async fn quantities_out_of_range_are_refused() {
    let app = router().await;
    for bad in [-1, 0, 100, i64::MAX, i64::MIN] {
        let (status, body) = add(&app, "s1", "p1", bad).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity {bad}: {body}"
        );
        assert_eq!(code(&body), "invalid_quantity");
    }
    // Beyond i64, or not an integer: the body does not fit the type.
    for raw in [
        r#"{"product_id":"p1","quantity":100000000000000000000000}"#,
        r#"{"product_id":"p1","quantity":1.5}"#,
    ] {
        let (status, body) = call(&app, "POST", "/carts/s1/items", &[], Some(raw)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{raw}: {body}");
        assert_eq!(code(&body), "invalid_field");
    }
    // The sum counts too: 60 + 40 is over 99, and nothing changes.
    assert_eq!(add(&app, "s1", "p1", 60).await.0, StatusCode::OK);
    let (status, body) = add(&app, "s1", "p1", 40).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_quantity")
    );
    let (_, body) = add(&app, "s1", "p1", 39).await;
    assert_eq!(quantities(&body), q(&[("p1", 99)]));
}

#[tokio::test]
async fn unknown_products_and_stock_are_checked_with_the_catalog() {
    let app = router().await;
    for id in ["missing", "no/such", "", "x".repeat(65).as_str()] {
        let (status, body) = add(&app, "s1", id, 1).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_product"),
            "{id:?}: {body}"
        );
    }
    let (status, body) = add(&app, "s1", "soldout", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock"),
        "{body}"
    );
    let (status, body) = add(&app, "s1", "few", 11).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock")
    );
    assert_eq!(add(&app, "s1", "few", 6).await.0, StatusCode::OK);
    let (status, body) = add(&app, "s1", "few", 5).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock")
    );
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[("few", 6)]));
}

#[tokio::test]
async fn a_cart_holds_at_most_max_lines() {
    let app = router().await;
    for i in 0..MAX_CART_LINES {
        let (status, body) = add(&app, "s1", &format!("p{i}"), 1).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = add(&app, "s1", "one-more", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "cart_full")
    );
    // Existing lines still grow.
    let (status, body) = add(&app, "s1", "p0", 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(MAX_CART_LINES));
}

#[tokio::test]
async fn set_quantity_changes_removes_and_checks() {
    let app = router().await;
    add(&app, "s1", "p1", 2).await;
    add(&app, "s1", "few", 2).await;
    let (status, body) = set(&app, "s1", "p1", 7).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(quantities(&body), q(&[("p1", 7), ("few", 2)]));
    let (status, body) = set(&app, "s1", "few", 11).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock")
    );
    for bad in [-1, 100, i64::MAX] {
        let (status, body) = set(&app, "s1", "p1", bad).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_quantity"),
            "{bad}"
        );
    }
    let (status, body) = set(&app, "s1", "nope", 1).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = set(&app, "s1", "bad.id", 1).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = set(&app, "s1", "p1", 0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&body), q(&[("few", 2)]));
    let (status, body) = call(
        &app,
        "PUT",
        "/carts/s1/items/few",
        &[],
        Some(r#"{"quantity":1,"extra":true}"#),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/carts/s1/items/few",
        &[],
        Some(r#"{"quantity":"3"}"#),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[("few", 2)]));
}

#[tokio::test]
async fn delete_item_and_clear_cart() {
    let app = router().await;
    add(&app, "s1", "p1", 2).await;
    add(&app, "s1", "p2", 1).await;
    let (status, body) = call(&app, "DELETE", "/carts/s1/items/p1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&body), q(&[("p2", 1)]));
    // Repeating it answers the same.
    let (status, again) = call(&app, "DELETE", "/carts/s1/items/p1", &[], None).await;
    assert_eq!((status, &again), (StatusCode::OK, &body));
    let (status, again) = call(&app, "DELETE", "/carts/s1/items/bad.id", &[], None).await;
    assert_eq!((status, &again), (StatusCode::OK, &body));
    let (status, body) = call(&app, "DELETE", "/carts/s1", &[], None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[]));
    let (status, _) = call(&app, "DELETE", "/carts/s1", &[], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bad_session_ids_are_refused_on_every_route() {
    let app = router().await;
    let long = "s".repeat(65);
    for session in ["bad.id", "a%20b", "%C3%A9t%C3%A9", long.as_str()] {
        let requests: [(&str, String, Option<&str>); 5] = [
            ("GET", format!("/carts/{session}"), None),
            ("DELETE", format!("/carts/{session}"), None),
            (
                "POST",
                format!("/carts/{session}/items"),
                Some(r#"{"product_id":"p1","quantity":1}"#),
            ),
            (
                "PUT",
                format!("/carts/{session}/items/p1"),
                Some(r#"{"quantity":1}"#),
            ),
            ("DELETE", format!("/carts/{session}/items/p1"), None),
        ];
        for (method, uri, body) in requests {
            let (status, reply) = call(&app, method, &uri, &[], body).await;
            assert_eq!(
                (status, code(&reply)),
                (StatusCode::BAD_REQUEST, "invalid_session"),
                "{method} {uri}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_bodies_get_json_errors() {
    let app = router().await;
    let cases: [(&str, StatusCode, &str); 6] = [
        ("{", StatusCode::BAD_REQUEST, "malformed_json"),
        ("not json", StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"product_id":1,"quantity":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"product_id":"p1","quantity":"2"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"product_id":"p1","quantity":1,"price":0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            r#"{"product_id":"p1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (raw, want_status, want_code) in cases {
        let (status, body) = call(&app, "POST", "/carts/s1/items", &[], Some(raw)).await;
        assert_eq!(
            (status, code(&body)),
            (want_status, want_code),
            "{raw}: {body}"
        );
    }
    let (status, body) = call(
        &app,
        "POST",
        "/carts/s1/items",
        &[("content-type", "text/plain")],
        Some(r#"{"product_id":"p1","quantity":1}"#),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let huge = format!(
        r#"{{"product_id":"{}","quantity":1}}"#,
        "p".repeat(70 * 1024)
    );
    let (status, body) = call(&app, "POST", "/carts/s1/items", &[], Some(&huge)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[]));
}

#[tokio::test]
async fn catalog_failures_are_bad_gateway_or_timeout() {
    let app = router_with(Arc::new(MemoryStore::new(10)), &dead_url().await);
    let (status, body) = add(&app, "s1", "p1", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "upstream_failed"),
        "{body}"
    );

    let app = router().await;
    let (status, body) = add(&app, "s1", "broken", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "upstream_failed"),
        "{body}"
    );
    let (status, body) = add(&app, "s1", "slow", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        "{body}"
    );
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[]));
}

#[tokio::test]
async fn lowering_a_quantity_works_while_the_catalog_is_down() {
    let store: Arc<dyn CartStore> = Arc::new(MemoryStore::new(10));
    let up = router_with(store.clone(), &start_catalog().await);
    add(&up, "s1", "p1", 5).await;
    let down = router_with(store, &dead_url().await);
    let (status, body) = set(&down, "s1", "p1", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = set(&down, "s1", "p1", 3).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "upstream_failed")
    );
    let (_, body) = call(&down, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[("p1", 2)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_are_not_lost() {
    let app = router().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { add(&app, "s1", "p1", 1).await.0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap_or_else(|e| panic!("task: {e}")),
            StatusCode::OK
        );
    }
    let (_, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(quantities(&body), q(&[("p1", 20)]));
}

fn item(id: &str, quantity: i64) -> CartItem {
    CartItem {
        product_id: id.into(),
        name: id.into(),
        quantity,
        unit_price: Money {
            amount_minor: 100,
            currency: Currency::Usd,
        },
    }
}

#[tokio::test]
async fn memory_store_evicts_the_least_recently_updated() {
    let store = MemoryStore::new(2);
    let push = |id: &'static str| {
        move |items: &mut Vec<CartItem>| -> Result<(), ApiError> {
            items.push(item(id, 1));
            Ok(())
        }
    };
    store
        .update("a", &push("x"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .update("b", &push("x"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .update("a", &push("y"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .update("c", &push("x"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.len(), 2);
    assert!(
        store
            .get("b")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "b was the oldest"
    );
    assert_eq!(
        store.get("a").await.unwrap_or_else(|e| panic!("{e}")).len(),
        2
    );
    assert_eq!(
        store.get("c").await.unwrap_or_else(|e| panic!("{e}")).len(),
        1
    );
}

#[tokio::test]
async fn a_refused_change_leaves_the_cart_untouched() {
    let store = MemoryStore::new(10);
    store
        .update("a", &|items: &mut Vec<CartItem>| {
            items.push(item("x", 1));
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = store
        .update("a", &|items: &mut Vec<CartItem>| {
            items.clear();
            items.push(item("y", 5));
            Err(ApiError::unprocessable("nope", "refused"))
        })
        .await;
    assert_eq!(refused.map_err(|e| e.code), Err("nope"));
    assert_eq!(
        store.get("a").await.unwrap_or_else(|e| panic!("{e}")),
        vec![item("x", 1)]
    );
    // Emptying a cart removes it.
    store
        .update("a", &|items: &mut Vec<CartItem>| {
            items.clear();
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store.is_empty());
}

#[test]
fn config_defaults_and_validation() {
    let config = CartConfig::from_env(&MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.catalog_url, "http://127.0.0.1:8081");
    assert!(config.redis.is_none());
    assert_eq!(config.max_sessions, 100_000);

    let env = MapEnv::new([
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
        ("CART_REDIS_PREFIX", "t1:"),
        ("CART_TTL_SECS", "600"),
    ]);
    let config = CartConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
    let redis = config.redis.unwrap_or_else(|| panic!("redis configured"));
    assert_eq!(
        (redis.prefix.as_str(), redis.ttl),
        ("t1:", Duration::from_secs(600))
    );
    assert_eq!(
        CartConfig::from_env(&MapEnv::new([("REDIS_URL", "redis://h")]))
            .map(|c| c.redis.map(|r| r.ttl)),
        Ok(Some(crate::config::DEFAULT_TTL))
    );

    let bad: [(&str, &str); 7] = [
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("REDIS_URL", "redis://:secret@[bad"),
        ("CART_TTL_SECS", "0"),
        ("CART_TTL_SECS", "soon"),
        ("CART_REDIS_PREFIX", "has space"),
        ("SHOP_CATALOG_URL", "ftp://x"),
    ];
    for (key, value) in bad {
        let err = CartConfig::from_env(&MapEnv::new([(key, value)]))
            .map(|_| ())
            .expect_err(&format!("{key}={value} must be refused"));
        assert_eq!(err.key, key);
        assert!(
            !err.to_string().contains("secret"),
            "the password stays out of errors"
        );
    }
}

#[tokio::test]
async fn build_serves_and_is_ready_in_memory() {
    let ctx = ServiceContext::for_tests("cart");
    let env = MapEnv::new([("SHOP_CATALOG_URL", start_catalog().await.as_str())]);
    let config = crate::Cart::config(&env).unwrap_or_else(|e| panic!("{e}"));
    let (api, readiness) = crate::Cart::build(&ctx, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = full_router(&ctx, api, readiness);
    assert_eq!(
        call(&app, "GET", "/readyz", &[], None).await.0,
        StatusCode::OK
    );
    assert_eq!(add(&app, "s1", "p1", 1).await.0, StatusCode::OK);
}

#[tokio::test]
async fn redis_down_means_not_ready_and_unavailable() {
    let port = dead_url()
        .await
        .rsplit(':')
        .next()
        .unwrap_or("1")
        .to_string();
    let ctx = ServiceContext::for_tests("cart");
    let url = format!("redis://127.0.0.1:{port}");
    let env = MapEnv::new([
        ("SHOP_CATALOG_URL", start_catalog().await.as_str()),
        ("REDIS_URL", url.as_str()),
    ]);
    let config = crate::Cart::config(&env).unwrap_or_else(|e| panic!("{e}"));
    let (api, readiness) = crate::Cart::build(&ctx, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = full_router(&ctx, api, readiness);
    assert_eq!(
        call(&app, "GET", "/readyz", &[], None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = call(&app, "GET", "/carts/s1", &[], None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
    );
    let (status, body) = add(&app, "s1", "p1", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
    );
}

// ---- Redis -------------------------------------------------------------------

/// The test server's URL, or `None` (skip) outside CI.
fn test_redis_url() -> Option<String> {
    match std::env::var("SHOP_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "SHOP_TEST_REDIS_URL is not set: CI must provide a redis server for the cart's redis tests"
            )
        }
        _ => {
            eprintln!(
                "SKIPPED: SHOP_TEST_REDIS_URL is not set, no redis server to test the cart's redis store against"
            );
            None
        }
    }
}

fn redis_store(url: &str, prefix: &str) -> RedisStore {
    let config = RedisConfig {
        url: url.to_string(),
        ttl: Duration::from_secs(600),
        prefix: prefix.to_string(),
    };
    RedisStore::connect(&config).unwrap_or_else(|e| panic!("redis store: {e}"))
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap_or_else(|e| panic!("redis url: {e}"));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("redis connect: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_serves_the_api_and_keeps_concurrent_writes() {
    let Some(url) = test_redis_url() else { return };
    let prefix = format!("cart-test-{}:", rand::random::<u64>());
    let catalog = start_catalog().await;
    let store = Arc::new(redis_store(&url, &prefix));
    store.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
    let app = router_with(store, &catalog);

    assert_eq!(
        quantities(&call(&app, "GET", "/carts/r1", &[], None).await.1),
        q(&[])
    );
    let (status, body) = add(&app, "r1", "p1", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["name"], "Product p1");
    add(&app, "r1", "p2", 1).await;
    assert_eq!(
        quantities(&set(&app, "r1", "p1", 4).await.1),
        q(&[("p1", 4), ("p2", 1)])
    );
    let (status, body) = add(&app, "r1", "p1", 96).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_quantity")
    );
    assert_eq!(
        quantities(
            &call(&app, "DELETE", "/carts/r1/items/p2", &[], None)
                .await
                .1
        ),
        q(&[("p1", 4)])
    );

    // Stored as JSON under the prefix with a TTL.
    let mut conn = redis_conn(&url).await;
    let key = format!("{prefix}r1");
    let raw: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("stored json: {e}"));
    assert_eq!(quantities(&stored), q(&[("p1", 4)]));
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!((1..=600).contains(&ttl), "ttl {ttl}");

    // Two stores are two replicas: their locks are separate, only the
    // compare-and-set keeps their writes from overwriting each other.
    let other = router_with(Arc::new(redis_store(&url, &prefix)), &catalog);
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let app = if i % 2 == 0 {
                app.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move { add(&app, "r2", "p1", 1).await.0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap_or_else(|e| panic!("task: {e}")),
            StatusCode::OK
        );
    }
    assert_eq!(
        quantities(&call(&app, "GET", "/carts/r2", &[], None).await.1),
        q(&[("p1", 30)])
    );

    // An unreadable value is refused, not overwritten; emptying the cart clears it.
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}r3"))
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = add(&app, "r3", "p1", 1).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let raw: String = redis::cmd("GET")
        .arg(format!("{prefix}r3"))
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw, "garbage");

    for session in ["r1", "r2", "r3"] {
        assert_eq!(
            call(&app, "DELETE", &format!("/carts/{session}"), &[], None)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
    }
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(left.is_empty(), "keys left: {left:?}");
}
