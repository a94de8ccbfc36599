use std::path::PathBuf;

use stackplan_core::ProviderError;
use thiserror::Error;

/// Everything the Kubernetes and Helm providers can fail with.
#[derive(Debug, Error)]
pub enum KubeError {
    #[error("could not sign the EKS token: {0}")]
    Token(String),
    #[error("no AWS credentials to sign the EKS token with")]
    Credentials(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("could not find the EKS cluster `{cluster}`")]
    Locate {
        cluster: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the EKS cluster `{0}` does not exist yet, or has no endpoint")]
    ClusterNotReady(String),
    #[error("could not load the kubeconfig{}", path.as_ref().map(|p| format!(" `{}`", p.display())).unwrap_or_default())]
    Kubeconfig {
        path: Option<PathBuf>,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("could not build the Kubernetes client")]
    Client(#[source] kube::Error),
    /// The API server did not answer a first request: down, unreachable
    /// from here, or too slow (`STACKPLAN_KUBE_TIMEOUT`).
    #[error("the Kubernetes API server at {server} did not answer")]
    Unreachable {
        server: String,
        #[source]
        source: kube::Error,
    },
    #[error("Kubernetes API: {context}")]
    Api {
        context: String,
        #[source]
        source: kube::Error,
    },
    /// 401: on EKS, the principal has no access entry (or the cluster is
    /// in CONFIG_MAP mode and it is not in aws-auth).
    #[error(
        "Kubernetes API: {context}: the cluster does not admit the AWS principal running stackplan (401 Unauthorized): it has no access entry on the cluster. Grant it one with [[eks.access]] (principal = its IAM role ARN; README, \"A plan role for pull-request CI\"), or run as a principal that has one (`aws sts get-caller-identity` shows which one runs)"
    )]
    Unauthorized {
        context: String,
        #[source]
        source: kube::Error,
    },
    /// 403: admitted, but its access policy does not allow the call.
    #[error(
        "Kubernetes API: {context}: the principal's access entry does not allow this (403 Forbidden). A plan reads Helm's release Secrets and the cluster's StorageClasses: give its [[eks.access]] entry policy = \"admin-view\" (cluster-wide) or more"
    )]
    Forbidden {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("attribute `{attr}`: {reason}")]
    Attr { attr: String, reason: String },
    #[error("the Helm release record `{secret}` cannot be read: {reason}")]
    ReleaseRecord { secret: String, reason: String },
    #[error(
        "helm is needed to apply Helm releases and was not found (looked at {looked}); install helm 3.8 or newer (https://helm.sh/docs/intro/install/) or point STACKPLAN_HELM at it"
    )]
    HelmMissing { looked: String },
    #[error(
        "helm at `{path}` is version {version}; stackplan needs helm 3.8 or newer (OCI charts): install a newer helm or point STACKPLAN_HELM at one"
    )]
    HelmTooOld { path: PathBuf, version: String },
    #[error("`{command}` failed: {stderr}")]
    HelmFailed { command: String, stderr: String },
    /// helm's wait ran out while pods of the release were still Pending.
    #[error(
        "`{command}` failed: {stderr}\n{} of the release's pods were still Pending when the wait ran out:\n{}\nhint: {}",
        pending.len(),
        pending.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"),
        crate::pending::wait_hint(pending)
    )]
    WaitRanOut {
        command: String,
        stderr: String,
        pending: Vec<crate::pending::PendingPod>,
    },
    #[error("helm rendered a manifest that is not YAML: {0}")]
    Manifest(String),
    #[error(
        "the StorageClass `{0}` does not exist: only an existing class's default annotation is managed"
    )]
    NoSuchClass(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
}

impl KubeError {
    pub(crate) fn api(context: impl Into<String>, source: kube::Error) -> Self {
        let context = context.into();
        match &source {
            kube::Error::Api(status) if status.code == 401 => {
                KubeError::Unauthorized { context, source }
            }
            kube::Error::Api(status) if status.code == 403 => {
                KubeError::Forbidden { context, source }
            }
            _ => KubeError::Api { context, source },
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KubeError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn attr(attr: &str, reason: impl Into<String>) -> Self {
        KubeError::Attr {
            attr: attr.to_string(),
            reason: reason.into(),
        }
    }

    /// Throttling, server errors and broken connections may succeed on a
    /// second try; everything else would fail the same way again.
    fn is_retryable(&self) -> bool {
        let source = match self {
            KubeError::Api { source, .. } | KubeError::Client(source) => source,
            _ => return false,
        };
        match source {
            kube::Error::Api(status) => status.code == 429 || status.code >= 500,
            kube::Error::HyperError(_) | kube::Error::Service(_) => true,
            _ => false,
        }
    }
}

impl From<KubeError> for ProviderError {
    /// The message is this error's own line; its cause becomes the
    /// provider error's source, so the CLI's cause chain shows each line
    /// once.
    fn from(e: KubeError) -> Self {
        let retryable = e.is_retryable();
        let message = e.to_string();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match e {
            KubeError::Credentials(s) | KubeError::Locate { source: s, .. } => Some(s),
            KubeError::Kubeconfig { source, .. } => Some(Box::new(source)),
            KubeError::Client(source)
            | KubeError::Api { source, .. }
            | KubeError::Unauthorized { source, .. }
            | KubeError::Forbidden { source, .. }
            | KubeError::Unreachable { source, .. } => Some(Box::new(source)),
            KubeError::Io { source, .. } => Some(Box::new(source)),
            _ => None,
        };
        ProviderError {
            message,
            retryable,
            source,
            partial: None,
        }
    }
}
