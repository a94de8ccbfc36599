//! Plan-time checks of an existing network against moto: subnets that do
//! not exist, belong to another VPC or sit in one zone are refused before
//! anything is created, each finding naming the subnet; a public or
//! untagged one is warned about; an internet-facing Attu without public
//! subnets tagged for load balancers is refused.

mod common;

use common::*;
use stackplan_core::{
    Provider, Resource, ResourceAddr, ResourceKind as K, ResourceMode, Severity, Value,
};

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

async fn of_severity(
    p: &stackplan_aws::AwsProvider,
    resources: &[Resource],
    severity: Severity,
) -> Vec<String> {
    let refs: Vec<&Resource> = resources.iter().collect();
    p.preflight(&refs)
        .await
        .unwrap()
        .iter()
        .filter(|f| f.severity == severity)
        .map(ToString::to_string)
        .collect()
}

/// The errors: what stops the plan.
async fn findings(p: &stackplan_aws::AwsProvider, resources: &[Resource]) -> Vec<String> {
    of_severity(p, resources, Severity::Error).await
}

async fn warnings(p: &stackplan_aws::AwsProvider, resources: &[Resource]) -> Vec<String> {
    of_severity(p, resources, Severity::Warning).await
}

/// A subnet tagged as the load balancer controller looks for it.
async fn tagged_subnet(
    p: &stackplan_aws::AwsProvider,
    vpc: &str,
    cidr: &str,
    zone: &str,
    role: &str,
) -> String {
    let s = attrs([
        ("vpc_id", Value::string(vpc)),
        ("cidr_block", Value::string(cidr)),
        ("availability_zone", Value::string(zone)),
        ("tags", tags([(role, "1")])),
    ]);
    create(p, &addr(K::Ec2Subnet, "tagged"), &s)
        .await
        .physical_id
        .unwrap()
}

/// Makes `subnet` public: an internet gateway on the VPC and a route
/// table through it, associated with the subnet (the stack's own kinds).
async fn make_public(p: &stackplan_aws::AwsProvider, vpc: &str, subnet: &str) -> String {
    let igw = create(
        p,
        &addr(K::Ec2InternetGateway, "main"),
        &attrs([("vpc_id", Value::string(vpc))]),
    )
    .await
    .physical_id
    .unwrap();
    let rt = create(
        p,
        &addr(K::Ec2RouteTable, "public"),
        &attrs([
            ("vpc_id", Value::string(vpc)),
            ("routes", Value::map([("0.0.0.0/0", Value::string(&igw))])),
        ]),
    )
    .await
    .physical_id
    .unwrap();
    create(
        p,
        &addr(K::Ec2RouteTableAssociation, "public"),
        &attrs([
            ("subnet_id", Value::string(subnet)),
            ("route_table_id", Value::string(&rt)),
        ]),
    )
    .await;
    igw
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

/// EKS and MSK take public subnets too, so these are warnings: a subnet
/// routed to an internet gateway, and one the load balancer controller
/// will not find for internal load balancers.
#[tokio::test]
async fn a_public_or_untagged_private_subnet_is_warned_about_by_name() {
    let p = provider().await;
    let (vpc, _) = network(&p, 65).await;
    let good = tagged_subnet(
        &p,
        &vpc,
        "10.65.10.0/24",
        "us-west-2a",
        "kubernetes.io/role/internal-elb",
    )
    .await;
    let public = tagged_subnet(
        &p,
        &vpc,
        "10.65.11.0/24",
        "us-west-2b",
        "kubernetes.io/role/internal-elb",
    )
    .await;
    let untagged = subnet_in(&p, &vpc, "10.65.12.0/24", "us-west-2c").await;
    let igw = make_public(&p, &vpc, &public).await;
    let resources = stack(&vpc, &[&good, &public, &untagged]);
    assert_eq!(findings(&p, &resources).await, Vec::<String>::new());
    assert_eq!(
        warnings(&p, &resources).await,
        [
            format!(
                "ec2_subnet.private[1] (id): subnet {public} routes to the internet gateway {igw}: it is public, not private; nodes and MSK brokers belong in private subnets (a route to a NAT gateway, or none)"
            ),
            format!(
                "ec2_subnet.private[2] (id): subnet {untagged} is not tagged kubernetes.io/role/internal-elb; the load balancer controller finds subnets for internal load balancers by that tag: tag it `kubernetes.io/role/internal-elb = 1`"
            ),
        ]
    );
}

/// An internet-facing Attu's load balancer needs public subnets tagged
/// `kubernetes.io/role/elb` in two zones; without them the plan stops.
#[tokio::test]
async fn an_internet_facing_attu_needs_tagged_public_subnets_in_two_zones() {
    let p = provider().await;
    let (vpc, subnets) = network(&p, 66).await;
    let ids: Vec<&str> = subnets.iter().map(String::as_str).collect();
    let mut resources = stack(&vpc, &ids);
    resources[0] = resources[0].clone().attr("public_elb_subnets", true);
    let found = findings(&p, &resources).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("ec2_vpc.main (public_elb_subnets): Attu is internet-facing, but {vpc} has 0 public subnet(s) tagged kubernetes.io/role/elb")),
        "{found:#?}"
    );
    tagged_subnet(
        &p,
        &vpc,
        "10.66.20.0/24",
        "us-west-2a",
        "kubernetes.io/role/elb",
    )
    .await;
    let found = findings(&p, &resources).await;
    assert!(
        found[0].contains("has 1 public subnet(s) tagged kubernetes.io/role/elb (in us-west-2a)"),
        "{found:#?}"
    );
    tagged_subnet(
        &p,
        &vpc,
        "10.66.21.0/24",
        "us-west-2b",
        "kubernetes.io/role/elb",
    )
    .await;
    assert_eq!(findings(&p, &resources).await, Vec::<String>::new());
}
