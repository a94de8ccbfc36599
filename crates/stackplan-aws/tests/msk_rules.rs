//! MSK's rules for in-place cluster changes, refused at plan (found by
//! the read a plan makes with the stack's attributes, refused by
//! `plan_change`) and by moto as AWS refuses
//! them; and a Kafka version upgrade onto a new configuration.

mod common;

use common::*;
use stackplan_aws::AwsProvider;
use stackplan_core::{
    Attrs, Observed, Provider, ReadRequest, ResourceKind as K, ResourceMode, ResourceState, Value,
};
use stackplan_testkit::Emulators;

fn properties() -> Value {
    Value::map([
        ("auto.create.topics.enable", Value::string("true")),
        ("message.max.bytes", Value::string("10485880")),
    ])
}

fn config_desired(name: &str, version: &str) -> Attrs {
    attrs([
        ("name", Value::string(name)),
        ("kafka_versions", strs([version])),
        ("server_properties", properties()),
    ])
}

fn config_ref(config: &Observed) -> Value {
    Value::map([
        ("arn", config.outputs["arn"].clone()),
        ("revision", config.outputs["latest_revision"].clone()),
    ])
}

/// A configuration for Kafka 3.6.0 and a cluster of `brokers` m5.large
/// brokers with 100 GiB each, using it; with the cluster's state.
async fn cluster(
    p: &AwsProvider,
    octet: u8,
    brokers: i64,
) -> (Attrs, Observed, ResourceState, Observed) {
    let config = create(
        p,
        &addr(K::MskConfiguration, "milvus"),
        &config_desired(&name("milvus"), "3.6.0"),
    )
    .await;
    let (vpc, subnets) = network(p, octet).await;
    let sg = create(
        p,
        &addr(K::Ec2SecurityGroup, "msk"),
        &attrs([
            ("name", Value::string(name("msk"))),
            ("vpc_id", Value::string(&vpc)),
        ]),
    )
    .await;
    let desired = attrs([
        ("cluster_name", Value::string(name("milvus"))),
        ("kafka_version", "3.6.0".into()),
        ("number_of_broker_nodes", Value::Int(brokers)),
        ("instance_type", "kafka.m5.large".into()),
        (
            "client_subnets",
            Value::list(subnets.iter().map(Value::string)),
        ),
        ("security_groups", Value::list([sg.outputs["id"].clone()])),
        ("volume_size", Value::Int(100)),
        ("configuration", config_ref(&config)),
        (
            "client_authentication",
            Value::map([("sasl_scram", Value::Bool(true))]),
        ),
        ("tags", tags([("Name", "milvus")])),
    ]);
    let a = addr(K::MskCluster, "milvus");
    let o = create(p, &a, &desired).await;
    let state = state_of(&a, &desired, &o);
    (desired, o, state, config)
}

/// What a plan does with the cluster, as the planner calls it: the read
/// with the stack's attributes, then `plan_change` on the change; the
/// error message when MSK's rules refuse the change.
async fn plan_read(p: &AwsProvider, desired: &Attrs, state: &ResourceState) -> Result<(), String> {
    let a = addr(K::MskCluster, "milvus");
    p.read(ReadRequest {
        addr: &a,
        mode: ResourceMode::Managed,
        desired: Some(desired),
        prior: Some(state),
        events: &Events::default(),
    })
    .await
    .map_err(|e| chain(&e))?;
    p.plan_change(&a, &mut Vec::new()).map_err(|e| chain(&e))
}

/// The harness's control: `hours` pass for the cluster's operations.
fn age_cluster_operations(cluster_arn: &str, hours: u32) {
    use std::io::{Read, Write};
    let endpoint = Emulators::shared().unwrap().aws_endpoint().to_string();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = format!("{{\"ClusterArn\": \"{cluster_arn}\", \"Hours\": {hours}}}");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "POST /moto-api/stackplan/kafka/age-cluster-operations HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send to moto");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("moto answers");
    assert_eq!(answer.split_whitespace().nth(1), Some("200"), "{answer}");
}

#[tokio::test]
async fn a_storage_decrease_a_broker_decrease_and_a_move_to_t3_are_refused_at_plan_and_by_msk() {
    let p = provider().await;
    let a = addr(K::MskCluster, "milvus");
    let (desired, _, state, _) = cluster(&p, 51, 4).await;
    assert_eq!(plan_read(&p, &desired, &state).await, Ok(()));

    let smaller = change(&desired, "volume_size", Value::Int(50));
    let err = plan_read(&p, &smaller, &state).await.unwrap_err();
    assert!(err.contains("volume_size 100 -> 50"), "{err}");
    assert!(
        err.contains("UpdateBrokerStorage can only increase"),
        "{err}"
    );
    let err = update(&p, &a, &smaller, &state, &[]).await.unwrap_err();
    assert!(
        chain(&err).contains("BadRequestException"),
        "{}",
        chain(&err)
    );

    let fewer = change(&desired, "number_of_broker_nodes", Value::Int(2));
    let err = plan_read(&p, &fewer, &state).await.unwrap_err();
    assert!(err.contains("number_of_broker_nodes 4 -> 2"), "{err}");
    assert!(err.contains("broker removal"), "{err}");
    let err = update(&p, &a, &fewer, &state, &[]).await.unwrap_err();
    let err = chain(&err);
    assert!(
        err.contains("UpdateBrokerCount: BadRequestException") && err.contains("partitions"),
        "{err}"
    );

    let t3 = change(&desired, "instance_type", "kafka.t3.small".into());
    let err = plan_read(&p, &t3, &state).await.unwrap_err();
    assert!(
        err.contains("instance_type kafka.m5.large -> kafka.t3.small"),
        "{err}"
    );
    assert!(err.contains("UpdateBrokerType"), "{err}");
    let err = update(&p, &a, &t3, &state, &[]).await.unwrap_err();
    assert!(
        chain(&err).contains("UpdateBrokerType: BadRequestException"),
        "{}",
        chain(&err)
    );

    // All at once: one refusal naming each rule.
    let all = change(
        &change(&smaller, "number_of_broker_nodes", Value::Int(2)),
        "instance_type",
        "kafka.t3.small".into(),
    );
    let err = plan_read(&p, &all, &state).await.unwrap_err();
    assert_eq!(err.matches(" -> ").count(), 3, "{err}");

    // A documented path plans and applies: M5 to M7g.
    let m7g = change(&desired, "instance_type", "kafka.m7g.large".into());
    assert_eq!(plan_read(&p, &m7g, &state).await, Ok(()));
    let moved = update(&p, &a, &m7g, &state, &[]).await.unwrap();
    assert_eq!(
        moved.attrs["instance_type"],
        Value::string("kafka.m7g.large")
    );
    delete(&p, &a, &state).await;
}

#[tokio::test]
async fn a_second_storage_update_inside_six_hours_is_refused_naming_when_the_last_ended() {
    let p = provider().await;
    let a = addr(K::MskCluster, "milvus");
    let (desired, created, state, _) = cluster(&p, 52, 2).await;
    let arn = created.outputs["arn"].as_str().unwrap().to_string();

    // No storage update yet: no cool-down.
    let bigger = change(&desired, "volume_size", Value::Int(200));
    assert_eq!(plan_read(&p, &bigger, &state).await, Ok(()));
    let grown = update(&p, &a, &bigger, &state, &[]).await.unwrap();
    assert_eq!(grown.attrs["volume_size"], Value::Int(200));
    let state = state_of(&a, &bigger, &grown);

    let again = change(&bigger, "volume_size", Value::Int(300));
    let err = plan_read(&p, &again, &state).await.unwrap_err();
    assert!(err.contains("volume_size 200 -> 300"), "{err}");
    assert!(err.contains("6 hours between storage updates"), "{err}");
    assert!(
        err.contains("the last UpdateBrokerStorage ended at 20"),
        "{err}"
    );
    assert!(err.contains("ListClusterOperations"), "{err}");
    // MSK refuses it too.
    let refused = update(&p, &a, &again, &state, &[]).await.unwrap_err();
    assert!(
        chain(&refused).contains("UpdateBrokerStorage: BadRequestException"),
        "{}",
        chain(&refused)
    );

    // Seven hours later it goes through.
    age_cluster_operations(&arn, 7);
    assert_eq!(plan_read(&p, &again, &state).await, Ok(()));
    let grown = update(&p, &a, &again, &state, &[]).await.unwrap();
    assert_eq!(grown.attrs["volume_size"], Value::Int(300));
    delete(&p, &a, &state).await;
}

#[tokio::test]
async fn a_kafka_version_msk_does_not_offer_is_refused_naming_the_compatible_targets() {
    let p = provider().await;
    let a = addr(K::MskCluster, "milvus");
    let (desired, _, state, _) = cluster(&p, 53, 2).await;
    let down = change(&desired, "kafka_version", "3.5.1".into());
    let err = plan_read(&p, &down, &state).await.unwrap_err();
    assert!(err.contains("kafka_version 3.6.0 -> 3.5.1"), "{err}");
    assert!(err.contains("GetCompatibleKafkaVersions"), "{err}");
    assert!(err.contains("3.7.x, 3.8.x, 3.9.x"), "{err}");
    let up = change(&desired, "kafka_version", "3.7.x".into());
    assert_eq!(plan_read(&p, &up, &state).await, Ok(()));
    delete(&p, &a, &state).await;
}

#[tokio::test]
async fn a_kafka_upgrade_moves_the_cluster_to_a_new_configuration_and_the_old_one_goes_once_unused()
{
    let p = provider().await;
    let ca = addr(K::MskConfiguration, "milvus");
    let a = addr(K::MskCluster, "milvus");
    let (desired, _, state, old_config) = cluster(&p, 54, 2).await;
    let config_name = old_config.attrs["name"].as_str().unwrap().to_string();
    let old_state = state_of(&ca, &config_desired(&config_name, "3.6.0"), &old_config);

    // The old configuration cannot go while the cluster uses it.
    let in_use = p
        .delete(stackplan_core::DeleteRequest {
            addr: &ca,
            prior: &old_state,
            events: &Events::default(),
        })
        .await
        .unwrap_err();
    assert!(chain(&in_use).contains("in use"), "{}", chain(&in_use));

    // The new copy, made while the old one holds the name, takes a fresh
    // one and reads back under the stack's name.
    let new_desired = config_desired(&config_name, "3.7.x");
    let new_config = create(&p, &ca, &new_desired).await;
    assert_ne!(new_config.physical_id, old_config.physical_id);
    assert_no_diff(K::MskConfiguration, &new_desired, &new_config, &[]);
    let new_state = state_of(&ca, &new_desired, &new_config);
    let reread = read(&p, &ca, Some(&new_desired), Some(&new_state))
        .await
        .unwrap();
    assert_no_diff(K::MskConfiguration, &new_desired, &reread, &[]);
    // It is created again by the same name (a retried create takes over
    // what the first made).
    let again = create(&p, &ca, &new_desired).await;
    assert_eq!(again.physical_id, new_config.physical_id);

    // The cluster's upgrade: UpdateClusterKafkaVersion with the new one.
    let upgraded = change(
        &change(&desired, "kafka_version", "3.7.x".into()),
        "configuration",
        config_ref(&new_config),
    );
    assert_eq!(plan_read(&p, &upgraded, &state).await, Ok(()));
    let diffs = plan_diffs(
        K::MskCluster,
        &upgraded,
        &read(&p, &a, Some(&desired), Some(&state)).await.unwrap(),
        &[],
    );
    assert!(diffs.iter().all(|d| !d.force_new), "{diffs:#?}");
    let after = update(&p, &a, &upgraded, &state, &diffs).await.unwrap();
    assert_eq!(after.attrs["kafka_version"], Value::string("3.7.x"));
    assert_no_diff(K::MskCluster, &upgraded, &after, &[]);

    // Unused now: deleted, asynchronously (DELETING, then gone).
    delete(&p, &ca, &old_state).await;
    assert!(read(&p, &ca, None, Some(&old_state)).await.is_none());
    // State lost: the one in use is found under its suffixed name.
    let found = read(&p, &ca, Some(&new_desired), None).await.unwrap();
    assert_eq!(found.physical_id, new_config.physical_id);
    assert_no_diff(K::MskConfiguration, &new_desired, &found, &[]);
    delete(&p, &a, &state).await;
}
