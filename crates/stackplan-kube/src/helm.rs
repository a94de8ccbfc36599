//! Running the helm binary: finding it, checking its version, and the
//! commands apply needs (`upgrade --install`, `rollback`, `uninstall`).
//!
//! Every helm child is made by `process.rs`: an allowlisted environment, its
//! own process group, killed with stackplan. Values reach helm on its stdin
//! (`--values -`) and nowhere else: never in a file, which a killed run
//! would leave behind; never on a command line (which `ps` shows); never in
//! a message: helm's own error output is scrubbed of every secret before it
//! is returned.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;
use serde_json::Value as Json;
use tokio::process::Command;

use crate::KubeError;
use crate::process::{self, EnvRules};

/// The oldest helm stackplan drives: 3.8 made OCI registries generally
/// available, and every flag used here exists since (`--values -` too).
const MINIMUM: (u32, u32) = (3, 8);

/// How long helm may take to roll back or uninstall a release (its
/// `--timeout`); an upgrade takes the release's own `timeout`.
const TIMEOUT: &str = "10m";

/// A helm binary that answered `helm version` with a usable version.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    /// `(major, minor, patch)`.
    pub version: (u32, u32, u32),
    parent_env: ParentEnv,
}

/// The environment helm children are filtered from (`process::child_env`).
#[derive(Clone, Default)]
enum ParentEnv {
    /// stackplan's own, read for each command.
    #[default]
    Process,
    /// A fixed one, for tests: the process environment is shared by the
    /// tests running beside them.
    #[cfg(test)]
    Fixed(Vec<(OsString, OsString)>),
}

impl ParentEnv {
    fn vars(&self) -> Vec<(OsString, OsString)> {
        match self {
            ParentEnv::Process => std::env::vars_os().collect(),
            #[cfg(test)]
            ParentEnv::Fixed(vars) => vars.clone(),
        }
    }
}

impl std::fmt::Debug for ParentEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values may be secrets: never formatted.
        match self {
            ParentEnv::Process => f.write_str("Process"),
            #[cfg(test)]
            ParentEnv::Fixed(vars) => write!(f, "Fixed({} variables)", vars.len()),
        }
    }
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
    /// The values with secrets resolved: go to helm's stdin only.
    pub values: &'a Json,
    pub wait: bool,
    /// helm's `--timeout` for the upgrade and its wait: `"10m"`.
    pub timeout: &'a str,
    /// Plaintexts to scrub from helm's error output, and whose holders in
    /// the environment helm does not get.
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
        let mut helm = Helm {
            path,
            version: (0, 0, 0),
            parent_env: ParentEnv::Process,
        };
        let mut cmd = helm.command(None, &[]);
        cmd.args(["version", "--short"]);
        let out = process::run(cmd, None)
            .await
            .map_err(|_| KubeError::HelmMissing {
                looked: helm.path.display().to_string(),
            })?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let version = parse_version(&text).ok_or_else(|| KubeError::HelmTooOld {
            path: helm.path.clone(),
            version: format!("unknown (`helm version --short` said {:?})", text.trim()),
        })?;
        if (version.0, version.1) < MINIMUM {
            return Err(KubeError::HelmTooOld {
                path: helm.path,
                version: text.trim().to_string(),
            });
        }
        helm.version = version;
        Ok(helm)
    }

    /// The same helm, its children's environment taken from `vars`
    /// instead of the process's.
    #[cfg(test)]
    pub(crate) fn with_parent_env<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        self.parent_env = ParentEnv::Fixed(vars.collect());
        self
    }

    /// A helm command made by `process.rs`. `access`: the cluster it talks
    /// to, `None` for the chart commands, which talk to none. `secrets`:
    /// plaintexts no variable handed to it may hold.
    pub(crate) fn command(&self, access: Option<&HelmKubeAccess>, secrets: &[String]) -> Command {
        let parent = self.parent_env.vars();
        let rules = EnvRules {
            aws: access.is_some_and(|a| kubeconfig_runs_exec(a, &parent)),
            deny_values: secrets.to_vec(),
            ..EnvRules::default()
        };
        let mut cmd = process::helm_command(&self.path, process::child_env(parent, &rules));
        if let Some(access) = access {
            if let Some(k) = &access.kubeconfig {
                cmd.arg("--kubeconfig").arg(k);
            }
            if let Some(c) = &access.context {
                cmd.arg("--kube-context").arg(c);
            }
        }
        cmd
    }

    /// `helm upgrade --install` with the values on its stdin.
    pub async fn upgrade(
        &self,
        up: &Upgrade<'_>,
        access: &HelmKubeAccess,
    ) -> Result<(), KubeError> {
        // Known to the run from now on: no later helm child gets a
        // variable holding one, whatever it runs.
        process::deny_env_values(up.secrets.iter().cloned());
        let mut cmd = self.command(Some(access), up.secrets);
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
        cmd.args(["--namespace", up.namespace, "--timeout", up.timeout]);
        cmd.args(["--values", "-"]);
        cmd.args(self.rollback_and_wait(up.wait));
        let command = format!(
            "helm upgrade --install {} {shown_chart} --namespace {}",
            up.release, up.namespace
        );
        let values = values_text(up.values);
        output(cmd, &command, up.secrets, Some(&values))
            .await
            .map(drop)
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
        let mut cmd = self.command(Some(access), &[]);
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
        let mut cmd = self.command(Some(access), &[]);
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

/// `values` as helm reads them from `--values -`.
pub(crate) fn values_text(values: &Json) -> Vec<u8> {
    // JSON is YAML: helm reads it as a values file, and no YAML typing
    // rule can turn a string such as "443" or "true" into something else.
    serde_json::to_vec_pretty(values).expect("JSON values serialize")
}

/// Whether the kubeconfig helm reads for `access` (as helm finds it: the
/// `--kubeconfig` file, else the parent's `KUBECONFIG` list, else
/// `~/.kube/config`) runs an `exec` plugin for the user of the context
/// helm uses: only then does helm need `AWS_*` (`aws eks get-token` signs
/// with the caller's identity). A kubeconfig that cannot be read gets
/// none: helm fails on it with its own message.
fn kubeconfig_runs_exec(access: &HelmKubeAccess, parent: &[(OsString, OsString)]) -> bool {
    let var = |name: &str| {
        parent
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let paths: Vec<PathBuf> = match (&access.kubeconfig, var("KUBECONFIG")) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(list)) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        (None, None) => var("HOME")
            .map(|home| vec![Path::new(&home).join(".kube/config")])
            .unwrap_or_default(),
    };
    // Merged as helm merges a list: the first file to name a context or a
    // user wins.
    let Ok(config) = paths
        .iter()
        .try_fold(Kubeconfig::default(), |merged, path| {
            Kubeconfig::read_from(path).and_then(|next| merged.merge(next))
        })
    else {
        return false;
    };
    let runs_exec = |name: &str| {
        config
            .auth_infos
            .iter()
            .find(|u| u.name == name)
            .and_then(|u| u.auth_info.as_ref())
            .is_some_and(|a| a.exec.is_some())
    };
    let user = access
        .context
        .as_ref()
        .or(config.current_context.as_ref())
        .and_then(|name| config.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.as_deref());
    match user {
        Some(user) => runs_exec(user),
        // helm cannot tell which user either: grant what any may need.
        None => config.auth_infos.iter().any(|u| runs_exec(&u.name)),
    }
}

async fn run(cmd: Command, shown: &str, secrets: &[String]) -> Result<(), KubeError> {
    output(cmd, shown, secrets, None).await.map(drop)
}

/// Runs a helm command made by [`Helm::command`], with `input` on its
/// stdin, and returns its stdout, or its error output (its stdout when
/// stderr is empty) scrubbed of every secret.
pub(crate) async fn output(
    cmd: Command,
    shown: &str,
    secrets: &[String],
    input: Option<&[u8]>,
) -> Result<String, KubeError> {
    let out = process::run(cmd, input)
        .await
        .map_err(|e| KubeError::io(format!("running `{shown}`"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    if stderr.is_empty() {
        // Killed (a second Ctrl-C, the OOM killer): say so, not nothing.
        stderr = format!("helm ended with no output ({})", out.status);
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
    use std::collections::BTreeSet;

    use super::*;
    use crate::chart::{ChartCache, Template};

    #[test]
    fn versions_of_helm_3_and_4_parse() {
        assert_eq!(parse_version("v3.18.0+gcc58e3f\n"), Some((3, 18, 0)));
        assert_eq!(parse_version("v4.1.4+g05fa379"), Some((4, 1, 4)));
        assert_eq!(parse_version("v3.7"), Some((3, 7, 0)));
        assert_eq!(parse_version("garbage"), None);
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

    fn fake_helm(path: PathBuf, version: (u32, u32, u32)) -> Helm {
        Helm {
            path,
            version,
            parent_env: ParentEnv::Process,
        }
    }

    fn milvus_repo() -> ChartSource {
        ChartSource::Repository {
            url: "https://zilliztech.github.io/milvus-helm/".into(),
            name: "milvus".into(),
            version: Some("4.2.8".into()),
        }
    }

    /// A stand-in helm that records its arguments, what its stdin is and
    /// what came on it, and every argument naming a file that holds the
    /// secret; then fails like helm does, quoting the secret.
    #[tokio::test]
    async fn secrets_reach_helm_only_on_its_stdin_never_in_a_file_or_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path();
        let fake = script(
            log,
            &format!(
                r#"echo "$@" > {log}/args
readlink /proc/$$/fd/0 > {log}/stdin-is
for a in "$@"; do
  if [ -f "$a" ] && grep -q kafka-s3cret "$a"; then echo "$a" >> {log}/files-with-secret; fi
done
cat > {log}/stdin
echo "Error: template failed near kafka-s3cret" >&2
exit 1"#,
                log = log.display()
            ),
        );
        let helm = fake_helm(fake, (4, 1, 4));
        let values = serde_json::json!({"externalKafka": {"sasl": {"password": "kafka-s3cret"}}});
        let err = helm
            .upgrade(
                &Upgrade {
                    release: "demo",
                    namespace: "milvus",
                    chart: &milvus_repo(),
                    values: &values,
                    wait: true,
                    timeout: "10m",
                    secrets: &["kafka-s3cret".to_string()],
                },
                &HelmKubeAccess::default(),
            )
            .await
            .unwrap_err();
        let read = |name: &str| std::fs::read_to_string(log.join(name)).unwrap_or_default();
        let args = read("args");
        assert!(!args.contains("kafka-s3cret"), "{args}");
        assert!(
            args.starts_with(
                "upgrade --install demo milvus --repo https://zilliztech.github.io/milvus-helm/ --version 4.2.8 --namespace milvus"
            ),
            "{args}"
        );
        // The values' only source is stdin: no file was named to helm.
        assert!(args.contains(" --values - "), "{args}");
        assert_eq!(args.matches("--values").count(), 1, "{args}");
        assert_eq!(read("files-with-secret"), "", "a file holds the secret");
        assert!(
            args.contains("--rollback-on-failure --wait=watcher"),
            "{args}"
        );
        // A pipe from stackplan: nothing on disk, nothing another process
        // could open, and gone with the two ends.
        #[cfg(target_os = "linux")]
        assert!(
            read("stdin-is").starts_with("pipe:"),
            "stdin is {}",
            read("stdin-is")
        );
        let got: Json = serde_json::from_str(&read("stdin")).unwrap();
        assert_eq!(got, values);
        let msg = err.to_string();
        assert!(msg.contains("template failed near (sensitive)"), "{msg}");
        assert!(!msg.contains("kafka-s3cret"), "{msg}");
    }

    /// The variable names a stand-in helm found in its environment, by
    /// subcommand, and their whole text.
    fn env_dump(log: &Path, sub: &str) -> (BTreeSet<String>, String) {
        let text = std::fs::read_to_string(log.join(format!("env-{sub}")))
            .unwrap_or_else(|_| panic!("helm {sub} never ran"));
        let names = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
            // What sh itself exports.
            .filter(|k| !matches!(k.as_str(), "PWD" | "OLDPWD" | "SHLVL" | "_"))
            .collect();
        (names, text)
    }

    fn env_dumping_helm(log: &Path) -> PathBuf {
        script(
            log,
            &format!(
                r#"for a in "$@"; do case "$a" in upgrade|show|template|rollback) sub=$a; break;; esac; done
env > {log}/env-$sub
cat > /dev/null"#,
                log = log.display()
            ),
        )
    }

    /// helm, its plugins and the chart's hooks get the allowlist of
    /// stackplan's environment: not the `env:` secret sources, not a
    /// variable holding a secret (the upgrade's own, and those the chart
    /// commands after it learnt from it), not AWS credentials, nothing
    /// else.
    #[tokio::test]
    async fn helm_children_get_only_the_allowlisted_environment_never_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path();
        // Named by the stack as `env:` sources, as the CLI registers them.
        process::deny_env_names(["MSK_SCRAM_PASSWORD", "HELM_SOURCE_HELMRS"]);
        let parent = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/nonexistent/home"),
            ("HELM_DEBUG", "1"),
            ("LANG", "C.UTF-8"),
            ("XDG_CACHE_HOME", "/nonexistent/cache"),
            ("TMPDIR", "/nonexistent/tmp"),
            ("MSK_SCRAM_PASSWORD", "kafka-s3cret"),
            // Allowlisted names, but one holds the secret and one is a source.
            ("HELM_KAFKA_PASSWORD_HELMRS", "kafka-s3cret"),
            ("HELM_SOURCE_HELMRS", "source-s3cret"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("GITHUB_TOKEN", "ghp_example"),
            ("STACKPLAN_CHART_CACHE", "/nonexistent/charts"),
        ];
        let helm = fake_helm(env_dumping_helm(log), (4, 1, 4)).with_parent_env(parent);
        let values = serde_json::json!({"externalKafka": {"sasl": {"password": "kafka-s3cret"}}});
        helm.upgrade(
            &Upgrade {
                release: "demo",
                namespace: "milvus",
                chart: &milvus_repo(),
                values: &values,
                wait: true,
                timeout: "10m",
                secrets: &["kafka-s3cret".to_string()],
            },
            &HelmKubeAccess::default(),
        )
        .await
        .unwrap();
        let chart = ChartSource::Path("/nonexistent/chart".into());
        helm.fetch_chart(&chart, &ChartCache::at(log.join("cache")))
            .await
            .unwrap();
        helm.template(&Template {
            release: "demo",
            namespace: "milvus",
            chart: Path::new("/nonexistent/chart"),
            values: &serde_json::json!({}),
            kube_version: Some("1.30"),
        })
        .await
        .unwrap();

        let allowed: BTreeSet<String> = [
            "HELM_DEBUG",
            "HOME",
            "LANG",
            "PATH",
            "TMPDIR",
            "XDG_CACHE_HOME",
        ]
        .map(String::from)
        .into();
        for sub in ["upgrade", "show", "template"] {
            let (names, text) = env_dump(log, sub);
            assert_eq!(names, allowed, "helm {sub} got:\n{text}");
            for secret in ["kafka-s3cret", "source-s3cret", "AKIAIOSFODNN7EXAMPLE"] {
                assert!(!text.contains(secret), "helm {sub} got {secret}:\n{text}");
            }
        }
    }

    const EXEC_KUBECONFIG: &str = r#"{
      "apiVersion": "v1", "kind": "Config", "current-context": "eks",
      "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
      "users": [
        {"name": "aws", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
          "command": "aws", "args": ["eks", "get-token", "--cluster-name", "demo"]}}},
        {"name": "bearer", "user": {"token": "t"}}
      ],
      "contexts": [
        {"name": "eks", "context": {"cluster": "c", "user": "aws"}},
        {"name": "plain", "context": {"cluster": "c", "user": "bearer"}}
      ]
    }"#;

    /// `AWS_*` reach a helm that talks to a cluster through a kubeconfig
    /// `exec` plugin (which signs with them), and no other helm.
    #[tokio::test]
    async fn aws_variables_reach_only_a_cluster_command_whose_kubeconfig_runs_exec() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path();
        let kubeconfig = log.join("kubeconfig");
        std::fs::write(&kubeconfig, EXEC_KUBECONFIG).unwrap();
        let parent = [
            ("PATH", "/usr/bin:/bin"),
            ("AWS_PROFILE", "ops"),
            ("AWS_REGION", "us-west-2"),
        ];
        let helm = fake_helm(env_dumping_helm(log), (4, 1, 4)).with_parent_env(parent);
        let exec = HelmKubeAccess {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
        };
        helm.rollback("demo", "milvus", &exec).await.unwrap();
        let (names, text) = env_dump(log, "rollback");
        assert!(
            names.contains("AWS_PROFILE") && names.contains("AWS_REGION"),
            "{text}"
        );
        let chart = ChartSource::Path("/nonexistent/chart".into());
        helm.fetch_chart(&chart, &ChartCache::at(log.join("cache")))
            .await
            .unwrap();
        let (names, text) = env_dump(log, "show");
        assert!(!names.iter().any(|n| n.starts_with("AWS_")), "{text}");

        let bearer = HelmKubeAccess {
            kubeconfig: Some(kubeconfig),
            context: Some("plain".into()),
        };
        helm.rollback("demo", "milvus", &bearer).await.unwrap();
        let (names, text) = env_dump(log, "rollback");
        assert!(!names.iter().any(|n| n.starts_with("AWS_")), "{text}");
    }

    #[test]
    fn the_exec_plugin_is_looked_for_where_helm_finds_its_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let kube = dir.path().join(".kube");
        std::fs::create_dir(&kube).unwrap();
        std::fs::write(kube.join("config"), EXEC_KUBECONFIG).unwrap();
        let home = [("HOME", dir.path().as_os_str().to_owned())].map(|(k, v)| (k.into(), v));
        let default = HelmKubeAccess::default();
        assert!(kubeconfig_runs_exec(&default, &home));
        let plain = HelmKubeAccess {
            kubeconfig: None,
            context: Some("plain".into()),
        };
        assert!(!kubeconfig_runs_exec(&plain, &home));
        // KUBECONFIG wins over ~/.kube/config, as for helm.
        let other = dir.path().join("other");
        std::fs::write(
            &other,
            EXEC_KUBECONFIG.replace(
                "\"current-context\": \"eks\"",
                "\"current-context\": \"plain\"",
            ),
        )
        .unwrap();
        let mut both = home.to_vec();
        both.push(("KUBECONFIG".into(), other.into_os_string()));
        assert!(!kubeconfig_runs_exec(&default, &both));
        // None readable: nothing to run.
        assert!(!kubeconfig_runs_exec(&default, &[]));
    }

    /// The arguments a stand-in helm receives for `chart` on helm `major`.
    async fn args_for(chart: ChartSource, major: u32, wait: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("args");
        let fake = script(dir.path(), &format!(r#"echo "$@" > {}"#, log.display()));
        let helm = fake_helm(fake, (major, 0, 0));
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
            timeout: "10m",
            secrets: &[],
        };
        helm.upgrade(&up, &access).await.unwrap();
        std::fs::read_to_string(log).unwrap().trim().to_string()
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
             --timeout 10m --values - --rollback-on-failure --wait=watcher"
        );
        let path = ChartSource::Path("./charts/milvus".into());
        assert_eq!(
            args_for(path, 3, false).await,
            "--kubeconfig /k/config --kube-context ctx upgrade --install demo \
             ./charts/milvus --namespace milvus --timeout 10m --values -"
        );
    }

    #[test]
    fn helm_3_without_waiting_drops_atomic_which_would_wait() {
        let v3 = fake_helm(PathBuf::from("helm"), (3, 18, 0));
        assert_eq!(v3.rollback_and_wait(true), ["--atomic", "--wait"]);
        assert!(v3.rollback_and_wait(false).is_empty());
        let v4 = fake_helm(PathBuf::from("helm"), (4, 1, 4));
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
