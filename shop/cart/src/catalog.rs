//! Looking products up in the catalog before they go into a cart.

use axum::http::StatusCode;
use shop_common::api::{Product, valid_id};
use shop_common::{ApiError, PeerClient, PeerError};

/// The product, or 422 `unknown_product` when the catalog does not know it;
/// 502/504 when the catalog cannot answer.
pub async fn product(catalog: &PeerClient, product_id: &str) -> Result<Product, ApiError> {
    if !valid_id(product_id) {
        return Err(unknown(product_id));
    }
    match catalog
        .get_json::<Product>(&format!("/products/{product_id}"))
        .await
    {
        Ok(product) => Ok(product),
        Err(PeerError::Status {
            status: StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST,
            ..
        }) => Err(unknown(product_id)),
        Err(e) => {
            tracing::warn!(error = %e, "catalog lookup failed");
            Err(e.into_api_error())
        }
    }
}

fn unknown(product_id: &str) -> ApiError {
    let shown: String = product_id.chars().take(64).collect();
    ApiError::unprocessable("unknown_product", format!("no product with id {shown:?}"))
}
