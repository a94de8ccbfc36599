//! Fit and cost in the plan, end to end: the real binary planning
//! `stacks/milvus-local.toml` against the emulators, with the real Milvus
//! 5.0.19 chart rendered for it. The plan carries a monthly estimate with
//! its price date; a node group cut below what the Milvus pods need is a
//! warning naming the pods that will not schedule, before any apply.

mod common;

use common::workspace::{Workspace, text};
use stackplan_testkit::Emulators;

#[test]
fn the_plan_prices_the_stack_and_warns_when_the_pods_outgrow_the_node_group() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();

    let plan = w.run(&emulators, &["plan", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(
        out.contains("Estimated cost: $")
            && out.contains("at on-demand prices of 2025-01")
            && out.contains("(--full itemises it)"),
        "{out}"
    );
    let full = w.run(&emulators, &["plan", "--full", &stack]);
    let out = String::from_utf8_lossy(&full.stdout);
    assert!(
        out.contains("3 x m6i.2xlarge x 730 h x $0.384"),
        "the node group priced by its type and count: {out}"
    );
    assert!(
        !String::from_utf8_lossy(&plan.stderr).contains("fit:"),
        "{}",
        text(&plan)
    );

    let json = w.run(&emulators, &["plan", "--json", &stack]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let cost = &doc["cost"];
    assert_eq!(cost["prices_as_of"], "2025-01", "{doc:#}");
    assert!(cost["monthly_usd_known_total"].as_f64().unwrap() > 0.0);
    let lines = cost["lines"].as_array().unwrap();
    let bucket = lines
        .iter()
        .find(|l| l["resource"] == "s3_bucket.milvus")
        .unwrap();
    assert_eq!(
        bucket["monthly_usd"],
        serde_json::Value::Null,
        "no size stated: unknown, not 0"
    );

    // Before the first apply everything is new; once applied, a plan
    // prices what state records beside it, and a fourth node is the
    // change's delta: 730 h x $0.384 and 80 GiB of gp3 at $0.08.
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("/month (all new)"),
        "{}",
        text(&plan)
    );
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let same = w.run(&emulators, &["plan", &stack]);
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("/month (no change)"),
        "{}",
        text(&same)
    );
    w.edit("desired       = 3", "desired       = 4");
    let bigger = w.run(&emulators, &["plan", "--json", &stack]);
    assert_eq!(bigger.status.code(), Some(0), "{}", text(&bigger));
    let doc: serde_json::Value = serde_json::from_slice(&bigger.stdout).unwrap();
    let cost = &doc["cost"];
    let delta = cost["monthly_usd_known_total"].as_f64().unwrap()
        - cost["monthly_usd_known_total_before"].as_f64().unwrap();
    assert!((delta - 286.72).abs() < 0.005, "{cost:#}");
    let nodes = cost["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["resource"] == "eks_nodegroup.ng-1-milvus")
        .unwrap();
    assert!((nodes["before_monthly_usd"].as_f64().unwrap() - 840.96).abs() < 0.005);
    let human = w.run(&emulators, &["plan", &stack]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("(+$286.72 from $"),
        "{}",
        text(&human)
    );
    w.edit("desired       = 4", "desired       = 3");

    // One node: the largest Milvus pods take it, the rest stay Pending.
    w.edit("desired       = 3", "desired       = 1");
    let small = w.run(&emulators, &["plan", &stack]);
    assert_eq!(small.status.code(), Some(0), "{}", text(&small));
    let err = String::from_utf8_lossy(&small.stderr);
    assert!(
        err.contains(
            "fit: the pods do not fit the node groups (1 x m6i.2xlarge): packed largest first, 4 pods stay Pending: "
        ) && err.contains("Deployment milvus/demo-milvus-mixcoord (2 pods")
            && err.contains("Deployment milvus/demo-milvus-proxy (2 pods"),
        "{}",
        text(&small)
    );
    // In CI the plan is a pull request's comment and stderr only the job's
    // log: the warning goes into the Markdown and the JSON as well.
    let md = w.run(&emulators, &["plan", "--format", "markdown", &stack]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md));
    let comment = String::from_utf8_lossy(&md.stdout);
    assert!(
        comment.contains("> [!WARNING]\n")
            && comment.contains("\n> - fit: the pods do not fit the node groups (1 x m6i.2xlarge)"),
        "{}",
        text(&md)
    );
    let json = w.run(&emulators, &["plan", "--json", &stack]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        doc["warnings"]
            .as_array()
            .is_some_and(|ws| ws.iter().any(|w| w
                .as_str()
                .is_some_and(|w| w.starts_with("fit: the pods do not fit")))),
        "{doc:#}"
    );
}
