//! Replacements and the reviewed-plan runbook, end to end: the real
//! binary applying `stacks/milvus-local.toml` against the emulators.
//!
//! - the runbook (`plan -o PLAN`, then `apply PLAN`) for a Milvus values
//!   change, a node group change, an MSK change and an add-on change;
//! - renaming the MSK cluster, renaming the bucket, changing the node
//!   group's instance type (blue/green), then all three in one apply:
//!   after each, moto holds exactly the new copies, the new MSK cluster
//!   has its SCRAM secret, the Milvus release is wired to the new brokers
//!   and bucket, and the next plan is clean.

mod common;

use common::workspace::{Workspace, text};
use stackplan_testkit::Emulators;

fn stack_arg(w: &Workspace) -> String {
    w.stack().display().to_string()
}

/// `plan -o`, then `apply PLAN` with no `--stack`, then a clean plan.
fn runbook(emulators: &Emulators, w: &Workspace, what: &str, extra: &[&str]) {
    let stack = stack_arg(w);
    let plan_file = w
        .dir
        .path()
        .join(format!("{}.plan", what.replace(' ', "-")));
    let plan_path = plan_file.display().to_string();
    let mut args = vec!["plan", "-o", &plan_path];
    args.extend_from_slice(extra);
    args.push(&stack);
    let plan = w.run(emulators, &args);
    assert_eq!(plan.status.code(), Some(0), "{what}: plan\n{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(!shown.contains("No changes"), "{what}: nothing planned");
    let apply = w.run(emulators, &["apply", &plan_path]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{what}: apply\n{}",
        text(&apply)
    );
    assert_clean(emulators, w, what);
}

fn assert_clean(emulators: &Emulators, w: &Workspace, what: &str) {
    let stack = stack_arg(w);
    let plan = w.run(emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{what}: the next plan is not clean\n{}",
        text(&plan)
    );
    // Nor does the scheduled drift check see anything (a suffixed node
    // group is not drift from the name last applied).
    let drift = w.run(emulators, &["drift", &stack]);
    assert_eq!(
        drift.status.code(),
        Some(0),
        "{what}: drift after apply\n{}",
        text(&drift)
    );
}

/// `apply --yes --allow-destroy`.
fn apply(emulators: &Emulators, w: &Workspace, what: &str) -> String {
    let stack = stack_arg(w);
    let out = w.run(emulators, &["apply", "--yes", "--allow-destroy", &stack]);
    assert_eq!(out.status.code(), Some(0), "{what}: apply\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What moto holds of the parts that are replaced.
#[derive(Debug)]
struct World {
    /// MSK cluster names, with the SCRAM secrets each has.
    msk: Vec<(String, Vec<String>)>,
    buckets: Vec<String>,
    nodegroups: Vec<String>,
    /// The brokers of the only MSK cluster, when there is one.
    brokers: Option<String>,
}

fn world(emulators: &Emulators) -> World {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = emulators.aws_config().await;
        let kafka = aws_sdk_kafka::Client::new(&config);
        let clusters = kafka
            .list_clusters_v2()
            .send()
            .await
            .expect("ListClustersV2");
        let mut msk = Vec::new();
        let mut brokers = None;
        for c in clusters.cluster_info_list() {
            let arn = c.cluster_arn().unwrap_or_default();
            let secrets = kafka
                .list_scram_secrets()
                .cluster_arn(arn)
                .send()
                .await
                .expect("ListScramSecrets");
            let names = secrets
                .secret_arn_list()
                .iter()
                .map(|s| s.rsplit(':').next().unwrap_or_default().to_string())
                .collect();
            msk.push((c.cluster_name().unwrap_or_default().to_string(), names));
            let b = kafka
                .get_bootstrap_brokers()
                .cluster_arn(arn)
                .send()
                .await
                .expect("GetBootstrapBrokers");
            brokers = b.bootstrap_broker_string_sasl_scram().map(str::to_string);
        }
        let s3 = aws_sdk_s3::Client::new(&config);
        let buckets = s3
            .list_buckets()
            .send()
            .await
            .expect("ListBuckets")
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .filter(|n| n.starts_with("acme-milvus-local"))
            .collect();
        let eks = aws_sdk_eks::Client::new(&config);
        let nodegroups = eks
            .list_nodegroups()
            .cluster_name("milvus-local")
            .send()
            .await
            .expect("ListNodegroups")
            .nodegroups()
            .to_vec();
        World {
            msk,
            buckets,
            nodegroups,
            brokers: brokers.filter(|b| !b.is_empty()),
        }
    })
}

/// The Milvus release's values as state last recorded them applied.
fn release_values(w: &Workspace) -> String {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.state()).unwrap()).unwrap();
    let release = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "helm_release" && r["attributes"]["name"] == "demo")
        .expect("the Milvus release in state");
    release["attributes"]["values"].to_string()
}

/// Checks moto holds exactly one of each, named as asked, and that
/// Milvus is wired to them.
fn assert_world(emulators: &Emulators, w: &Workspace, msk: &str, bucket: &str, what: &str) {
    let world = world(emulators);
    assert_eq!(world.msk.len(), 1, "{what}: {world:?}");
    assert_eq!(world.msk[0].0, msk, "{what}: {world:?}");
    // Secrets Manager ends an ARN with `-` and six random characters.
    let secret = format!("AmazonMSK_{msk}-");
    assert!(
        world.msk[0].1.len() == 1
            && world.msk[0].1[0].starts_with(&secret)
            && world.msk[0].1[0].len() == secret.len() + 6,
        "{what}: the MSK cluster has its SCRAM secret: {world:?}"
    );
    assert_eq!(world.buckets, [bucket.to_string()], "{what}: {world:?}");
    assert_eq!(world.nodegroups.len(), 1, "{what}: {world:?}");
    let values = release_values(w);
    let brokers = world.brokers.clone().expect("brokers");
    assert!(
        values.contains(&brokers),
        "{what}: Milvus is not given the new brokers {brokers}: {values}"
    );
    assert!(
        values.contains(&format!("\"{bucket}\"")),
        "{what}: Milvus is not given the bucket {bucket}: {values}"
    );
}

#[test]
fn the_reviewed_plan_runbook_applies_each_kind_of_change() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = stack_arg(&w);
    let first = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));

    w.edit(
        "query_node = { replicas = 1,",
        "query_node = { replicas = 2,",
    );
    runbook(&emulators, &w, "milvus values", &[]);
    w.edit("desired       = 3", "desired       = 4");
    runbook(&emulators, &w, "node group", &[]);
    w.edit(
        "\"message.max.bytes\"         = \"10485880\"",
        "\"message.max.bytes\"         = \"10485900\"",
    );
    runbook(&emulators, &w, "msk configuration", &[]);
    w.edit("aws-ebs-csi-driver = {}\n", "");
    runbook(&emulators, &w, "add-on", &[]);

    // A reviewed partial plan: only the node group, though the MSK
    // configuration changed too. It says so, applies only that, and the
    // next full plan still has the MSK change.
    w.edit("desired       = 4", "desired       = 5");
    w.edit(
        "\"message.max.bytes\"         = \"10485900\"",
        "\"message.max.bytes\"         = \"10485920\"",
    );
    let plan_path = w.dir.path().join("partial.plan").display().to_string();
    let plan = w.run(
        &emulators,
        &[
            "plan",
            "-o",
            &plan_path,
            "--target",
            "eks_nodegroup.ng-1-milvus",
            &stack,
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(
        shown.contains("Partial plan: only `eks_nodegroup.ng-1-milvus`"),
        "{shown}"
    );
    assert!(!shown.contains("msk_configuration."), "{shown}");
    let refused = w.run(
        &emulators,
        &["apply", &plan_path, "--target", "msk_cluster.milvus"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let apply = w.run(&emulators, &["apply", &plan_path]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let rest = w.run(&emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(rest.status.code(), Some(2), "{}", text(&rest));
    let rest = String::from_utf8_lossy(&rest.stdout);
    assert!(rest.contains("msk_configuration."), "{rest}");
    assert!(!rest.contains("eks_nodegroup.ng-1-milvus will"), "{rest}");
}

#[test]
fn renames_and_a_new_instance_type_leave_exactly_the_new_copies_wired_to_milvus() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    apply(&emulators, &w, "first apply");
    assert_world(
        &emulators,
        &w,
        "milvus-local",
        "acme-milvus-local",
        "first apply",
    );
    let first_ng = world(&emulators).nodegroups;

    w.edit(
        "[msk]\nname          = \"milvus-local\"",
        "[msk]\nname          = \"milvus-local-b\"",
    );
    apply(&emulators, &w, "msk rename");
    assert_world(
        &emulators,
        &w,
        "milvus-local-b",
        "acme-milvus-local",
        "msk rename",
    );
    assert_clean(&emulators, &w, "msk rename");

    w.edit(
        "bucket        = \"acme-milvus-local\"",
        "bucket        = \"acme-milvus-local-b\"",
    );
    apply(&emulators, &w, "bucket rename");
    assert_world(
        &emulators,
        &w,
        "milvus-local-b",
        "acme-milvus-local-b",
        "bucket rename",
    );
    assert_clean(&emulators, &w, "bucket rename");

    w.edit(
        "instance_type = \"m6i.2xlarge\"",
        "instance_type = \"m6i.4xlarge\"",
    );
    let out = apply(&emulators, &w, "instance type");
    assert_world(
        &emulators,
        &w,
        "milvus-local-b",
        "acme-milvus-local-b",
        "instance type",
    );
    let ng = world(&emulators).nodegroups;
    assert_ne!(ng, first_ng, "a new node group replaced the old one: {out}");
    assert!(ng[0].starts_with("ng-1-milvus-"), "{ng:?}");
    assert_clean(&emulators, &w, "instance type");

    // All three at once.
    w.edit(
        "[msk]\nname          = \"milvus-local-b\"",
        "[msk]\nname          = \"milvus-local-c\"",
    );
    w.edit(
        "bucket        = \"acme-milvus-local-b\"",
        "bucket        = \"acme-milvus-local-c\"",
    );
    w.edit(
        "instance_type = \"m6i.4xlarge\"",
        "instance_type = \"m6i.2xlarge\"",
    );
    apply(&emulators, &w, "all three");
    assert_world(
        &emulators,
        &w,
        "milvus-local-c",
        "acme-milvus-local-c",
        "all three",
    );
    assert_ne!(world(&emulators).nodegroups, ng);
    assert_clean(&emulators, &w, "all three");
}
