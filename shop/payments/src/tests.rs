//! The payments API driven in memory through the full router.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use chrono::Datelike;
use serde_json::{Value, json};
use shop_common::api::{Card, Charge, ChargeStatus};
use shop_common::config::MapEnv;
use shop_common::testing::{call, call_raw};
use shop_common::{AlwaysReady, Currency, Money, Service, ServiceContext, full_router};

use crate::card::{self, brand, luhn_valid, redact_numbers};
use crate::store::{Attempt, ChargeStore};
use crate::{AppState, app, rules};

const GOOD: &str = "4242424242424242";

fn setup() -> (Router, Arc<ChargeStore>) {
    let store = Arc::new(ChargeStore::new(1000));
    let ctx = ServiceContext::for_tests("payments");
    (
        full_router(
            &ctx,
            app(AppState::new(store.clone())),
            Arc::new(AlwaysReady),
        ),
        store,
    )
}

fn next_year() -> u32 {
    (chrono::Utc::now().year() + 1) as u32
}

fn request(number: &str, amount: i64, reference: &str) -> Value {
    json!({
        "amount": {"amount_minor": amount, "currency": "USD"},
        "card": {"number": number, "exp_month": 12, "exp_year": next_year(), "cvc": "123"},
        "reference": reference,
    })
}

async fn post_charge(app: &Router, key: Option<&str>, body: &str) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    call(app, "POST", "/charges", &headers, Some(body)).await
}

async fn charge(app: &Router, key: &str, body: &Value) -> (StatusCode, Value) {
    post_charge(app, Some(key), &body.to_string()).await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn luhn() {
    for good in [
        GOOD,
        "4000000000000002",
        "4000000000009995",
        "5555555555554444",
        "378282246310005",
        "79927398713",
    ] {
        assert!(luhn_valid(good), "{good}");
    }
    for bad in [
        "4242424242424241",
        "79927398710",
        "",
        "12a4",
        "1234567812345678",
    ] {
        assert!(!luhn_valid(bad), "{bad}");
    }
}

#[test]
fn brands_from_prefixes() {
    let cases = [
        (GOOD, "visa"),
        ("5105105105105100", "mastercard"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("2720990000000000", "mastercard"),
        ("2220990000000000", "unknown"),
        ("2721000000000000", "unknown"),
        ("378282246310005", "amex"),
        ("341111111111111", "amex"),
        ("6011111111111117", "unknown"),
        ("5605105105105100", "unknown"),
    ];
    for (number, want) in cases {
        assert_eq!(brand(number), want, "{number}");
    }
}

#[test]
fn card_checks_name_the_field() {
    let card = |number: &str, month: u32, year: u32, cvc: &str| Card {
        number: number.into(),
        exp_month: month,
        exp_year: year,
        cvc: cvc.into(),
    };
    let ok = card::check(&card("4242 4242 4242 4242", 6, 2030, "123"), 2030, 6)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (ok.last4.as_str(), ok.brand, ok.digits.as_str()),
        ("4242", "visa", GOOD)
    );
    assert!(
        !format!("{ok:?}").contains(GOOD),
        "debug output hides the number"
    );
    assert!(
        card::check(&card(GOOD, 6, 2030, "1234"), 2030, 6).is_ok(),
        "4-digit cvc"
    );
    let bad = [
        (card("4242-4242-4242-4242", 6, 2030, "123"), "card.number"),
        (card("424242424", 6, 2030, "123"), "card.number"),
        (card("42424242424242424242", 6, 2030, "123"), "card.number"),
        (card(&"4".repeat(100), 6, 2030, "123"), "card.number"),
        (card("4242424242424241", 6, 2030, "123"), "Luhn"),
        (card("", 6, 2030, "123"), "card.number"),
        (card(GOOD, 0, 2030, "123"), "card.exp_month"),
        (card(GOOD, 13, 2030, "123"), "card.exp_month"),
        (card(GOOD, 5, 2030, "123"), "expired"),
        (card(GOOD, 12, 2029, "123"), "expired"),
        (card(GOOD, 1, 30, "123"), "expired"),
        (card(GOOD, 1, 2100, "123"), "card.exp_year"),
        (card(GOOD, 1, u32::MAX, "123"), "card.exp_year"),
        (card(GOOD, 6, 2030, "12"), "card.cvc"),
        (card(GOOD, 6, 2030, "12345"), "card.cvc"),
        (card(GOOD, 6, 2030, "12a"), "card.cvc"),
    ];
    for (c, field) in bad {
        let err = card::check(&c, 2030, 6)
            .map(|_| ())
            .expect_err(&format!("{c:?} must be refused"));
        assert_eq!(err.code, "invalid_card");
        assert!(
            err.message.contains(field),
            "{} should name {field}",
            err.message
        );
    }
}

#[test]
fn redaction_masks_long_digit_runs_only() {
    assert_eq!(
        redact_numbers("invalid type: integer `4242424242424242`, expected a string"),
        "invalid type: integer `[redacted]`, expected a string"
    );
    assert_eq!(
        redact_numbers("got \"4242 4242 4242 4242\" at line 1 column 40"),
        "got \"[redacted]\" at line 1 column 40"
    );
    assert_eq!(
        redact_numbers("at line 1 column 12345"),
        "at line 1 column 12345"
    );
}

#[tokio::test]
async fn a_valid_charge_succeeds_and_can_be_read() {
    let (app, _) = setup();
    let (status, body) = charge(
        &app,
        "k1",
        &request("4242 4242 4242 4242", 1999, "checkout-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: Charge =
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("charge: {e}"));
    assert!(
        created.id.starts_with("ch_") && created.id.len() == 27,
        "{}",
        created.id
    );
    assert_eq!(
        created.amount,
        Money {
            amount_minor: 1999,
            currency: Currency::Usd
        }
    );
    assert_eq!(
        (
            created.status,
            created.card_last4.as_str(),
            created.card_brand.as_str()
        ),
        (ChargeStatus::Succeeded, "4242", "visa")
    );
    assert_eq!(created.reference, "checkout-1");
    assert!(chrono::DateTime::parse_from_rfc3339(&created.created_at).is_ok());
    let (status, read) = call(&app, "GET", &format!("/charges/{}", created.id), &[], None).await;
    assert_eq!((status, read), (StatusCode::OK, body));
    // EUR and no reference are fine too.
    let eur = json!({"amount":{"amount_minor":5,"currency":"EUR"},"card":{"number":"5555555555554444","exp_month":12,"exp_year":next_year(),"cvc":"999"}});
    let (status, body) = charge(&app, "k2", &eur).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["card_brand"].as_str(), body["reference"].as_str()),
        (Some("mastercard"), Some(""))
    );
}

#[tokio::test]
async fn each_decline_rule() {
    let (app, store) = setup();
    let cases = [
        ("4000000000000002", 1000, "card_declined"),
        ("4000000000009995", 1000, "insufficient_funds"),
        (GOOD, rules::AMOUNT_LIMIT_MINOR + 1, "amount_limit"),
        ("5555555555554444", 10_000_000, "amount_limit"),
        // Card rules come first.
        ("4000000000000002", 600_000, "card_declined"),
    ];
    for (i, (number, amount, want)) in cases.into_iter().enumerate() {
        let (status, body) = charge(&app, &format!("d{i}"), &request(number, amount, "r")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::PAYMENT_REQUIRED, want),
            "{number} {amount}: {body}"
        );
    }
    assert_eq!(store.len(), 0, "declines make no charge");
    let (status, _) = charge(
        &app,
        "at-limit",
        &request(GOOD, rules::AMOUNT_LIMIT_MINOR, "r"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn test_cards_are_published_and_match_the_rules() {
    let (app, _) = setup();
    let (status, body) = call(&app, "GET", "/charges/test-cards", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["amount_limit_minor"], rules::AMOUNT_LIMIT_MINOR);
    let cards = body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(cards.len(), 3);
    for (i, card) in cards.iter().enumerate() {
        let number = card["number"].as_str().unwrap_or("");
        let (status, reply) = charge(&app, &format!("t{i}"), &request(number, 100, "r")).await;
        assert_eq!(
            u64::from(status.as_u16()),
            card["status"].as_u64().unwrap_or(0),
            "{number}"
        );
        let outcome = if status == StatusCode::CREATED {
            "succeeded"
        } else {
            code(&reply)
        };
        assert_eq!(Some(outcome), card["outcome"].as_str(), "{number}");
    }
}

#[tokio::test]
async fn idempotent_repeat_returns_the_same_charge() {
    let (app, store) = setup();
    let body = request(GOOD, 2500, "checkout-9");
    let (first_status, first) = charge(&app, "same-key", &body).await;
    assert_eq!(first_status, StatusCode::CREATED);
    let (again_status, again) = charge(&app, "same-key", &body).await;
    assert_eq!((again_status, &again), (StatusCode::CREATED, &first));
    let (status, raw) = call_raw(
        &app,
        "POST",
        "/charges",
        &[("Idempotency-Key", "same-key")],
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).unwrap_or_default(),
        first
    );
    assert_eq!(store.len(), 1);
    // Another key is another charge.
    let (_, other) = charge(&app, "other-key", &body).await;
    assert_ne!(other["id"], first["id"]);
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn the_same_key_for_a_different_request_conflicts() {
    let (app, store) = setup();
    assert_eq!(
        charge(&app, "k", &request(GOOD, 2500, "a")).await.0,
        StatusCode::CREATED
    );
    for different in [
        request(GOOD, 2501, "a"),
        request(GOOD, 2500, "b"),
        request("5555555555554444", 2500, "a"),
    ] {
        let (status, body) = charge(&app, "k", &different).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "idempotency_conflict"),
            "{different}"
        );
    }
    // A different card with the same last four is the same request.
    assert_eq!(
        charge(&app, "k", &request("4111111111904242", 2500, "a"))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn declines_are_remembered_per_key() {
    let (app, store) = setup();
    let declined = request("4000000000009995", 700, "x");
    let (status, first) = charge(&app, "dk", &declined).await;
    assert_eq!(
        (status, code(&first)),
        (StatusCode::PAYMENT_REQUIRED, "insufficient_funds")
    );
    let (status, again) = charge(&app, "dk", &declined).await;
    assert_eq!((status, &again), (StatusCode::PAYMENT_REQUIRED, &first));
    let (status, body) = charge(&app, "dk", &request(GOOD, 700, "x")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    assert_eq!(store.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_charge_once() {
    let (app, store) = setup();
    let body = request(GOOD, 4200, "race").to_string();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            let body = body.clone();
            tokio::spawn(async move { post_charge(&app, Some("race-key"), &body).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let (status, reply) = task.await.unwrap_or_else(|e| panic!("task: {e}"));
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        ids.push(reply["id"].as_str().unwrap_or("").to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one charge id for all: {ids:?}");
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn refunds_are_idempotent() {
    let (app, _) = setup();
    let (_, created) = charge(&app, "rk", &request(GOOD, 999, "r")).await;
    let id = created["id"].as_str().unwrap_or("").to_string();
    let (status, refunded) = call(&app, "POST", &format!("/charges/{id}/refund"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(
        (&refunded["id"], &refunded["amount"]),
        (&created["id"], &created["amount"])
    );
    let (status, again) = call(&app, "POST", &format!("/charges/{id}/refund"), &[], None).await;
    assert_eq!((status, &again), (StatusCode::OK, &refunded));
    let (_, read) = call(&app, "GET", &format!("/charges/{id}"), &[], None).await;
    assert_eq!(read, refunded);
    for unknown in ["ch_nope", "bad.id", "%20"] {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/charges/{unknown}/refund"),
            &[],
            None,
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "unknown_charge"),
            "{unknown}"
        );
        let (status, body) = call(&app, "GET", &format!("/charges/{unknown}"), &[], None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "unknown_charge"),
            "{unknown}"
        );
    }
}

#[tokio::test]
async fn idempotency_key_header_is_checked() {
    let (app, store) = setup();
    let body = request(GOOD, 100, "r").to_string();
    let (status, reply) = post_charge(&app, None, &body).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "missing_idempotency_key")
    );
    let long = "k".repeat(129);
    for bad in ["", "has space", "semi;colon", "é", long.as_str()] {
        let (status, reply) = post_charge(&app, Some(bad), &body).await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
            "{bad:?}"
        );
    }
    assert_eq!(
        post_charge(&app, Some(&"k".repeat(128)), &body).await.0,
        StatusCode::CREATED
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_with_json_errors() {
    let (app, store) = setup();
    let year = next_year();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("[]".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            json!({"amount":{"amount_minor":"10","currency":"USD"},"card":{"number":GOOD,"exp_month":1,"exp_year":year,"cvc":"123"}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"amount":{"amount_minor":10,"currency":"GBP"},"card":{"number":GOOD,"exp_month":1,"exp_year":year,"cvc":"123"}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"amount":{"amount_minor":10,"currency":"USD"},"card":{"number":GOOD,"exp_month":1,"exp_year":year,"cvc":"123","extra":1}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"amount":{"amount_minor":10,"currency":"USD"},"card":{"number":GOOD,"exp_month":1,"exp_year":year,"cvc":"123"},"tip":5}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"amount":{"amount_minor":10,"currency":"USD"},"card":{"number":GOOD,"exp_month":-1,"exp_year":year,"cvc":"123"}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (request(GOOD, -100, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        (request(GOOD, 0, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        (request(GOOD, 10_000_001, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        (request(GOOD, i64::MAX, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        (
            r#"{"amount":{"amount_minor":1e40,"currency":"USD"},"card":{"number":"4242424242424242","exp_month":1,"exp_year":2099,"cvc":"123"}}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (request("4242424242424241", 100, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_card"),
        (request("abcd", 100, "r").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_card"),
        (request(GOOD, 100, &"r".repeat(201)).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"),
        (request(GOOD, 100, "line\nbreak").to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"),
    ];
    for (i, (raw, want_status, want_code)) in cases.into_iter().enumerate() {
        let (status, body) = post_charge(&app, Some(&format!("bad{i}")), &raw).await;
        assert_eq!(
            (status, code(&body)),
            (want_status, want_code),
            "{raw}: {body}"
        );
    }
    let mut expired = request(GOOD, 100, "r");
    expired["card"]["exp_year"] = json!(chrono::Utc::now().year() - 1);
    let (status, body) = charge(&app, "expired", &expired).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_card")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("exp"),
        "{body}"
    );

    let huge = format!(r#"{{"reference":"{}"}}"#, "x".repeat(70 * 1024));
    let (status, body) = post_charge(&app, Some("huge"), &huge).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    let (status, body) = call(
        &app,
        "POST",
        "/charges",
        &[("Idempotency-Key", "ct"), ("content-type", "text/plain")],
        Some("{}"),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    assert_eq!(store.len(), 0);
}

/// Every response to a charge request (success, replay, decline, conflict,
/// bad input quoting the number) is free of the full number.
#[tokio::test]
async fn the_full_number_never_appears_in_a_response() {
    let (app, store) = setup();
    let year = next_year();
    let bodies = [
        request(GOOD, 100, "r").to_string(),
        request(GOOD, 100, "r").to_string(),
        request(GOOD, 101, "r").to_string(),
        request("4000000000000002", 100, "r").to_string(),
        request("4242 4242 4242 4242", 900_000, "r").to_string(),
        json!({"amount":{"amount_minor":100,"currency":"USD"},"card":{"number":4242424242424242_i64,"exp_month":1,"exp_year":year,"cvc":"123"}}).to_string(),
        json!({"amount":{"amount_minor":100,"currency":"USD"},"card":{"number":GOOD,"exp_month":GOOD,"exp_year":year,"cvc":"123"}}).to_string(),
        json!({"amount":{"amount_minor":100,"currency":"USD"},"card":{"number":GOOD,"exp_month":1,"exp_year":year,"cvc":GOOD}}).to_string(),
        json!({"amount":{"amount_minor":100,"currency":"USD"},"card":{"number":GOOD,"exp_month":1,"exp_year":4242424242424242_i64,"cvc":"123"}}).to_string(),
    ];
    let keys = ["a", "a", "a", "b", "c", "d", "e", "f", "g"];
    for (key, body) in keys.iter().zip(bodies.iter()) {
        let (status, raw) = call_raw(
            &app,
            "POST",
            "/charges",
            &[("Idempotency-Key", key)],
            Some(body.clone().into_bytes()),
        )
        .await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains(GOOD) && !text.contains("4000000000000002"),
            "{status} leaks the number: {text}"
        );
        assert!(
            !text.contains("4242 4242 4242 4242"),
            "{status} leaks the number: {text}"
        );
    }
    let id = store.dump();
    assert!(
        !id.contains(GOOD) && !id.contains("4242 4242"),
        "the store holds the number: {id}"
    );
    let (_, raw) = call_raw(&app, "GET", "/charges/4242424242424242", &[], None).await;
    assert!(!String::from_utf8_lossy(&raw).contains(GOOD));
}

#[test]
fn the_stored_records_keep_only_last4_and_brand() {
    let store = ChargeStore::new(10);
    let checked = card::check(
        &Card {
            number: "4242 4242 4242 4242".into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "987".into(),
        },
        2030,
        1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let attempt = store.charge_once("k", 1, || {
        Ok(Charge {
            id: "ch_1".into(),
            amount: Money {
                amount_minor: 5,
                currency: Currency::Usd,
            },
            status: ChargeStatus::Succeeded,
            card_last4: checked.last4.clone(),
            card_brand: checked.brand.into(),
            reference: "r".into(),
            created_at: "2030-01-01T00:00:00Z".into(),
        })
    });
    assert!(matches!(attempt, Attempt::New(Ok(_))));
    let dump = store.dump();
    assert!(dump.contains("4242") && dump.contains("visa"), "{dump}");
    assert!(!dump.contains(GOOD) && !dump.contains("987"), "{dump}");
    let json = serde_json::to_string(&store.get("ch_1")).unwrap_or_default();
    assert!(!json.contains(GOOD) && !json.contains("987"), "{json}");
}

#[test]
fn the_store_is_bounded_and_evicts_the_oldest() {
    let store = ChargeStore::new(2);
    let make = |id: &str| {
        let id = id.to_string();
        move || {
            Ok(Charge {
                id,
                amount: Money {
                    amount_minor: 5,
                    currency: Currency::Usd,
                },
                status: ChargeStatus::Succeeded,
                card_last4: "4242".into(),
                card_brand: "visa".into(),
                reference: String::new(),
                created_at: String::new(),
            })
        }
    };
    for (key, id) in [("k1", "c1"), ("k2", "c2"), ("k3", "c3")] {
        assert!(matches!(
            store.charge_once(key, 7, make(id)),
            Attempt::New(Ok(_))
        ));
    }
    assert_eq!(store.len(), 2);
    assert!(store.get("c1").is_none() && store.get("c3").is_some());
    assert!(
        matches!(store.charge_once("k3", 7, make("other")), Attempt::Replayed(Ok(c)) if c.id == "c3")
    );
    // k1's record went with its charge: the key is new again.
    assert!(matches!(store.charge_once("k1", 7, make("c4")), Attempt::New(Ok(c)) if c.id == "c4"));
}

#[tokio::test]
async fn build_and_config() {
    assert_eq!(
        crate::Payments::config(&MapEnv::default()).map(|c| c.max_charges),
        Ok(100_000)
    );
    assert!(crate::Payments::config(&MapEnv::new([("PAYMENTS_MAX_CHARGES", "0")])).is_err());
    assert!(crate::Payments::config(&MapEnv::new([("PAYMENTS_MAX_CHARGES", "lots")])).is_err());
    let ctx = ServiceContext::for_tests("payments");
    let config = crate::Payments::config(&MapEnv::new([("PAYMENTS_MAX_CHARGES", "5")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let (api, readiness) = crate::Payments::build(&ctx, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = full_router(&ctx, api, readiness);
    assert_eq!(
        call(&app, "GET", "/readyz", &[], None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        post_charge(&app, Some("b1"), &request(GOOD, 100, "r").to_string())
            .await
            .0,
        StatusCode::CREATED
    );
}
