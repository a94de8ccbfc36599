//! EKS kinds against moto (with the harness's EKS extensions): the
//! cluster, a managed node group, add-ons.

mod common;

use common::*;
use stackplan_core::{FieldDiff, Provider, ResourceKind as K, Value};

async fn cluster(
    p: &stackplan_aws::AwsProvider,
    version: &str,
) -> (String, Vec<String>, stackplan_core::Observed) {
    let (_, subnets) = network(p, 30).await;
    let role = role(p, "eks.amazonaws.com").await;
    let name = name("eks");
    let desired = attrs([
        ("name", Value::string(&name)),
        ("version", Value::string(version)),
        ("role_arn", Value::string(&role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("endpoint_private_access", true.into()),
        ("endpoint_public_access", true.into()),
        ("tags", tags([("Name", &name)])),
    ]);
    let o = create(p, &addr(K::EksCluster, "main"), &desired).await;
    (name, subnets, o)
}

#[tokio::test]
async fn cluster_waits_active_outputs_its_issuer_and_security_group_and_upgrades_one_minor_version_in_place()
 {
    let p = provider().await;
    let (_, subnets) = network(&p, 31).await;
    let role = role(&p, "eks.amazonaws.com").await;
    let a = addr(K::EksCluster, "main");
    let name = name("eks");
    let desired = attrs([
        ("name", Value::string(&name)),
        ("version", "1.29".into()),
        ("role_arn", Value::string(&role)),
        // Reversed: the order of subnets means nothing.
        (
            "subnet_ids",
            Value::list(subnets.iter().rev().map(Value::string)),
        ),
        ("endpoint_private_access", true.into()),
        ("endpoint_public_access", true.into()),
        ("tags", tags([("Name", &name)])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(created.outputs["status"], Value::string("ACTIVE"));
    let issuer = created.outputs["oidc_issuer"].as_str().unwrap();
    assert!(
        issuer.starts_with(&format!("https://oidc.eks.{REGION}.amazonaws.com/id/")),
        "{issuer}"
    );
    assert!(
        created.outputs["cluster_security_group_id"]
            .as_str()
            .unwrap()
            .starts_with("sg-")
    );
    assert!(created.outputs.contains_key("endpoint"));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::EksCluster, &desired, &live, &[]);

    // Skipping a minor version is planned as one step per minor (the
    // upgrade chain, tests/eks_upgrade.rs); going down is refused.
    let mut skip = vec![FieldDiff::new("version", "1.29".into(), "1.31".into())];
    p.plan_change(&a, &mut skip).unwrap();
    assert!(skip.iter().any(|d| d.path == "upgrade_steps"), "{skip:#?}");
    let mut down = vec![FieldDiff::new("version", "1.29".into(), "1.28".into())];
    let err = p.plan_change(&a, &mut down).unwrap_err();
    assert!(err.to_string().contains("cannot downgrade"), "{err}");

    // One minor version up, and the endpoint made private, in place.
    let upgraded = change(&desired, "version", "1.30".into());
    let upgraded = change(&upgraded, "endpoint_public_access", false.into());
    let mut diffs = plan_diffs(K::EksCluster, &upgraded, &live, &[]);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    p.plan_change(&a, &mut diffs).unwrap();
    let updated = update(&p, &a, &upgraded, &state, &diffs).await.unwrap();
    assert_no_diff(K::EksCluster, &upgraded, &updated, &[]);

    // New subnets mean a new cluster.
    let moved = change(&upgraded, "subnet_ids", strs(["subnet-other"]));
    assert!(plan_diffs(K::EksCluster, &moved, &updated, &[])[0].force_new);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn nodegroup_scales_and_relabels_in_place_and_a_new_instance_type_forces_replacement() {
    let p = provider().await;
    let (cluster, subnets, _) = cluster(&p, "1.30").await;
    let node_role = role(&p, "ec2.amazonaws.com").await;
    let a = addr(K::EksNodegroup, "ng-1-milvus");
    let scaling = |d: i64, min: i64, max: i64| {
        Value::map([
            ("desired_size", Value::Int(d)),
            ("min_size", Value::Int(min)),
            ("max_size", Value::Int(max)),
        ])
    };
    let desired = attrs([
        ("cluster_name", Value::string(&cluster)),
        ("nodegroup_name", "ng-1-milvus".into()),
        ("node_role_arn", Value::string(&node_role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("instance_types", strs(["m6i.2xlarge"])),
        ("disk_size", Value::Int(50)),
        ("scaling", scaling(3, 3, 3)),
        ("labels", tags([("role", "milvus")])),
        ("tags", tags([("Name", "ng-1-milvus")])),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(created.outputs["status"], Value::string("ACTIVE"));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::EksNodegroup, &desired, &live, &[]);

    let changed = change(&desired, "scaling", scaling(4, 2, 6));
    let changed = change(
        &changed,
        "labels",
        tags([("role", "milvus"), ("tier", "query")]),
    );
    let diffs = plan_diffs(K::EksNodegroup, &changed, &live, &[]);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::EksNodegroup, &changed, &updated, &[]);

    let bigger = change(&changed, "instance_types", strs(["m6i.4xlarge"]));
    let diffs = plan_diffs(K::EksNodegroup, &bigger, &updated, &[]);
    assert!(diffs[0].force_new, "{diffs:#?}");

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn addon_latest_resolves_to_the_newest_version_reads_back_as_latest_and_upgrades_in_place() {
    let p = provider().await;
    let (cluster, _, _) = cluster(&p, "1.30").await;
    let a = addr(K::EksAddon, "coredns");
    // Pinned below the newest first; then the stack asks for `latest`.
    let pinned = attrs([
        ("cluster_name", Value::string(&cluster)),
        ("addon_name", "coredns".into()),
        ("addon_version", "v1.11.3-eksbuild.1".into()),
        ("resolve_conflicts", "OVERWRITE".into()),
        ("tags", tags([("Name", "coredns")])),
    ]);
    let created = create(&p, &a, &pinned).await;
    let state = state_of(&a, &pinned, &created);
    let live = read(&p, &a, Some(&pinned), Some(&state)).await.unwrap();
    assert_no_diff(K::EksAddon, &pinned, &live, &["resolve_conflicts"]);

    let latest = change(&pinned, "addon_version", "latest".into());
    let live = read(&p, &a, Some(&latest), Some(&state)).await.unwrap();
    let mut diffs = plan_diffs(K::EksAddon, &latest, &live, &["resolve_conflicts"]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(!diffs[0].force_new);
    // The plan shows what `latest` is, not the word.
    p.plan_change(&a, &mut diffs).unwrap();
    assert_eq!(diffs[0].before, Value::string("v1.11.3-eksbuild.1"));
    assert_eq!(diffs[0].after, Value::string("v1.11.4-eksbuild.2"));
    let updated = update(&p, &a, &latest, &state, &diffs).await.unwrap();
    assert_eq!(
        updated.outputs["installed_version"],
        Value::string("v1.11.4-eksbuild.2")
    );
    assert_no_diff(K::EksAddon, &latest, &updated, &["resolve_conflicts"]);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&latest), Some(&state)).await.is_none());
}

#[tokio::test]
async fn ebs_csi_addon_takes_its_service_account_role_and_changes_it_in_place() {
    let p = provider().await;
    let (cluster, _, _) = cluster(&p, "1.30").await;
    let role1 = role(&p, "ec2.amazonaws.com").await;
    let role2 = role(&p, "ec2.amazonaws.com").await;
    let a = addr(K::EksAddon, "aws-ebs-csi-driver");
    let desired = attrs([
        ("cluster_name", Value::string(&cluster)),
        ("addon_name", "aws-ebs-csi-driver".into()),
        ("service_account_role_arn", Value::string(&role1)),
        ("resolve_conflicts", "OVERWRITE".into()),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::EksAddon, &desired, &live, &["resolve_conflicts"]);

    let changed = change(&desired, "service_account_role_arn", Value::string(&role2));
    let diffs = plan_diffs(K::EksAddon, &changed, &live, &["resolve_conflicts"]);
    assert!(!diffs[0].force_new);
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::EksAddon, &changed, &updated, &["resolve_conflicts"]);
    delete(&p, &a, &state).await;
}

/// An add-on name EKS does not offer fails CreateAddon only once the
/// cluster exists; preflight refuses it at plan, from
/// DescribeAddonVersions for the stack's Kubernetes version, with the
/// name it probably meant.
#[tokio::test]
async fn an_add_on_eks_does_not_offer_is_found_at_plan_with_a_did_you_mean() {
    let p = provider().await;
    let cluster = stackplan_core::Resource::managed(K::EksCluster, "main")
        .attr("name", "preflight")
        .attr("version", "1.30");
    let addon =
        |name: &str| stackplan_core::Resource::managed(K::EksAddon, name).attr("addon_name", name);
    let (good, bad) = (addon("vpc-cni"), addon("ebs-csi"));
    let all = [&cluster, &good, &bad];
    let findings = p.preflight(&all).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        findings[0].to_string(),
        "eks_addon.ebs-csi (addon_name): EKS offers no add-on `ebs-csi` for Kubernetes 1.30 ([eks.addons]); did you mean `aws-ebs-csi-driver`?"
    );
    // Every name the catalogue offers passes.
    let fine = [&cluster, &good];
    assert!(p.preflight(&fine).await.unwrap().is_empty());
}

/// Created through the API, a cluster defaults to CONFIG_MAP, where only
/// its creator is admin. The stack asks for API_AND_CONFIG_MAP (access
/// entries, so others can be granted access), with the creator-admin
/// bootstrap as it chooses; the mode moves forward in place, and EKS
/// (and the emulator) refuse to move it back.
#[tokio::test]
async fn cluster_access_mode_is_sent_read_back_and_only_moves_forward() {
    let p = provider().await;
    let (_, subnets) = network(&p, 32).await;
    let role = role(&p, "eks.amazonaws.com").await;
    let a = addr(K::EksCluster, "main");
    let name = name("access");
    let desired = attrs([
        ("name", Value::string(&name)),
        ("version", "1.30".into()),
        ("role_arn", Value::string(&role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("authentication_mode", "API_AND_CONFIG_MAP".into()),
        ("bootstrap_cluster_creator_admin_permissions", false.into()),
    ]);
    let created = create(&p, &a, &desired).await;
    assert_eq!(
        created.attrs["authentication_mode"],
        Value::string("API_AND_CONFIG_MAP")
    );
    assert_eq!(
        created.attrs["bootstrap_cluster_creator_admin_permissions"],
        Value::Bool(false)
    );
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::EksCluster, &desired, &live, &[]);

    // The bootstrap is a create-time choice only.
    let bootstrap = change(
        &desired,
        "bootstrap_cluster_creator_admin_permissions",
        true.into(),
    );
    assert!(plan_diffs(K::EksCluster, &bootstrap, &live, &[])[0].force_new);

    let api_only = change(&desired, "authentication_mode", "API".into());
    let diffs = plan_diffs(K::EksCluster, &api_only, &live, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    let updated = update(&p, &a, &api_only, &state, &diffs).await.unwrap();
    assert_eq!(updated.attrs["authentication_mode"], Value::string("API"));

    let back = change(&desired, "authentication_mode", "CONFIG_MAP".into());
    let diffs = plan_diffs(K::EksCluster, &back, &updated, &[]);
    let err = update(&p, &a, &back, &state, &diffs).await.unwrap_err();
    assert!(
        chain(&err).contains("Unsupported authentication mode update from API to CONFIG_MAP"),
        "{}",
        chain(&err)
    );
    delete(&p, &a, &state).await;
}
