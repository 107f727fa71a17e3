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
//! It is also a change source: [`watch`] looks at the namespace's
//! Deployments, pods and Warning events, and says what changed (a
//! rollout, a scale, a pod's restart and why, a stuck rollout, what
//! Kubernetes warned about), each as a change of the service the object
//! belongs to.
//!
//! Authentication is kube-rs's: in-cluster (the service account), or a
//! kubeconfig, including EKS's exec credential (`aws eks get-token`).

mod changes;
mod diff;
mod error;
mod look;
mod target;

pub use changes::{
    ChangeTracker, DeploymentFacts, EventFacts, KubeChange, KubeChangeKind, Look, PodFacts,
};
pub use diff::readable_diff;
pub use error::KubeError;
pub use look::{SERVICE_LABELS, watch};
pub use target::{Change, KubeTarget, Rollout};
