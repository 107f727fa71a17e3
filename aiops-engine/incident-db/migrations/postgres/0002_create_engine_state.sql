-- State the engine rebuilds slowly from the streams (learned log templates),
-- kept so that a restart continues where the last run left off. One opaque
-- document per key; the engine decides what the keys and documents are.
-- TEXT, not JSON: the document is never queried here.
CREATE TABLE engine_state (
    key           TEXT   NOT NULL PRIMARY KEY,
    updated_at_ms BIGINT NOT NULL,
    document      TEXT   NOT NULL
);
