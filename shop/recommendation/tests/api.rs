//! The recommendation service against a real catalog (this workspace's
//! `shop-catalog`) served on a loopback port.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;
use shop_catalog::store::MemoryStore;
use shop_common::api::{Product, RecommendationList};
use shop_common::testing::call;
use shop_common::{AlwaysReady, Currency, Money, ServiceContext, full_router};
use shop_recommendation::{AppState, app};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running catalog service and how many `/products` calls it has served.
struct CatalogServer {
    url: String,
    product_calls: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl CatalogServer {
    async fn start(state: shop_catalog::AppState) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        Self::start_on(listener, state)
    }

    fn start_on(listener: TcpListener, state: shop_catalog::AppState) -> Self {
        let ctx = ServiceContext::for_tests("catalog");
        let product_calls = Arc::new(AtomicUsize::new(0));
        let counter = product_calls.clone();
        let router = full_router(&ctx, shop_catalog::app(state), Arc::new(AlwaysReady)).layer(
            axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    if req.uri().path() == "/products" {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(req)
                },
            ),
        );
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            product_calls,
            stop: Some(stop),
            task,
        }
    }

    async fn seeded() -> Self {
        Self::start(shop_catalog::AppState::seeded().expect("seed loads")).await
    }

    async fn with(products: Vec<Product>) -> Self {
        let store =
            MemoryStore::new(products).unwrap_or_else(|e| panic!("test catalog is valid: {e:#}"));
        Self::start(shop_catalog::AppState::new(Arc::new(store))).await
    }

    fn calls(&self) -> usize {
        self.product_calls.load(Ordering::SeqCst)
    }

    /// Stops serving and waits until the port is closed.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

fn recommender(catalog_url: &str, ttl: Duration) -> (Router, AppState) {
    let ctx = ServiceContext::for_tests("recommendation");
    let state = AppState::new(ctx.peer("catalog", catalog_url), ttl);
    (
        full_router(&ctx, app(state.clone()), Arc::new(AlwaysReady)),
        state,
    )
}

async fn recommend(app: &Router, query: &str) -> RecommendationList {
    let (status, body) = call(app, "GET", &format!("/recommendations?{query}"), &[], None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body)
        .unwrap_or_else(|e| panic!("{query}: not a recommendation list: {e}"))
}

fn ids(list: &RecommendationList) -> Vec<&str> {
    list.data.iter().map(|r| r.product.id.as_str()).collect()
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

fn product(id: &str, categories: &[&str], popularity: i64, stock: i64) -> Product {
    Product {
        id: id.into(),
        name: format!("Product {id}"),
        description: String::new(),
        price: Money {
            amount_minor: 1000,
            currency: Currency::Usd,
        },
        categories: categories.iter().map(|c| c.to_string()).collect(),
        image: format!("/static/img/{id}.svg"),
        stock,
        popularity,
    }
}

fn small_catalog() -> Vec<Product> {
    vec![
        product("a", &["kitchen", "home"], 50, 5),
        product("b", &["kitchen", "home"], 10, 5),
        product("c", &["kitchen"], 90, 5),
        product("d", &["home"], 95, 5),
        product("e", &["audio"], 100, 5),
        product("f", &["kitchen", "home"], 100, 0),
    ]
}

const LONG_TTL: Duration = Duration::from_secs(600);

#[tokio::test]
async fn related_to_one_product_from_the_seed() {
    let catalog = CatalogServer::seeded().await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let list = recommend(&app, "product=cast-iron-skillet").await;
    assert_eq!(list.data.len(), 4, "default limit");
    assert!(!ids(&list).contains(&"cast-iron-skillet"));
    assert!(list.data.windows(2).all(|w| w[0].score >= w[1].score));
    for rec in &list.data {
        // The skillet is in kitchen and outdoor; the best four share one of them.
        assert!(
            rec.product
                .categories
                .iter()
                .any(|c| c == "kitchen" || c == "outdoor"),
            "{rec:?}"
        );
        assert!(rec.reason.starts_with("also in "), "{rec:?}");
        assert!(rec.product.stock > 0);
    }
    // Both of the skillet's categories: these rank first.
    assert!(
        ["camp-stove", "insulated-bottle"].contains(&ids(&list)[0]),
        "{:?}",
        ids(&list)
    );

    assert_eq!(
        recommend(&app, "product=earbuds&limit=1").await.data.len(),
        1
    );
    let twenty = recommend(&app, "product=earbuds&limit=20").await;
    assert_eq!(twenty.data.len(), 20);
    assert!(!ids(&twenty).contains(&"earbuds"));
    // Out of stock products are never suggested.
    assert!(!ids(&twenty).contains(&"french-press"));
}

#[tokio::test]
async fn ordering_reasons_and_exclusion_on_a_known_catalog() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let list = recommend(&app, "product=a&limit=20").await;
    assert_eq!(ids(&list), vec!["b", "d", "c", "e"]);
    let reasons: Vec<&str> = list.data.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "also in home, kitchen",
            "also in home; popular",
            "also in kitchen; popular",
            "popular in the shop"
        ]
    );
    assert_eq!(list.data[0].score, 2.05);
    assert_eq!(list.data[0].product, small_catalog()[1]);
}

#[tokio::test]
async fn for_a_cart_excludes_its_items_and_skips_unknown_ids() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let list = recommend(&app, "products=a,c&limit=20").await;
    assert_eq!(ids(&list), vec!["b", "d", "e"]);
    assert_eq!(list.data[0].reason, "also in kitchen, home");
    let with_unknown = recommend(&app, "products=c,gone-product,a,a&limit=20").await;
    assert_eq!(with_unknown, list);
    // Nothing known in the cart: the most popular in-stock products.
    let popular = recommend(&app, "products=gone-product&limit=2").await;
    assert_eq!(ids(&popular), vec!["e", "d"]);
}

#[tokio::test]
async fn unknown_product_is_404() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let (status, body) = call(
        &app,
        "GET",
        "/recommendations?product=gone-product",
        &[],
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_product");
}

#[tokio::test]
async fn bad_input_is_400_json() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let fifty_one = (0..51)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let long_id = "x".repeat(65);
    for query in [
        String::new(),
        "limit=4".into(),
        "product=a&products=b".into(),
        "product=a&limit=0".into(),
        "product=a&limit=21".into(),
        "product=a&limit=-1".into(),
        "product=a&limit=four".into(),
        "product=".into(),
        format!("product={long_id}"),
        "product=a%20b".into(),
        "products=".into(),
        "products=a,,b".into(),
        "products=a;b".into(),
        format!("products={fifty_one}"),
        "product=a&colour=red".into(),
    ] {
        let (status, body) =
            call(&app, "GET", &format!("/recommendations?{query}"), &[], None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    assert_eq!(catalog.calls(), 0, "bad input never reaches the catalog");
    let (status, body) = call(&app, "POST", "/recommendations?product=a", &[], Some("{}")).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn reads_every_page_of_a_large_catalog() {
    // 230 products: three pages of the catalog; the only match is on the last.
    let mut products: Vec<Product> = (0..228)
        .map(|i| product(&format!("m{i:03}"), &["misc"], 10, 1))
        .collect();
    products.push(product("a-rare", &["rare"], 1, 1));
    products.push(product("z-rare", &["rare"], 1, 1));
    let catalog = CatalogServer::with(products).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let list = recommend(&app, "product=a-rare&limit=1").await;
    assert_eq!(ids(&list), vec!["z-rare"]);
    assert_eq!(catalog.calls(), 3);
}

#[tokio::test]
async fn caches_the_catalog_and_serves_it_after_the_catalog_stops() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, state) = recommender(&catalog.url, LONG_TTL);
    state.warm().await.expect("catalog reachable");
    let before = recommend(&app, "product=a").await;
    recommend(&app, "products=a,b").await;
    assert_eq!(catalog.calls(), 1, "one fetch serves many answers");
    assert_eq!(state.cached_answers(), 2);
    catalog.stop().await;
    assert_eq!(recommend(&app, "product=a").await, before, "cached answer");
    assert_eq!(
        ids(&recommend(&app, "product=d&limit=1").await),
        vec!["a"],
        "new answer from the cached catalog"
    );
}

#[tokio::test]
async fn serves_a_stale_catalog_when_the_refresh_fails() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, state) = recommender(&catalog.url, Duration::from_millis(20));
    state.warm().await.expect("catalog reachable");
    catalog.stop().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let list = recommend(&app, "product=a&limit=20").await;
    assert_eq!(ids(&list), vec!["b", "d", "c", "e"]);
    // Within the failure cooldown it does not even try.
    let again = recommend(&app, "products=a&limit=20").await;
    assert_eq!(ids(&again), vec!["b", "d", "c", "e"]);
}

#[tokio::test]
async fn refreshes_after_the_ttl() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, Duration::from_millis(500));
    recommend(&app, "product=a").await;
    recommend(&app, "product=a").await;
    assert_eq!(catalog.calls(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    recommend(&app, "product=a").await;
    assert_eq!(catalog.calls(), 2);
}

#[tokio::test]
async fn concurrent_misses_fetch_the_catalog_once() {
    let catalog = CatalogServer::with(small_catalog()).await;
    let (app, _) = recommender(&catalog.url, LONG_TTL);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        let query = if i % 2 == 0 {
            "product=a".to_string()
        } else {
            format!("products=b,c&limit={}", 1 + i % 5)
        };
        tasks.push(tokio::spawn(async move { recommend(&app, &query).await }));
    }
    for task in tasks {
        task.await.expect("request task");
    }
    assert_eq!(catalog.calls(), 1);
}

#[tokio::test]
async fn unreachable_catalog_without_cache_is_503() {
    // A port that was just free: nothing listens on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let (app, _) = recommender(&url, LONG_TTL);
    let (status, body) = call(&app, "GET", "/recommendations?product=a", &[], None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog_unavailable",
    );
    // Bad input is still judged first.
    let (status, body) = call(
        &app,
        "GET",
        "/recommendations?limit=99&product=a",
        &[],
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn starts_without_a_catalog_and_recovers_when_it_appears() {
    // The port stays ours throughout (no other test can take it between
    // the two halves): first every connection is dropped unanswered, as a
    // catalog that is not up yet would; then the catalog serves on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (up, mut come_up) = oneshot::channel::<()>();
    let refusing = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut come_up => return listener,
                accepted = listener.accept() => drop(accepted),
            }
        }
    });
    let (app, _) = recommender(&url, LONG_TTL);
    let (status, body) = call(&app, "GET", "/recommendations?product=a", &[], None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog_unavailable",
    );
    // The catalog comes up on the same address.
    up.send(()).expect("the refusing task is waiting");
    let listener = refusing.await.expect("the listener back");
    let store = MemoryStore::new(small_catalog()).expect("valid catalog");
    let _catalog = CatalogServer::start_on(listener, shop_catalog::AppState::new(Arc::new(store)));
    assert_eq!(ids(&recommend(&app, "product=a&limit=1").await), vec!["b"]);
}
