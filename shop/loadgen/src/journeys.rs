//! The shopper journeys and their weights: browse 10, product page 5, add
//! to cart 3, checkout 1, order history 1.

use std::sync::RwLock;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;

use crate::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journey {
    Browse,
    ProductPage,
    AddToCart,
    Checkout,
    OrderHistory,
}

impl std::str::FromStr for Journey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "browse" => Ok(Journey::Browse),
            "product" => Ok(Journey::ProductPage),
            "add_to_cart" => Ok(Journey::AddToCart),
            "checkout" => Ok(Journey::Checkout),
            "order_history" => Ok(Journey::OrderHistory),
            other => Err(format!(
                "unknown journey {other:?}: one of browse, product, add_to_cart, checkout, order_history"
            )),
        }
    }
}

pub const WEIGHTS: [(Journey, u32); 5] = [
    (Journey::Browse, 10),
    (Journey::ProductPage, 5),
    (Journey::AddToCart, 3),
    (Journey::Checkout, 1),
    (Journey::OrderHistory, 1),
];

/// Draws journeys by weight, repeatably from a seed.
pub struct Mix {
    rng: StdRng,
    total: u32,
}

impl Mix {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            total: WEIGHTS.iter().map(|(_, w)| w).sum(),
        }
    }

    pub fn draw(&mut self) -> Journey {
        let mut pick = self.rng.random_range(0..self.total);
        for (journey, weight) in WEIGHTS {
            if pick < weight {
                return journey;
            }
            pick -= weight;
        }
        Journey::Browse
    }
}

pub fn random_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// Talks to the frontend as a browser would, with a session cookie.
pub struct Shopper {
    http: reqwest::Client,
    base: String,
    products: RwLock<Vec<String>>,
}

/// Test card that the payments service accepts.
const GOOD_CARD: &str = "4242 4242 4242 4242";

impl Shopper {
    pub fn new(http: reqwest::Client, base: String) -> Self {
        Self {
            http,
            base,
            products: RwLock::new(Vec::new()),
        }
    }

    /// Reads the product ids linked from the home page.
    pub async fn discover_products(&self) -> anyhow::Result<()> {
        let page = self.http.get(format!("{}/", self.base)).send().await?;
        if !page.status().is_success() {
            anyhow::bail!("home page answered {}", page.status());
        }
        let ids = product_ids(&page.text().await?);
        if ids.is_empty() {
            anyhow::bail!("the home page links no products");
        }
        if let Ok(mut products) = self.products.write() {
            *products = ids;
        }
        Ok(())
    }

    fn random_product(&self) -> String {
        let products = self.products.read().map(|p| p.clone()).unwrap_or_default();
        if products.is_empty() {
            return "unknown".into();
        }
        products[rand::rng().random_range(0..products.len())].clone()
    }

    async fn request(
        &self,
        stats: &Stats,
        step: &'static str,
        session: &str,
        builder: reqwest::RequestBuilder,
        expect: &[StatusCode],
    ) -> Option<(StatusCode, String, Option<String>)> {
        let started = Instant::now();
        let result = builder
            .header(reqwest::header::COOKIE, format!("shop_session={session}"))
            .send()
            .await;
        let outcome = match result {
            Ok(resp) => {
                let status = resp.status();
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match resp.text().await {
                    Ok(body) => Some((status, body, location)),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let ok = outcome
            .as_ref()
            .is_some_and(|(status, _, _)| expect.contains(status));
        stats.record(step, started.elapsed(), ok);
        if ok { outcome } else { None }
    }

    async fn get(
        &self,
        stats: &Stats,
        step: &'static str,
        session: &str,
        path: &str,
    ) -> Option<String> {
        self.request(
            stats,
            step,
            session,
            self.http.get(format!("{}{path}", self.base)),
            &[StatusCode::OK],
        )
        .await
        .map(|(_, body, _)| body)
    }

    async fn post_form(
        &self,
        stats: &Stats,
        step: &'static str,
        session: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Option<String> {
        let builder = self.http.post(format!("{}{path}", self.base)).form(form);
        self.request(
            stats,
            step,
            session,
            builder,
            &[StatusCode::SEE_OTHER, StatusCode::FOUND],
        )
        .await
        .and_then(|(_, _, location)| location)
    }

    pub async fn run(&self, journey: Journey, session: &str, stats: &Stats) {
        match journey {
            Journey::Browse => {
                self.get(stats, "browse", session, "/").await;
            }
            Journey::ProductPage => {
                let id = self.random_product();
                self.get(stats, "product", session, &format!("/product/{id}"))
                    .await;
            }
            Journey::AddToCart => {
                self.add_to_cart(stats, session).await;
            }
            Journey::Checkout => {
                if self.add_to_cart(stats, session).await.is_none() {
                    return;
                }
                let Some(form) = self.get(stats, "checkout_form", session, "/checkout").await
                else {
                    return;
                };
                let Some(key) = hidden_value(&form, "request_key") else {
                    return;
                };
                let fields = [
                    ("request_key", key.as_str()),
                    ("email", "loadgen@example.com"),
                    ("card_number", GOOD_CARD),
                    ("exp_month", "12"),
                    ("exp_year", "2030"),
                    ("cvc", "123"),
                ];
                let Some(location) = self
                    .post_form(stats, "place_order", session, "/checkout", &fields)
                    .await
                else {
                    return;
                };
                self.get(stats, "confirmation", session, &location).await;
            }
            Journey::OrderHistory => {
                self.get(stats, "order_history", session, "/orders").await;
            }
        }
    }

    async fn add_to_cart(&self, stats: &Stats, session: &str) -> Option<()> {
        let id = self.random_product();
        self.get(stats, "product", session, &format!("/product/{id}"))
            .await?;
        let location = self
            .post_form(
                stats,
                "add_to_cart",
                session,
                "/cart/items",
                &[("product_id", &id), ("quantity", "1")],
            )
            .await?;
        self.get(stats, "view_cart", session, &location)
            .await
            .map(|_| ())
    }
}

/// Product ids from `href="/product/<id>"` links, in page order, without repeats.
pub fn product_ids(html: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in html.split("href=\"/product/").skip(1) {
        if let Some(end) = chunk.find('"') {
            let id = &chunk[..end];
            if !id.is_empty() && !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// The value of `<input type="hidden" name="NAME" value="...">`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_follows_the_weights() {
        let mut mix = Mix::new(7);
        let n = 20_000;
        let browse = (0..n).filter(|_| mix.draw() == Journey::Browse).count() as f64 / n as f64;
        assert!((browse - 0.5).abs() < 0.02, "browse share {browse}");
    }

    #[test]
    fn reads_links_and_hidden_fields() {
        let html = r#"<a href="/product/a1">A</a><a href="/product/b2">B</a><a href="/product/a1">A</a><input type="hidden" name="request_key" value="k123">"#;
        assert_eq!(product_ids(html), vec!["a1", "b2"]);
        assert_eq!(hidden_value(html, "request_key").as_deref(), Some("k123"));
        assert_eq!(hidden_value(html, "nope"), None);
    }
}
