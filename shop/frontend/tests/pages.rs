//! The frontend's own handling of bad input and of peers that are down,
//! without any peer running: every failure is an HTML page with the right status.

use std::sync::Arc;

use shop_common::testing::call_raw;
use shop_common::{AlwaysReady, ServiceContext, full_router};
use shop_frontend::{AppState, Config, app};

fn router() -> axum::Router {
    let ctx = ServiceContext::for_tests("frontend");
    // Nothing listens on port 9 (discard) on loopback in tests.
    let nowhere = "http://127.0.0.1:9".to_string();
    let config = Config {
        catalog_url: nowhere.clone(),
        cart_url: nowhere.clone(),
        checkout_url: nowhere.clone(),
        orders_url: nowhere.clone(),
        recommendation_url: nowhere,
    };
    full_router(
        &ctx,
        app(AppState::new(&ctx, &config)),
        Arc::new(AlwaysReady),
    )
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn peers_down_give_a_502_page_and_a_session_cookie_is_not_required() {
    let app = router();
    let (status, body) = call_raw(&app, "GET", "/", &[], None).await;
    assert_eq!(status, 502);
    let body = String::from_utf8(body).expect("utf-8");
    assert!(body.contains("<h1>Something went wrong</h1>"), "{body}");
}

#[tokio::test]
async fn bad_forms_are_refused_before_any_call() {
    let app = router();
    let cases: [(&str, &str, u16); 6] = [
        ("/cart/items", "product_id=a1&quantity=abc", 422),
        ("/cart/items", "product_id=a1&quantity=-1", 422),
        (
            "/cart/items",
            "product_id=a1&quantity=100000000000000000000000",
            422,
        ),
        ("/cart/items", "product_id=..%2Fetc&quantity=1", 404),
        ("/cart/items", "quantity=1", 400),
        (
            "/checkout",
            "request_key=bad%20key&email=a@b&card_number=1&exp_month=1&exp_year=2030&cvc=1",
            400,
        ),
    ];
    for (path, form, expected) in cases {
        let (status, body) =
            call_raw(&app, "POST", path, &[FORM], Some(form.as_bytes().to_vec())).await;
        assert_eq!(
            status.as_u16(),
            expected,
            "{path} {form}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let (status, _) = call_raw(&app, "GET", "/orders/not%20an%20id", &[], None).await;
    assert_eq!(status, 404);
    let (status, _) = call_raw(&app, "GET", &format!("/?q={}", "x".repeat(200)), &[], None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_stylesheet_is_served() {
    let (status, body) = call_raw(&router(), "GET", "/static/style.css", &[], None).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("font-family"));
}
