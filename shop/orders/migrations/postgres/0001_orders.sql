-- Orders and their lines, in the schema the service was configured with
-- (the connection's search_path). `seq` orders the list newest first;
-- `checkout_id` is unique so that creating an order is idempotent even
-- under concurrency.
CREATE TABLE orders (
    seq         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT        NOT NULL UNIQUE,
    checkout_id TEXT        NOT NULL UNIQUE,
    session     TEXT        NOT NULL,
    total_minor BIGINT      NOT NULL CHECK (total_minor >= 0),
    currency    TEXT        NOT NULL,
    charge_id   TEXT        NOT NULL,
    email       TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX orders_by_session ON orders (session, seq);

CREATE TABLE order_lines (
    order_id         TEXT   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          BIGINT NOT NULL,
    product_id       TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    currency         TEXT   NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
