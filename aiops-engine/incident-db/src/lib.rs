//! Incidents persisted.
