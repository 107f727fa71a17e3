//! Kubernetes (EKS) as a remediation target, through kube-rs: restart a
//! Deployment (the `kubectl rollout restart` annotation), scale it (the
//! scale subresource), roll it back to its previous revision (as `kubectl
//! rollout undo` does, from its ReplicaSets' revision annotations), delete
//! one of its pods; plan any of them as a server-side dry run
//! (`dryRun=All`) shown as a readable diff; and follow a rollout until it
//! is complete or visibly stuck. Every request carries the field manager
//! `aiops`. The API's refusals (403, 404, 409) come back as errors that say
//! what to do.
//!
//! Authentication is kube-rs's: in-cluster (the service account), or a
//! kubeconfig, including EKS's exec credential (`aws eks get-token`).

mod diff;
mod error;
mod target;

pub use diff::readable_diff;
pub use error::KubeError;
pub use target::{Change, KubeTarget, Rollout};
