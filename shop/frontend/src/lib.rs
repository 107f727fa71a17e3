//! The shop's storefront: server-rendered HTML pages over the other six
//! services, with a session cookie. Works without JavaScript.

mod html;
mod pages;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shop_common::api::{
    self, Cart, CheckoutRequest, CheckoutResult, Order, OrderList, Product, ProductList,
    RecommendationList,
};
use shop_common::config::{ConfigError, EnvSource};
use shop_common::{AlwaysReady, PeerClient, PeerError, Readiness, Service, ServiceContext};

pub use html::{esc, url_encode};
pub use session::{COOKIE_NAME, Session};

pub struct Frontend;

#[derive(Debug, Clone)]
pub struct Config {
    pub catalog_url: String,
    pub cart_url: String,
    pub checkout_url: String,
    pub orders_url: String,
    pub recommendation_url: String,
}

impl Config {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        use shop_common::ports::peer_url;
        Ok(Self {
            catalog_url: peer_url(env, "catalog")?,
            cart_url: peer_url(env, "cart")?,
            checkout_url: peer_url(env, "checkout")?,
            orders_url: peer_url(env, "orders")?,
            recommendation_url: peer_url(env, "recommendation")?,
        })
    }
}

#[derive(Clone)]
pub struct AppState {
    catalog: PeerClient,
    cart: PeerClient,
    checkout: PeerClient,
    orders: PeerClient,
    recommendation: PeerClient,
}

impl AppState {
    pub fn new(ctx: &ServiceContext, config: &Config) -> Self {
        // Checkout runs a saga of several calls; give it room beyond one call's timeout.
        let checkout_timeout = ctx.config.peer_timeout * 5;
        Self {
            catalog: ctx.peer("catalog", &config.catalog_url),
            cart: ctx.peer("cart", &config.cart_url),
            checkout: ctx
                .peer("checkout", &config.checkout_url)
                .with_timeout(checkout_timeout),
            orders: ctx.peer("orders", &config.orders_url),
            recommendation: ctx.peer("recommendation", &config.recommendation_url),
        }
    }
}

impl Service for Frontend {
    const NAME: &'static str = "frontend";
    const DEFAULT_PORT: u16 = 8080;
    type Config = Config;

    fn config(env: &dyn EnvSource) -> Result<Config, ConfigError> {
        Config::from_env(env)
    }

    async fn build(
        ctx: &ServiceContext,
        config: Config,
    ) -> anyhow::Result<(Router, Arc<dyn Readiness>)> {
        Ok((app(AppState::new(ctx, &config)), Arc::new(AlwaysReady)))
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/product/{id}", get(product))
        .route("/cart", get(cart))
        .route("/cart/items", post(add_to_cart))
        .route("/cart/items/{product_id}", post(update_cart_line))
        .route("/checkout", get(checkout_form).post(place_order))
        .route("/orders", get(order_history))
        .route("/orders/{id}", get(order_page))
        .route("/static/style.css", get(stylesheet))
        .with_state(state)
}

/// An error shown to the shopper as an HTML page with the right status.
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
}

impl From<PeerError> for PageError {
    fn from(e: PeerError) -> Self {
        let api = e.into_api_error();
        Self {
            status: api.status,
            message: api.message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            r#"<h1>Something went wrong</h1><p class="error" id="error">{}</p><p><a href="/">Back to the shop</a></p>"#,
            esc(&self.message)
        );
        (self.status, Html(html::page("Error", None, &body))).into_response()
    }
}

type PageResult = Result<Response, PageError>;

/// A page reply that sets the session cookie when the session is new.
fn reply(session: &Session, status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    if let Some((name, value)) = session.set_cookie_header() {
        response.headers_mut().insert(name, value);
    }
    response
}

fn redirect(session: &Session, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some((name, value)) = session.set_cookie_header() {
        response.headers_mut().insert(name, value);
    }
    response
}

async fn cart_count(state: &AppState, session: &Session) -> Option<i64> {
    if session.is_new {
        return Some(0);
    }
    let cart: Cart = state
        .cart
        .get_json(&format!("/carts/{}", session.id))
        .await
        .ok()?;
    Some(cart.items.iter().map(|i| i.quantity).sum())
}

#[derive(Debug, Deserialize)]
struct HomeQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    shop_common::Query(query): shop_common::Query<HomeQuery>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    let q = query.q.unwrap_or_default();
    let category = query.category.unwrap_or_default();
    if q.len() > 100 || category.len() > 100 {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "search text is too long (at most 100 characters)",
        ));
    }
    let mut path = "/products?limit=100".to_string();
    if !q.is_empty() {
        path.push_str(&format!("&q={}", url_encode(&q)));
    }
    if !category.is_empty() {
        path.push_str(&format!("&category={}", url_encode(&category)));
    }
    let (products, categories, count) = tokio::join!(
        state.catalog.get_json::<ProductList>(&path),
        state.catalog.get_json::<serde_json::Value>("/categories"),
        cart_count(&state, &session)
    );
    let products = products?.data;
    let categories: Vec<String> = categories
        .ok()
        .and_then(|v| serde_json::from_value(v["data"].clone()).ok())
        .unwrap_or_default();
    let body = pages::home(&products, &categories, &q, &category);
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page("Products", count, &body),
    ))
}

async fn product(
    State(state): State<AppState>,
    headers: HeaderMap,
    shop_common::Path(id): shop_common::Path<String>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    if !api::valid_id(&id) {
        return Err(PageError::not_found("product"));
    }
    let product_path = format!("/products/{id}");
    let recommendations_path = format!("/recommendations?product={id}&limit=4");
    let (product, recommendations, count) = tokio::join!(
        state.catalog.get_json::<Product>(&product_path),
        state
            .recommendation
            .get_json::<RecommendationList>(&recommendations_path),
        cart_count(&state, &session)
    );
    let product = match product {
        Ok(p) => p,
        Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
            return Err(PageError::not_found("product"));
        }
        Err(e) => return Err(e.into()),
    };
    // Recommendations are optional: the page degrades to none when they fail.
    let recommendations = match recommendations {
        Ok(list) => list.data,
        Err(e) => {
            tracing::warn!(error = %e, "recommendations unavailable");
            Vec::new()
        }
    };
    let body = pages::product(&product, &recommendations);
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page(&product.name, count, &body),
    ))
}

async fn cart(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::from_headers(&headers);
    let cart: Cart = state
        .cart
        .get_json(&format!("/carts/{}", session.id))
        .await?;
    let count = cart.items.iter().map(|i| i.quantity).sum();
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page("Your cart", Some(count), &pages::cart(&cart)),
    ))
}

#[derive(Debug, Deserialize)]
struct AddForm {
    product_id: String,
    quantity: Option<String>,
}

/// Form quantities arrive as text; anything but a small whole number is refused.
fn parse_quantity(raw: Option<&str>, default: i64) -> Result<i64, PageError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|q| (0..=api::MAX_ITEM_QUANTITY).contains(q))
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "quantity must be a whole number from 0 to {}",
                        api::MAX_ITEM_QUANTITY
                    ),
                )
            }),
    }
}

async fn add_to_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AddForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    let Form(form) = form.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let quantity = parse_quantity(form.quantity.as_deref(), 1)?;
    if quantity == 0 {
        return Err(PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity must be at least 1",
        ));
    }
    if !api::valid_id(&form.product_id) {
        return Err(PageError::not_found("product"));
    }
    let body = api::AddItem {
        product_id: form.product_id,
        quantity,
    };
    let _: Cart = state
        .cart
        .post_json(&format!("/carts/{}/items", session.id), &body, None)
        .await?;
    Ok(redirect(&session, "/cart"))
}

#[derive(Debug, Deserialize)]
struct UpdateForm {
    quantity: Option<String>,
}

async fn update_cart_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    shop_common::Path(product_id): shop_common::Path<String>,
    form: Result<Form<UpdateForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    let Form(form) = form.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let quantity = parse_quantity(form.quantity.as_deref(), 0)?;
    if !api::valid_id(&product_id) {
        return Err(PageError::not_found("product"));
    }
    let path = format!("/carts/{}/items/{product_id}", session.id);
    let _: Cart = state
        .cart
        .put_json(&path, &api::SetQuantity { quantity })
        .await?;
    Ok(redirect(&session, "/cart"))
}

async fn checkout_form(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::from_headers(&headers);
    let cart: Cart = state
        .cart
        .get_json(&format!("/carts/{}", session.id))
        .await?;
    let count = cart.items.iter().map(|i| i.quantity).sum();
    let body = pages::checkout(
        &cart,
        &session::new_id(),
        &pages::CheckoutFields::default(),
        None,
    );
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page("Checkout", Some(count), &body),
    ))
}

#[derive(Debug, Deserialize)]
struct CheckoutForm {
    request_key: String,
    email: String,
    card_number: String,
    exp_month: String,
    exp_year: String,
    cvc: String,
}

async fn place_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CheckoutForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    let Form(form) = form.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if !api::valid_id(&form.request_key) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "the checkout form is stale; reload it",
        ));
    }
    let fields = pages::CheckoutFields {
        email: form.email.clone(),
        exp_month: form.exp_month.clone(),
        exp_year: form.exp_year.clone(),
    };
    let month = form.exp_month.trim().parse::<u32>();
    let year = form.exp_year.trim().parse::<u32>();
    let (Ok(exp_month), Ok(exp_year)) = (month, year) else {
        return checkout_again(
            &state,
            &session,
            &form.request_key,
            &fields,
            StatusCode::UNPROCESSABLE_ENTITY,
            "expiry month and year must be numbers",
        )
        .await;
    };
    let request = CheckoutRequest {
        session: session.id.clone(),
        email: form.email.trim().to_string(),
        card: api::Card {
            number: form.card_number.clone(),
            exp_month,
            exp_year,
            cvc: form.cvc.trim().to_string(),
        },
    };
    let placed: Result<CheckoutResult, PeerError> = state
        .checkout
        .post_json("/checkout", &request, Some(&form.request_key))
        .await;
    match placed {
        Ok(result) => {
            tracing::info!(order_id = %result.order.id, "order placed");
            Ok(redirect(&session, &format!("/orders/{}", result.order.id)))
        }
        Err(e) => {
            let api = e.into_api_error();
            if api.status.is_client_error() {
                // The shopper can fix this: show the form again with the reason.
                return checkout_again(
                    &state,
                    &session,
                    &form.request_key,
                    &fields,
                    api.status,
                    &api.message,
                )
                .await;
            }
            Err(PageError::new(
                api.status,
                format!("we could not place your order: {}", api.message),
            ))
        }
    }
}

async fn checkout_again(
    state: &AppState,
    session: &Session,
    request_key: &str,
    fields: &pages::CheckoutFields,
    status: StatusCode,
    message: &str,
) -> PageResult {
    let cart: Cart = state
        .cart
        .get_json(&format!("/carts/{}", session.id))
        .await?;
    let count = cart.items.iter().map(|i| i.quantity).sum();
    // The refused attempt is final for its key (payments remembers a decline
    // per key), so the corrected form gets a fresh one.
    let _ = request_key;
    let body = pages::checkout(&cart, &session::new_id(), fields, Some(message));
    Ok(reply(
        session,
        status,
        html::page("Checkout", Some(count), &body),
    ))
}

async fn order_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    shop_common::Path(id): shop_common::Path<String>,
) -> PageResult {
    let session = Session::from_headers(&headers);
    if !api::valid_id(&id) {
        return Err(PageError::not_found("order"));
    }
    let order: Order = match state.orders.get_json(&format!("/orders/{id}")).await {
        Ok(o) => o,
        Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
            return Err(PageError::not_found("order"));
        }
        Err(e) => return Err(e.into()),
    };
    // Orders are private to the session that placed them.
    if order.session != session.id {
        return Err(PageError::not_found("order"));
    }
    let count = cart_count(&state, &session).await;
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page("Order confirmed", count, &pages::order(&order)),
    ))
}

async fn order_history(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = Session::from_headers(&headers);
    let orders_path = format!("/orders?session={}&limit=50", session.id);
    let (orders, count) = tokio::join!(
        state.orders.get_json::<OrderList>(&orders_path),
        cart_count(&state, &session)
    );
    Ok(reply(
        &session,
        StatusCode::OK,
        html::page("Your orders", count, &pages::order_history(&orders?.data)),
    ))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
        .into_response()
}
