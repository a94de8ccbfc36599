//! `scripts/install.sh`, the setup action's installer, against a release
//! laid out as `examples/github-actions/release.yml` publishes it
//! (`vVERSION/stackplan-VERSION-TARGET.tar.gz` and `vVERSION/SHA256SUMS`),
//! served from a `file://` URL. The binary in the archive is a stand-in
//! script: what is tested is the download, the checks and the install.
//!
//! Needs bash, curl, tar and sha256sum (or shasum), as the script does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = "9.8.7";
const TARGET: &str = "x86_64-unknown-linux-musl";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install.sh")
}

fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A scratch directory with a release of `VERSION` for `TARGET` under
/// `releases/`, whose binary prints `stand-in stackplan <marker>`.
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new(marker: &str) -> Release {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("stackplan-{VERSION}-{TARGET}");
        let staging = dir.path().join("staging").join(&name);
        std::fs::create_dir_all(&staging).unwrap();
        let bin = staging.join("stackplan");
        std::fs::write(
            &bin,
            format!("#!/bin/sh\necho \"stand-in stackplan {marker} $*\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let release = dir.path().join("releases").join(format!("v{VERSION}"));
        std::fs::create_dir_all(&release).unwrap();
        let archive = release.join(format!("{name}.tar.gz"));
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path().join("staging"))
            .arg(&name)
            .status()
            .unwrap();
        assert!(status.success(), "tar");
        let r = Release { dir };
        r.write_sums(&sha256(&archive));
        r
    }

    fn archive(&self) -> PathBuf {
        self.release_dir()
            .join(format!("stackplan-{VERSION}-{TARGET}.tar.gz"))
    }

    fn release_dir(&self) -> PathBuf {
        self.dir.path().join("releases").join(format!("v{VERSION}"))
    }

    /// SHA256SUMS listing the archive with `digest`, beside another
    /// target's line, as the release job writes it.
    fn write_sums(&self, digest: &str) {
        std::fs::write(
            self.release_dir().join("SHA256SUMS"),
            format!(
                "{}  stackplan-{VERSION}-aarch64-apple-darwin.tar.gz\n{digest}  stackplan-{VERSION}-{TARGET}.tar.gz\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
    }

    fn install_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn run(&self, extra: &[&str]) -> Output {
        let base = format!("file://{}", self.dir.path().join("releases").display());
        Command::new("bash")
            .arg(script())
            .args([
                "--version",
                VERSION,
                "--target",
                TARGET,
                "--base-url",
                &base,
            ])
            .arg("--dir")
            .arg(self.install_dir())
            .args(extra)
            .env_remove("STACKPLAN_SHA256")
            .output()
            .expect("bash runs")
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn installs_the_release_binary_when_its_checksum_matches() {
    let release = Release::new("one");
    let pinned = sha256(&release.archive());
    let out = release.run(&["--sha256", &pinned.to_uppercase()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let installed = release.install_dir().join("stackplan");
    let ran = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "stand-in stackplan one --version\n"
    );
    // The script ran it once, to prove it runs here, and said which digest.
    assert!(stderr(&out).contains("stand-in stackplan one --version"));
    assert!(stderr(&out).contains(&pinned), "{}", stderr(&out));
}

#[test]
fn a_download_that_does_not_match_sha256sums_installs_nothing() {
    let release = Release::new("one");
    release.write_sums(&"ab".repeat(32));
    let out = release.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checksum mismatch") && stderr(&out).contains("nothing installed"),
        "{}",
        stderr(&out)
    );
    assert!(!release.install_dir().join("stackplan").exists());
}

#[test]
fn a_pinned_checksum_refuses_a_replaced_release_even_with_matching_sums() {
    // A release whose archive and SHA256SUMS were both replaced agrees with
    // itself; only the checksum the workflow pins catches it.
    let release = Release::new("replaced");
    let out = release.run(&["--sha256", &"cd".repeat(32)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("pinned"), "{}", stderr(&out));
    assert!(!release.install_dir().join("stackplan").exists());
}

#[test]
fn an_archive_sha256sums_does_not_list_is_refused() {
    let release = Release::new("one");
    std::fs::write(release.release_dir().join("SHA256SUMS"), "").unwrap();
    let out = release.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not list"), "{}", stderr(&out));
}

#[test]
fn a_missing_release_fails_with_the_url() {
    let release = Release::new("one");
    std::fs::remove_file(release.archive()).unwrap();
    let out = release.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not download"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_new_version_replaces_the_installed_binary() {
    let release = Release::new("one");
    assert!(release.run(&[]).status.success());
    let newer = Release::new("two");
    std::fs::remove_dir_all(release.release_dir()).unwrap();
    std::fs::rename(newer.release_dir(), release.release_dir()).unwrap();
    let out = release.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ran = Command::new(release.install_dir().join("stackplan"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "stand-in stackplan two \n"
    );
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(release.install_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["stackplan"]);
}

#[test]
fn no_version_is_a_usage_error() {
    let out = Command::new("bash")
        .arg(script())
        .args(["--repo", "acme/stackplan"])
        .env_remove("STACKPLAN_VERSION")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("never 'latest'"), "{}", stderr(&out));
}
