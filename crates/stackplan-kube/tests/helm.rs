//! Helm releases against the harness's apiserver with real helm (v4 and
//! v3): installed from the fixture charts, read back natively from the
//! release records, upgraded when a value changes. The fixture charts
//! render the values they were given into the ConfigMap
//! `<release>-values`, which is how these tests see what helm received.

mod common;

use std::path::Path;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use stackplan_core::{
    Action, ApplyRequest, NoEvents, Provider, Resource, ResourceKind, StateDocument, Value,
};
use stackplan_kube::KubeProvider;
use stackplan_testkit::{fixture_chart, unique_name};

fn milvus_release(ns: &str, replicas: i64) -> Resource {
    let chart = fixture_chart("milvus");
    Resource::managed(ResourceKind::HelmRelease, "milvus")
        .attr("name", "demo")
        .attr("namespace", ns)
        .attr(
            "chart",
            Value::map([("path", Value::string(chart.to_str().unwrap()))]),
        )
        .attr(
            "values",
            Value::map([
                ("clusterName", Value::string("milvus-demo")),
                ("minio", Value::map([("enabled", Value::Bool(false))])),
                (
                    "externalS3",
                    Value::map([
                        ("enabled", Value::Bool(true)),
                        ("port", Value::string("443")),
                        ("useIAM", Value::Bool(true)),
                    ]),
                ),
                (
                    "externalKafka",
                    Value::map([(
                        "sasl",
                        Value::map([
                            ("mechanisms", Value::string("SCRAM-SHA-512")),
                            ("username", Value::string("milvus")),
                            (
                                "password",
                                Value::Sensitive(Box::new(Value::string("kafka-s3cret"))),
                            ),
                        ]),
                    )]),
                ),
                ("proxy", Value::map([("replicas", Value::Int(replicas))])),
                (
                    "service",
                    Value::map([("type", Value::string("LoadBalancer"))]),
                ),
            ]),
        )
        // Nothing schedules pods on the test apiserver.
        .attr("wait", false)
}

fn namespace(name: &str) -> Resource {
    Resource::managed(ResourceKind::K8sNamespace, name).attr("name", name)
}

/// The values the chart rendered, from its ConfigMap.
async fn rendered_values(ns: &str, release: &str) -> (serde_json::Value, String) {
    let api: Api<ConfigMap> = Api::namespaced(kube_client().await, ns);
    let cm = api.get(&format!("{release}-values")).await.unwrap();
    let data = cm.data.unwrap_or_default();
    let values = serde_json::from_str(&data["values.json"]).unwrap();
    (values, data["revision"].clone())
}

async fn install_read_upgrade_and_uninstall(helm: &Path) {
    let provider = provider_with_helm(helm);
    let ns = unique_name("helm");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);

    let release = milvus_release(&ns, 2);
    let resources = vec![namespace.clone(), release.clone()];
    let p = plan(&provider, &resources, &state).await;
    assert_eq!(
        change(&p, &release).action,
        Action::Create,
        "{:?}",
        actions(&p)
    );

    let observed = create(&provider, &release).await;
    assert_eq!(
        observed.physical_id.as_deref(),
        Some(format!("{ns}/demo").as_str())
    );
    assert_eq!(observed.outputs.get("revision"), Some(&Value::Int(1)));
    assert_eq!(
        observed.outputs.get("status"),
        Some(&Value::string("deployed"))
    );
    // Read natively, the values are what was passed, the secret masked.
    let values = observed.attrs.get("values").unwrap();
    assert_eq!(values.get_path("proxy.replicas"), Some(&Value::Int(2)));
    assert_eq!(
        values.get_path("externalS3.port"),
        Some(&Value::string("443"))
    );
    assert!(
        values
            .get_path("externalKafka.sasl.password")
            .unwrap()
            .is_sensitive()
    );
    record(&mut state, &release, &observed);

    let (rendered, revision) = rendered_values(&ns, "demo").await;
    assert_eq!(revision, "1");
    assert_eq!(rendered["proxy"]["replicas"], 2);
    assert_eq!(
        rendered["externalKafka"]["sasl"]["password"],
        "kafka-s3cret"
    );
    assert_eq!(rendered["clusterName"], "milvus-demo");

    let p = plan(&provider, &resources, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    let shown = serde_json::to_string(&p).unwrap();
    assert!(!shown.contains("kafka-s3cret"), "the plan holds the secret");

    // A changed value is a values diff, applied as an upgrade.
    let release = milvus_release(&ns, 3);
    let resources = vec![namespace.clone(), release.clone()];
    let p = plan(&provider, &resources, &state).await;
    let c = change(&p, &release);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let paths: Vec<&str> = c.field_diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["values.proxy.replicas"]);
    let observed = update(&provider, &release, &state).await;
    assert_eq!(observed.outputs.get("revision"), Some(&Value::Int(2)));
    record(&mut state, &release, &observed);
    let (rendered, revision) = rendered_values(&ns, "demo").await;
    assert_eq!(revision, "2");
    assert_eq!(rendered["proxy"]["replicas"], 3);
    let p = plan(&provider, &resources, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    delete(&provider, &release, &state).await;
    let p = plan(&provider, &resources, &state).await;
    assert_eq!(
        change(&p, &release).action,
        Action::Create,
        "uninstalled: {:?}",
        p.changes
    );
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn release_installs_reads_back_natively_and_upgrades_with_helm_4() {
    install_read_upgrade_and_uninstall(emulators().helm()).await;
}

#[tokio::test]
async fn release_installs_reads_back_natively_and_upgrades_with_helm_3() {
    install_read_upgrade_and_uninstall(emulators().helm_v3()).await;
}

#[tokio::test]
async fn load_balancer_controller_chart_gets_the_cluster_name_and_no_service_account() {
    // helm 3: helm 4 applies server-side, and the test apiserver (1.20)
    // refuses the fixture's webhook Service port, which (as upstream's)
    // leaves `protocol` out: "associative list with keys has an element
    // that omits key field protocol". Current EKS apiservers accept it.
    let provider = provider_with_helm(emulators().helm_v3());
    let ns = unique_name("lbc");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let chart = fixture_chart("aws-load-balancer-controller");
    let release = Resource::managed(ResourceKind::HelmRelease, "aws-load-balancer-controller")
        .attr("name", "aws-load-balancer-controller")
        .attr("namespace", ns.as_str())
        .attr(
            "chart",
            Value::map([("path", Value::string(chart.to_str().unwrap()))]),
        )
        .attr(
            "values",
            Value::map([
                ("clusterName", Value::string("milvus-demo")),
                (
                    "serviceAccount",
                    Value::map([
                        ("create", Value::Bool(false)),
                        ("name", Value::string("aws-load-balancer-controller")),
                    ]),
                ),
            ]),
        )
        .attr("wait", false);
    let observed = create(&provider, &release).await;
    record(&mut state, &release, &observed);
    let (rendered, _) = rendered_values(&ns, "aws-load-balancer-controller").await;
    assert_eq!(rendered["clusterName"], "milvus-demo");
    assert_eq!(rendered["serviceAccount"]["create"], false);
    let p = plan(&provider, &[namespace.clone(), release.clone()], &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    delete(&provider, &release, &state).await;
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn missing_helm_is_a_clear_error_naming_what_to_install() {
    let provider: std::sync::Arc<KubeProvider> =
        provider_with_helm(Path::new("/nonexistent/stackplan-test/helm"));
    let release = milvus_release("default", 1);
    let err = provider
        .create(ApplyRequest {
            addr: &release.addr,
            desired: &release.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(
        err.message.contains("helm 3.8 or newer") && err.message.contains("STACKPLAN_HELM"),
        "{}",
        err.message
    );
}

/// The milvus fixture with a ClusterIP service: every object it renders is
/// ready as soon as it exists, so helm's wait returns.
async fn install_waiting(helm: &Path) {
    let provider = provider_with_helm(helm);
    let ns = unique_name("wait");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let mut release = milvus_release(&ns, 1).attr("wait", true);
    if let Some(Value::Map(values)) = release.attrs.get_mut("values") {
        values.insert(
            "service".into(),
            Value::map([("type", Value::string("ClusterIP"))]),
        );
    }
    let observed = create(&provider, &release).await;
    assert_eq!(
        observed.outputs.get("status"),
        Some(&Value::string("deployed"))
    );
    record(&mut state, &release, &observed);
    delete(&provider, &release, &state).await;
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn waiting_install_succeeds_with_helm_4() {
    install_waiting(emulators().helm()).await;
}

#[tokio::test]
async fn waiting_install_succeeds_with_helm_3() {
    install_waiting(emulators().helm_v3()).await;
}

#[tokio::test]
async fn failed_install_reports_helms_error_and_leaves_no_release() {
    let provider = provider();
    let ns = unique_name("fail");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let chart = fixture_chart("aws-load-balancer-controller");
    // The chart requires clusterName, as upstream's does.
    let release = Resource::managed(ResourceKind::HelmRelease, "lbc")
        .attr("name", "lbc")
        .attr("namespace", ns.as_str())
        .attr(
            "chart",
            Value::map([("path", Value::string(chart.to_str().unwrap()))]),
        )
        .attr(
            "values",
            Value::map([(
                "token",
                Value::Sensitive(Box::new(Value::string("never-shown"))),
            )]),
        )
        .attr("wait", false);
    let err = provider
        .create(ApplyRequest {
            addr: &release.addr,
            desired: &release.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("clusterName"), "{}", err.message);
    assert!(!err.message.contains("never-shown"), "{}", err.message);
    let p = plan(&provider, &[namespace.clone(), release.clone()], &state).await;
    assert_eq!(
        change(&p, &release).action,
        Action::Create,
        "{:?}",
        p.changes
    );
    delete(&provider, &namespace, &state).await;
}

/// Rewrites revision `revision` of `release` to say `status`: how helm
/// leaves its records when the process running it is killed mid-operation.
async fn set_record_status(ns: &str, release: &str, revision: i64, status: &str) {
    use std::io::{Read, Write};

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PostParams;

    let api: Api<Secret> = Api::namespaced(kube_client().await, ns);
    let name = format!("sh.helm.release.v1.{release}.v{revision}");
    let mut secret = api.get(&name).await.unwrap();
    let data = secret.data.as_mut().unwrap();
    let gz = STANDARD.decode(&data["release"].0).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&json).unwrap();
    record["info"]["status"] = serde_json::json!(status);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(record.to_string().as_bytes()).unwrap();
    let blob = STANDARD.encode(enc.finish().unwrap());
    data.insert("release".into(), ByteString(blob.into_bytes()));
    secret
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("status".into(), status.into());
    api.replace(&name, &PostParams::default(), &secret)
        .await
        .unwrap();
}

#[tokio::test]
async fn release_left_pending_by_an_interrupted_apply_is_rolled_back_then_upgraded() {
    let provider = provider();
    let ns = unique_name("pending");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let release = milvus_release(&ns, 1);
    let observed = create(&provider, &release).await;
    record(&mut state, &release, &observed);
    let release = milvus_release(&ns, 4);
    let observed = update(&provider, &release, &state).await;
    record(&mut state, &release, &observed);
    // As an interrupted upgrade leaves it: the new revision pending, the
    // old one still the deployed one.
    set_record_status(&ns, "demo", 2, "pending-upgrade").await;
    set_record_status(&ns, "demo", 1, "deployed").await;

    // What runs is revision 1: the plan shows the upgrade as still to do.
    let p = plan(&provider, &[namespace.clone(), release.clone()], &state).await;
    let c = change(&p, &release);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let diffs: Vec<(&str, &Value, &Value)> = c
        .field_diffs
        .iter()
        .map(|d| (d.path.as_str(), &d.before, &d.after))
        .collect();
    assert_eq!(
        diffs,
        [("values.proxy.replicas", &Value::Int(1), &Value::Int(4))]
    );

    let release = milvus_release(&ns, 6);
    let observed = update(&provider, &release, &state).await;
    assert_eq!(
        observed.outputs.get("status"),
        Some(&Value::string("deployed"))
    );
    // 3 is the rollback, 4 the upgrade.
    assert_eq!(observed.outputs.get("revision"), Some(&Value::Int(4)));
    record(&mut state, &release, &observed);
    let (rendered, _) = rendered_values(&ns, "demo").await;
    assert_eq!(rendered["proxy"]["replicas"], 6);

    delete(&provider, &release, &state).await;
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn release_left_pending_install_is_removed_then_installed_again() {
    let provider = provider();
    let ns = unique_name("pending");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let release = milvus_release(&ns, 1);
    create(&provider, &release).await;
    set_record_status(&ns, "demo", 1, "pending-install").await;
    // Nothing runs yet: the plan says create.
    let p = plan(&provider, &[namespace.clone(), release.clone()], &state).await;
    assert_eq!(
        change(&p, &release).action,
        Action::Create,
        "{:?}",
        p.changes
    );

    let observed = create(&provider, &release).await;
    assert_eq!(
        observed.outputs.get("status"),
        Some(&Value::string("deployed"))
    );
    assert_eq!(observed.outputs.get("revision"), Some(&Value::Int(1)));
    record(&mut state, &release, &observed);
    delete(&provider, &release, &state).await;
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn failed_first_install_without_rollback_plans_as_create_and_reapply_converges() {
    // helm 3 without waiting runs without --atomic: a failure stays failed.
    let provider = provider_with_helm(emulators().helm_v3());
    let ns = unique_name("failed");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);
    let mut broken = milvus_release(&ns, 1);
    if let Some(Value::Map(values)) = broken.attrs.get_mut("values") {
        // The apiserver refuses a Service of this type.
        values.insert(
            "service".into(),
            Value::map([("type", Value::string("Bogus"))]),
        );
    }
    let err = provider
        .create(ApplyRequest {
            addr: &broken.addr,
            desired: &broken.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("Bogus"), "{}", err.message);

    let release = milvus_release(&ns, 1);
    let p = plan(&provider, &[namespace.clone(), release.clone()], &state).await;
    assert_eq!(
        change(&p, &release).action,
        Action::Create,
        "{:?}",
        p.changes
    );
    let observed = create(&provider, &release).await;
    assert_eq!(
        observed.outputs.get("status"),
        Some(&Value::string("deployed"))
    );
    record(&mut state, &release, &observed);
    delete(&provider, &release, &state).await;
    delete(&provider, &namespace, &state).await;
}
