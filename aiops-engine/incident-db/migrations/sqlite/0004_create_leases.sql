-- Leases: which engine of several sharing this store may act. A lease is
-- held by one holder until expires_at_ms; only its holder renews it, and
-- anyone may take it once it has expired. generation rises with every new
-- term (a new holder, or a holder taking it back after it expired), so a
-- term is named by it.
CREATE TABLE leases (
    name          TEXT   NOT NULL PRIMARY KEY,
    holder        TEXT   NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    generation    INTEGER NOT NULL
);
