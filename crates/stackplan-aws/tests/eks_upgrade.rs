//! The EKS upgrade chain against moto (with the harness's EKS extensions,
//! which refuse what EKS refuses: a jump of two minors, a control plane
//! upgrade while a node group is behind, a node group ahead of its
//! cluster): the cluster's update takes the control plane, then every
//! managed node group, then the add-ons, one minor at a time, and the
//! node group and add-on resources plan clean after it.

mod common;

use common::*;
use stackplan_core::{FieldDiff, Observed, Provider, ResourceKind as K, ResourceState, Value};

/// A cluster with one node group, kube-proxy (EKS's default version),
/// coredns (`latest`) and vpc-cni (pinned), all on `version`.
struct Stack {
    cluster: (
        stackplan_core::ResourceAddr,
        stackplan_core::Attrs,
        ResourceState,
    ),
    nodegroup: (
        stackplan_core::ResourceAddr,
        stackplan_core::Attrs,
        ResourceState,
    ),
    addons: Vec<(
        stackplan_core::ResourceAddr,
        stackplan_core::Attrs,
        ResourceState,
    )>,
}

const PINNED_CNI: &str = "v1.18.6-eksbuild.1";

async fn stack(
    p: &stackplan_aws::AwsProvider,
    octet: u8,
    version: &str,
    release: Option<&str>,
) -> Stack {
    let (_, subnets) = network(p, octet).await;
    let cluster_role = role(p, "eks.amazonaws.com").await;
    let node_role = role(p, "ec2.amazonaws.com").await;
    let name = name("upgrade");
    let ca = addr(K::EksCluster, "main");
    let cd = attrs([
        ("name", Value::string(&name)),
        ("version", Value::string(version)),
        ("role_arn", Value::string(&cluster_role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("tags", tags([("Name", &name)])),
    ]);
    let co = create(p, &ca, &cd).await;
    let cs = state_of(&ca, &cd, &co);

    let na = addr(K::EksNodegroup, "workers");
    let nd = attrs([
        ("cluster_name", Value::string(&name)),
        ("nodegroup_name", "workers".into()),
        ("node_role_arn", Value::string(&node_role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("instance_types", strs(["m6i.xlarge"])),
        ("version", Value::string(version)),
        (
            "scaling",
            Value::map([
                ("desired_size", Value::Int(2)),
                ("min_size", Value::Int(1)),
                ("max_size", Value::Int(3)),
            ]),
        ),
        ("tags", tags([("Name", "workers")])),
    ]);
    let nd = match release {
        Some(r) => change(&nd, "release_version", Value::string(r)),
        None => nd,
    };
    let no = create(p, &na, &nd).await;
    assert_eq!(no.attrs["version"], Value::string(version));
    let ns = state_of(&na, &nd, &no);

    let mut addons = Vec::new();
    for (addon, pinned) in [
        ("kube-proxy", None),
        ("coredns", Some("latest")),
        ("vpc-cni", Some(PINNED_CNI)),
    ] {
        let a = addr(K::EksAddon, addon);
        let mut d = attrs([
            ("cluster_name", Value::string(&name)),
            ("addon_name", addon.into()),
            ("kubernetes_version", Value::string(version)),
            ("resolve_conflicts", "OVERWRITE".into()),
        ]);
        if let Some(v) = pinned {
            d.insert("addon_version".into(), Value::string(v));
        }
        let o = create(p, &a, &d).await;
        let s = state_of(&a, &d, &o);
        addons.push((a, d, s));
    }
    Stack {
        cluster: (ca, cd, cs),
        nodegroup: (na, nd, ns),
        addons,
    }
}

/// kube-proxy's build for a minor in the emulator's catalogue, the one
/// flagged `defaultVersion` (`v1.<minor>.3-eksbuild.5`).
fn kube_proxy_default(version: &str) -> String {
    let minor = version.split('.').nth(1).unwrap();
    format!("v1.{minor}.3-eksbuild.5")
}

/// What a plan and an apply do to the stack when `[eks] version` moves to
/// `to`: each resource's diff (with the provider's `plan_change`), then
/// each update in the graph's order (cluster, node group, add-ons). The
/// steps the cluster's change names are returned.
async fn upgrade(p: &stackplan_aws::AwsProvider, s: &mut Stack, to: &str) -> Vec<String> {
    let (ca, cd, cs) = &mut s.cluster;
    *cd = change(cd, "version", Value::string(to));
    let live = read(p, ca, Some(cd), Some(cs)).await.unwrap();
    let mut diffs = plan_diffs(K::EksCluster, cd, &live, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(!diffs[0].force_new);
    p.plan_change(ca, &mut diffs).unwrap();
    let steps: Vec<String> = diffs
        .iter()
        .find(|d| d.path == "upgrade_steps")
        .and_then(|d| match &d.after {
            Value::List(items) => Some(items.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no upgrade_steps: {diffs:#?}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let updated = update(p, ca, cd, cs, &diffs).await.unwrap();
    assert_eq!(updated.attrs["version"], Value::string(to));
    *cs = state_of(ca, cd, &updated);

    // The node group and add-ons plan their own `version` change (the
    // expansion gives them the cluster's); their updates, after the
    // cluster's, find it done or finish it.
    let (na, nd, ns) = &mut s.nodegroup;
    let before = ns.clone();
    *nd = change(nd, "version", Value::string(to));
    let diffs = vec![FieldDiff::new(
        "version",
        before.attributes["version"].clone(),
        Value::string(to),
    )];
    let updated = update(p, na, nd, ns, &diffs).await.unwrap();
    assert_no_diff(K::EksNodegroup, nd, &updated, &[]);
    *ns = state_of(na, nd, &updated);
    for (a, d, st) in &mut s.addons {
        let was = d["kubernetes_version"].clone();
        *d = change(d, "kubernetes_version", Value::string(to));
        let diffs = vec![FieldDiff::new("kubernetes_version", was, Value::string(to))];
        let updated = update(p, a, d, st, &diffs).await.unwrap();
        *st = state_of(a, d, &updated);
    }
    steps
}

async fn installed(p: &stackplan_aws::AwsProvider, s: &Stack, addon: &str) -> Observed {
    let (a, d, st) = s.addons.iter().find(|(a, _, _)| a.name == addon).unwrap();
    read(p, a, Some(d), Some(st)).await.unwrap()
}

/// After an upgrade: every resource reads back as the stack asks (the
/// next plan is quiet), the node group and kube-proxy on the new minor.
async fn assert_on(p: &stackplan_aws::AwsProvider, s: &Stack, version: &str) {
    let (ca, cd, cs) = &s.cluster;
    let live = read(p, ca, Some(cd), Some(cs)).await.unwrap();
    assert_eq!(live.attrs["version"], Value::string(version));
    assert_no_diff(K::EksCluster, cd, &live, &[]);
    let (na, nd, ns) = &s.nodegroup;
    let ng = read(p, na, Some(nd), Some(ns)).await.unwrap();
    assert_eq!(ng.attrs["version"], Value::string(version));
    assert_no_diff(K::EksNodegroup, nd, &ng, &[]);
    for (a, d, st) in &s.addons {
        let live = read(p, a, Some(d), Some(st)).await.unwrap();
        assert_eq!(live.attrs["kubernetes_version"], Value::string(version));
        assert_no_diff(K::EksAddon, d, &live, &["resolve_conflicts"]);
    }
    assert_eq!(
        installed(p, s, "kube-proxy").await.outputs["installed_version"],
        Value::string(kube_proxy_default(version))
    );
    // `latest` is resolved against the minor the cluster is on now.
    assert_eq!(
        installed(p, s, "coredns").await.attrs["addon_version"],
        Value::string("latest")
    );
    // A pinned add-on the new minor still offers stays where it is.
    assert_eq!(
        installed(p, s, "vpc-cni").await.outputs["installed_version"],
        Value::string(PINNED_CNI)
    );
}

#[tokio::test]
async fn two_consecutive_minor_upgrades_take_node_groups_and_kube_proxy_to_each_minor() {
    let p = provider().await;
    let mut s = stack(&p, 81, "1.30", None).await;
    assert_eq!(
        installed(&p, &s, "kube-proxy").await.outputs["installed_version"],
        Value::string(kube_proxy_default("1.30"))
    );

    let steps = upgrade(&p, &mut s, "1.31").await;
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(steps[0].starts_with("1.31: control plane, UpdateClusterVersion"));
    assert!(steps[1].contains("UpdateNodegroupVersion to 1.31"));
    assert!(steps[2].contains("kube-proxy"));
    assert_on(&p, &s, "1.31").await;

    // The next upgrade: EKS (and moto_ext) would refuse it with the node
    // group still on 1.30; it goes through.
    upgrade(&p, &mut s, "1.32").await;
    assert_on(&p, &s, "1.32").await;
}

#[tokio::test]
async fn a_jump_of_two_minors_runs_both_steps_in_one_apply_and_names_each_in_the_plan() {
    let p = provider().await;
    let mut s = stack(&p, 82, "1.30", None).await;

    let steps = upgrade(&p, &mut s, "1.32").await;
    let minors: Vec<&str> = steps.iter().map(|s| &s[..4]).collect();
    assert_eq!(minors, ["1.31", "1.31", "1.31", "1.32", "1.32", "1.32"]);
    assert!(
        steps[1].contains("EKS refuses the next UpdateClusterVersion while a node group"),
        "{steps:#?}"
    );
    assert_on(&p, &s, "1.32").await;

    // Down is still refused at plan.
    let (ca, _, _) = &s.cluster;
    let mut down = vec![FieldDiff::new("version", "1.32".into(), "1.31".into())];
    let err = p.plan_change(ca, &mut down).unwrap_err();
    assert!(err.to_string().contains("cannot downgrade"), "{err}");
}

/// A new AMI release for the same Kubernetes version is a rolling
/// UpdateNodegroupVersion of its own, in place; a release that is not the
/// version's is EKS's refusal, not a replacement.
#[tokio::test]
async fn a_release_version_change_is_an_in_place_rolling_update() {
    let p = provider().await;
    let s = stack(&p, 83, "1.31", Some("1.31.0-20250101")).await;
    let (na, nd, ns) = &s.nodegroup;
    let live = read(&p, na, Some(nd), Some(ns)).await.unwrap();
    assert_no_diff(K::EksNodegroup, nd, &live, &[]);

    let newer = change(nd, "release_version", "1.31.0-20250301".into());
    let mut diffs = plan_diffs(K::EksNodegroup, &newer, &live, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(!diffs[0].force_new, "{diffs:#?}");
    p.plan_change(na, &mut diffs).unwrap();
    assert_eq!(diffs.len(), 1);
    let events = Events::default();
    let req = stackplan_core::ApplyRequest {
        addr: na,
        desired: &newer,
        prior: Some(ns),
        field_diffs: &diffs,
        events: &events,
    };
    let updated = p.update(req).await.unwrap();
    assert_no_diff(K::EksNodegroup, &newer, &updated, &[]);
    assert!(
        events.messages().iter().any(|m| m.contains(
            "UpdateNodegroupVersion workers to 1.31, AMI release 1.31.0-20250301 (rolling)"
        )),
        "{:#?}",
        events.messages()
    );

    let wrong = change(nd, "release_version", "1.29.0-20250101".into());
    let diffs = plan_diffs(K::EksNodegroup, &wrong, &updated, &[]);
    let err = update(&p, na, &wrong, ns, &diffs).await.unwrap_err();
    assert!(
        chain(&err).contains("not valid for kubernetes version 1.31"),
        "{}",
        chain(&err)
    );

    // A release the stack stops pinning plans nothing.
    let mut unpinned = vec![FieldDiff::new(
        "release_version",
        "1.31.0-20250301".into(),
        Value::Null,
    )];
    p.plan_change(na, &mut unpinned).unwrap();
    assert!(unpinned.is_empty(), "{unpinned:#?}");
}

/// `release_version = "latest"` is resolved at plan from the public SSM
/// parameter AWS publishes per version and AMI family: the plan names the
/// concrete release, the node group plans clean while it runs the newest,
/// and an AMI AWS publishes later is a rolling update to it. (1.28 here:
/// the published release stays the newest of its version for the rest of
/// the emulator's life, and no other test uses 1.28.)
#[tokio::test]
async fn latest_release_is_resolved_at_plan_and_rolls_to_a_newly_published_ami() {
    let p = provider().await;
    let s = stack(&p, 84, "1.28", Some("latest")).await;
    let (na, nd, ns) = &s.nodegroup;
    let live = read(&p, na, Some(nd), Some(ns)).await.unwrap();
    assert_eq!(live.attrs["release_version"], Value::string("latest"));
    assert_no_diff(K::EksNodegroup, nd, &live, &[]);

    publish_ami_release("1.28", "1.28.0-20250401");
    let live = read(&p, na, Some(nd), Some(ns)).await.unwrap();
    assert_eq!(
        live.attrs["release_version"],
        Value::string("1.28.0-20250301"),
        "the live release, now behind the newest"
    );
    let mut diffs = plan_diffs(K::EksNodegroup, nd, &live, &[]);
    p.plan_change(na, &mut diffs).unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert_eq!(diffs[0].path, "release_version");
    assert!(!diffs[0].force_new, "{diffs:#?}");
    assert_eq!(
        (diffs[0].before.as_str(), diffs[0].after.as_str()),
        (Some("1.28.0-20250301"), Some("1.28.0-20250401")),
        "the plan names the release `latest` resolved to"
    );

    let events = Events::default();
    let req = stackplan_core::ApplyRequest {
        addr: na,
        desired: nd,
        prior: Some(ns),
        field_diffs: &diffs,
        events: &events,
    };
    let updated = p.update(req).await.unwrap();
    assert_eq!(updated.attrs["release_version"], Value::string("latest"));
    assert!(
        events.messages().iter().any(|m| m.contains(
            "UpdateNodegroupVersion workers to 1.28, AMI release 1.28.0-20250401 (rolling)"
        )),
        "{:#?}",
        events.messages()
    );
    let live = read(&p, na, Some(nd), Some(ns)).await.unwrap();
    assert_no_diff(K::EksNodegroup, nd, &live, &[]);
}

/// `latest` is resolved for the Amazon Linux AMI types, whose releases AWS
/// publishes under `/aws/service/eks/optimized-ami`; another AMI type is a
/// plan error naming the attribute, before anything is made.
#[tokio::test]
async fn latest_release_of_an_ami_type_without_published_releases_fails_the_plan() {
    let p = provider().await;
    let na = addr(K::EksNodegroup, "rocket");
    let nd = attrs([
        ("cluster_name", Value::string(name("no-such-cluster"))),
        ("nodegroup_name", "rocket".into()),
        ("instance_types", strs(["m6i.xlarge"])),
        ("ami_type", "BOTTLEROCKET_x86_64".into()),
        ("version", "1.31".into()),
        ("release_version", "latest".into()),
    ]);
    let err = p
        .read(stackplan_core::ReadRequest {
            addr: &na,
            mode: stackplan_core::ResourceMode::Managed,
            desired: Some(&nd),
            prior: None,
            events: &Events::default(),
        })
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("release_version")
            && chain(&err).contains("BOTTLEROCKET_x86_64")
            && chain(&err).contains("pin a release"),
        "{}",
        chain(&err)
    );
}
