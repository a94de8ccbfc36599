//! `plan`, `drift`, `show` and `unlock` through the binary: exit codes,
//! clean stdout, and the errors a person sees.

mod common;

use common::{Scratch, reference_stack};
use stackplan_core::{ProviderRegistry, StateStore};
use stackplan_engine::testing::FakeCloud;
use stackplan_engine::{PlanRequest, PlanSettings, Planner};

/// A plan of the reference stack made against a fake cloud, saved where
/// the binary can read it.
fn saved_plan(scratch: &Scratch) -> std::path::PathBuf {
    let path = scratch.path().join("stack.toml");
    let stack = stackplan_stack::load(&path).unwrap();
    let resources = stackplan_stack::expand(&stack, &common::charts_of(&stack));
    let cloud = FakeCloud::new();
    cloud.seed_lookups(&resources);
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let plan = rt
        .block_on(
            Planner::new(&registry, PlanSettings::default()).plan(PlanRequest {
                stack: &stack.name,
                stack_sha256: "0",
                resources: &resources,
                state: None,
            }),
        )
        .unwrap();
    let out = scratch.path().join("plan.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    out
}

#[test]
fn show_renders_a_saved_plan_as_text() {
    let scratch = Scratch::with_stack(&reference_stack());
    saved_plan(&scratch);
    let run = scratch.run(&["show", "plan.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn show_prints_a_saved_plans_warnings_on_stderr_as_plan_did() {
    let scratch = Scratch::with_stack(&reference_stack());
    let path = saved_plan(&scratch);
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    plan["warnings"] = serde_json::json!(["fit: the pods do not fit the node groups"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    let run = scratch.run(&["show", "plan.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "warning: fit: the pods do not fit the node groups\n"
    );
    assert!(!run.stdout.contains("fit:"), "stdout stays the plan");
}

/// The reference stack's first plan (a create of everything) was 906
/// lines before issue 16: policy documents in JSON, values in YAML, a
/// comment line and a reason per resource. By default it must be under
/// half that, hiding nothing that `--full` does not show.
const FIRST_PLAN_LINES_BEFORE: usize = 906;

#[test]
fn a_first_plan_is_under_half_its_old_length_and_full_shows_every_value() {
    let scratch = Scratch::with_stack(&reference_stack());
    let saved = saved_plan(&scratch);
    let short = scratch.run(&["show", "plan.json"]);
    let full = scratch.run(&["show", "plan.json", "--full"]);
    let compact = scratch.run(&["show", "plan.json", "--compact"]);
    for run in [&short, &full, &compact] {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let (s, f, c) = (
        short.stdout.lines().count(),
        full.stdout.lines().count(),
        compact.stdout.lines().count(),
    );
    // Measured when this test was written: 425 by default, 746 with
    // --full, 41 with --compact.
    assert!(
        s < FIRST_PLAN_LINES_BEFORE / 2 && s < f,
        "{s} lines ({f} with --full), not under half of {FIRST_PLAN_LINES_BEFORE}:\n{}",
        short.stdout
    );
    let plan: stackplan_core::Plan =
        serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    // The title, "Changes:", the summary and the blank lines between.
    assert_eq!(
        c,
        plan.changes.len() + 6,
        "one line per resource:\n{}",
        compact.stdout
    );

    // Every field of every change is named in both; --full shows every
    // string the plan holds (the published policies' actions included).
    let section = |text: &str, addr: &str| -> String {
        text.split("\n\n")
            .find(|s| s.split_whitespace().nth(1) == Some(addr))
            .unwrap_or_else(|| panic!("no section for {addr}"))
            .to_string()
    };
    for change in plan.changes.iter().filter(|c| !c.field_diffs.is_empty()) {
        let addr = change.addr.to_string();
        let (in_short, in_full) = (section(&short.stdout, &addr), section(&full.stdout, &addr));
        for d in &change.field_diffs {
            assert!(
                in_short.contains(&d.path),
                "{addr}: {} not named:\n{in_short}",
                d.path
            );
            // `+ path = value`, on a line of its own, aligned.
            let own_line = in_full.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.nth(1) == Some(d.path.as_str()) && words.next() == Some("=")
            });
            assert!(own_line, "{addr}: {} has no line:\n{in_full}", d.path);
            let mut strings = Vec::new();
            leaf_strings(&d.after, &mut strings);
            for s in strings {
                let quoted = serde_json::Value::String(s).to_string();
                assert!(in_full.contains(&quoted), "{addr}: {quoted} not in --full");
            }
        }
    }
    assert!(short.stdout.contains("shown with --full"));
    assert!(!full.stdout.contains("shown with --full"));
}

/// Every literal string inside a value.
fn leaf_strings(v: &stackplan_core::Value, out: &mut Vec<String>) {
    use stackplan_core::Value;
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::List(items) => items.iter().for_each(|x| leaf_strings(x, out)),
        Value::Map(m) => m.values().for_each(|x| leaf_strings(x, out)),
        _ => {}
    }
}

#[test]
fn show_json_is_clean_json_on_stdout() {
    let scratch = Scratch::with_stack(&reference_stack());
    saved_plan(&scratch);
    let run = scratch.run(&["show", "plan.json", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["format_version"], "1.0");
    assert_eq!(doc["summary"]["read"], 4);
}

#[test]
fn show_refuses_a_file_that_is_not_a_plan() {
    let scratch = Scratch::with_stack(&reference_stack());
    std::fs::write(scratch.path().join("plan.json"), "{\"format_version\": 9}").unwrap();
    let run = scratch.run(&["show", "plan.json"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("`plan.json` has plan format_version 9, this build reads 2"),
        "{}",
        run.stderr
    );
}

#[test]
fn unlock_says_when_nothing_is_locked() {
    let scratch = Scratch::with_stack(&reference_stack());
    let run = scratch.run(&["unlock", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .ends_with("milvus-demo.state.json is not locked\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn unlock_clears_a_lock_record_left_by_a_dead_process() {
    let scratch = Scratch::with_stack(&reference_stack());
    let store = stackplan_state::LocalStateStore::for_stack(scratch.path(), "milvus-demo");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut info = stackplan_state::new_lock_info("apply");
    info.who = "ops@laptop".into();
    info.pid = 4242;
    rt.block_on(store.lock(&info)).unwrap();
    // Leave the record behind as a crash would, without the OS lock.
    let record = std::fs::read(
        scratch
            .path()
            .join(".stackplan/milvus-demo.state.json.lock"),
    )
    .unwrap();
    rt.block_on(store.unlock()).unwrap();
    std::fs::write(
        scratch
            .path()
            .join(".stackplan/milvus-demo.state.json.lock"),
        record,
    )
    .unwrap();

    let run = scratch.run(&["unlock", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("released the lock on")
            && run
                .stdout
                .contains("held by ops@laptop (pid 4242) for `apply`"),
        "{}",
        run.stdout
    );
}
