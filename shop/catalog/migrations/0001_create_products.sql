-- The catalog's products. Ids and values follow the same rules the seed is
-- validated with, so a hand-inserted row cannot break the wire format.
CREATE TABLE products (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL CHECK (length(description) <= 2000),
    price_minor BIGINT NOT NULL CHECK (price_minor > 0),
    currency    TEXT NOT NULL CHECK (currency IN ('USD', 'EUR')),
    categories  TEXT[] NOT NULL,
    image       TEXT NOT NULL,
    stock       BIGINT NOT NULL CHECK (stock >= 0),
    popularity  BIGINT NOT NULL CHECK (popularity BETWEEN 0 AND 100)
);

CREATE INDEX products_categories_idx ON products USING GIN (categories);
