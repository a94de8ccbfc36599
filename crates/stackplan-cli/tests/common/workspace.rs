//! A copy of `stacks/milvus-local.toml` in a temp dir, with its state file
//! there and the kubeconfig and charts as absolute paths, and the real
//! `stackplan` binary run on it against one emulator set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stackplan_testkit::Emulators;

use super::repo_root;

const BIN: &str = env!("CARGO_BIN_EXE_stackplan");

/// The SCRAM password the workspace's runs give `env:MSK_SCRAM_PASSWORD`.
pub const PASSWORD: &str = "sentinel-scram-password-7c1e";

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(emulators: &Emulators) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        write_local_stack(emulators, dir.path());
        Workspace { dir }
    }

    pub fn stack(&self) -> PathBuf {
        self.dir.path().join("stack.toml")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// Replaces `from` by `to` once in the stack file; panics when absent.
    pub fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.stack()).expect("stack");
        assert!(text.contains(from), "`{from}` is not in the stack");
        std::fs::write(self.stack(), text.replacen(from, to, 1)).expect("stack");
    }

    /// `stackplan ARGS` with the emulators' environment; `args` name the
    /// stack or plan file themselves.
    pub fn command(&self, emulators: &Emulators, args: &[&str]) -> Command {
        let mut command = emulators.command(BIN);
        // helm 3: the real Milvus chart's ports without `protocol` are
        // refused by helm 4's server-side apply on the 1.20 test apiserver
        // (tests/harness/README.md).
        command.env("STACKPLAN_HELM", emulators.helm_v3());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("MSK_SCRAM_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, emulators: &Emulators, args: &[&str]) -> Output {
        self.command(emulators, args)
            .output()
            .expect("running stackplan")
    }
}

/// Writes `stacks/milvus-local.toml` into `dir` as `stack.toml`, with its
/// state file in `dir` and the kubeconfig and charts as absolute paths.
pub fn write_local_stack(emulators: &Emulators, dir: &Path) {
    let text = std::fs::read_to_string(repo_root().join("stacks/milvus-local.toml"))
        .expect("stacks/milvus-local.toml");
    let charts = repo_root().join("tests/fixtures/charts");
    let charts = charts.canonicalize().expect("fixture charts");
    let milvus = stackplan_testkit::shared_chart("milvus-5.0.19.tgz");
    let state = dir.join("state.json");
    let kubeconfig = emulators.kubeconfig().canonicalize().expect("kubeconfig");
    let mut edited = String::new();
    for line in text.lines() {
        let line = if line.starts_with("path = ") {
            format!("path = {:?}", state.display().to_string())
        } else if line.starts_with("kubeconfig = ") {
            format!("kubeconfig = {:?}", kubeconfig.display().to_string())
        } else {
            line.replace("../tests/fixtures/charts", &charts.display().to_string())
                .replace(
                    "../../shared/charts/milvus-5.0.19.tgz",
                    &milvus.display().to_string(),
                )
        };
        edited.push_str(&line);
        edited.push('\n');
    }
    assert!(
        edited.contains(&state.display().to_string()),
        "state path not replaced"
    );
    assert!(
        !edited.contains("../"),
        "a relative path is left:\n{edited}"
    );
    std::fs::write(dir.join("stack.toml"), edited).expect("writing the stack");
}

pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `kubectl -n NAMESPACE ARGS` against the emulators' apiserver, as an
/// operator or a controller would act behind stackplan's back; its stdout.
/// Fails the test when kubectl does.
pub fn kubectl(emulators: &Emulators, namespace: &str, args: &[&str]) -> String {
    let out = emulators
        .command(emulators.kubectl())
        .args(["--kubeconfig", emulators.kubeconfig().to_str().unwrap()])
        .args(["-n", namespace])
        .args(args)
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
