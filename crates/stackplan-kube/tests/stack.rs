//! The Helm releases exactly as the stack expands them (the generated
//! Milvus values, the controller's values), installed with the fixture
//! charts: what the stack generates reads back without a perpetual diff,
//! and the charts receive it.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use stackplan_core::{Action, OutputRef, Resource, ResourceKind, StateDocument, Value};
use stackplan_testkit::{fixture_chart, repo_root, unique_name};

/// The stack's release with its references resolved as apply would, in
/// namespace `ns`, from the fixture chart of the same name.
fn release_from_stack(resources: &[Resource], name: &str, chart: &str, ns: &str) -> Resource {
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
    let path = fixture_chart(chart);
    r.attrs.insert(
        "chart".into(),
        Value::map([("path", Value::string(path.to_str().unwrap()))]),
    );
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
    let resources = stackplan_stack::expand(&stack, &stackplan_stack::Charts::default());
    let ns = unique_name("stack");
    let namespace =
        Resource::managed(ResourceKind::K8sNamespace, "milvus").attr("name", ns.as_str());
    let milvus = release_from_stack(&resources, "milvus", "milvus", &ns);
    // helm 3: see the load balancer controller test in helm.rs for why
    // helm 4 cannot install this fixture on the 1.20 test apiserver.
    let lbc = release_from_stack(
        &resources,
        "aws-load-balancer-controller",
        "aws-load-balancer-controller",
        &ns,
    );
    let provider = provider();
    let provider_v3 = provider_with_helm(emulators().helm_v3());
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

    let values = rendered(&ns, "demo").await;
    assert_eq!(values["externalKafka"]["sasl"]["password"], "scram-s3cret");
    assert_eq!(values["externalKafka"]["securityProtocol"], "SASL_SSL");
    assert_eq!(values["externalS3"]["useIAM"], true);
    assert_eq!(values["minio"]["enabled"], false);
    assert_eq!(
        values["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"],
        "internal"
    );
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
