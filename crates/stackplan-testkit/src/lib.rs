//! The shared test harness: starts (or reuses) the local emulators — moto with stackplan's extensions, a real kube-apiserver, helm — and hands tests their endpoints, clients and fixture charts.
//!
//! The emulators are the processes `tests/harness/up.sh` starts (the same
//! script behind `just emulators-up`); this crate only drives that script and
//! reads the `env` file it writes. See `tests/harness/README.md`.
//!
//! Two ways in:
//! - [`Emulators::shared`]: one set for the whole test process. It reuses the
//!   developer's running set when `target/emulators/env` is live (after
//!   `just emulators-up`), and otherwise starts a private set that a watchdog
//!   stops when the test process exits, however it exits.
//! - [`Emulators::start`]: a private set owned by the value, stopped on drop.
//! - [`Emulators::start_scheduling`]: the same, with kube-scheduler and the
//!   workload controllers running, so pods get made and placed; a
//!   [`kubelet::Kubelet`] registers the nodes and runs what lands on them.
//!
//! Nothing is ever skipped: when the binaries are not installed, both fail
//! with [`HarnessError::NotInstalled`], which names `just emulators-install`.
//!
//! State in moto and the apiserver is shared by every test using the same
//! set, so tests name what they create with [`unique_name`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

pub mod kubelet;

/// What can go wrong bringing up or talking to the emulators.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A binary the emulators need is not in the cache.
    #[error(
        "emulator binary missing: {path}\n\
         run `just emulators-install` first (installs moto, etcd, kubectl and helm and builds \
         kube-apiserver into {cache}; about 6 minutes the first time)"
    )]
    NotInstalled {
        /// The missing file.
        path: PathBuf,
        /// The cache directory the install recipe fills.
        cache: PathBuf,
    },
    /// A harness script could not be run at all.
    #[error("could not run {script}: {source}")]
    Spawn {
        /// The script.
        script: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A harness script ran and failed.
    #[error("{script} failed ({status}):\n{stderr}")]
    ScriptFailed {
        /// The script.
        script: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr (it prints the emulators' last log lines).
        stderr: String,
    },
    /// The env file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The env file lacks a variable the harness relies on.
    #[error("{path} does not set {key}; re-run `just emulators-up`")]
    EnvFile {
        /// The env file.
        path: PathBuf,
        /// The missing variable.
        key: &'static str,
    },
    /// The process-wide set failed to start earlier in this process.
    #[error("the shared emulators failed to start: {0}")]
    SharedUnavailable(String),
    /// The kubeconfig the harness wrote could not be loaded.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// Why.
        source: KubeconfigError,
    },
    /// Building the kube client failed.
    #[error("kube client: {0}")]
    Kube(#[from] kube::Error),
}

/// The AWS region the emulators answer for (the reference deployment's).
pub const REGION: &str = "us-west-2";

/// A running set of emulators and how to reach them.
#[derive(Debug)]
pub struct Emulators {
    run_dir: PathBuf,
    env: BTreeMap<String, String>,
    /// Stop the set on drop: true only for sets this value started.
    owned: bool,
}

impl Emulators {
    /// The process-wide set: reuses a live `just emulators-up` set, or starts
    /// one for this process (stopped by a watchdog when the process exits).
    pub fn shared() -> Result<&'static Emulators, HarnessError> {
        static SHARED: OnceLock<Result<Emulators, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::reuse_or_start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| HarnessError::SharedUnavailable(e.clone()))
    }

    /// Starts a private set in its own directory under `target/emulators`,
    /// stopped when the returned value is dropped.
    pub fn start() -> Result<Emulators, HarnessError> {
        Self::start_private(false)
    }

    /// A private set, like [`Emulators::start`], where pods get placed:
    /// kube-scheduler runs, and so do the controllers that make pods of
    /// Deployments, StatefulSets and DaemonSets and bind volume claims
    /// (`STACKPLAN_EMULATORS_SCHEDULING=1` in `up.sh`). Nodes are what a
    /// [`kubelet::Kubelet`] registers.
    pub fn start_scheduling() -> Result<Emulators, HarnessError> {
        Self::start_private(true)
    }

    fn start_private(scheduling: bool) -> Result<Emulators, HarnessError> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = emulators_root().join(format!("test-{}-{n}", std::process::id()));
        check_installed(&cache_dir())?;
        let scheduling = if scheduling { "1" } else { "0" };
        run_script(
            "up.sh",
            &dir,
            &[],
            &[("STACKPLAN_EMULATORS_SCHEDULING", scheduling)],
        )?;
        Self::load(&dir, true)
    }

    fn reuse_or_start() -> Result<Emulators, HarnessError> {
        let default_dir = default_run_dir();
        if run_script("status.sh", &default_dir, &["--quiet"], &[]).is_ok() {
            return Self::load(&default_dir, false);
        }
        // Not owned: the static is never dropped; the watchdog up.sh starts
        // for this process stops it.
        let dir = emulators_root().join(format!("test-{}-shared", std::process::id()));
        Self::start_in(&dir)
    }

    fn start_in(dir: &Path) -> Result<Emulators, HarnessError> {
        check_installed(&cache_dir())?;
        run_script("up.sh", dir, &[], &[])?;
        Self::load(dir, false)
    }

    fn load(dir: &Path, owned: bool) -> Result<Emulators, HarnessError> {
        let path = dir.join("env");
        let text = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
            path: path.clone(),
            source,
        })?;
        let env = parse_env_file(&text);
        for key in [
            "AWS_ENDPOINT_URL",
            "KUBECONFIG",
            "STACKPLAN_HELM",
            "STACKPLAN_HELM_V3",
            "STACKPLAN_KUBECTL",
        ] {
            if !env.contains_key(key) {
                return Err(HarnessError::EnvFile { path, key });
            }
        }
        Ok(Emulators {
            run_dir: dir.to_path_buf(),
            env,
            owned,
        })
    }

    fn var(&self, key: &str) -> &str {
        // `load` checked the keys this is called with.
        self.env.get(key).map(String::as_str).unwrap_or_default()
    }

    /// moto's URL, e.g. `http://127.0.0.1:40123` (AWS_ENDPOINT_URL).
    pub fn aws_endpoint(&self) -> &str {
        self.var("AWS_ENDPOINT_URL")
    }

    /// The kubeconfig for the kube-apiserver (token auth, the test CA).
    pub fn kubeconfig(&self) -> &Path {
        Path::new(self.var("KUBECONFIG"))
    }

    /// helm v4 (STACKPLAN_HELM).
    pub fn helm(&self) -> &Path {
        Path::new(self.var("STACKPLAN_HELM"))
    }

    /// helm v3.18 (STACKPLAN_HELM_V3).
    pub fn helm_v3(&self) -> &Path {
        Path::new(self.var("STACKPLAN_HELM_V3"))
    }

    /// kubectl, for assertions and scripts (STACKPLAN_KUBECTL).
    pub fn kubectl(&self) -> &Path {
        Path::new(self.var("STACKPLAN_KUBECTL"))
    }

    /// The directory holding this set's env file, kubeconfig and logs.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Every variable of the env file: AWS endpoint, dummy credentials and
    /// region, KUBECONFIG, helm and kubectl paths, PIDs and ports.
    pub fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// A command for `program` with the emulators' environment set, so helm,
    /// kubectl, the aws-sdk and stackplan itself all reach the emulators.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(&self.env);
        command
    }

    /// An SDK config pointed at moto: endpoint, region and dummy static
    /// credentials set explicitly, so nothing from the caller's environment
    /// (a real profile, real keys) can leak in.
    ///
    /// S3 clients also need `force_path_style(true)`: virtual-hosted bucket
    /// names cannot resolve on 127.0.0.1.
    pub async fn aws_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.aws_endpoint())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "stackplan-testkit",
            ))
            .load()
            .await
    }

    /// An S3 client for moto, path-style: virtual-hosted bucket names
    /// cannot resolve on 127.0.0.1.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let config = self.aws_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// A new bucket in [`REGION`], named from `prefix`, and the client that
    /// made it. `private` blocks all public access, as the S3 state backend
    /// requires of a state bucket before it reads or writes one.
    pub async fn new_bucket(&self, prefix: &str, private: bool) -> (aws_sdk_s3::Client, String) {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let client = self.s3_client().await;
        let bucket = unique_name(prefix);
        client
            .create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .expect("create the bucket in moto");
        if private {
            block_public_access(&client, &bucket, true).await;
        }
        (client, bucket)
    }

    /// A kube client for the kube-apiserver, from the harness's kubeconfig.
    pub async fn kube_client(&self) -> Result<kube::Client, HarnessError> {
        install_rustls_provider();
        let path = self.kubeconfig().to_path_buf();
        let kubeconfig =
            Kubeconfig::read_from(&path).map_err(|source| HarnessError::Kubeconfig {
                path: path.clone(),
                source,
            })?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| HarnessError::Kubeconfig { path, source })?;
        Ok(kube::Client::try_from(config)?)
    }
}

impl Drop for Emulators {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Err(error) = run_script("down.sh", &self.run_dir, &["--quiet", "--purge"], &[]) {
            // Drop cannot fail; the watchdog is the backstop, but say so.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("stackplan-testkit: stopping emulators failed: {error}");
            }
        }
    }
}

/// Blocks public ACLs and policies on `bucket`; `restrict_public_buckets`
/// completes the block the S3 state backend requires (tests of the
/// backend's refusal leave it off).
pub async fn block_public_access(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    restrict_public_buckets: bool,
) {
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(restrict_public_buckets)
                .build(),
        )
        .send()
        .await
        .expect("put the bucket's public access block");
}

/// Makes ring rustls's process-wide crypto provider.
///
/// kube builds its TLS config from rustls's process default, which rustls
/// can only pick by itself when exactly one provider is compiled in; the AWS
/// SDK brings aws-lc-rs and kube's `ring` feature brings ring, so a process
/// linking both must choose. Any later choice (by another caller) is kept.
pub fn install_rustls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A name unique to this call in this process and across processes:
/// `<prefix>-<pid>-<time>-<n>`, lowercase letters, digits and dashes, so it is
/// valid for S3 buckets, Kubernetes objects and every AWS name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() % 0x10_0000_0000)
        .unwrap_or_default();
    format!("{prefix}-{:x}-{micros:x}-{n}", std::process::id())
}

/// `v` with every object's keys in sorted order, at every depth: what a
/// snapshot of JSON compares, whatever order the writer chose (serde_json's
/// `preserve_order` is on in some builds of the workspace and not others).
pub fn sorted_json(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_json(&m[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sorted_json).collect())
        }
        other => other.clone(),
    }
}

/// A fixture chart under `tests/fixtures/charts` (`milvus`,
/// `aws-load-balancer-controller`).
pub fn fixture_chart(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/charts").join(name)
}

/// A real packaged chart from `../shared/charts` beside the repository
/// (`milvus-5.0.19.tgz`, `aws-load-balancer-controller-3.5.0.tgz`), which
/// CI has at the same relative path. Panics, naming the path, when it is
/// missing: a test of the real charts never passes without them.
pub fn shared_chart(file: &str) -> PathBuf {
    let path = repo_root().join("../shared/charts").join(file);
    assert!(
        path.is_file(),
        "the real chart {} is missing: tests read the packaged charts from ../shared/charts",
        path.display()
    );
    path.canonicalize().expect("canonical chart path")
}

/// The Milvus chart versions in `../shared/charts`, oldest first.
pub const SHARED_MILVUS_CHARTS: [&str; 3] = ["4.1.28", "4.2.8", "5.0.19"];

/// helm v4 and v3 as the harness installs them, without starting the
/// emulators (for tests that only render charts).
pub fn helm_binaries() -> (PathBuf, PathBuf) {
    let cache = cache_dir();
    (cache.join("helm/v4/helm"), cache.join("helm/v3/helm"))
}

/// The repository root (this crate lives in `crates/stackplan-testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the emulator binaries are cached; the same rule as
/// `tests/harness/common.sh`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STACKPLAN_TEST_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/stackplan-test")
}

fn emulators_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("emulators")
}

/// The set `just emulators-up` manages (`STACKPLAN_EMULATORS_DIR` overrides,
/// as in the scripts).
fn default_run_dir() -> PathBuf {
    std::env::var_os("STACKPLAN_EMULATORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/emulators"))
}

/// Fails loudly, naming the install recipe, when a binary is missing.
fn check_installed(cache: &Path) -> Result<(), HarnessError> {
    let required = [
        "kube/bin/kube-apiserver",
        "kube/bin/kube-controller-manager",
        "kube/bin/kube-scheduler",
        "venv/bin/python",
        "venv/bin/kubectl",
        "helm/v4/helm",
        "helm/v3/helm",
    ];
    for relative in required {
        let path = cache.join(relative);
        if !path.is_file() {
            return Err(HarnessError::NotInstalled {
                path,
                cache: cache.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn run_script(
    name: &str,
    run_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), HarnessError> {
    let script = repo_root().join("tests/harness").join(name);
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .env("STACKPLAN_EMULATORS_DIR", run_dir)
        .env(
            "STACKPLAN_EMULATORS_OWNER_PID",
            std::process::id().to_string(),
        )
        .output()
        .map_err(|source| HarnessError::Spawn {
            script: script.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::ScriptFailed {
            script,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Reads `export KEY=VALUE` lines; values may be double-quoted.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(key, value)| {
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_fail_naming_the_install_recipe() {
        let empty = tempfile::tempdir().expect("tempdir");
        let error = check_installed(empty.path()).expect_err("nothing is installed there");
        assert!(matches!(error, HarnessError::NotInstalled { .. }));
        assert!(
            error.to_string().contains("just emulators-install"),
            "{error}"
        );
    }

    #[test]
    fn env_file_exports_are_parsed_with_quotes_removed() {
        let env = parse_env_file(
            "# comment\nexport AWS_REGION=us-west-2\nexport STACKPLAN_EMULATORS_PIDS=\"etcd=1 moto=2\"\nnot an export\n",
        );
        assert_eq!(env["AWS_REGION"], "us-west-2");
        assert_eq!(env["STACKPLAN_EMULATORS_PIDS"], "etcd=1 moto=2");
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn unique_names_differ_and_are_valid_bucket_names() {
        let a = unique_name("sp");
        let b = unique_name("sp");
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
        }
    }

    #[test]
    fn fixture_charts_are_found_from_the_crate() {
        for chart in ["milvus", "aws-load-balancer-controller"] {
            assert!(fixture_chart(chart).join("Chart.yaml").is_file(), "{chart}");
        }
    }
}
