//! The whole shopping journey through the frontend's HTML pages, with all
//! seven services as real processes: browse, open a product, add it to the
//! cart, check out, see the confirmation and the order history; then the
//! order is read back from the orders service's storage. Once with the
//! default storage (SQLite, memory), once with PostgreSQL and Redis.

mod support;

use std::collections::HashMap;

use support::{Shop, required_env};

const SESSION: &str = "journeyTestSession01";

struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { client, base }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("shop_session={SESSION}"))
            .send()
            .await
            .expect("get");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Posts a form and returns the status and the redirect target.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("shop_session={SESSION}"))
            .form(form)
            .send()
            .await
            .expect("post");
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (r.status().as_u16(), location, r.text().await.expect("body"))
    }
}

fn product_ids(html: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for chunk in html.split("href=\"/product/").skip(1) {
        let id = chunk.split('"').next().unwrap_or_default().to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in:\n{html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Drives the journey and returns the order id shown on the confirmation page.
async fn shop_through_the_frontend(shop: &Shop) -> String {
    let browser = Browser::new(shop.url("frontend"));
    let (status, home) = browser.get("/").await;
    assert_eq!(status, 200, "{home}");
    let ids = product_ids(&home);
    assert!(ids.len() >= 30, "home page lists {} products", ids.len());

    let (status, product) = browser.get(&format!("/product/{}", ids[0])).await;
    assert_eq!(status, 200, "{product}");
    assert!(product.contains("Add to cart"));

    let (status, location, body) = browser
        .post("/cart/items", &[("product_id", &ids[0]), ("quantity", "2")])
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some("/cart"));
    let (status, location, body) = browser
        .post("/cart/items", &[("product_id", &ids[1]), ("quantity", "1")])
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/cart")),
        "{body}"
    );
    let (_, cart) = browser.get("/cart").await;
    assert_eq!(cart.matches("class=\"cart-line\"").count(), 2, "{cart}");

    // A bad quantity is refused and changes nothing.
    let (status, _, _) = browser
        .post(
            "/cart/items",
            &[("product_id", &ids[2]), ("quantity", "-4")],
        )
        .await;
    assert_eq!(status, 422);
    let (status, _, _) = browser
        .post(
            "/cart/items",
            &[("product_id", "no-such-product"), ("quantity", "1")],
        )
        .await;
    assert!(
        (400..500).contains(&status),
        "unknown product gives {status}"
    );
    let (_, cart) = browser.get("/cart").await;
    assert_eq!(cart.matches("class=\"cart-line\"").count(), 2, "{cart}");

    let (status, form) = browser.get("/checkout").await;
    assert_eq!(status, 200);
    let key = hidden(&form, "request_key");

    // A declined card shows the reason and keeps the cart.
    let declined = [
        ("request_key", key.as_str()),
        ("email", "shopper@example.com"),
        ("card_number", "4000 0000 0000 0002"),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvc", "123"),
    ];
    let (status, _, page) = browser.post("/checkout", &declined).await;
    assert_eq!(status, 402, "{page}");
    let key = hidden(&page, "request_key");
    assert!(page.contains("id=\"error\""), "{page}");
    assert!(!page.contains("value=\"4000"), "card number echoed");

    let fields = [
        ("request_key", key.as_str()),
        ("email", "shopper@example.com"),
        ("card_number", "4242 4242 4242 4242"),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvc", "123"),
    ];
    let (status, location, body) = browser.post("/checkout", &fields).await;
    assert_eq!(status, 303, "{body}");
    let location = location.expect("redirect to the order");
    assert!(location.starts_with("/orders/"), "{location}");
    // Submitting the same form twice places one order.
    let (status, again, _) = browser.post("/checkout", &fields).await;
    assert_eq!((status, again.as_deref()), (303, Some(location.as_str())));

    let (status, confirmation) = browser.get(&location).await;
    assert_eq!(status, 200, "{confirmation}");
    let order_id = location.trim_start_matches("/orders/").to_string();
    assert!(
        confirmation.contains(&order_id) && confirmation.contains("Thank you"),
        "{confirmation}"
    );

    let (_, history) = browser.get("/orders").await;
    assert_eq!(history.matches("class=\"order\"").count(), 1, "{history}");
    let (_, cart) = browser.get("/cart").await;
    assert!(
        cart.contains("id=\"empty-cart\""),
        "the cart is cleared after checkout: {cart}"
    );
    order_id
}

#[tokio::test]
async fn journey_with_default_storage() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shop = Shop::start(&HashMap::new()).await;
    let order_id = shop_through_the_frontend(&shop).await;

    let db = shop.dir.path().join("orders.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open orders.db");
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT id, session FROM orders")
        .fetch_all(&pool)
        .await
        .expect("query");
    assert_eq!(stored, vec![(order_id, SESSION.to_string())]);
}

#[tokio::test]
async fn journey_with_postgres_and_redis() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (Some(pg), Some(redis_url)) = (
        required_env("SHOP_TEST_DATABASE_URL", "a PostgreSQL server"),
        required_env("SHOP_TEST_REDIS_URL", "a Redis server"),
    ) else {
        return;
    };
    let suffix = format!("{:08x}", rand::random::<u32>());
    let orders_schema = format!("orders_journey_{suffix}");
    let catalog_schema = format!("catalog_journey_{suffix}");
    let cart_prefix = format!("cart-journey-{suffix}:");
    let mut extra: HashMap<&str, Vec<(String, String)>> = HashMap::new();
    extra.insert(
        "orders",
        vec![
            ("DATABASE_URL".into(), pg.clone()),
            ("ORDERS_DB_SCHEMA".into(), orders_schema.clone()),
        ],
    );
    extra.insert(
        "catalog",
        vec![
            ("DATABASE_URL".into(), pg.clone()),
            ("CATALOG_DB_SCHEMA".into(), catalog_schema.clone()),
        ],
    );
    extra.insert(
        "cart",
        vec![
            ("REDIS_URL".into(), redis_url.clone()),
            ("CART_REDIS_PREFIX".into(), cart_prefix.clone()),
        ],
    );
    let shop = Shop::start(&extra).await;
    let order_id = shop_through_the_frontend(&shop).await;

    let pool = sqlx::PgPool::connect(&pg)
        .await
        .expect("connect to PostgreSQL");
    let stored: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, session FROM \"{orders_schema}\".orders"
    )))
    .fetch_all(&pool)
    .await
    .expect("query orders");
    assert_eq!(stored, vec![(order_id, SESSION.to_string())]);
    let products: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{catalog_schema}\".products"
    )))
    .fetch_one(&pool)
    .await
    .expect("query products");
    assert!(products.0 >= 30);

    // Checkout cleared the cart; a new item lands in Redis under the session's key.
    let browser = Browser::new(shop.url("frontend"));
    let (status, _, _) = browser
        .post(
            "/cart/items",
            &[("product_id", "stoneware-mug-set"), ("quantity", "3")],
        )
        .await;
    assert_eq!(status, 303);
    let client = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{cart_prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "one cart in Redis: {keys:?}");
    let value: String = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .expect("get");
    assert!(
        value.contains("stoneware-mug-set") && keys[0].contains(SESSION),
        "{keys:?} {value}"
    );
    for schema in [&orders_schema, &catalog_schema] {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .execute(&pool)
        .await;
    }
}
