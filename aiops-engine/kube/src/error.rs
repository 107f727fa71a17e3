//! What went wrong, in words an operator can act on.

/// A refusal or failure of the Kubernetes API, or a rollout that did not
/// finish.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no {kind} {name:?} in namespace {namespace:?}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    #[error(
        "forbidden: the engine's service account may not do this ({message}); its Role grants get/list/patch on deployments and their scale, list on replicasets, delete on pods, in the allowed namespaces only"
    )]
    Forbidden { message: String },
    #[error("conflict: {message}; the object changed meanwhile, nothing was applied")]
    Conflict { message: String },
    #[error("refused by the api server ({code} {reason}): {message}")]
    Refused {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("the api server was not reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Rollback(String),
    #[error("the rollout of {name} did not complete: {why}")]
    RolloutStuck { name: String, why: String },
    #[error("namespace {namespace:?} is not among the allowed ones ({allowed})")]
    NamespaceNotAllowed { namespace: String, allowed: String },
}

impl KubeError {
    pub(crate) fn from_kube(
        e: kube::Error,
        kind: &'static str,
        name: &str,
        namespace: &str,
    ) -> Self {
        match e {
            kube::Error::Api(status) => match status.code {
                404 => KubeError::NotFound {
                    kind,
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                },
                403 => KubeError::Forbidden {
                    message: status.message.clone(),
                },
                409 => KubeError::Conflict {
                    message: status.message.clone(),
                },
                code => KubeError::Refused {
                    code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                },
            },
            other => KubeError::Unreachable(other.to_string()),
        }
    }
}
