//! EKS: the cluster (version upgrades in place, one minor at a time, each
//! minor taking the control plane, then every managed node group, then the
//! add-ons not built for it: `cluster.rs`), its managed node groups
//! (scaling and labels in place, Kubernetes version and AMI release by a
//! rolling UpdateNodegroupVersion) and add-ons (`latest` resolved to a
//! concrete version through DescribeAddonVersions, for the Kubernetes
//! version the cluster is on when the update runs), and the
//! access entries that admit IAM principals to a cluster. One module per
//! kind; this one holds what they share: tags, the `<cluster>:<name>` ids,
//! and the wait for an EKS update.
//!
//! Every create and update carries a `clientRequestToken`: CreateCluster,
//! CreateNodegroup, CreateAddon, CreateAccessEntry, UpdateClusterVersion,
//! UpdateClusterConfig, UpdateNodegroupConfig, UpdateNodegroupVersion and
//! UpdateAddon take one, documented in the
//! botocore `eks` model (`data/eks/2017-11-01/service-2.json`, botocore
//! 1.44.8) as "A unique, case-sensitive identifier that you provide to
//! ensure the idempotency of the request." (`idempotencyToken: true`).
//! One token per logical call: the SDK serializes a request once and
//! re-sends it, token included, on each of its own retries
//! (aws-smithy-runtime's orchestrator, `try_op`: one `serialize_input`,
//! then a checkpoint it rewinds to before every attempt), so a retry
//! after a lost answer is the same request to EKS, which answers what the
//! first one made rather than ResourceInUseException. A call tried again
//! by the provider after EKS refused it (a role IAM has not propagated
//! yet, `retry_while_iam_propagates`) is a new call with a new token: the
//! refusal made nothing.

mod access;
mod addon;
mod ami_release;
mod cluster;
mod nodegroup;

use std::collections::{BTreeMap, HashMap};

use stackplan_core::{ApplyRequest, ResourceAddr, Value};

use crate::AwsProvider;
use crate::attrs::{Desired, str_list_value, tags_value};
use crate::error::{AwsError, AwsResult};
use crate::wait::{Poll, poll_until};

pub(crate) use cluster::check_version_change;
pub(crate) use nodegroup::drop_suffixed_name_diff;

/// Shows what `latest` resolved to (an add-on's version, a node group's
/// AMI release), in place of the word, so the plan names what apply will
/// install.
pub(crate) fn show_latest(
    diffs: &mut [stackplan_core::FieldDiff],
    attr: &str,
    latest: Option<&str>,
) {
    let Some(latest) = latest else { return };
    for d in diffs.iter_mut() {
        if d.path == attr && d.after.as_str() == Some(addon::LATEST) {
            d.after = Value::string(latest);
        }
    }
}

pub(crate) fn hash_tags(map: BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.into_iter().collect())
}

fn tags_of(tags: Option<&HashMap<String, String>>) -> Value {
    tags_value(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

fn sorted(items: &[String]) -> Value {
    let mut v: Vec<&str> = items.iter().map(String::as_str).collect();
    v.sort_unstable();
    str_list_value(v)
}

/// What an EKS update belongs to: DescribeUpdate needs to be told.
#[derive(Debug, Clone, Copy)]
struct UpdateOf<'a> {
    cluster: &'a str,
    nodegroup: Option<&'a str>,
    addon: Option<&'a str>,
}

impl<'a> UpdateOf<'a> {
    fn cluster(cluster: &'a str) -> Self {
        UpdateOf {
            cluster,
            nodegroup: None,
            addon: None,
        }
    }
}

fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
}

impl AwsProvider {
    /// Waits for one EKS update (`UpdateClusterVersion`, ...) to finish:
    /// EKS refuses the next update while one is in progress.
    async fn eks_update_wait(
        &self,
        addr: &ResourceAddr,
        events: &dyn stackplan_core::EventSink,
        on: UpdateOf<'_>,
        update_id: Option<&str>,
        what: &str,
    ) -> AwsResult<()> {
        let Some(id) = update_id else { return Ok(()) };
        let UpdateOf {
            cluster,
            nodegroup,
            addon,
        } = on;
        poll_until(&self.wait, addr, events, what, || async move {
            let out = self
                .eks
                .describe_update()
                .name(cluster)
                .update_id(id)
                .set_nodegroup_name(nodegroup.map(str::to_string))
                .set_addon_name(addon.map(str::to_string))
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeUpdate", e))?;
            let update = out.update();
            let status = update
                .and_then(|u| u.status())
                .map(|s| s.as_str())
                .unwrap_or("InProgress");
            match status {
                "Successful" => Ok(Poll::Ready(())),
                "Failed" | "Cancelled" => {
                    let errors: Vec<String> = update
                        .map(|u| u.errors())
                        .unwrap_or_default()
                        .iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e.error_code().map(|c| c.as_str()).unwrap_or("Error"),
                                e.error_message().unwrap_or_default()
                            )
                        })
                        .collect();
                    Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!("{what}: update {id} {status}: {}", errors.join("; ")),
                    })
                }
                other => Ok(Poll::Pending(other.to_string())),
            }
        })
        .await
    }

    /// Makes an EKS resource's tags equal the desired ones.
    pub(crate) async fn eks_retag(
        &self,
        req: &ApplyRequest<'_>,
        arn: &str,
        live: &stackplan_core::Attrs,
    ) -> AwsResult<()> {
        let Some((set, remove)) = Desired::new(req.addr, req.desired).tag_delta(live)? else {
            return Ok(());
        };
        if !remove.is_empty() {
            self.eks
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UntagResource", e))?;
        }
        if !set.is_empty() {
            self.eks
                .tag_resource()
                .resource_arn(arn)
                .set_tags(hash_tags(set))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "TagResource", e))?;
        }
        Ok(())
    }
}
