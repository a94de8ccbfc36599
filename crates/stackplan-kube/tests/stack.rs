//! The Helm releases exactly as the stack expands them (the generated
//! Milvus values, the controller's values), installed on the real API
//! server: Milvus from the real 5.0.19 chart, whose objects are then read
//! back live, the controller from its fixture (the real chart's CRDs are
//! refused by the harness's 1.20 API server). What the stack generates
//! reads back without a perpetual diff, and the charts receive it. The
//! SCRAM password is in the Secret the stack makes, never in the Milvus
//! ConfigMap or the release record, and a rotated one rolls the pods.

mod common;

use std::collections::BTreeMap;

use base64::Engine;
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::ListParams;
use stackplan_core::{
    Action, Observed, OutputRef, ProviderFamily, ProviderRegistry, Resource, ResourceKind,
    StateDocument, Value,
};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_kube::chart::ChartCache;
use stackplan_kube::helm::{ChartSource, Helm};
use stackplan_stack::{ChartProfile, Charts};
use stackplan_testkit::{fixture_chart, repo_root, shared_chart, unique_name};

/// A chart read as plan reads it.
async fn profile(chart: &std::path::Path) -> ChartProfile {
    let helm = Helm::at(emulators().helm().to_path_buf()).await.unwrap();
    let cache = ChartCache::at(std::env::temp_dir());
    let local = helm
        .fetch_chart(&ChartSource::Path(chart.display().to_string()), &cache)
        .await
        .unwrap();
    ChartProfile::parse("test", &local.chart_yaml, &local.values_yaml).unwrap()
}

/// The SCRAM password the Secrets Manager secret gives, in these tests.
const PASSWORD: &str = "scram-s3cret";

/// The stack's resource `kind.name` in namespace `ns`, with what AWS would
/// give resolved as apply would (the password is [`PASSWORD`]) and its
/// references to the other Kubernetes objects kept, for the engine (or
/// [`resolved`]) to fill in.
fn from_stack(resources: &[Resource], kind: ResourceKind, name: &str, ns: &str) -> Resource {
    let mut r = resources
        .iter()
        .find(|r| r.addr.kind == kind && r.addr.name == name)
        .unwrap_or_else(|| panic!("the stack expands {kind}.{name}"))
        .clone();
    let lookup = |o: &OutputRef| {
        if o.addr.kind.family() != ProviderFamily::Aws {
            return Some(Value::Ref(o.clone()));
        }
        Some(Value::String(match o.attr.as_str() {
            "password" => PASSWORD.to_string(),
            _ => format!("{o}"),
        }))
    };
    r.attrs = r
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
        .collect();
    r.attrs.insert("namespace".into(), Value::string(ns));
    // Its dependencies are AWS resources this test does not create (the
    // ones on the other Kubernetes objects are in its references).
    r.depends_on.clear();
    r
}

/// The stack's release, as [`from_stack`], from `chart`.
fn release_from_stack(
    resources: &[Resource],
    name: &str,
    chart: &std::path::Path,
    ns: &str,
) -> Resource {
    let mut r = from_stack(resources, ResourceKind::HelmRelease, name, ns);
    if let Some(Value::Map(c)) = r.attrs.get_mut("chart") {
        c.insert("path".into(), Value::string(chart.to_str().unwrap()));
    }
    r
}

/// `r` with its references to other objects resolved from what creating
/// them gave, as apply resolves them.
fn resolved(r: &Resource, created: &[(&Resource, &Observed)]) -> Resource {
    let lookup = |o: &OutputRef| {
        let (producer, observed) = created.iter().find(|(p, _)| p.addr == o.addr)?;
        observed
            .outputs
            .get(&o.attr)
            .or_else(|| observed.attrs.get(&o.attr))
            .or_else(|| producer.attrs.get(&o.attr))
            .cloned()
    };
    let mut r = r.clone();
    r.attrs = r
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
        .collect();
    r
}

async fn rendered(ns: &str, release: &str) -> serde_json::Value {
    let api: Api<ConfigMap> = Api::namespaced(kube_client().await, ns);
    let cm = api.get(&format!("{release}-values")).await.unwrap();
    serde_json::from_str(&cm.data.unwrap()["values.json"]).unwrap()
}

#[tokio::test]
async fn releases_as_the_stack_generates_them_install_and_then_plan_clean() {
    let stack = stackplan_stack::load(&repo_root().join("stacks/milvus-local.toml")).unwrap();
    let milvus_chart = shared_chart("milvus-5.0.19.tgz");
    let lbc_chart = fixture_chart("aws-load-balancer-controller");
    let charts = Charts {
        milvus: Some(profile(&milvus_chart).await),
        load_balancer_controller: Some(profile(&lbc_chart).await),
    };
    let resources = stackplan_stack::expand(&stack, &charts);
    let ns = unique_name("stack");
    let namespace =
        Resource::managed(ResourceKind::K8sNamespace, "milvus").attr("name", ns.as_str());
    let secret = from_stack(&resources, ResourceKind::K8sSecret, "kafka_sasl", &ns);
    let milvus = release_from_stack(&resources, "milvus", &milvus_chart, &ns);
    let lbc = release_from_stack(&resources, "aws-load-balancer-controller", &lbc_chart, &ns);
    // helm 3 for both: the real Milvus chart's container ports have no
    // `protocol`, which helm 4's server-side apply sends as is and the
    // 1.20 test apiserver refuses (kubernetes#98576, fixed in 1.21); the
    // controller fixture likewise (see helm.rs). Reads need no helm.
    let provider = provider_with_helm(emulators().helm_v3());
    let provider_v3 = provider.clone();
    let mut state = StateDocument::new(STACK, "lineage");
    let all = vec![
        namespace.clone(),
        secret.clone(),
        milvus.clone(),
        lbc.clone(),
    ];
    let p = plan(&provider, &all, &state).await;
    assert_eq!(p.summary().create, 4, "{:?}", actions(&p));

    let o = create(&provider, &namespace).await;
    record(&mut state, &namespace, &o);
    let secret_created = create(&provider, &secret).await;
    record(&mut state, &secret, &secret_created);
    let o = create(&provider, &resolved(&milvus, &[(&secret, &secret_created)])).await;
    record(&mut state, &milvus, &o);
    let o = create(&provider_v3, &lbc).await;
    record(&mut state, &lbc, &o);

    let p = plan(&provider, &all, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    assert!(!serde_json::to_string(&p).unwrap().contains(PASSWORD));

    // The real chart's objects, live: Milvus configured for S3 and
    // Kafka, the mixed coordinator doubled, a valid Attu ingress.
    let client = kube_client().await;
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("demo-milvus")
        .await
        .unwrap();
    let config = &cm.data.unwrap()["default.yaml"];
    assert!(config.contains("messageQueue: kafka"), "{config}");
    assert!(config.contains("securityProtocol: SASL_SSL"), "{config}");
    assert!(config.contains("useIAM: true"), "{config}");
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let mix = deployments.get("demo-milvus-mixcoord").await.unwrap();
    assert_eq!(mix.spec.replicas, Some(2));
    let proxy = deployments.get("demo-milvus-proxy").await.unwrap();
    assert_eq!(proxy.spec.replicas, Some(2));
    assert!(
        deployments
            .get_opt("demo-milvus-indexnode")
            .await
            .unwrap()
            .is_none()
    );
    let ingress = Api::<Ingress>::namespaced(client.clone(), &ns)
        .get("demo-milvus-attu")
        .await
        .unwrap();
    let rules = ingress.spec.unwrap().rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].host, None);
    let values = rendered(&ns, "aws-load-balancer-controller").await;
    assert_eq!(values["serviceAccount"]["create"], false);
    assert!(values["clusterName"].is_string(), "{values}");

    // A value changed in the stack is a values diff.
    let mut changed = milvus.clone();
    if let Some(Value::Map(v)) = changed.attrs.get_mut("values") {
        v.insert("proxy".into(), Value::map([("replicas", Value::Int(5))]));
    }
    let p = plan(
        &provider,
        &[
            namespace.clone(),
            secret.clone(),
            changed.clone(),
            lbc.clone(),
        ],
        &state,
    )
    .await;
    let c = change(&p, &changed);
    assert_eq!(c.action, Action::Update, "{c:?}");
    assert!(
        c.field_diffs
            .iter()
            .all(|d| d.path.starts_with("values.proxy")),
        "{:?}",
        c.field_diffs
    );

    delete(&provider_v3, &lbc, &state).await;
    delete(&provider, &milvus, &state).await;
    delete(&provider, &secret, &state).await;
    delete(&provider, &namespace, &state).await;
}

/// The Secret's `password`, decoded, and its resource version.
async fn live_secret(ns: &str, name: &str) -> (String, String) {
    let s = Api::<Secret>::namespaced(kube_client().await, ns)
        .get(name)
        .await
        .unwrap();
    let password = String::from_utf8(s.data.unwrap()["password"].0.clone()).unwrap();
    (password, s.metadata.resource_version.unwrap())
}

/// Every Milvus Deployment of release `demo` (Attu, which never talks to
/// Kafka, aside), by name: the env var the password comes in, and the
/// pod template's annotation that rolls the pods.
async fn milvus_pods(ns: &str) -> BTreeMap<String, (serde_json::Value, Option<String>)> {
    let list = Api::<Deployment>::namespaced(kube_client().await, ns)
        .list(&ListParams::default().labels("app.kubernetes.io/instance=demo"))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|d| d.metadata.name.as_deref() != Some("demo-milvus-attu"))
        .map(|d| {
            let name = d.metadata.name.clone().unwrap();
            let template = d.spec.template;
            let env = template.spec.unwrap().containers[0]
                .env
                .clone()
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.name == "KAFKA_SASLPASSWORD")
                .map(|e| serde_json::to_value(e).unwrap())
                .unwrap_or(serde_json::Value::Null);
            let version = template
                .metadata
                .and_then(|m| m.annotations)
                .and_then(|a| a.get("stackplan/kafka-sasl-secret-version").cloned());
            (name, (env, version))
        })
        .collect()
}

/// Helm's record of the release, decoded: the values and the rendered
/// manifest, as anyone who can read Secrets in the namespace reads them.
async fn release_records(ns: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let list = Api::<Secret>::namespaced(kube_client().await, ns)
        .list(&ListParams::default().labels("owner=helm,name=demo"))
        .await
        .unwrap();
    assert!(!list.items.is_empty(), "no release record");
    let mut out = String::new();
    for s in list.items {
        let helm_base64 = &s.data.unwrap()["release"].0;
        let gzipped = engine.decode(helm_base64).unwrap();
        let mut json = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut json)
            .unwrap();
        out.push_str(&json);
    }
    out
}

#[tokio::test]
async fn the_scram_password_lives_in_its_secret_and_a_rotated_one_rolls_the_milvus_pods() {
    let stack = stackplan_stack::load(&repo_root().join("stacks/milvus-local.toml")).unwrap();
    let chart = shared_chart("milvus-5.0.19.tgz");
    let charts = Charts {
        milvus: Some(profile(&chart).await),
        load_balancer_controller: None,
    };
    let resources = stackplan_stack::expand(&stack, &charts);
    let ns = unique_name("sasl");
    let namespace =
        Resource::managed(ResourceKind::K8sNamespace, "milvus").attr("name", ns.as_str());
    let secret = from_stack(&resources, ResourceKind::K8sSecret, "kafka_sasl", &ns);
    let milvus = release_from_stack(&resources, "milvus", &chart, &ns);
    // helm 3: the real chart on the 1.20 apiserver (see the test above).
    let provider = provider_with_helm(emulators().helm_v3());
    let registry = ProviderRegistry::new().with(provider.clone());
    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(STACK, "lineage");
    let all = vec![namespace.clone(), secret.clone(), milvus.clone()];
    let p = plan(&provider, &all, &state).await;
    assert_eq!(p.summary().create, 3, "{:?}", actions(&p));
    apply_ok(&p, &registry, &mut state, &store).await;

    // The Secret holds the password; the ConfigMap every Milvus component
    // reads, and Helm's record of the release, do not.
    let (password, version) = live_secret(&ns, "demo-kafka-sasl").await;
    assert_eq!(password, PASSWORD);
    let cm = Api::<ConfigMap>::namespaced(kube_client().await, &ns)
        .get("demo-milvus")
        .await
        .unwrap();
    let config = &cm.data.unwrap()["default.yaml"];
    assert!(config.contains("saslUsername: "), "{config}");
    assert!(!config.contains("saslPassword"), "{config}");
    assert!(!config.contains(PASSWORD), "{config}");
    assert!(!release_records(&ns).await.contains(PASSWORD));

    // Every Milvus Deployment of the chart takes it from the Secret, and
    // carries the Secret's version.
    let from_secret = serde_json::json!({
        "name": "KAFKA_SASLPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "demo-kafka-sasl", "key": "password"}},
    });
    let pods = milvus_pods(&ns).await;
    assert_eq!(
        pods.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "demo-milvus-datanode",
            "demo-milvus-mixcoord",
            "demo-milvus-proxy",
            "demo-milvus-querynode",
            "demo-milvus-streamingnode",
        ]
    );
    for (name, (env, annotation)) in &pods {
        assert_eq!(env, &from_secret, "{name}");
        assert_eq!(annotation.as_deref(), Some(version.as_str()), "{name}");
    }
    let p = plan(&provider, &all, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    // The password rotates: the Secret is rewritten, and the release in
    // the same apply, with the Secret's new version on every pod template.
    let mut rotated = secret.clone();
    rotated.attrs.insert(
        "data".into(),
        Value::map([(
            "password",
            Value::Sensitive(Box::new(Value::string("rotated-s3cret"))),
        )]),
    );
    let all = vec![namespace.clone(), rotated.clone(), milvus.clone()];
    let p = plan(&provider, &all, &state).await;
    assert_eq!(change(&p, &rotated).action, Action::Update);
    let c = change(&p, &milvus);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let paths: Vec<(&str, &Value)> = c
        .field_diffs
        .iter()
        .map(|d| (d.path.as_str(), &d.after))
        .collect();
    assert_eq!(
        paths,
        [(
            "values.annotations.stackplan/kafka-sasl-secret-version",
            &Value::Unknown
        )]
    );
    assert!(
        !serde_json::to_string(&p)
            .unwrap()
            .contains("rotated-s3cret")
    );
    apply_ok(&p, &registry, &mut state, &store).await;
    let (password, new_version) = live_secret(&ns, "demo-kafka-sasl").await;
    assert_eq!(password, "rotated-s3cret");
    assert_ne!(new_version, version);
    for (name, (_, annotation)) in milvus_pods(&ns).await {
        assert_eq!(annotation.as_deref(), Some(new_version.as_str()), "{name}");
    }
    let p = plan(&provider, &all, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    let p = plan(&provider, &[], &state).await;
    apply_ok(&p, &registry, &mut state, &store).await;
}
