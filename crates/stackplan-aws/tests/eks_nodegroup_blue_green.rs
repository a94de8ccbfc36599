//! A node group replaced blue/green against moto: the new copy is created
//! while the old one holds the stack's name, takes `<name>-<6 hex>`, a
//! create tried again takes that copy over, the old one is deleted, and
//! the next plan is clean.

mod common;

use common::*;
use stackplan_core::{FieldDiff, Provider, ResourceKind as K, Value};

#[tokio::test]
async fn a_nodegroup_replaced_blue_green_takes_a_suffixed_name_and_plans_clean_after() {
    let p = provider().await;
    let (_, subnets) = network(&p, 31).await;
    let cluster_role = role(&p, "eks.amazonaws.com").await;
    let cluster = name("eks");
    create(
        &p,
        &addr(K::EksCluster, "main"),
        &attrs([
            ("name", Value::string(&cluster)),
            ("version", Value::string("1.30")),
            ("role_arn", Value::string(&cluster_role)),
            ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
            ("tags", tags([("Name", &cluster)])),
        ]),
    )
    .await;
    let node_role = role(&p, "ec2.amazonaws.com").await;
    let stack = name("stack");
    let a = addr(K::EksNodegroup, "workers");
    let desired = attrs([
        ("cluster_name", Value::string(&cluster)),
        ("nodegroup_name", "workers".into()),
        ("node_role_arn", Value::string(&node_role)),
        ("subnet_ids", Value::list(subnets.iter().map(Value::string))),
        ("instance_types", strs(["m6i.xlarge"])),
        ("disk_size", Value::Int(50)),
        (
            "scaling",
            Value::map([
                ("desired_size", Value::Int(2)),
                ("min_size", Value::Int(1)),
                ("max_size", Value::Int(3)),
            ]),
        ),
        (
            "tags",
            tags([("Name", "workers"), ("stackplan:stack", &stack)]),
        ),
    ]);
    let blue = create(&p, &a, &desired).await;
    let blue_id = format!("{cluster}:workers");
    assert_eq!(blue.physical_id.as_deref(), Some(blue_id.as_str()));
    let blue_state = state_of(&a, &desired, &blue);

    // A new instance type forces replacement, created first.
    let bigger = change(&desired, "instance_types", strs(["m6i.2xlarge"]));
    assert!(plan_diffs(K::EksNodegroup, &bigger, &blue, &[])[0].force_new);
    let green = create(&p, &a, &bigger).await;
    let green_name = green.attrs["nodegroup_name"].as_str().unwrap().to_string();
    assert!(green_name.starts_with("workers-"), "{green_name}");
    assert_eq!(green_name.len(), "workers-".len() + 6, "{green_name}");
    // Tried again (a lost answer): the same copy, not a third node group.
    let again = create(&p, &a, &bigger).await;
    assert_eq!(again.physical_id, green.physical_id);

    // Refresh without state finds this stack's copy... once the old one
    // (which holds the stack's name) is gone.
    delete(&p, &a, &blue_state).await;
    assert!(
        read(&p, &a, Some(&bigger), Some(&blue_state))
            .await
            .is_none()
    );
    let found = read(&p, &a, Some(&bigger), None).await.unwrap();
    assert_eq!(found.physical_id, green.physical_id);
    // ...and never another stack's.
    let other = change(
        &bigger,
        "tags",
        tags([("Name", "workers"), ("stackplan:stack", "other")]),
    );
    assert!(read(&p, &a, Some(&other), None).await.is_none());

    // The next plan: only the name differs, and plan_change drops it.
    let green_state = state_of(&a, &bigger, &green);
    let live = read(&p, &a, Some(&bigger), Some(&green_state))
        .await
        .unwrap();
    let mut diffs = plan_diffs(K::EksNodegroup, &bigger, &live, &[]);
    assert_eq!(
        diffs,
        [{
            let mut d = FieldDiff::new(
                "nodegroup_name",
                Value::string(&green_name),
                "workers".into(),
            );
            d.force_new = true;
            d
        }]
    );
    p.plan_change(&a, &mut diffs).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");

    // The next replacement takes the stack's name again, now free.
    let back = change(&bigger, "instance_types", strs(["m6i.4xlarge"]));
    let blue_again = create(&p, &a, &back).await;
    assert_eq!(blue_again.physical_id.as_deref(), Some(blue_id.as_str()));
    delete(&p, &a, &green_state).await;
    delete(&p, &a, &state_of(&a, &back, &blue_again)).await;
}
