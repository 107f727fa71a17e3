//! Checking a card and reducing it to what may be kept: last four digits
//! and brand.

use chrono::Datelike;
use shop_common::ApiError;
use shop_common::api::Card;

/// Longest number field looked at, spaces included; anything longer is refused unread.
const MAX_NUMBER_FIELD: usize = 40;
/// Expiry years further ahead than this are refused as typos.
const MAX_YEARS_AHEAD: i32 = 50;

/// A checked card. `digits` is the full number: it lives only while the
/// request is handled and is never stored, logged or serialised.
pub struct CheckedCard {
    pub digits: String,
    pub last4: String,
    pub brand: &'static str,
}

// Debug shows only what may be kept, so a stray `{:?}` cannot leak the number.
impl std::fmt::Debug for CheckedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedCard")
            .field("last4", &self.last4)
            .field("brand", &self.brand)
            .finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_card", message)
}

/// Checks number, expiry (against `year`/`month`, UTC) and CVC.
pub fn check(card: &Card, year: i32, month: u32) -> Result<CheckedCard, ApiError> {
    if card.number.len() > MAX_NUMBER_FIELD {
        return Err(invalid("card.number must be 12 to 19 digits"));
    }
    let digits: String = card.number.chars().filter(|c| *c != ' ').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("card.number must contain only digits and spaces"));
    }
    if !(12..=19).contains(&digits.len()) {
        return Err(invalid("card.number must be 12 to 19 digits"));
    }
    if !luhn_valid(&digits) {
        return Err(invalid(
            "card.number is not a valid card number (Luhn check failed)",
        ));
    }
    if !(1..=12).contains(&card.exp_month) {
        return Err(invalid("card.exp_month must be 1 to 12"));
    }
    let exp_year = i32::try_from(card.exp_year).unwrap_or(i32::MAX);
    if (exp_year, card.exp_month) < (year, month) {
        return Err(invalid(
            "card.exp_year and card.exp_month: the card has expired",
        ));
    }
    if exp_year > year.saturating_add(MAX_YEARS_AHEAD) {
        return Err(invalid(format!(
            "card.exp_year must be at most {MAX_YEARS_AHEAD} years ahead"
        )));
    }
    if !(3..=4).contains(&card.cvc.len()) || !card.cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("card.cvc must be 3 or 4 digits"));
    }
    let last4 = digits[digits.len() - 4..].to_string();
    let brand = brand(&digits);
    Ok(CheckedCard {
        digits,
        last4,
        brand,
    })
}

/// Checks against the current month, UTC.
pub fn check_now(card: &Card) -> Result<CheckedCard, ApiError> {
    let now = chrono::Utc::now();
    check(card, now.year(), now.month())
}

/// The Luhn checksum over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The card brand from the number's prefix.
pub fn brand(digits: &str) -> &'static str {
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    if digits.starts_with('4') {
        return "visa";
    }
    if prefix(2).is_some_and(|p| (51..=55).contains(&p))
        || prefix(4).is_some_and(|p| (2221..=2720).contains(&p))
    {
        return "mastercard";
    }
    if prefix(2).is_some_and(|p| p == 34 || p == 37) {
        return "amex";
    }
    "unknown"
}

/// Masks anything that looks like a card number (12 or more digits, maybe
/// split by spaces or dashes) in text going out, e.g. a JSON error that
/// quotes the offending value.
pub fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.bytes().filter(u8::is_ascii_digit).count();
        if digits >= 12 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || ((c == ' ' || c == '-') && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}
