//! EKS: the cluster (version upgrades in place, one minor at a time), its
//! managed node groups (scaling and labels in place) and add-ons (`latest`
//! resolved to a concrete version through DescribeAddonVersions).
//!
//! Every create and update carries a `ClientRequestToken`, so a request the
//! SDK retries after a lost answer is not carried out twice.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_eks::types::{
    AuthenticationMode, CreateAccessConfigRequest, NodegroupScalingConfig, ResolveConflicts,
    UpdateAccessConfigRequest, UpdateLabelsPayload, VpcConfigRequest,
};
use stackplan_core::{
    ApplyRequest, DeleteRequest, FieldDiff, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{
    Desired, as_int, differs, map_delta, observed_str_map, str_list_value, str_map_value,
    tags_value,
};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, poll_until, poll_until_gone, progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id, waited_id};

/// What `addon_version = "latest"` means.
pub(crate) const LATEST: &str = "latest";

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

/// `1.30` as (1, 30).
fn minor_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Refuses what EKS cannot do to a cluster's version in place: go down, or
/// skip a minor version. Called at plan time, so the plan fails with the
/// reason instead of apply failing half way.
pub(crate) fn check_version_change(addr: &ResourceAddr, diffs: &[FieldDiff]) -> AwsResult<()> {
    let Some(d) = diffs.iter().find(|d| d.path == "version") else {
        return Ok(());
    };
    let (Some(from), Some(to)) = (d.before.as_str(), d.after.as_str()) else {
        return Ok(());
    };
    let (Some(f), Some(t)) = (minor_version(from), minor_version(to)) else {
        return Ok(());
    };
    let refuse = |reason: String| {
        Err(AwsError::Refused {
            addr: addr.clone(),
            reason,
        })
    };
    if t < f {
        return refuse(format!(
            "EKS cannot downgrade a cluster: version {from} is live, the stack asks for {to}"
        ));
    }
    if t.0 != f.0 || t.1 > f.1 + 1 {
        return refuse(format!(
            "EKS upgrades one minor version at a time: version {from} is live, so the next \
             apply can take it to {}.{}, not {to}",
            f.0,
            f.1 + 1
        ));
    }
    Ok(())
}

/// Shows what `latest` resolved to, in place of the word.
pub(crate) fn show_latest_addon_version(diffs: &mut [FieldDiff], latest: Option<&str>) {
    let Some(latest) = latest else { return };
    for d in diffs.iter_mut() {
        if d.path == "addon_version" && d.after.as_str() == Some(LATEST) {
            d.after = Value::string(latest);
        }
    }
}

/// Orders `v1.19.2-eksbuild.1` by its numbers.
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
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
    // --- Cluster -------------------------------------------------------------

    async fn describe_cluster(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_eks::types::Cluster>> {
        let out = absent_if_not_found(
            self.eks
                .describe_cluster()
                .name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeCluster", e)),
        )?;
        Ok(out.and_then(|o| o.cluster().cloned()))
    }

    async fn cluster_observe(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<Option<Observed>> {
        let Some(c) = self.describe_cluster(addr, name).await? else {
            return Ok(None);
        };
        let status = c.status().map(|s| s.as_str()).unwrap_or_default();
        if status == "DELETING" {
            // On its way out: for planning it is gone.
            return Ok(None);
        }
        let vpc = c.resources_vpc_config();
        let mut o = Observed::new(name)
            .attr("name", name)
            .attr("version", c.version().unwrap_or_default())
            .attr("role_arn", c.role_arn().unwrap_or_default())
            .attr(
                "subnet_ids",
                sorted(vpc.map(|v| v.subnet_ids()).unwrap_or_default()),
            )
            .attr(
                "security_group_ids",
                sorted(vpc.map(|v| v.security_group_ids()).unwrap_or_default()),
            )
            .attr(
                "endpoint_public_access",
                vpc.is_some_and(|v| v.endpoint_public_access()),
            )
            .attr(
                "endpoint_private_access",
                vpc.is_some_and(|v| v.endpoint_private_access()),
            )
            .attr(
                "authentication_mode",
                c.access_config()
                    .and_then(|a| a.authentication_mode())
                    .map_or("CONFIG_MAP", |m| m.as_str()),
            )
            .attr(
                "bootstrap_cluster_creator_admin_permissions",
                c.access_config()
                    .and_then(|a| a.bootstrap_cluster_creator_admin_permissions())
                    .unwrap_or(true),
            )
            .attr("tags", tags_of(c.tags()))
            .output("name", name)
            .output("arn", c.arn().unwrap_or_default())
            .output("status", status)
            .output("platform_version", c.platform_version().unwrap_or_default());
        // Known only once the cluster is up; absent rather than empty, so
        // dependents see "known after apply" until then.
        let outputs = [
            ("endpoint", c.endpoint()),
            (
                "certificate_authority",
                c.certificate_authority().and_then(|ca| ca.data()),
            ),
            (
                "oidc_issuer",
                c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()),
            ),
            (
                "cluster_security_group_id",
                vpc.and_then(|v| v.cluster_security_group_id()),
            ),
        ];
        for (k, v) in outputs {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                o = o.output(k, v);
            }
        }
        Ok(Some(o))
    }

    pub(crate) async fn cluster_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let name = prior_id(req.prior).or_else(|| {
            req.desired
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
        });
        match name {
            Some(n) => self.cluster_observe(req.addr, n).await,
            None => Ok(None),
        }
    }

    /// One UpdateClusterConfig (EKS takes one kind of change per call:
    /// endpoint access, or the authentication mode), waited for until EKS
    /// reports the update done.
    async fn cluster_config_update(
        &self,
        req: &ApplyRequest<'_>,
        name: &str,
        what: &str,
        call: aws_sdk_eks::operation::update_cluster_config::builders::UpdateClusterConfigFluentBuilder,
    ) -> AwsResult<()> {
        progress(
            req.events,
            req.addr,
            Phase::Updating,
            format!("UpdateClusterConfig ({what})"),
        );
        let out = call
            .name(name)
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "UpdateClusterConfig", e))?;
        self.eks_update_wait(
            req.addr,
            req.events,
            UpdateOf::cluster(name),
            out.update().and_then(|u| u.id()),
            &format!("cluster {what} update"),
        )
        .await
    }

    pub(crate) async fn cluster_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let name = d.str("name")?;
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(d.str_list("subnet_ids")?))
            .set_security_group_ids(
                Some(d.str_list("security_group_ids")?).filter(|v| !v.is_empty()),
            )
            .endpoint_public_access(d.bool_or("endpoint_public_access", true)?)
            .endpoint_private_access(d.bool_or("endpoint_private_access", false)?)
            .build();
        progress(req.events, req.addr, Phase::Creating, "CreateCluster");
        let access = CreateAccessConfigRequest::builder()
            .set_authentication_mode(
                d.opt_str("authentication_mode")?
                    .map(AuthenticationMode::from),
            )
            .bootstrap_cluster_creator_admin_permissions(
                d.bool_or("bootstrap_cluster_creator_admin_permissions", true)?,
            )
            .build();
        let call = self
            .eks
            .create_cluster()
            .name(name)
            .set_version(d.opt_str("version")?.map(str::to_string))
            .role_arn(d.str("role_arn")?)
            .resources_vpc_config(vpc)
            .access_config(access)
            .set_tags(hash_tags(d.str_map("tags")?));
        // A fresh token per attempt: only a retry of the same request
        // (the SDK's, after a lost answer) may reuse one.
        retry_while_iam_propagates(&self.wait, req.addr, req.events, || {
            let call = call.clone().client_request_token(client_token());
            async move {
                call.send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateCluster", e))
            }
        })
        .await?;
        self.cluster_observe(req.addr, name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeCluster", name))
    }

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

    pub(crate) async fn cluster_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let name = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .cluster_observe(req.addr, &name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeCluster", &name))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "version") {
            let want = d.str("version")?;
            let before = live.attrs.get("version").cloned().unwrap_or_default();
            check_version_change(
                req.addr,
                &[FieldDiff::new("version", before, Value::string(want))],
            )?;
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                format!("UpdateClusterVersion to {want}"),
            );
            let out = self
                .eks
                .update_cluster_version()
                .name(&name)
                .version(want)
                .client_request_token(client_token())
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateClusterVersion", e))?;
            self.eks_update_wait(
                req.addr,
                req.events,
                UpdateOf::cluster(&name),
                out.update().and_then(|u| u.id()),
                "cluster version update",
            )
            .await?;
        }
        if differs(kind, &live.attrs, req.desired, "endpoint_public_access")
            || differs(kind, &live.attrs, req.desired, "endpoint_private_access")
        {
            let vpc = VpcConfigRequest::builder()
                .endpoint_public_access(d.bool_or("endpoint_public_access", true)?)
                .endpoint_private_access(d.bool_or("endpoint_private_access", false)?)
                .build();
            let call = self.eks.update_cluster_config().resources_vpc_config(vpc);
            self.cluster_config_update(&req, &name, "endpoint access", call)
                .await?;
        }
        if differs(kind, &live.attrs, req.desired, "authentication_mode")
            && let Some(mode) = d.opt_str("authentication_mode")?
        {
            // EKS moves only forward: CONFIG_MAP, API_AND_CONFIG_MAP, API.
            let access = UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(mode))
                .build();
            let call = self.eks.update_cluster_config().access_config(access);
            self.cluster_config_update(&req, &name, "authentication mode", call)
                .await?;
        }
        if let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) {
            self.eks_retag(&req, arn, &live.attrs).await?;
        }
        self.cluster_observe(req.addr, &name)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeCluster", &name))
    }

    pub(crate) async fn cluster_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let name = waited_id(&observed, req.prior)
            .ok_or_else(|| vanished(req.addr, "DescribeCluster", "(no name)"))?;
        let addr = req.addr;
        poll_until(
            &self.wait,
            addr,
            req.events,
            "cluster ACTIVE",
            || async move {
                let Some(c) = self.describe_cluster(addr, name).await? else {
                    return Err(vanished(addr, "DescribeCluster", name));
                };
                match c.status().map(|s| s.as_str()).unwrap_or_default() {
                    "ACTIVE" => Ok(Poll::Ready(())),
                    "FAILED" => Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!("cluster {name} is FAILED"),
                    }),
                    other => Ok(Poll::Pending(other.to_string())),
                }
            },
        )
        .await?;
        self.cluster_observe(addr, name)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeCluster", name))
    }

    pub(crate) async fn cluster_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(name) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteCluster");
        let gone = absent_if_not_found(
            self.eks
                .delete_cluster()
                .name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteCluster", e)),
        )?
        .is_none();
        if gone {
            return Ok(());
        }
        let addr = req.addr;
        // Subnets and roles go next, and AWS refuses while the cluster holds them.
        poll_until_gone(
            &self.wait,
            addr,
            req.events,
            "cluster deletion",
            || async move {
                Ok(self.describe_cluster(addr, name).await?.map(|c| {
                    c.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default()
                }))
            },
        )
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

    // --- Node groups -----------------------------------------------------------

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

    // --- Add-ons ------------------------------------------------------------------

    /// The newest version of an add-on for the cluster's Kubernetes version.
    /// Not EKS's `defaultVersion`, which often lags: "latest" means newest.
    async fn latest_addon_version(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        addon: &str,
    ) -> AwsResult<String> {
        let k8s = self
            .describe_cluster(addr, cluster)
            .await?
            .and_then(|c| c.version().map(str::to_string))
            .ok_or_else(|| vanished(addr, "DescribeCluster", cluster))?;
        let out = self
            .eks
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(&k8s)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeAddonVersions", e))?;
        let newest = out
            .addons()
            .iter()
            .filter(|a| a.addon_name() == Some(addon))
            .flat_map(|a| a.addon_versions())
            .filter_map(|v| v.addon_version())
            .max_by_key(|v| version_key(v))
            .map(str::to_string);
        newest.ok_or_else(|| AwsError::Failed {
            addr: addr.clone(),
            what: format!("DescribeAddonVersions lists no version of {addon} for Kubernetes {k8s}"),
        })
    }

    async fn describe_addon(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_eks::types::Addon>> {
        let out = absent_if_not_found(
            self.eks
                .describe_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeAddon", e)),
        )?;
        Ok(out.and_then(|o| o.addon().cloned()))
    }

    async fn addon_observe(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        name: &str,
        wants_latest: bool,
    ) -> AwsResult<Option<Observed>> {
        // The newest version is looked up alongside the add-on rather than
        // after it, to keep a refresh at two round trips; its answer (or
        // error, as when the cluster is not there either) matters only
        // when the add-on exists.
        let (described, latest) = tokio::join!(self.describe_addon(addr, cluster, name), async {
            if wants_latest {
                Some(self.latest_addon_version(addr, cluster, name).await)
            } else {
                None
            }
        });
        let Some(a) = described? else {
            return Ok(None);
        };
        let status = a.status().map(|s| s.as_str()).unwrap_or_default();
        if status == "DELETING" {
            return Ok(None);
        }
        let installed = a.addon_version().unwrap_or_default().to_string();
        // The stack says `latest`: the live add-on is that when it runs the
        // newest version, and shows its concrete version otherwise, so the
        // plan reads `v1.11.3 -> latest` only when there is a newer one.
        let version = if let Some(latest) = latest {
            let latest = latest?;
            if let Ok(mut m) = self.latest_addon_versions.lock() {
                m.insert(addr.clone(), latest.clone());
            }
            if latest == installed {
                LATEST.to_string()
            } else {
                installed.clone()
            }
        } else {
            installed.clone()
        };
        Ok(Some(
            Observed::new(format!("{cluster}:{name}"))
                .attr("cluster_name", cluster)
                .attr("addon_name", name)
                .attr("addon_version", version)
                .attr(
                    "service_account_role_arn",
                    a.service_account_role_arn()
                        .map(Value::string)
                        .unwrap_or(Value::Null),
                )
                .attr("tags", tags_of(a.tags()))
                .output("arn", a.addon_arn().unwrap_or_default())
                .output("status", status)
                .output("installed_version", installed),
        ))
    }

    fn addon_identity<'a>(
        prior: Option<&'a stackplan_core::ResourceState>,
        desired: Option<&'a stackplan_core::Attrs>,
    ) -> Option<(&'a str, &'a str)> {
        prior_id(prior).and_then(split_id).or_else(|| {
            let d = desired?;
            Some((
                d.get("cluster_name")?.as_str()?,
                d.get("addon_name")?.as_str()?,
            ))
        })
    }

    fn wants_latest(desired: Option<&stackplan_core::Attrs>) -> bool {
        desired
            .and_then(|d| d.get("addon_version"))
            .and_then(Value::as_str)
            == Some(LATEST)
    }

    pub(crate) async fn addon_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        match Self::addon_identity(req.prior, req.desired) {
            Some((cluster, name)) => {
                self.addon_observe(req.addr, cluster, name, Self::wants_latest(req.desired))
                    .await
            }
            None => Ok(None),
        }
    }

    async fn resolve_addon_version(
        &self,
        d: &Desired<'_>,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<String>> {
        Ok(match d.opt_str("addon_version")? {
            Some(LATEST) => Some(self.latest_addon_version(d.addr, cluster, name).await?),
            Some(v) => Some(v.to_string()),
            None => None,
        })
    }

    pub(crate) async fn addon_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let cluster = d.str("cluster_name")?;
        let name = d.str("addon_name")?;
        let version = self.resolve_addon_version(&d, cluster, name).await?;
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            format!(
                "CreateAddon {name} {}",
                version.as_deref().unwrap_or("(EKS default version)")
            ),
        );
        let call = self
            .eks
            .create_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .set_addon_version(version)
            .set_service_account_role_arn(
                d.opt_str("service_account_role_arn")?.map(str::to_string),
            )
            .resolve_conflicts(ResolveConflicts::from(
                d.opt_str("resolve_conflicts")?.unwrap_or("OVERWRITE"),
            ))
            .set_tags(hash_tags(d.str_map("tags")?));
        // A fresh token per attempt: only a retry of the same request
        // (the SDK's, after a lost answer) may reuse one.
        retry_while_iam_propagates(&self.wait, req.addr, req.events, || {
            let call = call.clone().client_request_token(client_token());
            async move {
                call.send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateAddon", e))
            }
        })
        .await?;
        self.addon_observe(
            req.addr,
            cluster,
            name,
            Self::wants_latest(Some(req.desired)),
        )
        .await?
        .ok_or_else(|| vanished(req.addr, "DescribeAddon", name))
    }

    pub(crate) async fn addon_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let (cluster, name) =
            split_id(&id).ok_or_else(|| vanished(req.addr, "DescribeAddon", &id))?;
        let d = Desired::new(req.addr, req.desired);
        let wants_latest = Self::wants_latest(Some(req.desired));
        let live = self
            .addon_observe(req.addr, cluster, name, wants_latest)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAddon", name))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "addon_version")
            || differs(kind, &live.attrs, req.desired, "service_account_role_arn")
        {
            let version = self.resolve_addon_version(&d, cluster, name).await?;
            progress(req.events, req.addr, Phase::Updating, "UpdateAddon");
            let out = self
                .eks
                .update_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .set_addon_version(version)
                .set_service_account_role_arn(
                    d.opt_str("service_account_role_arn")?.map(str::to_string),
                )
                .resolve_conflicts(ResolveConflicts::from(
                    d.opt_str("resolve_conflicts")?.unwrap_or("OVERWRITE"),
                ))
                .client_request_token(client_token())
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateAddon", e))?;
            self.eks_update_wait(
                req.addr,
                req.events,
                UpdateOf {
                    addon: Some(name),
                    ..UpdateOf::cluster(cluster)
                },
                out.update().and_then(|u| u.id()),
                "add-on update",
            )
            .await?;
        }
        if let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) {
            self.eks_retag(&req, arn, &live.attrs).await?;
        }
        self.addon_observe(req.addr, cluster, name, wants_latest)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAddon", name))
    }

    pub(crate) async fn addon_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let id = waited_id(&observed, req.prior).unwrap_or_default();
        let (cluster, name) =
            split_id(id).ok_or_else(|| vanished(req.addr, "DescribeAddon", id))?;
        let addr = req.addr;
        poll_until(
            &self.wait,
            addr,
            req.events,
            "add-on ACTIVE",
            || async move {
                let Some(a) = self.describe_addon(addr, cluster, name).await? else {
                    return Err(vanished(addr, "DescribeAddon", name));
                };
                match a.status().map(|s| s.as_str()).unwrap_or_default() {
                    // DEGRADED is usable: it means pods are not all ready yet,
                    // which dependents (StorageClasses) do not need.
                    "ACTIVE" | "DEGRADED" => Ok(Poll::Ready(())),
                    s @ ("CREATE_FAILED" | "UPDATE_FAILED") => Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!("add-on {name} is {s}"),
                    }),
                    other => Ok(Poll::Pending(other.to_string())),
                }
            },
        )
        .await?;
        self.addon_observe(addr, cluster, name, Self::wants_latest(Some(req.desired)))
            .await?
            .ok_or_else(|| vanished(addr, "DescribeAddon", name))
    }

    pub(crate) async fn addon_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some((cluster, name)) = req.prior.physical_id.as_deref().and_then(split_id) else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteAddon");
        let gone = absent_if_not_found(
            self.eks
                .delete_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteAddon", e)),
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
            "add-on deletion",
            || async move {
                Ok(self.describe_addon(addr, cluster, name).await?.map(|a| {
                    a.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default()
                }))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use stackplan_core::ResourceKind;

    use super::*;

    fn version_diff(from: &str, to: &str) -> Vec<FieldDiff> {
        vec![FieldDiff::new(
            "version",
            Value::string(from),
            Value::string(to),
        )]
    }

    fn cluster() -> ResourceAddr {
        ResourceAddr::new(ResourceKind::EksCluster, "main")
    }

    #[test]
    fn cluster_upgrade_by_one_minor_version_is_allowed() {
        check_version_change(&cluster(), &version_diff("1.30", "1.31")).unwrap();
    }

    #[test]
    fn cluster_upgrade_that_skips_a_minor_version_is_refused_naming_the_next_step() {
        let err = check_version_change(&cluster(), &version_diff("1.29", "1.31")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("eks_cluster.main: EKS upgrades one minor version"),
            "{text}"
        );
        assert!(text.contains("to 1.30, not 1.31"), "{text}");
    }

    #[test]
    fn cluster_downgrade_is_refused() {
        let err = check_version_change(&cluster(), &version_diff("1.31", "1.30")).unwrap_err();
        assert!(err.to_string().contains("cannot downgrade"));
    }

    #[test]
    fn newest_addon_version_orders_numerically_not_as_text() {
        let mut v = [
            "v1.9.3-eksbuild.22",
            "v1.11.4-eksbuild.2",
            "v1.11.4-eksbuild.10",
        ];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v.last(), Some(&"v1.11.4-eksbuild.10"));
    }

    #[test]
    fn plan_shows_the_concrete_version_latest_resolved_to() {
        let mut diffs = vec![FieldDiff::new(
            "addon_version",
            Value::string("v1.11.3-eksbuild.1"),
            Value::string(LATEST),
        )];
        show_latest_addon_version(&mut diffs, Some("v1.11.4-eksbuild.2"));
        assert_eq!(diffs[0].after, Value::string("v1.11.4-eksbuild.2"));
    }
}
