//! The body of each page, from the data the services return.

use std::fmt::Write as _;

use shop_common::Money;
use shop_common::api::{Cart, Order, Product, Recommendation};

use crate::html::{esc, url_encode};

/// A coloured tile standing in for a product photo, derived from its id.
fn thumb(product: &Product) -> String {
    let hue = product
        .id
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    let initial = product.name.chars().next().unwrap_or('?');
    format!(
        r#"<div class="thumb" style="background:hsl({hue},45%,45%)" role="img" aria-label="{}">{}</div>"#,
        esc(&product.name),
        esc(&initial.to_string())
    )
}

fn total(lines: impl Iterator<Item = (i64, Money)>) -> Option<Money> {
    let mut sum: Option<Money> = None;
    for (qty, price) in lines {
        let line = price.amount_minor.saturating_mul(qty);
        sum = Some(match sum {
            None => Money {
                amount_minor: line,
                currency: price.currency,
            },
            Some(s) => Money {
                amount_minor: s.amount_minor.saturating_add(line),
                currency: s.currency,
            },
        });
    }
    sum
}

pub fn home(products: &[Product], categories: &[String], q: &str, category: &str) -> String {
    let mut out = String::new();
    let heading = match (q.is_empty(), category.is_empty()) {
        (true, true) => "All products".to_string(),
        (false, _) => format!("Results for “{}”", esc(q)),
        (true, false) => format!("Category: {}", esc(category)),
    };
    let _ = write!(out, "<h1>{heading}</h1>");
    if !categories.is_empty() {
        out.push_str(r#"<p class="categories">"#);
        for c in categories {
            let _ = write!(
                out,
                r#"<a href="/?category={}">{}</a>"#,
                url_encode(c),
                esc(c)
            );
        }
        out.push_str("</p>");
    }
    if products.is_empty() {
        out.push_str(r#"<p id="no-results">No products match.</p>"#);
        return out;
    }
    out.push_str(r#"<div class="grid" id="products">"#);
    for p in products {
        let _ = write!(
            out,
            r#"<div class="card product">{thumb}<h3><a class="product-link" href="/product/{id}">{name}</a></h3><p class="price">{price}</p></div>"#,
            thumb = thumb(p),
            id = url_encode(&p.id),
            name = esc(&p.name),
            price = esc(&p.price.format()),
        );
    }
    out.push_str("</div>");
    out
}

pub fn product(p: &Product, recommendations: &[Recommendation]) -> String {
    let mut out = String::new();
    let stock = if p.stock > 0 {
        format!("{} in stock", p.stock)
    } else {
        "Out of stock".to_string()
    };
    let _ = write!(
        out,
        r#"<div class="card"><h1 id="product-name">{name}</h1>{thumb}<p>{description}</p><p class="price" id="price">{price}</p><p>{stock}</p>
<form method="post" action="/cart/items" id="add-to-cart"><input type="hidden" name="product_id" value="{id}"><label for="quantity">Quantity</label><input id="quantity" type="number" name="quantity" value="1" min="1" max="99"> <button type="submit" id="add-button">Add to cart</button></form></div>"#,
        name = esc(&p.name),
        thumb = thumb(p),
        description = esc(&p.description),
        price = esc(&p.price.format()),
        stock = esc(&stock),
        id = esc(&p.id),
    );
    if !recommendations.is_empty() {
        out.push_str(r#"<h2>You may also like</h2><div class="grid" id="recommendations">"#);
        for r in recommendations {
            let _ = write!(
                out,
                r#"<div class="card">{thumb}<h3><a href="/product/{id}">{name}</a></h3><p class="price">{price}</p><p><small>{reason}</small></p></div>"#,
                thumb = thumb(&r.product),
                id = url_encode(&r.product.id),
                name = esc(&r.product.name),
                price = esc(&r.product.price.format()),
                reason = esc(&r.reason),
            );
        }
        out.push_str("</div>");
    }
    out
}

pub fn cart(cart: &Cart) -> String {
    let mut out = String::from("<h1>Your cart</h1>");
    if cart.items.is_empty() {
        out.push_str(
            r#"<p id="empty-cart">Your cart is empty. <a href="/">Browse products</a>.</p>"#,
        );
        return out;
    }
    out.push_str(r#"<table id="cart"><tr><th>Product</th><th>Unit price</th><th>Quantity</th><th></th></tr>"#);
    for item in &cart.items {
        let _ = write!(
            out,
            r#"<tr class="cart-line"><td><a href="/product/{id}">{name}</a></td><td>{price}</td><td><form class="inline" method="post" action="/cart/items/{id}"><input type="number" name="quantity" value="{qty}" min="0" max="99" aria-label="Quantity of {name}"> <button type="submit">Update</button></form></td><td><form class="inline" method="post" action="/cart/items/{id}"><input type="hidden" name="quantity" value="0"><button type="submit">Remove</button></form></td></tr>"#,
            id = url_encode(&item.product_id),
            name = esc(&item.name),
            price = esc(&item.unit_price.format()),
            qty = item.quantity,
        );
    }
    out.push_str("</table>");
    if let Some(t) = total(cart.items.iter().map(|i| (i.quantity, i.unit_price))) {
        let _ = write!(
            out,
            r#"<p>Total: <span class="price" id="cart-total">{}</span></p>"#,
            esc(&t.format())
        );
    }
    out.push_str(r#"<p><a id="checkout-link" href="/checkout">Proceed to checkout</a></p>"#);
    out
}

#[derive(Debug, Default, Clone)]
pub struct CheckoutFields {
    pub email: String,
    pub exp_month: String,
    pub exp_year: String,
}

pub fn checkout(
    cart: &Cart,
    request_key: &str,
    fields: &CheckoutFields,
    error: Option<&str>,
) -> String {
    let mut out = String::from("<h1>Checkout</h1>");
    if let Some(message) = error {
        let _ = write!(out, r#"<p class="error" id="error">{}</p>"#, esc(message));
    }
    if cart.items.is_empty() {
        out.push_str(
            r#"<p id="empty-cart">Your cart is empty. <a href="/">Browse products</a>.</p>"#,
        );
        return out;
    }
    if let Some(t) = total(cart.items.iter().map(|i| (i.quantity, i.unit_price))) {
        let _ = write!(
            out,
            r#"<p>{} item(s), total <span class="price">{}</span> (final price confirmed at checkout)</p>"#,
            cart.items.iter().map(|i| i.quantity).sum::<i64>(),
            esc(&t.format())
        );
    }
    // The card number is never echoed back into the page.
    let _ = write!(
        out,
        r#"<form method="post" action="/checkout" id="checkout-form" class="card">
<input type="hidden" name="request_key" value="{key}">
<label for="email">Email</label><input id="email" name="email" type="email" required value="{email}">
<label for="card_number">Card number</label><input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" required placeholder="4242 4242 4242 4242">
<label for="exp_month">Expiry month</label><input id="exp_month" name="exp_month" inputmode="numeric" required value="{month}" placeholder="12">
<label for="exp_year">Expiry year</label><input id="exp_year" name="exp_year" inputmode="numeric" required value="{year}" placeholder="2030">
<label for="cvc">CVC</label><input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required placeholder="123">
<p><button type="submit" id="place-order">Place order</button></p>
<p><small>Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined.</small></p>
</form>"#,
        key = esc(request_key),
        email = esc(&fields.email),
        month = esc(&fields.exp_month),
        year = esc(&fields.exp_year),
    );
    out
}

fn order_lines(order: &Order) -> String {
    let mut out = String::from(
        r#"<table class="order-lines"><tr><th>Product</th><th>Quantity</th><th>Unit price</th></tr>"#,
    );
    for line in &order.lines {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&line.name),
            line.quantity,
            esc(&line.unit_price.format())
        );
    }
    out.push_str("</table>");
    out
}

pub fn order(order: &Order) -> String {
    format!(
        r#"<h1>Thank you for your order</h1><p class="notice" id="confirmation">Order <strong id="order-id">{id}</strong> is confirmed. A receipt goes to {email}.</p>{lines}<p>Total paid: <span class="price" id="order-total">{total}</span></p><p><a href="/orders">All your orders</a></p>"#,
        id = esc(&order.id),
        email = esc(&order.email),
        lines = order_lines(order),
        total = esc(&order.total.format()),
    )
}

pub fn order_history(orders: &[Order]) -> String {
    let mut out = String::from("<h1>Your orders</h1>");
    if orders.is_empty() {
        out.push_str(r#"<p id="no-orders">No orders yet.</p>"#);
        return out;
    }
    out.push_str(
        r#"<table id="orders"><tr><th>Order</th><th>Placed</th><th>Items</th><th>Total</th></tr>"#,
    );
    for o in orders {
        let _ = write!(
            out,
            r#"<tr class="order"><td><a href="/orders/{id}">{id_text}</a></td><td>{created}</td><td>{items}</td><td>{total}</td></tr>"#,
            id = url_encode(&o.id),
            id_text = esc(&o.id),
            created = esc(&o.created_at),
            items = o.lines.iter().map(|l| l.quantity).sum::<i64>(),
            total = esc(&o.total.format()),
        );
    }
    out.push_str("</table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_common::Currency;

    fn p(id: &str, name: &str) -> Product {
        Product {
            id: id.into(),
            name: name.into(),
            description: "<script>alert(1)</script>".into(),
            price: Money {
                amount_minor: 1999,
                currency: Currency::Usd,
            },
            categories: vec!["kitchen".into()],
            image: String::new(),
            stock: 3,
            popularity: 50,
        }
    }

    #[test]
    fn pages_escape_what_services_return() {
        let html = product(&p("x1", "Mug <b>"), &[]);
        assert!(html.contains("Mug &lt;b&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("19.99 USD"));
    }

    #[test]
    fn home_links_every_product() {
        let html = home(&[p("a", "A"), p("b", "B")], &["kitchen".into()], "", "");
        assert!(html.contains(r#"href="/product/a""#));
        assert!(html.contains(r#"href="/product/b""#));
        assert!(html.contains(r#"href="/?category=kitchen""#));
    }
}
