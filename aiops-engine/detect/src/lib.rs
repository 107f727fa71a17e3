//! Streaming metric anomaly detectors.
