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
