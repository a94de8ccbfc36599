//! EKS access entries against moto (with the harness's access-entry
//! operations, as strict as EKS): an entry with its policy, rescoped and
//! re-policied in place, drift shown, and EKS's authentication-mode rule.

mod common;

use common::*;
use stackplan_core::{Provider, ResourceKind as K, Value};

const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const ADMIN_VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy";

/// An ACTIVE cluster in the given authentication mode; returns its name.
async fn cluster(p: &stackplan_aws::AwsProvider, second_octet: u8, mode: &str) -> String {
    let (_, subnets) = network(p, second_octet).await;
    let role = role(p, "eks.amazonaws.com").await;
    let name = name("eks");
    let desired = attrs([
        ("name", Value::string(&name)),
        ("version", Value::string("1.30")),
        ("role_arn", Value::string(&role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("authentication_mode", Value::string(mode)),
        ("bootstrap_cluster_creator_admin_permissions", true.into()),
        ("tags", tags([("Name", &name)])),
    ]);
    create(p, &addr(K::EksCluster, "main"), &desired).await;
    name
}

fn entry(cluster: &str, principal: &str, policies: Value) -> stackplan_core::Attrs {
    attrs([
        ("cluster_name", Value::string(cluster)),
        ("principal_arn", Value::string(principal)),
        ("type", Value::string("STANDARD")),
        ("access_policies", policies),
        ("tags", tags([("Name", "ci-plan")])),
    ])
}

#[tokio::test]
async fn an_access_entry_gets_its_policy_and_is_rescoped_and_repolicied_in_place() {
    let p = provider().await;
    let cluster = cluster(&p, 41, "API_AND_CONFIG_MAP").await;
    let principal = role(&p, "ec2.amazonaws.com").await;
    let a = addr(K::EksAccessEntry, "ci-plan");

    let scoped = entry(
        &cluster,
        &principal,
        Value::map([(VIEW, strs(["milvus", "attu"]))]),
    );
    let created = create(&p, &a, &scoped).await;
    assert!(
        created.outputs["arn"]
            .as_str()
            .unwrap()
            .contains(":access-entry/"),
        "{:?}",
        created.outputs
    );
    // Namespaces come back sorted; the plan compares them as the
    // expansion writes them (sorted), so a clean apply is quiet.
    let sorted = entry(
        &cluster,
        &principal,
        Value::map([(VIEW, strs(["attu", "milvus"]))]),
    );
    assert_no_diff(K::EksAccessEntry, &sorted, &created, &[]);
    let state = state_of(&a, &sorted, &created);

    // Another policy, cluster-wide: the new one is associated, the old
    // one dropped, with no moment of having none.
    let broader = entry(&cluster, &principal, Value::map([(ADMIN_VIEW, strs([]))]));
    let diffs = plan_diffs(K::EksAccessEntry, &broader, &created, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(!diffs[0].force_new, "a policy change is made in place");
    let updated = update(&p, &a, &broader, &state, &diffs).await.unwrap();
    assert_eq!(updated.physical_id, created.physical_id);
    assert_no_diff(K::EksAccessEntry, &broader, &updated, &[]);

    // Drift: a policy associated behind the stack's back shows in a read.
    let eks = aws_sdk_eks::Client::new(
        &stackplan_testkit::Emulators::shared()
            .unwrap()
            .aws_config()
            .await,
    );
    eks.associate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(VIEW)
        .access_scope(
            aws_sdk_eks::types::AccessScope::builder()
                .r#type(aws_sdk_eks::types::AccessScopeType::Cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let state = state_of(&a, &broader, &updated);
    let live = read(&p, &a, Some(&broader), Some(&state)).await.unwrap();
    let drift = plan_diffs(K::EksAccessEntry, &broader, &live, &[]);
    assert_eq!(drift.len(), 1, "{drift:#?}");
    assert_eq!(drift[0].path, "access_policies");
    let fixed = update(&p, &a, &broader, &state, &drift).await.unwrap();
    assert_no_diff(K::EksAccessEntry, &broader, &fixed, &[]);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&broader), Some(&state)).await.is_none());
}

/// EKS refuses access entries on a cluster that authenticates through the
/// aws-auth ConfigMap only (EKS user guide, "Change authentication mode to
/// use access entries"): the error says so rather than failing later.
#[tokio::test]
async fn a_cluster_in_config_map_mode_refuses_access_entries() {
    let p = provider().await;
    let cluster = cluster(&p, 42, "CONFIG_MAP").await;
    let principal = role(&p, "ec2.amazonaws.com").await;
    let a = addr(K::EksAccessEntry, "ci-plan");
    let desired = entry(&cluster, &principal, Value::map([(VIEW, strs([]))]));
    let err = p
        .create(stackplan_core::ApplyRequest {
            addr: &a,
            desired: &desired,
            prior: None,
            field_diffs: &[],
            events: &stackplan_core::NoEvents,
        })
        .await
        .unwrap_err();
    let text = chain(&err);
    assert!(text.contains("authentication mode"), "{text}");
}
