-- Incidents: a few queryable columns plus the engine's full JSON document.
-- The document is opaque to this crate; the columns exist only for filtering.
CREATE TABLE incidents (
    id             TEXT    NOT NULL PRIMARY KEY,
    -- Mirrors row::STATES; defence in depth behind the validation in Rust.
    state          TEXT    NOT NULL
                   CHECK (state IN ('open', 'acknowledged', 'mitigated', 'resolved')),
    opened_at_ms   INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    resolved_at_ms INTEGER,
    -- JSON array of service names, searched with json_each().
    services       TEXT    NOT NULL CHECK (json_valid(services)),
    revision       INTEGER NOT NULL,
    document       TEXT    NOT NULL
);

CREATE INDEX incidents_state_idx ON incidents (state);
CREATE INDEX incidents_opened_at_idx ON incidents (opened_at_ms);
-- A restarted engine loads every unresolved incident; keep that cheap even
-- when years of resolved history accumulate. The predicate must match the
-- query in sqlite.rs exactly for the planner to use it.
CREATE INDEX incidents_unresolved_idx ON incidents (opened_at_ms) WHERE state <> 'resolved';
