//! The Kubernetes kinds against the harness's real kube-apiserver (with
//! kube-controller-manager): server-side apply, reads in the desired shape,
//! drift made by another field manager, the gp2 default-class flag, a
//! Secret whose values never leave `Value::Sensitive`.

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use stackplan_core::{
    Action, KindSchema, Provider, ReadRequest, Resource, ResourceKind, ResourceMode, StateDocument,
    Value,
};
use stackplan_kube::{IS_DEFAULT_CLASS, KubeProvider};
use stackplan_testkit::unique_name;

const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";

fn namespace(name: &str) -> Resource {
    Resource::managed(ResourceKind::K8sNamespace, name)
        .attr("name", name)
        .attr("labels", Value::map([("team", Value::string("search"))]))
}

fn service_account(ns: &str, name: &str, role: &str) -> Resource {
    Resource::managed(ResourceKind::K8sServiceAccount, name)
        .attr("namespace", ns)
        .attr("name", name)
        .attr(
            "labels",
            Value::map([("aws-usage", Value::string("milvus"))]),
        )
        .attr("annotations", Value::map([(ROLE_ARN, Value::string(role))]))
}

fn storage_class(name: &str) -> Resource {
    Resource::managed(ResourceKind::K8sStorageClass, name)
        .attr("name", name)
        .attr("provisioner", "ebs.csi.aws.com")
        .attr("volume_binding_mode", "WaitForFirstConsumer")
        .attr("parameters", Value::map([("type", Value::string("gp3"))]))
        .attr(
            "annotations",
            Value::map([(IS_DEFAULT_CLASS, Value::string("false"))]),
        )
}

/// `observed` equals `desired` for every desired attribute, through the
/// kind's normaliser (defaults, string maps) as the engine compares them.
fn assert_reads_back_as_desired(r: &Resource, observed: &stackplan_core::Observed) {
    let schema = KindSchema::for_kind(r.kind());
    for (k, want) in &r.attrs {
        assert_eq!(
            schema.effective(k, observed.attrs.get(k)),
            schema.effective(k, Some(want)),
            "{}: attribute `{k}`",
            r.addr
        );
    }
}

async fn read(
    provider: &KubeProvider,
    r: &Resource,
    state: &StateDocument,
) -> Option<stackplan_core::Observed> {
    provider
        .read(ReadRequest {
            addr: &r.addr,
            mode: ResourceMode::Managed,
            desired: Some(&r.attrs),
            prior: state.get(&r.addr),
            events: &stackplan_core::NoEvents,
        })
        .await
        .expect("read")
}

#[tokio::test]
async fn every_kind_applies_reads_back_as_desired_and_then_plans_clean() {
    let provider = provider();
    let ns = unique_name("ns");
    let sc = unique_name("sc");
    let resources = vec![
        namespace(&ns),
        service_account(
            &ns,
            "milvus-s3-access-sa",
            "arn:aws:iam::123456789012:role/a",
        ),
        storage_class(&sc),
    ];
    let mut state = StateDocument::new(STACK, "lineage");

    let before = plan(&provider, &resources, &state).await;
    for r in &resources {
        assert_eq!(
            change(&before, r).action,
            Action::Create,
            "{:?}",
            actions(&before)
        );
    }

    for r in &resources {
        let observed = create(&provider, r).await;
        assert_reads_back_as_desired(r, &observed);
        assert!(observed.outputs.contains_key("uid"), "{}", r.addr);
        record(&mut state, r, &observed);
    }

    let after = plan(&provider, &resources, &state).await;
    assert!(!after.has_changes(), "{:?}", after.changes);
    assert!(!after.has_drift(), "{:?}", after.changes);

    // Clean up; the namespace delete returns once the namespace is gone.
    for r in resources.iter().rev() {
        delete(&provider, r, &state).await;
    }
    let client = kube_client().await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<StorageClass>::all(client)
            .get_opt(&sc)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn annotation_changed_by_another_field_manager_is_drift_and_apply_takes_it_back() {
    let provider = provider();
    let ns = unique_name("drift");
    let role = "arn:aws:iam::123456789012:role/milvus";
    let resources = vec![namespace(&ns), service_account(&ns, "sa", role)];
    let mut state = StateDocument::new(STACK, "lineage");
    for r in &resources {
        let observed = create(&provider, r).await;
        record(&mut state, r, &observed);
    }
    let sa = &resources[1];

    // By hand, as `kubectl annotate --overwrite` does: an update under
    // another field manager, plus an annotation stackplan never set.
    let client = kube_client().await;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let patch = serde_json::json!({"metadata": {"annotations": {
        ROLE_ARN: "arn:aws:iam::123456789012:role/someone-else",
        "example.com/owner": "ops",
    }}});
    api.patch(
        "sa",
        &PatchParams {
            field_manager: Some("kubectl-annotate".into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await
    .unwrap();

    let p = plan(&provider, &resources, &state).await;
    let c = change(&p, sa);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let paths: Vec<&str> = c.field_diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [format!("annotations.{ROLE_ARN}")],
        "only the managed annotation"
    );
    let drift = c.drift.as_ref().expect("drift reported");
    assert_eq!(drift.fields.len(), 1, "{drift:?}");
    assert_eq!(
        drift.fields[0].after,
        Value::string("arn:aws:iam::123456789012:role/someone-else")
    );
    assert_eq!(change(&p, &resources[0]).action, Action::NoOp);

    let observed = update(&provider, sa, &state).await;
    record(&mut state, sa, &observed);
    let live = api.get("sa").await.unwrap();
    let annotations = live.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get(ROLE_ARN).map(String::as_str), Some(role));
    // Someone else's annotation is theirs: left alone, never a change.
    assert_eq!(
        annotations.get("example.com/owner").map(String::as_str),
        Some("ops")
    );
    let p = plan(&provider, &resources, &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    for r in resources.iter().rev() {
        delete(&provider, r, &state).await;
    }
}

#[tokio::test]
async fn label_removed_from_the_stack_is_removed_from_the_object() {
    let provider = provider();
    let ns = unique_name("labels");
    let mut r = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &r).await;
    record(&mut state, &r, &observed);

    r = r.attr("labels", Value::map([("tier", Value::string("db"))]));
    let p = plan(&provider, std::slice::from_ref(&r), &state).await;
    let paths: Vec<&str> = change(&p, &r)
        .field_diffs
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(paths, ["labels.team", "labels.tier"]);
    let observed = update(&provider, &r, &state).await;
    record(&mut state, &r, &observed);
    let labels = Api::<Namespace>::all(kube_client().await)
        .get(&ns)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("db"));
    assert!(!labels.contains_key("team"), "{labels:?}");
    let p = plan(&provider, std::slice::from_ref(&r), &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);
    delete(&provider, &r, &state).await;
}

/// A StorageClass the way EKS ships gp2: default, annotated by EKS.
async fn eks_style_class(name: &str) {
    let api: Api<StorageClass> = Api::all(kube_client().await);
    let class: StorageClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {IS_DEFAULT_CLASS: "true"}},
        "provisioner": "kubernetes.io/aws-ebs",
        "parameters": {"type": "gp2", "fsType": "ext4"},
        "volumeBindingMode": "WaitForFirstConsumer",
    }))
    .unwrap();
    api.create(
        &PostParams {
            field_manager: Some("eks".into()),
            ..Default::default()
        },
        &class,
    )
    .await
    .unwrap();
}

async fn default_annotation(name: &str) -> Option<String> {
    let api: Api<StorageClass> = Api::all(kube_client().await);
    let class = api.get(name).await.unwrap();
    let annotations: BTreeMap<String, String> = class.metadata.annotations.unwrap_or_default();
    annotations.get(IS_DEFAULT_CLASS).cloned()
}

#[tokio::test]
async fn gp2_default_flag_is_turned_off_and_destroy_restores_it() {
    let provider = provider();
    let gp2 = unique_name("gp2");
    eks_style_class(&gp2).await;
    let r = Resource::managed(ResourceKind::K8sDefaultClass, "gp2")
        .attr("name", gp2.as_str())
        .attr("default", false);
    let mut state = StateDocument::new(STACK, "lineage");

    // Live, the class is the default: the plan adopts it and turns that off.
    let p = plan(&provider, std::slice::from_ref(&r), &state).await;
    let c = change(&p, &r);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let diffs: Vec<(&str, &Value, &Value)> = c
        .field_diffs
        .iter()
        .map(|d| (d.path.as_str(), &d.before, &d.after))
        .collect();
    assert_eq!(
        diffs,
        [("default", &Value::Bool(true), &Value::Bool(false))]
    );

    // Adopted: an update with nothing in state.
    let observed = {
        use stackplan_core::{ApplyRequest, NoEvents};
        provider
            .update(ApplyRequest {
                addr: &r.addr,
                desired: &r.attrs,
                prior: None,
                field_diffs: &[],
                events: &NoEvents,
            })
            .await
            .unwrap()
    };
    assert_eq!(observed.attrs.get("default"), Some(&Value::Bool(false)));
    assert_eq!(
        observed.outputs.get("previous_default"),
        Some(&Value::string("true"))
    );
    record(&mut state, &r, &observed);
    assert_eq!(default_annotation(&gp2).await.as_deref(), Some("false"));
    let p = plan(&provider, std::slice::from_ref(&r), &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    // Someone flips it back by hand: drift.
    let api: Api<StorageClass> = Api::all(kube_client().await);
    let patch = serde_json::json!({"metadata": {"annotations": {IS_DEFAULT_CLASS: "true"}}});
    api.patch(&gp2, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let p = plan(&provider, std::slice::from_ref(&r), &state).await;
    let c = change(&p, &r);
    assert_eq!(c.action, Action::Update, "{c:?}");
    assert!(c.drift.is_some(), "{c:?}");
    let observed = update(&provider, &r, &state).await;
    record(&mut state, &r, &observed);
    assert_eq!(default_annotation(&gp2).await.as_deref(), Some("false"));

    // Destroy never deletes the class: it puts the flag back.
    delete(&provider, &r, &state).await;
    assert_eq!(default_annotation(&gp2).await.as_deref(), Some("true"));
    let gone = read(&provider, &r, &StateDocument::new(STACK, "lineage")).await;
    assert_eq!(gone.unwrap().attrs.get("default"), Some(&Value::Bool(true)));

    api.delete(&gp2, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn default_flag_of_a_class_that_does_not_exist_is_a_clear_error() {
    use stackplan_core::{ApplyRequest, NoEvents};
    let provider = provider();
    let r = Resource::managed(ResourceKind::K8sDefaultClass, "gp2")
        .attr("name", unique_name("missing").as_str())
        .attr("default", false);
    let err = provider
        .create(ApplyRequest {
            addr: &r.addr,
            desired: &r.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{}", err.message);
}

#[tokio::test]
async fn dry_run_preview_shows_the_object_without_creating_it() {
    let provider = provider();
    let ns = unique_name("preview");
    let r = namespace(&ns);
    let observed = provider
        .preview(r.kind(), &r.attrs)
        .await
        .unwrap()
        .expect("a cluster to preview in");
    assert_reads_back_as_desired(&r, &observed);
    let live = Api::<Namespace>::all(kube_client().await)
        .get_opt(&ns)
        .await
        .unwrap();
    assert!(live.is_none(), "a dry run created the namespace");
}

#[tokio::test]
async fn read_with_an_identity_not_known_yet_finds_nothing() {
    let provider = provider();
    let r = Resource::managed(ResourceKind::K8sServiceAccount, "sa")
        .attr("namespace", Value::Unknown)
        .attr("name", "sa");
    let found = read(&provider, &r, &StateDocument::new(STACK, "lineage")).await;
    assert!(found.is_none());
}

fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Resource {
    Resource::managed(ResourceKind::K8sSecret, "kafka_sasl")
        .attr("namespace", ns)
        .attr("name", name)
        .attr(
            "labels",
            Value::map([("app.kubernetes.io/managed-by", Value::string("stackplan"))]),
        )
        .attr(
            "data",
            Value::map(
                data.iter()
                    .map(|(k, v)| (*k, Value::Sensitive(Box::new(Value::string(*v))))),
            ),
        )
}

/// The Secret's data as the API stores it, decoded.
async fn live_secret_data(ns: &str, name: &str) -> BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(kube_client().await, ns);
    api.get(name)
        .await
        .unwrap()
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_secret_is_created_read_back_sensitive_updated_and_deleted() {
    let provider = provider();
    let ns = unique_name("secret");
    let namespace = namespace(&ns);
    let mut state = StateDocument::new(STACK, "lineage");
    let observed = create(&provider, &namespace).await;
    record(&mut state, &namespace, &observed);

    // Create: an Opaque Secret, labelled, holding the value.
    let first = secret(
        &ns,
        "demo-kafka-sasl",
        &[("password", "first-s3cret"), ("spare", "x")],
    );
    let p = plan(&provider, &[namespace.clone(), first.clone()], &state).await;
    assert_eq!(change(&p, &first).action, Action::Create);
    assert!(!serde_json::to_string(&p).unwrap().contains("first-s3cret"));
    let created = create(&provider, &first).await;
    record(&mut state, &first, &created);
    let api: Api<Secret> = Api::namespaced(kube_client().await, &ns);
    let live = api.get("demo-kafka-sasl").await.unwrap();
    assert_eq!(live.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        live.metadata
            .labels
            .unwrap_or_default()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("stackplan")
    );
    assert_eq!(
        live_secret_data(&ns, "demo-kafka-sasl").await["password"],
        "first-s3cret"
    );

    // Read: the values come back sensitive, in the desired shape; the
    // outputs name the object's version, and nothing shows the value.
    let read_back = read(&provider, &first, &state).await.expect("it exists");
    assert_eq!(
        read_back.attrs["data"],
        Value::map([
            (
                "password",
                Value::Sensitive(Box::new(Value::string("first-s3cret")))
            ),
            ("spare", Value::Sensitive(Box::new(Value::string("x")))),
        ])
    );
    assert_reads_back_as_desired(&first, &read_back);
    let first_version = read_back.outputs["resource_version"].clone();
    assert!(
        matches!(first_version, Value::String(_)),
        "{first_version:?}"
    );
    assert!(read_back.outputs.contains_key("uid"));
    assert!(!format!("{read_back:?}").contains("first-s3cret"));
    let p = plan(&provider, &[namespace.clone(), first.clone()], &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    // Update: a new value, and a key the stack no longer sets. The plan
    // names the keys and shows neither value.
    let second = secret(&ns, "demo-kafka-sasl", &[("password", "second-s3cret")]);
    let p = plan(&provider, &[namespace.clone(), second.clone()], &state).await;
    let c = change(&p, &second);
    assert_eq!(c.action, Action::Update, "{c:?}");
    let paths: Vec<(&str, bool)> = c
        .field_diffs
        .iter()
        .map(|d| (d.path.as_str(), d.sensitive))
        .collect();
    assert_eq!(paths, [("data.password", true), ("data.spare", true)]);
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        !json.contains("first-s3cret") && !json.contains("second-s3cret"),
        "{json}"
    );
    let updated = update(&provider, &second, &state).await;
    record(&mut state, &second, &updated);
    let data = live_secret_data(&ns, "demo-kafka-sasl").await;
    assert_eq!(
        data.into_iter().collect::<Vec<_>>(),
        [("password".to_string(), "second-s3cret".to_string())]
    );
    // What the Milvus pods' annotation carries: a new version per write.
    assert_ne!(updated.outputs["resource_version"], first_version);
    let p = plan(&provider, &[namespace.clone(), second.clone()], &state).await;
    assert!(!p.has_changes(), "{:?}", p.changes);

    // Delete: gone, and a second delete is no error.
    delete(&provider, &second, &state).await;
    assert!(api.get_opt("demo-kafka-sasl").await.unwrap().is_none());
    delete(&provider, &second, &state).await;
    delete(&provider, &namespace, &state).await;
}

#[tokio::test]
async fn a_secret_value_that_is_not_known_is_refused_without_showing_any_value() {
    use stackplan_core::{ApplyRequest, NoEvents};
    let provider = provider();
    let r = secret("default", &unique_name("s"), &[("password", "never-shown")]).attr(
        "data",
        Value::map([
            (
                "password",
                Value::Sensitive(Box::new(Value::string("never-shown"))),
            ),
            ("other", Value::Unknown),
        ]),
    );
    let err = provider
        .create(ApplyRequest {
            addr: &r.addr,
            desired: &r.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("data.other"), "{}", err.message);
    assert!(!format!("{err:?}").contains("never-shown"), "{err:?}");
}
