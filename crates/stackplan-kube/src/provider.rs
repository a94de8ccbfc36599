//! [`KubeProvider`]: the Kubernetes kinds and Helm releases behind core's
//! [`Provider`] trait.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value as Json;
use stackplan_core::{
    ApplyRequest, Attrs, BoxFuture, DeleteRequest, EventSink, Observed, Phase, ProgressEvent,
    Provider, ProviderResult, ReadRequest, ResourceAddr, ResourceKind, ResourceState, Value,
};
use tokio::sync::Mutex;

use crate::KubeError;
use crate::helm::{ChartSource, Helm, Upgrade};
use crate::objects::{self, ObjectId};
use crate::release::{RECORD_PREFIX, ReleaseRecord, decode_release};
use crate::target::{DescribeCluster, EksTarget, KubeTarget, Session};
use crate::values::{json_to_value, mask, req_str, value_to_json};

/// How long a namespace may take to go away.
const NAMESPACE_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The Kubernetes and Helm provider.
///
/// Nothing is contacted at construction: the client is built at the first
/// call that needs it, and rebuilt before an EKS token expires.
pub struct KubeProvider {
    target: KubeTarget,
    session: Mutex<Option<Arc<Session>>>,
    /// `None`: find helm through `STACKPLAN_HELM` and `PATH` when first
    /// needed (plans never need it).
    helm_path: Option<std::path::PathBuf>,
    helm: Mutex<Option<Helm>>,
    /// Each release's deployed manifest as the last read found it, for
    /// the plan's object diff (`deployed_manifest`). Kept in memory only:
    /// a manifest can hold a chart's Secrets.
    deployed_manifests:
        std::sync::Mutex<std::collections::BTreeMap<stackplan_core::ResourceAddr, String>>,
}

impl std::fmt::Debug for KubeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeProvider")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl KubeProvider {
    pub fn new(target: KubeTarget) -> Self {
        KubeProvider {
            target,
            session: Mutex::new(None),
            helm_path: None,
            helm: Mutex::new(None),
            deployed_manifests: Default::default(),
        }
    }

    /// The manifest of the revision of release `addr` that runs now, as
    /// this provider's last read of it found it.
    pub fn deployed_manifest(&self, addr: &stackplan_core::ResourceAddr) -> Option<String> {
        self.deployed_manifests
            .lock()
            .ok()
            .and_then(|m| m.get(addr).cloned())
    }

    /// The provider for a kubeconfig (`[kubernetes] kubeconfig`, resolved
    /// by the caller against the stack file's directory; `None`: the
    /// `KUBECONFIG` variable, else `~/.kube/config`).
    pub fn from_kubeconfig(path: Option<&str>, context: Option<&str>) -> Self {
        Self::new(KubeTarget::kubeconfig(path, context))
    }

    /// The provider for the stack's EKS cluster `cluster`, found with
    /// `DescribeCluster` through `eks` and signed for with `credentials` in
    /// `region`: from the SDK config the AWS provider uses
    /// (`sdk.credentials_provider()`, `sdk.region()`).
    pub fn for_eks(
        cluster: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
        eks: aws_sdk_eks::Client,
    ) -> Self {
        Self::new(KubeTarget::Eks(EksTarget {
            cluster: cluster.to_string(),
            region: region.to_string(),
            credentials,
            locator: Arc::new(DescribeCluster {
                client: eks,
                cluster: cluster.to_string(),
            }),
        }))
    }

    /// Uses the helm binary at `path` instead of looking for one.
    pub fn with_helm(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.helm_path = Some(path.into());
        self
    }

    /// The current session; `None` when the EKS cluster does not exist yet.
    async fn session(&self) -> Result<Option<Arc<Session>>, KubeError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| s.is_fresh()) {
            return Ok(Some(s.clone()));
        }
        let fresh = Session::connect(&self.target).await?.map(Arc::new);
        slot.clone_from(&fresh);
        Ok(fresh)
    }

    /// Checks that the cluster answers, before a plan reads anything:
    /// its kubeconfig loads and its API server gives its version (`GET
    /// /version`, which every authenticated caller may read). `Ok(None)`
    /// when the target is an EKS cluster that does not exist yet;
    /// otherwise the server's URL.
    pub async fn probe(&self) -> Result<Option<String>, KubeError> {
        let Some(session) = self.session().await? else {
            return Ok(None);
        };
        session
            .client
            .apiserver_version()
            .await
            .map_err(|source| match source {
                // It answered, with a refusal: 401 and 403 have their own
                // advice.
                kube::Error::Api(_) => {
                    KubeError::api(format!("reading the version of {}", session.server), source)
                }
                _ => KubeError::Unreachable {
                    server: session.server.clone(),
                    source,
                },
            })?;
        Ok(Some(session.server.clone()))
    }

    /// A session for a write: its absence is an error.
    async fn require_session(&self) -> Result<Arc<Session>, KubeError> {
        self.session().await?.ok_or_else(|| {
            KubeError::ClusterNotReady(match &self.target {
                KubeTarget::Eks(e) => e.cluster.clone(),
                KubeTarget::Kubeconfig { .. } => "kubeconfig".into(),
            })
        })
    }

    /// A session whose token outlives a whole helm run: a new one for
    /// every run on EKS (helm's timeout is 10 minutes, a token's life 15).
    async fn helm_session(&self) -> Result<Arc<Session>, KubeError> {
        if let KubeTarget::Eks(eks) = &self.target {
            let fresh = Session::connect(&self.target)
                .await?
                .map(Arc::new)
                .ok_or_else(|| KubeError::ClusterNotReady(eks.cluster.clone()))?;
            *self.session.lock().await = Some(fresh.clone());
            return Ok(fresh);
        }
        self.require_session().await
    }

    async fn helm(&self) -> Result<Helm, KubeError> {
        let mut slot = self.helm.lock().await;
        if let Some(h) = slot.as_ref() {
            return Ok(h.clone());
        }
        let helm = match &self.helm_path {
            Some(p) => Helm::at(p.clone()).await?,
            None => Helm::discover().await?,
        };
        *slot = Some(helm.clone());
        Ok(helm)
    }

    /// What applying `desired` would give, computed by the API server
    /// without persisting anything (`dryRun=All`): validation and defaults
    /// as the real apply would meet them. Kubernetes kinds only; `None`
    /// for a Helm release or when the cluster does not exist yet.
    pub async fn preview(
        &self,
        kind: ResourceKind,
        desired: &Attrs,
    ) -> Result<Option<Observed>, KubeError> {
        if kind == ResourceKind::HelmRelease {
            return Ok(None);
        }
        let Some(session) = self.session().await? else {
            return Ok(None);
        };
        let obj = objects::apply(&session.client, kind, desired, true).await?;
        Ok(Some(objects::observe(kind, &obj, Some(desired), None)))
    }

    async fn read_kind(&self, req: ReadRequest<'_>) -> Result<Option<Observed>, KubeError> {
        let kind = req.addr.kind;
        let Some(id) = objects::identity(kind, req.desired, req.prior) else {
            return Ok(None);
        };
        let Some(session) = self.session().await? else {
            return Ok(None);
        };
        if kind == ResourceKind::HelmRelease {
            let Some(ns) = &id.namespace else {
                return Ok(None);
            };
            // What runs is the deployed revision: a pending or failed newer
            // one shows as the difference still to apply.
            let releases = read_release(&session, ns, &id.name).await?;
            if let (Some(r), Ok(mut m)) = (&releases.deployed, self.deployed_manifests.lock()) {
                m.insert(req.addr.clone(), r.manifest.clone());
            }
            let Some(record) = releases.deployed else {
                return Ok(None);
            };
            let observed = observe_release(&record, req.desired, req.prior);
            return Ok(Some(
                with_chart_objects(&session.client, observed, &record, req.desired, req.prior)
                    .await?,
            ));
        }
        let obj = objects::get(&session.client, kind, &id).await?;
        Ok(obj.map(|o| objects::observe(kind, &o, req.desired, req.prior)))
    }

    async fn apply_kind(
        &self,
        req: ApplyRequest<'_>,
        creating: bool,
    ) -> Result<Observed, KubeError> {
        let kind = req.addr.kind;
        let phase = if creating {
            Phase::Creating
        } else {
            Phase::Updating
        };
        if kind == ResourceKind::HelmRelease {
            return self.apply_release(req, phase).await;
        }
        let session = self.require_session().await?;
        let mut previous_default = None;
        if kind == ResourceKind::K8sDefaultClass {
            // The class is EKS's, not stackplan's: it must exist, and what
            // its flag said before is kept so destroy can put it back.
            let (id, _) = objects::manifest(kind, req.desired)?;
            let live = objects::get(&session.client, kind, &id)
                .await?
                .ok_or_else(|| KubeError::NoSuchClass(id.name.clone()))?;
            previous_default = match req.prior.and_then(|p| p.outputs.get("previous_default")) {
                Some(v) => Some(v.clone()),
                None => Some(
                    objects::default_annotation(&live)
                        .map(Value::String)
                        .unwrap_or(Value::Null),
                ),
            };
        }
        emit(req.events, req.addr, phase, "server-side apply");
        let obj = objects::apply(&session.client, kind, req.desired, false).await?;
        let mut observed = objects::observe(kind, &obj, Some(req.desired), req.prior);
        if let Some(prev) = previous_default {
            observed.outputs.insert("previous_default".into(), prev);
        }
        Ok(observed)
    }

    async fn apply_release(
        &self,
        req: ApplyRequest<'_>,
        phase: Phase,
    ) -> Result<Observed, KubeError> {
        let desired = req.desired;
        let name = req_str(desired, "name")?;
        let namespace = req_str(desired, "namespace")?;
        let chart = chart_source(desired.get("chart"))?;
        let wait = match desired.get("wait") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(KubeError::attr("wait", "must be true or false")),
        };
        let timeout = match desired.get("timeout") {
            None | Some(Value::Null) => "10m",
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(KubeError::attr("timeout", "must be a duration: \"10m\"")),
        };
        let mut secrets = Vec::new();
        let values = match desired.get("values") {
            None | Some(Value::Null) => Json::Object(Default::default()),
            Some(v) => value_to_json("values", v, &mut secrets)?,
        };
        let helm = self.helm().await?;
        let session = self.helm_session().await?;
        // An apply interrupted while helm ran leaves the release pending,
        // and helm then refuses every upgrade ("another operation is in
        // progress"). stackplan's state lock keeps two applies apart, so a
        // pending release is a leftover: put it back first, as one would by
        // hand, so that re-running apply converges.
        if let Some(stuck) = read_release(&session, namespace, name)
            .await?
            .newest
            .filter(|r| r.status.starts_with("pending-"))
        {
            let install = stuck.status == "pending-install";
            emit(
                req.events,
                req.addr,
                phase,
                &format!(
                    "revision {} was left {} by an interrupted run: {}",
                    stuck.revision,
                    stuck.status,
                    if install {
                        "uninstalling it"
                    } else {
                        "rolling back"
                    }
                ),
            );
            if install {
                helm.uninstall(name, namespace, false, &session.helm)
                    .await?;
            } else {
                helm.rollback(name, namespace, &session.helm).await?;
            }
        }
        emit(
            req.events,
            req.addr,
            phase,
            &format!(
                "helm upgrade --install (helm {}.{})",
                helm.version.0, helm.version.1
            ),
        );
        let upgrade = Upgrade {
            release: name,
            namespace,
            chart: &chart,
            values: &values,
            wait,
            timeout,
            secrets: &secrets,
        };
        if wait {
            let client = self.require_session().await?.client.clone();
            let watch = PodWatch {
                client: &client,
                req: &req,
                phase,
            };
            upgrade_watching_pods(&helm, &upgrade, &session.helm, &watch).await?;
        } else {
            helm.upgrade(&upgrade, &session.helm).await?;
        }
        let record = read_release(&session, namespace, name)
            .await?
            .deployed
            .ok_or_else(|| KubeError::HelmFailed {
                command: format!("helm upgrade --install {name}"),
                stderr: "helm succeeded but left no deployed release record".into(),
            })?;
        let observed = observe_release(&record, Some(desired), req.prior);
        let client = self.require_session().await?.client.clone();
        with_chart_objects(&client, observed, &record, Some(desired), req.prior).await
    }

    async fn delete_kind(&self, req: DeleteRequest<'_>) -> Result<(), KubeError> {
        let kind = req.addr.kind;
        let Some(id) = objects::identity(kind, None, Some(req.prior)) else {
            return Ok(());
        };
        // Nothing to delete in a cluster that is not there.
        let Some(session) = self.session().await? else {
            return Ok(());
        };
        emit(req.events, req.addr, Phase::Deleting, "");
        match kind {
            ResourceKind::HelmRelease => {
                let Some(ns) = &id.namespace else {
                    return Ok(());
                };
                if !read_release(&session, ns, &id.name).await?.exists() {
                    return Ok(());
                }
                let wait = !matches!(req.prior.attributes.get("wait"), Some(Value::Bool(false)));
                let helm = self.helm().await?;
                let session = self.helm_session().await?;
                helm.uninstall(&id.name, ns, wait, &session.helm).await
            }
            ResourceKind::K8sDefaultClass => {
                // Never deleted: the class is the cluster's. Its flag goes
                // back to what it was; true when that was never recorded,
                // as on EKS, where gp2 is the default out of the box.
                let previous = match req.prior.outputs.get("previous_default") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Null) => None,
                    _ => Some("true".to_string()),
                };
                objects::restore_default(&session.client, &id.name, previous.as_deref()).await
            }
            _ => {
                let events = req.events;
                let addr = req.addr;
                let on_wait = move |waited: Duration| {
                    events.emit(ProgressEvent {
                        addr: addr.clone(),
                        phase: Phase::Waiting,
                        message: format!("namespace terminating, {} s", waited.as_secs()),
                    })
                };
                objects::delete(
                    &session.client,
                    kind,
                    &id,
                    &on_wait,
                    NAMESPACE_DELETE_TIMEOUT,
                )
                .await
            }
        }
    }
}

/// How often the release's pods are looked at while helm waits.
const PENDING_POLL: Duration = Duration::from_secs(3);

/// `helm upgrade --wait` while watching the release's pods: those still
/// Pending are reported as progress when the set changes, and named in the
/// error when the wait runs out (`pending`).
/// Where `upgrade_watching_pods` looks and reports.
struct PodWatch<'a> {
    client: &'a kube::Client,
    req: &'a ApplyRequest<'a>,
    phase: Phase,
}

async fn upgrade_watching_pods(
    helm: &Helm,
    upgrade: &Upgrade<'_>,
    access: &crate::helm::HelmKubeAccess,
    watch: &PodWatch<'_>,
) -> Result<(), KubeError> {
    let PodWatch { client, req, phase } = *watch;
    // What the pods say once helm's wait has run out is the rollback's
    // doing, not the answer: looks after the deadline are not kept.
    let wait = stackplan_core::duration::duration_secs(upgrade.timeout)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(600));
    let deadline = tokio::time::Instant::now() + wait;
    let run = helm.upgrade(upgrade, access);
    tokio::pin!(run);
    let mut last: Vec<crate::pending::PendingPod> = Vec::new();
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            () = tokio::time::sleep(PENDING_POLL) => {
                // A failed look is no reason to stop helm: the next may work.
                let looked =
                    crate::pending::pending_pods(client, upgrade.namespace, upgrade.release).await;
                if let (Ok(Some(now)), true) = (looked, tokio::time::Instant::now() < deadline) {
                    if now != last && !now.is_empty() {
                        emit(req.events, req.addr, phase, &crate::pending::summary(&now));
                    }
                    last = now;
                }
            }
        }
    };
    match outcome {
        // helm 4's watcher says "context deadline exceeded", helm 3's
        // "timed out waiting for the condition": only a wait that ran out
        // is blamed on the pods.
        Err(KubeError::HelmFailed { command, stderr })
            if !last.is_empty()
                && (stderr.contains("deadline exceeded") || stderr.contains("timed out")) =>
        {
            Err(KubeError::WaitRanOut {
                command,
                stderr,
                pending: last,
            })
        }
        other => other,
    }
}

fn emit(events: &dyn EventSink, addr: &ResourceAddr, phase: Phase, message: &str) {
    events.emit(ProgressEvent {
        addr: addr.clone(),
        phase,
        message: message.to_string(),
    });
}

/// The chart attribute: `{repository, name, version}`, `{path}` or
/// `{oci, version}`.
pub fn chart_source(chart: Option<&Value>) -> Result<ChartSource, KubeError> {
    let Some(Value::Map(m)) = chart else {
        return Err(KubeError::attr(
            "chart",
            "must be {repository, name, version}, {path} or {oci, version}",
        ));
    };
    let s = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let Some(path) = s("path") {
        return Ok(ChartSource::Path(path));
    }
    if let Some(reference) = s("oci") {
        return Ok(ChartSource::Oci {
            reference,
            version: s("version"),
        });
    }
    match (s("repository"), s("name")) {
        (Some(url), Some(name)) => Ok(ChartSource::Repository {
            url,
            name,
            version: s("version"),
        }),
        _ => Err(KubeError::attr(
            "chart",
            "must be {repository, name, version}, {path} or {oci, version}",
        )),
    }
}

/// What the records of one release say.
#[derive(Debug, Default)]
struct Releases {
    /// The newest revision, whatever its status.
    newest: Option<ReleaseRecord>,
    /// The revision running now: the newest `deployed` one. While an
    /// upgrade is pending, or after one failed without a rollback, that is
    /// an older revision than `newest`.
    deployed: Option<ReleaseRecord>,
}

impl Releases {
    /// A release helm still knows (not uninstalled with `--keep-history`).
    fn exists(&self) -> bool {
        self.newest
            .as_ref()
            .is_some_and(|r| r.status != "uninstalled")
    }
}

/// The records of release `name`, natively from its Secrets.
async fn read_release(
    session: &Session,
    namespace: &str,
    name: &str,
) -> Result<Releases, KubeError> {
    let api: Api<Secret> = Api::namespaced(session.client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("owner=helm,name={name}")))
        .await
        .map_err(|e| {
            KubeError::api(
                format!("listing the records of Helm release `{namespace}/{name}`"),
                e,
            )
        })?;
    let prefix = format!("{RECORD_PREFIX}{name}.v");
    let mut records: Vec<(u64, String, Secret)> = list
        .items
        .into_iter()
        .filter_map(|secret| {
            let secret_name = secret.metadata.name.clone()?;
            let revision: u64 = secret_name.strip_prefix(&prefix)?.parse().ok()?;
            Some((revision, secret_name, secret))
        })
        .collect();
    records.sort_by_key(|r| std::cmp::Reverse(r.0));
    let decode = |(_, secret_name, secret): &(u64, String, Secret)| {
        let data = secret
            .data
            .as_ref()
            .and_then(|d| d.get("release"))
            .ok_or_else(|| KubeError::ReleaseRecord {
                secret: secret_name.clone(),
                reason: "no `release` key".into(),
            })?;
        decode_release(secret_name, &data.0)
    };
    let Some(first) = records.first() else {
        return Ok(Releases::default());
    };
    let newest = decode(first)?;
    if newest.status == "deployed" {
        return Ok(Releases {
            deployed: Some(newest.clone()),
            newest: Some(newest),
        });
    }
    // Helm keeps the `status` label in step with the record: only the
    // candidate is decoded, and its own status is what counts.
    let mut deployed = None;
    for r in records.iter().skip(1) {
        let label = r.2.metadata.labels.as_ref().and_then(|l| l.get("status"));
        if label.map(String::as_str) == Some("deployed") {
            deployed = Some(decode(r)?).filter(|d| d.status == "deployed");
            break;
        }
    }
    Ok(Releases {
        newest: Some(newest),
        deployed,
    })
}

/// A release as stackplan sees it: identity, chart, user-supplied values
/// (secrets masked), and the record's revision and status as outputs.
pub fn observe_release(
    record: &ReleaseRecord,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Observed {
    let template = |attr: &str| -> Option<&Value> {
        desired
            .and_then(|d| d.get(attr))
            .or_else(|| prior.and_then(|p| p.attributes.get(attr)))
    };
    let mut templates: Vec<&Value> = Vec::new();
    templates.extend(desired.and_then(|d| d.get("values")));
    templates.extend(prior.and_then(|p| p.attributes.get("values")));
    let values = mask(json_to_value(&record.config), &templates);
    let id = ObjectId {
        namespace: Some(record.namespace.clone()),
        name: record.name.clone(),
    };
    let mut o = Observed::new(id.physical())
        .attr("name", record.name.as_str())
        .attr("namespace", record.namespace.as_str())
        .attr("chart", observed_chart(template("chart"), record))
        .attr("values", values)
        .output("revision", record.revision)
        .output("status", record.status.as_str())
        .output("chart_version", record.chart_version.as_str());
    if let Some(app) = &record.app_version {
        o = o.output("app_version", app.as_str());
    }
    o
}

/// Adds `chart_objects` (see `chart_drift`) when the stack asks for it,
/// or the last apply recorded it: the objects of the deployed revision
/// read live, with the fields that differ from its manifest.
async fn with_chart_objects(
    client: &kube::Client,
    observed: Observed,
    record: &ReleaseRecord,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Result<Observed, KubeError> {
    let wanted = desired.is_some_and(|d| d.contains_key("chart_objects"))
        || prior.is_some_and(|p| p.attributes.contains_key("chart_objects"));
    if !wanted {
        return Ok(observed);
    }
    let objects =
        crate::chart_drift::chart_objects(client, &record.manifest, &record.namespace).await?;
    Ok(observed.attr("chart_objects", objects))
}

/// The chart attribute as the record shows it, in the stack's shape: the
/// record knows the chart's name and version, not where it came from, so
/// the source (repository URL, path, OCI reference) is the stack's own.
fn observed_chart(template: Option<&Value>, record: &ReleaseRecord) -> Value {
    let Some(Value::Map(m)) = template else {
        return Value::map([
            ("name", Value::string(&record.chart_name)),
            ("version", Value::string(&record.chart_version)),
        ]);
    };
    let mut m = m.clone();
    if m.contains_key("repository") {
        m.insert("name".into(), Value::string(&record.chart_name));
    }
    // A pinned version is compared with what is installed; an unpinned one
    // ("the latest") stays unpinned, or every plan would show a change.
    if matches!(m.get("version"), Some(Value::String(_))) {
        m.insert("version".into(), Value::string(&record.chart_version));
    }
    // The appVersion the chart declared (the Milvus release it runs),
    // when the stack read it from the chart.
    if m.contains_key("app_version") {
        m.insert(
            "app_version".into(),
            record
                .app_version
                .as_deref()
                .map(Value::string)
                .unwrap_or(Value::Null),
        );
    }
    Value::Map(m)
}

impl Provider for KubeProvider {
    fn name(&self) -> &str {
        "kubernetes"
    }

    fn kinds(&self) -> Vec<ResourceKind> {
        vec![
            ResourceKind::K8sNamespace,
            ResourceKind::K8sServiceAccount,
            ResourceKind::K8sStorageClass,
            ResourceKind::K8sDefaultClass,
            ResourceKind::K8sSecret,
            ResourceKind::HelmRelease,
        ]
    }

    fn read<'a>(&'a self, req: ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        Box::pin(async move { Ok(self.read_kind(req).await?) })
    }

    fn create<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move { Ok(self.apply_kind(req, true).await?) })
    }

    fn update<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move { Ok(self.apply_kind(req, false).await?) })
    }

    fn delete<'a>(&'a self, req: DeleteRequest<'a>) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move { Ok(self.delete_kind(req).await?) })
    }

    fn wait_timeout(&self, kind: ResourceKind) -> Duration {
        match kind {
            // helm's own --timeout bounds it.
            ResourceKind::HelmRelease => Duration::from_secs(11 * 60),
            _ => Duration::from_secs(5 * 60),
        }
    }
}
