-- Incidents: a few queryable columns plus the engine's full JSON document.
-- The document is opaque to this crate; the columns exist only for filtering.
CREATE TABLE incidents (
    id             TEXT   NOT NULL PRIMARY KEY,
    -- Mirrors row::STATES; defence in depth behind the validation in Rust.
    state          TEXT   NOT NULL
                   CHECK (state IN ('open', 'acknowledged', 'mitigated', 'resolved')),
    opened_at_ms   BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    -- JSONB so that `services @> '["svc"]'` can use the GIN index below.
    services       JSONB  NOT NULL,
    revision       BIGINT NOT NULL,
    -- JSON, not JSONB: the document is stored verbatim and never queried here,
    -- and JSONB would reject documents containing "\u0000" that the engine may
    -- legitimately produce (e.g. copied from a log line).
    document       JSON   NOT NULL
);

CREATE INDEX incidents_state_idx ON incidents (state);
CREATE INDEX incidents_opened_at_idx ON incidents (opened_at_ms);
CREATE INDEX incidents_services_idx ON incidents USING GIN (services jsonb_path_ops);
-- A restarted engine loads every unresolved incident; keep that cheap even
-- when years of resolved history accumulate. The predicate must match the
-- query in postgres.rs exactly for the planner to use it.
CREATE INDEX incidents_unresolved_idx ON incidents (opened_at_ms) WHERE state <> 'resolved';
