//! A created VPC's way out against moto (with the harness's EC2 network
//! rules, as strict as EC2: a NAT gateway needs the internet gateway, an
//! Elastic IP is not released while its NAT gateway holds it, a gateway is
//! not detached while addresses are mapped): NAT per zone with the VPC
//! endpoints applies, plans quiet, finds what state lost by its tags, and
//! destroys to nothing.

mod common;

use std::sync::Arc;

use common::stacks::{controller_chart, destroy_all, local_stack_text, request};
use stackplan_aws::{AwsProvider, WaitConfig};
use stackplan_core::{Provider, ProviderRegistry, Resource, ResourceKind as K, StateDocument};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_engine::{PlanSettings, Planner};

/// The network resources of the local stack with `create`: what needs no
/// cluster (the endpoints' rule names the cluster's security group).
fn network_of(text: &str) -> (String, Vec<Resource>) {
    let stack = stackplan_stack::parse("net.toml", text).expect("the stack parses");
    let resources = stackplan_stack::expand(&stack, &controller_chart())
        .into_iter()
        .filter(|r| r.addr.kind.as_str().starts_with("ec2_"))
        .filter(|r| r.addr.kind != K::Ec2SecurityGroupRule)
        .filter(|r| r.addr.to_string() != "ec2_security_group.msk")
        .collect();
    (stack.name, resources)
}

#[tokio::test]
async fn nat_per_zone_with_endpoints_applies_plans_quiet_adopts_and_destroys() {
    let text = local_stack_text("us-west-2").replace(
        "create = { cidr = \"10.0.0.0/16\", azs = 3 }",
        "create = { cidr = \"10.0.0.0/16\", azs = 3, nat = \"per-az\", endpoints = true }",
    );
    let (name, resources) = network_of(&text);
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let provider: Arc<dyn Provider> =
        Arc::new(AwsProvider::from_sdk_config(&config).with_wait(WaitConfig::quick()));
    let registry = ProviderRegistry::new().with(provider);
    let planner = Planner::new(&registry, PlanSettings::default());
    let sha = stackplan_engine::sha256_hex(text.as_bytes());
    let first = planner
        .plan(request(&name, &sha, &resources, None))
        .await
        .expect("the first plan");
    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(&name, "lineage-net");
    apply_ok(&first, &registry, &mut state, &store).await;

    let count = |kind: K| {
        state
            .resources
            .iter()
            .filter(|r| r.addr.kind == kind)
            .count()
    };
    assert_eq!(count(K::Ec2NatGateway), 3);
    assert_eq!(count(K::Ec2Eip), 3);
    assert_eq!(count(K::Ec2RouteTable), 4);
    assert_eq!(count(K::Ec2RouteTableAssociation), 6);
    assert_eq!(count(K::Ec2VpcEndpoint), 6);

    let second = planner
        .plan(request(&name, &sha, &resources, Some(&state)))
        .await
        .expect("the second plan");
    assert!(!second.has_changes(), "{:#?}", second.summary());

    // An apply killed after creating the gateway, the NAT gateways and the
    // associations but before saving them: the plan finds them by the
    // stack's tags (and the subnet), rather than creating them again.
    let mut lost = state.clone();
    lost.resources.retain(|r| {
        !matches!(
            r.addr.kind,
            K::Ec2InternetGateway | K::Ec2NatGateway | K::Ec2RouteTableAssociation | K::Ec2Eip
        )
    });
    let replan = planner
        .plan(request(&name, &sha, &resources, Some(&lost)))
        .await
        .expect("the plan without them in state");
    assert!(
        !replan.has_changes(),
        "found, not created again: {:#?}",
        replan.summary()
    );

    let req = request(&name, &sha, &resources, None);
    let left = destroy_all(&registry, req, &mut state, &store).await;
    assert_eq!(left, ["ec2_availability_zones.main"]);
}
