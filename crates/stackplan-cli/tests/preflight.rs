//! One root cause, said once, early: the real `stackplan` binary on
//! `stacks/milvus-local.toml`, with one thing missing at a time.
//!
//! - no AWS credentials: one error with the credentials hint (snapshot);
//! - the kubeconfig `[kubernetes]` names does not exist: one error naming
//!   it, with a path that works (snapshot);
//! - helm missing on a first apply: refused before anything is made (the
//!   state holds nothing, moto has no VPC of the stack);
//! - an AWS endpoint that accepts connections and never answers: plan
//!   ends, naming the endpoint, instead of hanging;
//! - Ctrl-C during an apply: acknowledged at once with the operations in
//!   flight, and the apply stops after them;
//! - Ctrl-C while apply is still planning: nothing changes and the S3
//!   state lock is released, not left for the next run to trip over.
//!
//! Every network address is 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stackplan_testkit::Emulators;

mod common;

use common::workspace::{Workspace, text};

/// stderr with the scratch directory's path made stable, for a snapshot.
fn stable(stderr: &str, workspace: &Workspace) -> String {
    let dir = workspace.dir.path().display().to_string();
    stderr.replace(&dir, "[WORKSPACE]")
}

/// The words of a message, whatever miette's wrapping at 100 columns.
fn words(stderr: &str) -> String {
    stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// `plan` with no AWS credentials anywhere the chain looks (no variables,
/// no profile files, no instance metadata): one error that says so and
/// how to give them, not one per resource.
#[test]
fn plan_without_credentials_says_so_once() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let out = workspace
        .command(emulators, &["plan", "stack.toml"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", workspace.dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            workspace.dir.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("plan");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("no providers in chain").count(),
        1,
        "{stderr}"
    );
    insta::assert_snapshot!(stable(&stderr, &workspace));
}

/// A kubeconfig path that does not exist: one error naming it before
/// anything is read (it was 7, one per Kubernetes resource).
#[test]
fn plan_with_a_missing_kubeconfig_names_it_once_with_a_fix() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let stack = std::fs::read_to_string(workspace.stack()).expect("stack");
    let line = stack
        .lines()
        .find(|l| l.starts_with("kubeconfig = "))
        .expect("a kubeconfig line")
        .to_string();
    workspace.edit(&line, "kubeconfig = \"kube/missing-config\"");
    let out = workspace.run(emulators, &["plan", "stack.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        words(&stderr).contains(
            "the kubeconfig `kube/missing-config` that [kubernetes] names does not exist"
        ),
        "{stderr}"
    );
    insta::assert_snapshot!(stable(&stderr, &workspace));
}

/// helm absent: a first apply stops before it makes anything, when it
/// used to find out at the helm step, after EKS and MSK were built.
#[test]
fn a_first_apply_without_helm_makes_nothing() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let missing = workspace.dir.path().join("no-helm-here/helm");
    let out = workspace
        .command(&emulators, &["apply", "--yes", "stack.toml"])
        .env("STACKPLAN_HELM", &missing)
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // miette wraps long paths at their slashes: compare without spaces.
    let squeezed: String = stderr
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    assert!(
        squeezed.contains(&format!("STACKPLAN_HELM={}", missing.display())),
        "{stderr}"
    );
    assert!(words(&stderr).contains("helm 3.8 or newer"), "{stderr}");
    assert!(!stderr.contains("create started"), "{stderr}");
    // Nothing in state, nothing in moto.
    let state = std::fs::read_to_string(workspace.state()).unwrap_or_default();
    assert!(
        !state.contains("\"addr\""),
        "state holds resources: {state}"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (vpcs, clusters) = runtime.block_on(async {
        let config = emulators.aws_config().await;
        let vpcs = aws_sdk_ec2::Client::new(&config)
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:stackplan:stack")
                    .values("milvus-local")
                    .build(),
            )
            .send()
            .await
            .expect("DescribeVpcs")
            .vpcs()
            .len();
        let clusters = aws_sdk_eks::Client::new(&config)
            .list_clusters()
            .send()
            .await
            .expect("ListClusters")
            .clusters()
            .len();
        (vpcs, clusters)
    });
    assert_eq!((vpcs, clusters), (0, 0), "{stderr}");
}

/// An endpoint that accepts connections and never answers (a listener
/// nothing reads from): plan ends with a message naming it, within the
/// 60 s operation limit, instead of hanging (590 s, until killed).
#[test]
fn plan_against_a_silent_endpoint_ends_naming_it() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    let started = Instant::now();
    let mut child = workspace
        .command(emulators, &["plan", "stack.toml"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plan");
    // A generous bound: the limit is 60 s; a plan that hangs never ends.
    let deadline = started + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("plan against a silent endpoint still running after 90 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("output");
    drop(silent);
    assert_eq!(status.code(), Some(1), "{}", text(&out));
    let stderr = words(&String::from_utf8_lossy(&out.stderr));
    assert!(
        stderr.contains(&format!(
            "AWS at {endpoint} could not be reached or did not answer in time"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("STACKPLAN_AWS_TIMEOUT"), "{stderr}");
}

/// A real SIGINT to apply while operations run (moto slowed by the fault
/// proxy's delay): the acknowledgement comes at once, names how many
/// operations are in flight, and apply ends interrupted after them with
/// state that parses.
#[test]
fn ctrl_c_during_apply_is_acknowledged_at_once_with_the_operations_in_flight() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let proxy = SlowProxy::start(&emulators, workspace.dir.path(), 400);
    let mut apply = proxy.apply(&emulators, &workspace);
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = apply.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let wait_for = |seen: &mut Vec<String>, what: &str, within: Duration| -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(what);
                    seen.push(line);
                    if hit {
                        return Instant::now();
                    }
                }
                Err(_) => panic!("no `{what}` within {within:?}:\n{}", seen.join("\n")),
            }
        }
    };
    wait_for(&mut seen, "create started", Duration::from_secs(120));
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &apply.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let acknowledged = wait_for(&mut seen, "stopping after the", Duration::from_secs(10));
    // At once: before any operation in flight could finish on the slowed
    // endpoint. Not a tight timing, a bound far under the ~20 s it was.
    assert!(
        acknowledged - sent < Duration::from_secs(3),
        "acknowledged after {:?}",
        acknowledged - sent
    );
    let ack = seen.last().expect("the acknowledgement").clone();
    let n: usize = ack
        .split("stopping after the ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in `{ack}`"));
    assert!(n >= 1, "{ack}");
    assert!(ack.ends_with("in flight; Ctrl-C again aborts"), "{ack}");
    let status = apply.wait().expect("apply");
    seen.extend(lines.try_iter());
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(all.contains("Apply interrupted"), "{all}");
    let state = std::fs::read_to_string(workspace.state()).expect("state");
    serde_json::from_str::<serde_json::Value>(&state).expect("state parses");
}

/// A real SIGINT while apply holds the S3 state lock and is still making
/// its plan (every AWS answer slowed): apply stops before any change,
/// says so, and releases the lock; the next apply takes it at once.
#[test]
fn ctrl_c_before_any_change_releases_the_s3_state_lock() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The backend refuses a bucket without a public access block.
    let (s3, bucket) = rt.block_on(emulators.new_bucket("state", true));
    let text_now = std::fs::read_to_string(workspace.stack()).unwrap();
    let state_line = text_now
        .lines()
        .find(|l| l.starts_with("path = "))
        .expect("the [state] path line")
        .to_string();
    workspace.edit(
        &state_line,
        &format!(
            "backend = \"s3\"\nbucket = \"{bucket}\"\nkey = \"milvus-local.json\"\nregion = \"{}\"",
            stackplan_testkit::REGION
        ),
    );
    let lock_held = || {
        rt.block_on(
            s3.head_object()
                .bucket(&bucket)
                .key("milvus-local.json.lock")
                .send(),
        )
        .is_ok()
    };

    let proxy = SlowProxy::start(&emulators, workspace.dir.path(), 300);
    let mut apply = proxy.apply(&emulators, &workspace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock_held() {
        assert!(
            apply.try_wait().unwrap().is_none(),
            "apply ended before taking the lock"
        );
        assert!(Instant::now() < deadline, "apply never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &apply.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = apply.wait_with_output().expect("apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        words(&stderr).contains("apply interrupted before any change: the state lock is released"),
        "{stderr}"
    );
    assert!(!lock_held(), "the lock is still there: {stderr}");
    // Nothing was made: no state was written and moto has no VPC of it.
    let state = rt.block_on(
        s3.head_object()
            .bucket(&bucket)
            .key("milvus-local.json")
            .send(),
    );
    assert!(state.is_err(), "a state was written: {stderr}");

    // The stack plans as if the interrupted run had never been.
    let plan = workspace.run(&emulators, &["plan", "stack.toml"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

/// `tests/harness/fault_proxy.py` in front of moto with a delay on every
/// answer; killed on drop.
struct SlowProxy {
    child: std::process::Child,
    url: String,
}

impl SlowProxy {
    fn start(emulators: &Emulators, dir: &std::path::Path, delay_ms: u32) -> SlowProxy {
        let port_file = dir.join("proxy.port");
        let child = Command::new("python3")
            .arg(common::repo_root().join("tests/harness/fault_proxy.py"))
            .args(["--upstream", emulators.aws_endpoint(), "--port", "0"])
            .arg("--port-file")
            .arg(&port_file)
            .args(["--delay-ms", &delay_ms.to_string()])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tests/harness/fault_proxy.py");
        let mut proxy = SlowProxy {
            child,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && let Ok(port) = port.trim().parse::<u16>()
            {
                proxy.url = format!("http://127.0.0.1:{port}");
                return proxy;
            }
            assert!(Instant::now() < deadline, "the fault proxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `apply --yes` of the workspace's stack with every AWS call through
    /// this proxy, its stderr piped for the test to read.
    fn apply(&self, emulators: &Emulators, workspace: &Workspace) -> std::process::Child {
        workspace
            .command(emulators, &["apply", "--yes", "stack.toml"])
            .env("AWS_ENDPOINT_URL", &self.url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply")
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A principal the cluster admits but allows nothing (the harness's
/// viewer token, bound to no role): every Kubernetes read is refused for
/// one reason, said once with the resources and one example of the API's
/// words, with the hint for permissions (it was a screen per resource,
/// each with the API's status dumped in Rust's syntax).
#[test]
fn reads_refused_for_one_reason_are_one_error_with_the_permission_hint() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let token = emulators
        .env_vars()
        .get("STACKPLAN_KUBE_VIEWER_TOKEN")
        .expect("the viewer token");
    let admin = std::fs::read_to_string(emulators.kubeconfig()).expect("kubeconfig");
    let viewer: String = admin
        .lines()
        .map(|l| match l.split_once("token:") {
            Some((indent, _)) => format!("{indent}token: {token}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(admin, viewer, "the harness kubeconfig has no token line");
    std::fs::write(workspace.dir.path().join("viewer.kubeconfig"), viewer).expect("kubeconfig");
    let stack = std::fs::read_to_string(workspace.stack()).expect("stack");
    let line = stack
        .lines()
        .find(|l| l.starts_with("kubeconfig = "))
        .expect("a kubeconfig line")
        .to_string();
    workspace.edit(&line, "kubeconfig = \"viewer.kubeconfig\"");
    let out = workspace.run(emulators, &["plan", "stack.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        words(&stderr).matches("403 Forbidden").count(),
        1,
        "{stderr}"
    );
    insta::assert_snapshot!(stable(&stderr, &workspace));
}

/// The S3 state backend's client has the same limits, and
/// `STACKPLAN_AWS_TIMEOUT` sets them: state is read before anything else,
/// and a silent endpoint ended a plan there after 4 s, not never.
#[test]
fn an_s3_state_backend_that_never_answers_ends_at_stackplan_aws_timeout() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let stack = std::fs::read_to_string(workspace.stack()).expect("stack");
    let state = stack
        .lines()
        .find(|l| l.starts_with("path = "))
        .expect("a state path line")
        .to_string();
    workspace.edit(
        &state,
        "backend = \"s3\"\nbucket = \"acme-state\"\nkey = \"milvus-local.json\"",
    );
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    let started = Instant::now();
    let out = workspace
        .command(emulators, &["plan", "stack.toml"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("STACKPLAN_AWS_TIMEOUT", "4")
        .output()
        .expect("plan");
    let took = started.elapsed();
    drop(silent);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let stderr = words(&String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("occurred after 4s"), "{stderr}");
    assert!(
        stderr.contains("the state backend could not be reached or did not answer in time"),
        "{stderr}"
    );
}

/// A chart path written from where the user stands rather than from the
/// stack file's directory: named before helm runs (helm took
/// `sub/charts/x.tgz` for a repository `sub`), with the path that works.
#[test]
fn a_chart_path_written_from_here_gets_the_path_that_works() {
    let emulators = Emulators::shared().expect("emulators");
    let workspace = Workspace::new(emulators);
    let stack = std::fs::read_to_string(workspace.stack()).expect("stack");
    let line = stack
        .lines()
        .find(|l| l.starts_with("chart") && l.contains("milvus-5.0.19.tgz"))
        .expect("the Milvus chart line")
        .to_string();
    let here = workspace.dir.path();
    std::fs::create_dir_all(here.join("charts")).expect("charts dir");
    std::fs::copy(
        stackplan_testkit::shared_chart("milvus-5.0.19.tgz"),
        here.join("charts/milvus-5.0.19.tgz"),
    )
    .expect("chart");
    std::fs::create_dir(here.join("sub")).expect("sub");
    std::fs::write(
        here.join("sub/stack.toml"),
        stack.replacen(&line, "chart = { path = \"charts/milvus-5.0.19.tgz\" }", 1),
    )
    .expect("stack");
    let out = workspace.run(emulators, &["plan", "sub/stack.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let squeezed: String = stderr.chars().filter(|c| !c.is_whitespace()).collect();
    let absolute = here
        .join("charts/milvus-5.0.19.tgz")
        .canonicalize()
        .expect("absolute");
    assert!(
        words(&stderr).contains(
            "helm_release.milvus: the chart `sub/charts/milvus-5.0.19.tgz` does not exist"
        ),
        "{stderr}"
    );
    assert!(
        squeezed.contains(&format!("writechart={{path=\"{}\"}}", absolute.display())),
        "{stderr}"
    );
}
