//! Drift of the objects a chart made, end to end: the real binary applies
//! `stacks/milvus-local.toml` (the real Milvus 5.0.19 chart) against the
//! emulators, then three edits behind stackplan's back that the Helm
//! release record never sees: the query nodes scaled to 0, the Milvus
//! ConfigMap edited by hand, Attu's Service deleted. `drift` names each
//! object and field (exit 2), `apply` puts them back with a helm upgrade
//! (a new revision), and `drift` is clean after.

mod common;

use common::workspace::{self, PASSWORD, Workspace, text};
use stackplan_testkit::Emulators;

const NAMESPACE: &str = "milvus";

fn kubectl(emulators: &Emulators, args: &[&str]) -> String {
    workspace::kubectl(emulators, NAMESPACE, args)
}

#[test]
fn hand_edits_of_chart_objects_are_drift_and_apply_puts_them_back() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let clean = w.run(&emulators, &["drift", &stack]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "fresh release drifts: {}",
        text(&clean)
    );

    kubectl(
        &emulators,
        &[
            "scale",
            "deployment",
            "demo-milvus-querynode",
            "--replicas=0",
        ],
    );
    kubectl(
        &emulators,
        &[
            "patch",
            "configmap",
            "demo-milvus",
            "--type=merge",
            "-p",
            r#"{"data":{"default.yaml":"edited: by hand\n"}}"#,
        ],
    );
    kubectl(&emulators, &["delete", "service", "demo-milvus-attu"]);

    let drift = w.run(&emulators, &["drift", "--json", &stack]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let doc: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    // Each drifted object under the release's `chart_objects`, with the
    // fields that differ from the deployed manifest.
    let changes: Vec<serde_json::Value> = doc["resource_drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"] == "helm_release.milvus")
        .flat_map(|r| r["changes"].as_array().cloned().unwrap_or_default())
        .collect();
    let object = |key: &str| -> serde_json::Value {
        changes
            .iter()
            .find(|c| c["path"] == format!("chart_objects.{key}"))
            .map(|c| c["after"].clone())
            .unwrap_or_else(|| panic!("{key} not drifted: {changes:#?}"))
    };
    assert_eq!(
        object("Deployment/milvus/demo-milvus-querynode")["spec.replicas"],
        "0 (the release sets 1)"
    );
    let cm = object("ConfigMap/milvus/demo-milvus");
    assert!(
        cm["data.default.yaml"]
            .as_str()
            .unwrap()
            .starts_with("edited: by hand"),
        "{cm}"
    );
    assert_eq!(
        object("Service/milvus/demo-milvus-attu")["object"],
        "deleted"
    );
    let human = w.run(&emulators, &["drift", &stack]);
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(out.contains("0 (the release sets 1)"), "{out}");
    assert!(out.contains("deleted"), "{out}");

    // Apply repairs them: a helm upgrade, a new revision.
    let repair = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(repair.status.code(), Some(0), "{}", text(&repair));
    assert!(text(&repair).contains("helm upgrade"), "{}", text(&repair));
    assert_eq!(
        kubectl(
            &emulators,
            &[
                "get",
                "deployment",
                "demo-milvus-querynode",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        ),
        "1"
    );
    kubectl(&emulators, &["get", "service", "demo-milvus-attu"]);
    let after = w.run(&emulators, &["drift", &stack]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    for run in [&drift, &human, &repair, &after] {
        assert!(!text(run).contains(PASSWORD), "the SCRAM password shown");
    }
}
