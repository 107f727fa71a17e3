//! HTML rendering: escaping and the page frame. Pages are plain strings built
//! from escaped parts; they work without JavaScript.

use std::fmt::Write as _;

/// Escapes text for use in HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The frame every page shares: header with navigation, the content, a footer.
pub fn page(title: &str, cart_count: Option<i64>, body: &str) -> String {
    let cart_label = match cart_count {
        Some(n) if n > 0 => format!("Cart ({n})"),
        _ => "Cart".to_string(),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Rusty Shop</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header>
<a class="brand" href="/">Rusty Shop</a>
<form class="search" action="/" method="get"><input type="search" name="q" placeholder="Search products" aria-label="Search products"><button type="submit">Search</button></form>
<nav><a href="/">Products</a> <a id="cart-link" href="/cart">{cart_label}</a> <a href="/orders">Orders</a></nav>
</header>
<main>
{body}
</main>
<footer>A reference shop for the AIOps engine. No real payments are taken.</footer>
</body>
</html>
"#,
        title = esc(title),
    )
}
