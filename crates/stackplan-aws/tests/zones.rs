//! Availability Zones read from AWS, never guessed: ca-central-1 has a, b
//! and d; us-east-1's use1-az3 is left out (EKS and MSK refuse it); too
//! few is an error naming the zones found. The reference stack with a
//! created VPC applies in ca-central-1 with its subnets in those zones.

mod common;

use std::sync::Arc;

use common::stacks::{controller_chart, destroy_all, local_stack_text, request};
use common::*;
use stackplan_aws::{AwsProvider, WaitConfig};
use stackplan_core::{
    NoEvents, Provider, ProviderFamily, ProviderRegistry, ReadRequest, Resource, ResourceKind as K,
    ResourceMode, StateDocument, Value,
};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_engine::{PlanSettings, Planner};

async fn provider_in(region: &str) -> AwsProvider {
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await
        .into_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build();
    AwsProvider::from_sdk_config(&config).with_wait(WaitConfig::quick())
}

fn zones(count: i64) -> Resource {
    Resource::new(addr(K::Ec2AvailabilityZones, "main"), ResourceMode::Lookup)
        .attr("count", count)
        .attr(
            "exclude_zone_ids",
            Value::list(stackplan_stack::EXCLUDED_ZONE_IDS.map(Value::string)),
        )
}

async fn read_zones(p: &AwsProvider, r: &Resource) -> Result<Vec<String>, String> {
    let o = p
        .read(ReadRequest {
            addr: &r.addr,
            mode: r.mode,
            desired: Some(&r.attrs),
            prior: None,
            events: &NoEvents,
        })
        .await
        .map_err(|e| e.to_string())?
        .expect("zones are always found");
    Ok(o.outputs
        .iter()
        .filter(|(k, _)| k.starts_with("zone_") && !k.starts_with("zone_id"))
        .map(|(_, v)| v.as_str().unwrap().to_string())
        .collect())
}

#[tokio::test]
async fn zones_come_from_the_region_and_skip_the_ones_eks_and_msk_refuse() {
    let ca = provider_in("ca-central-1").await;
    assert_eq!(
        read_zones(&ca, &zones(3)).await.unwrap(),
        ["ca-central-1a", "ca-central-1b", "ca-central-1d"]
    );
    // us-east-1e is use1-az3 in moto's (and many accounts') map.
    let east = provider_in("us-east-1").await;
    assert_eq!(
        read_zones(&east, &zones(5)).await.unwrap(),
        [
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
            "us-east-1d",
            "us-east-1f"
        ]
    );
    let err = read_zones(&ca, &zones(4)).await.unwrap_err();
    assert!(
        err.contains("[network] create asks for 4 Availability Zones, but ca-central-1 has 3 usable: ca-central-1a (cac1-az1), ca-central-1b (cac1-az2), ca-central-1d (cac1-az4)"),
        "{err}"
    );
}

/// The done-when of the real-account work: the reference stack's AWS
/// resources with a created VPC, in a region whose zones are not a/b/c,
/// plan, apply, plan quiet, and destroy to nothing.
#[tokio::test]
async fn the_reference_stack_applies_in_a_region_whose_zones_are_not_a_b_c() {
    let ca = provider_in("ca-central-1").await;
    // The PR-CI plan role the stack grants access to (EKS checks that the
    // principal of an access entry exists).
    let plan_role = role(&ca, "ec2.amazonaws.com").await;
    let text = local_stack_text("ca-central-1").replace(
        "[eks.addons]",
        &format!(
            "[[eks.access]]\nname      = \"ci-plan\"\nprincipal = \"{plan_role}\"\npolicy    = \"admin-view\"\n\n[eks.addons]"
        ),
    );
    let stack = stackplan_stack::parse("milvus-ca.toml", &text).expect("the stack parses");
    let resources: Vec<_> = stackplan_stack::expand(&stack, &controller_chart())
        .into_iter()
        .filter(|r| r.addr.kind.family() == ProviderFamily::Aws)
        .collect();
    let provider: Arc<dyn Provider> = Arc::new(provider_in("ca-central-1").await);
    let registry = ProviderRegistry::new().with(provider);
    let planner = Planner::new(&registry, PlanSettings::default());
    let sha = stackplan_engine::sha256_hex(text.as_bytes());
    let first = planner
        .plan(request(&stack.name, &sha, &resources, None))
        .await
        .expect("the first plan");
    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(&stack.name, "lineage-ca");
    apply_ok(&first, &registry, &mut state, &store).await;

    let zone_of = |i: u32| {
        state
            .get(&stackplan_core::ResourceAddr::indexed(
                K::Ec2Subnet,
                "private",
                i,
            ))
            .and_then(|r| r.attributes.get("availability_zone").cloned())
    };
    assert_eq!(
        [zone_of(0), zone_of(1), zone_of(2)],
        ["ca-central-1a", "ca-central-1b", "ca-central-1d"].map(|z| Some(Value::string(z)))
    );
    // A network a real node could use: public subnets by zone with
    // public IPs, the internet gateway on the VPC, a NAT gateway
    // available in the first public subnet, the public route table
    // through the gateway and each private one through the NAT.
    let get = |kind: K, name: &str, i: Option<u32>| {
        let a = match i {
            Some(i) => stackplan_core::ResourceAddr::indexed(kind, name, i),
            None => addr(kind, name),
        };
        state
            .get(&a)
            .unwrap_or_else(|| panic!("{a} is in state"))
            .clone()
    };
    let vpc = get(K::Ec2Vpc, "main", None).physical_id.unwrap();
    for i in 0..3 {
        let public = get(K::Ec2Subnet, "public", Some(i));
        assert_eq!(
            public.attributes["map_public_ip_on_launch"],
            Value::Bool(true)
        );
    }
    let igw = get(K::Ec2InternetGateway, "main", None);
    assert_eq!(igw.attributes["vpc_id"], Value::string(&vpc));
    let nat = get(K::Ec2NatGateway, "nat", Some(0));
    assert_eq!(nat.outputs["state"], Value::string("available"));
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(
            &stackplan_testkit::Emulators::shared()
                .unwrap()
                .aws_config()
                .await
                .into_builder()
                .region(aws_config::Region::new("ca-central-1"))
                .build(),
        )
        .build(),
    );
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let default_route = |subnet: &str| {
        tables
            .route_tables()
            .iter()
            .find(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet))
            })
            .and_then(|t| {
                t.routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|r| r.nat_gateway_id().or(r.gateway_id()).map(str::to_string))
            })
    };
    for i in 0..3 {
        let public = get(K::Ec2Subnet, "public", Some(i)).physical_id.unwrap();
        assert_eq!(default_route(&public), igw.physical_id, "public[{i}]");
        let private = get(K::Ec2Subnet, "private", Some(i)).physical_id.unwrap();
        assert_eq!(default_route(&private), nat.physical_id, "private[{i}]");
    }
    // MSK sits on three distinct-zone private subnets (moto refuses
    // anything else, as MSK does), and the cluster admits the access entry.
    let msk = get(K::MskCluster, "milvus", None);
    let Value::List(client) = &msk.attributes["client_subnets"] else {
        panic!("client subnets")
    };
    assert_eq!(client.len(), 3);
    let entry = get(K::EksAccessEntry, "ci-plan", None);
    assert!(
        entry.outputs["arn"]
            .as_str()
            .unwrap()
            .contains(":access-entry/")
    );

    let second = planner
        .plan(request(&stack.name, &sha, &resources, Some(&state)))
        .await
        .expect("the second plan");
    assert!(!second.has_changes(), "{:#?}", second.summary());

    let req = request(&stack.name, &sha, &resources, None);
    let left = destroy_all(&registry, req, &mut state, &store).await;
    assert_eq!(left, ["ec2_availability_zones.main"]);
    // Destroy leaves no VPC (nor anything EC2 would refuse to let go).
    let vpcs = ec2.describe_vpcs().vpc_ids(&vpc).send().await;
    assert!(
        vpcs.as_ref().map_or(true, |o| o.vpcs().is_empty()),
        "the VPC is gone: {vpcs:?}"
    );
}
