//! Fault tests: the real `stackplan` binary applying the reference stack
//! (`stacks/milvus-local.toml`) against a private emulator set, through the
//! harness's fault-injecting proxy (`tests/harness/fault_proxy.py`).
//!
//! - two concurrent applies: the second is refused by the state lock, which
//!   names the holder;
//! - 10% injected throttling and 5xx: apply still succeeds, with exactly one
//!   of each resource in moto and a clean plan afterwards;
//! - 10% of answers lost after moto acted (a 5xx or a reset connection):
//!   apply, applied again until it succeeds, leaves exactly one of each
//!   resource, matching state, and a clean plan;
//! - `kill -9` of apply at random moments, then apply again: the state
//!   parses, has the addresses of a clean apply, moto holds exactly what the
//!   state names, and plan is clean. Five kills by default; twenty in the
//!   ignored long variant (`just fault-tests-long`). The seed is printed and
//!   `STACKPLAN_FAULT_SEED` replays a run;
//! - helm children (a stand-in helm whose `upgrade` hangs): `kill -9` of
//!   apply mid-upgrade leaves no helm process and no values file, and a
//!   second Ctrl-C kills helm's whole process group before exiting 130.
//!
//! Every network address is 127.0.0.1.

// The seeds and kill moments go to stderr so a failure can be replayed.
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use stackplan_testkit::Emulators;

mod common;

use common::repo_root;
use common::workspace::text;

const BIN: &str = env!("CARGO_BIN_EXE_stackplan");
const STACK_NAME: &str = "milvus-local";

/// The fault proxy, in front of one emulator set's moto; killed on drop.
struct Proxy {
    child: Child,
    url: String,
    stats_file: PathBuf,
}

impl Proxy {
    fn start(emulators: &Emulators, dir: &Path, args: &[&str]) -> Proxy {
        let port_file = dir.join(format!("proxy-{}.port", unique()));
        let stats_file = dir.join(format!("proxy-{}.stats.json", unique()));
        let child = Command::new("python3")
            .arg(repo_root().join("tests/harness/fault_proxy.py"))
            .args(["--upstream", emulators.aws_endpoint(), "--port", "0"])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--stats-file")
            .arg(&stats_file)
            .args(args)
            .stdin(Stdio::null())
            // A killed client leaves the proxy a broken pipe to report.
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tests/harness/fault_proxy.py");
        // Owned from here, so a failed start still kills it (on drop).
        let mut proxy = Proxy {
            child,
            url: String::new(),
            stats_file,
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

    /// Requests and injected faults, summed over every operation.
    fn totals(&self) -> (u64, u64) {
        let text = std::fs::read_to_string(&self.stats_file).unwrap_or_default();
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let mut totals = (0, 0);
        if let Some(ops) = stats.as_object() {
            for op in ops.values() {
                totals.0 += op["requests"].as_u64().unwrap_or(0);
                totals.1 += op["faults"].as_u64().unwrap_or(0);
            }
        }
        totals
    }

    /// Answers lost after moto acted, summed over every operation, with
    /// the operations that lost any (`CreateVpc: 1`, ...).
    fn lost(&self) -> (u64, BTreeMap<String, u64>) {
        let text = std::fs::read_to_string(&self.stats_file).unwrap_or_default();
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let mut by_op = BTreeMap::new();
        if let Some(ops) = stats.as_object() {
            for (name, op) in ops {
                let lost = op["lost"].as_u64().unwrap_or(0);
                if lost > 0 {
                    by_op.insert(name.clone(), lost);
                }
            }
        }
        (by_op.values().sum(), by_op)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> String {
    stackplan_testkit::unique_name("f")
}

/// A copy of `stacks/milvus-local.toml` in a temp dir, with its state file
/// there and the kubeconfig and charts as absolute paths.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(emulators: &Emulators) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        common::workspace::write_local_stack(emulators, dir.path());
        Workspace { dir }
    }

    fn stack(&self) -> PathBuf {
        self.dir.path().join("stack.toml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn lock(&self) -> PathBuf {
        self.dir.path().join("state.json.lock")
    }

    /// `stackplan ARGS STACK` with the emulators' environment, AWS reached
    /// through `aws_endpoint`.
    fn command(&self, emulators: &Emulators, aws_endpoint: &str, args: &[&str]) -> Command {
        let mut command = emulators.command(BIN);
        // helm 3: the real Milvus chart's ports without `protocol` are
        // refused by helm 4's server-side apply on the 1.20 test apiserver
        // (tests/harness/README.md).
        command.env("STACKPLAN_HELM", emulators.helm_v3());
        let helm_dir = emulators.helm_v3().parent().expect("helm's directory");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![helm_dir.to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        command
            .args(args)
            .arg(self.stack())
            .current_dir(self.dir.path())
            .env("PATH", std::env::join_paths(paths).expect("PATH"))
            .env("AWS_ENDPOINT_URL", aws_endpoint)
            .env("MSK_SCRAM_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, emulators: &Emulators, aws_endpoint: &str, args: &[&str]) -> Output {
        self.command(emulators, aws_endpoint, args)
            .output()
            .expect("running stackplan")
    }

    /// The state file, which must parse whenever it exists.
    fn state_doc(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state()).ok()?;
        Some(serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("the state file is corrupt ({e}):\n{text}");
        }))
    }

    fn addresses(&self) -> Vec<String> {
        let doc = self.state_doc().expect("a state file");
        doc["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| r["addr"].as_str().expect("addr").to_owned())
            .collect()
    }

    /// Physical ids in state, by kind, for the kinds `inventory` lists.
    fn physical_ids(&self) -> BTreeMap<String, Vec<String>> {
        let doc = self.state_doc().expect("a state file");
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in doc["resources"].as_array().expect("resources") {
            let kind = r["kind"].as_str().expect("kind");
            if INVENTORIED.contains(&kind) {
                ids.entry(kind.to_owned())
                    .or_default()
                    .push(r["physical_id"].as_str().expect("physical_id").to_owned());
            }
        }
        for list in ids.values_mut() {
            list.sort();
        }
        ids
    }
}

/// The AWS kinds whose every instance in moto `inventory` lists.
const INVENTORIED: &[&str] = &[
    "ec2_vpc",
    "ec2_subnet",
    "ec2_security_group",
    "ec2_internet_gateway",
    "ec2_eip",
    "ec2_nat_gateway",
    "ec2_route_table",
    "ec2_route_table_association",
    "iam_role",
    "iam_policy",
    "iam_oidc_provider",
    "eks_cluster",
    "eks_nodegroup",
    "eks_addon",
    "s3_bucket",
    "kms_key",
    "secretsmanager_secret",
    "msk_configuration",
    "msk_cluster",
];

/// Everything of the inventoried kinds that exists in moto, straight from
/// moto (not through the proxy), as the state's physical ids spell it.
fn inventory(emulators: &Emulators) -> BTreeMap<String, Vec<String>> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let config = emulators.aws_config().await;
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut put = |kind: &str, id: String| {
            found.entry(kind.to_owned()).or_default().push(id);
        };
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let by_stack = aws_sdk_ec2::types::Filter::builder()
            .name("tag:stackplan:stack")
            .values(STACK_NAME)
            .build();
        let vpcs = ec2
            .describe_vpcs()
            .filters(by_stack.clone())
            .send()
            .await
            .expect("DescribeVpcs");
        for vpc in vpcs.vpcs() {
            put("ec2_vpc", vpc.vpc_id().unwrap_or_default().to_owned());
        }
        let subnets = ec2
            .describe_subnets()
            .filters(by_stack.clone())
            .send()
            .await
            .expect("DescribeSubnets");
        for subnet in subnets.subnets() {
            put(
                "ec2_subnet",
                subnet.subnet_id().unwrap_or_default().to_owned(),
            );
        }
        // The way out of the created VPC: a duplicate gateway, address or
        // route table would be as much a leak as a duplicate subnet.
        let gateways = ec2
            .describe_internet_gateways()
            .filters(by_stack.clone())
            .send()
            .await
            .expect("DescribeInternetGateways");
        for g in gateways.internet_gateways() {
            put(
                "ec2_internet_gateway",
                g.internet_gateway_id().unwrap_or_default().to_owned(),
            );
        }
        let addresses = ec2
            .describe_addresses()
            .filters(by_stack.clone())
            .send()
            .await
            .expect("DescribeAddresses");
        for a in addresses.addresses() {
            put("ec2_eip", a.allocation_id().unwrap_or_default().to_owned());
        }
        let nats = ec2
            .describe_nat_gateways()
            .filter(by_stack.clone())
            .filter(
                aws_sdk_ec2::types::Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .expect("DescribeNatGateways");
        for n in nats.nat_gateways() {
            put(
                "ec2_nat_gateway",
                n.nat_gateway_id().unwrap_or_default().to_owned(),
            );
        }
        let tables = ec2
            .describe_route_tables()
            .filters(by_stack.clone())
            .send()
            .await
            .expect("DescribeRouteTables");
        for t in tables.route_tables() {
            put(
                "ec2_route_table",
                t.route_table_id().unwrap_or_default().to_owned(),
            );
            for a in t.associations().iter().filter(|a| a.main() != Some(true)) {
                put(
                    "ec2_route_table_association",
                    a.route_table_association_id()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        let groups = ec2
            .describe_security_groups()
            .filters(by_stack)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        for group in groups.security_groups() {
            put(
                "ec2_security_group",
                group.group_id().unwrap_or_default().to_owned(),
            );
        }

        let iam = aws_sdk_iam::Client::new(&config);
        let roles = iam.list_roles().send().await.expect("ListRoles");
        for role in roles.roles() {
            put("iam_role", role.role_name().to_owned());
        }
        let policies = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .send()
            .await
            .expect("ListPolicies");
        for policy in policies.policies() {
            put("iam_policy", policy.arn().unwrap_or_default().to_owned());
        }
        let providers = iam
            .list_open_id_connect_providers()
            .send()
            .await
            .expect("ListOpenIDConnectProviders");
        for provider in providers.open_id_connect_provider_list() {
            put(
                "iam_oidc_provider",
                provider.arn().unwrap_or_default().to_owned(),
            );
        }

        let eks = aws_sdk_eks::Client::new(&config);
        let clusters = eks.list_clusters().send().await.expect("ListClusters");
        for cluster in clusters.clusters() {
            put("eks_cluster", cluster.clone());
            let groups = eks
                .list_nodegroups()
                .cluster_name(cluster)
                .send()
                .await
                .expect("ListNodegroups");
            for group in groups.nodegroups() {
                put("eks_nodegroup", format!("{cluster}:{group}"));
            }
            let addons = eks
                .list_addons()
                .cluster_name(cluster)
                .send()
                .await
                .expect("ListAddons");
            for addon in addons.addons() {
                put("eks_addon", format!("{cluster}:{addon}"));
            }
        }

        let s3 = emulators.s3_client().await;
        let buckets = s3.list_buckets().send().await.expect("ListBuckets");
        for bucket in buckets.buckets() {
            put("s3_bucket", bucket.name().unwrap_or_default().to_owned());
        }

        let kms = aws_sdk_kms::Client::new(&config);
        let keys = kms.list_keys().send().await.expect("ListKeys");
        for key in keys.keys() {
            let id = key.key_id().unwrap_or_default();
            let described = kms
                .describe_key()
                .key_id(id)
                .send()
                .await
                .expect("DescribeKey");
            let state = described.key_metadata().and_then(|m| m.key_state());
            if state != Some(&aws_sdk_kms::types::KeyState::PendingDeletion) {
                put("kms_key", id.to_owned());
            }
        }

        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let listed = secrets.list_secrets().send().await.expect("ListSecrets");
        for secret in listed.secret_list() {
            put(
                "secretsmanager_secret",
                secret.arn().unwrap_or_default().to_owned(),
            );
        }

        let kafka = aws_sdk_kafka::Client::new(&config);
        let clusters = kafka
            .list_clusters_v2()
            .send()
            .await
            .expect("ListClustersV2");
        for cluster in clusters.cluster_info_list() {
            put(
                "msk_cluster",
                cluster.cluster_arn().unwrap_or_default().to_owned(),
            );
        }
        let configurations = kafka
            .list_configurations()
            .send()
            .await
            .expect("ListConfigurations");
        for configuration in configurations.configurations() {
            put(
                "msk_configuration",
                configuration.arn().unwrap_or_default().to_owned(),
            );
        }

        for list in found.values_mut() {
            list.sort();
        }
        found
    })
}

/// moto holds exactly what the state names: nothing duplicated, nothing
/// orphaned, nothing missing.
fn assert_moto_matches_state(emulators: &Emulators, workspace: &Workspace, context: &str) {
    let in_moto = inventory(emulators);
    let in_state = workspace.physical_ids();
    assert_eq!(
        in_moto, in_state,
        "{context}: moto (left) differs from the state's physical ids (right)"
    );
}

fn assert_plan_is_clean(emulators: &Emulators, workspace: &Workspace, context: &str) {
    let plan = workspace.run(
        emulators,
        emulators.aws_endpoint(),
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{context}: plan is not clean\n{}",
        text(&plan)
    );
}

#[test]
fn a_second_concurrent_apply_is_refused_by_the_lock_naming_the_holder() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    // CreateVpc held for 4 s: the first apply holds the lock while it waits.
    let slow = Proxy::start(
        &emulators,
        workspace.dir.path(),
        &["--op-delay", "CreateVpc=4000"],
    );
    let mut first = workspace
        .command(&emulators, &slow.url, &["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the first apply");
    let first_pid = first.id();

    // Wait until the first apply has recorded itself as the lock holder.
    let deadline = Instant::now() + Duration::from_secs(30);
    let holder = loop {
        let recorded = std::fs::read_to_string(workspace.lock()).unwrap_or_default();
        if let Ok(holder) = serde_json::from_str::<serde_json::Value>(&recorded) {
            break holder;
        }
        assert!(
            first.try_wait().expect("polling").is_none(),
            "the first apply ended before taking the lock"
        );
        assert!(Instant::now() < deadline, "the first apply never locked");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(holder["pid"], first_pid, "lock record: {holder}");

    let second = workspace.run(&emulators, emulators.aws_endpoint(), &["apply", "--yes"]);
    assert!(
        first.try_wait().expect("polling").is_none(),
        "the first apply finished before the second ran; the test proved nothing"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let who = holder["who"].as_str().expect("who");
    for named in [
        format!("(pid {first_pid})"),
        "`apply`".to_owned(),
        who.to_owned(),
    ] {
        assert!(
            stderr.contains(&named),
            "the refusal does not name the holder's {named}:\n{stderr}"
        );
    }

    let first = first.wait_with_output().expect("the first apply");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_moto_matches_state(&emulators, &workspace, "after the lock test");
    assert_plan_is_clean(&emulators, &workspace, "after the lock test");
}

#[test]
fn apply_under_ten_percent_injected_throttling_and_5xx_converges_with_no_duplicates() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let seed = seed();
    eprintln!("fault seed: {seed} (STACKPLAN_FAULT_SEED={seed} replays it)");
    let faulty = Proxy::start(
        &emulators,
        workspace.dir.path(),
        &["--fail-rate", "0.1", "--seed", &seed.to_string()],
    );
    let apply = workspace.run(&emulators, &faulty.url, &["apply", "--yes"]);
    let (requests, faults) = faulty.totals();
    eprintln!("{requests} requests through the proxy, {faults} faults injected");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(
        faults > 0,
        "no fault was injected in {requests} requests; the test proved nothing"
    );
    assert_moto_matches_state(&emulators, &workspace, "after the faulty apply");
    assert_eq!(
        workspace
            .physical_ids()
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        INVENTORIED_IN_REFERENCE,
        "{:#?}",
        workspace.physical_ids()
    );
    assert_plan_is_clean(&emulators, &workspace, "after the faulty apply");
}

/// Applies through a proxy that loses a tenth of the answers after moto
/// acted (half as a retryable 5xx, half as a connection reset), applying
/// again until one apply succeeds: a create whose answer was lost must be
/// found and taken over (by its client token, or by name and the stack's
/// tags), never made twice.
#[test]
fn apply_under_lost_answers_converges_with_no_duplicates() {
    const MAX_APPLIES: usize = 8;
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let seed = seed();
    // STACKPLAN_FAULT_LOSE_RATE tries another share (a harsher one finds
    // what is still not idempotent sooner).
    let rate = std::env::var("STACKPLAN_FAULT_LOSE_RATE").unwrap_or_else(|_| "0.1".into());
    eprintln!("lost-answer seed: {seed}, rate {rate} (STACKPLAN_FAULT_SEED={seed} replays it)");
    let lossy = Proxy::start(
        &emulators,
        workspace.dir.path(),
        &["--lose-rate", &rate, "--seed", &seed.to_string()],
    );
    let mut applies = 0;
    let mut failures = Vec::new();
    // What the provider reports when a create it retried had been made
    // (`create_or_find`): the lost answers that mattered.
    let mut taken_over = Vec::new();
    loop {
        applies += 1;
        let apply = workspace.run(&emulators, &lossy.url, &["apply", "--yes"]);
        let out = text(&apply);
        taken_over.extend(
            out.lines()
                .filter(|l| l.contains("had made it: taking it over"))
                .map(str::to_owned),
        );
        if apply.status.code() == Some(0) {
            break;
        }
        eprintln!("apply {applies} failed:\n{out}");
        failures.push(out);
        assert!(
            applies < MAX_APPLIES,
            "no apply succeeded in {MAX_APPLIES} (seed {seed}); the failures:\n{}",
            failures.join("\n---\n")
        );
    }
    let (requests, _) = lossy.totals();
    let (lost, by_op) = lossy.lost();
    eprintln!(
        "{requests} requests through the proxy, {lost} answers lost, {applies} applies \
         to converge (seed {seed}); lost per operation: {by_op:?}"
    );
    eprintln!(
        "{} creates found made after a lost answer and taken over:\n{}",
        taken_over.len(),
        taken_over.join("\n")
    );
    assert!(
        lost > 0,
        "no answer was lost in {requests} requests; the test proved nothing"
    );
    let context = format!("after applies under lost answers (seed {seed})");
    assert_moto_matches_state(&emulators, &workspace, &context);
    assert_eq!(
        workspace
            .physical_ids()
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        INVENTORIED_IN_REFERENCE,
        "{context}: {:#?}",
        workspace.physical_ids()
    );
    assert_plan_is_clean(&emulators, &workspace, &context);
}

/// Instances of the inventoried kinds in the reference stack: a VPC, six
/// subnets (private and public), an internet gateway, an Elastic IP and a
/// NAT gateway, four route tables and six associations, a security group,
/// five roles, two policies, an OIDC provider, the cluster, a node group,
/// four add-ons, a bucket, a key, a secret, an MSK configuration and
/// cluster.
const INVENTORIED_IN_REFERENCE: usize = 40;

fn seed() -> u64 {
    if let Some(seed) = std::env::var("STACKPLAN_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// splitmix64: enough randomness for kill moments, and replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One round per kill, each on a fresh emulator set: apply through a proxy
/// adding 10 ms per call, `kill -9` at a random moment, check the state file
/// parses, apply again to completion, then compare with a clean apply.
fn kill_and_reapply_rounds(kills: usize) {
    let seed = seed();
    eprintln!("kill seed: {seed} (STACKPLAN_FAULT_SEED={seed} replays it)");
    let mut rng = Rng(seed);

    // The reference: a clean apply, uninterrupted, on its own set, timed
    // through the same proxy so the kill moments fall inside an apply.
    let (reference, reference_counts, clean_wall) = {
        let emulators = Emulators::start().expect("emulators");
        let workspace = Workspace::new(&emulators);
        let proxy = Proxy::start(&emulators, workspace.dir.path(), &["--delay-ms", "10"]);
        let started = Instant::now();
        let apply = workspace.run(&emulators, &proxy.url, &["apply", "--yes"]);
        let wall = started.elapsed();
        assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
        let counts: BTreeMap<String, usize> = inventory(&emulators)
            .into_iter()
            .map(|(kind, ids)| (kind, ids.len()))
            .collect();
        (workspace.addresses(), counts, wall)
    };
    eprintln!(
        "clean apply: {} resources in {:.2} s",
        reference.len(),
        clean_wall.as_secs_f64()
    );
    // The reference apply runs on a cold emulator set (the first install
    // of the real Milvus chart on a new apiserver is the slowest step);
    // the rounds' applies, measured, take about three quarters of it. Kill
    // moments are drawn from its first two thirds so that they fall inside
    // the applies they interrupt, not after them.
    let window_ms = (clean_wall.as_millis() as u64 * 2 / 3).max(200);

    let mut killed_mid_apply = 0;
    for round in 0..kills {
        let emulators = Emulators::start().expect("emulators");
        let workspace = Workspace::new(&emulators);
        let proxy = Proxy::start(&emulators, workspace.dir.path(), &["--delay-ms", "10"]);
        let at = Duration::from_millis(rng.below(window_ms));
        let mut apply = workspace
            .command(&emulators, &proxy.url, &["apply", "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting apply");
        std::thread::sleep(at);
        let running = apply.try_wait().expect("polling").is_none();
        // Child::kill is SIGKILL on Unix: kill -9.
        apply.kill().expect("kill -9");
        let _ = apply.wait();
        killed_mid_apply += usize::from(running);
        let saved = workspace
            .state_doc()
            .map(|doc| doc["resources"].as_array().map_or(0, Vec::len));
        eprintln!(
            "round {round}: kill -9 at {} ms ({}), state then held {saved:?} resources",
            at.as_millis(),
            if running {
                "mid-apply"
            } else {
                "after it ended"
            },
        );

        let again = workspace.run(&emulators, &proxy.url, &["apply", "--yes"]);
        let context = format!("round {round} (kill at {} ms, seed {seed})", at.as_millis());
        assert_eq!(again.status.code(), Some(0), "{context}: {}", text(&again));
        assert_eq!(workspace.addresses(), reference, "{context}: addresses");
        assert_moto_matches_state(&emulators, &workspace, &context);
        let counts: BTreeMap<String, usize> = inventory(&emulators)
            .into_iter()
            .map(|(kind, ids)| (kind, ids.len()))
            .collect();
        assert_eq!(counts, reference_counts, "{context}: resources in moto");
        assert_plan_is_clean(&emulators, &workspace, &context);
    }
    eprintln!("{killed_mid_apply} of {kills} kills landed mid-apply");
    assert!(
        killed_mid_apply * 2 >= kills,
        "most kills landed after apply ended; the test proved little"
    );
}

#[test]
fn apply_killed_at_five_random_moments_then_reapplied_matches_a_clean_apply() {
    kill_and_reapply_rounds(5);
}

#[test]
#[ignore = "long: twenty kills, about five minutes; `just fault-tests-long`"]
fn apply_killed_at_twenty_random_moments_then_reapplied_matches_a_clean_apply() {
    kill_and_reapply_rounds(20);
}

// --- helm children: killed with the run, never left behind --------------

/// A stand-in helm in `dir`: every command but `upgrade` goes to the real
/// helm; an `upgrade` dumps its environment, reads its values from stdin to
/// the end as helm does, records its pid (which is its process group's
/// id) in `dir/upgrade.pids`, then runs `hang` for ever.
fn hanging_helm(dir: &Path, real: &Path, hang: &str) -> PathBuf {
    let path = dir.join("helm");
    let script = format!(
        r#"#!/bin/sh
for a in "$@"; do
  if [ "$a" = upgrade ]; then
    env > {dir}/upgrade-$$.env
    cat > /dev/null
    echo $$ >> {dir}/upgrade.pids
    {hang}
  fi
done
exec {real} "$@"
"#,
        dir = dir.display(),
        real = real.display(),
    );
    std::fs::write(&path, script).expect("writing the fake helm");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the fake helm");
    path
}

/// `(pid, state)` of every process in group `group`, zombies excluded.
fn group_members(group: u32) -> Vec<(u32, String)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid pgrp ...: comm may hold spaces.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string() {
            members.push((pid, fields[0].to_owned()));
        }
    }
    members
}

/// The process group of `pid`.
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Waits until apply has started at least one `helm upgrade` and it
/// hangs, then returns the upgrades' pids. `log`: where apply's stderr
/// goes, shown if it ends first.
fn wait_for_hanging_upgrades(apply: &mut Child, helm_dir: &Path, log: &Path) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pids: Vec<u32> = std::fs::read_to_string(helm_dir.join("upgrade.pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if !pids.is_empty() {
            // Let it get from `echo` to the hang.
            std::thread::sleep(Duration::from_millis(300));
            return pids;
        }
        if let Some(status) = apply.try_wait().expect("polling apply") {
            panic!(
                "apply ended ({status}) before any helm upgrade started:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no helm upgrade started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every group gone within a few seconds, or the members left.
fn wait_until_groups_gone(groups: &[u32]) -> Vec<(u32, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<(u32, String)> = groups.iter().flat_map(|g| group_members(*g)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// What the run left in its TMPDIR: no helm values file or directory, and
/// no file holding the SCRAM password.
fn assert_no_values_left(tmp: &Path, password: &str) {
    let leftovers: Vec<String> = std::fs::read_dir(tmp)
        .expect("the run's TMPDIR")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.starts_with("stackplan-helm-") || name.starts_with("stackplan-template-")
        })
        .collect();
    assert!(leftovers.is_empty(), "left in TMPDIR: {leftovers:?}");
    for file in files_under(tmp) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(password),
            "{} holds the SCRAM password",
            file.display()
        );
    }
}

/// What each upgrade's environment held: none of stackplan's secrets and
/// no AWS variable (the stack's kubeconfig authenticates with a token, no
/// `exec` plugin), yet helm's own settings.
fn assert_upgrade_env_is_allowlisted(helm_dir: &Path, pids: &[u32], password: &str) {
    for pid in pids {
        let env = std::fs::read_to_string(helm_dir.join(format!("upgrade-{pid}.env")))
            .expect("the upgrade's environment dump");
        assert!(!env.contains(password), "helm got the password:\n{env}");
        for line in env.lines() {
            let name = line.split('=').next().unwrap_or_default();
            assert!(
                !name.starts_with("AWS_") && name != "MSK_SCRAM_PASSWORD",
                "helm got {name}:\n{env}"
            );
        }
        assert!(env.contains("\nPATH=") || env.starts_with("PATH="), "{env}");
        assert!(env.contains("TMPDIR="), "{env}");
    }
}

const PASSWORD: &str = "fault-test-0123456789";

#[test]
fn kill_9_of_apply_mid_helm_upgrade_leaves_no_helm_process_and_no_values_file() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let helm_dir = tempfile::tempdir().expect("tempdir");
    let tmp = workspace.dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("TMPDIR");
    let log = workspace.dir.path().join("apply.log");
    let output = std::fs::File::create(&log).expect("apply's log");
    // `exec`: the hanging process is helm itself, which the kernel's
    // parent-death signal reaches.
    let fake = hanging_helm(helm_dir.path(), emulators.helm_v3(), "exec sleep 600");
    let mut apply = workspace
        .command(&emulators, emulators.aws_endpoint(), &["apply", "--yes"])
        .env("STACKPLAN_HELM", &fake)
        .env("TMPDIR", &tmp)
        .stdout(output.try_clone().expect("apply's log"))
        .stderr(output)
        .spawn()
        .expect("starting apply");
    let pids = wait_for_hanging_upgrades(&mut apply, helm_dir.path(), &log);
    let stackplan_group = group_of(apply.id());
    for pid in &pids {
        assert_eq!(
            group_of(*pid),
            Some(*pid),
            "helm {pid} leads no group of its own"
        );
        assert_ne!(Some(*pid), stackplan_group);
        assert!(!group_members(*pid).is_empty(), "helm {pid} is not running");
    }

    // Child::kill is SIGKILL: no code of stackplan's runs after it.
    apply.kill().expect("kill -9");
    let _ = apply.wait();

    let left = wait_until_groups_gone(&pids);
    assert!(left.is_empty(), "helm outlived stackplan: {left:?}");
    assert_no_values_left(&tmp, PASSWORD);
    assert_upgrade_env_is_allowlisted(helm_dir.path(), &pids, PASSWORD);
}

#[test]
fn a_second_ctrl_c_kills_helm_and_what_it_started_then_exits_130() {
    let emulators = Emulators::start().expect("emulators");
    let workspace = Workspace::new(&emulators);
    let helm_dir = tempfile::tempdir().expect("tempdir");
    let tmp = workspace.dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("TMPDIR");
    // No `exec`: helm's own child hangs, which only a kill of helm's whole
    // process group reaches (the parent-death signal goes to helm alone).
    let fake = hanging_helm(helm_dir.path(), emulators.helm_v3(), "sleep 600 & wait");
    let mut apply = workspace
        .command(&emulators, emulators.aws_endpoint(), &["apply", "--yes"])
        .env("STACKPLAN_HELM", &fake)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting apply");
    let stderr = apply.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let copy = workspace.dir.path().join("apply.log");
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut copy = std::fs::File::create(copy).expect("apply's log");
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = writeln!(copy, "{line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let log = workspace.dir.path().join("apply.log");
    let pids = wait_for_hanging_upgrades(&mut apply, helm_dir.path(), &log);
    let members_before: usize = pids.iter().map(|p| group_members(*p).len()).sum();
    assert!(
        members_before >= 2 * pids.len(),
        "helm started nothing of its own; the test proves nothing"
    );

    let interrupt = |pid: u32| {
        let status = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
    };
    let mut seen = Vec::new();
    interrupt(apply.id());
    // The second Ctrl-C counts once the first has been taken.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|l: &String| l.contains("stopping after the"))
    {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(timeout) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the first Ctrl-C was not taken:\n{}", seen.join("\n")),
        }
    }
    interrupt(apply.id());
    let status = apply.wait().expect("apply");
    seen.extend(lines.try_iter());
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    // Not the parent-death signal, which reaches helm alone: its own
    // child goes only with the kill of its whole group.
    let left = wait_until_groups_gone(&pids);
    assert!(
        left.is_empty(),
        "helm's processes outlived the abort: {left:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("helm command(s) in flight")),
        "{}",
        seen.join("\n")
    );
    assert_no_values_left(&tmp, PASSWORD);
}
