//! A world where pods get placed: the real kube-scheduler and workload
//! controllers (`Emulators::start_scheduling`), Nodes that follow the
//! stack's node group in moto, shaped by its instance type as EKS reports
//! it, and the EKS DaemonSets on them (`stackplan_testkit::kubelet`). The
//! real Milvus 5.0.19 chart is planned and applied with `wait = true`.
//!
//! What it shows: the plan's fit check and the real scheduler agree, both
//! when the node group is too small and when it is large enough; a wait
//! that cannot succeed runs out naming the pods the scheduler left
//! Pending and why; and once the node group is large enough, the wait
//! succeeds with every pod placed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::workspace::{Workspace, kubectl, text};
use serde_json::Value;
use stackplan_testkit::Emulators;
use stackplan_testkit::kubelet::{Kubelet, NodeCapacity};

/// A node of `instance_type` as its kubelet reports it on EKS: capacity
/// the instance's, allocatable after EKS's reservation, max pods by ENIs;
/// the same instance table the fit check reads.
fn eks_node(instance_type: &str) -> Option<NodeCapacity> {
    let t = stackplan_capacity::instance_type(instance_type)?;
    let allocatable = t.allocatable();
    Some(NodeCapacity {
        capacity_cpu_millis: u64::from(t.vcpu) * 1000,
        capacity_memory_bytes: t.memory_mib << 20,
        allocatable_cpu_millis: allocatable.cpu_millis,
        allocatable_memory_bytes: allocatable.memory_bytes,
        pods: t.max_pods(),
    })
}

/// The DaemonSets every EKS node runs (aws-node, kube-proxy), with the
/// requests their add-on manifests give, for the daemonset controller to
/// put on each node as EKS does.
fn eks_daemonsets(emulators: &Emulators) {
    for ds in stackplan_capacity::eks_daemonsets() {
        let manifest = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": ds.name, "namespace": ds.namespace},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": ds.name}},
                "template": {
                    "metadata": {"labels": {"k8s-app": ds.name}},
                    "spec": {"containers": [{
                        "name": ds.name,
                        "image": "public.ecr.aws/eks/placeholder:1",
                        "resources": {"requests": {
                            "cpu": format!("{}m", ds.per_pod.cpu_millis),
                            "memory": ds.per_pod.memory_bytes.to_string(),
                        }},
                    }]},
                },
            },
        });
        let mut child = emulators
            .command(emulators.kubectl())
            .args(["--kubeconfig", emulators.kubeconfig().to_str().unwrap()])
            .args(["apply", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// One pod of the release as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LivePod {
    phase: String,
    node: String,
    /// The scheduler's message when it could not place the pod.
    unschedulable: Option<String>,
    /// Summed over its containers, as the scheduler counts them.
    cpu_millis: u64,
    memory_bytes: u64,
}

/// The release's pods, by name.
fn release_pods(emulators: &Emulators) -> BTreeMap<String, LivePod> {
    let json = kubectl(
        emulators,
        "milvus",
        &[
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/instance=demo",
            "-o",
            "json",
        ],
    );
    let doc: Value = serde_json::from_str(&json).unwrap();
    let quantity = |v: &Value, f: fn(&str) -> Result<u64, stackplan_capacity::CapacityError>| {
        v.as_str().map(|q| f(q).expect("a quantity")).unwrap_or(0)
    };
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let unschedulable = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                .map(|c| c["message"].as_str().unwrap_or_default().to_string());
            let containers = p["spec"]["containers"].as_array().unwrap();
            let requests = |key: &str, f| {
                containers
                    .iter()
                    .map(|c| quantity(&c["resources"]["requests"][key], f))
                    .sum::<u64>()
            };
            let pod = LivePod {
                phase: p["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                node: p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                unschedulable,
                cpu_millis: requests("cpu", stackplan_capacity::cpu_millis),
                memory_bytes: requests("memory", stackplan_capacity::memory_bytes),
            };
            (p["metadata"]["name"].as_str().unwrap().to_string(), pod)
        })
        .collect()
}

/// The release's pods once the scheduler has decided on each (Running
/// where placed, Unschedulable where not) and the ReplicaSets and
/// StatefulSet have made them all (`expected`).
fn settled_pods(emulators: &Emulators, expected: usize) -> BTreeMap<String, LivePod> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pods = release_pods(emulators);
        let decided = pods
            .values()
            .all(|p| p.phase == "Running" || p.unschedulable.is_some());
        if pods.len() == expected && decided {
            return pods;
        }
        assert!(
            Instant::now() < deadline,
            "the release's pods did not settle: {pods:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The fit warning's `the pods request 14 vCPU, 35.0 GiB in all`, as
/// millicores and bytes.
fn requested_in_all(warning: &str) -> (u64, u64) {
    let rest = warning
        .split("the pods request ")
        .nth(1)
        .expect("the fit warning states the requests");
    let cpu = rest.split(" vCPU").next().unwrap();
    let gib = rest
        .split(", ")
        .nth(1)
        .unwrap()
        .split(" GiB")
        .next()
        .unwrap();
    let cpu: f64 = cpu.parse().unwrap();
    let gib: f64 = gib.parse().unwrap();
    (
        (cpu * 1000.0).round() as u64,
        (gib * f64::from(1 << 30)).round() as u64,
    )
}

#[test]
fn the_scheduler_agrees_with_the_fit_check_and_a_wait_names_the_pods_it_could_not_place() {
    let emulators = Emulators::start_scheduling().expect("emulators");
    let w = Workspace::new(&emulators);
    let stack = w.stack().display().to_string();
    eks_daemonsets(&emulators);
    let kubelet = Kubelet::follow_node_groups(&emulators, "milvus-local", eks_node).unwrap();

    // One node: the plan warns, before anything is applied.
    w.edit("desired       = 3", "desired       = 1");
    let plan = w.run(&emulators, &["plan", &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let stderr = String::from_utf8_lossy(&plan.stderr).into_owned();
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: fit: "))
        .unwrap_or_else(|| panic!("no fit warning: {}", text(&plan)));
    assert!(
        warning.contains(
            "the pods do not fit the node groups (1 x m6i.2xlarge): packed largest first, 4 pods stay Pending: "
        ),
        "{warning}"
    );
    let (fit_cpu, fit_memory) = requested_in_all(warning);

    // Applied without waiting, the real scheduler decides on each pod.
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    // 11 pods: 3 etcd, 2 mixcoord, 2 proxy, and one each of query node,
    // data node, streaming node and Attu.
    let pods = settled_pods(&emulators, 11);
    let pending: BTreeMap<&String, &LivePod> =
        pods.iter().filter(|(_, p)| p.phase != "Running").collect();
    // It agrees the pods do not fit, and for the reason the fit check
    // gives: not enough CPU or memory on the node, nothing else.
    assert!(
        !pending.is_empty(),
        "the fit check warned, yet all ran: {pods:#?}"
    );
    for (name, pod) in &pending {
        let why = pod.unschedulable.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("0/1 nodes are available: ") && why.contains("Insufficient"),
            "{name}: {why}"
        );
    }
    // The controllers made the pods the fit check counted: the same
    // requests in all (requests default to the chart's limits).
    let live_cpu: u64 = pods.values().map(|p| p.cpu_millis).sum();
    let live_memory: u64 = pods.values().map(|p| p.memory_bytes).sum();
    assert_eq!((live_cpu, live_memory), (fit_cpu, fit_memory), "{pods:#?}");
    // And what the scheduler placed fits in what the fit check says one
    // node leaves the Milvus pods.
    let placed_cpu: u64 = pods
        .values()
        .filter(|p| p.phase == "Running")
        .map(|p| p.cpu_millis)
        .sum();
    assert!(placed_cpu <= 7_785, "{placed_cpu}m placed: {pods:#?}");

    // Waiting for them cannot succeed: the wait runs out naming exactly
    // the pods the scheduler left Pending, with its reasons.
    w.edit("wait    = false", "wait    = true\ntimeout = \"40s\"");
    let wait = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(wait.status.code(), Some(1), "{}", text(&wait));
    let err = String::from_utf8_lossy(&wait.stderr);
    assert!(
        err.contains(&format!(
            "{} of the release's pods were still Pending when the wait ran out:",
            pending.len()
        )),
        "{}",
        text(&wait)
    );
    // The scheduler words its reason afresh at each attempt ("1
    // Insufficient cpu." may become "1 Insufficient cpu, 1 Insufficient
    // memory."), so the pod and the scheduler's verdict are matched.
    for name in pending.keys() {
        let line = format!("  milvus/{name}: 0/1 nodes are available: ");
        assert!(err.contains(&line), "`{line}` missing: {}", text(&wait));
    }
    assert!(err.contains("raise the node group's `desired`"), "{err}");

    // Three nodes: no warning, and the wait succeeds with every pod placed.
    w.edit("desired       = 1", "desired       = 3");
    let plan = w.run(&emulators, &["plan", &stack]);
    assert!(
        !String::from_utf8_lossy(&plan.stderr).contains("fit:"),
        "{}",
        text(&plan)
    );
    let apply = w.run(&emulators, &["apply", "--yes", &stack]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let pods = settled_pods(&emulators, 11);
    assert!(pods.values().all(|p| p.phase == "Running"), "{pods:#?}");
    assert_eq!(kubelet.errors(), Vec::<String>::new());
}
