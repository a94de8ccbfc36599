//! The pods a release's wait is held up by: while `helm --wait` runs,
//! stackplan looks at the release's pods, reports those still Pending as
//! progress, and names them when the wait runs out. helm's own message
//! ("context deadline exceeded", or kstatus's resource list) says which
//! workload is not ready, never why; the scheduler's reason on the pod
//! ("0/3 nodes are available: 3 Insufficient memory.") does.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use crate::KubeError;
use crate::service::INSTANCE_LABEL;

/// How charts labelled their pods before `app.kubernetes.io/instance`
/// (Helm's chart best practices, "Labels and Annotations"); older charts
/// and subcharts still do.
const LEGACY_RELEASE_LABEL: &str = "release";

/// One pod of the release that is not running, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPod {
    /// `namespace/name`.
    pub pod: String,
    /// The scheduler's message when it could not place the pod, else what
    /// the pod waits for.
    pub reason: String,
    /// The scheduler could not place it (`PodScheduled=False`): a matter
    /// of room on the nodes, not of the pod's start.
    pub unschedulable: bool,
}

impl std::fmt::Display for PendingPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pod, self.reason)
    }
}

/// The release's pods right now, and those of them still Pending, sorted by
/// name. `None` when there is nothing to learn: no pods (not made yet, or
/// already removed by a rollback), or some being deleted (a wait that ran
/// out is being rolled back or uninstalled, and what the pods said before
/// is the answer, not what is left of them).
pub async fn pending_pods(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<Option<Vec<PendingPod>>, KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pods = BTreeMap::new();
    for label in [INSTANCE_LABEL, LEGACY_RELEASE_LABEL] {
        let params = ListParams::default().labels(&format!("{label}={release}"));
        let listed = api
            .list(&params)
            .await
            .map_err(|e| KubeError::api(format!("listing the pods of release `{release}`"), e))?;
        for pod in listed {
            if let Some(name) = pod.metadata.name.clone() {
                pods.insert(name, pod);
            }
        }
    }
    if pods.is_empty()
        || pods
            .values()
            .any(|p| p.metadata.deletion_timestamp.is_some())
    {
        return Ok(None);
    }
    Ok(Some(
        pods.iter()
            .filter_map(|(name, pod)| {
                let status = pod.status.as_ref();
                let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
                (phase == "Pending").then(|| PendingPod {
                    pod: format!("{namespace}/{name}"),
                    reason: pending_reason(pod),
                    unschedulable: unscheduled(pod).is_some(),
                })
            })
            .collect(),
    ))
}

/// The pod's `PodScheduled=False` condition, when the scheduler could not
/// place it.
fn unscheduled(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
}

/// What `WaitRanOut` advises for these pods: room on the nodes when the
/// scheduler could not place some, else a look at why placed pods did not
/// start (an image pull, a failing probe).
pub fn wait_hint(pending: &[PendingPod]) -> String {
    if pending.iter().any(|p| p.unschedulable) {
        return "pods the scheduler cannot place need room on the nodes: raise the node group's `desired` or choose a larger `instance_type` (`stackplan plan` warns when the pods will not fit); a longer `timeout` helps only pods that are slow to start".into();
    }
    let (namespace, name) = pending
        .first()
        .and_then(|p| p.pod.split_once('/'))
        .unwrap_or_default();
    format!(
        "the pods were placed but did not start: `kubectl -n {namespace} describe pod {name}` shows why (an image pull, a failing probe); a longer `timeout` helps pods that are only slow to start"
    )
}

fn pending_reason(pod: &Pod) -> String {
    if let Some(c) = unscheduled(pod) {
        return c
            .message
            .clone()
            .or_else(|| c.reason.clone())
            .unwrap_or_else(|| "not scheduled".into());
    }
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(node) => format!("placed on {node}, its containers not started"),
        None => "not yet looked at by the scheduler".into(),
    }
}

/// One line for progress: `3 pods Pending: milvus/a (0/1 nodes ...); ...`,
/// the first three named.
pub fn summary(pending: &[PendingPod]) -> String {
    let shown: Vec<String> = pending
        .iter()
        .take(3)
        .map(|p| format!("{} ({})", p.pod, p.reason))
        .collect();
    let more = pending.len().saturating_sub(shown.len());
    format!(
        "waiting: {} pod{} Pending: {}{}",
        pending.len(),
        if pending.len() == 1 { "" } else { "s" },
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value, node: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "demo-milvus-querynode-0"},
            "spec": {"containers": [], "nodeName": node},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn an_unschedulable_pod_is_explained_by_the_schedulers_message() {
        let p = pod(
            serde_json::json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory."}]}),
            None,
        );
        assert_eq!(
            pending_reason(&p),
            "0/1 nodes are available: 1 Insufficient memory."
        );
    }

    #[test]
    fn a_placed_pod_waits_for_its_node() {
        let p = pod(serde_json::json!({"phase": "Pending"}), Some("node-a"));
        assert_eq!(
            pending_reason(&p),
            "placed on node-a, its containers not started"
        );
    }

    #[test]
    fn the_summary_names_three_pods_and_counts_the_rest() {
        let pending: Vec<PendingPod> = (0..5)
            .map(|i| PendingPod {
                pod: format!("milvus/p{i}"),
                reason: "r".into(),
                unschedulable: true,
            })
            .collect();
        assert_eq!(
            summary(&pending),
            "waiting: 5 pods Pending: milvus/p0 (r); milvus/p1 (r); milvus/p2 (r); and 2 more"
        );
    }

    #[test]
    fn the_hint_is_about_room_only_when_the_scheduler_could_not_place_a_pod() {
        let pod = |unschedulable| PendingPod {
            pod: "milvus/demo-milvus-proxy-0".into(),
            reason: "r".into(),
            unschedulable,
        };
        assert!(wait_hint(&[pod(false), pod(true)]).contains("need room on the nodes"));
        let started = wait_hint(&[pod(false)]);
        assert!(
            started.contains("kubectl -n milvus describe pod demo-milvus-proxy-0"),
            "{started}"
        );
    }
}
