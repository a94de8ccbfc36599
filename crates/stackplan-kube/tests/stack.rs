//! The Helm releases exactly as the stack expands them (the generated
//! Milvus values, the controller's values), installed on the real API
//! server: Milvus from the real 5.0.19 chart, whose objects are then read
//! back live, the controller from its fixture (the real chart's CRDs are
//! refused by the harness's 1.20 API server). What the stack generates
//! reads back without a perpetual diff, and the charts receive it.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use stackplan_core::{Action, OutputRef, Resource, ResourceKind, StateDocument, Value};
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

/// The stack's release with its references resolved as apply would, in
/// namespace `ns`, from `chart`.
fn release_from_stack(
    resources: &[Resource],
    name: &str,
    chart: &std::path::Path,
    ns: &str,
) -> Resource {
    let mut r = resources
        .iter()
        .find(|r| r.addr.kind == ResourceKind::HelmRelease && r.addr.name == name)
        .unwrap_or_else(|| panic!("the stack expands helm_release.{name}"))
        .clone();
    let lookup = |o: &OutputRef| {
        Some(Value::String(match o.attr.as_str() {
            "password" => "scram-s3cret".to_string(),
            _ => format!("{o}"),
        }))
    };
    r.attrs = r
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
        .collect();
    r.attrs.insert("namespace".into(), Value::string(ns));
    if let Some(Value::Map(c)) = r.attrs.get_mut("chart") {
        c.insert("path".into(), Value::string(chart.to_str().unwrap()));
    }
    // Its dependencies are AWS resources this test does not create.
    r.depends_on.clear();
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
    let milvus = release_from_stack(&resources, "milvus", &milvus_chart, &ns);
    let lbc = release_from_stack(&resources, "aws-load-balancer-controller", &lbc_chart, &ns);
    // helm 3 for both: the real Milvus chart's container ports have no
    // `protocol`, which helm 4's server-side apply sends as is and the
    // 1.20 test apiserver refuses (kubernetes#98576, fixed in 1.21); the
    // controller fixture likewise (see helm.rs). Reads need no helm.
    let provider = provider_with_helm(emulators().helm_v3());
    let provider_v3 = provider.clone();
    let mut state = StateDocument::new(STACK, "lineage");
    let all = vec![namespace.clone(), milvus.clone(), lbc.clone()];
    let p = plan(&provider, &all, &state).await;
    assert_eq!(p.summary().create, 3, "{:?}", actions(&p));

    let o = create(&provider, &namespace).await;
    record(&mut state, &namespace, &o);
    let o = create(&provider, &milvus).await;
    record(&mut state, &milvus, &o);
    let o = create(&provider_v3, &lbc).await;
    record(&mut state, &lbc, &o);

    let p = plan(&provider, &all, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    assert!(!serde_json::to_string(&p).unwrap().contains("scram-s3cret"));

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
        &[namespace.clone(), changed.clone(), lbc.clone()],
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
    delete(&provider, &namespace, &state).await;
}
