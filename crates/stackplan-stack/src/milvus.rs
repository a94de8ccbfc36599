//! The Milvus Helm values, generated from the stack and wired to the
//! outputs of the resources they come from: the six sections of the
//! reference deployment's values, then `[milvus.values]` merged over them.

use stackplan_core::{ResourceAddr, ResourceKind, Value};

use crate::Problem;
use crate::chart::{ChartProfile, Effective, WORKERS, worker_keys};
use crate::expand::{Addrs, partition_dns_suffix};
use crate::model::{Milvus, NodeResources, Resources, ResourcesOrigin, ServiceType, Stack};

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

/// The limits of each coordinator under HA: the reference values' (root
/// coordinator 1 CPU / 2Gi, the others 0.5 / 0.5Gi), and for the mixed
/// coordinator of 4.2+ charts, which runs all four, their sum.
fn coordinator_limits(key: &str) -> (&'static str, &'static str) {
    match key {
        "rootCoordinator" => ("1", "2Gi"),
        "mixCoordinator" => ("2.5", "3.5Gi"),
        _ => ("0.5", "0.5Gi"),
    }
}

fn worker(n: &NodeResources) -> Value {
    Value::map([
        ("replicas", Value::Int(i64::from(n.replicas))),
        ("resources", limits(&n.cpu, &n.memory)),
    ])
}

/// A data node that also builds indexes, on charts without index nodes
/// (Milvus 2.6): the sizing model's data node and index node added up.
fn data_and_index(data: &NodeResources, index: &NodeResources) -> NodeResources {
    let cpu = |c: &str| c.parse::<u64>().unwrap_or(1);
    let gib = |m: &str| m.trim_end_matches("Gi").parse::<u64>().unwrap_or(4);
    NodeResources {
        replicas: data.replicas.max(index.replicas),
        cpu: (cpu(&data.cpu) + cpu(&index.cpu)).to_string(),
        memory: format!("{}Gi", gib(&data.memory) + gib(&index.memory)),
    }
}

/// The worker sizes to set, by the chart's values key: the given ones the
/// chart deploys, or the sizing model's mapped onto the chart's workers.
fn worker_values(r: &Resources, e: &Effective<'_>) -> Vec<(&'static str, NodeResources)> {
    let mut out = Vec::new();
    let sized = matches!(r.origin, ResourcesOrigin::Sizing(_));
    let folds_index = sized && !e.deploys_worker("indexNode");
    for ((_, values_key), (_, node)) in WORKERS.into_iter().zip(r.by_key()) {
        let Some(node) = node else { continue };
        if !e.deploys_worker(values_key) {
            continue;
        }
        let node = match (values_key, &r.index_node) {
            ("dataNode", Some(index)) if folds_index => data_and_index(node, index),
            _ => node.clone(),
        };
        out.push((values_key, node));
    }
    out
}

/// The generated values for `helm_release.milvus`. References stay
/// references: the engine resolves them when their producers are known.
///
/// What depends on the chart (which coordinators HA doubles, which
/// workers exist, which in-cluster queues MSK replaces) is read from
/// `chart`; without it (`validate`, `graph`) only the rest is generated.
pub fn milvus_values(
    stack: &Stack,
    m: &Milvus,
    addrs: &Addrs,
    chart: Option<&ChartProfile>,
) -> Value {
    let mut v = Value::map::<&str>([]);
    let mut set = |key: &str, value: Value| {
        v.deep_merge(Value::map([(key, value)]));
    };
    let e = chart.map(|chart| Effective {
        chart,
        overlay: &m.values,
    });

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
        let mut external = Value::map([
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
        ]);
        // Charts that pass a region to Milvus get the bucket's.
        if e.is_some_and(|e| e.has("externalS3.region")) {
            external.deep_merge(Value::map([("region", Value::string(&stack.region))]));
        }
        set("externalS3", external);
    }

    // 2. MSK as message storage over SASL/SCRAM: every message queue the
    // chart could run in the cluster is turned off (Pulsar on 4.x,
    // Pulsar v3 and Woodpecker on 5.x, the bundled Kafka on all).
    if stack.msk.is_some() {
        let secret = ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram");
        for queue in e.map(|e| e.queues()).unwrap_or_default() {
            set(queue, Value::map([("enabled", Value::Bool(false))]));
        }
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
        set("attu", attu(m));
    }

    // 5. HA: two replicas of every coordinator the chart deploys,
    // active-standby (required when a coordinator has more than one
    // replica), two proxies.
    if m.ha {
        for key in e.map(|e| e.coordinators()).unwrap_or_default() {
            let (cpu, memory) = coordinator_limits(key);
            set(key, coordinator(cpu, memory));
        }
        set(
            "proxy",
            Value::map([
                ("replicas", Value::Int(2)),
                ("resources", limits("1", "4Gi")),
            ]),
        );
    }

    // 6. The worker nodes' sizes, for the workers the chart has.
    if let (Some(r), Some(e)) = (&m.resources, &e) {
        for (key, node) in worker_values(r, e) {
            set(key, worker(&node));
        }
    }

    v.deep_merge(m.values.clone());
    v
}

/// Attu's values: an ALB ingress that routes the stack's host, or every
/// host when none is given. The Milvus charts render a rule per entry of
/// `hosts` (and a default backend only with `tls`), so "every host" is one
/// empty host: a rule with no `host`, which matches all, and never the
/// rule-less Ingress the API server refuses.
fn attu(m: &Milvus) -> Value {
    let mut annotations = Value::map([
        (
            "alb.ingress.kubernetes.io/scheme",
            Value::string(m.attu.scheme.as_str()),
        ),
        ("alb.ingress.kubernetes.io/target-type", Value::string("ip")),
        (
            "alb.ingress.kubernetes.io/group.name",
            Value::string("attu"),
        ),
    ]);
    if let Some(arn) = &m.attu.certificate_arn {
        annotations.deep_merge(Value::map([
            (
                "alb.ingress.kubernetes.io/certificate-arn",
                Value::string(arn),
            ),
            (
                "alb.ingress.kubernetes.io/listen-ports",
                Value::string(r#"[{"HTTPS":443}]"#),
            ),
        ]));
    }
    let mut ingress = Value::map([
        ("enabled", Value::Bool(true)),
        (
            "hosts",
            Value::list([Value::string(m.attu.host.as_deref().unwrap_or(""))]),
        ),
    ]);
    // The class by the annotation, which the controller honours
    // (`disableIngressClassAnnotation` is off by default) and every chart
    // passes through. Not `ingressClassName`: chart 4.2.8's Attu ingress
    // reads the main ingress's key instead, and the API server refuses an
    // Ingress that sets both.
    annotations.deep_merge(Value::map([(
        "kubernetes.io/ingress.class",
        Value::string("alb"),
    )]));
    ingress.deep_merge(Value::map([("annotations", annotations)]));
    Value::map([
        ("enabled", Value::Bool(true)),
        ("name", Value::string("attu")),
        ("ingress", ingress),
    ])
}

/// What the chart being installed cannot do of what the stack asks: a
/// worker size for a worker it does not deploy, HA without coordinators.
/// Each problem points at the stack's key and names the chart version.
pub(crate) fn chart_problems(m: &Milvus, chart: &ChartProfile) -> Vec<Problem> {
    let e = Effective {
        chart,
        overlay: &m.values,
    };
    let mut out = Vec::new();
    let deployed = worker_keys(&e);
    if let Some(r) = &m.resources
        && matches!(r.origin, ResourcesOrigin::Given)
    {
        for ((key, values_key), (_, node)) in WORKERS.into_iter().zip(r.by_key()) {
            if node.is_none() || e.deploys_worker(values_key) {
                continue;
            }
            let span = r.spans.get(key).cloned().unwrap_or(m.chart_span.clone());
            let why = if key == "index_node" {
                " (from Milvus 2.6 data nodes build the indexes)"
            } else {
                ""
            };
            out.push(
                Problem::new(
                    span,
                    format!(
                        "`milvus.resources.{key}`: chart {} deploys no {}{why}",
                        chart.describe(),
                        key.replace('_', " ")
                    ),
                    "not in this chart",
                )
                .hint(format!(
                    "this chart's workers are {}; remove `{key}` or pin a chart that has it",
                    deployed.join(", ")
                )),
            );
        }
    }
    if m.ha && e.coordinators().is_empty() {
        out.push(
            Problem::new(
                m.chart_span.clone(),
                format!(
                    "`milvus.ha`: chart {} deploys no coordinator to run active-standby",
                    chart.describe()
                ),
                "no coordinators",
            )
            .hint("check that the chart is a Milvus chart in cluster mode"),
        );
    }
    out
}
