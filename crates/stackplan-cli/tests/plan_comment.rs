//! `examples/github-actions/plan-comment.js`, the pull-request workflow's
//! comment step, run with node against a fake GitHub API: one comment per
//! stack, created once and edited in place on every later push.
//!
//! Needs node (the emulator harness installs it with npm; GitHub's runners
//! have it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn module() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/github-actions/plan-comment.js")
}

/// A fake of the parts of Octokit the module uses, serving `existing`
/// comments two to a page; prints the calls it received as JSON.
const DRIVER: &str = r#"
const [modulePath, planFile, stack, existingJson] = process.argv.slice(1);
const post = require(modulePath);
const existing = JSON.parse(existingJson);
const calls = [];
const github = {
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (p) => { calls.push({ call: 'update', id: p.comment_id, body: p.body, issue: p.issue_number }); },
    createComment: async (p) => { calls.push({ call: 'create', issue: p.issue_number, body: p.body }); return { data: { id: 999, html_url: 'u' } }; },
  } },
  // Octokit's paginate walks every page; two comments a page here.
  paginate: async (route, params) => {
    if (route !== 'listComments' || params.issue_number !== 7) throw new Error('bad list call');
    const all = [];
    for (let i = 0; i < existing.length; i += 2) all.push(...existing.slice(i, i + 2));
    return all;
  },
};
const context = { repo: { owner: 'acme', repo: 'infra' }, issue: { number: 7 } };
const core = { info: () => {} };
post({ github, context, core, stack, planFile }).then((r) => {
  console.log(JSON.stringify({ result: r, calls }));
}).catch((e) => { console.error(e); process.exit(1); });
"#;

fn run(plan: &str, stack: &str, existing: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let plan_file = dir.path().join("plan.md");
    std::fs::write(&plan_file, plan).unwrap();
    let out = Command::new("node")
        .arg("-e")
        .arg(DRIVER)
        .arg(module())
        .arg(&plan_file)
        .arg(stack)
        .arg(existing.to_string())
        .output()
        .expect("node runs (install it: the emulator harness's npm brings it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const STACK: &str = "stacks/milvus-eks.toml";

#[test]
fn the_first_plan_creates_one_comment_starting_with_the_stacks_marker() {
    let out = run("## Plan\n+ eks_cluster.main\n", STACK, json!([]));
    let calls = out["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{out}");
    assert_eq!(calls[0]["call"], "create");
    assert_eq!(calls[0]["issue"], 7);
    assert_eq!(
        calls[0]["body"],
        "<!-- stackplan-plan:stacks/milvus-eks.toml -->\n## Plan\n+ eks_cluster.main\n"
    );
}

#[test]
fn a_later_push_edits_the_stacks_comment_and_adds_none() {
    let existing = json!([
        { "id": 1, "body": "LGTM", "html_url": "u1" },
        // Quoting the marker does not make a reviewer's comment the plan's.
        { "id": 4, "body": "> <!-- stackplan-plan:stacks/milvus-eks.toml -->\nwhy?", "html_url": "u4" },
        { "id": 2, "body": "<!-- stackplan-plan:stacks/other.toml -->\nother stack", "html_url": "u2" },
        // On the second page: pagination must be followed to find it.
        { "id": 3, "body": "<!-- stackplan-plan:stacks/milvus-eks.toml -->\nold plan", "html_url": "u3" },
    ]);
    let out = run("new plan\n", STACK, existing);
    assert_eq!(out["result"]["action"], "updated");
    let calls = out["calls"].as_array().unwrap();
    assert_eq!(
        calls.len(),
        1,
        "only the stack's own comment changes: {out}"
    );
    assert_eq!(calls[0]["call"], "update");
    assert_eq!(calls[0]["id"], 3);
    assert_eq!(
        calls[0]["body"],
        "<!-- stackplan-plan:stacks/milvus-eks.toml -->\nnew plan\n"
    );
}

#[test]
fn another_stacks_comment_is_not_taken_over() {
    let existing = json!([
        { "id": 2, "body": "<!-- stackplan-plan:stacks/other.toml -->\nother", "html_url": "u2" },
    ]);
    let out = run("plan\n", STACK, existing);
    assert_eq!(out["result"]["action"], "created", "{out}");
}

#[test]
fn a_plan_at_the_limit_is_cut_to_make_room_for_the_marker_with_a_note() {
    // stackplan's Markdown may use GitHub's whole 65,536 characters.
    let plan = "x".repeat(65_536);
    let out = run(&plan, STACK, json!([]));
    let body = out["calls"][0]["body"].as_str().unwrap();
    assert_eq!(body.chars().count(), 65_536, "exactly at the limit");
    assert!(body.starts_with("<!-- stackplan-plan:stacks/milvus-eks.toml -->\nxxx"));
    assert!(body.ends_with("the whole plan is in this job's log.\n"));
}
