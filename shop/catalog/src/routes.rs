//! The catalog's HTTP API: product listing and search, one product, and the
//! category list.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use shop_common::api::{Product, ProductList, valid_id};
use shop_common::{ApiError, Json, Path, Query};

use crate::AppState;
use crate::seed::valid_category;
use crate::store::{Search, StoreError};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
/// Deep paging past this is not browsing; refuse rather than scan.
pub const MAX_OFFSET: u32 = 1_000_000;
/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product))
        .route("/categories", get(list_categories))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    q: Option<String>,
    category: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CategoryList {
    pub data: Vec<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

impl ListParams {
    fn into_search(self) -> Result<Search, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be within 1..={MAX_LIMIT}")));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(invalid(format!("offset must be at most {MAX_OFFSET}")));
        }
        let text = match self.q {
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                return Err(invalid(format!(
                    "q must be at most {MAX_QUERY_CHARS} characters"
                )));
            }
            Some(q) if q.chars().any(char::is_control) => {
                return Err(invalid("q must not contain control characters"));
            }
            Some(q) => Some(q.trim().to_lowercase()).filter(|q| !q.is_empty()),
            None => None,
        };
        // Categories are stored lowercase; "Kitchen" means kitchen.
        let category = match self.category.map(|c| c.trim().to_ascii_lowercase()) {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) if valid_category(&c) => Some(c),
            Some(_) => return Err(invalid("category must be 1 to 64 of [a-z0-9_-]")),
        };
        Ok(Search {
            text,
            category,
            limit,
            offset,
        })
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(reason) => {
            tracing::error!(error = %reason, "catalog storage unavailable");
            ApiError::unavailable(
                "storage_unavailable",
                "the catalog's storage is unavailable; try again shortly",
            )
        }
        StoreError::Corrupt(reason) => {
            tracing::error!(error = %reason, "catalog storage holds invalid data");
            ApiError::internal("the catalog could not read a product")
        }
    }
}

async fn list_products(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<ProductList>, ApiError> {
    let search = params.into_search()?;
    let data = state.store().search(&search).await.map_err(store_error)?;
    Ok(Json(ProductList { data }))
}

async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::bad_request(
            "invalid_path",
            "product id must be 1 to 64 of [A-Za-z0-9_-]",
        ));
    }
    match state.store().get(&id).await.map_err(store_error)? {
        Some(product) => Ok(Json(product)),
        None => Err(ApiError::not_found(
            "unknown_product",
            format!("no product with id {id:?}"),
        )),
    }
}

async fn list_categories(State(state): State<AppState>) -> Result<Json<CategoryList>, ApiError> {
    let data = state.store().categories().await.map_err(store_error)?;
    Ok(Json(CategoryList { data }))
}
