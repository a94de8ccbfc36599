//! Every documented exit code of the commands that run without the
//! emulators. 2 means "changes pending" (`plan --detailed-exitcode`) or
//! "drift found" (`drift`) and nothing else: a usage error is 1, so a CI
//! job never reads a typo as pending changes.
//!
//! The codes that need a cloud are pinned where one is: `plan
//! --detailed-exitcode` 2 then 0 and `drift` 2 only on live changes in
//! `src/commands/plan.rs` (`detailed_exitcode_is_2_with_changes_and_0_once_applied`,
//! `drift_exits_2_only_when_something_changed_live`, on the in-memory
//! cloud), and against the emulators in `tests/trust.rs` (plan 2),
//! `tests/replacements.rs` and `tests/kafka_upgrade.rs` (plan and drift 0
//! after an apply); apply's 130 on a second Ctrl-C in `tests/faults.rs`.

mod common;

use common::{Scratch, reference_stack};

/// `(arguments, exit code)`, run in a scratch directory holding the valid
/// reference stack as `stack.toml`.
fn check(cases: &[(&[&str], i32)]) {
    let scratch = Scratch::with_stack(&reference_stack());
    for (args, code) in cases {
        let run = scratch.run(args);
        assert_eq!(
            run.code,
            *code,
            "stackplan {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn usage_errors_exit_1_never_2() {
    check(&[
        (&["plan", "stack.toml", "--no-such-flag"], 1),
        (&["plan"], 1),
        (&["drift"], 1),
        (&["apply"], 1),
        (&["destroy", "stack.toml", "--parallelism", "0"], 1),
        (&["graph", "stack.toml", "--format", "svg"], 1),
        (&["plan", "stack.toml", "--json", "--format", "markdown"], 1),
        (&["no-such-command"], 1),
        (&["completion", "tcsh"], 1),
        (&["state"], 1),
        // No command at all prints the help, on stderr, as an error.
        (&[], 1),
    ]);
}

#[test]
fn a_usage_error_says_what_was_wrong_on_stderr_only() {
    let run = Scratch::with_stack(&reference_stack()).run(&["plan", "stack.toml", "--detailed"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("unexpected argument '--detailed'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--detailed-exitcode"),
        "a did-you-mean: {}",
        run.stderr
    );
}

#[test]
fn help_and_version_exit_0() {
    check(&[
        (&["--help"], 0),
        (&["-h"], 0),
        (&["help"], 0),
        (&["help", "plan"], 0),
        (&["plan", "--help"], 0),
        (&["state", "push", "--help"], 0),
        (&["--version"], 0),
        (&["-V"], 0),
        (&["version"], 0),
        (&["version", "--json"], 0),
        (&["completion", "bash"], 0),
        (&["man"], 0),
    ]);
}

#[test]
fn offline_commands_exit_0_on_success_and_1_on_an_invalid_stack() {
    check(&[
        (&["validate", "stack.toml"], 0),
        (&["graph", "stack.toml"], 0),
        (&["fmt", "--check", "stack.toml"], 0),
        (&["validate", "missing.toml"], 1),
        (&["graph", "missing.toml"], 1),
        (&["fmt", "missing.toml"], 1),
        (&["show", "missing.json"], 1),
        (&["init", "stack.toml"], 1),
        (&["init", "new.toml"], 0),
        (&["validate", "new.toml"], 0),
    ]);
    let invalid = Scratch::with_stack("[stack]\nname = \"x\"\n");
    for args in [
        &["validate", "stack.toml"][..],
        &["graph", "stack.toml"],
        &["fmt", "stack.toml"],
        &["fmt", "--check", "stack.toml"],
        &["render", "stack.toml"],
        &["plan", "stack.toml"],
        &["drift", "stack.toml"],
        &["apply", "stack.toml", "--yes"],
        &["destroy", "stack.toml", "--yes"],
        &["unlock", "stack.toml"],
        &["output", "stack.toml"],
        &["state", "list", "stack.toml"],
    ] {
        let run = invalid.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("stack.toml"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
