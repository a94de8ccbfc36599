//! Where a Helm release can be reached from outside the cluster: the
//! load-balancer address of its Services and Ingresses, read live.
//!
//! A release's objects are found by the label every chart built with
//! `helm create`'s helpers puts on them, `app.kubernetes.io/instance =
//! <release>`, never by a name a chart version makes: the Service is the
//! one that serves a given port, the Ingress the one whose backend is a
//! Service of a given `component`. Reading is one list of each kind; the
//! choosing is pure, so it is tested without a server.

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressLoadBalancerIngress};
use kube::Api;
use kube::api::ListParams;

use crate::KubeError;
use crate::target::{KubeTarget, Session};

/// The label Helm charts put on every object of a release.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// One Service or Ingress of a release, and the addresses its load
/// balancer reports in `status.loadBalancer.ingress` (a hostname, else an
/// IP, per entry; empty until a controller assigns one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerAddress {
    /// `Service` or `Ingress`.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// A Service's `spec.type` (`LoadBalancer`, `ClusterIP`, `NodePort`);
    /// `None` for an Ingress.
    pub service_type: Option<String>,
    /// The Service port that was asked for; `None` for an Ingress.
    pub port: Option<i32>,
    pub addresses: Vec<String>,
}

impl LoadBalancerAddress {
    /// `Service milvus/demo-milvus`, for messages.
    pub fn object(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// The first address the load balancer reports, if any.
    pub fn address(&self) -> Option<&str> {
        self.addresses.first().map(String::as_str)
    }
}

/// The Services and Ingresses of one release, as read at one moment.
#[derive(Debug, Clone, Default)]
pub struct ReleaseExposure {
    namespace: String,
    services: Vec<Service>,
    ingresses: Vec<Ingress>,
}

impl ReleaseExposure {
    /// Lists the release's Services and Ingresses in `namespace`. An EKS
    /// cluster that does not exist is [`KubeError::ClusterNotReady`].
    pub async fn read(
        target: &KubeTarget,
        namespace: &str,
        release: &str,
    ) -> Result<ReleaseExposure, KubeError> {
        let session = Session::connect(target).await?.ok_or_else(|| {
            KubeError::ClusterNotReady(match target {
                KubeTarget::Eks(e) => e.cluster.clone(),
                KubeTarget::Kubeconfig { .. } => "(kubeconfig)".to_string(),
            })
        })?;
        let params = ListParams::default().labels(&format!("{INSTANCE_LABEL}={release}"));
        let services: Api<Service> = Api::namespaced(session.client.clone(), namespace);
        let ingresses: Api<Ingress> = Api::namespaced(session.client.clone(), namespace);
        let (services, ingresses) = tokio::join!(services.list(&params), ingresses.list(&params));
        let services = services.map_err(|e| {
            KubeError::api(
                format!("listing the Services of release `{release}` in `{namespace}`"),
                e,
            )
        })?;
        let ingresses = ingresses.map_err(|e| {
            KubeError::api(
                format!("listing the Ingresses of release `{release}` in `{namespace}`"),
                e,
            )
        })?;
        Ok(ReleaseExposure::from_objects(
            namespace,
            services.items,
            ingresses.items,
        ))
    }

    /// The exposure of objects already read (the release's, in `namespace`).
    pub fn from_objects(
        namespace: &str,
        mut services: Vec<Service>,
        mut ingresses: Vec<Ingress>,
    ) -> ReleaseExposure {
        services.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        ingresses.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        ReleaseExposure {
            namespace: namespace.to_string(),
            services,
            ingresses,
        }
    }

    /// The Service that serves `port`: a `LoadBalancer` one first, then
    /// the first by name.
    pub fn service_serving(&self, port: i32) -> Option<LoadBalancerAddress> {
        let serves = |s: &&Service| {
            s.spec
                .as_ref()
                .and_then(|spec| spec.ports.as_ref())
                .is_some_and(|ports| ports.iter().any(|p| p.port == port))
        };
        let candidates: Vec<&Service> = self.services.iter().filter(serves).collect();
        let chosen = candidates
            .iter()
            .find(|s| service_type(s).as_deref() == Some("LoadBalancer"))
            .or(candidates.first())?;
        Some(self.service_address(chosen, Some(port)))
    }

    /// The release's Service labelled `component = <component>` (a
    /// `LoadBalancer` one first), with its first port.
    pub fn service_of(&self, component: &str) -> Option<LoadBalancerAddress> {
        let of_component: Vec<&Service> = self
            .services
            .iter()
            .filter(|s| component_of(s) == Some(component))
            .collect();
        let chosen = of_component
            .iter()
            .find(|s| service_type(s).as_deref() == Some("LoadBalancer"))
            .or(of_component.first())?;
        let port = chosen
            .spec
            .as_ref()
            .and_then(|spec| spec.ports.as_ref())
            .and_then(|ports| ports.first())
            .map(|p| p.port);
        Some(self.service_address(chosen, port))
    }

    fn service_address(&self, s: &Service, port: Option<i32>) -> LoadBalancerAddress {
        LoadBalancerAddress {
            kind: "Service",
            namespace: self.namespace.clone(),
            name: s.metadata.name.clone().unwrap_or_default(),
            service_type: service_type(s),
            port,
            addresses: s
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .map(|i| i.iter().filter_map(service_ingress_address).collect())
                .unwrap_or_default(),
        }
    }

    /// The Ingress whose backend is a Service of the release labelled
    /// `component = <component>` (Attu's, for `attu`).
    pub fn ingress_to(&self, component: &str) -> Option<LoadBalancerAddress> {
        let targets: Vec<&str> = self
            .services
            .iter()
            .filter(|s| component_of(s) == Some(component))
            .filter_map(|s| s.metadata.name.as_deref())
            .collect();
        let ingress = self
            .ingresses
            .iter()
            .find(|i| backends(i).iter().any(|b| targets.contains(b)))?;
        Some(LoadBalancerAddress {
            kind: "Ingress",
            namespace: self.namespace.clone(),
            name: ingress.metadata.name.clone().unwrap_or_default(),
            service_type: None,
            port: None,
            addresses: ingress
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .map(|i| i.iter().filter_map(ingress_address).collect())
                .unwrap_or_default(),
        })
    }
}

/// The `component` label the Milvus charts put on each part's objects.
fn component_of(s: &Service) -> Option<&str> {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("component"))
        .map(String::as_str)
}

fn service_type(s: &Service) -> Option<String> {
    s.spec.as_ref().and_then(|spec| spec.type_.clone())
}

fn service_ingress_address(i: &LoadBalancerIngress) -> Option<String> {
    i.hostname.clone().or_else(|| i.ip.clone())
}

fn ingress_address(i: &IngressLoadBalancerIngress) -> Option<String> {
    i.hostname.clone().or_else(|| i.ip.clone())
}

/// The names of the Services an Ingress sends traffic to.
fn backends(i: &Ingress) -> Vec<&str> {
    fn service(b: &IngressBackend) -> Option<&str> {
        b.service.as_ref().map(|s| s.name.as_str())
    }
    let Some(spec) = &i.spec else {
        return Vec::new();
    };
    let mut out: Vec<&str> = spec.default_backend.iter().filter_map(service).collect();
    for rule in spec.rules.iter().flatten() {
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            out.extend(service(&path.backend));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(
        name: &str,
        component: &str,
        kind: &str,
        port: i32,
        status: serde_json::Value,
    ) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"component": component, INSTANCE_LABEL: "demo"}},
            "spec": {"type": kind, "ports": [{"port": port}]},
            "status": status,
        }))
        .unwrap()
    }

    fn exposure(services: Vec<Service>, ingresses: Vec<Ingress>) -> ReleaseExposure {
        ReleaseExposure::from_objects("milvus", services, ingresses)
    }

    fn attu_ingress(status: serde_json::Value) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": "demo-milvus-attu"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "demo-milvus-attu", "port": {"number": 3000}}}}]}}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn the_service_serving_the_port_is_found_with_its_hostname_or_ip() {
        let pending = exposure(
            vec![
                service(
                    "demo-milvus-datanode",
                    "datanode",
                    "ClusterIP",
                    9091,
                    json!({}),
                ),
                service("demo-milvus", "proxy", "LoadBalancer", 19530, json!({})),
            ],
            vec![],
        );
        let found = pending.service_serving(19530).unwrap();
        assert_eq!(found.object(), "Service milvus/demo-milvus");
        assert_eq!(found.service_type.as_deref(), Some("LoadBalancer"));
        assert_eq!(found.address(), None);

        let assigned = exposure(
            vec![service(
                "demo-milvus",
                "proxy",
                "LoadBalancer",
                19530,
                json!({"loadBalancer": {"ingress": [{"hostname": "nlb-1.elb.us-west-2.amazonaws.com"}]}}),
            )],
            vec![],
        );
        assert_eq!(
            assigned.service_serving(19530).unwrap().address(),
            Some("nlb-1.elb.us-west-2.amazonaws.com")
        );
        let ip = exposure(
            vec![service(
                "demo-milvus",
                "proxy",
                "LoadBalancer",
                19530,
                json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}}),
            )],
            vec![],
        );
        assert_eq!(
            ip.service_serving(19530).unwrap().address(),
            Some("10.0.0.7")
        );
        assert_eq!(ip.service_serving(443), None);
    }

    #[test]
    fn a_load_balancer_service_is_preferred_over_another_on_the_same_port() {
        let e = exposure(
            vec![
                service("a-internal", "proxy", "ClusterIP", 19530, json!({})),
                service("b-public", "proxy", "LoadBalancer", 19530, json!({})),
            ],
            vec![],
        );
        assert_eq!(e.service_serving(19530).unwrap().name, "b-public");
    }

    #[test]
    fn the_ingress_is_the_one_routing_to_the_components_service() {
        let attu = service("demo-milvus-attu", "attu", "ClusterIP", 3000, json!({}));
        let e = exposure(vec![attu.clone()], vec![attu_ingress(json!({}))]);
        let found = e.ingress_to("attu").unwrap();
        assert_eq!(found.object(), "Ingress milvus/demo-milvus-attu");
        assert_eq!(found.address(), None);

        let e = exposure(
            vec![attu],
            vec![attu_ingress(
                json!({"loadBalancer": {"ingress": [{"hostname": "k8s-attu-1.us-west-2.elb.amazonaws.com"}]}}),
            )],
        );
        assert_eq!(
            e.ingress_to("attu").unwrap().address(),
            Some("k8s-attu-1.us-west-2.elb.amazonaws.com")
        );
        assert_eq!(e.ingress_to("proxy"), None);
    }

    #[test]
    fn a_components_service_is_found_by_its_label_with_its_first_port() {
        let e = exposure(
            vec![
                service("demo-milvus", "proxy", "LoadBalancer", 19530, json!({})),
                service(
                    "demo-milvus-attu",
                    "attu",
                    "LoadBalancer",
                    3000,
                    json!({"loadBalancer": {"ingress": [{"hostname": "attu-nlb.elb.amazonaws.com"}]}}),
                ),
            ],
            vec![],
        );
        let attu = e.service_of("attu").unwrap();
        assert_eq!(attu.name, "demo-milvus-attu");
        assert_eq!(attu.port, Some(3000));
        assert_eq!(attu.address(), Some("attu-nlb.elb.amazonaws.com"));
        assert_eq!(e.ingress_to("attu"), None);
        assert_eq!(e.service_of("querynode"), None);
    }
}
