//! `stackplan state list STACK` and `stackplan state show STACK ADDR`, end
//! to end with the real binary after an apply against the emulators:
//! every address in state, sorted, with its id and marks (a tainted
//! resource, a deposed old copy); one resource's attributes and outputs
//! with every sensitive value shown as `(sensitive)`, and the SCRAM
//! password nowhere; an unknown address refused with the nearest one.

mod common;

use common::workspace::{PASSWORD, Workspace, text};
use stackplan_testkit::Emulators;

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

#[test]
fn state_list_and_show_after_an_apply_name_every_resource_and_no_secret() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.state()).unwrap()).unwrap();
    let in_state: Vec<(String, String)> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["addr"].as_str().unwrap().to_string(),
                r["physical_id"].as_str().unwrap_or("(no id)").to_string(),
            )
        })
        .collect();

    // Every address, sorted, one per line, with its id.
    let list = w.run(&emulators, &["state", "list", &stack]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    let lines: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), in_state.len(), "{listed}");
    let mut sorted = in_state.clone();
    sorted.sort();
    for (line, (addr, id)) in lines.iter().zip(&sorted) {
        assert_eq!(line[0], addr, "{listed}");
        assert_eq!(line[1], id, "{listed}");
    }
    assert!(listed.contains("s3_bucket.milvus"), "{listed}");
    assert!(!text(&list).contains(PASSWORD));

    let list_json = w.run(&emulators, &["state", "list", "--json", &stack]);
    assert_eq!(list_json.status.code(), Some(0), "{}", text(&list_json));
    let doc: serde_json::Value = serde_json::from_slice(&list_json.stdout).unwrap();
    let listed_json = doc["resources"].as_array().unwrap();
    assert_eq!(listed_json.len(), in_state.len());
    assert_eq!(listed_json[0]["address"], sorted[0].0.as_str());
    assert_eq!(listed_json[0]["tainted"], false);

    // One resource, its secret hidden: the Secrets Manager secret holding
    // the SCRAM password, and the Kubernetes Secret that carries it.
    for addr in ["secretsmanager_secret.msk_scram", "k8s_secret.kafka_sasl"] {
        let show = w.run(&emulators, &["state", "show", &stack, addr]);
        let shown = text(&show);
        assert_eq!(show.status.code(), Some(0), "{shown}");
        assert!(shown.contains(&format!("# {addr}")), "{shown}");
        assert!(shown.contains("(sensitive)"), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        let show_json = w.run(&emulators, &["state", "show", "--json", &stack, addr]);
        let shown = text(&show_json);
        assert_eq!(show_json.status.code(), Some(0), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        let doc: serde_json::Value = serde_json::from_slice(&show_json.stdout).unwrap();
        assert_eq!(doc["resource"]["address"], addr);
        assert!(shown.contains("\"(sensitive)\""), "{shown}");
    }
    let show = w.run(&emulators, &["state", "show", &stack, "s3_bucket.milvus"]);
    let shown = String::from_utf8_lossy(&show.stdout).to_string();
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));
    assert!(shown.contains("bucket = \"acme-milvus-local\""), "{shown}");
    assert!(shown.contains("id = acme-milvus-local"), "{shown}");

    // An address state does not have.
    let unknown = w.run(&emulators, &["state", "show", &stack, "s3_bucket.milvs"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(unknown.stdout.is_empty());
    let err = squash(&String::from_utf8_lossy(&unknown.stderr));
    assert!(
        err.contains(&squash(
            "`s3_bucket.milvs` is not in the state of stack `milvus-local`"
        )),
        "{}",
        text(&unknown)
    );
    assert!(
        err.contains(&squash("did you mean `s3_bucket.milvus`?")),
        "{}",
        text(&unknown)
    );

    // Marks: a tainted resource and a deposed old copy, as a failed create
    // and an interrupted replacement leave them.
    let mut edited = state.clone();
    let resources = edited["resources"].as_array_mut().unwrap();
    let bucket = resources
        .iter_mut()
        .find(|r| r["addr"] == "s3_bucket.milvus")
        .unwrap();
    bucket["tainted"] = serde_json::Value::Bool(true);
    let mut old = bucket.clone();
    old["physical_id"] = "acme-milvus-old-copy".into();
    old.as_object_mut().unwrap().remove("tainted");
    edited["deposed"] = serde_json::json!([old]);
    std::fs::write(w.state(), serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let list = w.run(&emulators, &["state", "list", &stack]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    let bucket_lines: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("s3_bucket.milvus"))
        .collect();
    assert_eq!(bucket_lines.len(), 2, "{listed}");
    assert_eq!(
        bucket_lines[0].split_whitespace().collect::<Vec<_>>(),
        ["s3_bucket.milvus", "acme-milvus-local", "tainted"]
    );
    assert_eq!(
        bucket_lines[1],
        "s3_bucket.milvus (deposed acme-milvus-old-copy)"
    );
    let list_json = w.run(&emulators, &["state", "list", "--json", &stack]);
    let doc: serde_json::Value = serde_json::from_slice(&list_json.stdout).unwrap();
    let marked: Vec<(bool, bool)> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"] == "s3_bucket.milvus")
        .map(|r| {
            (
                r["tainted"].as_bool().unwrap(),
                r["deposed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(marked, [(true, false), (false, true)]);
}
