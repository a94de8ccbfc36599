//! Fit and cost at plan time: the pods the charts render against the node
//! groups' room, and the stack's monthly estimate (stackplan-capacity),
//! from the stack and the manifests `charts::check_render` made.

use std::collections::BTreeMap;

use miette::miette;
use stackplan_capacity::{
    CapacityError, CostInput, Estimate, FitReport, MskInput, NodeGroupCost, NodePool, Workload,
    check_fit, estimate, workloads,
};
use stackplan_core::{CostEstimate, CostLine, Plan, ResourceAddr, StateDocument};
use stackplan_kube::manifest::parse_manifest;
use stackplan_stack::{NatMode, Stack, VpcSpec};

/// What a plan says of the stack's size and price.
#[derive(Debug)]
pub struct Assessment {
    /// `Err` when a pod can never run (larger than any node), or a node
    /// group's type is not in the instance table.
    pub fit: Result<FitReport, CapacityError>,
    pub estimate: Estimate,
}

/// The pods and billed objects of every release's manifest.
fn rendered(
    manifests: &BTreeMap<ResourceAddr, String>,
) -> Result<(Vec<Workload>, u32, f64), CapacityError> {
    let mut all = Vec::new();
    let mut load_balancers = 0;
    for manifest in manifests.values() {
        // The render check parsed these already: a failure here is not
        // reachable from a plan.
        let objects: Vec<serde_json::Value> = parse_manifest(manifest)
            .map(|o| o.into_iter().map(|o| o.body).collect())
            .unwrap_or_default();
        let (w, extras) = workloads(&objects)?;
        all.extend(w);
        load_balancers += extras.load_balancers;
    }
    let volume_gib = all
        .iter()
        .map(|w| f64::from(w.replicas) * w.volume_gib_per_pod)
        .sum();
    Ok((all, load_balancers, volume_gib))
}

/// The node groups as the fit check counts them: `desired` nodes, or
/// `max` for an autoscaled group (the room it can grow to).
fn pools(stack: &Stack) -> Vec<NodePool> {
    stack
        .eks
        .nodegroups
        .iter()
        .map(|ng| NodePool {
            name: ng.name.clone(),
            instance_type: ng.instance_type.clone(),
            nodes: if ng.autoscaled { ng.max } else { ng.desired },
        })
        .collect()
}

/// Assesses the stack with its rendered manifests.
pub fn assess(stack: &Stack, manifests: &BTreeMap<ResourceAddr, String>) -> Assessment {
    let (pods, load_balancers, volume_gib) = match rendered(manifests) {
        Ok(r) => r,
        Err(e) => {
            return Assessment {
                fit: Err(e),
                estimate: estimate(&cost_input(stack, 0, 0.0)),
            };
        }
    };
    Assessment {
        fit: check_fit(&pools(stack), &pods),
        estimate: estimate(&cost_input(stack, load_balancers, volume_gib)),
    }
}

/// What a plan prices: the stack with its rendered manifests (after the
/// change), and state with the releases' deployed manifests (now).
pub struct Priced<'a> {
    pub stack: &'a Stack,
    pub manifests: &'a BTreeMap<ResourceAddr, String>,
    pub state: Option<&'a StateDocument>,
    pub deployed: &'a BTreeMap<ResourceAddr, String>,
}

/// Adds the assessment to a plan: pods that will not schedule as a
/// warning naming them, the estimate as the plan's `cost`, with what
/// state records as running now priced beside it. A pod no node can ever
/// hold fails the plan, before anything is changed.
pub fn add_to_plan(plan: &mut Plan, p: Priced<'_>) -> miette::Result<()> {
    let a = assess(p.stack, p.manifests);
    match &a.fit {
        Ok(fit) if !fit.fits() => plan.warnings.push(pending_warning(p.stack, fit)),
        Ok(_) => {}
        Err(e @ CapacityError::PodLargerThanAnyNode { .. }) => {
            return Err(miette!(
                help = "give the pod smaller requests (`[milvus.resources]`, `[milvus.values]`), or the node group a larger instance_type; nothing was changed",
                "the pods cannot run on the stack's node groups: {e}"
            ));
        }
        // An instance type the table lacks: the fit is not known, and the
        // plan says so rather than guess.
        Err(e) => plan.warnings.push(format!("fit not checked: {e}")),
    }
    let before = p
        .state
        .map(|s| estimate(&state_input(p.stack, s, p.deployed)));
    let was = |resource: &str| {
        before
            .as_ref()?
            .lines
            .iter()
            .find(|l| l.resource == resource)?
            .monthly
    };
    plan.cost = Some(CostEstimate {
        prices_as_of: a.estimate.source.as_of.clone(),
        source: a.estimate.source.pages.clone(),
        lines: a
            .estimate
            .lines
            .iter()
            .map(|l| CostLine {
                resource: l.resource.clone(),
                basis: l.basis.clone(),
                monthly_usd: l.monthly,
                before_monthly_usd: was(&l.resource),
            })
            .collect(),
        before_known_total: before.as_ref().map(Estimate::known_total),
    });
    Ok(())
}

/// What state records as running, priced as the stack is: each resource
/// by its last-applied attributes, the load balancers and volumes from
/// the manifests the releases run now. What state does not hold costs
/// nothing yet.
fn state_input(
    stack: &Stack,
    state: &StateDocument,
    deployed: &BTreeMap<ResourceAddr, String>,
) -> CostInput {
    use stackplan_core::{ResourceKind as K, Value};
    let of = |kind: K| state.resources.iter().filter(move |r| r.addr.kind == kind);
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    let (_, load_balancers, volume_gib) = rendered(deployed).unwrap_or((Vec::new(), 0, 0.0));
    CostInput {
        region: stack.region.clone(),
        eks_cluster: of(K::EksCluster).next().map(|r| r.addr.to_string()),
        node_groups: of(K::EksNodegroup)
            .map(|r| {
                let a = &r.attributes;
                NodeGroupCost {
                    address: r.addr.to_string(),
                    instance_type: a
                        .get("instance_types")
                        .and_then(|v| match v {
                            Value::List(items) => items.first()?.as_str().map(str::to_string),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    nodes: int(a.get("scaling").and_then(|s| s.get_path("desired_size"))) as u32,
                    disk_gib: int(a.get("disk_size")) as u32,
                }
            })
            .collect(),
        msk: of(K::MskCluster).next().map(|r| {
            let a = &r.attributes;
            MskInput {
                address: r.addr.to_string(),
                broker_type: a
                    .get("instance_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                brokers: int(a.get("number_of_broker_nodes")) as u32,
                storage_gib: int(a.get("volume_size")) as u32,
            }
        }),
        nat_gateways: of(K::Ec2NatGateway).count() as u32,
        load_balancers,
        persistent_volume_gib: volume_gib,
        s3: of(K::S3Bucket).next().map(|r| {
            (
                r.addr.to_string(),
                stack
                    .s3
                    .as_ref()
                    .and_then(|s| s.expected_size_gib)
                    .map(f64::from),
            )
        }),
    }
}

/// `fit: the pods do not fit the node groups (1 x m6i.2xlarge): packed
/// largest first, 4 stay Pending: Deployment milvus/demo-milvus-mixcoord
/// (2 pods, 2.5 vCPU, 3.5 GiB each), ...; the pods request 14 vCPU, 35.0
/// GiB in all, ...`. Which pods the scheduler leaves Pending depends on
/// the order they come in (see `stackplan_capacity::fit`).
fn pending_warning(stack: &Stack, fit: &FitReport) -> String {
    let mut by_workload: BTreeMap<&str, (u32, String)> = BTreeMap::new();
    for p in &fit.pending {
        let e = by_workload
            .entry(p.workload.as_str())
            .or_insert((0, p.requests.to_string()));
        e.0 += 1;
    }
    let pods: Vec<String> = by_workload
        .iter()
        .map(|(w, (n, r))| format!("{w} ({n} pod{}, {r} each)", if *n == 1 { "" } else { "s" }))
        .collect();
    let groups: Vec<String> = pools(stack)
        .iter()
        .map(|p| format!("{} x {}", p.nodes, p.instance_type))
        .collect();
    format!(
        "fit: the pods do not fit the node groups ({}): packed largest first, {} pod{} stay{} Pending: {}; the pods request {} in all, the nodes leave them {} after EKS's reservation and DaemonSets. Raise `desired` or the instance type.",
        groups.join(", "),
        fit.pending.len(),
        if fit.pending.len() == 1 { "" } else { "s" },
        if fit.pending.len() == 1 { "s" } else { "" },
        pods.join(", "),
        fit.requested,
        fit.available
    )
}

fn cost_input(stack: &Stack, load_balancers: u32, persistent_volume_gib: f64) -> CostInput {
    let nat_gateways = match &stack.network.vpc {
        VpcSpec::Create { nat, azs, .. } => match nat {
            NatMode::Single => 1,
            NatMode::PerAz => *azs,
            NatMode::None => 0,
        },
        VpcSpec::Existing { .. } => 0,
    };
    CostInput {
        region: stack.region.clone(),
        eks_cluster: Some("eks_cluster.main".to_string()),
        node_groups: stack
            .eks
            .nodegroups
            .iter()
            .map(|ng| NodeGroupCost {
                address: format!("eks_nodegroup.{}", ng.name),
                instance_type: ng.instance_type.clone(),
                // An autoscaled group costs at least its minimum.
                nodes: if ng.autoscaled { ng.min } else { ng.desired },
                disk_gib: ng.disk_size,
            })
            .collect(),
        msk: stack.msk.as_ref().map(|m| MskInput {
            address: "msk_cluster.milvus".to_string(),
            broker_type: m.broker_type.clone(),
            brokers: m.brokers,
            storage_gib: m.volume_size,
        }),
        nat_gateways,
        load_balancers,
        persistent_volume_gib,
        s3: stack.s3.as_ref().map(|s| {
            (
                "s3_bucket.milvus".to_string(),
                s.expected_size_gib.map(f64::from),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> (Stack, BTreeMap<ResourceAddr, String>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let loaded = super::super::charts::load_for_test(&root.join("stacks/milvus-eks.toml"));
        let manifests = super::super::plan::runtime()
            .unwrap()
            .block_on(super::super::charts::check_render(
                &loaded,
                loaded.charts.as_ref().unwrap(),
            ))
            .unwrap();
        (loaded.stack, manifests)
    }

    /// The real Milvus chart (5.0.19, from ../shared/charts) rendered with
    /// the reference stack's values: its pods fit the reference node
    /// group, and do not when it is cut to one node.
    #[test]
    fn the_real_milvus_charts_pods_fit_the_reference_node_group_and_not_one_node() {
        let (mut stack, manifests) = reference();
        let a = assess(&stack, &manifests);
        let fit = a.fit.as_ref().unwrap();
        assert!(fit.fits(), "{fit:#?}");
        // The chart's requests with the stack's sizes: index node 4 vCPU
        // and 8 GiB, query node 2 and 8, data node 1 and 4, two proxies
        // of 1 and 4, two mixcoords of 2.5 and 3.5.
        assert_eq!(fit.requested.cpu_millis, 14_000, "{fit:?}");
        assert_eq!(fit.requested.memory_bytes, 35 << 30, "{fit:?}");

        // One m6i.2xlarge leaves 7.785 vCPU after EKS's reservation and
        // DaemonSets: the largest pods take it, the rest stay Pending.
        stack.eks.nodegroups[0].desired = 1;
        let fit = assess(&stack, &manifests).fit.unwrap();
        let pending: Vec<String> = fit
            .pending
            .iter()
            .map(|p| format!("{}#{}", p.workload, p.index))
            .collect();
        assert_eq!(
            pending,
            [
                "Deployment milvus/demo-milvus-mixcoord#0",
                "Deployment milvus/demo-milvus-mixcoord#1",
                "Deployment milvus/demo-milvus-proxy#0",
                "Deployment milvus/demo-milvus-proxy#1",
            ]
        );
    }

    #[test]
    fn the_reference_stack_is_priced_with_its_load_balancers_and_volumes() {
        let (stack, manifests) = reference();
        let e = assess(&stack, &manifests).estimate;
        let line = |r: &str| e.lines.iter().find(|l| l.resource.starts_with(r)).cloned();
        assert!(line("eks_cluster.main").unwrap().monthly.is_some());
        assert!(line("eks_nodegroup.ng-1-milvus").unwrap().monthly.is_some());
        assert!(line("msk_cluster.milvus").unwrap().monthly.is_some());
        // The Milvus Service is a LoadBalancer (an NLB).
        assert!(line("load balancers").is_some(), "{e:#?}");
        assert_eq!(line("s3_bucket.milvus").unwrap().monthly, None);
        assert_eq!(e.source.as_of, "2025-01");
    }

    #[test]
    fn a_stated_bucket_size_is_priced() {
        let (mut stack, manifests) = reference();
        stack.s3.as_mut().unwrap().expected_size_gib = Some(1000);
        let e = assess(&stack, &manifests).estimate;
        let bucket = e
            .lines
            .iter()
            .find(|l| l.resource == "s3_bucket.milvus")
            .unwrap();
        // us-west-2 S3 Standard: $0.023 per GiB-month.
        assert_eq!(bucket.basis, "1000 GiB S3 Standard x $0.023/GiB-month");
        assert!((bucket.monthly.unwrap() - 23.0).abs() < 1e-9);
    }
}
