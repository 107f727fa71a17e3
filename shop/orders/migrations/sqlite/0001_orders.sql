-- Orders and their lines. `seq` orders the list newest first; `checkout_id`
-- is unique so that creating an order is idempotent even under concurrency.
CREATE TABLE orders (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    checkout_id TEXT    NOT NULL UNIQUE,
    session     TEXT    NOT NULL,
    total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
    currency    TEXT    NOT NULL,
    charge_id   TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE INDEX orders_by_session ON orders (session, seq);

CREATE TABLE order_lines (
    order_id         TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          INTEGER NOT NULL,
    product_id       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    currency         TEXT    NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
