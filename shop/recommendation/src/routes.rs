//! `GET /recommendations`: related products for one product or for a cart.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use shop_common::api::{MAX_CART_LINES, Product, RecommendationList, valid_id};
use shop_common::{ApiError, Json, Query};

use crate::AppState;
use crate::scoring::{Basis, recommend};

pub const DEFAULT_LIMIT: u32 = 4;
pub const MAX_LIMIT: u32 = 20;
/// Most product ids in one `products` query: a full cart.
pub const MAX_PRODUCTS: usize = MAX_CART_LINES;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/recommendations", get(recommendations))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    product: Option<String>,
    products: Option<String>,
    limit: Option<u32>,
}

/// A checked request; `Cart` ids are sorted and unique so equal carts share a cache key.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Product(String),
    Cart(Vec<String>),
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

impl Params {
    fn check(self) -> Result<(Wanted, usize), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be within 1..={MAX_LIMIT}")));
        }
        let wanted = match (self.product, self.products) {
            (Some(id), None) => {
                if !valid_id(&id) {
                    return Err(invalid("product must be an id of 1 to 64 of [A-Za-z0-9_-]"));
                }
                Wanted::Product(id)
            }
            (None, Some(list)) => {
                let mut ids = Vec::new();
                for id in list.split(',') {
                    if ids.len() == MAX_PRODUCTS {
                        return Err(invalid(format!(
                            "products holds at most {MAX_PRODUCTS} ids"
                        )));
                    }
                    let id = id.trim();
                    if !valid_id(id) {
                        return Err(invalid(
                            "products must be a comma-separated list of ids of 1 to 64 of [A-Za-z0-9_-]",
                        ));
                    }
                    ids.push(id.to_string());
                }
                ids.sort();
                ids.dedup();
                Wanted::Cart(ids)
            }
            (Some(_), Some(_)) => return Err(invalid("give either product or products, not both")),
            (None, None) => return Err(invalid("give product=<id> or products=<id,id,...>")),
        };
        Ok((wanted, limit as usize))
    }
}

impl Wanted {
    fn cache_key(&self, limit: usize) -> String {
        match self {
            Wanted::Product(id) => format!("product:{id}:{limit}"),
            Wanted::Cart(ids) => format!("cart:{}:{limit}", ids.join(",")),
        }
    }
}

async fn recommendations(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<RecommendationList>, ApiError> {
    let (wanted, limit) = params.check()?;
    let snapshot = state.catalog().snapshot().await?;
    let key = wanted.cache_key(limit);
    if let Some(cached) = state.cached(&key, snapshot.generation) {
        return Ok(Json(RecommendationList {
            data: cached.as_ref().clone(),
        }));
    }
    let data = match &wanted {
        Wanted::Product(id) => {
            let product = snapshot.get(id).ok_or_else(|| {
                ApiError::not_found("unknown_product", format!("no product with id {id:?}"))
            })?;
            recommend(&snapshot.products, &Basis::product(product), limit)
        }
        Wanted::Cart(ids) => {
            // Unknown ids are skipped: a cart can hold products since withdrawn.
            let items: Vec<&Product> = ids.iter().filter_map(|id| snapshot.get(id)).collect();
            recommend(&snapshot.products, &Basis::cart(&items), limit)
        }
    };
    let data = Arc::new(data);
    state.remember(key, snapshot.generation, data.clone());
    Ok(Json(RecommendationList {
        data: data.as_ref().clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(product: Option<&str>, products: Option<&str>, limit: Option<u32>) -> Params {
        Params {
            product: product.map(str::to_string),
            products: products.map(str::to_string),
            limit,
        }
    }

    #[test]
    fn carts_are_normalised_for_the_cache() {
        let (a, _) = params(None, Some("b,a, b"), None).check().expect("valid");
        let (b, _) = params(None, Some("a,b"), None).check().expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.cache_key(4), "cart:a,b:4");
    }

    #[test]
    fn checks_ids_count_and_limit() {
        let fifty = vec!["x"; 50].join(",");
        assert!(params(None, Some(&fifty), Some(20)).check().is_ok());
        let fifty_one = (0..51)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(params(None, Some(&fifty_one), None).check().is_err());
        assert!(params(Some("a"), None, Some(0)).check().is_err());
        assert!(params(Some("a"), None, Some(21)).check().is_err());
        assert!(params(Some(""), None, None).check().is_err());
        assert!(params(None, Some(""), None).check().is_err());
        assert!(params(None, Some("a,,b"), None).check().is_err());
        assert!(params(Some("a"), Some("b"), None).check().is_err());
        assert!(params(None, None, None).check().is_err());
    }
}
