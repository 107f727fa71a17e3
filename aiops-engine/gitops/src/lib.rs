//! GitOps as a remediation target. Where Argo CD syncs a cluster from git
//! (and self-heals), a patched Deployment is synced back; a roll-back must
//! be a commit. This reverts the newest commit that changed a service's
//! image tag in a kustomization's `images:`, pushes it, and waits for Argo
//! CD's application to report that revision Synced and Healthy.
//!
//! It drives the `git` program on a clone the engine owns (so git must be
//! on the engine's PATH: the scratch and distroless images do not carry it
//! yet), refuses a working tree with uncommitted changes, aborts a revert
//! that conflicts, and never forces a push.

mod argocd;
mod repo;

pub use argocd::{ArgoCd, SyncWait};
pub use repo::{DeployRepo, GitOpsError, Reverted, short};
