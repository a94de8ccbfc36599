//! The pods a set of rendered manifests asks the scheduler for, and the
//! volumes and load balancers they make.

use serde_json::Value;

use crate::CapacityError;
use crate::instances::Resources;
use crate::quantity::{cpu_millis, memory_bytes};

/// One controller's pods: `replicas` copies of one pod's requests, or one
/// per node for a DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
    pub per_pod: Resources,
    /// A DaemonSet: one pod on every node, `replicas` unused.
    pub daemon: bool,
    /// GiB of persistent volumes each pod claims (a StatefulSet's
    /// `volumeClaimTemplates`).
    pub volume_gib_per_pod: f64,
}

impl Workload {
    /// `Deployment milvus/demo-milvus-querynode`.
    pub fn describe(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// What the manifests make that costs money besides the nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// Services of type LoadBalancer (one NLB each with the load balancer
    /// controller) and ALB Ingresses.
    pub load_balancers: u32,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A container's requests. A limit without a request is the request too
/// (Kubernetes documentation, "Resource Management for Pods and
/// Containers": "If you specify a limit for a resource, but do not
/// specify any request, ... Kubernetes copies the limit you specified and
/// uses it as the requested value").
fn container_requests(c: &Value) -> Result<Resources, CapacityError> {
    let pick = |key: &str| {
        str_at(c, &["resources", "requests", key])
            .or_else(|| str_at(c, &["resources", "limits", key]))
    };
    Ok(Resources::new(
        pick("cpu").map(cpu_millis).transpose()?.unwrap_or(0),
        pick("memory").map(memory_bytes).transpose()?.unwrap_or(0),
    ))
}

/// A pod's effective request: the sum of its containers', or the largest
/// init container's when that is more (init containers run one at a time,
/// before the others; Kubernetes documentation, "Init Containers",
/// "Resource sharing within containers").
fn pod_requests(spec: &Value) -> Result<Resources, CapacityError> {
    let list = |key: &str| {
        spec.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut sum = Resources::default();
    for c in list("containers") {
        sum = sum.add(&container_requests(&c)?);
    }
    for c in list("initContainers") {
        let r = container_requests(&c)?;
        sum = Resources::new(
            sum.cpu_millis.max(r.cpu_millis),
            sum.memory_bytes.max(r.memory_bytes),
        );
    }
    Ok(sum)
}

fn claim_gib(sts: &Value) -> Result<f64, CapacityError> {
    let mut gib = 0.0;
    for t in sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = str_at(t, &["spec", "resources", "requests", "storage"]) {
            gib += memory_bytes(s)? as f64 / (1u64 << 30) as f64;
        }
    }
    Ok(gib)
}

/// The controllers of `manifests` that make pods (Deployments,
/// StatefulSets, DaemonSets, ReplicaSets), sorted by kind, namespace and
/// name, and what else the manifests make that is billed.
pub fn workloads(manifests: &[Value]) -> Result<(Vec<Workload>, Extras), CapacityError> {
    let mut out = Vec::new();
    let mut extras = Extras::default();
    for m in manifests {
        let kind = str_at(m, &["kind"]).unwrap_or_default();
        match kind {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
                let spec = m
                    .pointer("/spec/template/spec")
                    .cloned()
                    .unwrap_or_default();
                let replicas = m
                    .pointer("/spec/replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                out.push(Workload {
                    kind: kind.to_string(),
                    namespace: str_at(m, &["metadata", "namespace"])
                        .unwrap_or("default")
                        .to_string(),
                    name: str_at(m, &["metadata", "name"])
                        .unwrap_or_default()
                        .to_string(),
                    replicas: u32::try_from(replicas).unwrap_or(u32::MAX),
                    per_pod: pod_requests(&spec)?,
                    daemon: kind == "DaemonSet",
                    volume_gib_per_pod: if kind == "StatefulSet" {
                        claim_gib(m)?
                    } else {
                        0.0
                    },
                });
            }
            "Service" if str_at(m, &["spec", "type"]) == Some("LoadBalancer") => {
                extras.load_balancers += 1;
            }
            "Ingress" => {
                let class = str_at(m, &["spec", "ingressClassName"]).or_else(|| {
                    str_at(
                        m,
                        &["metadata", "annotations", "kubernetes.io/ingress.class"],
                    )
                });
                if class == Some("alb") {
                    extras.load_balancers += 1;
                }
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    Ok((out, extras))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_sum_containers_take_limits_without_requests_and_the_largest_init() {
        let deploy = json!({
            "kind": "Deployment",
            "metadata": {"name": "q", "namespace": "milvus"},
            "spec": {"replicas": 3, "template": {"spec": {
                "initContainers": [{"resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}],
                "containers": [
                    {"resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}},
                    {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                    {}
                ]
            }}}
        });
        let (w, _) = workloads(&[deploy]).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].replicas, 3);
        // CPU: max(0.5 + 1, 3) = 3; memory: max(2 + 1, 1) = 3 GiB.
        assert_eq!(w[0].per_pod, Resources::new(3000, 3 << 30));
    }

    #[test]
    fn statefulset_claims_daemonsets_and_load_balancers_are_counted() {
        let objects = [
            json!({"kind": "StatefulSet", "metadata": {"name": "etcd"}, "spec": {"replicas": 3,
                "template": {"spec": {"containers": [{}]}},
                "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "10Gi"}}}}]}}),
            json!({"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "25m"}}}]}}}}),
            json!({"kind": "Service", "metadata": {"name": "milvus"}, "spec": {"type": "LoadBalancer"}}),
            json!({"kind": "Service", "metadata": {"name": "etcd"}, "spec": {"type": "ClusterIP"}}),
            json!({"kind": "Ingress", "metadata": {"name": "attu"}, "spec": {"ingressClassName": "alb"}}),
        ];
        let (w, extras) = workloads(&objects).unwrap();
        assert_eq!(extras.load_balancers, 2);
        let sts = w.iter().find(|w| w.kind == "StatefulSet").unwrap();
        assert_eq!(sts.volume_gib_per_pod, 10.0);
        assert_eq!(sts.namespace, "default");
        assert!(w.iter().find(|w| w.kind == "DaemonSet").unwrap().daemon);
    }

    #[test]
    fn a_request_that_is_not_a_quantity_is_an_error() {
        let bad = json!({"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {
            "containers": [{"resources": {"requests": {"memory": "lots"}}}]}}}});
        assert!(matches!(
            workloads(&[bad]),
            Err(CapacityError::Quantity { .. })
        ));
    }
}
