//! The nodes of a scheduling test world ([`Emulators::start_scheduling`]):
//! Node objects that follow the EKS node groups moto holds (one per
//! desired instance, shaped by its instance type), and a small loop that
//! plays the kubelet's part on them, and the EBS CSI provisioner's and the
//! load balancer controller's.
//!
//! What is real: the kube-scheduler decides where each pod goes, or that it
//! goes nowhere (`PodScheduled=False`, reason `Unschedulable`, with its own
//! message); the controller-manager makes the pods of Deployments,
//! StatefulSets and DaemonSets and binds claims to volumes. What this loop
//! fakes is only what a node would report: a pod bound to a node is
//! `Running` and `Ready` (containers start at once and pass their probes),
//! a bound pod being deleted is gone (the kubelet's confirmation), a
//! claim waiting for `ebs.csi.aws.com` gets a volume in the zone of the
//! node the scheduler chose, and a Service of type LoadBalancer gets an
//! NLB hostname in its status (which `helm --wait` waits for).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::{Emulators, HarnessError};

/// The provisioner EKS's gp3 classes name (the EBS CSI driver).
pub const EBS_CSI: &str = "ebs.csi.aws.com";

/// How often the loop looks at pods and claims.
const TICK: Duration = Duration::from_millis(250);

/// What a node of one instance type reports to the apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCapacity {
    /// The instance's vCPUs and memory, as `status.capacity`.
    pub capacity_cpu_millis: u64,
    pub capacity_memory_bytes: u64,
    /// What pods may request in all, as `status.allocatable`.
    pub allocatable_cpu_millis: u64,
    pub allocatable_memory_bytes: u64,
    /// `status.allocatable.pods`: the node's max pods.
    pub pods: u32,
}

/// One Node to register.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeShape {
    name: String,
    /// The node group's labels, added to those every EKS node has.
    labels: BTreeMap<String, String>,
    instance_type: String,
    zone: String,
    capacity: NodeCapacity,
}

/// The zones nodes are spread over, in turn.
const ZONES: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];

/// Follows the node groups and plays their kubelets until dropped (which
/// stops the loop; the objects stay, and go with the emulators).
#[derive(Debug)]
pub struct Kubelet {
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Kubelet {
    /// Starts the loop for EKS cluster `cluster`: every node group moto
    /// holds for it becomes `desiredSize` Nodes named `<group>-<i>`, with
    /// what `shape_of(instance_type)` says a node of that type reports.
    /// Scaling a group in moto adds or removes Nodes within a tick; a
    /// removed Node's pods go with it, as with a terminated instance.
    pub fn follow_node_groups<F>(
        emulators: &Emulators,
        cluster: &str,
        shape_of: F,
    ) -> Result<Kubelet, HarnessError>
    where
        F: Fn(&str) -> Option<NodeCapacity> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| HarnessError::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        let client = runtime.block_on(emulators.kube_client())?;
        let eks = aws_sdk_eks::Client::new(&runtime.block_on(emulators.aws_config()));
        let cluster = cluster.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, errors) = (stop.clone(), errors.clone());
            std::thread::spawn(move || {
                runtime.block_on(async move {
                    let mut ips = IpPool::default();
                    let mut leases = Leases::default();
                    while !stop.load(Ordering::Relaxed) {
                        let nodes = follow(&eks, &client, &cluster, &shape_of).await;
                        let nodes = match nodes {
                            Ok(names) => leases.renew(&client, &names).await,
                            Err(e) => Err(e),
                        };
                        let pods = tick(&client, &mut ips).await.map_err(|e| e.to_string());
                        for e in [nodes.err(), pods.err()].into_iter().flatten() {
                            // A conflict with a controller's own write is
                            // retried next tick; keep the rest to report.
                            let transient = e.contains("Conflict") || e.contains("NotFound");
                            if let (false, Ok(mut all)) = (transient, errors.lock()) {
                                all.push(e);
                            }
                        }
                        tokio::time::sleep(TICK).await;
                    }
                })
            })
        };
        Ok(Kubelet {
            stop,
            errors,
            thread: Some(thread),
        })
    }

    /// What the loop failed at so far (empty when all went well): a test
    /// asserts on it so a broken fake cannot pass for a scheduling result.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The Nodes the node groups call for, created; those they no longer call
/// for, deleted with their pods.
async fn follow<F>(
    eks: &aws_sdk_eks::Client,
    client: &kube::Client,
    cluster: &str,
    shape_of: &F,
) -> Result<Vec<String>, String>
where
    F: Fn(&str) -> Option<NodeCapacity>,
{
    let groups = match eks.list_nodegroups().cluster_name(cluster).send().await {
        Ok(out) => out.nodegroups.unwrap_or_default(),
        // No cluster yet: no nodes.
        Err(e) if format!("{e:?}").contains("ResourceNotFound") => Vec::new(),
        Err(e) => return Err(format!("ListNodegroups: {e:?}")),
    };
    let mut wanted = BTreeMap::new();
    for group in groups {
        let ng = eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&group)
            .send()
            .await
            .map_err(|e| format!("DescribeNodegroup {group}: {e:?}"))?
            .nodegroup
            .ok_or("DescribeNodegroup without a node group")?;
        let desired = ng
            .scaling_config
            .as_ref()
            .and_then(|s| s.desired_size)
            .unwrap_or_default();
        let instance_type = ng
            .instance_types
            .as_ref()
            .and_then(|t| t.first().cloned())
            .ok_or_else(|| format!("node group {group} has no instance type"))?;
        let capacity = shape_of(&instance_type)
            .ok_or_else(|| format!("no node shape for instance type {instance_type}"))?;
        let mut labels = ng
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>();
        labels.insert("eks.amazonaws.com/nodegroup".into(), group.clone());
        for i in 0..desired.max(0) as usize {
            let name = format!("{group}-{i}");
            wanted.insert(
                name.clone(),
                NodeShape {
                    name,
                    labels: labels.clone(),
                    instance_type: instance_type.clone(),
                    zone: ZONES[i % ZONES.len()].to_string(),
                    capacity,
                },
            );
        }
    }
    let api: Api<Node> = Api::all(client.clone());
    let have = api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let have: Vec<String> = have.into_iter().filter_map(|n| n.metadata.name).collect();
    for (name, shape) in &wanted {
        if !have.contains(name) {
            // The apiserver takes a Node's status on create (the node
            // registry lets a kubelet register itself whole).
            let node: Node = serde_json::from_value(node_json(shape)).map_err(|e| e.to_string())?;
            api.create(&PostParams::default(), &node)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    for name in have.iter().filter(|n| !wanted.contains_key(*n)) {
        let pods: Api<Pod> = Api::all(client.clone());
        let on_node = ListParams::default().fields(&format!("spec.nodeName={name}"));
        for pod in pods.list(&on_node).await.map_err(|e| e.to_string())? {
            if let (Some(ns), Some(pod_name)) = (pod.metadata.namespace, pod.metadata.name) {
                Api::<Pod>::namespaced(client.clone(), &ns)
                    .delete(&pod_name, &DeleteParams::default().grace_period(0))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(wanted.into_keys().collect())
}

/// How often a node renews its lease: the kubelet's default (a quarter of
/// the 40 s lease), well inside the node lifecycle controller's 40 s grace.
const LEASE_RENEWAL: Duration = Duration::from_secs(10);

/// Each node's heartbeat, the `kube-node-lease` Lease its kubelet renews;
/// without it the node lifecycle controller marks the node NotReady.
#[derive(Default)]
struct Leases {
    renewed: BTreeMap<String, std::time::Instant>,
}

impl Leases {
    async fn renew(&mut self, client: &kube::Client, nodes: &[String]) -> Result<(), String> {
        let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        for node in nodes {
            if self
                .renewed
                .get(node)
                .is_some_and(|at| at.elapsed() < LEASE_RENEWAL)
            {
                continue;
            }
            let now = k8s_openapi::jiff::Timestamp::now();
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": node,
                    "leaseDurationSeconds": 40,
                    "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                },
            });
            api.patch(
                node,
                &PatchParams::apply("stackplan-testkit-kubelet").force(),
                &Patch::Apply(&lease),
            )
            .await
            .map_err(|e| format!("renewing the lease of {node}: {e}"))?;
            self.renewed.insert(node.clone(), std::time::Instant::now());
        }
        self.renewed.retain(|n, _| nodes.contains(n));
        Ok(())
    }
}

fn node_json(shape: &NodeShape) -> Value {
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", shape.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        (
            "node.kubernetes.io/instance-type",
            shape.instance_type.as_str(),
        ),
        ("topology.kubernetes.io/zone", shape.zone.as_str()),
        ("topology.ebs.csi.aws.com/zone", shape.zone.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.extend(shape.labels.clone());
    let now = now();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": shape.name, "labels": labels },
        "status": {
            "capacity": {
                "cpu": format!("{}m", shape.capacity.capacity_cpu_millis),
                "memory": shape.capacity.capacity_memory_bytes.to_string(),
                "pods": shape.capacity.pods.to_string(),
            },
            "allocatable": {
                "cpu": format!("{}m", shape.capacity.allocatable_cpu_millis),
                "memory": shape.capacity.allocatable_memory_bytes.to_string(),
                "pods": shape.capacity.pods.to_string(),
            },
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "stackplan-testkit plays this node's kubelet",
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
        },
    })
}

/// A namespaced object's namespace, name and uid, when it has all three
/// (anything the apiserver returned does).
fn identity(meta: &ObjectMeta) -> Option<(String, String, String)> {
    Some((
        meta.namespace.clone()?,
        meta.name.clone()?,
        meta.uid.clone()?,
    ))
}

/// Pod addresses, one per pod, from 10.0.128.0/17 (the stacks' VPC CIDR).
#[derive(Default)]
struct IpPool {
    next: u32,
    by_pod: BTreeMap<String, String>,
}

impl IpPool {
    fn ip(&mut self, uid: &str) -> String {
        if let Some(ip) = self.by_pod.get(uid) {
            return ip.clone();
        }
        self.next += 1;
        let n = self.next;
        let ip = format!("10.0.{}.{}", 128 + (n >> 8) % 128, n & 0xff);
        self.by_pod.insert(uid.to_string(), ip.clone());
        ip
    }
}

async fn tick(client: &kube::Client, ips: &mut IpPool) -> Result<(), kube::Error> {
    run_bound_pods(client, ips).await?;
    provision_claims(client).await?;
    address_load_balancers(client).await
}

/// The AWS Load Balancer Controller's part: a Service of type
/// LoadBalancer gets its NLB's DNS name in `status.loadBalancer.ingress`,
/// in the controller's `k8s-<namespace>-<name>-<hash>` form.
async fn address_load_balancers(client: &kube::Client) -> Result<(), kube::Error> {
    let all: Api<Service> = Api::all(client.clone());
    for svc in all.list(&ListParams::default()).await? {
        let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
        let addressed = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        let Some((ns, name, uid)) = identity(&svc.metadata) else {
            continue;
        };
        if !is_lb || addressed {
            continue;
        }
        let short = |s: &str| s.chars().take(8).collect::<String>();
        let hostname = format!(
            "k8s-{}-{}-{}.elb.us-west-2.amazonaws.com",
            short(&ns),
            short(&name),
            uid.replace('-', "").chars().take(10).collect::<String>()
        );
        let status = json!({"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}});
        Api::<Service>::namespaced(client.clone(), &ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    Ok(())
}

/// Bound pods start (Running, Ready); bound pods being deleted are gone.
async fn run_bound_pods(client: &kube::Client, ips: &mut IpPool) -> Result<(), kube::Error> {
    let all: Api<Pod> = Api::all(client.clone());
    for pod in all.list(&ListParams::default()).await? {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let Some((ns, name, uid)) = identity(&pod.metadata) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            api.delete(&name, &DeleteParams::default().grace_period(0))
                .await?;
            continue;
        }
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
            continue;
        }
        let now = now();
        let containers: Vec<Value> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .map(|c| {
                json!({
                    "name": c.name, "image": c.image.clone().unwrap_or_default(),
                    "imageID": "", "ready": true, "started": true, "restartCount": 0,
                    "state": { "running": { "startedAt": now } },
                })
            })
            .collect();
        let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
        let status = json!({
            "status": {
                "phase": "Running",
                "hostIP": format!("10.0.{}.10", node.len() % 64),
                "podIP": ips.ip(&uid),
                "startTime": now,
                "conditions": [
                    condition("Initialized"), condition("Ready"),
                    condition("ContainersReady"), condition("PodScheduled"),
                ],
                "containerStatuses": containers,
            }
        });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    Ok(())
}

/// The EBS CSI driver's external-provisioner: a claim the PV controller
/// handed to `ebs.csi.aws.com` gets a volume named `pvc-<claim uid>` (the
/// external-provisioner's naming), pre-bound to it, in the zone of the node
/// the scheduler picked (`volume.kubernetes.io/selected-node`) for a
/// `WaitForFirstConsumer` class. The PV controller then binds the two.
async fn provision_claims(client: &kube::Client) -> Result<(), kube::Error> {
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let nodes: Api<Node> = Api::all(client.clone());
    for claim in claims.list(&ListParams::default()).await? {
        let annotations = claim.metadata.annotations.clone().unwrap_or_default();
        let provisioner = annotations
            .get("volume.beta.kubernetes.io/storage-provisioner")
            .or_else(|| annotations.get("volume.kubernetes.io/storage-provisioner"));
        let spec = claim.spec.clone().unwrap_or_default();
        if provisioner.map(String::as_str) != Some(EBS_CSI) || spec.volume_name.is_some() {
            continue;
        }
        let Some((ns, name, uid)) = identity(&claim.metadata) else {
            continue;
        };
        let pv_name = format!("pvc-{uid}");
        if volumes.get_opt(&pv_name).await?.is_some() {
            continue;
        }
        let zone = match annotations.get("volume.kubernetes.io/selected-node") {
            Some(node) => nodes
                .get_opt(node)
                .await?
                .and_then(|n| n.metadata.labels)
                .and_then(|l| l.get("topology.kubernetes.io/zone").cloned()),
            None => None,
        };
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "1Gi".into());
        let mut pv = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": { "pv.kubernetes.io/provisioned-by": EBS_CSI },
            },
            "spec": {
                "capacity": { "storage": size },
                "accessModes": spec.access_modes.clone().unwrap_or_default(),
                "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
                "persistentVolumeReclaimPolicy": "Delete",
                "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()),
                "claimRef": { "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                              "namespace": ns, "name": name, "uid": uid },
                "csi": { "driver": EBS_CSI, "volumeHandle": format!("vol-{}", &uid[..8.min(uid.len())]),
                         "fsType": "ext4" },
            },
        });
        if let Some(zone) = zone {
            pv["spec"]["nodeAffinity"] = json!({ "required": { "nodeSelectorTerms": [{
                "matchExpressions": [{ "key": "topology.ebs.csi.aws.com/zone",
                                       "operator": "In", "values": [zone] }]
            }]}});
        }
        let pv: PersistentVolume = serde_json::from_value(pv).map_err(kube::Error::SerdeError)?;
        volumes.create(&PostParams::default(), &pv).await?;
    }
    Ok(())
}

/// RFC 3339 UTC, whole seconds, as Kubernetes writes times.
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
