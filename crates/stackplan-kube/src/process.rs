//! The one place that makes helm child processes. Every helm stackplan
//! runs (`version`, `show`, `template`, `pull`, `upgrade`, `rollback`,
//! `uninstall`) is built by [`helm_command`] and run by [`run`], under
//! three rules.
//!
//! **The environment is an allowlist.** A child starts from an empty
//! environment and gets only these of stackplan's variables, because
//! stackplan's environment holds secrets (`env:NAME` secret sources such as
//! `MSK_SCRAM_PASSWORD`, AWS credentials) that helm, its plugins and a
//! chart's hooks have no use for:
//!
//! - `PATH` (helm's plugins, a kubeconfig's `exec` command) and `HOME`
//!   (helm's and the kubeconfig's default places);
//! - `KUBECONFIG` (the cluster, when helm is given no `--kubeconfig`);
//! - `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` and their lower-case forms,
//!   with `SSL_CERT_FILE` and `SSL_CERT_DIR` (Go reads both: a proxy that
//!   intercepts TLS is of no use without its CA);
//! - `HELM_*` (helm's own settings: cache, config and data dirs, registry
//!   config, storage driver, debug);
//! - `LANG`, `LC_*`, `TMPDIR`, and `XDG_CACHE_HOME`, `XDG_CONFIG_HOME`,
//!   `XDG_DATA_HOME` (where helm keeps its repositories and registry logins
//!   when no `HELM_*` moves them);
//! - `AWS_*` only when [`EnvRules::aws`] says so: for a command that talks
//!   to a cluster whose kubeconfig user runs an `exec` plugin (`aws eks
//!   get-token` needs the profile, region and credentials). stackplan's own
//!   EKS access hands helm a kubeconfig with a bearer token it signed
//!   itself (`target.rs`, `token.rs`), and the chart commands talk to no
//!   cluster, so neither gets an AWS credential.
//!
//! Over the allowlist, a deny-list: a variable named by an `env:` secret
//! source ([`deny_env_names`], [`deny_env_sources`], [`EnvRules::deny_names`])
//! or whose value equals a secret the run knows ([`EnvRules::deny_values`],
//! and every secret an earlier command was given: [`deny_env_values`])
//! never passes, whatever its name.
//!
//! **A child never outlives stackplan.** It runs in its own process group,
//! so the terminal's Ctrl-C (sent to the foreground group) reaches
//! stackplan alone: the first asks apply to let the work in flight finish,
//! helm included, rather than interrupting helm mid-release. On Linux the
//! child asks the kernel for `SIGKILL` when stackplan dies
//! (`PR_SET_PDEATHSIG`), which holds for `kill -9` too, where no code of
//! stackplan's runs. A run dropped before it ends (a cancelled future)
//! kills the child's whole group; and every live group is in a
//! process-wide registry that [`kill_all`] empties, for a second Ctrl-C
//! that exits without running destructors.
//!
//! The death signal is sent when the *thread* that forked the child ends,
//! not the process: spawn helm from a thread that lives as long as the
//! run (a tokio worker or the runtime's own thread), never from
//! `spawn_blocking`, whose threads end when idle.
//!
//! **Input goes on stdin.** What helm must read (the values, plaintext
//! secrets included) is written to its stdin (`--values -`, which helm 3
//! and 4 read), so no copy of it is ever on disk.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use stackplan_core::{Resource, SecretSource, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Variables passed by exact name.
const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "KUBECONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "LANG",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
];

/// Variables passed by prefix.
const ALLOWED_PREFIXES: &[&str] = &["HELM_", "LC_"];

/// What one child may get beyond the allowlist, and what it must not.
#[derive(Clone, Default)]
pub struct EnvRules {
    /// Pass `AWS_*`: the command reaches a cluster through a kubeconfig
    /// `exec` plugin that signs with the caller's AWS identity.
    pub aws: bool,
    /// Names that never pass: the `env:` secret sources. Added to those
    /// registered process-wide with [`deny_env_names`].
    pub deny_names: BTreeSet<String>,
    /// Plaintext secrets: a variable holding one never passes. Added to
    /// those registered process-wide with [`deny_env_values`].
    pub deny_values: Vec<String>,
}

impl fmt::Debug for EnvRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The denied values are plaintext secrets: counted, never shown.
        f.debug_struct("EnvRules")
            .field("aws", &self.aws)
            .field("deny_names", &self.deny_names)
            .field("deny_values", &self.deny_values.len())
            .finish()
    }
}

fn allowed(name: &str, aws: bool) -> bool {
    ALLOWED.contains(&name)
        || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
        || (aws && name.starts_with("AWS_"))
}

/// The environment a helm child gets from `parent` (production passes
/// `std::env::vars_os()`): the allowlist, less every denied name and every
/// variable whose value is a denied secret. Sorted by name.
pub fn child_env<I, K, V>(parent: I, rules: &EnvRules) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let registered = registered_names();
    let known = registered_values();
    let secrets: Vec<&[u8]> = rules
        .deny_values
        .iter()
        .chain(&known)
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes())
        .collect();
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(name, value)| {
            // A name that is not UTF-8 is none of the allowed ones.
            let Some(name) = name.to_str() else {
                return false;
            };
            allowed(name, rules.aws)
                && !rules.deny_names.contains(name)
                && !registered.contains(name)
                && !secrets.contains(&os_bytes(value))
        })
        .collect();
    env.sort();
    env
}

#[cfg(unix)]
fn os_bytes(s: &OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes()
}

#[cfg(not(unix))]
fn os_bytes(s: &OsStr) -> &[u8] {
    s.as_encoded_bytes()
}

/// Names of `env:` secret sources, denied to every helm child of this
/// process from now on.
static DENIED_NAMES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both registries stay consistent whatever panicked while holding them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn registered_names() -> BTreeSet<String> {
    lock(&DENIED_NAMES).clone()
}

/// Secrets this process has handed to a helm child: no later child gets a
/// variable holding one.
static DENIED_VALUES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn registered_values() -> BTreeSet<String> {
    lock(&DENIED_VALUES).clone()
}

/// Denies every variable whose value is one of these secrets to every helm
/// child of this process from now on.
pub fn deny_env_values<I, S>(secrets: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let secrets = secrets
        .into_iter()
        .map(Into::into)
        .filter(|s| !s.is_empty());
    lock(&DENIED_VALUES).extend(secrets);
}

/// Denies these variable names to every helm child of this process,
/// whatever the allowlist says: the `env:` secret sources, registered by
/// whatever learns them (the CLI when it loads the stack).
pub fn deny_env_names<I, S>(names: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    lock(&DENIED_NAMES).extend(names.into_iter().map(Into::into));
}

/// [`deny_env_names`] for every `env:` secret source in `resources`.
pub fn deny_env_sources<'a>(resources: impl IntoIterator<Item = &'a Resource>) {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Secret(SecretSource::Env(name)) => out.push(name.clone()),
            Value::Sensitive(inner) => walk(inner, out),
            Value::List(items) | Value::Concat(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Map(m) => m.values().for_each(|i| walk(i, out)),
            Value::DynMap(pairs) => pairs.iter().for_each(|(k, v)| {
                walk(k, out);
                walk(v, out);
            }),
            _ => {}
        }
    }
    let mut names = Vec::new();
    for r in resources {
        r.attrs.values().for_each(|v| walk(v, &mut names));
    }
    deny_env_names(names);
}

/// A helm command with exactly `env` as its environment, in its own
/// process group, killed with stackplan (see the module's rules).
pub(crate) fn helm_command(program: &Path, env: Vec<(OsString, OsString)>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(&mut cmd);
    cmd
}

/// `PR_SET_PDEATHSIG(SIGKILL)` in the child, between fork and exec: the
/// setting survives exec (helm is no set-user-ID program).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX);
    let hook = move || {
        // SAFETY: prctl(2) and getppid(2) are plain system calls, safe
        // between fork and exec: they neither allocate nor take a lock.
        let (set, ppid) = unsafe {
            (
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ),
                libc::getppid(),
            )
        };
        if set != 0 {
            return Err(io::Error::last_os_error());
        }
        // stackplan died between fork and prctl: the signal it asked for
        // will never come, so do not start at all.
        if ppid != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook makes only async-signal-safe calls (above) and
    // touches no state of the parent's but a copied pid.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Process groups of the helm children alive now (each child leads its own).
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// One child's group in the registry, from spawn until it is reaped; a
/// group dropped before then (its run cancelled) is killed.
struct LiveGroup {
    id: i32,
    exited: bool,
}

impl LiveGroup {
    fn register(pid: u32) -> Option<LiveGroup> {
        let id = i32::try_from(pid).ok()?;
        lock(&LIVE_GROUPS).insert(id);
        Some(LiveGroup { id, exited: false })
    }
}

impl Drop for LiveGroup {
    fn drop(&mut self) {
        let mut live = lock(&LIVE_GROUPS);
        live.remove(&self.id);
        if !self.exited {
            // The leader is not reaped yet (its run was dropped while it
            // ran), so the group id is still its own. kill_on_drop stops
            // the leader only; this stops what it started too.
            kill_group(self.id);
        }
    }
}

/// The process groups of the helm children alive now.
pub fn live_groups() -> Vec<i32> {
    lock(&LIVE_GROUPS).iter().copied().collect()
}

/// Sends `SIGKILL` to every live helm child's process group and returns
/// how many there were: for leaving at once (a second Ctrl-C), when no
/// destructor will run. A release left `pending-*` by a killed upgrade is
/// recovered by the next apply.
pub fn kill_all() -> usize {
    // Held while killing, so no group registers in between and is missed.
    let live = lock(&LIVE_GROUPS);
    for id in live.iter() {
        kill_group(*id);
    }
    live.len()
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn kill_group(id: i32) {
    if id <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours;
    // a negative pid addresses the process group.
    unsafe {
        libc::kill(-id, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_id: i32) {}

/// Runs `cmd` (from [`helm_command`]) to its end with `input` on its
/// stdin, registered as live while it runs; its exit status is the
/// caller's to judge.
pub(crate) async fn run(mut cmd: Command, input: Option<&[u8]>) -> io::Result<Output> {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let mut group = child.id().and_then(LiveGroup::register);
    let stdin = child.stdin.take();
    let feed = async move {
        let (Some(mut stdin), Some(bytes)) = (stdin, input) else {
            return Ok(());
        };
        // Dropping stdin closes it: helm reads its values to the end.
        match stdin.write_all(bytes).await {
            // helm exited without reading (a usage error, say): its exit
            // status says what went wrong.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    };
    let (fed, out) = tokio::join!(feed, child.wait_with_output());
    if let (Ok(_), Some(group)) = (&out, group.as_mut()) {
        group.exited = true;
    }
    let out = out?;
    fed?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[(OsString, OsString)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.to_str().unwrap()).collect()
    }

    #[test]
    fn only_allowlisted_variables_pass_and_aws_only_when_asked() {
        let parent = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/ops"),
            ("HELM_DEBUG", "1"),
            ("LC_ALL", "C.UTF-8"),
            ("https_proxy", "http://proxy:3128"),
            ("AWS_PROFILE", "ops"),
            ("AWS_SECRET_ACCESS_KEY", "wJalr"),
            ("MSK_SCRAM_PASSWORD", "kafka-s3cret"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("PATHOLOGICAL", "x"),
        ];
        let plain = child_env(parent, &EnvRules::default());
        assert_eq!(
            names(&plain),
            ["HELM_DEBUG", "HOME", "LC_ALL", "PATH", "https_proxy"]
        );
        let with_aws = child_env(
            parent,
            &EnvRules {
                aws: true,
                ..EnvRules::default()
            },
        );
        assert_eq!(
            names(&with_aws),
            [
                "AWS_PROFILE",
                "AWS_SECRET_ACCESS_KEY",
                "HELM_DEBUG",
                "HOME",
                "LC_ALL",
                "PATH",
                "https_proxy"
            ]
        );
    }

    #[test]
    fn a_secret_source_name_or_value_never_passes_even_when_allowlisted() {
        let parent = [
            ("HELM_DEBUG", "1"),
            ("HELM_REPO_PASSWORD_UNIT", "repo-pw"),
            ("HELM_KAFKA_PASSWORD_UNIT", "kafka-s3cret"),
            ("AWS_SESSION_TOKEN", "kafka-s3cret"),
            ("HELM_REGISTERED_UNIT", "x"),
        ];
        deny_env_names(["HELM_REGISTERED_UNIT"]);
        let rules = EnvRules {
            aws: true,
            deny_names: ["HELM_REPO_PASSWORD_UNIT".to_string()].into(),
            deny_values: vec!["kafka-s3cret".into(), String::new()],
        };
        assert_eq!(names(&child_env(parent, &rules)), ["HELM_DEBUG"]);
        assert!(!format!("{rules:?}").contains("kafka-s3cret"));
    }

    #[test]
    fn env_sources_anywhere_in_a_resource_are_denied() {
        let r = Resource::managed(stackplan_core::ResourceKind::SecretsmanagerSecret, "s").attr(
            "password",
            Value::Sensitive(Box::new(Value::list([Value::Secret(SecretSource::Env(
                "HELM_SOURCE_UNIT".into(),
            ))]))),
        );
        deny_env_sources([&r]);
        let env = child_env([("HELM_SOURCE_UNIT", "x")], &EnvRules::default());
        assert!(env.is_empty(), "{env:?}");
    }

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("helm");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Whether any process of group `id` is alive (a zombie is not).
    #[cfg(target_os = "linux")]
    fn group_alive(id: i32) -> bool {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid pgrp ...: comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == id.to_string()
        })
    }

    #[cfg(target_os = "linux")]
    async fn wait_until_gone(id: i32) -> bool {
        for _ in 0..100 {
            if !group_alive(id) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }

    /// A helm whose run is dropped mid-way (a cancelled apply) is killed
    /// with everything it started, not only itself. ([`kill_all`] is
    /// proven from a stackplan process of its own, in the CLI's
    /// `helm_children` tests: here it would kill the helm children of the
    /// tests running beside this one.)
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_dropped_run_kills_the_childs_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The background sleep is helm's own child, in helm's group.
        let fake = script(
            dir.path(),
            &format!("sleep 600 &\necho $$ > {}\nwait", pid_file.display()),
        );
        let cmd = helm_command(&fake, child_env(std::env::vars_os(), &EnvRules::default()));
        let mut running = Box::pin(run(cmd, None));
        let started = async {
            while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = &mut running => panic!("the fake helm ended by itself"),
            _ = started => {}
        }
        let id: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            live_groups().contains(&id),
            "a live child is not registered"
        );
        drop(running);
        assert!(!live_groups().contains(&id), "still registered");
        assert!(wait_until_gone(id).await, "group {id} outlived its run");
    }

    #[tokio::test]
    async fn input_reaches_the_child_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let fake = script(dir.path(), "cat");
        let cmd = helm_command(&fake, child_env(std::env::vars_os(), &EnvRules::default()));
        let out = run(cmd, Some(b"values: 1\n")).await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"values: 1\n");
    }
}
