//! The wire types of the shop's services: one place for each contract, used
//! by the service that serves it and by every caller.

use serde::{Deserialize, Serialize};

use crate::Money;

// ---- catalog -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price: Money,
    pub categories: Vec<String>,
    pub image: String,
    pub stock: i64,
    /// Relative popularity, 0..=100, used by recommendations.
    pub popularity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductList {
    pub data: Vec<Product>,
}

// ---- cart ------------------------------------------------------------------

/// Largest quantity of one product in a cart.
pub const MAX_ITEM_QUANTITY: i64 = 99;
/// Most distinct products in one cart.
pub const MAX_CART_LINES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartItem {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    /// The unit price when the item was added; checkout re-prices from catalog.
    pub unit_price: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub session: String,
    pub items: Vec<CartItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub product_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    pub quantity: i64,
}

// ---- payments --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub amount: Money,
    pub card: Card,
    /// Free text shown on the statement, e.g. the checkout id.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: Money,
    pub status: ChargeStatus,
    /// Only the last four digits are ever kept.
    pub card_last4: String,
    pub card_brand: String,
    pub reference: String,
    pub created_at: String,
}

// ---- orders ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// The checkout that placed the order; creating twice with it returns the first order.
    pub checkout_id: String,
    pub session: String,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub charge_id: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub checkout_id: String,
    pub session: String,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub charge_id: String,
    pub email: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderList {
    pub data: Vec<Order>,
}

// ---- checkout --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub session: String,
    pub email: String,
    pub card: Card,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutResult {
    pub checkout_id: String,
    pub order: Order,
}

// ---- recommendation --------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub product: Product,
    /// Why it is recommended, for people: e.g. "shares kitchen, popular".
    pub reason: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationList {
    pub data: Vec<Recommendation>,
}

/// Session ids and other ids from outside: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Not a full RFC 5322 parser: one '@' with something printable on both sides.
pub fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}
