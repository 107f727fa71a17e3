//! The shopping journey once in a real browser: headless Chromium driven
//! through chromedriver (WebDriver), clicking through the pages as a shopper
//! would. A screenshot of the confirmation page is kept as an artifact.

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use support::{Shop, free_port, required_env};

struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_shopper_buys_in_chromium() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(chromedriver) = required_env(
        "SHOP_TEST_CHROMEDRIVER",
        "chromedriver (Debian chromium-driver)",
    ) else {
        return;
    };
    let shop = Shop::start(&HashMap::new()).await;
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1000"]}),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut connected = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&webdriver)
            .await
        {
            Ok(c) => {
                connected = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let browser = connected.expect("connect to chromedriver");
    let result = async {
        let frontend = shop.url("frontend");
        browser.goto(&frontend).await?;
        let products = browser.find_all(Locator::Css("a.product-link")).await?;
        assert!(products.len() >= 30, "{} products listed", products.len());
        products[3].click().await?;
        browser
            .wait()
            .for_element(Locator::Id("add-button"))
            .await?;
        let name = browser
            .find(Locator::Id("product-name"))
            .await?
            .text()
            .await?;
        browser
            .find(Locator::Id("add-button"))
            .await?
            .click()
            .await?;
        browser.wait().for_element(Locator::Id("cart")).await?;
        let cart = browser.find(Locator::Id("cart")).await?.text().await?;
        assert!(cart.contains(&name), "cart shows {name}: {cart}");
        browser
            .find(Locator::Id("checkout-link"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Id("checkout-form"))
            .await?;
        for (id, value) in [
            ("email", "browser@example.com"),
            ("card_number", "4242 4242 4242 4242"),
            ("exp_month", "11"),
            ("exp_year", "2030"),
            ("cvc", "321"),
        ] {
            browser
                .find(Locator::Id(id))
                .await?
                .send_keys(value)
                .await?;
        }
        browser
            .find(Locator::Id("place-order"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Id("confirmation"))
            .await?;
        let order_id = browser.find(Locator::Id("order-id")).await?.text().await?;
        let screenshot = browser.screenshot().await?;
        let dir =
            std::env::var("SHOP_TEST_ARTIFACTS").unwrap_or_else(|_| "target/test-artifacts".into());
        std::fs::create_dir_all(&dir).expect("artifact dir");
        std::fs::write(format!("{dir}/confirmation.png"), &screenshot).expect("write screenshot");
        Ok::<_, fantoccini::error::CmdError>(order_id)
    }
    .await;
    let _ = browser.close().await;
    let order_id = result.expect("the journey in the browser");
    let order: serde_json::Value =
        reqwest::get(format!("{}/orders/{order_id}", shop.url("orders")))
            .await
            .expect("orders reachable")
            .json()
            .await
            .expect("order json");
    assert_eq!(order["email"], "browser@example.com");
}
