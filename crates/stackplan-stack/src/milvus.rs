//! The Milvus Helm values, generated from the stack and wired to the
//! outputs of the resources they come from: the six sections of the
//! reference deployment's values, then `[milvus.values]` merged over them.
//!
//! The Kafka SCRAM password is not among them: the Milvus charts write
//! `externalKafka.sasl.password` in plaintext into the Milvus ConfigMap
//! (and Helm keeps the values in its release record). It goes into a
//! Secret of its own ([`kafka_sasl_secret`]), and every Milvus component
//! reads it from there as `KAFKA_SASLPASSWORD`, which Milvus's paramtable
//! takes as `kafka.saslPassword` over the configuration files.

use stackplan_core::{Resource, ResourceAddr, ResourceKind, ResourceMode, Value};

use crate::Problem;
use crate::chart::{ChartProfile, Effective, WORKERS, worker_keys};
use crate::expand::{Addrs, partition_dns_suffix};
use crate::model::{Milvus, NodeResources, Resources, ResourcesOrigin, ServiceType, Stack};

/// The environment variable Milvus reads `kafka.saslPassword` from: its
/// paramtable looks a key up in the environment first, lower-cased with
/// `_`, `.` and `/` dropped (`pkg/util/paramtable/base_table.go`), and the
/// environment outranks the configuration files (`pkg/config`). The same
/// from Milvus 2.3 to 2.6.
pub(crate) const KAFKA_PASSWORD_ENV: &str = "KAFKA_SASLPASSWORD";

/// The key of the password inside the Secret.
pub(crate) const KAFKA_PASSWORD_KEY: &str = "password";

/// The pod annotation that carries the Secret's resource version, so the
/// pods roll when a rotated password is written to it: Milvus reads its
/// environment once, at start (`kafka.saslPassword` is not refreshable).
/// A resource version, not a digest of the password, which anyone who can
/// read the Deployment could test guesses against.
pub(crate) const KAFKA_SECRET_VERSION_ANNOTATION: &str = "stackplan/kafka-sasl-secret-version";

/// The Secret that holds the SCRAM password for Milvus: `<release>-kafka-sasl`
/// in the Milvus namespace, its `password` the Secrets Manager secret's
/// own, by reference (the expansion never copies it).
pub(crate) fn kafka_sasl_secret(m: &Milvus, addrs: &Addrs, ns: &ResourceAddr) -> Resource {
    let scram = ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram");
    Resource::new(addrs.kafka_sasl.clone(), ResourceMode::Managed)
        .attr("namespace", Value::reference(ns, "name"))
        .attr("name", format!("{}-kafka-sasl", m.release))
        .attr(
            "labels",
            Value::map([("app.kubernetes.io/managed-by", Value::string("stackplan"))]),
        )
        .attr(
            "data",
            Value::map([(
                KAFKA_PASSWORD_KEY,
                Value::Sensitive(Box::new(Value::reference(&scram, "password"))),
            )]),
        )
        .from_section("[msk.scram]")
}

/// The `extraEnv` entry that hands a component the password from the
/// Secret. The Secret's name is a reference, so the release depends on it.
fn kafka_password_env(addrs: &Addrs) -> Value {
    Value::map([
        ("name", Value::string(KAFKA_PASSWORD_ENV)),
        (
            "valueFrom",
            Value::map([(
                "secretKeyRef",
                Value::map([
                    ("name", Value::reference(&addrs.kafka_sasl, "name")),
                    ("key", Value::string(KAFKA_PASSWORD_KEY)),
                ]),
            )]),
        ),
    ])
}

/// Whether an environment variable's name is one Milvus reads as
/// `kafka.saslPassword`, however it is spelled (`KAFKA_SASL_PASSWORD`,
/// `kafka.saslPassword`): the paramtable's own normalisation.
fn names_kafka_password(name: &str) -> bool {
    let normalised: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '.' | '/'))
        .collect::<String>()
        .to_ascii_lowercase();
    normalised == "kafkasaslpassword"
}

/// `[milvus.values]` over the generated values. Maps merge key by key and
/// anything else is replaced, except a component's `extraEnv`: the user's
/// entries come after the generated ones instead of replacing them, or a
/// user's own variable would take the SCRAM password away from Milvus.
fn merge_user_values(generated: &mut Value, user: &Value) {
    let mut user = user.clone();
    if let (Value::Map(ours), Value::Map(theirs)) = (&*generated, &mut user) {
        for (key, component) in theirs.iter_mut() {
            let Some(Value::List(our_env)) = ours.get(key).and_then(|c| c.get_path("extraEnv"))
            else {
                continue;
            };
            if let Value::Map(c) = component
                && let Some(Value::List(their_env)) = c.get_mut("extraEnv")
            {
                let mut env = our_env.clone();
                env.append(their_env);
                *their_env = env;
            }
        }
    }
    generated.deep_merge(user);
}

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
                // No `password`: the charts write only a set one into the
                // ConfigMap, and Milvus takes it from the environment.
                (
                    "sasl",
                    Value::map([
                        ("mechanisms", Value::string("SCRAM-SHA-512")),
                        ("username", Value::reference(&secret, "username")),
                    ]),
                ),
            ]),
        );
        // Every Milvus process the chart deploys gets the password from
        // the Secret; one without it refuses to start ("enable security
        // mode need config username and password at the same time").
        for key in e.map(|e| e.milvus_components()).unwrap_or_default() {
            set(
                key,
                Value::map([("extraEnv", Value::list([kafka_password_env(addrs)]))]),
            );
        }
        // The charts put the top-level `annotations` on every Milvus pod
        // template (and on the Deployments), so the pods roll when the
        // Secret is rewritten. Set whatever the chart: it also gives the
        // release its edge to the Secret when no chart was read.
        set(
            "annotations",
            Value::map([(
                KAFKA_SECRET_VERSION_ANNOTATION,
                Value::reference(&addrs.kafka_sasl, "resource_version"),
            )]),
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

    merge_user_values(&mut v, &m.values);
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

/// A `[milvus.values]` `extraEnv` entry that Milvus would read as
/// `kafka.saslPassword`: it would stand next to the one stackplan sets
/// from the Secret (helm 4's server-side apply refuses two entries of one
/// name; otherwise the last one wins), or put the password in the stack
/// file, where the secret rule does not see it (its key is `value`).
/// Refused in every stack, with MSK or not: no stack needs it. Checked
/// with the chart, as `check_charts` runs; `[milvus.values]` carries no
/// positions, so the problem points at the chart choice and names the
/// entry.
fn kafka_password_env_problems(m: &Milvus) -> Vec<Problem> {
    let Value::Map(values) = &m.values else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (component, v) in values {
        let Some(Value::List(env)) = v.get_path("extraEnv") else {
            continue;
        };
        for (i, entry) in env.iter().enumerate() {
            let Some(name) = entry.get_path("name").and_then(Value::as_str) else {
                continue;
            };
            if !names_kafka_password(name) {
                continue;
            }
            out.push(
                Problem::new(
                    m.chart_span.clone(),
                    format!(
                        "`milvus.values.{component}.extraEnv[{i}]`: Milvus reads `{name}` as the Kafka SASL password, which stackplan sets itself"
                    ),
                    "set by stackplan",
                )
                .hint(format!(
                    "remove the entry: with [msk], every Milvus component reads {KAFKA_PASSWORD_ENV} from the Secret `{}-kafka-sasl`, filled from [msk.scram]",
                    m.release
                )),
            );
        }
    }
    out
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
    out.extend(kafka_password_env_problems(m));
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
