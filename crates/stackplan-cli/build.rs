//! Build facts for `stackplan version` and `--version`: the git commit the
//! binary was built from, the build profile and the target triple.
//!
//! The commit is `git rev-parse --short HEAD`, or `unknown` when the source
//! is not a git checkout (a crate tarball, a source archive) or git is not
//! installed. The script is re-run only when HEAD or the branch it names
//! moves, not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let commit = git(&manifest_dir, &["rev-parse", "--short", "HEAD"]);
    if let Some(git_dir) = git(&manifest_dir, &["rev-parse", "--absolute-git-dir"]) {
        watch_head(Path::new(&git_dir));
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rustc-env=STACKPLAN_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // `PROFILE` is "debug" or "release", the profile a custom one inherits.
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=STACKPLAN_BUILD_PROFILE={profile}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=STACKPLAN_TARGET={target}");
}

/// One line of git's output, `None` when git fails or is absent.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// Re-run when HEAD moves: `.git/HEAD` changes on a checkout, the branch's
/// ref file on a commit, and `packed-refs` when the branch's ref is only
/// there (after `git gc`).
fn watch_head(git_dir: &Path) {
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.trim().strip_prefix("ref: ")
    {
        let ref_file = git_dir.join(reference);
        if ref_file.exists() {
            println!("cargo:rerun-if-changed={}", ref_file.display());
        }
        let packed = git_dir.join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
}
