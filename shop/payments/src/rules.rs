//! The documented decline rules (see the crate documentation), as data so
//! that `GET /charges/test-cards` and the decision cannot drift apart.

use axum::http::StatusCode;
use serde::Serialize;
use shop_common::ApiError;

/// Amounts above this many minor units (5,000.00) are declined.
pub const AMOUNT_LIMIT_MINOR: i64 = 500_000;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestCard {
    pub number: &'static str,
    /// `succeeded`, or the error code of the decline.
    pub outcome: &'static str,
    pub status: u16,
    pub description: &'static str,
}

/// Test numbers with a fixed outcome; any other valid number succeeds.
pub const TEST_CARDS: [TestCard; 3] = [
    TestCard {
        number: "4000000000000002",
        outcome: "card_declined",
        status: 402,
        description: "always declined",
    },
    TestCard {
        number: "4000000000009995",
        outcome: "insufficient_funds",
        status: 402,
        description: "declined for insufficient funds",
    },
    TestCard {
        number: "4242424242424242",
        outcome: "succeeded",
        status: 201,
        description: "succeeds, as does any other valid number, up to the amount limit",
    },
];

/// Why a charge was declined: 402 with the rule's code.
pub fn declined(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::PAYMENT_REQUIRED, code, message)
}

/// Applies the rules in order to a valid card number (digits only) and amount.
pub fn decide(digits: &str, amount_minor: i64) -> Result<(), ApiError> {
    if let Some(card) = TEST_CARDS
        .iter()
        .find(|c| c.number == digits && c.status == 402)
    {
        let message = match card.outcome {
            "insufficient_funds" => "the card has insufficient funds",
            _ => "the card was declined",
        };
        return Err(declined(card.outcome, message));
    }
    if amount_minor > AMOUNT_LIMIT_MINOR {
        return Err(declined(
            "amount_limit",
            "amount is above the limit of 5000.00 per charge",
        ));
    }
    Ok(())
}

/// The body of `GET /charges/test-cards`.
pub fn describe() -> serde_json::Value {
    serde_json::json!({
        "data": TEST_CARDS,
        "amount_limit_minor": AMOUNT_LIMIT_MINOR,
        "rules": [
            "card 4000000000000002: 402 card_declined",
            "card 4000000000009995: 402 insufficient_funds",
            format!("amount above {AMOUNT_LIMIT_MINOR} minor units: 402 amount_limit"),
            "4242424242424242 and any other valid card number: 201, the charge succeeds",
        ],
        "order": "the card rules first, then the amount limit",
    })
}
