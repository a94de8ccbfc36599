//! Running the helm binary: finding it, checking its version, and the two
//! commands apply needs (`upgrade --install`, `uninstall`).
//!
//! Values go to helm in a file only: written with mode 0600 in a private
//! temporary directory, removed when the command is done (the directory is
//! dropped on every path, errors included). Sensitive values are resolved
//! into that file and nowhere else: never on a command line (which `ps`
//! shows), never in a message; helm's own error output is scrubbed of them
//! before it is returned.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value as Json;
use tokio::process::Command;

use crate::KubeError;

/// The oldest helm stackplan drives: 3.8 made OCI registries generally
/// available, and every flag used here exists since.
const MINIMUM: (u32, u32) = (3, 8);

/// How long helm may take for one release (its `--timeout`).
const TIMEOUT: &str = "10m";

/// A helm binary that answered `helm version` with a usable version.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    /// `(major, minor, patch)`.
    pub version: (u32, u32, u32),
}

/// Where a chart comes from, as the stack's `chart` attribute says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    Repository {
        url: String,
        name: String,
        version: Option<String>,
    },
    Path(String),
    Oci {
        reference: String,
        version: Option<String>,
    },
}

/// How helm reaches the cluster.
#[derive(Debug, Clone, Default)]
pub struct HelmKubeAccess {
    /// `--kubeconfig`; `None` leaves helm to `KUBECONFIG` and its default.
    pub kubeconfig: Option<PathBuf>,
    /// `--kube-context`.
    pub context: Option<String>,
}

/// One `helm upgrade --install`.
#[derive(Debug)]
pub struct Upgrade<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart: &'a ChartSource,
    /// The values with secrets resolved: goes to the file only.
    pub values: &'a Json,
    pub wait: bool,
    /// Plaintexts to scrub from helm's error output.
    pub secrets: &'a [String],
}

/// `STACKPLAN_HELM`, else `helm` on `PATH`.
pub fn locate() -> Result<PathBuf, KubeError> {
    if let Some(p) = std::env::var_os("STACKPLAN_HELM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(KubeError::HelmMissing {
                looked: format!("STACKPLAN_HELM={}", p.display()),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("helm"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| KubeError::HelmMissing {
            looked: "STACKPLAN_HELM and PATH".into(),
        })
}

/// Parses `helm version --short` output: `v3.18.0+gcc58e3f`, `v4.1.4+g05fa379`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.trim().strip_prefix('v')?;
    let v = v.split(['+', '-']).next()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

impl Helm {
    /// Finds helm and checks that it is new enough.
    pub async fn discover() -> Result<Helm, KubeError> {
        Self::at(locate()?).await
    }

    /// Checks the helm at `path`.
    pub async fn at(path: PathBuf) -> Result<Helm, KubeError> {
        let out = Command::new(&path)
            .args(["version", "--short"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|_| KubeError::HelmMissing {
                looked: path.display().to_string(),
            })?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let version = parse_version(&text).ok_or_else(|| KubeError::HelmTooOld {
            path: path.clone(),
            version: format!("unknown (`helm version --short` said {:?})", text.trim()),
        })?;
        if (version.0, version.1) < MINIMUM {
            return Err(KubeError::HelmTooOld {
                path,
                version: text.trim().to_string(),
            });
        }
        Ok(Helm { path, version })
    }

    fn base(&self, access: &HelmKubeAccess) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        if let Some(k) = &access.kubeconfig {
            cmd.arg("--kubeconfig").arg(k);
        }
        if let Some(c) = &access.context {
            cmd.arg("--kube-context").arg(c);
        }
        cmd
    }

    /// `helm upgrade --install` with the values in a private file.
    pub async fn upgrade(
        &self,
        up: &Upgrade<'_>,
        access: &HelmKubeAccess,
    ) -> Result<(), KubeError> {
        let dir = tempfile::Builder::new()
            .prefix("stackplan-helm-")
            .tempdir()
            .map_err(|e| KubeError::io("creating a temporary directory for helm values", e))?;
        let values_path = dir.path().join("values.yaml");
        write_private(&values_path, up.values)?;

        let mut cmd = self.base(access);
        cmd.args(["upgrade", "--install", up.release]);
        let shown_chart = match up.chart {
            ChartSource::Repository { url, name, version } => {
                cmd.arg(name).arg("--repo").arg(url);
                if let Some(v) = version {
                    cmd.arg("--version").arg(v);
                }
                format!("{name} from {url}")
            }
            ChartSource::Path(p) => {
                cmd.arg(p);
                p.clone()
            }
            ChartSource::Oci { reference, version } => {
                cmd.arg(reference);
                if let Some(v) = version {
                    cmd.arg("--version").arg(v);
                }
                reference.clone()
            }
        };
        cmd.args(["--namespace", up.namespace, "--timeout", TIMEOUT]);
        cmd.arg("--values").arg(&values_path);
        cmd.args(self.rollback_and_wait(up.wait));
        let command = format!(
            "helm upgrade --install {} {shown_chart} --namespace {}",
            up.release, up.namespace
        );
        let result = run(cmd, &command, up.secrets).await;
        // Explicit, so the file is gone before the result is looked at.
        drop(dir);
        result
    }

    /// Rolling back a failed upgrade and waiting, per major version.
    ///
    /// helm 3: `--atomic` rolls back, and turns `--wait` on by itself; so
    /// when the stack turns waiting off there is no `--atomic` either
    /// (nothing could tell a failure apart without waiting).
    /// helm 4: `--rollback-on-failure` rolls back and defaults `--wait` to
    /// `watcher`; waiting off is `--wait=hookOnly`, helm 4's own default.
    fn rollback_and_wait(&self, wait: bool) -> Vec<&'static str> {
        match (self.version.0 >= 4, wait) {
            (true, true) => vec!["--rollback-on-failure", "--wait=watcher"],
            (true, false) => vec!["--rollback-on-failure", "--wait=hookOnly"],
            (false, true) => vec!["--atomic", "--wait"],
            (false, false) => vec![],
        }
    }

    /// `helm rollback` to the previous revision: how a release left
    /// `pending-upgrade` by an interrupted run is made upgradable again.
    pub async fn rollback(
        &self,
        release: &str,
        namespace: &str,
        access: &HelmKubeAccess,
    ) -> Result<(), KubeError> {
        let mut cmd = self.base(access);
        cmd.args([
            "rollback",
            release,
            "--namespace",
            namespace,
            "--timeout",
            TIMEOUT,
        ]);
        run(
            cmd,
            &format!("helm rollback {release} --namespace {namespace}"),
            &[],
        )
        .await
    }

    /// `helm uninstall`; a release already gone is success.
    pub async fn uninstall(
        &self,
        release: &str,
        namespace: &str,
        wait: bool,
        access: &HelmKubeAccess,
    ) -> Result<(), KubeError> {
        let mut cmd = self.base(access);
        cmd.args([
            "uninstall",
            release,
            "--namespace",
            namespace,
            "--timeout",
            TIMEOUT,
        ]);
        if wait {
            cmd.arg(if self.version.0 >= 4 {
                "--wait=watcher"
            } else {
                "--wait"
            });
        }
        let command = format!("helm uninstall {release} --namespace {namespace}");
        match run(cmd, &command, &[]).await {
            Err(KubeError::HelmFailed { stderr, .. }) if stderr.contains("not found") => Ok(()),
            other => other,
        }
    }
}

/// Writes `values` as the values file, readable by this user only.
pub(crate) fn write_private(path: &Path, values: &Json) -> Result<(), KubeError> {
    // JSON is YAML: helm reads it as a values file, and no YAML typing
    // rule can turn a string such as "443" or "true" into something else.
    let text = serde_json::to_vec_pretty(values).expect("JSON values serialize");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| KubeError::io("writing the helm values file", e))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|e| KubeError::io("writing the helm values file", e))
}

async fn run(cmd: Command, shown: &str, secrets: &[String]) -> Result<(), KubeError> {
    output(cmd, shown, secrets).await.map(drop)
}

/// Runs a helm command and returns its stdout, or its error output (its
/// stdout when stderr is empty) scrubbed of every secret.
pub(crate) async fn output(
    mut cmd: Command,
    shown: &str,
    secrets: &[String],
) -> Result<String, KubeError> {
    let out = cmd
        .output()
        .await
        .map_err(|e| KubeError::io(format!("running `{shown}`"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        stderr = stderr.replace(secret.as_str(), "(sensitive)");
    }
    // helm talks to the same API server with the same principal: a refusal
    // there has the same cause and the same remedy as the provider's own.
    if stderr.contains("Unauthorized")
        || stderr.contains("the server has asked for the client to provide credentials")
    {
        stderr.push_str(
            "\n(401: the AWS principal running stackplan has no access entry on the cluster; grant it one with [[eks.access]])",
        );
    } else if stderr.contains("is forbidden") {
        stderr.push_str(
            "\n(403: the principal's access entry does not allow this; give its [[eks.access]] entry a broader policy)",
        );
    }
    Err(KubeError::HelmFailed {
        command: shown.to_string(),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_helm_3_and_4_parse() {
        assert_eq!(parse_version("v3.18.0+gcc58e3f\n"), Some((3, 18, 0)));
        assert_eq!(parse_version("v4.1.4+g05fa379"), Some((4, 1, 4)));
        assert_eq!(parse_version("v3.7"), Some((3, 7, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn values_file_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("values.yaml");
        write_private(&p, &serde_json::json!({"a": "443"})).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back: Json = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(back, serde_json::json!({"a": "443"}));
    }

    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("helm");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    /// A stand-in helm that records its arguments, and the mode and content
    /// of the values file it was given, then fails like helm does.
    #[tokio::test]
    async fn secrets_reach_only_a_private_values_file_that_is_removed_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path();
        let fake = script(
            log,
            &format!(
                r#"echo "$@" > {log}/args
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--values" ]; then
    echo "$2" > {log}/path; stat -c %a "$2" > {log}/mode; cp "$2" {log}/content
  fi
  shift
done
echo "Error: template failed near kafka-s3cret" >&2
exit 1"#,
                log = log.display()
            ),
        );
        let helm = Helm {
            path: fake,
            version: (4, 1, 4),
        };
        let values = serde_json::json!({"externalKafka": {"sasl": {"password": "kafka-s3cret"}}});
        let err = helm
            .upgrade(
                &Upgrade {
                    release: "demo",
                    namespace: "milvus",
                    chart: &ChartSource::Repository {
                        url: "https://zilliztech.github.io/milvus-helm/".into(),
                        name: "milvus".into(),
                        version: Some("4.2.8".into()),
                    },
                    values: &values,
                    wait: true,
                    secrets: &["kafka-s3cret".to_string()],
                },
                &HelmKubeAccess::default(),
            )
            .await
            .unwrap_err();
        let read = |name: &str| std::fs::read_to_string(log.join(name)).unwrap();
        let args = read("args");
        assert!(!args.contains("kafka-s3cret"), "{args}");
        assert!(
            args.starts_with(
                "upgrade --install demo milvus --repo https://zilliztech.github.io/milvus-helm/ --version 4.2.8 --namespace milvus"
            ),
            "{args}"
        );
        assert!(
            args.contains("--rollback-on-failure --wait=watcher"),
            "{args}"
        );
        assert_eq!(read("mode").trim(), "600");
        assert!(read("content").contains("kafka-s3cret"));
        assert!(
            !Path::new(read("path").trim()).exists(),
            "the values file is left behind"
        );
        let msg = err.to_string();
        assert!(msg.contains("template failed near (sensitive)"), "{msg}");
        assert!(!msg.contains("kafka-s3cret"), "{msg}");
    }

    /// The arguments a stand-in helm receives for `chart` on helm `major`.
    async fn args_for(chart: ChartSource, major: u32, wait: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("args");
        let fake = script(dir.path(), &format!(r#"echo "$@" > {}"#, log.display()));
        let helm = Helm {
            path: fake,
            version: (major, 0, 0),
        };
        let access = HelmKubeAccess {
            kubeconfig: Some(PathBuf::from("/k/config")),
            context: Some("ctx".into()),
        };
        let up = Upgrade {
            release: "demo",
            namespace: "milvus",
            chart: &chart,
            values: &serde_json::json!({}),
            wait,
            secrets: &[],
        };
        helm.upgrade(&up, &access).await.unwrap();
        let args = std::fs::read_to_string(log).unwrap();
        // The values file's name is random.
        let (before, after) = args.trim().split_once("--values ").unwrap();
        let after = after.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
        format!("{before}--values FILE {after}").trim().to_string()
    }

    #[tokio::test]
    async fn every_chart_source_becomes_helms_own_arguments() {
        let oci = ChartSource::Oci {
            reference: "oci://registry.example/charts/milvus".into(),
            version: Some("4.2.8".into()),
        };
        assert_eq!(
            args_for(oci, 4, true).await,
            "--kubeconfig /k/config --kube-context ctx upgrade --install demo \
             oci://registry.example/charts/milvus --version 4.2.8 --namespace milvus \
             --timeout 10m --values FILE --rollback-on-failure --wait=watcher"
        );
        let path = ChartSource::Path("./charts/milvus".into());
        assert_eq!(
            args_for(path, 3, false).await,
            "--kubeconfig /k/config --kube-context ctx upgrade --install demo \
             ./charts/milvus --namespace milvus --timeout 10m --values FILE"
        );
    }

    #[test]
    fn helm_3_without_waiting_drops_atomic_which_would_wait() {
        let v3 = Helm {
            path: PathBuf::from("helm"),
            version: (3, 18, 0),
        };
        assert_eq!(v3.rollback_and_wait(true), ["--atomic", "--wait"]);
        assert!(v3.rollback_and_wait(false).is_empty());
        let v4 = Helm {
            path: PathBuf::from("helm"),
            version: (4, 1, 4),
        };
        assert_eq!(
            v4.rollback_and_wait(false),
            ["--rollback-on-failure", "--wait=hookOnly"]
        );
    }

    #[tokio::test]
    async fn helm_older_than_3_8_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let fake = script(dir.path(), "echo v3.7.2+g663a896");
        let err = Helm::at(fake).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("v3.7.2") && msg.contains("3.8 or newer"),
            "{msg}"
        );
    }
}
