//! A Kafka version bump, end to end: the real binary applying
//! `stacks/milvus-local.toml` against the emulators, then the same stack
//! with `kafka_version` raised. The MSK configuration is replaced create
//! before destroy, the cluster is upgraded in place onto the new one
//! (UpdateClusterKafkaVersion), the old configuration is deleted once
//! unused, and the next plan is clean. A version MSK does not offer is
//! refused at plan, naming the ones it does.

mod common;

use common::workspace::{Workspace, text};
use stackplan_testkit::Emulators;

/// The Kafka version of the only MSK cluster, and the names of the MSK
/// configurations not being deleted.
fn msk_world(emulators: &Emulators) -> (String, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = emulators.aws_config().await;
        let kafka = aws_sdk_kafka::Client::new(&config);
        let clusters = kafka
            .list_clusters_v2()
            .send()
            .await
            .expect("ListClustersV2");
        assert_eq!(clusters.cluster_info_list().len(), 1, "{clusters:?}");
        let arn = clusters.cluster_info_list()[0]
            .cluster_arn()
            .unwrap_or_default();
        let described = kafka
            .describe_cluster()
            .cluster_arn(arn)
            .send()
            .await
            .expect("DescribeCluster");
        let version = described
            .cluster_info()
            .and_then(|c| c.current_broker_software_info())
            .and_then(|s| s.kafka_version())
            .unwrap_or_default()
            .to_string();
        let configs = kafka
            .list_configurations()
            .send()
            .await
            .expect("ListConfigurations");
        let names = configs
            .configurations()
            .iter()
            .filter(|c| c.state().map(|s| s.as_str()) == Some("ACTIVE"))
            .filter_map(|c| c.name().map(str::to_string))
            .collect();
        (version, names)
    })
}

#[test]
fn a_kafka_version_bump_reaches_the_cluster_and_an_incompatible_one_is_refused_at_plan() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let first = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let (version, configs) = msk_world(&emulators);
    assert_eq!(version, "3.6.0");
    assert_eq!(configs.len(), 1, "{configs:?}");

    // A downgrade: refused at plan, naming what MSK offers.
    w.edit("kafka_version = \"3.6.0\"", "kafka_version = \"3.5.1\"");
    let plan = w.run(&emulators, &["plan", &stack]);
    assert_ne!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = text(&plan);
    assert!(shown.contains("GetCompatibleKafkaVersions"), "{shown}");
    assert!(shown.contains("3.7.x"), "{shown}");
    // A refusal of the change, not a failure to read the cluster.
    assert!(
        shown.contains("provider failed planning `msk_cluster.milvus`"),
        "{shown}"
    );
    assert!(!shown.contains("refresh failed"), "{shown}");

    // An upgrade: the configuration replaced create-before-destroy, the
    // cluster updated in place.
    w.edit("kafka_version = \"3.5.1\"", "kafka_version = \"3.7.x\"");
    let plan = w.run(&emulators, &["plan", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(
        shown.contains("msk_configuration.milvus must be replaced (create before destroy)"),
        "{shown}"
    );
    assert!(
        shown.contains("msk_cluster.milvus will be updated in place"),
        "{shown}"
    );
    let apply = w.run(&emulators, &["apply", "--yes", "--allow-destroy", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let (version, configs) = msk_world(&emulators);
    assert_eq!(version, "3.7.x");
    assert_eq!(
        configs.len(),
        1,
        "the old configuration is deleted: {configs:?}"
    );

    assert_clean(&emulators, &w, "3.7.x");

    // The next upgrade, while the first configuration's name may still
    // be held by its deletion: the new copy takes a fresh name again.
    w.edit("kafka_version = \"3.7.x\"", "kafka_version = \"3.8.x\"");
    let apply = w.run(&emulators, &["apply", "--yes", "--allow-destroy", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let (version, configs) = msk_world(&emulators);
    assert_eq!(version, "3.8.x");
    assert_eq!(
        configs.len(),
        1,
        "the old configuration is deleted: {configs:?}"
    );
    assert_clean(&emulators, &w, "3.8.x");
}

/// The next plan and the drift check see nothing.
fn assert_clean(emulators: &Emulators, w: &Workspace, what: &str) {
    let stack = w.stack().display().to_string();
    let plan = w.run(emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{what}: {}", text(&plan));
    let drift = w.run(emulators, &["drift", &stack]);
    assert_eq!(drift.status.code(), Some(0), "{what}: {}", text(&drift));
}
