//! Trust, end to end: the real binary applying `stacks/milvus-local.toml`
//! against the emulators, then what an attacker or a careless user would
//! try next. State holds nothing that checks the password offline; a
//! saved plan edited after review is refused; a renamed copy of the stack
//! cannot take over the first one's resources; an applied stack is not
//! planned in another region; a rotated `env:` password is planned,
//! applied, and reaches Secrets Manager and the Milvus release.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::workspace::{PASSWORD, Workspace, text};
use stackplan_testkit::Emulators;

fn stack_arg(w: &Workspace) -> String {
    w.stack().display().to_string()
}

#[test]
fn an_applied_stack_resists_tampering_takeover_and_misplacement_and_rotates_its_password() {
    let emulators = Emulators::start().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = stack_arg(&w);

    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    // State: format 3, owner-only, pinned to moto's account and the
    // region, and nothing derived from the password.
    let state_text = std::fs::read_to_string(w.state()).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    assert_eq!(state["format_version"], 3);
    assert_eq!(state["region"], "us-west-2");
    assert!(
        state["account"].as_str().is_some_and(|a| a.len() == 12),
        "{state_text}"
    );
    assert!(!state_text.contains(PASSWORD));
    assert!(
        !state_text.contains("sha256:") && !state_text.contains("hmac-sha256:"),
        "a digest of a sensitive value reached state"
    );
    let mode = std::fs::metadata(w.state()).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "state is readable by others: {mode:o}");

    // A saved plan edited after review is refused; the one reviewed
    // applies, finding its stack file by itself.
    w.edit("desired       = 3", "desired       = 4");
    let plan_file = w.dir.path().join("reviewed.plan");
    let plan_path = plan_file.display().to_string();
    let plan = w.run(&emulators, &["plan", "-o", &plan_path, &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let reviewed = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!reviewed.contains(PASSWORD));
    let mut edited: serde_json::Value = serde_json::from_str(&reviewed).unwrap();
    let mut touched = false;
    for c in edited["changes"].as_array_mut().unwrap() {
        let diffs = c.get_mut("field_diffs").and_then(|d| d.as_array_mut());
        for d in diffs.into_iter().flatten() {
            if d["after"] == serde_json::json!(4) {
                d["after"] = serde_json::json!(9);
                touched = true;
            }
        }
    }
    assert!(touched, "no node-group size in the plan:\n{reviewed}");
    let tampered = w.dir.path().join("tampered.plan");
    std::fs::write(&tampered, serde_json::to_vec(&edited).unwrap()).unwrap();
    let refused = w.run(&emulators, &["apply", tampered.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("edited after it was made"), "{err}");
    assert!(err.contains("eks_nodegroup."), "{err}");
    let applied = w.run(&emulators, &["apply", &plan_path]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));

    // A rotated password behind the same `env:` source.
    let rotated = "rotated-scram-password-41d9";
    let plan = w
        .command(&emulators, &["plan", "--detailed-exitcode", &stack])
        .env("MSK_SCRAM_PASSWORD", rotated)
        .output()
        .unwrap();
    let out = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{out}");
    assert!(out.contains("secretsmanager_secret.msk_scram"), "{out}");
    assert!(out.contains("env:MSK_SCRAM_PASSWORD"), "{out}");
    assert!(out.contains("helm_release.milvus"), "{out}");
    assert!(!out.contains(rotated) && !out.contains(PASSWORD), "{out}");
    let apply = w
        .command(&emulators, &["apply", "--yes", &stack])
        .env("MSK_SCRAM_PASSWORD", rotated)
        .output()
        .unwrap();
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let clean = w
        .command(&emulators, &["plan", "--detailed-exitcode", &stack])
        .env("MSK_SCRAM_PASSWORD", rotated)
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let old_again = w.run(&emulators, &["plan", "--detailed-exitcode", &stack]);
    assert_eq!(old_again.status.code(), Some(2), "{}", text(&old_again));

    // A renamed copy of the stack, with its own state: every AWS resource
    // it would find is tagged as the first stack's, and it touches none.
    let copy = Workspace::new(&emulators);
    copy.edit("name   = \"milvus-local\"", "name   = \"milvus-copy\"");
    let copy_stack = stack_arg(&copy);
    for args in [
        vec!["plan", copy_stack.as_str()],
        vec!["apply", "--yes", "--adopt", copy_stack.as_str()],
    ] {
        let refused = copy.run(&emulators, &args);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("belong to another stack"), "{err}");
        assert!(err.contains("belongs to stack `milvus-local`"), "{err}");
    }
    assert!(!copy.state().exists(), "the copy wrote a state");

    // The first stack, moved to another region by an edit: refused.
    w.edit("region = \"us-west-2\"", "region = \"eu-west-1\"");
    let moved = w.run(&emulators, &["plan", &stack]);
    assert_eq!(moved.status.code(), Some(1), "{}", text(&moved));
    let err = String::from_utf8_lossy(&moved.stderr);
    assert!(err.contains("was applied in region us-west-2"), "{err}");
}
