//! The catalog's API driven in memory through the full router.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;
use shop_catalog::{AppState, app};
use shop_common::api::{Product, ProductList};
use shop_common::testing::call;
use shop_common::{AlwaysReady, ServiceContext, full_router};

fn router() -> Router {
    let state = AppState::seeded().unwrap_or_else(|e| panic!("seed loads: {e:#}"));
    full_router(
        &ServiceContext::for_tests("catalog"),
        app(state),
        Arc::new(AlwaysReady),
    )
}

async fn list(app: &Router, uri: &str) -> Vec<Product> {
    let (status, body) = call(app, "GET", uri, &[], None).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    let list: ProductList =
        serde_json::from_value(body).unwrap_or_else(|e| panic!("{uri}: not a product list: {e}"));
    list.data
}

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn lists_products_with_default_limit_in_id_order() {
    let app = router();
    let products = list(&app, "/products").await;
    assert!(
        products.len() >= 36 && products.len() <= 50,
        "{}",
        products.len()
    );
    let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn pages_cover_everything_once() {
    let app = router();
    let all = list(&app, "/products?limit=100").await;
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = list(&app, &format!("/products?limit=7&offset={offset}")).await;
        assert!(page.len() <= 7);
        if page.is_empty() {
            break;
        }
        offset += page.len();
        seen.extend(page);
    }
    assert_eq!(seen, all);
    assert!(list(&app, "/products?offset=100000").await.is_empty());
}

#[tokio::test]
async fn search_is_case_insensitive_over_name_description_and_categories() {
    let app = router();
    let by_name = list(&app, "/products?q=SKILLET").await;
    assert!(by_name.iter().any(|p| p.id == "cast-iron-skillet"));
    let by_description = list(&app, "/products?q=noise%20cancelling").await;
    assert_eq!(
        by_description
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        vec!["wireless-headphones"]
    );
    let by_category = list(&app, "/products?q=Audi").await;
    assert!(by_category.len() >= 5, "{}", by_category.len());
    assert!(
        by_category
            .iter()
            .all(|p| p.categories.iter().any(|c| c == "audio")
                || p.name.to_lowercase().contains("audi")
                || p.description.to_lowercase().contains("audi"))
    );
    assert!(
        list(&app, "/products?q=zzzz-nothing-like-this")
            .await
            .is_empty()
    );
    // Wildcard characters are plain text.
    assert!(list(&app, "/products?q=%25").await.is_empty());
    // Blank search text is no filter.
    assert_eq!(
        list(&app, "/products?q=%20%20").await,
        list(&app, "/products").await
    );
}

#[tokio::test]
async fn filters_by_category_and_combines_with_search() {
    let app = router();
    let kitchen = list(&app, "/products?category=kitchen").await;
    assert!(kitchen.len() >= 6);
    assert!(
        kitchen
            .iter()
            .all(|p| p.categories.iter().any(|c| c == "kitchen"))
    );
    assert_eq!(
        list(&app, "/products?category=%20Kitchen%20").await,
        kitchen
    );
    let both = list(&app, "/products?category=outdoor&q=LAMP").await;
    assert_eq!(
        both.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec!["headlamp"]
    );
    assert!(
        list(&app, "/products?category=no-such-category")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn gets_one_product_or_404() {
    let app = router();
    let (status, body) = call(&app, "GET", "/products/chef-knife-8in", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let product: Product = serde_json::from_value(body).expect("a product");
    assert_eq!(product.id, "chef-knife-8in");
    assert!(product.price.amount_minor > 0);
    assert_eq!(product.image, "/static/img/chef-knife-8in.svg");

    let (status, body) = call(&app, "GET", "/products/no-such-thing", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_product");

    let long = "x".repeat(65);
    let (status, body) = call(&app, "GET", &format!("/products/{long}"), &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_path");
    let (status, body) = call(&app, "GET", "/products/a%20b", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_path");
}

#[tokio::test]
async fn lists_categories_sorted_and_unique() {
    let app = router();
    let (status, body) = call(&app, "GET", "/categories", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let categories: Vec<String> =
        serde_json::from_value(body["data"].clone()).expect("a list of strings");
    let mut sorted = categories.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(categories, sorted);
    let expected: HashSet<&str> = ["audio", "books", "home", "kitchen", "office", "outdoor"].into();
    assert_eq!(
        categories
            .iter()
            .map(String::as_str)
            .collect::<HashSet<_>>(),
        expected
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_json() {
    let app = router();
    let long_q = "a".repeat(101);
    let just_right = "a".repeat(100);
    assert!(
        list(&app, &format!("/products?q={just_right}"))
            .await
            .is_empty()
    );
    for uri in [
        "/products?limit=0".to_string(),
        "/products?limit=101".to_string(),
        "/products?limit=-1".to_string(),
        "/products?limit=abc".to_string(),
        "/products?limit=99999999999999999999".to_string(),
        "/products?offset=-5".to_string(),
        "/products?offset=1000001".to_string(),
        "/products?offset=1.5".to_string(),
        format!("/products?q={long_q}"),
        "/products?q=%00".to_string(),
        "/products?category=Bad%20Category".to_string(),
        "/products?unknown=1".to_string(),
    ] {
        let (status, body) = call(&app, "GET", &uri, &[], None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
}

#[tokio::test]
async fn other_methods_and_routes_are_json_errors() {
    let app = router();
    let (status, body) = call(&app, "POST", "/products", &[], Some("{}")).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, body) = call(&app, "DELETE", "/products/chef-knife-8in", &[], None).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, body) = call(&app, "GET", "/nope", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = call(&app, "GET", "/readyz", &[], None).await;
    assert_eq!(status, StatusCode::OK);
}
