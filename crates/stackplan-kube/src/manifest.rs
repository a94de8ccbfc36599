//! Rendered manifests: the objects `helm template` prints, and the rules
//! the API server would refuse them by that can be checked without one.
//! Plan runs these before anything is created, so a chart that would fail
//! at `helm install` fails the plan instead, naming the object.
//!
//! The rules follow the API server's own validation
//! (`pkg/apis/networking/validation`, `pkg/apis/core/validation` and
//! `apimachinery/pkg/api/resource` of kubernetes/kubernetes).

use serde::Deserialize;
use serde_json::Value as Json;

use crate::KubeError;

/// One object of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    pub kind: String,
    pub name: String,
    pub body: Json,
}

impl RenderedObject {
    /// `Kind/name`, as messages name it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The value at a dotted path (`spec.template.spec`).
    pub fn at(&self, path: &str) -> Option<&Json> {
        path.split('.')
            .try_fold(&self.body, |v, key| v.as_object()?.get(key))
    }
}

/// Something the API server would refuse in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProblem {
    /// `Kind/name`.
    pub object: String,
    /// The field path, as the API server names it.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ObjectProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.message)
    }
}

/// Splits a multi-document manifest into its objects (empty documents,
/// which templates that render nothing leave, are skipped).
pub fn parse_manifest(text: &str) -> Result<Vec<RenderedObject>, KubeError> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let body = Json::deserialize(doc).map_err(|e| KubeError::Manifest(e.to_string()))?;
        if body.is_null() {
            continue;
        }
        let s = |p: &str| {
            p.split('.')
                .try_fold(&body, |v, k| v.as_object()?.get(k))
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string()
        };
        out.push(RenderedObject {
            kind: s("kind"),
            name: s("metadata.name"),
            body: body.clone(),
        });
    }
    Ok(out)
}

/// The checks, on every object.
pub fn check_objects(objects: &[RenderedObject]) -> Vec<ObjectProblem> {
    let mut out = Vec::new();
    for o in objects {
        let mut problem = |field: String, message: String| {
            out.push(ObjectProblem {
                object: o.id(),
                field,
                message,
            })
        };
        match o.kind.as_str() {
            "Ingress" => check_ingress(o, &mut problem),
            "Service" => {
                // Service names are DNS-1035 labels (ValidateServiceName).
                if let Err(why) = dns1035_label(&o.name) {
                    problem("metadata.name".into(), why);
                }
            }
            _ => {}
        }
        if let Some((path, spec)) = pod_spec(o) {
            check_containers(&path, spec, &mut problem);
        }
    }
    out
}

/// `spec: either defaultBackend or rules must be specified`: an Ingress
/// routes something (networking/validation `validateIngressSpec`; the
/// v1beta1 field is `backend`).
fn check_ingress(o: &RenderedObject, problem: &mut impl FnMut(String, String)) {
    let non_empty = |p: &str| match o.at(p) {
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(_)) => true,
        _ => false,
    };
    if !non_empty("spec.rules") && !non_empty("spec.defaultBackend") && !non_empty("spec.backend") {
        problem(
            "spec".into(),
            "either defaultBackend or rules must be specified".into(),
        );
    }
    // `annotations.kubernetes.io/ingress.class: can not be set when the
    // class field is also set` (networking/validation, ValidateIngressCreate).
    if o.at("spec.ingressClassName").is_some_and(|c| !c.is_null())
        && o.at("metadata.annotations")
            .and_then(|a| a.get("kubernetes.io/ingress.class"))
            .is_some()
    {
        problem(
            "metadata.annotations.kubernetes.io/ingress.class".into(),
            "can not be set when the class field is also set".into(),
        );
    }
    if let Some(Json::Array(rules)) = o.at("spec.rules") {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(host) = rule.get("host").and_then(Json::as_str)
                && !host.is_empty()
                && dns1123_subdomain(host.strip_prefix("*.").unwrap_or(host)).is_err()
            {
                problem(
                    format!("spec.rules[{i}].host"),
                    format!("`{host}` is not a valid host name (a DNS-1123 subdomain)"),
                );
            }
        }
    }
}

/// The pod template of a workload, with its field path.
fn pod_spec(o: &RenderedObject) -> Option<(String, &Json)> {
    let path = match o.kind.as_str() {
        "Pod" => "spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => "spec.template.spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => return None,
    };
    o.at(path).map(|s| (path.to_string(), s))
}

/// Every container's requests and limits: quantities the API server
/// parses (`resource.ParseQuantity`), a request no larger than its limit
/// (`ValidateResourceRequirements`), and memory of at least 1 MiB, since
/// a bare number is bytes and `memory: 8` kills the pod at start.
fn check_containers(path: &str, spec: &Json, problem: &mut impl FnMut(String, String)) {
    for list in ["initContainers", "containers"] {
        let Some(Json::Array(containers)) = spec.get(list) else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            let base = format!("{path}.{list}[{i}].resources");
            let mut parsed: [[Option<f64>; 2]; 2] = [[None; 2]; 2];
            for (r, resource) in ["cpu", "memory"].into_iter().enumerate() {
                for (k, kind) in ["requests", "limits"].into_iter().enumerate() {
                    let Some(q) = c
                        .get("resources")
                        .and_then(|x| x.get(kind))
                        .and_then(|x| x.get(resource))
                    else {
                        continue;
                    };
                    let field = format!("{base}.{kind}.{resource}");
                    let text = match q {
                        Json::String(s) => s.clone(),
                        Json::Number(n) => n.to_string(),
                        other => {
                            problem(field, format!("{other} is not a quantity"));
                            continue;
                        }
                    };
                    match parse_quantity(&text) {
                        None => problem(
                            field,
                            format!("`{text}` is not a Kubernetes quantity (such as 500m, 2, 8Gi)"),
                        ),
                        Some(n) if resource == "memory" && n < 1048576.0 => problem(
                            field,
                            format!(
                                "`{text}` is {n} bytes of memory, too little to run: write it with a unit, such as {text}Gi"
                            ),
                        ),
                        Some(n) => parsed[r][k] = Some(n),
                    }
                }
                if let [Some(req), Some(lim)] = parsed[r]
                    && req > lim
                {
                    problem(
                        format!("{base}.requests.{resource}"),
                        format!("must be less than or equal to the {resource} limit"),
                    );
                }
            }
        }
    }
}

/// A Kubernetes quantity's value (`apimachinery` `ParseQuantity`), by
/// the capacity crate's parser, the workspace's one.
pub fn parse_quantity(q: &str) -> Option<f64> {
    stackplan_capacity::quantity(q)
}

fn dns1123_subdomain(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a DNS-1123 subdomain"))
    }
}

/// DNS-1035 label: at most 63 lowercase letters, digits and '-', starting
/// with a letter.
fn dns1035_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid Service name: at most 63 lowercase letters, digits and '-', starting with a letter (DNS-1035)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(yaml: &str) -> Vec<ObjectProblem> {
        check_objects(&parse_manifest(yaml).unwrap())
    }

    #[test]
    fn quantities_parse_as_the_api_server_parses_them() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("8Gi"), Some(8.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("0.5Gi"), Some(536870912.0));
        for bad in ["8GB", "two", "", "1.2.3", "Gi", "8 Gi"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_ingress_that_routes_nothing_is_refused_and_a_host_less_rule_is_not() {
        let empty = "kind: Ingress\nmetadata: {name: a}\nspec: {}\n---\n";
        assert_eq!(
            objects(empty)[0].to_string(),
            "Ingress/a: spec: either defaultBackend or rules must be specified"
        );
        let any_host = "kind: Ingress\nmetadata: {name: a}\nspec:\n  rules:\n  - host: null\n    http: {paths: []}\n";
        assert_eq!(objects(any_host), []);
        let bad_host = "kind: Ingress\nmetadata: {name: a}\nspec:\n  rules:\n  - host: Bad_Host\n";
        assert_eq!(objects(bad_host)[0].field, "spec.rules[0].host");
        let both = "kind: Ingress\nmetadata:\n  name: a\n  annotations: {kubernetes.io/ingress.class: alb}\nspec:\n  ingressClassName: alb\n  defaultBackend: {service: {name: s}}\n";
        assert_eq!(
            objects(both)[0].to_string(),
            "Ingress/a: metadata.annotations.kubernetes.io/ingress.class: can not be set when the class field is also set"
        );
    }

    #[test]
    fn container_resources_must_be_quantities_with_requests_under_limits() {
        let d = "kind: Deployment\nmetadata: {name: q}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        resources:\n          limits: {cpu: '2', memory: '8'}\n          requests: {cpu: '4', memory: 8GB}\n";
        let found: Vec<String> = objects(d).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "Deployment/q: spec.template.spec.containers[0].resources.requests.cpu: must be less than or equal to the cpu limit",
                "Deployment/q: spec.template.spec.containers[0].resources.requests.memory: `8GB` is not a Kubernetes quantity (such as 500m, 2, 8Gi)",
                "Deployment/q: spec.template.spec.containers[0].resources.limits.memory: `8` is 8 bytes of memory, too little to run: write it with a unit, such as 8Gi",
            ]
        );
    }

    #[test]
    fn a_service_name_over_63_characters_is_refused() {
        let long = format!("kind: Service\nmetadata: {{name: {}}}\n", "a".repeat(64));
        assert_eq!(objects(&long)[0].field, "metadata.name");
    }
}
