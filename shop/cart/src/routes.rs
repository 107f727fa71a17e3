//! The cart's HTTP API.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use shop_common::api::{
    AddItem, Cart, CartItem, MAX_CART_LINES, MAX_ITEM_QUANTITY, SetQuantity, valid_id,
};
use shop_common::{ApiError, Json, Path, PeerClient};

use crate::catalog;
use crate::store::CartStore;

#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn CartStore>,
    catalog: PeerClient,
}

impl AppState {
    pub fn new(store: Arc<dyn CartStore>, catalog: PeerClient) -> Self {
        Self { store, catalog }
    }
}

/// The API routes (the kit adds health, metrics and chaos).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/carts/{session}", get(get_cart).delete(clear_cart))
        .route("/carts/{session}/items", post(add_item))
        .route(
            "/carts/{session}/items/{product_id}",
            put(set_quantity).delete(remove_item),
        )
        .with_state(state)
}

fn check_session(session: &str) -> Result<(), ApiError> {
    if valid_id(session) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_session",
        "session must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
    ))
}

fn invalid_quantity(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_quantity", message)
}

fn out_of_stock(product_id: &str, stock: i64) -> ApiError {
    ApiError::unprocessable(
        "out_of_stock",
        format!("only {} of product {product_id:?} in stock", stock.max(0)),
    )
}

fn not_in_cart(product_id: &str) -> ApiError {
    let shown: String = product_id.chars().take(64).collect();
    ApiError::not_found("not_found", format!("product {shown:?} is not in the cart"))
}

fn reply(session: String, items: Vec<CartItem>) -> Json<Cart> {
    Json(Cart { session, items })
}

async fn get_cart(
    State(state): State<AppState>,
    Path(session): Path<String>,
) -> Result<Json<Cart>, ApiError> {
    check_session(&session)?;
    let items = state.store.get(&session).await?;
    Ok(reply(session, items))
}

async fn clear_cart(
    State(state): State<AppState>,
    Path(session): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_session(&session)?;
    state.store.remove(&session).await?;
    tracing::info!("cart emptied");
    Ok(StatusCode::NO_CONTENT)
}

/// Adds to the line's quantity. The line takes the product's current name
/// and price from the catalog; checkout prices the order again anyway.
async fn add_item(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Json(add): Json<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    check_session(&session)?;
    if !(1..=MAX_ITEM_QUANTITY).contains(&add.quantity) {
        return Err(invalid_quantity(format!(
            "quantity must be 1 to {MAX_ITEM_QUANTITY}, got {}",
            add.quantity
        )));
    }
    let product = catalog::product(&state.catalog, &add.product_id).await?;
    if add.quantity > product.stock {
        return Err(out_of_stock(&add.product_id, product.stock));
    }
    let change = |items: &mut Vec<CartItem>| -> Result<(), ApiError> {
        if let Some(line) = items
            .iter_mut()
            .find(|line| line.product_id == add.product_id)
        {
            let total = line.quantity.saturating_add(add.quantity);
            if total > MAX_ITEM_QUANTITY {
                return Err(invalid_quantity(format!(
                    "the cart would hold {total} of this product, at most {MAX_ITEM_QUANTITY} are allowed"
                )));
            }
            if total > product.stock {
                return Err(out_of_stock(&add.product_id, product.stock));
            }
            line.quantity = total;
            line.name = product.name.clone();
            line.unit_price = product.price;
            return Ok(());
        }
        if items.len() >= MAX_CART_LINES {
            return Err(ApiError::unprocessable(
                "cart_full",
                format!("a cart holds at most {MAX_CART_LINES} products"),
            ));
        }
        items.push(CartItem {
            product_id: add.product_id.clone(),
            name: product.name.clone(),
            quantity: add.quantity,
            unit_price: product.price,
        });
        Ok(())
    };
    let items = state.store.update(&session, &change).await?;
    tracing::info!(product_id = %add.product_id, quantity = add.quantity, lines = items.len(), "item added to cart");
    Ok(reply(session, items))
}

/// Sets a line's quantity; 0 removes it. Only a raise asks the catalog
/// about stock, so lowering works while the catalog is down.
async fn set_quantity(
    State(state): State<AppState>,
    Path((session, product_id)): Path<(String, String)>,
    Json(set): Json<SetQuantity>,
) -> Result<Json<Cart>, ApiError> {
    check_session(&session)?;
    if !(0..=MAX_ITEM_QUANTITY).contains(&set.quantity) {
        return Err(invalid_quantity(format!(
            "quantity must be 0 to {MAX_ITEM_QUANTITY}, got {}",
            set.quantity
        )));
    }
    if !valid_id(&product_id) {
        return Err(not_in_cart(&product_id));
    }
    let current = state.store.get(&session).await?;
    let Some(line) = current.iter().find(|line| line.product_id == product_id) else {
        return Err(not_in_cart(&product_id));
    };
    let stock = if set.quantity > line.quantity {
        let product = catalog::product(&state.catalog, &product_id).await?;
        if set.quantity > product.stock {
            return Err(out_of_stock(&product_id, product.stock));
        }
        Some(product.stock)
    } else {
        None
    };
    let change = |items: &mut Vec<CartItem>| -> Result<(), ApiError> {
        let Some(index) = items.iter().position(|line| line.product_id == product_id) else {
            return Err(not_in_cart(&product_id));
        };
        if set.quantity == 0 {
            items.remove(index);
            return Ok(());
        }
        if let Some(stock) = stock
            && set.quantity > stock
        {
            return Err(out_of_stock(&product_id, stock));
        }
        items[index].quantity = set.quantity;
        Ok(())
    };
    let items = state.store.update(&session, &change).await?;
    tracing::info!(product_id = %product_id, quantity = set.quantity, lines = items.len(), "cart quantity set");
    Ok(reply(session, items))
}

/// Removes a line; removing a line that is not there is not an error, so a
/// retried DELETE gets the same answer.
async fn remove_item(
    State(state): State<AppState>,
    Path((session, product_id)): Path<(String, String)>,
) -> Result<Json<Cart>, ApiError> {
    check_session(&session)?;
    if !valid_id(&product_id) {
        // No such line can exist; answer with the cart as it is.
        let items = state.store.get(&session).await?;
        return Ok(reply(session, items));
    }
    let change = |items: &mut Vec<CartItem>| -> Result<(), ApiError> {
        items.retain(|line| line.product_id != product_id);
        Ok(())
    };
    let items = state.store.update(&session, &change).await?;
    tracing::info!(product_id = %product_id, lines = items.len(), "item removed from cart");
    Ok(reply(session, items))
}
