//! What a well-formed order request is. Everything here is outside input.

use shop_common::ApiError;
use shop_common::api::{CreateOrder, MAX_CART_LINES, MAX_ITEM_QUANTITY, valid_id};

/// Longest product name kept on an order line.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest unit price, in minor units (ten million in major units).
pub const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000_000;
/// RFC 5321's limit on a forward path.
pub use shop_common::api::plausible_email;

pub fn create_order(req: &CreateOrder) -> Result<(), ApiError> {
    if !valid_id(&req.checkout_id) {
        return Err(invalid("checkout_id must be 1 to 64 of [A-Za-z0-9_-]"));
    }
    if !valid_id(&req.session) {
        return Err(invalid("session must be 1 to 64 of [A-Za-z0-9_-]"));
    }
    if !valid_id(&req.charge_id) {
        return Err(invalid("charge_id must be 1 to 64 of [A-Za-z0-9_-]"));
    }
    if !plausible_email(&req.email) {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "email must be an address with one '@', at most 254 bytes",
        ));
    }
    if req.lines.is_empty() || req.lines.len() > MAX_CART_LINES {
        return Err(ApiError::unprocessable(
            "invalid_lines",
            format!(
                "an order has 1 to {MAX_CART_LINES} lines, not {}",
                req.lines.len()
            ),
        ));
    }
    if req.total.amount_minor < 0 {
        return Err(invalid("total must not be negative"));
    }
    let mut sum: i64 = 0;
    for (i, line) in req.lines.iter().enumerate() {
        if !valid_id(&line.product_id) {
            return Err(invalid(format!(
                "lines[{i}].product_id must be 1 to 64 of [A-Za-z0-9_-]"
            )));
        }
        let name_chars = line.name.chars().count();
        if name_chars == 0 || name_chars > MAX_NAME_CHARS || line.name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "lines[{i}].name must be 1 to {MAX_NAME_CHARS} printable characters"
            )));
        }
        if !(1..=MAX_ITEM_QUANTITY).contains(&line.quantity) {
            return Err(ApiError::unprocessable(
                "invalid_quantity",
                format!(
                    "lines[{i}].quantity must be 1 to {MAX_ITEM_QUANTITY}, not {}",
                    line.quantity
                ),
            ));
        }
        if !(0..=MAX_UNIT_PRICE_MINOR).contains(&line.unit_price.amount_minor) {
            return Err(invalid(format!(
                "lines[{i}].unit_price must be 0 to {MAX_UNIT_PRICE_MINOR} minor units"
            )));
        }
        if line.unit_price.currency != req.total.currency {
            return Err(ApiError::unprocessable(
                "currency_mismatch",
                format!(
                    "lines[{i}] is in {}, the total in {}",
                    line.unit_price.currency.code(),
                    req.total.currency.code()
                ),
            ));
        }
        // Bounded above, so this cannot overflow; checked all the same.
        sum = line
            .unit_price
            .amount_minor
            .checked_mul(line.quantity)
            .and_then(|amount| sum.checked_add(amount))
            .ok_or_else(|| invalid("the order's amount is too large"))?;
    }
    if sum != req.total.amount_minor {
        return Err(ApiError::unprocessable(
            "total_mismatch",
            format!(
                "total is {} but the lines add up to {}",
                req.total.amount_minor, sum
            ),
        ));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_field", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b", "jane.doe+shop@example.com"] {
            assert!(plausible_email(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "@",
            "a@",
            "@b",
            "a@b@c",
            "ab",
            "a b@c",
            "a@b\n",
            long.as_str(),
        ] {
            assert!(!plausible_email(bad), "{bad:?}");
        }
    }
}
