//! `stackplan import STACK ADDR ID`, end to end with the real binary
//! against the emulators: a bucket made by hand (the reference local
//! stack's `acme-milvus-local`) is taken into a fresh stack's state, and
//! the plan after it is what the stack asks: the bucket kept, the rest
//! created. Each refusal names its reason and writes nothing: an address
//! the stack does not have, one already in state, an id already managed
//! at another address, an id not found live, an id of another kind.

mod common;

use std::process::Output;

use common::workspace::{PASSWORD, Workspace, text};
use stackplan_testkit::Emulators;

const BUCKET: &str = "acme-milvus-local";
/// A role made by hand under another name than the stack gives its
/// roles (one under the stack's name would be found by the plan and need
/// `--adopt`).
const ROLE: &str = "hand-made-cluster-role";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Makes the bucket and the role by hand, as someone did before stackplan.
fn make_by_hand(emulators: &Emulators) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    rt().block_on(async {
        let config = emulators.aws_config().await;
        let s3 = emulators.s3_client().await;
        s3.create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::UsWest2)
                    .build(),
            )
            .send()
            .await
            .expect("CreateBucket");
        let iam = aws_sdk_iam::Client::new(&config);
        iam.create_role()
            .role_name(ROLE)
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("CreateRole");
    });
}

/// `text` without whitespace and the report's frame: what is left of a
/// message however the report wrapped it.
fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

fn assert_refused(w: &Workspace, run: &Output, message: &str, hint: &str) {
    let shown = text(run);
    assert_eq!(run.status.code(), Some(1), "{shown}");
    assert!(run.stdout.is_empty(), "{shown}");
    let err = squash(&String::from_utf8_lossy(&run.stderr));
    assert!(err.contains(&squash(message)), "{shown}");
    assert!(err.contains(&squash(hint)), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let _ = w;
}

fn state_text(w: &Workspace) -> Option<String> {
    std::fs::read_to_string(w.state()).ok()
}

/// The plan's JSON changes by address: the action of each.
fn actions(plan_json: &[u8]) -> std::collections::BTreeMap<String, String> {
    let plan: serde_json::Value = serde_json::from_slice(plan_json).expect("plan JSON");
    plan["resource_changes"]
        .as_array()
        .or_else(|| plan["changes"].as_array())
        .expect("changes in the plan JSON")
        .iter()
        .map(|c| {
            let addr = c["address"]
                .as_str()
                .or_else(|| c["addr"].as_str())
                .unwrap_or_default()
                .to_string();
            let action = c["action"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| c["action"].to_string());
            (addr, action)
        })
        .collect()
}

#[test]
fn a_bucket_made_by_hand_is_imported_and_the_plan_after_it_keeps_it() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    make_by_hand(&emulators);

    // Refusals before anything is in state: nothing is written.
    let run = w.run(&emulators, &["import", &stack, "s3_bucket.milvs", BUCKET]);
    assert_refused(
        &w,
        &run,
        "`s3_bucket.milvs` is not an address of this stack; did you mean `s3_bucket.milvus`?",
        "`stackplan graph STACK` lists them",
    );
    let run = w.run(
        &emulators,
        &["import", &stack, "s3_bucket.milvus", "no-such-bucket-4f2a"],
    );
    assert_refused(
        &w,
        &run,
        "no s3_bucket `no-such-bucket-4f2a` exists live",
        "a bucket is imported by its name",
    );
    let run = w.run(
        &emulators,
        &["import", &stack, "msk_cluster.milvus", BUCKET],
    );
    assert_refused(
        &w,
        &run,
        &format!("`{BUCKET}` is not the id of any msk_cluster: it names a live s3_bucket"),
        "an MSK cluster is imported by its ARN or its name",
    );
    assert_eq!(state_text(&w), None, "a refused import wrote state");

    // The bucket: imported, and the plan printed after it keeps it.
    let run = w.run(
        &emulators,
        &["import", "--json", &stack, "s3_bucket.milvus", BUCKET],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!("imported s3_bucket.milvus ({BUCKET})")),
        "{}",
        text(&run)
    );
    let after_import = actions(&run.stdout);
    let state = state_text(&w).expect("state written by import");
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    let entries = doc["resources"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{state}");
    assert_eq!(entries[0]["addr"], "s3_bucket.milvus");
    assert_eq!(entries[0]["physical_id"], BUCKET);
    assert!(
        doc["account"].as_str().is_some_and(|a| a.len() == 12),
        "{state}"
    );
    assert!(!state.contains(PASSWORD));

    // The plan after it, made again, is the one import printed: the
    // bucket is not created (it is updated to the stack's settings), and
    // everything else is.
    let plan = w.run(&emulators, &["plan", "--json", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let planned = actions(&plan.stdout);
    assert_eq!(planned, after_import);
    let bucket = planned
        .get("s3_bucket.milvus")
        .expect("the bucket is in the plan");
    assert!(
        !bucket.contains("create") && !bucket.contains("replace"),
        "{bucket}: {}",
        text(&plan)
    );
    for addr in [
        "eks_cluster.main",
        "msk_cluster.milvus",
        "helm_release.milvus",
    ] {
        assert!(
            planned.get(addr).is_some_and(|a| a.contains("create")),
            "{addr}: {}",
            text(&plan)
        );
    }
    let human = w.run(&emulators, &["plan", &stack]);
    let human_text = String::from_utf8_lossy(&human.stdout);
    assert!(
        human_text.contains("s3_bucket.milvus will be updated in place"),
        "{human_text}"
    );
    assert!(!text(&human).contains(PASSWORD));

    // Into an address already in state.
    let run = w.run(&emulators, &["import", &stack, "s3_bucket.milvus", BUCKET]);
    assert_refused(
        &w,
        &run,
        &format!("`s3_bucket.milvus` is already in state, as `{BUCKET}`"),
        "stackplan state show STACK s3_bucket.milvus",
    );

    // A role: imported at one address, refused at a second one.
    let run = w.run(
        &emulators,
        &["import", &stack, "iam_role.eks_cluster", ROLE],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run = w.run(&emulators, &["import", &stack, "iam_role.eks_nodes", ROLE]);
    assert_refused(
        &w,
        &run,
        &format!("`{ROLE}` is already managed at `iam_role.eks_cluster`"),
        "one live resource is managed at one address only",
    );
    let state = state_text(&w).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    let addrs: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["addr"].as_str().unwrap())
        .collect();
    assert_eq!(addrs, ["iam_role.eks_cluster", "s3_bucket.milvus"]);

    // Applied, the imported bucket is updated in place (the same bucket,
    // now the stack's), and the stack is then clean.
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let clean = w.run(&emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let state = state_text(&w).unwrap();
    assert!(!state.contains(PASSWORD));
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    let bucket = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["addr"] == "s3_bucket.milvus")
        .unwrap();
    assert_eq!(bucket["physical_id"], BUCKET);
}

/// A stack whose state file was lost is rebuilt by import, kind by kind:
/// the EKS cluster and its node group, the MSK cluster (by its name), a
/// role (by its ARN) and the Milvus release; the plan after them takes those
/// as they are, and none is created again.
#[test]
fn a_lost_state_is_rebuilt_by_importing_each_kind_by_its_id() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let state: serde_json::Value = serde_json::from_str(&state_text(&w).unwrap()).unwrap();
    let id_of = |addr: &str| -> String {
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["addr"] == addr)
            .and_then(|r| r["physical_id"].as_str())
            .unwrap_or_else(|| panic!("{addr} in state"))
            .to_string()
    };
    let msk_arn = id_of("msk_cluster.milvus");
    assert!(msk_arn.starts_with("arn:aws:kafka:"), "{msk_arn}");
    let role = id_of("iam_role.eks_cluster");
    let role_arn = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["addr"] == "iam_role.eks_cluster")
        .and_then(|r| r["outputs"]["arn"].as_str())
        .unwrap()
        .to_string();
    assert!(role_arn.ends_with(&format!(":role/{role}")), "{role_arn}");
    std::fs::remove_file(w.state()).unwrap();

    // The node group's id given for the MSK cluster: it is live, but a
    // node group.
    let run = w.run(
        &emulators,
        &[
            "import",
            &stack,
            "msk_cluster.milvus",
            "milvus-local:ng-1-milvus",
        ],
    );
    assert_refused(
        &w,
        &run,
        "`milvus-local:ng-1-milvus` is not the id of any msk_cluster: it names a live eks_nodegroup",
        "an MSK cluster is imported by its ARN or its name",
    );
    assert_eq!(state_text(&w), None, "a refused import wrote state");

    // Each by the id state holds, or by the other spelling a user has at
    // hand (the MSK cluster by its name, the role by its ARN): state
    // records the id the next read uses.
    for (addr, given, recorded) in [
        ("eks_cluster.main", "milvus-local", "milvus-local"),
        (
            "eks_nodegroup.ng-1-milvus",
            "milvus-local:ng-1-milvus",
            "milvus-local:ng-1-milvus",
        ),
        ("msk_cluster.milvus", "milvus-local", msk_arn.as_str()),
        ("iam_role.eks_cluster", role_arn.as_str(), role.as_str()),
        ("helm_release.milvus", "milvus/demo", "milvus/demo"),
    ] {
        let run = w.run(&emulators, &["import", &stack, addr, given]);
        assert_eq!(run.status.code(), Some(0), "{addr}: {}", text(&run));
        assert!(!text(&run).contains(PASSWORD), "{}", text(&run));
        let doc: serde_json::Value = serde_json::from_str(&state_text(&w).unwrap()).unwrap();
        let entry = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["addr"] == addr)
            .unwrap_or_else(|| panic!("{addr} imported"));
        assert_eq!(entry["physical_id"], recorded);
    }
    let state = state_text(&w).unwrap();
    assert!(!state.contains(PASSWORD));

    let plan = w.run(&emulators, &["plan", "--json", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let planned = actions(&plan.stdout);
    for addr in [
        "eks_cluster.main",
        "eks_nodegroup.ng-1-milvus",
        "msk_cluster.milvus",
        "helm_release.milvus",
    ] {
        let action = planned.get(addr).map(String::as_str);
        assert!(
            matches!(action, Some("no-op" | "update")),
            "{addr}: {action:?}: {}",
            text(&plan)
        );
    }
}
