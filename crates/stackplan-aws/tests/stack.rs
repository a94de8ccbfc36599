//! The reference stack's AWS resources, expanded by `stackplan-stack` and
//! planned and applied by `stackplan-engine` with this provider, against
//! moto: a plan on an empty account creates every AWS resource, apply
//! makes them, the plan after it is quiet for every kind, and changes made
//! behind stackplan's back show as drift and converge on re-apply; a
//! destroy deletes every one in dependency order.

mod common;

use std::sync::Arc;

use common::stacks::{controller_chart, destroy_all, local_stack_text, request};
use common::*;
use stackplan_core::ResourceKind as K;
use stackplan_core::{Action, Provider, ProviderFamily, ProviderRegistry, StateDocument};
use stackplan_engine::testing::{MemoryStateStore, apply_ok};
use stackplan_engine::{PlanSettings, Planner};

#[tokio::test]
async fn reference_stack_aws_resources_create_plan_quiet_converge_after_out_of_band_changes_and_destroy()
 {
    let text = local_stack_text(REGION);
    let stack = stackplan_stack::parse("milvus-local.toml", &text).expect("the stack parses");
    let resources: Vec<_> = stackplan_stack::expand(&stack, &controller_chart())
        .into_iter()
        .filter(|r| r.addr.kind.family() == ProviderFamily::Aws)
        .collect();
    assert!(resources.len() > 20, "{} AWS resources", resources.len());

    let provider: Arc<dyn Provider> = Arc::new(provider().await);
    let registry = ProviderRegistry::new().with(provider);
    let planner = Planner::new(&registry, PlanSettings::default());
    let sha = stackplan_engine::sha256_hex(text.as_bytes());

    let first = planner
        .plan(request(&stack.name, &sha, &resources, None))
        .await
        .expect("the first plan");
    // Everything is created, but the zones, which are read from AWS.
    let zones = addr(K::Ec2AvailabilityZones, "main");
    let not_create: Vec<String> = first
        .changes
        .iter()
        .filter(|c| c.action != Action::Create && !(c.addr == zones && c.action == Action::Read))
        .map(|c| format!("{} {}", c.addr, c.action.name()))
        .collect();
    assert!(not_create.is_empty(), "on an empty account: {not_create:?}");

    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(&stack.name, "lineage-test");
    apply_ok(&first, &registry, &mut state, &store).await;

    let second = planner
        .plan(request(&stack.name, &sha, &resources, Some(&state)))
        .await
        .expect("the second plan");
    // Quiet: no change and no drift (the zones lookup is read again, as
    // every lookup is, and changes nothing).
    let noisy: Vec<String> = second
        .changes
        .iter()
        .filter(|c| (c.action != Action::NoOp && c.addr != zones) || c.has_drift())
        .map(|c| {
            format!(
                "{} {}: {:#?} drift {:#?}",
                c.addr,
                c.action.name(),
                c.field_diffs,
                c.drift
            )
        })
        .collect();
    assert!(noisy.is_empty(), "after a clean apply: {noisy:#?}");

    // Behind stackplan's back: the bucket deleted, the node group scaled.
    let config = stackplan_testkit::Emulators::shared()
        .unwrap()
        .aws_config()
        .await;
    let bucket = state
        .get(&addr(K::S3Bucket, "milvus"))
        .and_then(|r| r.physical_id.clone())
        .unwrap();
    let s3 = stackplan_testkit::Emulators::shared()
        .unwrap()
        .s3_client()
        .await;
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let ng = addr(K::EksNodegroup, "ng-1-milvus");
    let (cluster, nodegroup) = state
        .get(&ng)
        .and_then(|r| r.physical_id.clone())
        .and_then(|id| {
            id.split_once(':')
                .map(|(c, n)| (c.to_string(), n.to_string()))
        })
        .unwrap();
    aws_sdk_eks::Client::new(&config)
        .update_nodegroup_config()
        .cluster_name(&cluster)
        .nodegroup_name(&nodegroup)
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .desired_size(5)
                .min_size(3)
                .max_size(5)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let third = planner
        .plan(request(&stack.name, &sha, &resources, Some(&state)))
        .await
        .expect("the third plan");
    let by_addr =
        |a: &stackplan_core::ResourceAddr| third.changes.iter().find(|c| &c.addr == a).unwrap();
    let b = by_addr(&addr(K::S3Bucket, "milvus"));
    assert_eq!(b.action, Action::Create);
    assert!(b.drift.as_ref().is_some_and(|d| d.deleted), "{b:#?}");
    let n = by_addr(&ng);
    assert_eq!(n.action, Action::Update, "{n:#?}");
    let drift = n.drift.as_ref().expect("the scaling is drift");
    assert!(
        drift
            .fields
            .iter()
            .any(|f| f.path == "scaling.desired_size"),
        "{drift:#?}"
    );
    let others: Vec<_> = third
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp && c.addr != b.addr && c.addr != n.addr)
        // Dependents of the re-created bucket see its outputs as known
        // after apply (the S3 policy's document holds the bucket ARN).
        .filter(|c| !c.field_diffs.iter().all(|d| !d.after.is_known()))
        .map(|c| format!("{} {}", c.addr, c.action.name()))
        .collect();
    assert!(others.is_empty(), "{others:?}");

    // Re-applying converges.
    apply_ok(&third, &registry, &mut state, &store).await;
    let fourth = planner
        .plan(request(&stack.name, &sha, &resources, Some(&state)))
        .await
        .expect("the fourth plan");
    assert!(!fourth.has_changes(), "{:#?}", fourth.summary());

    // Destroy: the stack without resources deletes every managed one,
    // dependents first (the cluster before its subnets, the MSK cluster
    // before its security group and configuration); the zones lookup was
    // only read.
    let req = request(&stack.name, &sha, &resources, None);
    let left = destroy_all(&registry, req, &mut state, &store).await;
    assert_eq!(left, [zones.to_string()]);
}

#[tokio::test]
async fn reference_stack_in_an_existing_vpc_reads_the_network_and_plans_quiet_after_apply() {
    let p = provider().await;
    let (vpc_id, mut subnets) = network(&p, 50).await;
    let third = create(
        &p,
        &addr(K::Ec2Subnet, "net"),
        &attrs([
            ("vpc_id", stackplan_core::Value::string(&vpc_id)),
            ("cidr_block", "10.50.2.0/24".into()),
            (
                "availability_zone",
                stackplan_core::Value::string(format!("{REGION}c")),
            ),
        ]),
    )
    .await;
    subnets.push(third.physical_id.unwrap());
    // The stack's Attu is internet-facing: its load balancer needs public
    // subnets tagged for the controller in two zones, which the plan checks.
    for (i, zone) in ["a", "b"].iter().enumerate() {
        create(
            &p,
            &addr(K::Ec2Subnet, "public"),
            &attrs([
                ("vpc_id", stackplan_core::Value::string(&vpc_id)),
                (
                    "cidr_block",
                    stackplan_core::Value::string(format!("10.50.{}.0/24", 10 + i)),
                ),
                (
                    "availability_zone",
                    stackplan_core::Value::string(format!("{REGION}{zone}")),
                ),
                ("tags", tags([("kubernetes.io/role/elb", "1")])),
            ]),
        )
        .await;
    }
    let list = subnets
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = local_stack_text(REGION).replace(
        "create = { cidr = \"10.0.0.0/16\", azs = 3 }",
        &format!("vpc_id = \"{vpc_id}\"\nprivate_subnets = [{list}]"),
    );
    let stack = stackplan_stack::parse("milvus-existing.toml", &text).expect("the stack parses");
    let resources: Vec<_> = stackplan_stack::expand(&stack, &controller_chart())
        .into_iter()
        .filter(|r| r.addr.kind.family() == ProviderFamily::Aws)
        .collect();
    let provider: Arc<dyn Provider> = Arc::new(p);
    let registry = ProviderRegistry::new().with(provider);
    let planner = Planner::new(&registry, PlanSettings::default());
    let sha = stackplan_engine::sha256_hex(text.as_bytes());

    let first = planner
        .plan(request(&stack.name, &sha, &resources, None))
        .await
        .expect("the first plan");
    for c in &first.changes {
        let expected = if matches!(c.addr.kind, K::Ec2Vpc | K::Ec2Subnet) {
            Action::Read
        } else {
            Action::Create
        };
        assert_eq!(c.action, expected, "{}", c.addr);
    }
    let store = MemoryStateStore::new();
    let mut state = StateDocument::new(&stack.name, "lineage-existing");
    apply_ok(&first, &registry, &mut state, &store).await;
    let second = planner
        .plan(request(&stack.name, &sha, &resources, Some(&state)))
        .await
        .expect("the second plan");
    assert!(!second.has_changes(), "{:#?}", second.summary());
    assert!(second.changes.iter().all(|c| !c.has_drift()));
}
