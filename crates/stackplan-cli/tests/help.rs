//! The help a user reads: `stackplan --help` and every command's `--help`
//! pinned as snapshots (at a fixed width, with nothing from the build
//! machine in them), the completion scripts and the man pages generated
//! from the same definition, and `stackplan version`.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with a fixed terminal width, no colour and no helm
/// from the machine running the tests.
fn stackplan(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackplan"));
    cmd.args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("STACKPLAN_HELM");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stackplan")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every command and sub-command, as typed after `stackplan`.
const COMMANDS: &[&[&str]] = &[
    &["init"],
    &["validate"],
    &["fmt"],
    &["graph"],
    &["render"],
    &["plan"],
    &["show"],
    &["apply"],
    &["destroy"],
    &["drift"],
    &["output"],
    &["state"],
    &["state", "push"],
    &["state", "list"],
    &["state", "show"],
    &["import"],
    &["unlock"],
    &["version"],
    &["completion"],
    &["man"],
];

/// The names `stackplan --help` lists under "Commands:" (`help` aside).
fn listed_commands() -> Vec<String> {
    let out = stackplan(&["--help"], &[]);
    let text = stdout(&out);
    text.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_listed_command_has_a_pinned_help() {
    let pinned: Vec<&str> = COMMANDS
        .iter()
        .filter(|c| c.len() == 1)
        .map(|c| c[0])
        .filter(|c| *c != "man")
        .collect();
    assert_eq!(
        listed_commands(),
        pinned,
        "a command without a help snapshot"
    );
}

#[test]
fn main_help_opens_with_what_the_tool_does() {
    let out = stackplan(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("stackplan", stdout(&out));
}

/// `-h` is the short form: the workflow and exit codes, no environment.
#[test]
fn short_help_leaves_the_environment_to_long_help() {
    let out = stackplan(&["-h"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("Exit codes:"), "{text}");
    assert!(!text.contains("STACKPLAN_HELM"), "{text}");
    insta::assert_snapshot!("stackplan_short", text);
}

#[test]
fn every_command_help_is_pinned() {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let out = stackplan(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = stdout(&out);
        assert!(
            !text.contains(env!("CARGO_PKG_VERSION")),
            "{args:?}: the version (and commit) stay out of snapshots"
        );
        insta::assert_snapshot!(command.join("_"), text);
    }
}

/// What issue 16 found empty: every argument and option has a
/// description, in every command.
#[test]
fn no_argument_is_left_undescribed() {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("-h");
        let text = stdout(&stackplan(&args, &[]));
        for line in text.lines() {
            let item = line.trim_start();
            let is_arg = line.starts_with("  ")
                && !line.starts_with("   ")
                && (item.starts_with('-') || item.starts_with('<') || item.starts_with('['));
            if is_arg {
                let words: Vec<&str> = item.split_whitespace().collect();
                let described = words
                    .iter()
                    .skip(1)
                    .any(|w| !w.starts_with('-') && !w.starts_with('<') && !w.ends_with(','));
                assert!(described, "{args:?}: `{line}` has no description");
            }
        }
    }
}

#[test]
fn plan_drift_apply_and_destroy_help_give_their_exit_codes() {
    for command in ["plan", "drift", "apply", "destroy"] {
        let text = stdout(&stackplan(&[command, "--help"], &[]));
        assert!(text.contains("Exit codes:"), "{command}: {text}");
        assert!(text.contains("Examples:"), "{command}: {text}");
    }
    let drift = stdout(&stackplan(&["drift", "--help"], &[]));
    assert!(drift.contains("2  drift found"), "{drift}");
}

#[test]
fn bash_completion_offers_every_command() {
    let out = stackplan(&["completion", "bash"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let script = stdout(&out);
    assert!(
        script.contains("complete -F _stackplan"),
        "not a bash script"
    );
    for command in listed_commands() {
        assert!(
            script.contains(&format!("stackplan,{command})")),
            "bash completion misses `{command}`"
        );
    }
    for sub in ["push", "list", "show"] {
        assert!(
            script.contains(&format!("stackplan__subcmd__state,{sub})")),
            "bash completion misses `state {sub}`"
        );
    }
    for shell in ["zsh", "fish"] {
        let out = stackplan(&["completion", shell], &[]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains("validate"), "{shell}");
    }
}

/// The man page is roff that `man` can render: a title, the name line
/// and every command; `--out-dir` writes one page per command.
#[test]
fn man_pages_render() {
    let out = stackplan(&["man"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH stackplan 1"),
        "{page}"
    );
    assert!(page.contains(".SH NAME"), "{page}");
    for command in listed_commands() {
        assert!(page.contains(&command), "the man page misses `{command}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = stackplan(&["man", "--out-dir", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    for page in ["stackplan.1", "stackplan-plan.1", "stackplan-state-push.1"] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
    // `man` itself renders it when the machine has it (CI images may not).
    if let Ok(rendered) = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(dir.path().join("stackplan-plan.1"))
        .env("MANWIDTH", "100")
        .output()
        && rendered.status.success()
    {
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(text.contains("--detailed-exitcode"), "{text}");
    }
}

/// `--version` and the first line of `stackplan version` are the same:
/// the version and the commit it was built from.
#[test]
fn version_names_the_commit_profile_target_and_helm() {
    let flag = stdout(&stackplan(&["--version"], &[]));
    let helm = stackplan_testkit::helm_binaries().1;
    let out = stackplan(&["version"], &[("STACKPLAN_HELM", &helm)]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.lines().next(), flag.lines().next(), "{text}");
    let commit = flag
        .trim()
        .strip_prefix(&format!("stackplan {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version: {flag}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(
        text.contains(&format!("helm:    {} (v3.", helm.display())),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_slice(
        &stackplan(&["version", "--json"], &[("STACKPLAN_HELM", &helm)]).stdout,
    )
    .expect("version --json is JSON");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["commit"], commit);
    assert_eq!(json["helm"]["status"], "ok");
    assert!(json["target"].as_str().is_some_and(|t| t.contains('-')));
    assert!(matches!(
        json["profile"].as_str(),
        Some("debug" | "release")
    ));
}

#[test]
fn version_without_helm_says_where_it_looked_and_still_exits_0() {
    let missing = Path::new("/nonexistent/helm");
    let out = stackplan(&["version", "--json"], &[("STACKPLAN_HELM", missing)]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["helm"]["status"], "missing");
    let message = json["helm"]["message"].as_str().unwrap();
    assert!(
        message.contains("STACKPLAN_HELM=/nonexistent/helm"),
        "{message}"
    );
    assert!(message.contains("3.8 or newer"), "{message}");
}
