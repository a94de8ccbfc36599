//! The objects a Helm release change alters, in the plan: the real binary
//! applies `stacks/milvus-local.toml` (the real Milvus 5.0.19 chart)
//! against the emulators, then a query node memory change is planned as a
//! change to Deployment `demo-milvus-querynode`, with the field path,
//! beside the values diff that explains it.

mod common;

use common::workspace::{PASSWORD, Workspace, text};
use stackplan_testkit::Emulators;

#[test]
fn a_query_node_memory_change_plans_as_a_change_to_its_deployment_with_the_field_path() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    w.edit(
        "query_node = { replicas = 1, cpu = \"2\", memory = \"8Gi\" }",
        "query_node = { replicas = 1, cpu = \"2\", memory = \"16Gi\" }",
    );
    let plan = w.run(&emulators, &["plan", "--json", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let release = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "helm_release.milvus")
        .unwrap();
    assert_eq!(release["action"], "update", "{release:#}");
    let objects = release["manifest_changes"].as_array().unwrap_or_else(|| {
        panic!("no manifest_changes: {release:#}");
    });
    let names: Vec<String> = objects
        .iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            format!("{} {} {}", s("action"), s("kind"), s("name"))
        })
        .collect();
    assert_eq!(
        names,
        ["change Deployment demo-milvus-querynode"],
        "only the query nodes' Deployment changes: {objects:#?}"
    );
    let fields: Vec<(String, String, String)> = objects[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["before"].as_str().unwrap_or("").to_string(),
                f["after"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        fields.iter().any(
            |(p, b, a)| p.starts_with("spec.template.spec.containers[name=")
                && p.ends_with(".resources.limits.memory")
                && b == "8Gi"
                && a == "16Gi"
        ),
        "{fields:#?}"
    );
    assert_eq!(objects[0]["namespace"], "milvus");

    // The text plan names the object under the release's values diff.
    let human = w.run(&emulators, &["plan", &stack]);
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(
        out.contains("# Kubernetes objects this changes:")
            && out.contains("~ Deployment milvus/demo-milvus-querynode"),
        "{out}"
    );
    // The pull request's comment: one collapsible block per object.
    let md = w.run(&emulators, &["plan", "--format", "markdown", &stack]);
    let out = String::from_utf8_lossy(&md.stdout);
    assert!(
        out.contains(
            "<details><summary><code>~ Deployment milvus/demo-milvus-querynode</code></summary>"
        ) && out.contains(".resources.limits.memory: 8Gi -> 16Gi"),
        "{out}"
    );
    for run in [&plan, &human, &md] {
        assert!(!text(run).contains(PASSWORD), "the SCRAM password shown");
    }
}
