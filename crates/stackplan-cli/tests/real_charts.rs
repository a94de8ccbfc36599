//! The reference stack's values rendered by the real Milvus charts of
//! `../shared/charts` (`stackplan render --manifests`, which is `helm
//! template` with the generated values), asserted on the rendered
//! objects: the reference deployment on every chart generation, the
//! guide-era separate coordinators on 4.1.28 and the mixed coordinator on
//! 4.2 and 5.x. Also the plan-time render check, the controller's policy
//! against its published copies, and where the Kafka SCRAM password goes
//! (a Secret the Milvus pods read, never the Milvus ConfigMap) with the
//! values apply hands helm.

mod common;

use common::{Scratch, reference_stack, reference_with, repo_root};
use serde_json::Value as Json;
use stackplan_core::{ResourceKind, Value};
use stackplan_kube::manifest::{RenderedObject, parse_manifest};

/// The reference stack on another Milvus chart version. Chart 5.x has no
/// index node, so the reference's index node size goes to its data nodes.
fn reference_on(version: &str) -> String {
    let mut edits = vec![(
        "chart_version = \"4.2.8\"",
        format!("chart_version = \"{version}\""),
    )];
    if version.starts_with('5') {
        edits.push((
            "data_node  = { replicas = 1, cpu = \"1\", memory = \"4Gi\" }\nindex_node = { replicas = 1, cpu = \"4\", memory = \"8Gi\" }",
            "data_node  = { replicas = 1, cpu = \"5\", memory = \"12Gi\" }".to_string(),
        ));
    }
    let edits: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (*a, b.as_str())).collect();
    reference_with(&edits)
}

/// An error report with miette's line wrapping and gutters taken out, so
/// a message reads as one line whatever the width.
fn flat(report: &str) -> String {
    report
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn manifests(stack: &str) -> Vec<RenderedObject> {
    let run = Scratch::with_stack(stack).run(&["render", "stack.toml", "--manifests"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    parse_manifest(&run.stdout).expect("the rendered manifests are YAML")
}

fn find<'a>(objects: &'a [RenderedObject], kind: &str, name: &str) -> &'a RenderedObject {
    objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
}

/// The Milvus configuration the chart's ConfigMap gives every component.
fn milvus_config(objects: &[RenderedObject]) -> Json {
    let cm = find(objects, "ConfigMap", "demo-milvus");
    let text = cm.body["data"]["default.yaml"]
        .as_str()
        .expect("default.yaml in the Milvus ConfigMap");
    parse_manifest(text).unwrap().remove(0).body
}

fn limits(d: &RenderedObject) -> (String, String) {
    let l = &d.body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    (
        l["cpu"].as_str().unwrap_or_default().to_string(),
        l["memory"].as_str().unwrap_or_default().to_string(),
    )
}

/// Everything the reference deployment is, checked on the objects.
fn assert_reference_deployment(version: &str, objects: &[RenderedObject]) {
    let config = milvus_config(objects);
    // Object storage: S3 over TLS with the IRSA role, the bucket and root path.
    let minio = &config["minio"];
    assert_eq!(minio["address"], "s3.us-west-2.amazonaws.com", "{version}");
    assert_eq!(minio["port"], 443, "{version}");
    assert_eq!(minio["useSSL"], true, "{version}");
    assert_eq!(minio["useIAM"], true, "{version}");
    assert_eq!(minio["bucketName"], "acme-milvus-demo", "{version}");
    assert_eq!(minio["rootPath"], "milvus", "{version}");
    // Messages: Kafka over SASL_SSL / SCRAM-SHA-512 with MSK's broker list.
    assert_eq!(config["messageQueue"], "kafka", "{version}");
    let kafka = &config["kafka"];
    assert_eq!(
        kafka["brokerList"], "known-after-apply.msk_cluster.milvus.bootstrap_brokers_sasl_scram",
        "{version}"
    );
    assert_eq!(kafka["securityProtocol"], "SASL_SSL", "{version}");
    assert_eq!(kafka["saslMechanisms"], "SCRAM-SHA-512", "{version}");
    assert_eq!(kafka["saslUsername"], "milvus", "{version}");
    // The password is not in the configuration: every Milvus pod reads it
    // from the Secret, and rolls with the Secret's version.
    assert!(kafka.get("saslPassword").is_none(), "{version}: {kafka}");
    for d in milvus_deployments(objects) {
        assert_eq!(
            password_env(d),
            Some(password_from_secret()),
            "{version}: {}",
            d.id()
        );
        assert_eq!(
            secret_version_annotation(d),
            Some("known-after-apply.k8s_secret.kafka_sasl.resource_version"),
            "{version}: {}",
            d.id()
        );
    }
    // Nothing in-cluster for storage or messages.
    for o in objects {
        for gone in [
            "minio",
            "pulsar",
            "kafka",
            "woodpecker",
            "zookeeper",
            "bookie",
        ] {
            assert!(!o.name.contains(gone), "{version}: {} remains", o.id());
        }
    }
    // Every coordinator the chart deploys: 2 replicas, active-standby.
    let coordinators: Vec<&RenderedObject> = objects
        .iter()
        .filter(|o| o.kind == "Deployment" && o.name.ends_with("coord"))
        .collect();
    assert!(!coordinators.is_empty(), "{version}: no coordinator");
    for c in &coordinators {
        assert_eq!(c.body["spec"]["replicas"], 2, "{version}: {}", c.id());
    }
    for section in ["rootCoord", "queryCoord", "dataCoord"] {
        assert_eq!(
            config[section]["enableActiveStandby"], true,
            "{version}: {section}"
        );
    }
    let proxy = find(objects, "Deployment", "demo-milvus-proxy");
    assert_eq!(proxy.body["spec"]["replicas"], 2, "{version}");
    // The NLB in front of 19530.
    let svc = find(objects, "Service", "demo-milvus");
    assert_eq!(svc.body["spec"]["type"], "LoadBalancer", "{version}");
    assert_eq!(svc.body["spec"]["ports"][0]["port"], 19530, "{version}");
    let a = &svc.body["metadata"]["annotations"];
    assert_eq!(
        a["service.beta.kubernetes.io/aws-load-balancer-type"],
        "external"
    );
    assert_eq!(
        a["service.beta.kubernetes.io/aws-load-balancer-name"],
        "milvus-service"
    );
    assert_eq!(
        a["service.beta.kubernetes.io/aws-load-balancer-scheme"],
        "internal"
    );
    assert_eq!(
        a["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"],
        "ip"
    );
    // Attu behind a valid ALB ingress: one rule, every host, to Attu.
    let ing = find(objects, "Ingress", "demo-milvus-attu");
    assert_eq!(ing.body["apiVersion"], "networking.k8s.io/v1", "{version}");
    assert_eq!(
        ing.body["metadata"]["annotations"]["kubernetes.io/ingress.class"], "alb",
        "{version}: the controller must pick the ingress up"
    );
    let rules = ing.body["spec"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{version}");
    assert!(rules[0].get("host").is_none_or(Json::is_null), "{version}");
    assert_eq!(
        rules[0]["http"]["paths"][0]["backend"]["service"]["name"],
        "demo-milvus-attu"
    );
    // The worker sizes.
    let q = find(objects, "Deployment", "demo-milvus-querynode");
    assert_eq!(limits(q), ("2".into(), "8Gi".into()), "{version}");
    let d = find(objects, "Deployment", "demo-milvus-datanode");
    if version.starts_with('5') {
        assert_eq!(limits(d), ("5".into(), "12Gi".into()), "{version}");
        assert!(!objects.iter().any(|o| o.name == "demo-milvus-indexnode"));
    } else {
        assert_eq!(limits(d), ("1".into(), "4Gi".into()), "{version}");
        let i = find(objects, "Deployment", "demo-milvus-indexnode");
        assert_eq!(limits(i), ("4".into(), "8Gi".into()), "{version}");
    }
    // Every Milvus pod runs as the IRSA service account (Attu, which
    // never reaches S3, keeps the namespace default).
    for o in objects.iter().filter(|o| {
        o.kind == "Deployment" && o.name.starts_with("demo-milvus-") && o.name != "demo-milvus-attu"
    }) {
        assert_eq!(
            o.body["spec"]["template"]["spec"]["serviceAccountName"],
            "milvus-s3-access-sa",
            "{version}: {}",
            o.id()
        );
    }
}

/// The Deployments of Milvus processes: every `demo-milvus-*` but Attu,
/// the admin UI, which never talks to Kafka.
fn milvus_deployments(objects: &[RenderedObject]) -> Vec<&RenderedObject> {
    objects
        .iter()
        .filter(|o| {
            o.kind == "Deployment"
                && o.name.starts_with("demo-milvus-")
                && o.name != "demo-milvus-attu"
        })
        .collect()
}

/// The entry of `KAFKA_SASLPASSWORD` in the Milvus container's env.
fn password_env(d: &RenderedObject) -> Option<Json> {
    d.body["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == "KAFKA_SASLPASSWORD")
        .cloned()
}

fn password_from_secret() -> Json {
    serde_json::json!({
        "name": "KAFKA_SASLPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "demo-kafka-sasl", "key": "password"}},
    })
}

fn secret_version_annotation(d: &RenderedObject) -> Option<&str> {
    d.body["spec"]["template"]["metadata"]["annotations"]["stackplan/kafka-sasl-secret-version"]
        .as_str()
}

/// What no rendered object may contain: the password apply would resolve.
const SENTINEL: &str = "sentinel-scram-Xy7Qp";

/// The Milvus release's values as apply hands them to helm, for the
/// reference stack on chart `version`: every reference resolved (the
/// SCRAM password to [`SENTINEL`], the Secret's resource version to
/// `4242`), sensitive values in plaintext, as in helm's values file.
fn apply_time_values(stack_text: &str) -> Json {
    let stack = stackplan_stack::parse("stack.toml", stack_text).unwrap();
    let resources = stackplan_stack::expand(&stack, &common::charts_of(&stack));
    let attr = |addr: &stackplan_core::ResourceAddr, name: &str| {
        resources
            .iter()
            .find(|r| &r.addr == addr)
            .and_then(|r| r.attrs.get(name))
            .cloned()
    };
    let release = resources
        .iter()
        .find(|r| r.addr.to_string() == "helm_release.milvus")
        .unwrap();
    let values = release.attrs["values"].resolve(&|r| {
        Some(match (r.addr.kind, r.attr.as_str()) {
            (ResourceKind::SecretsmanagerSecret, "password") => Value::string(SENTINEL),
            (ResourceKind::K8sSecret, "resource_version") => Value::string("4242"),
            _ => attr(&r.addr, &r.attr)
                .filter(Value::is_known)
                .unwrap_or_else(|| Value::string(format!("resolved.{r}"))),
        })
    });
    fn plaintext(v: &Value) -> Json {
        match v {
            Value::Sensitive(inner) => plaintext(inner),
            Value::List(items) => Json::Array(items.iter().map(plaintext).collect()),
            Value::Map(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), plaintext(v))).collect())
            }
            other => {
                assert!(other.is_known(), "unresolved at apply: {other:?}");
                other.to_json()
            }
        }
    }
    plaintext(&values)
}

/// `helm template` of the real chart `version` with [`apply_time_values`].
fn render_at_apply(version: &str) -> (String, Vec<RenderedObject>) {
    use stackplan_kube::chart::Template;
    use stackplan_kube::helm::Helm;
    let values = apply_time_values(&reference_on(version));
    let chart = stackplan_testkit::shared_chart(&format!("milvus-{version}.tgz"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = rt.block_on(async {
        let helm = Helm::at(stackplan_testkit::helm_binaries().0)
            .await
            .unwrap();
        helm.template(&Template {
            release: "demo",
            namespace: "milvus",
            chart: &chart,
            values: &values,
            kube_version: Some("1.30"),
        })
        .await
        .unwrap()
    });
    let objects = parse_manifest(&text).unwrap();
    (text, objects)
}

#[test]
fn with_apply_time_values_no_chart_renders_the_password_and_every_milvus_pod_reads_the_secret() {
    let expected: [(&str, &[&str]); 3] = [
        (
            "4.1.28",
            &[
                "datacoord",
                "datanode",
                "indexcoord",
                "indexnode",
                "proxy",
                "querycoord",
                "querynode",
                "rootcoord",
            ],
        ),
        (
            "4.2.8",
            &["datanode", "indexnode", "mixcoord", "proxy", "querynode"],
        ),
        (
            "5.0.19",
            &[
                "datanode",
                "mixcoord",
                "proxy",
                "querynode",
                "streamingnode",
            ],
        ),
    ];
    for (version, components) in expected {
        let (text, objects) = render_at_apply(version);
        // Nowhere: not the ConfigMap, not an env value, not an annotation.
        assert!(
            !text.contains(SENTINEL),
            "{version}: the password is rendered"
        );
        let config = milvus_config(&objects);
        assert!(config["kafka"].get("saslPassword").is_none(), "{version}");
        assert_eq!(config["kafka"]["saslUsername"], "milvus", "{version}");
        let deployments = milvus_deployments(&objects);
        let names: Vec<&str> = deployments
            .iter()
            .map(|d| d.name.trim_start_matches("demo-milvus-"))
            .collect();
        assert_eq!(names, components, "{version}");
        for d in deployments {
            assert_eq!(
                password_env(d),
                Some(password_from_secret()),
                "{version}: {}",
                d.id()
            );
            assert_eq!(
                secret_version_annotation(d),
                Some("4242"),
                "{version}: {}",
                d.id()
            );
        }
    }
}

#[test]
fn the_guide_era_chart_gets_four_coordinators_in_active_standby() {
    let objects = manifests(&reference_on("4.1.28"));
    assert_reference_deployment("4.1.28", &objects);
    let coords: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind == "Deployment" && o.name.ends_with("coord"))
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        coords,
        [
            "demo-milvus-datacoord",
            "demo-milvus-indexcoord",
            "demo-milvus-querycoord",
            "demo-milvus-rootcoord"
        ]
    );
}

#[test]
fn the_pinned_4_2_chart_gets_its_mixed_coordinator_in_active_standby() {
    let objects = manifests(&reference_stack());
    assert_reference_deployment("4.2.8", &objects);
    let mix = find(&objects, "Deployment", "demo-milvus-mixcoord");
    assert_eq!(mix.body["spec"]["replicas"], 2);
    assert!(!objects.iter().any(|o| o.name == "demo-milvus-rootcoord"));
}

#[test]
fn the_current_5_x_chart_gets_kafka_alone_and_no_index_node() {
    let objects = manifests(&reference_on("5.0.19"));
    assert_reference_deployment("5.0.19", &objects);
    find(&objects, "Deployment", "demo-milvus-mixcoord");
    find(&objects, "Deployment", "demo-milvus-streamingnode");
}

/// A chart version not in `../shared` that keeps the structure: 5.0.19
/// unpacked and relabelled 5.9.0. Nothing in stackplan names versions, so
/// it gets the same deployment, and the plan shows its appVersion.
#[test]
fn a_chart_version_not_shipped_here_gets_the_same_deployment() {
    let scratch = Scratch::with_stack("");
    let dir = scratch.path().join("chart");
    std::fs::create_dir(&dir).unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(stackplan_testkit::shared_chart("milvus-5.0.19.tgz"))
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let chart_yaml = dir.join("milvus/Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml)
        .unwrap()
        .replace("version: 5.0.19", "version: 5.9.0")
        .replace("appVersion: 2.6.15", "appVersion: 2.9.1");
    std::fs::write(&chart_yaml, text).unwrap();
    let stack = reference_on("5.0.19").replace(
        "chart_version = \"5.0.19\"",
        "chart         = { path = \"chart/milvus\" }",
    );
    std::fs::write(scratch.path().join("stack.toml"), &stack).unwrap();
    let run = scratch.run(&["render", "stack.toml", "--manifests"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_reference_deployment("5.9.0", &parse_manifest(&run.stdout).unwrap());
    let values = scratch.run(&["render", "stack.toml"]);
    assert!(
        values.stdout.contains("chart milvus 5.9.0 (app 2.9.1)"),
        "{}",
        values.stdout
    );
}

#[test]
fn a_worker_the_chart_does_not_deploy_is_an_error_naming_the_chart_version() {
    // The reference's index node on chart 5.x, which has none.
    let stack = reference_with(&[("chart_version = \"4.2.8\"", "chart_version = \"5.0.19\"")]);
    let run = Scratch::with_stack(&stack).run(&["render", "stack.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "`milvus.resources.index_node`: chart milvus 5.0.19 (app 2.6.15) deploys no index node"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("stack.toml:"), "{}", run.stderr);
}

#[test]
fn sizing_maps_the_index_build_onto_data_nodes_when_the_chart_has_no_index_node() {
    let stack = reference_on("5.0.19").replace(
        "[milvus.resources]           # or: sizing = { vectors = 1_000_000, dim = 1024, index = \"HNSW\" }\nquery_node = { replicas = 1, cpu = \"2\", memory = \"8Gi\" }\ndata_node  = { replicas = 1, cpu = \"5\", memory = \"12Gi\" }",
        "[milvus.sizing]\nvectors = 1_000_000\ndim = 1024\nindex = \"HNSW\"",
    );
    assert!(stack.contains("[milvus.sizing]"), "edit not applied");
    let objects = manifests(&stack);
    // The reference's 1 CPU / 4Gi data node and 4 CPU / 8Gi index node.
    let d = find(&objects, "Deployment", "demo-milvus-datanode");
    assert_eq!(limits(d), ("5".into(), "12Gi".into()));
    assert!(!objects.iter().any(|o| o.name == "demo-milvus-indexnode"));
}

#[test]
fn plan_refuses_a_chart_that_renders_an_ingress_without_rules() {
    // What the generated values did before: an empty host list.
    let stack = format!(
        "{}\n[milvus.values]\nattu = {{ ingress = {{ hosts = [] }} }}\n",
        reference_stack()
    );
    let scratch = Scratch::with_stack(&stack);
    let run = scratch.run(&["plan", "stack.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        flat(&run.stderr).contains(
            "helm_release.milvus: Ingress/demo-milvus-attu: spec: either defaultBackend or rules must be specified"
        ),
        "{}",
        run.stderr
    );
    // Refused before anything was read or written: no state.
    assert!(!scratch.path().join(".stackplan").exists());
}

#[test]
fn plan_refuses_a_memory_limit_without_a_unit_in_the_rendered_objects() {
    let stack = format!(
        "{}\n[milvus.values]\nproxy = {{ resources = {{ limits = {{ memory = \"4\" }} }} }}\n",
        reference_stack()
    );
    let run = Scratch::with_stack(&stack).run(&["plan", "stack.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        flat(&run.stderr).contains("Deployment/demo-milvus-proxy: spec.template.spec.containers[0].resources.limits.memory: `4` is 4 bytes"),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_refuses_a_worker_memory_without_a_unit() {
    let err = flat(&common::validate_error(&reference_with(&[(
        "memory = \"8Gi\" }\ndata_node",
        "memory = \"8\" }\ndata_node",
    )])));
    assert!(
        err.contains("is 8 bytes") && err.contains("\"8Gi\""),
        "{err}"
    );
}

#[test]
fn the_controller_policy_is_the_published_one_of_its_chart_version() {
    let data = repo_root().join("crates/stackplan-stack/data/aws-load-balancer-controller/3.5.0");
    let shared = repo_root().join("../shared/reference");
    for (ours, published) in [
        (
            "iam-policy.json",
            "aws-load-balancer-controller-v3.5.0-iam-policy.json",
        ),
        (
            "iam-policy-cn.json",
            "aws-load-balancer-controller-v3.5.0-iam-policy-cn.json",
        ),
    ] {
        let ours: Json = serde_json::from_slice(&std::fs::read(data.join(ours)).unwrap()).unwrap();
        let published: Json =
            serde_json::from_slice(&std::fs::read(shared.join(published)).unwrap()).unwrap();
        assert_eq!(ours, published);
    }
    // The chart's own version names it: 3.5.0 is controller v3.5.0.
    let objects = manifests(&reference_stack());
    let controller = find(&objects, "Deployment", "aws-load-balancer-controller");
    let image = controller.body["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.ends_with(":v3.5.0"), "{image}");
}

#[test]
fn a_controller_chart_version_without_a_known_policy_is_refused() {
    let stack = format!(
        "{}\n[load_balancer_controller]\nchart_version = \"1.8.1\"\n",
        reference_stack()
    );
    let err = flat(&common::validate_error(&stack));
    assert!(
        err.contains("no IAM policy of the AWS Load Balancer Controller is known for chart version 1.8.1 in partition aws"),
        "{err}"
    );
    assert!(err.contains("known: 3.5.0"), "{err}");
}

#[test]
fn a_plan_in_china_attaches_the_aws_cn_policy() {
    let stack = reference_with(&[("region = \"us-west-2\"", "region = \"cn-north-1\"")]);
    let loaded = stackplan_stack::parse("stack.toml", &stack).unwrap();
    let resources = stackplan_stack::expand(&loaded, &stackplan_stack::Charts::default());
    let policy = resources
        .iter()
        .find(|r| r.addr.to_string() == "iam_policy.lb_controller")
        .unwrap();
    let doc = policy.attrs["document"].to_json().to_string();
    assert!(doc.contains("arn:aws-cn:elasticloadbalancing"), "{doc}");
    assert!(!doc.contains("arn:aws:elasticloadbalancing"), "{doc}");
}

#[test]
fn attu_routes_its_host_over_https_when_given_a_certificate() {
    let stack = reference_with(&[(
        "attu          = { enabled = true, scheme = \"internet-facing\" }",
        "attu          = { enabled = true, scheme = \"internet-facing\", host = \"attu.example.com\", certificate_arn = \"arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c\" }",
    )]);
    let objects = manifests(&stack);
    let ing = find(&objects, "Ingress", "demo-milvus-attu");
    assert_eq!(ing.body["spec"]["rules"][0]["host"], "attu.example.com");
    let a = &ing.body["metadata"]["annotations"];
    assert_eq!(a["kubernetes.io/ingress.class"], "alb");
    assert_eq!(
        a["alb.ingress.kubernetes.io/certificate-arn"],
        "arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c"
    );
    assert_eq!(
        a["alb.ingress.kubernetes.io/listen-ports"],
        r#"[{"HTTPS":443}]"#
    );
    assert_eq!(a["alb.ingress.kubernetes.io/scheme"], "internet-facing");
}

#[test]
fn a_chart_that_fails_to_render_is_a_plan_error_naming_the_release() {
    // `hosts` is ranged over by the chart's template: a string breaks it.
    let stack = format!(
        "{}\n[milvus.values]\nattu = {{ ingress = {{ hosts = 42 }} }}\n",
        reference_stack()
    );
    let run = Scratch::with_stack(&stack).run(&["plan", "stack.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let err = flat(&run.stderr);
    assert!(
        err.contains("helm_release.milvus: `helm template demo"),
        "{}",
        run.stderr
    );
    assert!(
        err.contains("the chart does not render with these values"),
        "{err}"
    );
}

#[test]
fn a_repository_chart_without_a_version_is_refused_at_validate() {
    let stack = reference_with(&[(
        "chart_version = \"4.2.8\"",
        "chart         = { repository = \"https://charts.example.com/\", name = \"milvus\" }",
    )]);
    let err = flat(&common::validate_error(&stack));
    assert!(
        err.contains("`milvus.chart` names no version: stackplan installs pinned charts only"),
        "{err}"
    );
}
