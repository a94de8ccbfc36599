//! EC2 kinds against moto: VPC and subnets (looked up and managed), the
//! MSK security group and its ingress rule.

mod common;

use common::*;
use stackplan_core::{ResourceKind as K, ResourceMode, ResourceState, Value};

#[tokio::test]
async fn managed_vpc_reads_back_as_applied_updates_dns_and_tags_in_place_and_reads_absent_once_deleted()
 {
    let p = provider().await;
    let a = addr(K::Ec2Vpc, "main");
    let desired = attrs([
        ("cidr_block", "10.0.0.0/16".into()),
        ("enable_dns_support", true.into()),
        ("enable_dns_hostnames", true.into()),
        (
            "tags",
            tags([("Name", "demo"), ("stackplan:stack", "demo")]),
        ),
    ]);
    let created = create(&p, &a, &desired).await;
    let id = created.physical_id.clone().unwrap();
    assert!(id.starts_with("vpc-"));
    assert_eq!(created.outputs["id"], Value::string(&id));
    let state = state_of(&a, &desired, &created);

    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::Ec2Vpc, &desired, &live, &[]);
    // Not in state: found by its block and the stack's tags.
    let adopted = read(&p, &a, Some(&desired), None).await.unwrap();
    assert_eq!(adopted.physical_id, created.physical_id);

    // In place: DNS hostnames and a tag.
    let changed = change(&desired, "enable_dns_hostnames", false.into());
    let changed = change(
        &changed,
        "tags",
        tags([("Name", "demo"), ("team", "search")]),
    );
    let diffs = plan_diffs(K::Ec2Vpc, &changed, &live, &[]);
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &changed, &state, &diffs).await.unwrap();
    assert_no_diff(K::Ec2Vpc, &changed, &updated, &[]);

    // A new CIDR block is a new VPC.
    let diffs = plan_diffs(
        K::Ec2Vpc,
        &change(&changed, "cidr_block", "10.1.0.0/16".into()),
        &updated,
        &[],
    );
    assert_eq!(diffs.len(), 1);
    assert!(diffs[0].force_new, "{diffs:?}");

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
    // Deleting what is already gone succeeds.
    delete(&p, &a, &state).await;
}

#[tokio::test]
async fn looked_up_vpc_and_subnet_are_read_by_id_and_an_unknown_id_reads_as_absent() {
    let p = provider().await;
    let (vpc_id, subnets) = network(&p, 20).await;
    let vpc = addr(K::Ec2Vpc, "main");
    let desired = attrs([("id", Value::string(&vpc_id))]);
    let mut lookup = ResourceState::new(vpc.clone(), ResourceMode::Lookup);
    lookup.attributes = desired.clone();
    let o = read(&p, &vpc, Some(&desired), Some(&lookup)).await.unwrap();
    assert_eq!(o.outputs["id"], Value::string(&vpc_id));
    assert_no_diff(K::Ec2Vpc, &desired, &o, &[]);

    let subnet = stackplan_core::ResourceAddr::indexed(K::Ec2Subnet, "private", 0);
    let sd = attrs([
        ("id", Value::string(&subnets[0])),
        ("vpc_id", Value::string(&vpc_id)),
    ]);
    let mut sl = ResourceState::new(subnet.clone(), ResourceMode::Lookup);
    sl.attributes = sd.clone();
    let so = read(&p, &subnet, Some(&sd), Some(&sl)).await.unwrap();
    assert_no_diff(K::Ec2Subnet, &sd, &so, &[]);
    assert_eq!(
        so.outputs["availability_zone"],
        Value::string(format!("{REGION}a"))
    );

    let missing = attrs([("id", "vpc-0123456789abcdef0".into())]);
    let mut ml = ResourceState::new(vpc.clone(), ResourceMode::Lookup);
    ml.attributes = missing.clone();
    assert!(read(&p, &vpc, Some(&missing), Some(&ml)).await.is_none());
}

#[tokio::test]
async fn managed_subnet_round_trips_and_a_new_cidr_forces_replacement() {
    let p = provider().await;
    let (vpc_id, _) = network(&p, 20).await;
    let a = stackplan_core::ResourceAddr::indexed(K::Ec2Subnet, "private", 0);
    let desired = attrs([
        ("vpc_id", Value::string(&vpc_id)),
        ("cidr_block", "10.20.8.0/24".into()),
        ("availability_zone", Value::string(format!("{REGION}c"))),
        ("tags", tags([("kubernetes.io/role/internal-elb", "1")])),
    ]);
    let created = create(&p, &a, &desired).await;
    let state = state_of(&a, &desired, &created);
    let live = read(&p, &a, Some(&desired), Some(&state)).await.unwrap();
    assert_no_diff(K::Ec2Subnet, &desired, &live, &[]);
    // Not in state: found by its VPC and block.
    let adopted = read(&p, &a, Some(&desired), None).await.unwrap();
    assert_eq!(adopted.physical_id, created.physical_id);

    let retagged = change(&desired, "tags", tags([("team", "search")]));
    let diffs = plan_diffs(K::Ec2Subnet, &retagged, &live, &[]);
    assert!(diffs.iter().all(|d| !d.force_new));
    let updated = update(&p, &a, &retagged, &state, &diffs).await.unwrap();
    assert_no_diff(K::Ec2Subnet, &retagged, &updated, &[]);

    let moved = change(&desired, "cidr_block", "10.20.9.0/24".into());
    assert!(plan_diffs(K::Ec2Subnet, &moved, &updated, &[])[0].force_new);

    delete(&p, &a, &state).await;
    assert!(read(&p, &a, Some(&desired), Some(&state)).await.is_none());
}

#[tokio::test]
async fn msk_security_group_and_its_scram_ingress_rule_round_trip_and_vanish_when_deleted_out_of_band()
 {
    let p = provider().await;
    let (vpc_id, _) = network(&p, 20).await;
    let sg_name = name("msk");
    let sg = addr(K::Ec2SecurityGroup, "msk");
    let sg_desired = attrs([
        ("name", Value::string(&sg_name)),
        (
            "description",
            "MSK brokers: SASL/SCRAM from the EKS cluster only".into(),
        ),
        ("vpc_id", Value::string(&vpc_id)),
        ("tags", tags([("Name", &sg_name)])),
    ]);
    let g = create(&p, &sg, &sg_desired).await;
    let sg_state = state_of(&sg, &sg_desired, &g);
    let group_id = g.outputs["id"].as_str().unwrap().to_string();
    assert_no_diff(
        K::Ec2SecurityGroup,
        &sg_desired,
        &read(&p, &sg, Some(&sg_desired), Some(&sg_state))
            .await
            .unwrap(),
        &[],
    );
    // Not in state: found by name in its VPC, not created twice.
    let adopted = read(&p, &sg, Some(&sg_desired), None).await.unwrap();
    assert_eq!(adopted.physical_id.as_deref(), Some(group_id.as_str()));

    // The source: another group standing in for the EKS cluster's.
    let src = addr(K::Ec2SecurityGroup, "cluster");
    let src_desired = attrs([
        ("name", Value::string(name("eks"))),
        ("vpc_id", Value::string(&vpc_id)),
    ]);
    let s = create(&p, &src, &src_desired).await;
    let src_id = s.outputs["id"].as_str().unwrap().to_string();

    let rule = addr(K::Ec2SecurityGroupRule, "msk_scram");
    let rule_desired = attrs([
        ("security_group_id", Value::string(&group_id)),
        ("type", "ingress".into()),
        ("protocol", "tcp".into()),
        ("from_port", Value::Int(9096)),
        ("to_port", Value::Int(9096)),
        ("source_security_group_id", Value::string(&src_id)),
        (
            "description",
            "Kafka SASL/SCRAM from the EKS cluster security group".into(),
        ),
    ]);
    let r = create(&p, &rule, &rule_desired).await;
    let rule_state = state_of(&rule, &rule_desired, &r);
    let live = read(&p, &rule, Some(&rule_desired), Some(&rule_state))
        .await
        .unwrap();
    assert_no_diff(K::Ec2SecurityGroupRule, &rule_desired, &live, &[]);

    // The port is part of the rule's identity: a new rule.
    let other_port = change(&rule_desired, "from_port", Value::Int(9094));
    assert!(plan_diffs(K::Ec2SecurityGroupRule, &other_port, &live, &[])[0].force_new);
    // A new description is changed in place.
    let described = change(&rule_desired, "description", "from EKS".into());
    let diffs = plan_diffs(K::Ec2SecurityGroupRule, &described, &live, &[]);
    assert!(!diffs[0].force_new);
    let updated = update(&p, &rule, &described, &rule_state, &diffs)
        .await
        .unwrap();
    assert_no_diff(K::Ec2SecurityGroupRule, &described, &updated, &[]);

    delete(&p, &rule, &rule_state).await;
    assert!(
        read(&p, &rule, Some(&rule_desired), Some(&rule_state))
            .await
            .is_none()
    );
    delete(&p, &sg, &sg_state).await;
    assert!(
        read(&p, &sg, Some(&sg_desired), Some(&sg_state))
            .await
            .is_none()
    );
}

/// EC2 refuses to delete a VPC (or subnet, or security group) while
/// something still sits in it (`DependencyViolation`), as it does for the
/// minutes EKS's and MSK's network interfaces linger after their owner is
/// gone. Delete waits it out instead of failing the destroy.
#[tokio::test]
async fn a_vpc_delete_waits_while_its_subnets_linger_then_succeeds() {
    let p = std::sync::Arc::new(provider().await);
    let (vpc, subnets) = network(&p, 71).await;
    let a = addr(K::Ec2Vpc, "main");
    let desired = attrs([("cidr_block", Value::string("10.71.0.0/16"))]);
    let state = state_of(&a, &desired, &stackplan_core::Observed::new(&vpc));
    // The subnets go a second later, as a lingering interface would.
    let lingering = {
        let config = stackplan_testkit::Emulators::shared()
            .unwrap()
            .aws_config()
            .await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            for s in subnets {
                ec2.delete_subnet().subnet_id(s).send().await.unwrap();
            }
        })
    };
    let events = Events::default();
    stackplan_core::Provider::delete(
        p.as_ref(),
        stackplan_core::DeleteRequest {
            addr: &a,
            prior: &state,
            events: &events,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}", chain(&e)));
    lingering.await.unwrap();
    assert!(
        events
            .messages()
            .iter()
            .any(|m| m.contains("DependencyViolation")),
        "{:?}",
        events.messages()
    );
    assert!(read(&p, &a, None, Some(&state)).await.is_none());
}
