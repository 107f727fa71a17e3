#!/usr/bin/env python3
"""Writes shop_sample.tsv: lines as the shop's services log them
(shop/common/src/logging.rs), each prefixed by the statement that wrote it
(`service:message` plus a tab). Deterministic: fixed seed."""
import json
import random
import string

rng = random.Random(42)
PRODUCTS = ["chef-knife-8in", "cast-iron-skillet", "espresso-cups-set-4", "linen-apron",
            "bamboo-board-xl", "pour-over-kettle-1l", "ceramic-bowl-6in", "oak-spoon"]
ROUTES = [("GET", "/products/{id}"), ("POST", "/carts/{session}/items"),
          ("GET", "/carts/{session}"), ("POST", "/checkout"), ("GET", "/orders/{id}")]


def hexs(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def alnum(n):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def chk():
    return "chk_" + hexs(40)


def ordid():
    return "ord_" + hexs(32)


def ch():
    return "ch_" + alnum(24)


STATEMENTS = [
    ("cart", "info", "item added to cart", lambda: dict(product_id=rng.choice(PRODUCTS), quantity=rng.randint(1, 5), lines=rng.randint(1, 9))),
    ("cart", "info", "cart quantity set", lambda: dict(product_id=rng.choice(PRODUCTS), quantity=rng.randint(0, 5), lines=rng.randint(0, 9))),
    ("cart", "info", "item removed from cart", lambda: dict(product_id=rng.choice(PRODUCTS), lines=rng.randint(0, 9))),
    ("cart", "info", "cart emptied", lambda: {}),
    ("cart", "warn", "catalog lookup failed", lambda: dict(error=f"catalog did not answer within {rng.choice(['2s', '500ms', '1.5s'])}")),
    ("cart", "warn", "redis command failed", lambda: dict(error=f"Connection refused (os error {rng.choice([111, 104])})")),
    ("checkout", "info", "checkout started", lambda: dict(checkout_id=chk())),
    ("checkout", "info", "checkout completed", lambda: dict(checkout_id=chk(), order_id=ordid(), charge_id=ch(), total_minor=rng.randint(500, 90000))),
    ("checkout", "info", "payment declined", lambda: dict(checkout_id=chk(), reason=rng.choice(["card_declined", "insufficient_funds", "expired"]))),
    ("checkout", "warn", "payment failed", lambda: dict(checkout_id=chk(), error=f"payments did not answer within {rng.choice(['2s', '3s', '750ms'])}")),
    ("checkout", "error", "order failed", lambda: dict(checkout_id=chk(), charge_id=ch(), error=f"orders answered {rng.choice([500, 503])} the orders database is unavailable")),
    ("checkout", "info", "charge refunded", lambda: dict(checkout_id=chk(), charge_id=ch())),
    ("checkout", "info", "checkout replayed", lambda: dict(checkout_id=chk(), order_id=ordid())),
    ("checkout", "warn", "catalog step timed out", lambda: {}),
    ("checkout", "error", "request failed", lambda: dict(zip(["http_request_method", "http_route"], rng.choice(ROUTES[3:4])), status=rng.choice([500, 502, 503]))),
    ("orders", "info", "order created", lambda: dict(order_id=ordid(), checkout_id=chk(), lines=rng.randint(1, 6), total_minor=rng.randint(500, 90000))),
    ("orders", "info", "order already exists", lambda: dict(checkout_id=chk(), order_id=ordid())),
    ("orders", "error", "orders storage failed", lambda: dict(error="error returned from database: (code: 5) database is locked")),
    ("orders", "error", "request failed", lambda: dict(http_request_method="POST", http_route="/orders", status=rng.choice([500, 503]))),
    ("payments", "info", "charge created", lambda: dict(charge_id=ch(), amount_minor=rng.randint(500, 90000), brand=rng.choice(["visa", "mastercard", "amex"]))),
    ("payments", "info", "payment declined", lambda: dict(reason=rng.choice(["card_declined", "insufficient_funds"]), amount_minor=rng.randint(500, 90000), brand=rng.choice(["visa", "mastercard"]))),
    ("payments", "info", "charge refunded", lambda: dict(charge_id=ch(), amount_minor=rng.randint(500, 90000))),
    ("payments", "warn", "idempotency key reused for a different charge", lambda: {}),
    ("recommendation", "info", "catalog refreshed", lambda: dict(products=rng.randint(20, 40), generation=rng.randint(1, 500))),
    ("recommendation", "warn", "catalog refresh failed; serving the stale catalog", lambda: dict(error=f"catalog did not answer within {rng.choice(['2s', '1s'])}", age_ms=rng.randint(1000, 900000))),
    ("recommendation", "error", "catalog unavailable and nothing cached", lambda: dict(error=f"cannot reach catalog: error sending request for url (http://127.0.0.1:8081/products?limit={rng.choice([50, 100])})")),
    ("frontend", "info", "order placed", lambda: dict(order_id=ordid())),
    ("frontend", "warn", "recommendations unavailable", lambda: dict(error=f"cannot reach recommendation: error sending request for url (http://127.0.0.1:8086/recommendations/{rng.choice(PRODUCTS)})")),
    ("frontend", "error", "request failed", lambda: dict(zip(["http_request_method", "http_route"], rng.choice(ROUTES)), status=rng.choice([500, 502]))),
    ("catalog", "error", "catalog storage unavailable", lambda: dict(error="pool timed out while waiting for an open connection")),
    ("catalog", "info", "catalog serving the embedded seed from memory", lambda: {}),
]
LISTEN = {"cart": 8082, "catalog": 8081, "orders": 8083, "checkout": 8084, "payments": 8085, "recommendation": 8086, "frontend": 8080}

lines = []
t = 1_700_000_000.0
for svc, port in LISTEN.items():
    lines.append((svc, "info", "listening", dict(address=f"127.0.0.1:{port}", version="1.0.0")))
weights = [9, 5, 4, 2, 3, 2, 8, 7, 3, 3, 2, 2, 2, 1, 3, 7, 2, 2, 2, 7, 3, 2, 1, 3, 2, 2, 6, 3, 3, 2, 1]
assert len(weights) == len(STATEMENTS)
for _ in range(200 - len(lines)):
    svc, level, msg, fields = rng.choices(STATEMENTS, weights)[0]
    lines.append((svc, level, msg, fields()))

with open("shop_sample.tsv", "w") as out:
    for svc, level, msg, fields in lines:
        t += rng.random() * 0.5
        secs = int(t)
        micros = int((t - secs) * 1e6)
        import datetime
        ts = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"
        obj = {"timestamp": ts, "level": level, "service": svc, "version": "1.0.0"}
        if rng.random() < 0.9:
            obj["trace_id"] = hexs(32)
        obj["message"] = msg
        if fields:
            obj["fields"] = dict(sorted(fields.items(), key=lambda kv: rng.random()))
        out.write(f"{svc}:{msg}\t{json.dumps(obj, separators=(',', ':'))}\n")
