//! The products a fresh catalog starts with, embedded in the binary and
//! checked at start-up so a bad edit to the JSON fails loudly before serving.

use std::collections::HashSet;

use shop_common::Currency;
use shop_common::api::{Product, valid_id};

const SEED_JSON: &str = include_str!("../seed/products.json");

/// Longest product name the catalog accepts.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description the catalog accepts.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most categories one product may have.
pub const MAX_CATEGORIES: usize = 8;
/// Most products a seed may hold; the in-memory store keeps them all.
pub const MAX_SEED_PRODUCTS: usize = 10_000;

/// The embedded seed, parsed and validated.
pub fn products() -> anyhow::Result<Vec<Product>> {
    let products: Vec<Product> = serde_json::from_str(SEED_JSON)
        .map_err(|e| anyhow::anyhow!("seed/products.json is not a list of products: {e}"))?;
    validate_all(&products)?;
    Ok(products)
}

/// Checks a whole product list: each product valid, ids unique, size bounded.
pub fn validate_all(products: &[Product]) -> anyhow::Result<()> {
    if products.is_empty() {
        anyhow::bail!("the product list is empty");
    }
    if products.len() > MAX_SEED_PRODUCTS {
        anyhow::bail!(
            "{} products is more than the {MAX_SEED_PRODUCTS} allowed",
            products.len()
        );
    }
    let mut ids = HashSet::new();
    for product in products {
        validate(product).map_err(|e| anyhow::anyhow!("product {:?}: {e}", product.id))?;
        if !ids.insert(product.id.as_str()) {
            anyhow::bail!("product id {:?} appears twice", product.id);
        }
    }
    Ok(())
}

/// Checks one product against the catalog's rules.
pub fn validate(product: &Product) -> Result<(), String> {
    if !valid_id(&product.id) {
        return Err("id must be 1 to 64 of [A-Za-z0-9_-]".into());
    }
    let name_chars = product.name.chars().count();
    if product.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
        return Err(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if product.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    if product.price.amount_minor <= 0 {
        return Err("price must be positive".into());
    }
    if product.price.currency != Currency::Usd {
        return Err("price must be in USD".into());
    }
    if product.categories.is_empty() || product.categories.len() > MAX_CATEGORIES {
        return Err(format!("must have 1 to {MAX_CATEGORIES} categories"));
    }
    let mut seen = HashSet::new();
    for category in &product.categories {
        if !valid_category(category) {
            return Err(format!(
                "category {category:?} must be 1 to 64 of [a-z0-9_-]"
            ));
        }
        if !seen.insert(category.as_str()) {
            return Err(format!("category {category:?} is listed twice"));
        }
    }
    if !product.image.starts_with('/')
        || product.image.len() > 200
        || product.image.chars().any(char::is_whitespace)
    {
        return Err(
            "image must be a relative URL path starting with '/' of at most 200 characters".into(),
        );
    }
    if product.stock < 0 {
        return Err("stock must not be negative".into());
    }
    if !(0..=100).contains(&product.popularity) {
        return Err("popularity must be within 0..=100".into());
    }
    Ok(())
}

/// Category names are lowercase ids, so they are safe in URLs and filters.
pub fn valid_category(category: &str) -> bool {
    valid_id(category) && !category.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_common::Money;

    #[test]
    fn embedded_seed_is_valid_and_broad() {
        let products = products().unwrap_or_else(|e| panic!("seed is invalid: {e:#}"));
        assert!(
            products.len() >= 36,
            "seed has only {} products",
            products.len()
        );
        let categories: HashSet<&str> = products
            .iter()
            .flat_map(|p| p.categories.iter().map(String::as_str))
            .collect();
        for expected in ["kitchen", "outdoor", "office", "audio", "books", "home"] {
            assert!(categories.contains(expected), "no product in {expected}");
        }
        for p in &products {
            assert_eq!(p.image, format!("/static/img/{}.svg", p.id));
        }
    }

    fn sample() -> Product {
        Product {
            id: "x-1".into(),
            name: "X".into(),
            description: String::new(),
            price: Money {
                amount_minor: 100,
                currency: Currency::Usd,
            },
            categories: vec!["kitchen".into()],
            image: "/static/img/x-1.svg".into(),
            stock: 1,
            popularity: 50,
        }
    }

    #[test]
    fn rejects_bad_products() {
        assert!(validate(&sample()).is_ok());
        let bad: Vec<fn(&mut Product)> = vec![
            |p| p.id = "has space".into(),
            |p| p.id = String::new(),
            |p| p.name = "  ".into(),
            |p| p.price.amount_minor = 0,
            |p| p.price.amount_minor = -5,
            |p| p.price.currency = Currency::Eur,
            |p| p.categories.clear(),
            |p| p.categories = vec!["Kitchen".into()],
            |p| p.categories = vec!["a".into(), "a".into()],
            |p| p.image = "http://elsewhere/x.svg".into(),
            |p| p.stock = -1,
            |p| p.popularity = 101,
        ];
        for (i, spoil) in bad.iter().enumerate() {
            let mut p = sample();
            spoil(&mut p);
            assert!(validate(&p).is_err(), "case {i} should be rejected: {p:?}");
        }
    }

    #[test]
    fn rejects_duplicate_ids() {
        assert!(validate_all(&[sample(), sample()]).is_err());
        assert!(validate_all(&[]).is_err());
    }
}
