//! The Kubernetes objects a release's new manifest changes, against the
//! manifest of its deployed revision: objects added, removed and changed,
//! each changed one by field path. A Secret's data never shows (only that
//! it changed), nor a ConfigMap line that sets a password, secret, token
//! or key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use stackplan_core::{ManifestChange, ManifestField};

use crate::KubeError;
use crate::manifest::parse_manifest;

/// What a masked value shows.
const SENSITIVE: &str = "(sensitive)";

/// Longest value shown; the rest is cut with `…`.
const SHOWN: usize = 160;

/// `(kind, namespace, name)`: an object's identity in a manifest. An
/// object the chart leaves without a namespace is in the release's.
type Key = (String, String, String);

fn objects(text: &str, namespace: &str) -> Result<BTreeMap<Key, Json>, KubeError> {
    Ok(parse_manifest(text)?
        .into_iter()
        .map(|o| {
            let ns = o
                .at("metadata.namespace")
                .and_then(Json::as_str)
                .unwrap_or(namespace)
                .to_string();
            ((o.kind, ns, o.name), o.body)
        })
        .collect())
}

/// The objects `after` adds, removes or changes relative to `before`,
/// sorted by kind, namespace and name.
pub fn diff_manifests(
    before: &str,
    after: &str,
    namespace: &str,
) -> Result<Vec<ManifestChange>, KubeError> {
    let old = objects(before, namespace)?;
    let new = objects(after, namespace)?;
    let keys: BTreeSet<&Key> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (kind, ns, name) = key.clone();
        let change = |action: &str, fields: Vec<ManifestField>| ManifestChange {
            kind: kind.clone(),
            namespace: ns.clone(),
            name: name.clone(),
            action: action.to_string(),
            fields,
        };
        match (old.get(key), new.get(key)) {
            (None, Some(_)) => out.push(change("add", Vec::new())),
            (Some(_), None) => out.push(change("remove", Vec::new())),
            (Some(a), Some(b)) if a != b => {
                let mut fields = Vec::new();
                diff_value("", a, b, &mut fields);
                if kind == "Secret" {
                    mask_secret(&mut fields);
                }
                if !fields.is_empty() {
                    out.push(change("change", fields));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn named(items: &[Json]) -> Option<BTreeMap<&str, &Json>> {
    let map: BTreeMap<&str, &Json> = items
        .iter()
        .map(|i| Some((i.get("name")?.as_str()?, i)))
        .collect::<Option<_>>()?;
    (map.len() == items.len()).then_some(map)
}

fn shown(v: &Json) -> String {
    let text = match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > SHOWN {
        format!("{}…", text.chars().take(SHOWN).collect::<String>())
    } else {
        text
    }
}

fn field(path: &str, before: Option<&Json>, after: Option<&Json>) -> ManifestField {
    ManifestField {
        path: path.to_string(),
        before: before.map(shown),
        after: after.map(shown),
    }
}

fn diff_value(path: &str, a: &Json, b: &Json, out: &mut Vec<ManifestField>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = join(path, k);
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_value(&p, u, v, out),
                    (u, v) => out.push(field(&p, u, v)),
                }
            }
        }
        // Lists of named items (containers, env, ports, volumes) by name,
        // so one container's change is not every later index's.
        (Json::Array(x), Json::Array(y)) => match (named(x), named(y)) {
            (Some(nx), Some(ny)) => {
                let keys: BTreeSet<&&str> = nx.keys().chain(ny.keys()).collect();
                for k in keys {
                    let p = format!("{path}[name={k}]");
                    match (nx.get(*k), ny.get(*k)) {
                        (Some(u), Some(v)) => diff_value(&p, u, v, out),
                        (u, v) => out.push(field(&p, u.copied(), v.copied())),
                    }
                }
            }
            _ if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    diff_value(&format!("{path}[{i}]"), u, v, out);
                }
            }
            _ => out.push(field(path, Some(a), Some(b))),
        },
        (Json::String(x), Json::String(y)) if x.contains('\n') || y.contains('\n') => {
            text_lines(path, x, y, out)
        }
        _ => out.push(field(path, Some(a), Some(b))),
    }
}

/// A multi-line string (a ConfigMap's `milvus.yaml`): the lines it loses
/// and gains, those that set a credential masked.
fn text_lines(path: &str, a: &str, b: &str, out: &mut Vec<ManifestField>) {
    let old: BTreeSet<&str> = a.lines().collect();
    let new: BTreeSet<&str> = b.lines().collect();
    let gone: Vec<String> = a
        .lines()
        .filter(|l| !new.contains(l))
        .map(mask_line)
        .collect();
    let came: Vec<String> = b
        .lines()
        .filter(|l| !old.contains(l))
        .map(mask_line)
        .collect();
    if gone.is_empty() && came.is_empty() {
        // Only the order of lines moved.
        out.push(ManifestField {
            path: path.to_string(),
            before: Some("(lines reordered)".into()),
            after: Some("(lines reordered)".into()),
        });
        return;
    }
    out.push(ManifestField {
        path: path.to_string(),
        before: (!gone.is_empty()).then(|| gone.join(" | ")),
        after: (!came.is_empty()).then(|| came.join(" | ")),
    });
}

/// `password: hunter2` → `password: (sensitive)`: a line whose key names
/// a credential keeps its key and loses its value.
fn mask_line(line: &str) -> String {
    let trimmed = line.trim();
    let Some(at) = trimmed.find([':', '=']) else {
        return trimmed.to_string();
    };
    let key = trimmed[..at].to_ascii_lowercase();
    if ["password", "secret", "token", "key"]
        .iter()
        .any(|w| key.contains(w))
        && !trimmed[at + 1..].trim().is_empty()
    {
        format!("{}{} {SENSITIVE}", &trimmed[..at], &trimmed[at..=at])
    } else {
        trimmed.to_string()
    }
}

/// A Secret's `data` and `stringData` show that they changed, never what.
fn mask_secret(fields: &mut [ManifestField]) {
    for f in fields {
        if f.path.starts_with("data") || f.path.starts_with("stringData") {
            f.before = f.before.as_ref().map(|_| SENSITIVE.to_string());
            f.after = f.after.as_ref().map(|_| SENSITIVE.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo-milvus-querynode}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: sidecar
          image: busybox
        - name: querynode
          resources: {limits: {memory: 8Gi}}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: other}
data: {password: aHVudGVyMg==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-milvus}
data:
  user.yaml: |
    proxy:
      port: 19530
    kafka:
      saslPassword: hunter2
---
apiVersion: v1
kind: Service
metadata: {name: attu}
"#;

    const AFTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo-milvus-querynode}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: querynode
          resources: {limits: {memory: 16Gi}}
        - name: sidecar
          image: busybox
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: other}
data: {password: bmV3LXNlY3JldA==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-milvus}
data:
  user.yaml: |
    proxy:
      port: 19531
    kafka:
      saslPassword: new-secret
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: milvus}
"#;

    fn diff() -> Vec<ManifestChange> {
        diff_manifests(BEFORE, AFTER, "milvus").unwrap()
    }

    #[test]
    fn a_container_change_is_named_by_its_container_not_its_index() {
        let d = diff();
        let q = d.iter().find(|c| c.kind == "Deployment").unwrap();
        assert_eq!(q.namespace, "milvus");
        assert_eq!(q.action, "change");
        assert_eq!(
            q.fields,
            [ManifestField {
                path: "spec.template.spec.containers[name=querynode].resources.limits.memory"
                    .into(),
                before: Some("8Gi".into()),
                after: Some("16Gi".into()),
            }]
        );
    }

    #[test]
    fn objects_added_and_removed_are_listed_in_order() {
        let d: Vec<(String, String)> = diff()
            .into_iter()
            .map(|c| (format!("{}/{}", c.kind, c.name), c.action))
            .collect();
        assert_eq!(
            d,
            [
                ("ConfigMap/demo-milvus".to_string(), "change".to_string()),
                ("Deployment/demo-milvus-querynode".into(), "change".into()),
                ("Secret/creds".into(), "change".into()),
                ("Service/attu".into(), "remove".into()),
                ("ServiceAccount/milvus".into(), "add".into()),
            ]
        );
    }

    #[test]
    fn secret_data_and_credential_lines_never_show() {
        let d = diff();
        let text = format!("{d:?}");
        for secret in ["hunter2", "new-secret", "aHVudGVyMg==", "bmV3LXNlY3JldA=="] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        let cm = d.iter().find(|c| c.kind == "ConfigMap").unwrap();
        assert_eq!(
            cm.fields[0].after.as_deref(),
            Some("port: 19531 | saslPassword: (sensitive)")
        );
        let secret = d.iter().find(|c| c.kind == "Secret").unwrap();
        assert_eq!(secret.fields[0].after.as_deref(), Some(SENSITIVE));
    }

    #[test]
    fn the_same_manifest_changes_nothing() {
        assert!(diff_manifests(BEFORE, BEFORE, "milvus").unwrap().is_empty());
    }
}
