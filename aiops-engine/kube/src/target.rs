//! The changes the engine makes to a service's Deployment, each one either
//! applied or planned (the same request with `dryRun=All`), and the
//! rollout that follows. A service's Deployment carries its name.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Config};
use serde_json::{Value, json};

use crate::diff::readable_diff;
use crate::error::KubeError;

/// The field manager every write names (`kubectl get -o yaml
/// --show-managed-fields` shows what the engine last set).
pub const FIELD_MANAGER: &str = "aiops";
/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The revision the Deployment controller writes on a Deployment and its
/// ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Changed fields an applied change's text names at most.
const MAX_DIFF_LINES: usize = 12;
/// A ReplicaSet's label naming its template; not part of a Deployment's.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// What to do to a service's Deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New pods, the same spec: the rollout-restart annotation.
    Restart { at: chrono::DateTime<chrono::Utc> },
    /// The scale subresource.
    Scale { replicas: u32 },
    /// Back to the previous revision's pod template.
    Rollback,
    /// One pod: the named one, or the Deployment's least healthy.
    DeletePod { pod: Option<String> },
}

/// How a rollout is followed.
#[derive(Debug, Clone, Copy)]
pub struct Rollout {
    pub poll: Duration,
    pub timeout: Duration,
}

pub struct KubeTarget {
    client: Client,
    namespace: String,
}

fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

fn revision(annotations: Option<&BTreeMap<String, String>>) -> Option<u64> {
    annotations?.get(REVISION)?.parse().ok()
}

fn to_value<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

impl KubeTarget {
    /// A target in `namespace`, which must be one of `allowed`.
    pub fn new(client: Client, namespace: &str, allowed: &[String]) -> Result<Self, KubeError> {
        if !allowed.iter().any(|a| a == namespace) {
            return Err(KubeError::NamespaceNotAllowed {
                namespace: namespace.to_owned(),
                allowed: allowed.join(", "),
            });
        }
        Ok(KubeTarget {
            client,
            namespace: namespace.to_owned(),
        })
    }

    /// Connects as kube-rs infers: in-cluster (the pod's service account),
    /// else `$KUBECONFIG` or `~/.kube/config` (an EKS context's exec
    /// credential runs `aws eks get-token`).
    pub async fn connect(namespace: &str, allowed: &[String]) -> Result<Self, KubeError> {
        let config = Config::infer()
            .await
            .map_err(|e| KubeError::Unreachable(format!("no kubernetes configuration: {e}")))?;
        let client = Client::try_from(config)
            .map_err(|e| KubeError::Unreachable(format!("no kubernetes client: {e}")))?;
        Self::new(client, namespace, allowed)
    }

    /// An API server at `url` that needs no credentials: `kubectl proxy`
    /// (`http://127.0.0.1:8001`), or a stand-in in tests.
    pub fn at(url: &str, namespace: &str, allowed: &[String]) -> Result<Self, KubeError> {
        let uri = url
            .parse()
            .map_err(|e| KubeError::Unreachable(format!("{url:?} is not a url: {e}")))?;
        let mut config = Config::new(uri);
        config.default_namespace = namespace.to_owned();
        let client = Client::try_from(config)
            .map_err(|e| KubeError::Unreachable(format!("no kubernetes client: {e}")))?;
        Self::new(client, namespace, allowed)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn err(&self, kind: &'static str, name: &str) -> impl Fn(kube::Error) -> KubeError + '_ {
        let name = name.to_owned();
        move |e| KubeError::from_kube(e, kind, &name, &self.namespace)
    }

    /// Makes the change; says what was done.
    pub async fn apply(&self, service: &str, change: &Change) -> Result<String, KubeError> {
        let (before, after) = self.change(service, change, false).await?;
        let diff = readable_diff(&before, &after);
        let what = match change {
            Change::Restart { .. } => format!("restarted deployment {service}"),
            Change::Scale { replicas } => format!("scaled deployment {service} to {replicas}"),
            Change::Rollback => format!("rolled back deployment {service}"),
            Change::DeletePod { .. } => format!("deleted a pod of {service}"),
        };
        // the ledger keeps this text: the first changes, and how many more
        let shown = match diff.len() {
            0 => "no field changed".to_owned(),
            n if n <= MAX_DIFF_LINES => diff.join("; "),
            n => format!(
                "{}; and {} more",
                diff[..MAX_DIFF_LINES].join("; "),
                n - MAX_DIFF_LINES
            ),
        };
        Ok(format!("{what} in {} ({shown})", self.namespace))
    }

    /// The change as the API server would make it (`dryRun=All`), as the
    /// lines of a diff; nothing is changed.
    pub async fn plan(&self, service: &str, change: &Change) -> Result<Vec<String>, KubeError> {
        let (before, after) = self.change(service, change, true).await?;
        Ok(readable_diff(&before, &after))
    }

    /// The object before and after the request.
    async fn change(
        &self,
        service: &str,
        change: &Change,
        dry_run: bool,
    ) -> Result<(Value, Value), KubeError> {
        let api = self.deployments();
        let deployment = api
            .get(service)
            .await
            .map_err(self.err("deployment", service))?;
        match change {
            Change::Restart { at } => {
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {
                    RESTARTED_AT: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }}}}});
                let after = api
                    .patch(service, &params(dry_run), &Patch::Strategic(patch))
                    .await
                    .map_err(self.err("deployment", service))?;
                Ok((to_value(&deployment), to_value(&after)))
            }
            Change::Scale { replicas } => {
                let before = api
                    .get_scale(service)
                    .await
                    .map_err(self.err("deployment", service))?;
                let patch = json!({"spec": {"replicas": replicas}});
                let after = api
                    .patch_scale(service, &params(dry_run), &Patch::Merge(patch))
                    .await
                    .map_err(self.err("deployment", service))?;
                Ok((to_value(&before), to_value(&after)))
            }
            Change::Rollback => {
                let patch = self.rollback_patch(&deployment).await?;
                let after = api
                    .patch(service, &params(dry_run), &Patch::<()>::Json(patch))
                    .await
                    .map_err(self.err("deployment", service))?;
                Ok((to_value(&deployment), to_value(&after)))
            }
            Change::DeletePod { pod } => {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
                let name = match pod {
                    Some(name) => name.clone(),
                    None => self.least_healthy_pod(&deployment).await?,
                };
                let dp = DeleteParams {
                    dry_run,
                    ..DeleteParams::default()
                };
                let before = pods.get(&name).await.map_err(self.err("pod", &name))?;
                pods.delete(&name, &dp)
                    .await
                    .map_err(self.err("pod", &name))?;
                Ok((
                    json!({"pod": name, "phase": before.status.and_then(|s| s.phase)}),
                    json!({"pod": name, "phase": "(deleted)"}),
                ))
            }
        }
    }

    fn selector(deployment: &Deployment) -> Result<String, KubeError> {
        let labels = deployment
            .spec
            .selector
            .match_labels
            .as_ref()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                KubeError::Rollback("the deployment selects its pods by no label".into())
            })?;
        Ok(labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","))
    }

    /// The JSON patch `kubectl rollout undo` makes: the pod template of the
    /// newest ReplicaSet older than the current revision, guarded by the
    /// Deployment's resourceVersion (a concurrent change fails the patch).
    async fn rollback_patch(
        &self,
        deployment: &Deployment,
    ) -> Result<json_patch::Patch, KubeError> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let current = revision(deployment.metadata.annotations.as_ref()).ok_or_else(|| {
            KubeError::Rollback(format!(
                "deployment {name} has no {REVISION} annotation yet: nothing to roll back to"
            ))
        })?;
        let uid = deployment.metadata.uid.clone();
        let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = sets
            .list(&ListParams::default().labels(&Self::selector(deployment)?))
            .await
            .map_err(self.err("replicaset", &name))?;
        let previous = list
            .items
            .into_iter()
            .filter(|rs| {
                // only the Deployment's own, as the controller marks them
                rs.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| Some(&r.uid) == uid.as_ref()))
            })
            .filter_map(|rs| revision(rs.metadata.annotations.as_ref()).map(|r| (r, rs)))
            .filter(|(r, _)| *r < current)
            .max_by_key(|(r, _)| *r);
        let Some((revision, rs)) = previous else {
            return Err(KubeError::Rollback(format!(
                "deployment {name} is at revision {current} and has no older ReplicaSet to roll back to"
            )));
        };
        let mut template = rs.spec.template.ok_or_else(|| {
            KubeError::Rollback(format!("revision {revision} has no pod template"))
        })?;
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        let resource_version = deployment
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let ops = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "replace", "path": "/spec/template", "value": template},
        ]);
        serde_json::from_value(ops).map_err(|e| KubeError::Rollback(format!("the patch: {e}")))
    }

    /// The pod to delete when none is named: not ready first, then the
    /// most restarted, then the oldest.
    async fn least_healthy_pod(&self, deployment: &Deployment) -> Result<String, KubeError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let list = pods
            .list(&ListParams::default().labels(&Self::selector(deployment)?))
            .await
            .map_err(self.err("pod", &name))?;
        let health = |p: &Pod| {
            let statuses = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default();
            let ready = !statuses.is_empty() && statuses.iter().all(|c| c.ready);
            let restarts: i64 = statuses.iter().map(|c| i64::from(c.restart_count)).sum();
            let created = p
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(i64::MAX);
            (ready, -restarts, created)
        };
        list.items
            .iter()
            .min_by_key(|p| health(p))
            .and_then(|p| p.metadata.name.clone())
            .ok_or(KubeError::NotFound {
                kind: "pod",
                name: format!("of deployment {name}"),
                namespace: self.namespace.clone(),
            })
    }

    /// Follows the Deployment's rollout until every replica runs the new
    /// template and is available; fails at once when the controller
    /// reports its progress deadline exceeded, else at `timeout`.
    pub async fn wait_rollout(&self, service: &str, rollout: Rollout) -> Result<String, KubeError> {
        let api = self.deployments();
        let started = tokio::time::Instant::now();
        let mut last = String::from("no status yet");
        loop {
            let d = api
                .get(service)
                .await
                .map_err(self.err("deployment", service))?;
            let wanted = d.spec.replicas.unwrap_or(1);
            let generation = d.metadata.generation.unwrap_or(0);
            if let Some(status) = &d.status {
                let observed = status.observed_generation.unwrap_or(0);
                let updated = status.updated_replicas.unwrap_or(0);
                let total = status.replicas.unwrap_or(0);
                let available = status.available_replicas.unwrap_or(0);
                if let Some(c) = status.conditions.iter().flatten().find(|c| {
                    c.type_.as_deref() == Some("Progressing")
                        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                }) {
                    return Err(KubeError::RolloutStuck {
                        name: service.to_owned(),
                        why: format!(
                            "the controller gave up: {}",
                            c.message.clone().unwrap_or_default()
                        ),
                    });
                }
                last = format!(
                    "{updated} of {wanted} replicas updated, {available} available, {total} in all"
                );
                if observed >= generation
                    && updated >= wanted
                    && total == updated
                    && available >= wanted
                {
                    return Ok(format!("rollout of {service} complete: {last}"));
                }
            }
            if started.elapsed() >= rollout.timeout {
                return Err(KubeError::RolloutStuck {
                    name: service.to_owned(),
                    why: format!("not complete after {} s: {last}", rollout.timeout.as_secs()),
                });
            }
            tokio::time::sleep(rollout.poll).await;
        }
    }
}
