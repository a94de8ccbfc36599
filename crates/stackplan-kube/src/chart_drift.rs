//! Drift of the objects a chart made: each object of a release's deployed
//! manifest read live and compared with the manifest on the fields the
//! manifest sets. A field the cluster adds (defaults, `status`, server
//! metadata) is never compared, since only the manifest's own fields are
//! walked; fields that controllers own by design are skipped by name
//! ([`OWNED_ELSEWHERE`]). A deleted object is drift too.
//!
//! The result is the release's `chart_objects` attribute: a map from
//! `Kind/namespace/name` to the fields that differ (`{"spec.replicas":
//! "0 (the release sets 1)"}`), empty when the objects are as the release
//! made them. The stack asks for it empty, so drift shows up in `drift`
//! and plans an update of the release, which `helm upgrade` (a new
//! revision) puts back.

use std::collections::BTreeMap;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value as Json;
use stackplan_core::Value;

use crate::KubeError;
use crate::manifest::{RenderedObject, parse_quantity};

/// Fields controllers own by design, per kind, never compared: a
/// HorizontalPodAutoscaler's target's `spec.replicas` (see
/// [`hpa_targets`]), the `caBundle` a webhook's certificate controller
/// injects, and the Deployment revision the deployment controller counts.
/// A Secret's data is compared but never shown.
pub const OWNED_ELSEWHERE: &[(&str, &str)] = &[
    ("*", "status"),
    (
        "*",
        "metadata.annotations.deployment.kubernetes.io/revision",
    ),
    ("MutatingWebhookConfiguration", "caBundle"),
    ("ValidatingWebhookConfiguration", "caBundle"),
    ("CustomResourceDefinition", "caBundle"),
];

/// Kinds that are not namespaced (Kubernetes API reference): their objects
/// are read without a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "Namespace",
    "PersistentVolume",
    "IngressClass",
    "APIService",
    "CSIDriver",
];

/// What a drifted field shows.
fn shown(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Equal as the API server stores them: the same text (`8080` and
/// `"8080"`), or the same quantity (`0.5` and `500m`, `1Gi` and
/// `1073741824`).
fn same_scalar(want: &Json, live: &Json) -> bool {
    if want == live || shown(want) == shown(live) {
        return true;
    }
    match (parse_quantity(&shown(want)), parse_quantity(&shown(live))) {
        (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(1.0),
        _ => false,
    }
}

fn skipped(kind: &str, path: &str) -> bool {
    OWNED_ELSEWHERE.iter().any(|(k, p)| {
        (*k == "*" || *k == kind)
            && (path == *p
                || path.starts_with(&format!("{p}."))
                || path.ends_with(&format!(".{p}")))
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Every field of `want` that `live` does not hold, as `(path, wanted,
/// live)`; empty values in the manifest are not compared (the API server
/// drops them).
fn compare(
    kind: &str,
    path: &str,
    want: &Json,
    live: Option<&Json>,
    out: &mut Vec<(String, String, String)>,
) {
    if empty(want) || skipped(kind, path) {
        return;
    }
    let Some(live) = live else {
        out.push((path.to_string(), shown(want), "(absent)".into()));
        return;
    };
    match (want, live) {
        (Json::Object(w), Json::Object(l)) => {
            for (k, v) in w {
                compare(kind, &join(path, k), v, l.get(k), out);
            }
        }
        (Json::Array(w), Json::Array(l)) => {
            let by_name = |items: &Vec<Json>| -> Option<BTreeMap<String, Json>> {
                items
                    .iter()
                    .map(|i| Some((i.get("name")?.as_str()?.to_string(), i.clone())))
                    .collect()
            };
            match (by_name(w), by_name(l)) {
                (Some(wn), Some(ln)) => {
                    for (name, item) in &wn {
                        compare(
                            kind,
                            &format!("{path}[name={name}]"),
                            item,
                            ln.get(name),
                            out,
                        );
                    }
                }
                _ => {
                    for (i, item) in w.iter().enumerate() {
                        compare(kind, &format!("{path}[{i}]"), item, l.get(i), out);
                    }
                }
            }
        }
        (w, l) if !w.is_object() && !w.is_array() => {
            if !same_scalar(w, l) {
                out.push((path.to_string(), shown(w), shown(l)));
            }
        }
        (w, l) => out.push((path.to_string(), shown(w), shown(l))),
    }
}

/// The objects a HorizontalPodAutoscaler of the manifest scales
/// (`Kind/name`): their `spec.replicas` is the autoscaler's.
fn hpa_targets(objects: &[RenderedObject]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler")
        .filter_map(|o| {
            let t = o.at("spec.scaleTargetRef")?;
            Some(format!(
                "{}/{}",
                t.get("kind")?.as_str()?,
                t.get("name")?.as_str()?
            ))
        })
        .collect()
}

/// The fields of one manifest object that its live copy does not hold;
/// `None` live is a deleted object.
pub fn object_drift(
    object: &RenderedObject,
    live: Option<&Json>,
    autoscaled: bool,
) -> BTreeMap<String, String> {
    let Some(live) = live else {
        return BTreeMap::from([(String::new(), "deleted".to_string())]);
    };
    let mut found = Vec::new();
    for (k, v) in object.body.as_object().into_iter().flatten() {
        if matches!(k.as_str(), "apiVersion" | "kind") {
            continue;
        }
        compare(&object.kind, k, v, live.get(k), &mut found);
    }
    let secret = object.kind == "Secret";
    found
        .into_iter()
        .filter(|(path, _, _)| !(autoscaled && path == "spec.replicas"))
        .map(|(path, want, live)| {
            let text = if secret && (path.starts_with("data") || path.starts_with("stringData")) {
                "changed (sensitive)".to_string()
            } else {
                format!("{live} (the release sets {want})")
            };
            (path, text)
        })
        .collect()
}

fn api_for(
    client: &Client,
    object: &RenderedObject,
    namespace: &str,
) -> Option<Api<DynamicObject>> {
    let api_version = object.body.get("apiVersion")?.as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &object.kind));
    Some(if CLUSTER_SCOPED.contains(&object.kind.as_str()) {
        Api::all_with(client.clone(), &ar)
    } else {
        let ns = object
            .at("metadata.namespace")
            .and_then(Json::as_str)
            .unwrap_or(namespace);
        Api::namespaced_with(client.clone(), ns, &ar)
    })
}

/// The release's `chart_objects`: every object of `manifest` (the
/// deployed revision's) read live, keyed `Kind/namespace/name`, with the
/// fields that differ; objects as the release made them are left out.
pub async fn chart_objects(
    client: &Client,
    manifest: &str,
    namespace: &str,
) -> Result<Value, KubeError> {
    let objects = crate::manifest::parse_manifest(manifest)?;
    let scaled = hpa_targets(&objects);
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for o in &objects {
        let Some(api) = api_for(client, o, namespace) else {
            continue;
        };
        let live = api
            .get_opt(&o.name)
            .await
            .map_err(|e| KubeError::api(format!("reading {} `{}`", o.kind, o.name), e))?;
        let live = live.map(|l| serde_json::to_value(l).unwrap_or_default());
        let autoscaled = scaled.contains(&format!("{}/{}", o.kind, o.name));
        let drift = object_drift(o, live.as_ref(), autoscaled);
        if drift.is_empty() {
            continue;
        }
        let ns = if CLUSTER_SCOPED.contains(&o.kind.as_str()) {
            String::new()
        } else {
            o.at("metadata.namespace")
                .and_then(Json::as_str)
                .unwrap_or(namespace)
                .to_string()
        };
        let key = format!("{}/{}/{}", o.kind, ns, o.name);
        let fields = drift.into_iter().map(|(path, text)| {
            let path = if path.is_empty() {
                "object".to_string()
            } else {
                path
            };
            (path, Value::string(text))
        });
        out.insert(key, Value::Map(fields.collect()));
    }
    Ok(Value::Map(out.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(body: Json) -> RenderedObject {
        RenderedObject {
            kind: body["kind"].as_str().unwrap().into(),
            name: body["metadata"]["name"].as_str().unwrap().into(),
            body,
        }
    }

    fn deployment() -> RenderedObject {
        object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "q", "labels": {"app": "milvus"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "querynode", "env": [{"name": "A", "value": ""}],
                 "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}}}
            ]}}}
        }))
    }

    #[test]
    fn what_the_cluster_adds_or_normalises_is_not_drift() {
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "q", "uid": "u", "labels": {"app": "milvus", "extra": "x"},
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 1, "strategy": {}, "template": {"spec": {"containers": [
                {"name": "querynode", "env": [{"name": "A"}], "imagePullPolicy": "Always",
                 "resources": {"limits": {"cpu": "500m", "memory": "1073741824"}}}
            ]}}},
            "status": {"replicas": 1}
        });
        assert!(object_drift(&deployment(), Some(&live), false).is_empty());
    }

    #[test]
    fn a_scaled_deployment_and_a_deleted_object_are_drift_unless_an_autoscaler_owns_the_count() {
        let mut live = deployment().body;
        live["spec"]["replicas"] = json!(0);
        assert_eq!(
            object_drift(&deployment(), Some(&live), false),
            BTreeMap::from([(
                "spec.replicas".to_string(),
                "0 (the release sets 1)".to_string()
            )])
        );
        assert!(object_drift(&deployment(), Some(&live), true).is_empty());
        assert_eq!(
            object_drift(&deployment(), None, false),
            BTreeMap::from([(String::new(), "deleted".to_string())])
        );
    }

    #[test]
    fn a_config_map_edit_is_named_by_key_and_a_secrets_data_never_shows() {
        let cm = object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"user.yaml": "a: 1\n"}}));
        let live = json!({"data": {"user.yaml": "a: 2\n"}, "metadata": {"name": "c"}});
        let d = object_drift(&cm, Some(&live), false);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["data.user.yaml"]);
        let s = object(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}}));
        let live = json!({"data": {"password": "b3RoZXI="}, "metadata": {"name": "s"}});
        let d = object_drift(&s, Some(&live), false);
        assert_eq!(d["data.password"], "changed (sensitive)");
        assert!(!format!("{d:?}").contains("aHVudGVyMg"));
    }
}
