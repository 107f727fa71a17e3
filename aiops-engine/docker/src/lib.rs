//! The Docker Engine API at the engine's edge: a remediation target (restart
//! a service's container, roll it back to the image it ran before, read its
//! state and restart count) and a source of changes
//! (restarts and image changes of a stack's containers, reported per
//! service so they join that service's incident).
//!
//! The change logic is pure ([`ChangeTracker`] takes the time and the
//! containers as seen); only [`DockerTarget`] and [`watch`] talk to Docker.

pub mod client;
pub mod facts;
pub mod remedy;
pub mod tracker;
pub mod watch;

pub use client::{DockerError, DockerTarget, Selector};
pub use facts::{ContainerFacts, RunState};
pub use tracker::{ChangeTracker, ContainerChange, ContainerChangeKind};
pub use watch::{WatchConfig, watch};
