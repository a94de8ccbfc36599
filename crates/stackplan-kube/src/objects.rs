//! The Kubernetes kinds: namespace, service account, StorageClass, an
//! existing StorageClass's default-class annotation, and an Opaque Secret.
//!
//! Writes are server-side apply under field manager `stackplan`, forced:
//! the stack is the authority for the fields it sets, and a field someone
//! else took over (`kubectl annotate`) is taken back. Reads report only the
//! fields stackplan manages, in the shape of the desired attributes, so a
//! clean apply followed by a plan is quiet while a label another
//! controller adds never shows up as a change.
//!
//! A Secret's values leave this module only inside [`Value::Sensitive`]:
//! decoded from the API's base64 into one on read, and taken out of one
//! only to be base64-encoded into the apply body. No error names a value.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use serde_json::{Value as Json, json};
use stackplan_core::{Attrs, Observed, ResourceKind, ResourceState, Value};

use crate::KubeError;
use crate::values::{known_str, map_keys, opt_str, req_str, string_map, value_to_json};

/// The field manager of everything stackplan applies.
pub const FIELD_MANAGER: &str = "stackplan";

/// The annotation that makes a StorageClass the cluster's default.
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// The field manager used to hand the default-class annotation back on
/// destroy: an update (not an apply) takes the field out of `stackplan`'s
/// ownership, so the restored value stays when stackplan lets go.
const RESTORE_MANAGER: &str = "stackplan-restore";

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    /// `namespace/name` or `name`: the physical id kept in state.
    pub fn physical(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    fn parse(kind: ResourceKind, physical: &str) -> ObjectId {
        match (namespaced(kind), physical.split_once('/')) {
            (true, Some((ns, name))) => ObjectId {
                namespace: Some(ns.to_string()),
                name: name.to_string(),
            },
            _ => ObjectId {
                namespace: None,
                name: physical.to_string(),
            },
        }
    }
}

fn namespaced(kind: ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::K8sServiceAccount | ResourceKind::K8sSecret | ResourceKind::HelmRelease
    )
}

fn api_resource(kind: ResourceKind) -> ApiResource {
    match kind {
        ResourceKind::K8sNamespace => ApiResource::erase::<Namespace>(&()),
        ResourceKind::K8sServiceAccount => ApiResource::erase::<ServiceAccount>(&()),
        ResourceKind::K8sSecret => ApiResource::erase::<Secret>(&()),
        _ => ApiResource::erase::<StorageClass>(&()),
    }
}

fn api(client: &Client, kind: ResourceKind, id: &ObjectId) -> Api<DynamicObject> {
    let ar = api_resource(kind);
    match &id.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// The object's identity: from state when it is there, else from the
/// stack; `None` when the stack's value is not known yet.
pub fn identity(
    kind: ResourceKind,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Option<ObjectId> {
    if let Some(id) = prior.and_then(|p| p.physical_id.as_deref()) {
        return Some(ObjectId::parse(kind, id));
    }
    let from = desired.or(prior.map(|p| &p.attributes));
    let name = known_str(from, "name")?.to_string();
    let namespace = if namespaced(kind) {
        Some(known_str(from, "namespace")?.to_string())
    } else {
        None
    };
    Some(ObjectId { namespace, name })
}

fn desired_id(kind: ResourceKind, desired: &Attrs) -> Result<ObjectId, KubeError> {
    Ok(ObjectId {
        name: req_str(desired, "name")?.to_string(),
        namespace: if namespaced(kind) {
            Some(req_str(desired, "namespace")?.to_string())
        } else {
            None
        },
    })
}

/// The server-side apply body for `desired`: only the fields the stack
/// sets, so that stackplan owns exactly those.
pub fn manifest(kind: ResourceKind, desired: &Attrs) -> Result<(ObjectId, Json), KubeError> {
    let id = desired_id(kind, desired)?;
    let mut metadata = json!({ "name": id.name });
    if let Some(ns) = &id.namespace {
        metadata["namespace"] = json!(ns);
    }
    let (api_version, kind_name) = match kind {
        ResourceKind::K8sNamespace => ("v1", "Namespace"),
        ResourceKind::K8sServiceAccount => ("v1", "ServiceAccount"),
        ResourceKind::K8sSecret => ("v1", "Secret"),
        _ => ("storage.k8s.io/v1", "StorageClass"),
    };
    let mut body = json!({ "apiVersion": api_version, "kind": kind_name });
    if kind == ResourceKind::K8sDefaultClass {
        let default = match desired.get("default") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => return Err(KubeError::attr("default", "must be true or false")),
        };
        metadata["annotations"] = json!({ IS_DEFAULT_CLASS: default.to_string() });
        body["metadata"] = metadata;
        return Ok((id, body));
    }
    for attr in ["labels", "annotations"] {
        let m = string_map(desired, attr)?;
        if !m.is_empty() {
            metadata[attr] = json!(m);
        }
    }
    body["metadata"] = metadata;
    if kind == ResourceKind::K8sSecret {
        // `data`, not `stringData`: the API stores only `data`, so field
        // ownership is recorded on the keys a read finds, and a key the
        // stack drops is removed by the next apply.
        body["type"] = json!("Opaque");
        let data = secret_data(desired)?;
        if !data.is_empty() {
            body["data"] = json!(data);
        }
    }
    if kind == ResourceKind::K8sStorageClass {
        body["provisioner"] = json!(req_str(desired, "provisioner")?);
        let parameters = string_map(desired, "parameters")?;
        if !parameters.is_empty() {
            body["parameters"] = json!(parameters);
        }
        if let Some(mode) = opt_str(desired, "volume_binding_mode")? {
            body["volumeBindingMode"] = json!(mode);
        }
        if let Some(policy) = opt_str(desired, "reclaim_policy")? {
            body["reclaimPolicy"] = json!(policy);
        }
        match desired.get("allow_volume_expansion") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => body["allowVolumeExpansion"] = json!(b),
            Some(_) => {
                return Err(KubeError::attr(
                    "allow_volume_expansion",
                    "must be a boolean",
                ));
            }
        }
    }
    Ok((id, body))
}

/// A Secret's `data` as the API takes it: each value base64-encoded. A
/// value must be a string (sensitive or not); errors name the key only.
fn secret_data(desired: &Attrs) -> Result<BTreeMap<String, String>, KubeError> {
    let m = match desired.get("data") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Map(m)) => m,
        Some(v) if !v.is_known() => return Err(KubeError::attr("data", "is not known yet")),
        Some(_) => return Err(KubeError::attr("data", "must be a map of strings")),
    };
    m.iter()
        .map(|(k, v)| {
            let path = format!("data.{k}");
            // What a helm values file gets, by the same rules: a sensitive
            // value's content, an `env:` source read now; anything apply
            // should have resolved is refused by its path.
            match value_to_json(&path, v, &mut Vec::new())? {
                Json::String(s) => Ok((k.clone(), STANDARD.encode(s))),
                _ => Err(KubeError::attr(&path, "must be a string")),
            }
        })
        .collect()
}

/// A Secret's `data` as stackplan sees it: the keys the stack sets, set
/// last time or owns, each value decoded and sensitive. A value that is
/// not UTF-8 cannot be one stackplan wrote: it is read lossily, and so
/// differs from anything desired.
fn observed_secret_data(
    obj: &DynamicObject,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Value {
    let live = obj.data.get("data").and_then(Json::as_object);
    let mut keys: BTreeSet<String> = owned_keys(obj, &["f:data"]);
    keys.extend(map_keys(desired, "data"));
    keys.extend(map_keys(prior.map(|p| &p.attributes), "data"));
    let m: BTreeMap<String, Value> = keys
        .into_iter()
        .filter_map(|k| {
            let encoded = live?.get(&k)?.as_str()?;
            let bytes = STANDARD.decode(encoded).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Some((k, Value::Sensitive(Box::new(Value::String(text)))))
        })
        .collect();
    Value::Map(m)
}

/// Reads the live object; `None` when it does not exist.
pub async fn get(
    client: &Client,
    kind: ResourceKind,
    id: &ObjectId,
) -> Result<Option<DynamicObject>, KubeError> {
    api(client, kind, id)
        .get_opt(&id.name)
        .await
        .map_err(|e| KubeError::api(format!("reading {} `{}`", kind, id.physical()), e))
}

/// Applies `desired`; with `dry_run`, the server computes the result
/// without persisting it (a preview that runs admission and validation).
pub async fn apply(
    client: &Client,
    kind: ResourceKind,
    desired: &Attrs,
    dry_run: bool,
) -> Result<DynamicObject, KubeError> {
    let (id, body) = manifest(kind, desired)?;
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    api(client, kind, &id)
        .patch(&id.name, &params, &Patch::Apply(&body))
        .await
        .map_err(|e| KubeError::api(format!("applying {} `{}`", kind, id.physical()), e))
}

/// Deletes the object; gone already is success. A namespace is waited for
/// until the namespace controller has emptied and removed it, so that a
/// re-create right after does not meet a terminating namespace.
pub async fn delete(
    client: &Client,
    kind: ResourceKind,
    id: &ObjectId,
    on_wait: &(dyn Fn(Duration) + Send + Sync),
    timeout: Duration,
) -> Result<(), KubeError> {
    let api = api(client, kind, id);
    match api.delete(&id.name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => {
            return Err(KubeError::api(
                format!("deleting {} `{}`", kind, id.physical()),
                e,
            ));
        }
    }
    if kind != ResourceKind::K8sNamespace {
        return Ok(());
    }
    let started = std::time::Instant::now();
    loop {
        let gone = api
            .get_opt(&id.name)
            .await
            .map_err(|e| KubeError::api(format!("waiting for namespace `{}`", id.name), e))?
            .is_none();
        if gone {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited > timeout {
            return Err(KubeError::Timeout {
                what: format!("namespace `{}` to be deleted", id.name),
                seconds: timeout.as_secs(),
            });
        }
        on_wait(waited);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The annotation value of the default-class flag, if set.
pub fn default_annotation(obj: &DynamicObject) -> Option<String> {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(IS_DEFAULT_CLASS))
        .cloned()
}

/// Gives the default-class annotation back to what it was before
/// stackplan changed it (`None`: it was not set).
pub async fn restore_default(
    client: &Client,
    name: &str,
    previous: Option<&str>,
) -> Result<(), KubeError> {
    let id = ObjectId {
        namespace: None,
        name: name.to_string(),
    };
    let patch = json!({ "metadata": { "annotations": { IS_DEFAULT_CLASS: previous } } });
    let params = PatchParams {
        field_manager: Some(RESTORE_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api(client, ResourceKind::K8sDefaultClass, &id)
        .patch(name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(KubeError::api(
            format!("restoring the default-class annotation of StorageClass `{name}`"),
            e,
        )),
    }
}

/// The keys under the object path `path` (`["f:metadata", "f:labels"]`)
/// that field manager `stackplan` owns through apply.
fn owned_keys(obj: &DynamicObject, path: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in obj.metadata.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(FIELD_MANAGER)
            || entry.operation.as_deref() != Some("Apply")
        {
            continue;
        }
        let Some(fields) = &entry.fields_v1 else {
            continue;
        };
        if let Some(Json::Object(m)) = path.iter().try_fold(&fields.0, |v, key| v.get(key)) {
            out.extend(
                m.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_string),
            );
        }
    }
    out
}

/// Labels or annotations as stackplan sees them: the keys the stack sets,
/// the keys it set last time, and the keys it owns, with their live values
/// (a key missing live is absent, which shows as its removal).
fn managed_map(
    obj: &DynamicObject,
    field: &str,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Value {
    let live = match field {
        "labels" => obj.metadata.labels.as_ref(),
        _ => obj.metadata.annotations.as_ref(),
    };
    let mut keys: BTreeSet<String> = owned_keys(obj, &["f:metadata", &format!("f:{field}")]);
    keys.extend(map_keys(desired, field));
    keys.extend(map_keys(prior.map(|p| &p.attributes), field));
    let m: BTreeMap<String, Value> = keys
        .into_iter()
        .filter_map(|k| {
            let v = live?.get(&k)?;
            Some((k, Value::String(v.clone())))
        })
        .collect();
    Value::Map(m)
}

/// What stackplan manages of a live object, in the desired attributes'
/// shape.
pub fn observe(
    kind: ResourceKind,
    obj: &DynamicObject,
    desired: Option<&Attrs>,
    prior: Option<&ResourceState>,
) -> Observed {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let id = ObjectId {
        namespace: obj.metadata.namespace.clone().filter(|_| namespaced(kind)),
        name: name.clone(),
    };
    let mut o = Observed::new(id.physical()).attr("name", name.as_str());
    if let Some(ns) = &id.namespace {
        o = o.attr("namespace", ns.as_str());
    }
    if kind == ResourceKind::K8sDefaultClass {
        let is_default = default_annotation(obj).as_deref() == Some("true");
        o = o.attr("default", is_default);
        // Only known at the first apply; carried along so that destroy
        // can restore it whenever it comes.
        if let Some(prev) = prior.and_then(|p| p.outputs.get("previous_default")) {
            o = o.output("previous_default", prev.clone());
        }
        return o;
    }
    o = o
        .attr("labels", managed_map(obj, "labels", desired, prior))
        .attr(
            "annotations",
            managed_map(obj, "annotations", desired, prior),
        );
    if let Some(uid) = &obj.metadata.uid {
        o = o.output("uid", uid.as_str());
    }
    if kind == ResourceKind::K8sSecret {
        o = o.attr("data", observed_secret_data(obj, desired, prior));
        if let Some(version) = &obj.metadata.resource_version {
            o = o.output("resource_version", version.as_str());
        }
    }
    if kind == ResourceKind::K8sStorageClass {
        let data = &obj.data;
        let s = |key: &str| data.get(key).and_then(Json::as_str).map(Value::string);
        let parameters: BTreeMap<String, Value> = data
            .get("parameters")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Value::string(v.as_str()?))))
                    .collect()
            })
            .unwrap_or_default();
        o = o
            .attr("provisioner", s("provisioner").unwrap_or_default())
            .attr("parameters", Value::Map(parameters))
            .attr(
                "volume_binding_mode",
                s("volumeBindingMode").unwrap_or_default(),
            )
            .attr("reclaim_policy", s("reclaimPolicy").unwrap_or_default())
            .attr(
                "allow_volume_expansion",
                data.get("allowVolumeExpansion")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
            );
    }
    o
}
