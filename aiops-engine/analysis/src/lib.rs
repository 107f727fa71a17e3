//! From telemetry to incidents.
