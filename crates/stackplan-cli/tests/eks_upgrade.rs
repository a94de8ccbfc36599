//! The EKS upgrade chain end to end: the real binary applying
//! `stacks/milvus-local.toml` against the emulators, then raising
//! `[eks] version` one minor, applying, and again. After each apply the
//! control plane, the node group and kube-proxy are on the new minor and
//! the next plan is clean; the plan names the steps and the EKS rules.
//! Last, a jump of two minors in one apply, planned as both steps.

mod common;

use common::workspace::{Workspace, text};
use stackplan_testkit::Emulators;

/// The cluster's, the node group's and kube-proxy's versions in moto.
fn versions(emulators: &Emulators) -> (String, Vec<String>, String) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = emulators.aws_config().await;
        let eks = aws_sdk_eks::Client::new(&config);
        let cluster = eks
            .describe_cluster()
            .name("milvus-local")
            .send()
            .await
            .expect("DescribeCluster");
        let version = cluster
            .cluster()
            .and_then(|c| c.version())
            .unwrap_or_default()
            .to_string();
        let names = eks
            .list_nodegroups()
            .cluster_name("milvus-local")
            .send()
            .await
            .expect("ListNodegroups")
            .nodegroups()
            .to_vec();
        let mut nodegroups = Vec::new();
        for n in names {
            let ng = eks
                .describe_nodegroup()
                .cluster_name("milvus-local")
                .nodegroup_name(&n)
                .send()
                .await
                .expect("DescribeNodegroup");
            nodegroups.push(
                ng.nodegroup()
                    .and_then(|g| g.version())
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        let proxy = eks
            .describe_addon()
            .cluster_name("milvus-local")
            .addon_name("kube-proxy")
            .send()
            .await
            .expect("DescribeAddon kube-proxy");
        let proxy = proxy
            .addon()
            .and_then(|a| a.addon_version())
            .unwrap_or_default()
            .to_string();
        (version, nodegroups, proxy)
    })
}

/// `1.30`, `1.32` -> `1.31`, `1.32`.
fn minors_between(from: &str, to: &str) -> Vec<String> {
    let minor = |v: &str| v.split('.').nth(1).unwrap().parse::<u32>().unwrap();
    (minor(from) + 1..=minor(to))
        .map(|m| format!("1.{m}"))
        .collect()
}

fn upgrade_to(emulators: &Emulators, w: &Workspace, from: &str, to: &str) {
    let stack = w.stack().display().to_string();
    w.edit(
        &format!("version = \"{from}\""),
        &format!("version = \"{to}\""),
    );
    let plan = w.run(emulators, &["plan", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{to}: plan\n{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    // Every minor on the way, in order, each with its steps and rules.
    let mut at = 0;
    for minor in minors_between(from, to) {
        for step in [
            format!("{minor}: control plane, UpdateClusterVersion to {minor}"),
            format!("{minor}: every managed node group, UpdateNodegroupVersion to {minor}"),
            format!("{minor}: kube-proxy and every add-on whose version is not built for {minor}"),
        ] {
            let found = shown[at..].find(&step);
            assert!(
                found.is_some(),
                "{to}: the plan names `{step}` in order\n{shown}"
            );
            at += found.unwrap();
        }
    }
    assert!(
        shown.contains("EKS refuses the next UpdateClusterVersion while a node group"),
        "{shown}"
    );

    let apply = w.run(emulators, &["apply", "--yes", &stack]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{to}: apply\n{}",
        text(&apply)
    );

    let (cluster, nodegroups, proxy) = versions(emulators);
    assert_eq!(cluster, to);
    assert!(
        !nodegroups.is_empty() && nodegroups.iter().all(|v| v == to),
        "{to}: node groups {nodegroups:?}"
    );
    let minor = to.split('.').nth(1).unwrap();
    assert!(
        proxy.starts_with(&format!("v1.{minor}.")),
        "{to}: kube-proxy {proxy}"
    );

    let again = w.run(emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{to}: the next plan is not clean\n{}",
        text(&again)
    );
}

#[test]
fn consecutive_minor_upgrades_and_a_two_minor_jump_take_the_node_group_and_kube_proxy_along() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let first = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let (cluster, nodegroups, _) = versions(&emulators);
    assert_eq!(cluster, "1.30");
    assert!(nodegroups.iter().all(|v| v == "1.30"), "{nodegroups:?}");

    upgrade_to(&emulators, &w, "1.30", "1.31");
    upgrade_to(&emulators, &w, "1.31", "1.32");
    // Two minors in one apply: both steps, in order.
    upgrade_to(&emulators, &w, "1.32", "1.34");
}
