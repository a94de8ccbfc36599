//! Which cluster the provider talks to, and the client for it, built
//! lazily: an EKS cluster that this very apply creates has no endpoint when
//! the provider is constructed, so nothing is contacted until the first
//! read, and a read before the cluster exists finds nothing rather than
//! failing.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use stackplan_core::BoxFuture;

use crate::KubeError;
use crate::helm::HelmKubeAccess;
use crate::token::{TOKEN_LIFETIME, eks_token};

/// Where the cluster is.
#[derive(Debug, Clone)]
pub enum KubeTarget {
    /// A kubeconfig file: `[kubernetes] kubeconfig` in the stack, or
    /// `KUBECONFIG` / `~/.kube/config` when `path` is `None`.
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    /// The stack's EKS cluster, reached with a token signed from the
    /// caller's AWS credentials.
    Eks(EksTarget),
}

impl KubeTarget {
    /// A kubeconfig target; a leading `~/` is the home directory, as the
    /// stack file's example writes it.
    pub fn kubeconfig(path: Option<&str>, context: Option<&str>) -> Self {
        let path = path.map(|p| match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(p),
        });
        KubeTarget::Kubeconfig {
            path,
            context: context.map(str::to_string),
        }
    }

    /// The kubeconfig context this target uses: the one given, else the
    /// file's `current-context`; `None` for EKS, or when the file cannot
    /// be read (connecting reports that, with its cause). For a plan's
    /// header: it says which cluster the Kubernetes changes go to.
    pub fn context_name(&self) -> Option<String> {
        let KubeTarget::Kubeconfig { path, context } = self else {
            return None;
        };
        if context.is_some() {
            return context.clone();
        }
        match path {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .ok()?
        .current_context
    }
}

/// The EKS cluster and how to sign for it.
#[derive(Clone)]
pub struct EksTarget {
    pub cluster: String,
    pub region: String,
    pub credentials: SharedCredentialsProvider,
    /// Finds the endpoint and CA once the cluster exists.
    pub locator: Arc<dyn ClusterLocator>,
}

impl fmt::Debug for EksTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EksTarget")
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What a client needs to know about the cluster's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// `https://...eks.amazonaws.com`
    pub endpoint: String,
    /// The CA bundle, base64 PEM, as `DescribeCluster` returns it.
    pub certificate_authority: String,
}

/// Finds a cluster's endpoint: `Ok(None)` while the cluster does not exist
/// or is not active yet.
pub trait ClusterLocator: Send + Sync {
    fn locate(&self) -> BoxFuture<'_, Result<Option<ClusterEndpoint>, KubeError>>;
}

/// [`ClusterLocator`] through EKS `DescribeCluster`.
#[derive(Debug, Clone)]
pub struct DescribeCluster {
    pub client: aws_sdk_eks::Client,
    pub cluster: String,
}

impl ClusterLocator for DescribeCluster {
    fn locate(&self) -> BoxFuture<'_, Result<Option<ClusterEndpoint>, KubeError>> {
        Box::pin(async move {
            let out = match self
                .client
                .describe_cluster()
                .name(&self.cluster)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(KubeError::Locate {
                        cluster: self.cluster.clone(),
                        source: aws_sdk_eks::error::DisplayErrorContext(e)
                            .to_string()
                            .into(),
                    });
                }
            };
            let Some(cluster) = out.cluster() else {
                return Ok(None);
            };
            let ca = cluster.certificate_authority().and_then(|c| c.data());
            Ok(match (cluster.endpoint(), ca) {
                (Some(endpoint), Some(ca)) if !endpoint.is_empty() && !ca.is_empty() => {
                    Some(ClusterEndpoint {
                        endpoint: endpoint.to_string(),
                        certificate_authority: ca.to_string(),
                    })
                }
                _ => None,
            })
        })
    }
}

/// A ready client and how helm reaches the same cluster. Shared by `Arc`:
/// a helm run keeps its session's kubeconfig file alive while it runs,
/// even if the provider has moved on to a fresher token.
pub(crate) struct Session {
    pub client: Client,
    /// The API server's URL, for a message about one that does not answer.
    pub server: String,
    pub helm: HelmKubeAccess,
    /// When to build a new one (EKS tokens expire); `None`: never.
    refresh_at: Option<Instant>,
    /// Holds the private kubeconfig written for helm (EKS only).
    _dir: Option<tempfile::TempDir>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// A token is replaced when this much of its life is left, so that no
/// request starts with a token about to expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

impl Session {
    pub fn is_fresh(&self) -> bool {
        self.is_fresh_at(Instant::now())
    }

    fn is_fresh_at(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|at| now < at)
    }

    /// Connects to `target`; `Ok(None)` when it is an EKS cluster that
    /// does not exist yet.
    pub async fn connect(target: &KubeTarget) -> Result<Option<Session>, KubeError> {
        install_rustls_provider();
        match target {
            KubeTarget::Kubeconfig { path, context } => {
                let kubeconfig = match path {
                    Some(p) => Kubeconfig::read_from(p),
                    None => Kubeconfig::read(),
                }
                .map_err(|source| KubeError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|source| KubeError::Kubeconfig {
                        path: path.clone(),
                        source,
                    })?;
                let server = config.cluster_url.to_string();
                Ok(Some(Session {
                    client: Client::try_from(with_timeouts(config)).map_err(KubeError::Client)?,
                    server,
                    helm: HelmKubeAccess {
                        kubeconfig: path.clone(),
                        context: context.clone(),
                    },
                    refresh_at: None,
                    _dir: None,
                }))
            }
            KubeTarget::Eks(eks) => {
                let Some(endpoint) = eks.locator.locate().await? else {
                    return Ok(None);
                };
                let credentials = eks
                    .credentials
                    .provide_credentials()
                    .await
                    .map_err(|e| KubeError::Credentials(Box::new(e)))?;
                let signed_at = Instant::now();
                let token = eks_token(&eks.cluster, &eks.region, &credentials, SystemTime::now())?;
                let text = eks_kubeconfig(&endpoint, &token.token);
                let kubeconfig = Kubeconfig::from_yaml(&text)
                    .map_err(|source| KubeError::Kubeconfig { path: None, source })?;
                let config =
                    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                        .await
                        .map_err(|source| KubeError::Kubeconfig { path: None, source })?;
                let client = Client::try_from(with_timeouts(config)).map_err(KubeError::Client)?;
                // helm needs the same access in a file: private, and gone
                // with the session.
                let dir = tempfile::Builder::new()
                    .prefix("stackplan-kube-")
                    .tempdir()
                    .map_err(|e| KubeError::io("creating a directory for the kubeconfig", e))?;
                let file = dir.path().join("kubeconfig");
                write_private(&file, text.as_bytes())?;
                Ok(Some(Session {
                    client,
                    server: endpoint.endpoint.clone(),
                    helm: HelmKubeAccess {
                        kubeconfig: Some(file),
                        context: None,
                    },
                    refresh_at: Some(signed_at + TOKEN_LIFETIME - REFRESH_MARGIN),
                    _dir: Some(dir),
                }))
            }
        }
    }
}

/// How long the API server has to answer one request, when
/// `STACKPLAN_KUBE_TIMEOUT` does not say otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Connect and read limits on every request (kube's `Config`): kube sets
/// a connect limit but no read limit by default, so an API server that
/// accepts and never answers would hold a plan for ever. stackplan makes
/// plain requests (no watch, exec or port-forward, which a read limit
/// would cut), so each gets `STACKPLAN_KUBE_TIMEOUT` seconds (default
/// 60), counted from when it is sent (`reset_reader_on_write`), not from
/// when its pooled connection went idle.
fn with_timeouts(mut config: Config) -> Config {
    let read = request_timeout(std::env::var("STACKPLAN_KUBE_TIMEOUT").ok().as_deref());
    config.connect_timeout = Some(read.min(Duration::from_secs(10)));
    config.read_timeout = Some(read);
    config.write_timeout = Some(read);
    config.reset_reader_on_write = true;
    config
}

/// `STACKPLAN_KUBE_TIMEOUT`'s value: whole seconds, at least 2; anything
/// else is the default (a typo must not disable the limit).
fn request_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s >= 2)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_READ_TIMEOUT)
}

/// Makes ring rustls's process-wide crypto provider, unless the process
/// chose one already.
///
/// kube builds its TLS configuration from rustls's process default, which
/// rustls can only pick by itself when one provider is compiled in; the AWS
/// SDK brings aws-lc-rs and kube's `ring` feature brings ring, so a process
/// linking both (the CLI, this crate's tests) must choose.
fn install_rustls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A kubeconfig for one EKS cluster with a bearer token (JSON, which is
/// YAML to every reader of kubeconfigs).
fn eks_kubeconfig(endpoint: &ClusterEndpoint, token: &str) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "eks", "cluster": {
            "server": endpoint.endpoint,
            "certificate-authority-data": endpoint.certificate_authority,
        }}],
        "users": [{"name": "stackplan", "user": {"token": token}}],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "stackplan"}}],
        "current-context": "eks",
    })
    .to_string()
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), KubeError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| KubeError::io("writing the kubeconfig for helm", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_kubeconfig_is_readable_as_a_kubeconfig() {
        let text = eks_kubeconfig(
            &ClusterEndpoint {
                endpoint: "https://ABC.gr7.us-west-2.eks.amazonaws.com".into(),
                certificate_authority: "LS0tLS1CRUdJTg==".into(),
            },
            "k8s-aws-v1.abc",
        );
        let k = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(k.current_context.as_deref(), Some("eks"));
        assert_eq!(
            k.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://ABC.gr7.us-west-2.eks.amazonaws.com")
        );
    }

    /// A throwaway self-signed CA (`openssl req -x509`, P-256), base64 PEM
    /// as `DescribeCluster` returns a cluster's CA; nothing is contacted.
    const TEST_CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtVENDQVQrZ0F3SUJBZ0lVWmhUTmlFb3Zqa0l0eThkZ3lHQzlzQVgrdUJzd0NnWUlLb1pJemowRUF3SXcKSVRFZk1CMEdBMVVFQXd3V2MzUmhZMnR3YkdGdUxYVnVhWFF0ZEdWemRDMWpZVEFnRncweU5qRXhNalF5TWpJeQpOVEJhR0E4eU1USTJNVEF6TVRJeU1qSTFNRm93SVRFZk1CMEdBMVVFQXd3V2MzUmhZMnR3YkdGdUxYVnVhWFF0CmRHVnpkQzFqWVRCWk1CTUdCeXFHU000OUFnRUdDQ3FHU000OUF3RUhBMElBQkk4Mm9DV2xCNVlBSDZ3dWx6ZXUKd0pKbWVjSjBVWGp3UUtab3dKTlR3RXd5Myt2ZnRVQTVhaU1CdXNjem5GSE5Ra0NYMlYwMTB1VnBsdnVtT0RhMwpkY2FqVXpCUk1CMEdBMVVkRGdRV0JCVDZtWlRIbml5a2M5WmlmNis0MkhkZ0hqSzRQREFmQmdOVkhTTUVHREFXCmdCVDZtWlRIbml5a2M5WmlmNis0MkhkZ0hqSzRQREFQQmdOVkhSTUJBZjhFQlRBREFRSC9NQW9HQ0NxR1NNNDkKQkFNQ0EwZ0FNRVVDSVFEYU9nSDJIcTRSbjN1UVh4RWUzUGxmRjJzVzFQVmdOZUUxQWNiRXZTY0dSUUlnWnMvaQorSExjTlg0RmRhRUtlcHBrZlZ5OThIY3FyUDU2Z245RXZsSENWYUE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

    struct Fixed;

    impl ClusterLocator for Fixed {
        fn locate(&self) -> BoxFuture<'_, Result<Option<ClusterEndpoint>, KubeError>> {
            Box::pin(async {
                Ok(Some(ClusterEndpoint {
                    endpoint: "https://127.0.0.1:1".into(),
                    certificate_authority: TEST_CA.into(),
                }))
            })
        }
    }

    #[tokio::test]
    async fn eks_session_is_renewed_ten_minutes_after_signing_and_cleans_up_its_kubeconfig() {
        let target = KubeTarget::Eks(EksTarget {
            cluster: "milvus-demo".into(),
            region: "us-west-2".into(),
            credentials: SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            )),
            locator: Arc::new(Fixed),
        });
        let before = Instant::now();
        let session = Session::connect(&target).await.unwrap().unwrap();
        assert!(session.is_fresh_at(before));
        assert!(session.is_fresh_at(before + Duration::from_secs(9 * 60)));
        assert!(!session.is_fresh_at(Instant::now() + Duration::from_secs(10 * 60)));

        // helm's copy of the access: private, holding an EKS token.
        let path = session.helm.kubeconfig.clone().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("k8s-aws-v1."));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(session);
        assert!(!path.exists(), "the kubeconfig outlived its session");
    }

    #[test]
    fn every_request_has_connect_and_read_limits() {
        let config = with_timeouts(Config::new("https://127.0.0.1:1".parse().unwrap()));
        assert_eq!(config.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(config.read_timeout, Some(DEFAULT_READ_TIMEOUT));
        assert!(config.reset_reader_on_write);
        assert_eq!(request_timeout(Some("5")), Duration::from_secs(5));
        for bad in ["", "0", "1", "5s"] {
            assert_eq!(request_timeout(Some(bad)), DEFAULT_READ_TIMEOUT, "{bad:?}");
        }
    }

    /// An API server that accepts connections and never answers: the
    /// probe ends at the connect limit (TLS never completes), naming the
    /// server, instead of hanging.
    #[tokio::test]
    async fn a_silent_api_server_is_named_once_the_connect_limit_passes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let server = format!("https://127.0.0.1:{port}");
        std::fs::write(
            &path,
            json!({
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": true}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            })
            .to_string(),
        )
        .unwrap();
        let provider = crate::KubeProvider::from_kubeconfig(path.to_str(), None);
        let started = Instant::now();
        let err = provider.probe().await.unwrap_err();
        let took = started.elapsed();
        drop(listener);
        assert!(matches!(err, KubeError::Unreachable { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(took < Duration::from_secs(30), "took {took:?}");
    }

    #[test]
    fn tilde_in_a_kubeconfig_path_is_the_home_directory() {
        let KubeTarget::Kubeconfig { path, .. } =
            KubeTarget::kubeconfig(Some("~/.kube/config"), None)
        else {
            unreachable!()
        };
        let home = std::env::var_os("HOME").unwrap();
        assert_eq!(path.unwrap(), PathBuf::from(home).join(".kube/config"));
    }
}
