//! The Milvus Helm values, generated from the stack and wired to the
//! outputs of the resources they come from: the six sections of the
//! reference deployment's values, then `[milvus.values]` merged over them.

use stackplan_core::{ResourceAddr, ResourceKind, Value};

use crate::expand::{Addrs, partition_dns_suffix};
use crate::model::{Milvus, NodeResources, ServiceType, Stack};

fn limits(cpu: &str, memory: &str) -> Value {
    Value::map([(
        "limits",
        Value::map([
            ("cpu", Value::string(cpu)),
            ("memory", Value::string(memory)),
        ]),
    )])
}

fn coordinator(cpu: &str, memory: &str) -> Value {
    Value::map([
        ("replicas", Value::Int(2)),
        (
            "activeStandby",
            Value::map([("enabled", Value::Bool(true))]),
        ),
        ("resources", limits(cpu, memory)),
    ])
}

fn worker(n: &NodeResources) -> Value {
    Value::map([
        ("replicas", Value::Int(i64::from(n.replicas))),
        ("resources", limits(&n.cpu, &n.memory)),
    ])
}

/// The generated values for `helm_release.milvus`. References stay
/// references: the engine resolves them when their producers are known.
pub fn milvus_values(stack: &Stack, m: &Milvus, addrs: &Addrs) -> Value {
    let mut v = Value::map::<&str>([]);
    let mut set = |key: &str, value: Value| {
        v.deep_merge(Value::map([(key, value)]));
    };

    // 1. S3 as object storage, reached through the IRSA service account.
    if let Some(s3) = &stack.s3 {
        set(
            "serviceAccount",
            Value::map([
                ("create", Value::Bool(false)),
                ("name", Value::string(crate::expand::MILVUS_SA)),
            ]),
        );
        set("minio", Value::map([("enabled", Value::Bool(false))]));
        set(
            "externalS3",
            Value::map([
                ("enabled", Value::Bool(true)),
                (
                    "host",
                    Value::string(format!(
                        "s3.{}.{}",
                        stack.region,
                        partition_dns_suffix(&stack.region)
                    )),
                ),
                ("port", Value::string("443")),
                ("useSSL", Value::Bool(true)),
                ("bucketName", Value::reference(&addrs.bucket, "bucket")),
                ("rootPath", Value::string(&s3.root_path)),
                ("useIAM", Value::Bool(true)),
                ("cloudProvider", Value::string("aws")),
                ("iamEndpoint", Value::string("")),
            ]),
        );
    }

    // 2. MSK as message storage over SASL/SCRAM. Both Pulsar generations of
    // the chart are turned off: 4.2 charts default to `pulsarv3`.
    if stack.msk.is_some() {
        let secret = ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram");
        set("pulsar", Value::map([("enabled", Value::Bool(false))]));
        set("pulsarv3", Value::map([("enabled", Value::Bool(false))]));
        set(
            "externalKafka",
            Value::map([
                ("enabled", Value::Bool(true)),
                (
                    "brokerList",
                    Value::reference(&addrs.msk_cluster, "bootstrap_brokers_sasl_scram"),
                ),
                ("securityProtocol", Value::string("SASL_SSL")),
                (
                    "sasl",
                    Value::map([
                        ("mechanisms", Value::string("SCRAM-SHA-512")),
                        ("username", Value::reference(&secret, "username")),
                        (
                            "password",
                            Value::Sensitive(Box::new(Value::reference(&secret, "password"))),
                        ),
                    ]),
                ),
            ]),
        );
    }

    // 3. The Milvus service, behind an NLB when it is a LoadBalancer.
    let mut service = Value::map([
        ("type", Value::string(m.service.kind.as_str())),
        ("port", Value::Int(19530)),
    ]);
    if m.service.kind == ServiceType::LoadBalancer {
        service.deep_merge(Value::map([(
            "annotations",
            Value::map([
                (
                    "service.beta.kubernetes.io/aws-load-balancer-type",
                    Value::string("external"),
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-name",
                    Value::string(&m.service.load_balancer_name),
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-scheme",
                    Value::string(m.service.scheme.as_str()),
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
                    Value::string("ip"),
                ),
            ]),
        )]));
    }
    set("service", service);

    // 4. Attu, the admin UI, behind an ALB ingress.
    if m.attu.enabled {
        set(
            "attu",
            Value::map([
                ("enabled", Value::Bool(true)),
                ("name", Value::string("attu")),
                (
                    "ingress",
                    Value::map([
                        ("enabled", Value::Bool(true)),
                        (
                            "annotations",
                            Value::map([
                                ("kubernetes.io/ingress.class", Value::string("alb")),
                                (
                                    "alb.ingress.kubernetes.io/scheme",
                                    Value::string(m.attu.scheme.as_str()),
                                ),
                                ("alb.ingress.kubernetes.io/target-type", Value::string("ip")),
                                (
                                    "alb.ingress.kubernetes.io/group.name",
                                    Value::string("attu"),
                                ),
                            ]),
                        ),
                        ("hosts", Value::List(Vec::new())),
                    ]),
                ),
            ]),
        );
    }

    // 5. HA: two replicas of every coordinator, active-standby (required
    // when a coordinator has more than one replica), two proxies.
    if m.ha {
        set("rootCoordinator", coordinator("1", "2Gi"));
        set("indexCoordinator", coordinator("0.5", "0.5Gi"));
        set("queryCoordinator", coordinator("0.5", "0.5Gi"));
        set("dataCoordinator", coordinator("0.5", "0.5Gi"));
        set(
            "proxy",
            Value::map([
                ("replicas", Value::Int(2)),
                ("resources", limits("1", "4Gi")),
            ]),
        );
    }

    // 6. The worker nodes' sizes.
    if let Some(r) = &m.resources {
        for (key, node) in [
            ("queryNode", &r.query_node),
            ("dataNode", &r.data_node),
            ("indexNode", &r.index_node),
        ] {
            if let Some(n) = node {
                set(key, worker(n));
            }
        }
    }

    v.deep_merge(m.values.clone());
    v
}
