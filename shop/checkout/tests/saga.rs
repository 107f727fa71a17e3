//! The checkout saga with real peers on loopback: the real orders service
//! (SQLite in a temporary directory) and small in-test stubs of the cart,
//! catalog and payments routes, with in-memory state the tests inspect.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shop_checkout::{AppState, CheckoutConfig, app, checkout_id};
use shop_common::api::{Cart, CartItem, Charge, ChargeRequest, ChargeStatus, Product};
use shop_common::chaos::Fault;
use shop_common::service::{AlwaysReady, ServiceContext, full_router};
use shop_common::testing::{call, call_raw};
use shop_common::{ApiError, Currency, Json, Money, Path, Service};
use shop_orders::{Orders, OrdersConfig, StorageConfig};

// ---- stubs -----------------------------------------------------------------

fn usd(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: Currency::Usd,
    }
}

#[derive(Default)]
struct CartStub {
    carts: Mutex<HashMap<String, Vec<CartItem>>>,
    fail_delete: AtomicBool,
}

impl CartStub {
    fn put(&self, session: &str, items: &[(&str, i64)]) {
        let items = items
            .iter()
            .map(|(id, quantity)| CartItem {
                product_id: id.to_string(),
                name: id.to_string(),
                quantity: *quantity,
                // Stale on purpose: checkout must price from the catalog.
                unit_price: usd(1),
            })
            .collect();
        self.carts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session.to_string(), items);
    }

    fn items(&self, session: &str) -> usize {
        self.carts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session)
            .map_or(0, Vec::len)
    }
}

fn cart_router(stub: Arc<CartStub>) -> Router {
    async fn get_cart(
        State(stub): State<Arc<CartStub>>,
        Path(session): Path<String>,
    ) -> Json<Cart> {
        let items = stub
            .carts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&session)
            .cloned()
            .unwrap_or_default();
        Json(Cart { session, items })
    }
    async fn clear_cart(
        State(stub): State<Arc<CartStub>>,
        Path(session): Path<String>,
    ) -> Result<StatusCode, ApiError> {
        if stub.fail_delete.load(Ordering::SeqCst) {
            return Err(ApiError::internal("cart storage is down"));
        }
        stub.carts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session);
        Ok(StatusCode::NO_CONTENT)
    }
    Router::new()
        .route("/carts/{session}", get(get_cart).delete(clear_cart))
        .with_state(stub)
}

fn catalog_router() -> Router {
    async fn get_product(Path(id): Path<String>) -> Result<Json<Product>, ApiError> {
        let price = match id.as_str() {
            "mug" => 1250,
            "tea" => 799,
            _ => {
                return Err(ApiError::not_found(
                    "unknown_product",
                    format!("no product with id {id:?}"),
                ));
            }
        };
        Ok(Json(Product {
            id: id.clone(),
            name: format!("The {id}"),
            description: String::new(),
            price: usd(price),
            categories: vec!["kitchen".into()],
            image: String::new(),
            stock: 100,
            popularity: 50,
        }))
    }
    Router::new().route("/products/{id}", get(get_product))
}

/// What a payments key is bound to: the amount asked, and the charge id or decline code.
type KeyRecord = (i64, Result<String, &'static str>);

/// Honours Idempotency-Key like the real payments service: a key replays its
/// first answer (a charge as it is now, or the decline); a different
/// request with the same key is a conflict.
#[derive(Default)]
struct PaymentsStub {
    charges: Mutex<Vec<Charge>>,
    keys: Mutex<HashMap<String, KeyRecord>>,
    delay_ms: AtomicU64,
}

impl PaymentsStub {
    fn charges(&self) -> Vec<Charge> {
        self.charges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn live(&self) -> Vec<Charge> {
        self.charges()
            .into_iter()
            .filter(|c| c.status == ChargeStatus::Succeeded)
            .collect()
    }
}

fn payments_router(stub: Arc<PaymentsStub>) -> Router {
    async fn create(
        State(stub): State<Arc<PaymentsStub>>,
        headers: HeaderMap,
        Json(req): Json<ChargeRequest>,
    ) -> Result<Response, ApiError> {
        let Some(key) = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            return Err(ApiError::bad_request(
                "missing_idempotency_key",
                "the Idempotency-Key header is required",
            ));
        };
        let delay = stub.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if !req.card.number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::unprocessable(
                "invalid_card",
                "card.number must contain only digits",
            ));
        }
        let mut keys = stub.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut charges = stub.charges.lock().unwrap_or_else(|e| e.into_inner());
        let decline = |code: &'static str| {
            ApiError::new(StatusCode::PAYMENT_REQUIRED, code, "the card was declined")
        };
        if let Some((amount, outcome)) = keys.get(&key) {
            if *amount != req.amount.amount_minor {
                return Err(ApiError::conflict(
                    "idempotency_conflict",
                    "different request for this key",
                ));
            }
            return match outcome {
                Ok(id) => {
                    let charge = charges.iter().find(|c| &c.id == id).cloned();
                    charge
                        .map(|c| Json(c).into_response())
                        .ok_or_else(|| ApiError::internal("lost charge"))
                }
                Err(code) => Err(decline(code)),
            };
        }
        if req.card.number == "4000000000000002" {
            keys.insert(key, (req.amount.amount_minor, Err("card_declined")));
            return Err(decline("card_declined"));
        }
        let charge = Charge {
            id: format!("ch_{}", charges.len() + 1),
            amount: req.amount,
            status: ChargeStatus::Succeeded,
            card_last4: req.card.number[req.card.number.len().saturating_sub(4)..].to_string(),
            card_brand: "visa".into(),
            reference: req.reference,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        keys.insert(key, (req.amount.amount_minor, Ok(charge.id.clone())));
        charges.push(charge.clone());
        Ok((StatusCode::CREATED, Json(charge)).into_response())
    }
    async fn refund(
        State(stub): State<Arc<PaymentsStub>>,
        Path(id): Path<String>,
    ) -> Result<Json<Charge>, ApiError> {
        let mut charges = stub.charges.lock().unwrap_or_else(|e| e.into_inner());
        let charge = charges
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::not_found("unknown_charge", "no such charge"))?;
        charge.status = ChargeStatus::Refunded;
        Ok(Json(charge.clone()))
    }
    Router::new()
        .route("/charges", post(create))
        .route("/charges/{id}/refund", post(refund))
        .with_state(stub)
}

// ---- the shop under test -----------------------------------------------------

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("shop-checkout-test-{:016x}", rand::random::<u64>()));
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

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

struct Shop {
    checkout: Router,
    config: CheckoutConfig,
    /// The orders service's own router and context (for its chaos faults).
    orders: Router,
    orders_ctx: ServiceContext,
    /// When set, the orders service stores a new order but its reply is lost (500).
    lose_order_replies: Arc<AtomicBool>,
    cart: Arc<CartStub>,
    payments: Arc<PaymentsStub>,
    _dir: TempDir,
}

impl Shop {
    async fn start(step_timeout: Duration) -> Self {
        let dir = TempDir::new();
        let orders_ctx = ServiceContext::for_tests("orders");
        let storage = StorageConfig::Sqlite {
            path: dir.0.join("orders.db"),
            max_connections: 4,
        };
        let (api, readiness) = Orders::build(&orders_ctx, OrdersConfig { storage })
            .await
            .unwrap_or_else(|e| panic!("orders: {e:#}"));
        let orders = full_router(&orders_ctx, api, readiness);
        let lose_order_replies = Arc::new(AtomicBool::new(false));
        let lossy = orders.clone().layer(axum::middleware::from_fn_with_state(
            lose_order_replies.clone(),
            lose_post_replies,
        ));
        let orders_url = serve(lossy).await;

        let cart = Arc::new(CartStub::default());
        let payments = Arc::new(PaymentsStub::default());
        let config = CheckoutConfig {
            cart_url: serve(cart_router(cart.clone())).await,
            catalog_url: serve(catalog_router()).await,
            payments_url: serve(payments_router(payments.clone())).await,
            orders_url,
            step_timeout,
            idempotency_capacity: 100,
            idempotency_ttl: Duration::from_secs(3600),
        };
        let checkout = Self::checkout_router(&config);
        Self {
            checkout,
            config,
            orders,
            orders_ctx,
            lose_order_replies,
            cart,
            payments,
            _dir: dir,
        }
    }

    /// A checkout instance with its own (empty) memory: another replica, or a restart.
    fn checkout_router(config: &CheckoutConfig) -> Router {
        let ctx = ServiceContext::for_tests("checkout");
        full_router(
            &ctx,
            app(AppState::new(&ctx, config)),
            Arc::new(AlwaysReady),
        )
    }

    async fn checkout(&self, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
        checkout_on(&self.checkout, key, body).await
    }

    async fn orders_of(&self, session: &str) -> Vec<Value> {
        let (status, list) = call(
            &self.orders,
            "GET",
            &format!("/orders?session={session}"),
            &[],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["data"].as_array().cloned().unwrap_or_default()
    }
}

/// The request is handled (and its effect kept) but the caller sees a 500,
/// as when a reply is lost on the way back.
async fn lose_post_replies(
    State(lose): State<Arc<AtomicBool>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_post = request.method() == axum::http::Method::POST;
    let response = next.run(request).await;
    if is_post && lose.load(Ordering::SeqCst) {
        return ApiError::internal("connection reset").into_response();
    }
    response
}

async fn checkout_on(router: &Router, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    call(
        router,
        "POST",
        "/checkout",
        &headers,
        Some(&body.to_string()),
    )
    .await
}

fn request(session: &str) -> Value {
    json!({
        "session": session,
        "email": "jane@example.com",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    })
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

const STEP: Duration = Duration::from_secs(3);

// ---- tests -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_places_one_order_charges_once_and_clears_the_cart() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_a", &[("mug", 2), ("tea", 1)]);

    let (status, result) = shop.checkout(Some("key-a"), &request("sess_a")).await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    let expected_id = checkout_id("sess_a", "key-a");
    assert_eq!(result["checkout_id"], expected_id);
    let order = &result["order"];
    assert_eq!(order["checkout_id"], expected_id);
    assert_eq!(
        order["total"],
        json!({"amount_minor": 2 * 1250 + 799, "currency": "USD"}),
        "catalog prices, not the cart's"
    );
    assert_eq!(order["lines"][0]["unit_price"]["amount_minor"], 1250);
    assert_eq!(order["lines"][0]["name"], "The mug");
    assert_eq!(order["email"], "jane@example.com");

    // Stored in the orders service, exactly as returned.
    let stored = shop.orders_of("sess_a").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0], order);

    // One charge, for the total, referencing the checkout.
    let charges = shop.payments.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].amount, usd(3299));
    assert_eq!(charges[0].status, ChargeStatus::Succeeded);
    assert_eq!(charges[0].reference, expected_id);
    assert_eq!(order["charge_id"], charges[0].id);

    assert_eq!(shop.cart.items("sess_a"), 0, "the cart is cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_key_returns_the_same_order_without_charging_again() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_r", &[("mug", 1)]);
    let (status, first) = shop.checkout(Some("key-r"), &request("sess_r")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    let (status, again) = shop.checkout(Some("key-r"), &request("sess_r")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);

    // Another replica (no memory of the key) finds the order too, though the
    // cart is empty by now.
    let replica = Shop::checkout_router(&shop.config);
    let (status, elsewhere) = checkout_on(&replica, Some("key-r"), &request("sess_r")).await;
    assert_eq!(status, StatusCode::OK, "{elsewhere}");
    assert_eq!(elsewhere, first);

    assert_eq!(shop.payments.charges().len(), 1, "still one charge");
    assert_eq!(shop.orders_of("sess_r").await.len(), 1, "still one order");

    // The same key with another body is refused.
    let mut other = request("sess_r");
    other["email"] = json!("someone@else.org");
    let (status, body) = shop.checkout(Some("key-r"), &other).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_is_402_and_places_no_order() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_d", &[("tea", 3)]);
    let mut body = request("sess_d");
    body["card"]["number"] = json!("4000000000000002");
    for _ in 0..2 {
        // Not remembered as final: the retry runs the saga again (and is declined again).
        let (status, reply) = shop.checkout(Some("key-d"), &body).await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::PAYMENT_REQUIRED, "card_declined"),
            "{reply}"
        );
    }
    assert!(shop.orders_of("sess_d").await.is_empty());
    assert!(shop.payments.live().is_empty());
    assert_eq!(shop.cart.items("sess_d"), 1, "the cart is kept");

    // An invalid card is the payments service's 422, passed through.
    body["card"]["number"] = json!("4242-4242");
    let (status, reply) = shop.checkout(Some("key-d2"), &body).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_card"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_order_refunds_the_charge_and_a_later_retry_completes_once() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_f", &[("mug", 1), ("tea", 2)]);

    // The orders service answers 500 to everything.
    shop.orders_ctx
        .chaos
        .add(Fault::Errors {
            status: 500,
            rate: 1.0,
        })
        .unwrap_or_else(|e| panic!("fault: {e}"));
    let (status, reply) = shop.checkout(Some("key-f"), &request("sess_f")).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_GATEWAY, "order_failed"),
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refunded")),
        "{reply}"
    );
    let charges = shop.payments.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        charges[0].status,
        ChargeStatus::Refunded,
        "the charge was refunded"
    );
    assert_eq!(shop.cart.items("sess_f"), 2, "the cart is kept");

    // Orders recovers; the same key completes, with one order and one live charge.
    shop.orders_ctx.chaos.clear();
    assert!(
        shop.orders_of("sess_f").await.is_empty(),
        "nothing was stored while failing"
    );
    let (status, result) = shop.checkout(Some("key-f"), &request("sess_f")).await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    let orders = shop.orders_of("sess_f").await;
    assert_eq!(orders.len(), 1);
    let live = shop.payments.live();
    assert_eq!(live.len(), 1, "exactly one live charge");
    assert_eq!(result["order"]["charge_id"], live[0].id);
    assert_eq!(
        shop.payments.charges().len(),
        2,
        "the refunded one and the live one"
    );

    let (status, again) = shop.checkout(Some("key-f"), &request("sess_f")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, result);
    assert_eq!(shop.payments.live().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_stored_despite_an_error_reply_is_kept_not_refunded() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_l", &[("mug", 3)]);
    shop.lose_order_replies.store(true, Ordering::SeqCst);
    let (status, result) = shop.checkout(Some("key-l"), &request("sess_l")).await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    let orders = shop.orders_of("sess_l").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(&orders[0], &result["order"]);
    let charges = shop.payments.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(
        charges[0].status,
        ChargeStatus::Succeeded,
        "the order's charge is not refunded"
    );
    assert_eq!(shop.cart.items("sess_l"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_payments_time_out_with_504_and_no_order() {
    let shop = Shop::start(Duration::from_millis(300)).await;
    shop.cart.put("sess_t", &[("mug", 1)]);
    shop.payments.delay_ms.store(2_000, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let (status, reply) = shop.checkout(Some("key-t"), &request("sess_t")).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        "{reply}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "the step limit holds: {:?}",
        started.elapsed()
    );
    assert!(shop.orders_of("sess_t").await.is_empty());
    assert_eq!(shop.cart.items("sess_t"), 1);

    // Payments recovers: the retry completes with one charge.
    shop.payments.delay_ms.store(0, Ordering::SeqCst);
    let (status, result) = shop.checkout(Some("key-t"), &request("sess_t")).await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    assert_eq!(shop.payments.live().len(), 1);
    assert_eq!(shop.orders_of("sess_t").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_while_in_progress_is_409() {
    let shop = Arc::new(Shop::start(STEP).await);
    shop.cart.put("sess_p", &[("tea", 1)]);
    shop.payments.delay_ms.store(600, Ordering::SeqCst);
    let first = {
        let shop = shop.clone();
        tokio::spawn(async move { shop.checkout(Some("key-p"), &request("sess_p")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, reply) = shop.checkout(Some("key-p"), &request("sess_p")).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::CONFLICT, "checkout_in_progress"),
        "{reply}"
    );
    let (status, result) = first.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::CREATED, "{result}");
    assert_eq!(shop.payments.charges().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_that_cannot_be_cleared_does_not_fail_the_checkout() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_c", &[("mug", 1)]);
    shop.cart.fail_delete.store(true, Ordering::SeqCst);
    let (status, result) = shop.checkout(Some("key-c"), &request("sess_c")).await;
    assert_eq!(status, StatusCode::CREATED, "{result}");
    assert_eq!(shop.orders_of("sess_c").await.len(), 1);
    assert_eq!(shop.cart.items("sess_c"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_charge() {
    let shop = Shop::start(STEP).await;
    shop.cart.put("sess_b", &[("mug", 1)]);
    let app = &shop.checkout;
    let post = |headers: Vec<(&'static str, String)>, body: String| async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        call(app, "POST", "/checkout", &headers, Some(&body)).await
    };
    let key = || vec![("idempotency-key", "key-b".to_string())];

    let (status, body) = post(vec![], request("sess_b").to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "missing_idempotency_key")
    );
    let (status, body) = post(vec![], "{oops".into()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "missing_idempotency_key"),
        "the key is checked first"
    );
    for bad in ["", "has space", "semi;colon", &"k".repeat(129)] {
        let (status, body) = post(
            vec![("idempotency-key", bad.to_string())],
            request("sess_b").to_string(),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
            "{bad:?}"
        );
    }
    let (status, body) = post(key(), "{oops".into()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let mut extra = request("sess_b");
    extra["coupon"] = json!("FREE");
    let (status, body) = post(key(), extra.to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "unknown fields: {body}"
    );
    let mut typed = request("sess_b");
    typed["card"]["number"] = json!(4242424242424242_u64);
    let (status, body) = post(key(), typed.to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    assert!(
        !body.to_string().contains("4242424242424242"),
        "no card number echoed: {body}"
    );
    let mut negative = request("sess_b");
    negative["card"]["exp_month"] = json!(-1);
    let (status, body) = post(key(), negative.to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let big = format!(r#"{{"session":"{}"}}"#, "s".repeat(70 * 1024));
    let (status, _) = call_raw(
        app,
        "POST",
        "/checkout",
        &[
            ("idempotency-key", "key-b"),
            ("content-type", "application/json"),
        ],
        Some(big.into_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut bad_session = request("sess b");
    let (status, body) = post(key(), bad_session.to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_session")
    );
    bad_session["session"] = json!("sess_b");
    bad_session["email"] = json!("not-an-address");
    let (status, body) = post(key(), bad_session.to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );

    // An empty cart (never filled) and a cart holding an unknown product.
    let (status, body) = post(key(), request("sess_empty").to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "empty_cart"),
        "{body}"
    );
    shop.cart.put("sess_u", &[("mug", 1), ("ghost", 1)]);
    let (status, body) = post(key(), request("sess_u").to_string()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_product"),
        "{body}"
    );
    // (The same key was reused across different bodies above: refused
    // attempts are not remembered, so none of them conflicts.)

    assert!(shop.payments.charges().is_empty(), "nothing was charged");
    assert!(shop.orders_of("sess_b").await.is_empty());
    let (status, body) = call(app, "GET", "/checkout", &[], None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
