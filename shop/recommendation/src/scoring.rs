//! How related products are ranked: categories shared with what the shopper
//! is looking at count most, popularity breaks ties and fills the list.

use std::collections::{HashMap, HashSet};

use shop_common::api::{Product, Recommendation};

/// Popularity (0..=100) adds at most this much: less than one fully shared
/// category, so for a single product a shared category always ranks first.
const POPULARITY_WEIGHT: f64 = 0.5;
/// From this popularity on, a reason mentions "popular".
const POPULAR_FROM: i64 = 75;

/// What to recommend for: category weights and the ids not to suggest.
pub struct Basis<'a> {
    /// Category -> weight in 0..=1.
    weights: HashMap<&'a str, f64>,
    exclude: HashSet<&'a str>,
}

impl<'a> Basis<'a> {
    /// Related to one product: each of its categories weighs 1.
    pub fn product(product: &'a Product) -> Self {
        Self::cart(&[product])
    }

    /// For a cart: a category weighs the share of cart items that are in it,
    /// so what most of the cart has in common leads. An empty cart gives
    /// plain popularity.
    pub fn cart(items: &[&'a Product]) -> Self {
        let mut weights: HashMap<&'a str, f64> = HashMap::new();
        let share = 1.0 / items.len().max(1) as f64;
        for item in items {
            for category in &item.categories {
                *weights.entry(category.as_str()).or_default() += share;
            }
        }
        Self {
            weights,
            exclude: items.iter().map(|p| p.id.as_str()).collect(),
        }
    }
}

/// Shared categories with their weights.
type Shared<'a> = Vec<(&'a str, f64)>;

/// The best `limit` in-stock products for `basis`, best first; ties go to
/// the more popular, then to the smaller id so answers are stable.
pub fn recommend(catalog: &[Product], basis: &Basis<'_>, limit: usize) -> Vec<Recommendation> {
    let mut scored: Vec<(f64, &Product, Shared<'_>)> = catalog
        .iter()
        .filter(|p| p.stock > 0 && !basis.exclude.contains(p.id.as_str()))
        .map(|p| {
            let shared: Shared<'_> = p
                .categories
                .iter()
                .filter_map(|c| basis.weights.get(c.as_str()).map(|w| (c.as_str(), *w)))
                .collect();
            let popularity = p.popularity.clamp(0, 100) as f64 / 100.0;
            let score = shared.iter().map(|(_, w)| w).sum::<f64>() + POPULARITY_WEIGHT * popularity;
            (score, p, shared)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.popularity.cmp(&a.1.popularity))
            .then_with(|| a.1.id.cmp(&b.1.id))
    });
    scored
        .into_iter()
        .take(limit)
        .map(|(score, product, shared)| Recommendation {
            reason: reason(product, shared),
            score: (score * 1000.0).round() / 1000.0,
            product: product.clone(),
        })
        .collect()
}

/// E.g. "also in kitchen, home; popular": the shared categories, heaviest
/// first, and whether the product is popular.
fn reason(product: &Product, mut shared: Shared<'_>) -> String {
    shared.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let popular = product.popularity >= POPULAR_FROM;
    match (shared.is_empty(), popular) {
        (false, true) => format!("also in {}; popular", names(&shared)),
        (false, false) => format!("also in {}", names(&shared)),
        (true, true) => "popular in the shop".to_string(),
        (true, false) => "more from the shop".to_string(),
    }
}

fn names(shared: &[(&str, f64)]) -> String {
    shared
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_common::{Currency, Money};

    fn p(id: &str, categories: &[&str], popularity: i64, stock: i64) -> Product {
        Product {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            price: Money {
                amount_minor: 100,
                currency: Currency::Usd,
            },
            categories: categories.iter().map(|c| c.to_string()).collect(),
            image: format!("/static/img/{id}.svg"),
            stock,
            popularity,
        }
    }

    fn ids(recs: &[Recommendation]) -> Vec<&str> {
        recs.iter().map(|r| r.product.id.as_str()).collect()
    }

    fn catalog() -> Vec<Product> {
        vec![
            p("a", &["kitchen", "home"], 50, 5),
            p("b", &["kitchen", "home"], 10, 5),
            p("c", &["kitchen"], 90, 5),
            p("d", &["home"], 95, 5),
            p("e", &["audio"], 100, 5),
            p("f", &["kitchen", "home"], 100, 0),
            p("g", &["audio"], 100, 5),
        ]
    }

    #[test]
    fn shared_categories_first_then_popularity() {
        let catalog = catalog();
        let recs = recommend(&catalog, &Basis::product(&catalog[0]), 10);
        // f is out of stock, a is the product itself; e and g tie and go by id.
        assert_eq!(ids(&recs), vec!["b", "d", "c", "e", "g"]);
        assert_eq!(recs[0].reason, "also in home, kitchen");
        assert_eq!(recs[1].reason, "also in home; popular");
        assert_eq!(recs[2].reason, "also in kitchen; popular");
        assert_eq!(recs[3].reason, "popular in the shop");
        assert_eq!(recs[0].score, 2.05);
        assert!(recs.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn cart_weighs_categories_by_share_and_excludes_items() {
        let catalog = catalog();
        let recs = recommend(&catalog, &Basis::cart(&[&catalog[0], &catalog[2]]), 10);
        // kitchen weighs 1 (both items), home 0.5 (one item).
        assert_eq!(ids(&recs), vec!["b", "d", "e", "g"]);
        assert_eq!(recs[0].score, 1.55);
        assert_eq!(recs[0].reason, "also in kitchen, home");
    }

    #[test]
    fn empty_basis_is_plain_popularity_and_limit_holds() {
        let catalog = catalog();
        let recs = recommend(&catalog, &Basis::cart(&[]), 3);
        assert_eq!(ids(&recs), vec!["e", "g", "d"]);
        assert!(recommend(&catalog, &Basis::cart(&[]), 0).is_empty());
        let dull = [p("x", &["books"], 3, 1)];
        assert_eq!(
            recommend(&dull, &Basis::cart(&[]), 3)[0].reason,
            "more from the shop"
        );
    }
}
