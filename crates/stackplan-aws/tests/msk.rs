//! MSK kinds against moto (with the harness's MSK extensions): the
//! configuration, the cluster, the SCRAM secret association.

mod common;

use common::*;
use stackplan_aws::AwsProvider;
use stackplan_core::{Observed, ResourceKind as K, SecretSource, Value};

fn properties(max_bytes: &str) -> Value {
    Value::map([
        ("auto.create.topics.enable", Value::string("true")),
        ("message.max.bytes", Value::string(max_bytes)),
        ("replica.fetch.max.bytes", Value::string("20971760")),
    ])
}

async fn configuration(p: &AwsProvider, max_bytes: &str) -> (stackplan_core::Attrs, Observed) {
    let desired = attrs([
        ("name", Value::string(name("milvus"))),
        ("kafka_versions", strs(["3.6.0"])),
        ("server_properties", properties(max_bytes)),
    ]);
    let o = create(p, &addr(K::MskConfiguration, "milvus"), &desired).await;
    (desired, o)
}

async fn msk_cluster(p: &AwsProvider, config: &Observed) -> (stackplan_core::Attrs, Observed) {
    let (vpc, subnets) = network(p, 40).await;
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
        ("number_of_broker_nodes", Value::Int(2)),
        ("instance_type", "kafka.m5.large".into()),
        (
            "client_subnets",
            Value::list(subnets.iter().map(Value::string)),
        ),
        ("security_groups", Value::list([sg.outputs["id"].clone()])),
        ("volume_size", Value::Int(100)),
        (
            "configuration",
            Value::map([
                ("arn", config.outputs["arn"].clone()),
                ("revision", config.outputs["latest_revision"].clone()),
            ]),
        ),
        (
            "client_authentication",
            Value::map([("sasl_scram", Value::Bool(true))]),
        ),
        (
            "encryption_in_transit",
            Value::map([
                ("client_broker", Value::string("TLS")),
                ("in_cluster", Value::Bool(true)),
            ]),
        ),
        ("tags", tags([("Name", "milvus")])),
    ]);
    let o = create(p, &addr(K::MskCluster, "milvus"), &desired).await;
    (desired, o)
}

#[tokio::test]
async fn configuration_change_is_a_new_revision_and_new_kafka_versions_replace_it() {
    let p = provider().await;
    let a = addr(K::MskConfiguration, "milvus");
    let (desired, created) = configuration(&p, "10485880").await;
    assert_eq!(created.outputs["latest_revision"], Value::Int(1));
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::MskConfiguration, &desired, &live, &[]);
    // Not in state: found by name.
    assert_eq!(
        read(&p, &a, Some(&desired), None)
            .await
            .unwrap()
            .physical_id,
        created.physical_id
    );

    let bigger = change(&desired, "server_properties", properties("20971520"));
    let diffs = plan_diffs(K::MskConfiguration, &bigger, &live, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(!diffs[0].force_new);
    let updated = update(&p, &a, &bigger, &state, &diffs).await.unwrap();
    assert_eq!(updated.outputs["latest_revision"], Value::Int(2));
    assert_no_diff(K::MskConfiguration, &bigger, &updated, &[]);

    let other = change(&bigger, "kafka_versions", strs(["3.7.x"]));
    assert!(plan_diffs(K::MskConfiguration, &other, &updated, &[])[0].force_new);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn cluster_waits_active_outputs_the_scram_brokers_and_scales_and_takes_a_new_revision_in_place()
 {
    let p = provider().await;
    let (config_desired, config) = configuration(&p, "10485880").await;
    let a = addr(K::MskCluster, "milvus");
    let (desired, created) = msk_cluster(&p, &config).await;
    assert_eq!(created.outputs["state"], Value::string("ACTIVE"));
    let brokers = created.outputs["bootstrap_brokers_sasl_scram"]
        .as_str()
        .unwrap();
    assert_eq!(brokers.split(',').count(), 2, "{brokers}");
    assert!(
        brokers.split(',').all(|b| b.ends_with(":9096")),
        "{brokers}"
    );
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::MskCluster, &desired, &live, &[]);

    // A new configuration revision and more brokers: both in place.
    let config_state = state_of(
        &addr(K::MskConfiguration, "milvus"),
        &config_desired,
        &config,
    );
    let revised = update(
        &p,
        &addr(K::MskConfiguration, "milvus"),
        &change(&config_desired, "server_properties", properties("20971520")),
        &config_state,
        &[],
    )
    .await
    .unwrap();
    let changed = change(&desired, "number_of_broker_nodes", Value::Int(4));
    let changed = change(
        &changed,
        "configuration",
        Value::map([
            ("arn", revised.outputs["arn"].clone()),
            ("revision", revised.outputs["latest_revision"].clone()),
        ]),
    );
    let diffs = plan_diffs(K::MskCluster, &changed, &live, &[]);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::MskCluster, &changed, &updated, &[]);
    let brokers = updated.outputs["bootstrap_brokers_sasl_scram"]
        .as_str()
        .unwrap();
    assert_eq!(brokers.split(',').count(), 4, "{brokers}");

    // Its name is its identity.
    let renamed = change(&changed, "cluster_name", "other".into());
    assert!(plan_diffs(K::MskCluster, &renamed, &updated, &[])[0].force_new);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

async fn scram_secret(p: &AwsProvider, key_arn: &Value) -> String {
    let desired = attrs([
        (
            "name",
            Value::string(format!("AmazonMSK_{}", name("milvus"))),
        ),
        ("kms_key_id", key_arn.clone()),
        ("username", "milvus".into()),
        ("password", Value::Secret(SecretSource::Generate)),
    ]);
    let o = create(p, &addr(K::SecretsmanagerSecret, "msk_scram"), &desired).await;
    o.outputs["arn"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn scram_association_round_trips_adds_a_secret_in_place_and_reads_absent_once_disassociated()
{
    let p = provider().await;
    let (_, config) = configuration(&p, "10485880").await;
    let (_, cluster) = msk_cluster(&p, &config).await;
    let key = create(
        &p,
        &addr(K::KmsKey, "msk_scram"),
        &attrs([("description", "scram".into())]),
    )
    .await;
    let first = scram_secret(&p, &key.outputs["arn"]).await;
    let second = scram_secret(&p, &key.outputs["arn"]).await;

    let a = addr(K::MskScramAssociation, "milvus");
    let desired = attrs([
        ("cluster_arn", cluster.outputs["arn"].clone()),
        ("secret_arn_list", strs([first.as_str()])),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::MskScramAssociation, &desired, &live, &[]);

    let both = change(
        &desired,
        "secret_arn_list",
        strs([second.as_str(), first.as_str()]),
    );
    let diffs = plan_diffs(K::MskScramAssociation, &both, &live, &[]);
    assert!(!diffs[0].force_new);
    let updated = update(&p, &a, &both, &state, &diffs).await.unwrap();
    assert_no_diff(K::MskScramAssociation, &both, &updated, &[]);

    let mut after = state.clone();
    after.attributes = both.clone();
    delete(&p, &a, &after).await;
    assert!(read(&p, &a, Some(&both), Some(&after)).await.is_none());
}

#[tokio::test]
async fn secret_under_the_aws_managed_key_is_refused_with_msks_reason() {
    let p = provider().await;
    let (_, config) = configuration(&p, "10485880").await;
    let (_, cluster) = msk_cluster(&p, &config).await;
    let desired = attrs([
        (
            "name",
            Value::string(format!("AmazonMSK_{}", name("nokey"))),
        ),
        ("username", "milvus".into()),
        ("password", Value::Secret(SecretSource::Generate)),
    ]);
    let secret = create(&p, &addr(K::SecretsmanagerSecret, "nokey"), &desired).await;
    let a = addr(K::MskScramAssociation, "milvus");
    let desired = attrs([
        ("cluster_arn", cluster.outputs["arn"].clone()),
        (
            "secret_arn_list",
            Value::list([secret.outputs["arn"].clone()]),
        ),
    ]);
    let err = stackplan_core::Provider::create(
        &p,
        stackplan_core::ApplyRequest {
            addr: &a,
            desired: &desired,
            prior: None,
            field_diffs: &[],
            events: &Events::default(),
        },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("msk_scram_association.milvus: BatchAssociateScramSecret refused"),
        "{text}"
    );
    assert!(text.contains("InvalidKmsKey"), "{text}");
}
