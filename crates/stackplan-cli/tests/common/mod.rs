//! A small builder for running the `stackplan` binary in a scratch
//! directory, as ripgrep's `TestCommand` does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference stack shipped with the repository.
pub fn reference_stack() -> String {
    std::fs::read_to_string(repo_root().join("stacks/milvus-eks.toml")).expect("reference stack")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference stack with each `(from, to)` replaced once; panics when
/// `from` is not in it, so a test never silently checks the unmodified file.
pub fn reference_with(edits: &[(&str, &str)]) -> String {
    let mut text = reference_stack();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "`{from}` is not in the reference stack"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A scratch directory holding `stack.toml`, where the binary runs.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn with_stack(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("stack.toml"), text).expect("write stack");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_stackplan"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("MSK_SCRAM_PASSWORD")
            .output()
            .expect("run stackplan");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `validate` on a stack text and returns what it printed to stderr,
/// asserting that it failed with exit code 1 and printed nothing to stdout.
pub fn validate_error(text: &str) -> String {
    let run = Scratch::with_stack(text).run(&["validate", "stack.toml"]);
    assert_eq!(
        run.code, 1,
        "expected failure, got stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "stdout must stay clean: {}",
        run.stdout
    );
    run.stderr
}
