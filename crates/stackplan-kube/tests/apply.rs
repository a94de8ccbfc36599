//! The Kubernetes part of the stack through the engine end to end: plan
//! (all create), the engine's apply walker, plan (nothing to do), a hand
//! edit (drift), destroy (the gp2 flag restored, everything else gone).

mod common;

use common::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use stackplan_core::{
    OutputRef, ProviderRegistry, Resource, ResourceAddr, ResourceKind, StateDocument, Value,
};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_kube::IS_DEFAULT_CLASS;
use stackplan_testkit::{fixture_chart, repo_root, unique_name};

/// The stack's Kubernetes resources and the Milvus release, renamed so
/// that parallel tests on the shared apiserver never meet, with every
/// reference to an AWS resource resolved the way apply would.
fn kubernetes_part(ns: &str, sc: &str, gp2: &str) -> Vec<Resource> {
    let stack = stackplan_stack::load(&repo_root().join("stacks/milvus-local.toml")).unwrap();
    let aws_lookup = |o: &OutputRef| {
        (o.addr.kind.family() == stackplan_core::ProviderFamily::Aws).then(|| {
            Value::String(match o.attr.as_str() {
                "password" => "scram-s3cret".to_string(),
                _ => format!("{o}"),
            })
        })
    };
    let keep = |r: &Resource| {
        matches!(
            (r.addr.kind, r.addr.name.as_str()),
            (ResourceKind::K8sNamespace, _)
                | (ResourceKind::K8sServiceAccount, "milvus-s3-access-sa")
                | (ResourceKind::K8sStorageClass, _)
                | (ResourceKind::K8sDefaultClass, _)
                | (ResourceKind::K8sSecret, "kafka_sasl")
                | (ResourceKind::HelmRelease, "milvus")
        )
    };
    let kept: Vec<Resource> = stackplan_stack::expand(&stack, &stackplan_stack::Charts::default())
        .into_iter()
        .filter(keep)
        .collect();
    let addrs: Vec<ResourceAddr> = kept.iter().map(|r| r.addr.clone()).collect();
    kept.into_iter()
        .map(|mut r| {
            r.attrs = r
                .attrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.resolve(&|o| aws_lookup(o).or(Some(Value::Ref(o.clone())))),
                    )
                })
                .collect();
            r.depends_on.retain(|d| addrs.contains(d));
            match r.addr.kind {
                ResourceKind::K8sNamespace => {
                    r.attrs.insert("name".into(), Value::string(ns));
                }
                ResourceKind::K8sStorageClass => {
                    r.attrs.insert("name".into(), Value::string(sc));
                }
                ResourceKind::K8sDefaultClass => {
                    r.attrs.insert("name".into(), Value::string(gp2));
                }
                ResourceKind::HelmRelease => {
                    let chart = fixture_chart("milvus");
                    r.attrs.insert(
                        "chart".into(),
                        Value::map([("path", Value::string(chart.to_str().unwrap()))]),
                    );
                }
                _ => {}
            }
            r
        })
        .collect()
}

#[tokio::test]
async fn kubernetes_part_of_the_stack_applies_plans_clean_drifts_and_destroys() {
    let ns = unique_name("e2e");
    let sc = unique_name("ebs-sc");
    let gp2 = unique_name("gp2");
    let client = kube_client().await;
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class: StorageClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": gp2, "annotations": {IS_DEFAULT_CLASS: "true"}},
        "provisioner": "kubernetes.io/aws-ebs",
    }))
    .unwrap();
    classes
        .create(&PostParams::default(), &class)
        .await
        .unwrap();

    let resources = kubernetes_part(&ns, &sc, &gp2);
    assert_eq!(resources.len(), 6, "{resources:?}");
    let provider = provider();
    let registry = ProviderRegistry::new().with(provider.clone());
    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(STACK, "lineage");

    let p = plan(&provider, &resources, &state).await;
    let s = p.summary();
    // gp2 exists already: adopted, an update.
    assert_eq!((s.create, s.update), (5, 1), "{:?}", actions(&p));
    apply_ok(&p, &registry, &mut state, &store).await;

    let p = plan(&provider, &resources, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    assert!(!p.has_drift(), "{:?}", p.changes);

    // By hand: the service account's role annotation.
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let patch = serde_json::json!({"metadata": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}}});
    sa.patch(
        "milvus-s3-access-sa",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let p = plan(&provider, &resources, &state).await;
    let drifted: Vec<String> = p
        .changes
        .iter()
        .filter(|c| c.drift.is_some())
        .map(|c| c.addr.to_string())
        .collect();
    assert_eq!(
        drifted,
        ["k8s_service_account.milvus-s3-access-sa"],
        "{:?}",
        p.changes
    );
    assert_eq!(p.summary().update, 1);
    apply_ok(&p, &registry, &mut state, &store).await;
    let p = plan(&provider, &resources, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    // Destroy: nothing left in the stack.
    let p = plan(&provider, &[], &state).await;
    assert_eq!(p.summary().delete, 6, "{:?}", actions(&p));
    apply_ok(&p, &registry, &mut state, &store).await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
    );
    assert!(classes.get_opt(&sc).await.unwrap().is_none());
    let restored = classes.get(&gp2).await.unwrap();
    assert_eq!(
        restored
            .metadata
            .annotations
            .unwrap()
            .get(IS_DEFAULT_CLASS)
            .map(String::as_str),
        Some("true")
    );
    classes.delete(&gp2, &Default::default()).await.unwrap();
}
