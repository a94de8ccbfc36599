//! Whether the pods fit the node groups: each pod placed on the first node
//! with room, largest first, after the DaemonSets have taken their share
//! of every node.
//!
//! What it answers is whether the pods fit; which of them stay Pending is
//! the scheduler's to decide, as they arrive. Against the real
//! kube-scheduler on the real Milvus chart (stackplan-cli's
//! `tests/scheduling.rs`), both agree on the verdict and on the requests,
//! while the Pending pods differ: with one node, first-fit-decreasing
//! leaves 4 pods unplaced and the scheduler 2 or 3, other ones. So the
//! warning names the pods packing leaves over, as packing's answer, not
//! as a forecast of the scheduler's. A pod larger than an empty node of
//! every node group can never run.

use crate::CapacityError;
use crate::instances::{Resources, instance_type};
use crate::workloads::Workload;

/// A node group as the fit check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePool {
    pub name: String,
    pub instance_type: String,
    pub nodes: u32,
}

/// One pod of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// `Deployment milvus/demo-milvus-querynode`.
    pub workload: String,
    /// Which of its replicas (0-based).
    pub index: u32,
    pub requests: Resources,
}

/// The outcome of a fit check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitReport {
    /// Pods no node has room for: Pending once applied.
    pub pending: Vec<PodRef>,
    /// What the non-DaemonSet pods request in all.
    pub requested: Resources,
    /// What the nodes leave those pods, after the DaemonSets.
    pub available: Resources,
    /// The nodes counted.
    pub nodes: u32,
}

impl FitReport {
    pub fn fits(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The DaemonSets EKS runs on every node whatever the stack installs: the
/// VPC CNI's `aws-node` (requests 25m CPU) and `kube-proxy` (100m CPU),
/// as their EKS add-on manifests request them (`kubectl -n kube-system get
/// ds aws-node kube-proxy -o yaml` on an EKS cluster).
pub fn eks_daemonsets() -> Vec<Workload> {
    [("aws-node", 25), ("kube-proxy", 100)]
        .into_iter()
        .map(|(name, cpu)| Workload {
            kind: "DaemonSet".to_string(),
            namespace: "kube-system".to_string(),
            name: name.to_string(),
            replicas: 0,
            per_pod: Resources::new(cpu, 0),
            daemon: true,
            volume_gib_per_pod: 0.0,
        })
        .collect()
}

struct Node {
    free: Resources,
    slots: u32,
}

/// Places every pod of `workloads` (their DaemonSets plus
/// [`eks_daemonsets`] on every node) on the node groups' nodes.
pub fn check_fit(pools: &[NodePool], workloads: &[Workload]) -> Result<FitReport, CapacityError> {
    let daemons: Vec<Workload> = workloads
        .iter()
        .filter(|w| w.daemon)
        .cloned()
        .chain(eks_daemonsets())
        .collect();
    let daemon_use = daemons
        .iter()
        .fold(Resources::default(), |acc, d| acc.add(&d.per_pod));
    let daemon_pods = daemons.len() as u32;

    // What an empty node of each pool leaves the other pods.
    let mut empty = Vec::new();
    for pool in pools {
        let t = instance_type(&pool.instance_type).ok_or_else(|| {
            CapacityError::UnknownInstanceType {
                name: pool.instance_type.clone(),
            }
        })?;
        empty.push((
            t.name.clone(),
            Node {
                free: t.allocatable().saturating_sub(&daemon_use),
                slots: t.max_pods().saturating_sub(daemon_pods),
            },
            pool.nodes,
        ));
    }

    let mut pods: Vec<PodRef> = workloads
        .iter()
        .filter(|w| !w.daemon)
        .flat_map(|w| {
            (0..w.replicas).map(move |index| PodRef {
                workload: w.describe(),
                index,
                requests: w.per_pod,
            })
        })
        .collect();
    pods.sort_by(|a, b| {
        (b.requests.memory_bytes, b.requests.cpu_millis)
            .cmp(&(a.requests.memory_bytes, a.requests.cpu_millis))
            .then_with(|| (&a.workload, a.index).cmp(&(&b.workload, b.index)))
    });

    if let Some(pod) = pods
        .iter()
        .find(|p| !empty.is_empty() && empty.iter().all(|(_, n, _)| !p.requests.fits_in(&n.free)))
    {
        let (name, largest, _) = empty
            .iter()
            .max_by_key(|(_, n, _)| (n.free.memory_bytes, n.free.cpu_millis))
            .expect("not empty");
        return Err(CapacityError::PodLargerThanAnyNode {
            pod: pod.workload.clone(),
            requested: pod.requests.to_string(),
            instance_type: name.clone(),
            allocatable: largest.free.to_string(),
        });
    }

    let mut nodes: Vec<Node> = empty
        .iter()
        .flat_map(|(_, n, count)| {
            (0..*count).map(|_| Node {
                free: n.free,
                slots: n.slots,
            })
        })
        .collect();
    let available = nodes
        .iter()
        .fold(Resources::default(), |acc, n| acc.add(&n.free));
    let mut pending = Vec::new();
    let mut requested = Resources::default();
    for pod in pods {
        requested = requested.add(&pod.requests);
        match nodes
            .iter_mut()
            .find(|n| n.slots > 0 && pod.requests.fits_in(&n.free))
        {
            Some(n) => {
                n.free = n.free.saturating_sub(&pod.requests);
                n.slots -= 1;
            }
            None => pending.push(pod),
        }
    }
    pending.sort_by(|a, b| (&a.workload, a.index).cmp(&(&b.workload, b.index)));
    Ok(FitReport {
        pending,
        requested,
        available,
        nodes: nodes.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn deploy(name: &str, replicas: u32, cpu: u64, mem_gib: u64) -> Workload {
        Workload {
            kind: "Deployment".into(),
            namespace: "milvus".into(),
            name: name.into(),
            replicas,
            per_pod: Resources::new(cpu, mem_gib * GIB),
            daemon: false,
            volume_gib_per_pod: 0.0,
        }
    }

    fn pool(nodes: u32) -> Vec<NodePool> {
        vec![NodePool {
            name: "ng-1".into(),
            instance_type: "m6i.2xlarge".into(),
            nodes,
        }]
    }

    #[test]
    fn pods_that_fit_leave_nothing_pending() {
        let w = [
            deploy("querynode", 2, 4000, 16),
            deploy("proxy", 1, 1000, 2),
        ];
        let r = check_fit(&pool(2), &w).unwrap();
        assert!(r.fits(), "{r:?}");
        assert_eq!(r.nodes, 2);
        assert_eq!(r.requested, Resources::new(9000, 34 * GIB));
    }

    #[test]
    fn too_few_nodes_leave_the_pods_that_do_not_fit_pending_by_name() {
        let w = [
            deploy("querynode", 3, 4000, 16),
            deploy("proxy", 1, 1000, 2),
        ];
        let r = check_fit(&pool(2), &w).unwrap();
        let names: Vec<String> = r
            .pending
            .iter()
            .map(|p| format!("{}#{}", p.workload, p.index))
            .collect();
        assert_eq!(names, ["Deployment milvus/querynode#2"]);
    }

    #[test]
    fn a_pod_larger_than_any_node_is_an_error() {
        let w = [deploy("querynode", 1, 4000, 40)];
        let err = check_fit(&pool(5), &w).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Deployment milvus/querynode requests 4 vCPU, 40.0 GiB, more than a m6i.2xlarge node"),
            "{err}"
        );
    }

    #[test]
    fn the_pod_limit_counts_as_much_as_cpu_and_memory() {
        // m6i.2xlarge: 58 pods, two taken by EKS's DaemonSets.
        let w = [deploy("tiny", 57, 1, 0)];
        let r = check_fit(&pool(1), &w).unwrap();
        assert_eq!(r.pending.len(), 1);
    }

    #[test]
    fn an_instance_type_outside_the_table_is_named() {
        let pools = [NodePool {
            name: "x".into(),
            instance_type: "z9.huge".into(),
            nodes: 1,
        }];
        assert_eq!(
            check_fit(&pools, &[]).unwrap_err(),
            CapacityError::UnknownInstanceType {
                name: "z9.huge".into()
            }
        );
    }
}
