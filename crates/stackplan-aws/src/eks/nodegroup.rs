//! EKS managed node groups: scaling and labels changed in place, the
//! rest by replacement.

use aws_sdk_eks::types::{NodegroupScalingConfig, UpdateLabelsPayload};
use stackplan_core::{
    ApplyRequest, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use super::{UpdateOf, hash_tags, sorted, split_id, tags_of};
use crate::attrs::{Desired, as_int, differs, map_delta, observed_str_map, str_map_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, poll_until, poll_until_gone, progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id, waited_id};

impl AwsProvider {
    async fn describe_nodegroup(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_eks::types::Nodegroup>> {
        let out = absent_if_not_found(
            self.eks
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeNodegroup", e)),
        )?;
        Ok(out.and_then(|o| o.nodegroup().cloned()))
    }

    async fn nodegroup_observe(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<Observed>> {
        let Some(ng) = self.describe_nodegroup(addr, cluster, name).await? else {
            return Ok(None);
        };
        let status = ng.status().map(|s| s.as_str()).unwrap_or_default();
        if status == "DELETING" {
            return Ok(None);
        }
        let scaling = ng.scaling_config();
        let size = |f: fn(&NodegroupScalingConfig) -> Option<i32>| {
            scaling
                .and_then(f)
                .map(i64::from)
                .map(Value::Int)
                .unwrap_or(Value::Null)
        };
        Ok(Some(
            Observed::new(format!("{cluster}:{name}"))
                .attr("cluster_name", cluster)
                .attr("nodegroup_name", name)
                .attr("node_role_arn", ng.node_role().unwrap_or_default())
                .attr("subnet_ids", sorted(ng.subnets()))
                .attr("instance_types", sorted(ng.instance_types()))
                .attr("disk_size", i64::from(ng.disk_size().unwrap_or(20)))
                .attr(
                    "scaling",
                    Value::map([
                        ("desired_size", size(NodegroupScalingConfig::desired_size)),
                        ("min_size", size(NodegroupScalingConfig::min_size)),
                        ("max_size", size(NodegroupScalingConfig::max_size)),
                    ]),
                )
                .attr(
                    "labels",
                    str_map_value(
                        ng.labels()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.as_str(), v.as_str())),
                    ),
                )
                .attr("tags", tags_of(ng.tags()))
                .output("arn", ng.nodegroup_arn().unwrap_or_default())
                .output("status", status),
        ))
    }

    fn nodegroup_identity<'a>(
        &self,
        prior: Option<&'a stackplan_core::ResourceState>,
        desired: Option<&'a stackplan_core::Attrs>,
    ) -> Option<(&'a str, &'a str)> {
        prior_id(prior).and_then(split_id).or_else(|| {
            let d = desired?;
            Some((
                d.get("cluster_name")?.as_str()?,
                d.get("nodegroup_name")?.as_str()?,
            ))
        })
    }

    pub(crate) async fn nodegroup_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        match self.nodegroup_identity(req.prior, req.desired) {
            Some((cluster, name)) => self.nodegroup_observe(req.addr, cluster, name).await,
            None => Ok(None),
        }
    }

    fn scaling_config(d: &Desired<'_>) -> AwsResult<NodegroupScalingConfig> {
        let scaling = d.map("scaling")?;
        let get = |k: &str| -> AwsResult<i32> {
            scaling
                .get(k)
                .and_then(as_int)
                .map(|i| i as i32)
                .ok_or_else(|| {
                    AwsError::attribute(d.addr, &format!("scaling.{k}"), "expected an integer")
                })
        };
        Ok(NodegroupScalingConfig::builder()
            .desired_size(get("desired_size")?)
            .min_size(get("min_size")?)
            .max_size(get("max_size")?)
            .build())
    }

    pub(crate) async fn nodegroup_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let cluster = d.str("cluster_name")?;
        let name = d.str("nodegroup_name")?;
        progress(req.events, req.addr, Phase::Creating, "CreateNodegroup");
        let call = self
            .eks
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .node_role(d.str("node_role_arn")?)
            .set_subnets(Some(d.str_list("subnet_ids")?))
            .set_instance_types(Some(d.str_list("instance_types")?))
            .set_disk_size(d.opt_int("disk_size")?.map(|i| i as i32))
            .scaling_config(Self::scaling_config(&d)?)
            .set_labels(hash_tags(d.str_map("labels")?))
            .set_tags(hash_tags(d.str_map("tags")?));
        // A fresh token per attempt: only a retry of the same request
        // (the SDK's, after a lost answer) may reuse one.
        retry_while_iam_propagates(&self.wait, req.addr, req.events, || {
            let call = call.clone().client_request_token(client_token());
            async move {
                call.send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateNodegroup", e))
            }
        })
        .await?;
        self.nodegroup_observe(req.addr, cluster, name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", name))
    }

    pub(crate) async fn nodegroup_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let (cluster, name) =
            split_id(&id).ok_or_else(|| vanished(req.addr, "DescribeNodegroup", &id))?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .nodegroup_observe(req.addr, cluster, name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", name))?;
        let kind = req.addr.kind;
        let scaling = differs(kind, &live.attrs, req.desired, "scaling");
        let labels = differs(kind, &live.attrs, req.desired, "labels");
        if scaling || labels {
            let mut call = self
                .eks
                .update_nodegroup_config()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .client_request_token(client_token());
            if scaling {
                call = call.scaling_config(Self::scaling_config(&d)?);
            }
            if labels {
                let (set, remove) = map_delta(
                    &observed_str_map(&live.attrs, "labels"),
                    &d.str_map("labels")?,
                );
                call = call.labels(
                    UpdateLabelsPayload::builder()
                        .set_add_or_update_labels(hash_tags(set))
                        .set_remove_labels(Some(remove).filter(|r| !r.is_empty()))
                        .build(),
                );
            }
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "UpdateNodegroupConfig",
            );
            let out = call
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateNodegroupConfig", e))?;
            self.eks_update_wait(
                req.addr,
                req.events,
                UpdateOf {
                    nodegroup: Some(name),
                    ..UpdateOf::cluster(cluster)
                },
                out.update().and_then(|u| u.id()),
                "node group update",
            )
            .await?;
        }
        if let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) {
            self.eks_retag(&req, arn, &live.attrs).await?;
        }
        self.nodegroup_observe(req.addr, cluster, name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", name))
    }

    pub(crate) async fn nodegroup_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let id = waited_id(&observed, req.prior).unwrap_or_default();
        let (cluster, name) =
            split_id(id).ok_or_else(|| vanished(req.addr, "DescribeNodegroup", id))?;
        let addr = req.addr;
        poll_until(
            &self.wait,
            addr,
            req.events,
            "node group ACTIVE",
            || async move {
                let Some(ng) = self.describe_nodegroup(addr, cluster, name).await? else {
                    return Err(vanished(addr, "DescribeNodegroup", name));
                };
                match ng.status().map(|s| s.as_str()).unwrap_or_default() {
                    "ACTIVE" => Ok(Poll::Ready(())),
                    s @ ("CREATE_FAILED" | "DEGRADED" | "DELETE_FAILED") => {
                        let issues: Vec<String> = ng
                            .health()
                            .map(|h| h.issues())
                            .unwrap_or_default()
                            .iter()
                            .map(|i| i.message().unwrap_or_default().to_string())
                            .collect();
                        Err(AwsError::Failed {
                            addr: addr.clone(),
                            what: format!("node group {name} is {s}: {}", issues.join("; ")),
                        })
                    }
                    other => Ok(Poll::Pending(other.to_string())),
                }
            },
        )
        .await?;
        self.nodegroup_observe(addr, cluster, name)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeNodegroup", name))
    }

    pub(crate) async fn nodegroup_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some((cluster, name)) = req.prior.physical_id.as_deref().and_then(split_id) else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteNodegroup");
        let gone = absent_if_not_found(
            self.eks
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteNodegroup", e)),
        )?
        .is_none();
        if gone {
            return Ok(());
        }
        let addr = req.addr;
        poll_until_gone(
            &self.wait,
            addr,
            req.events,
            "node group deletion",
            || async move {
                Ok(self
                    .describe_nodegroup(addr, cluster, name)
                    .await?
                    .map(|ng| {
                        ng.status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default()
                    }))
            },
        )
        .await
    }
}
