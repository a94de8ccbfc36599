//! Plan-time checks of an existing network against moto: subnets that do
//! not exist, belong to another VPC or sit in one zone are refused before
//! anything is created, each finding naming the subnet.

mod common;

use common::*;
use stackplan_core::{Provider, Resource, ResourceAddr, ResourceKind as K, ResourceMode, Value};

/// The lookups an existing-VPC stack expands into, and an MSK cluster on
/// its first two subnets.
fn stack(vpc: &str, subnets: &[&str]) -> Vec<Resource> {
    let mut out =
        vec![Resource::new(addr(K::Ec2Vpc, "main"), ResourceMode::Lookup).attr("id", vpc)];
    let addrs: Vec<ResourceAddr> = (0..subnets.len() as u32)
        .map(|i| ResourceAddr::indexed(K::Ec2Subnet, "private", i))
        .collect();
    for (a, id) in addrs.iter().zip(subnets) {
        out.push(Resource::new(a.clone(), ResourceMode::Lookup).attr("id", *id));
    }
    out.push(Resource::managed(K::MskCluster, "milvus").attr(
        "client_subnets",
        Value::list(addrs.iter().take(2).map(|a| Value::reference(a, "id"))),
    ));
    out
}

async fn findings(p: &stackplan_aws::AwsProvider, resources: &[Resource]) -> Vec<String> {
    let refs: Vec<&Resource> = resources.iter().collect();
    p.preflight(&refs)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

async fn subnet_in(p: &stackplan_aws::AwsProvider, vpc: &str, cidr: &str, zone: &str) -> String {
    let s = attrs([
        ("vpc_id", Value::string(vpc)),
        ("cidr_block", Value::string(cidr)),
        ("availability_zone", Value::string(zone)),
    ]);
    create(p, &addr(K::Ec2Subnet, "extra"), &s)
        .await
        .physical_id
        .unwrap()
}

#[tokio::test]
async fn subnets_of_two_zones_in_the_vpc_pass() {
    let p = provider().await;
    let (vpc, subnets) = network(&p, 61).await;
    let ids: Vec<&str> = subnets.iter().map(String::as_str).collect();
    assert_eq!(findings(&p, &stack(&vpc, &ids)).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_missing_subnet_and_one_of_another_vpc_are_named() {
    let p = provider().await;
    let (vpc, subnets) = network(&p, 62).await;
    let (other_vpc, other) = network(&p, 63).await;
    let found = findings(
        &p,
        &stack(&vpc, &[&subnets[0], &other[1], "subnet-0badbad0"]),
    )
    .await;
    assert_eq!(
        found,
        [
            format!(
                "ec2_subnet.private[1] (id): subnet {} is in {other_vpc}, not in [network] vpc_id {vpc}; every private subnet must belong to `vpc_id`",
                other[1]
            ),
            "ec2_subnet.private[2] (id): subnet subnet-0badbad0 does not exist in us-west-2; check `[network] private_subnets` and the stack's region".to_string(),
        ]
    );
}

#[tokio::test]
async fn subnets_in_one_zone_are_refused_for_eks_and_msk() {
    let p = provider().await;
    let (vpc, subnets) = network(&p, 64).await;
    let same_zone = subnet_in(&p, &vpc, "10.64.9.0/24", "us-west-2a").await;
    let found = findings(&p, &stack(&vpc, &[&subnets[0], &same_zone])).await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("ec2_subnet.private[0] (id): the private subnets are all in us-west-2a: EKS needs subnets in at least two Availability Zones"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("msk_cluster.milvus (client_subnets): MSK's client subnets ec2_subnet.private[0] and ec2_subnet.private[1] are both in us-west-2a"),
        "{found:#?}"
    );
    // Three subnets over two zones: EKS is content, MSK's first two are
    // still in one zone.
    let found = findings(&p, &stack(&vpc, &[&subnets[0], &same_zone, &subnets[1]])).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("msk_cluster.milvus"), "{found:#?}");
}
