//! Plan CPU time and peak memory for synthetic stacks of 1,000 and 10,000
//! resources against fake providers, side by side with their growth.
//!
//! Each size runs in a child process of this binary, so one size's peak
//! memory cannot hide in another's. The plan runs on a current-thread
//! runtime, so the main thread's CPU time (`/proc/thread-self/schedstat`,
//! nanoseconds) is the plan's; peak memory is the peak resident set
//! (`VmHWM`) during the plan, reset just before it (`/proc/self/clear_refs`)
//! and measured above the resident set at that moment. Linux only.
//!
//! `just bench`, or `cargo bench -p stackplan-engine --bench plan_scale`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::Command;
use std::time::Instant;

use stackplan_core::{
    ProviderRegistry, Resource, ResourceAddr, ResourceKind as K, StateDocument, Value,
};
use stackplan_engine::testing::FakeCloud;
use stackplan_engine::{PlanRequest, PlanSettings, Planner};

const SIZES: [usize; 2] = [1_000, 10_000];
const RUNS: usize = 3;

/// Groups of five resources wired like the Milvus stack's IRSA chain: a
/// bucket, a policy on its ARN, a role using the policy, a service account
/// annotated with the role, and a Helm release consuming the bucket and
/// the service account.
fn synthetic_stack(n: usize) -> Vec<Resource> {
    let mut out = Vec::with_capacity(n);
    for g in 0..n.div_ceil(5) {
        let bucket = ResourceAddr::new(K::S3Bucket, format!("b{g}"));
        let policy = ResourceAddr::new(K::IamPolicy, format!("p{g}"));
        let role = ResourceAddr::new(K::IamRole, format!("r{g}"));
        let sa = ResourceAddr::new(K::K8sServiceAccount, format!("sa{g}"));
        let group = [
            Resource::managed(K::S3Bucket, format!("b{g}"))
                .attr("bucket", format!("acme-bench-{g}"))
                .attr("versioning", true)
                .attr("tags", Value::map([("group", Value::Int(g as i64))])),
            Resource::managed(K::IamPolicy, format!("p{g}"))
                .attr("name", format!("bench-{g}"))
                .attr(
                    "document",
                    Value::map([
                        ("Version", "2012-10-17".into()),
                        (
                            "Statement",
                            Value::list([Value::map([
                                ("Effect", "Allow".into()),
                                (
                                    "Action",
                                    Value::list(["s3:GetObject".into(), "s3:PutObject".into()]),
                                ),
                                (
                                    "Resource",
                                    Value::Concat(vec![
                                        Value::reference(&bucket, "arn"),
                                        "/*".into(),
                                    ]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            Resource::managed(K::IamRole, format!("r{g}"))
                .attr("name", format!("bench-{g}"))
                .attr(
                    "managed_policy_arns",
                    Value::list([Value::reference(&policy, "arn")]),
                ),
            Resource::managed(K::K8sServiceAccount, format!("sa{g}"))
                .attr("namespace", "bench")
                .attr("name", format!("sa-{g}"))
                .attr(
                    "annotations",
                    Value::map([("eks.amazonaws.com/role-arn", Value::reference(&role, "arn"))]),
                ),
            Resource::managed(K::HelmRelease, format!("h{g}"))
                .attr("name", format!("release-{g}"))
                .attr("namespace", "bench")
                .attr(
                    "values",
                    Value::map([
                        (
                            "externalS3",
                            Value::map([("bucketName", Value::reference(&bucket, "bucket"))]),
                        ),
                        (
                            "serviceAccount",
                            Value::map([("name", Value::reference(&sa, "name"))]),
                        ),
                        ("proxy", Value::map([("replicas", Value::Int(2))])),
                    ]),
                ),
        ];
        out.extend(group);
    }
    out.truncate(n);
    out
}

/// Applied, then 1% drifted live and 1% changed in the stack, so the plan
/// has real work: refresh all, diff all, a few updates and drifts.
fn scenario(n: usize) -> (Vec<Resource>, FakeCloud, StateDocument) {
    let mut resources = synthetic_stack(n);
    let cloud = FakeCloud::new();
    let state = cloud.apply_all("bench", &resources);
    for (i, r) in resources.iter_mut().enumerate() {
        if i % 100 == 0 && r.addr.kind == K::S3Bucket {
            cloud.set_attr(&r.addr, "versioning", Value::Bool(false));
        }
        if i % 100 == 4 && r.addr.kind == K::HelmRelease {
            r.attrs.insert(
                "values".into(),
                Value::map([("proxy", Value::map([("replicas", Value::Int(3))]))]),
            );
        }
    }
    (resources, cloud, state)
}

fn proc_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// One size, in this (child) process: prints one `key=value` line.
fn measure(n: usize) {
    let (resources, cloud, state) = scenario(n);
    let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let planner = Planner::new(&registry, PlanSettings::default());
    let req = PlanRequest {
        stack: "bench",
        stack_sha256: "0",
        resources: &resources,
        state: Some(&state),
    };

    // Reset the peak resident set to the current one, then plan once for
    // memory; then time the best of RUNS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = proc_field("/proc/self/status", "VmRSS:");
    let plan = rt.block_on(planner.plan(req)).expect("plan");
    let peak = proc_field("/proc/self/status", "VmHWM:");
    let changes = plan.summary().changes();
    drop(plan);

    let mut best_cpu = u64::MAX;
    let mut best_wall = f64::MAX;
    for _ in 0..RUNS {
        let (c0, w0) = (cpu_ns(), Instant::now());
        let plan = rt.block_on(planner.plan(req)).expect("plan");
        best_cpu = best_cpu.min(cpu_ns() - c0);
        best_wall = best_wall.min(w0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(plan.changes.len(), n);
    }
    println!(
        "size={n} cpu_ms={:.1} wall_ms={best_wall:.1} peak_kib={} changes={changes}",
        best_cpu as f64 / 1e6,
        peak.saturating_sub(rss_before)
    );
}

fn parse(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--size") {
        measure(args[i + 1].parse().expect("a size"));
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    for n in SIZES {
        let out = Command::new(&exe)
            .args(["--size", &n.to_string()])
            .output()
            .expect("run a size");
        assert!(
            out.status.success(),
            "size {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rows.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    println!("plan against fake providers (refresh + diff + guards + basis), best of {RUNS}");
    println!(
        "{:>10} {:>12} {:>12} {:>16} {:>14} {:>9}",
        "resources", "cpu ms", "wall ms", "peak mem MiB", "KiB/resource", "changes"
    );
    for row in &rows {
        let n = parse(row, "size");
        let kib = parse(row, "peak_kib");
        println!(
            "{:>10} {:>12.1} {:>12.1} {:>16.1} {:>14.2} {:>9}",
            n,
            parse(row, "cpu_ms"),
            parse(row, "wall_ms"),
            kib / 1024.0,
            kib / n,
            parse(row, "changes")
        );
    }
    let (a, b) = (&rows[0], &rows[1]);
    let size_ratio = parse(b, "size") / parse(a, "size");
    println!(
        "growth for {size_ratio:.0}x resources: cpu x{:.1}, wall x{:.1}, peak memory x{:.1} (linear would be x{size_ratio:.0})",
        parse(b, "cpu_ms") / parse(a, "cpu_ms"),
        parse(b, "wall_ms") / parse(a, "wall_ms"),
        parse(b, "peak_kib") / parse(a, "peak_kib"),
    );
}
