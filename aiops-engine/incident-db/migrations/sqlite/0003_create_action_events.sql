-- The action ledger: append-only. Every state an action (or a decision not
-- to act) enters is a row, never updated or deleted; the latest row of an
-- action is its current state. (action_id, event) is unique, so an action
-- that was recorded as running once can never be recorded running again,
-- whichever engine tries: that is what keeps an action from running twice.
CREATE TABLE action_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id   TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    incident_id TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    by_whom     TEXT    NOT NULL,
    record      TEXT    NOT NULL,
    UNIQUE (action_id, event)
);
CREATE INDEX action_events_action ON action_events (action_id, seq);
CREATE INDEX action_events_incident ON action_events (incident_id, seq);
