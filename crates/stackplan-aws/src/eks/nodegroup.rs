//! EKS managed node groups: scaling and labels changed in place, the
//! rest by replacement, blue/green.
//!
//! A node group is replaced create-before-destroy (core's schema), so
//! Milvus never runs on zero nodes: the new copy is created while the old
//! one still holds the stack's `nodegroup_name`, and EKS refuses a second
//! node group of that name in the cluster (ResourceInUseException). The
//! new copy then takes `<name>-<6 hex>`, the hex a digest of the desired
//! attributes that force replacement, so a create tried again picks the
//! same name and finds what the first try made. The observed
//! `nodegroup_name` is the live one; [`drop_suffixed_name_diff`] keeps
//! the suffix out of the next plan.
//!
//! A node group is this stack's resource when its tags carry the desired
//! `stackplan:stack` and `Name` (what the expansion writes): only such a
//! node group is taken over by a create, or found under a suffixed name
//! by a read without state.

use aws_sdk_eks::types::{AmiTypes, CapacityTypes, NodegroupScalingConfig, UpdateLabelsPayload};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, FieldDiff, KindSchema, Observed, Phase, ReadRequest,
    ResourceAddr, ResourceKind, Value,
};

use super::addon::LATEST;
use super::ami_release::{self, ReleaseLookup};
use super::{UpdateOf, hash_tags, sorted, split_id, tags_of};
use crate::attrs::{
    Desired, as_int, differs, map_delta, observed_str_map, str_map_value, value_to_json,
};

fn opt_str_value(s: Option<&str>) -> Value {
    s.filter(|s| !s.is_empty())
        .map(Value::string)
        .unwrap_or(Value::Null)
}
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, poll_until, poll_until_gone, progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id, waited_id};

/// Hex digits of the suffix a replacement copy's name takes.
const SUFFIX_HEX: usize = 6;

/// EKS's longest node group name (botocore eks model: "The unique name to
/// give your node group", 1-63 characters in the EKS API reference).
const MAX_NAME: usize = 63;

/// The attributes whose change replaces a node group, other than its
/// names: the role, subnets, instance types, disk, AMI and capacity type.
fn replacement_attrs() -> impl Iterator<Item = &'static str> {
    KindSchema::for_kind(ResourceKind::EksNodegroup)
        .attrs
        .iter()
        .filter(|a| a.force_new)
        .map(|a| a.name)
        .filter(|n| !matches!(*n, "cluster_name" | "name" | "nodegroup_name"))
}

/// Six lowercase hex digits that name what a node group is made of: the
/// desired values of [`replacement_attrs`], normalised and with their
/// schema defaults, so the same stack gives the same digest on every run
/// and on every machine (FNV-1a, folded to 24 bits).
pub(crate) fn replacement_digest(desired: &Attrs) -> String {
    let schema = KindSchema::for_kind(ResourceKind::EksNodegroup);
    let mut text = String::new();
    for name in replacement_attrs() {
        let value = schema.effective(name, desired.get(name));
        text.push_str(name);
        text.push('=');
        text.push_str(&value_to_json(&value).to_string());
        text.push('\n');
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let folded = (hash ^ (hash >> 24) ^ (hash >> 48)) & 0xff_ffff;
    format!("{folded:06x}")
}

/// `<name>-<digest>`, the name shortened so the whole fits EKS's limit.
fn suffixed_name(name: &str, digest: &str) -> String {
    let keep = name.len().min(MAX_NAME - 1 - SUFFIX_HEX);
    let mut cut = keep;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{digest}", &name[..cut])
}

/// True when `live` is a replacement copy's name for the stack's `name`:
/// `<name>-<6 lowercase hex>` (the name shortened as [`suffixed_name`]
/// does).
pub(crate) fn is_suffixed_copy(live: &str, name: &str) -> bool {
    let Some((_, hex)) = live.rsplit_once('-') else {
        return false;
    };
    hex.len() == SUFFIX_HEX
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && suffixed_name(name, hex) == live
}

/// Drops the `nodegroup_name` difference a replacement copy shows: its
/// live name is the stack's with a suffix, made because the old copy held
/// the name when it was created. Without this every plan after a
/// blue/green replacement would replace the node group again.
///
/// Also drops a `release_version` the stack stopped pinning: unset means
/// "EKS's latest AMI for the version" (botocore `eks` model,
/// UpdateNodegroupVersionRequest.releaseVersion: "By default, the latest
/// available AMI version for the node group's Kubernetes version is
/// used"), which any release already is as far as the stack can say, and
/// EKS cannot roll a node group back to an earlier AMI anyway.
pub(crate) fn drop_suffixed_name_diff(diffs: &mut Vec<FieldDiff>) {
    diffs.retain(|d| {
        let suffixed = d.path == "nodegroup_name"
            && matches!(
                (d.before.as_str(), d.after.as_str()),
                (Some(live), Some(wanted)) if is_suffixed_copy(live, wanted)
            );
        let release_unpinned = d.path == "release_version" && d.after == Value::Null;
        !suffixed && !release_unpinned
    });
}

/// The replacement-forcing attributes of a live node group, in the
/// expansion's shapes (for comparing with the desired ones).
fn live_replacement_attrs(ng: &aws_sdk_eks::types::Nodegroup) -> Attrs {
    let mut a = Attrs::new();
    a.insert(
        "node_role_arn".into(),
        Value::string(ng.node_role().unwrap_or_default()),
    );
    a.insert("subnet_ids".into(), sorted(ng.subnets()));
    a.insert("instance_types".into(), sorted(ng.instance_types()));
    a.insert(
        "disk_size".into(),
        Value::Int(i64::from(ng.disk_size().unwrap_or(20))),
    );
    if let Some(t) = ng.capacity_type() {
        a.insert("capacity_type".into(), Value::string(t.as_str()));
    }
    if let Some(t) = ng.ami_type() {
        a.insert("ami_type".into(), Value::string(t.as_str()));
    }
    a
}

/// True when the live node group is made of what the stack asks for:
/// none of the attributes the stack sets that force replacement differs.
fn made_as_desired(ng: &aws_sdk_eks::types::Nodegroup, desired: &Attrs) -> bool {
    let live = live_replacement_attrs(ng);
    !replacement_attrs().any(|k| differs(ResourceKind::EksNodegroup, &live, desired, k))
}

/// True when the node group's tags make it this resource of this stack:
/// the desired `stackplan:stack` (required) and `Name` (when desired).
fn owned_by_stack(ng: &aws_sdk_eks::types::Nodegroup, d: &Desired<'_>) -> AwsResult<bool> {
    let wanted = d.str_map("tags")?;
    let Some(stack) = wanted.get("stackplan:stack") else {
        return Ok(false);
    };
    let tag = |k: &str| ng.tags().and_then(|t| t.get(k));
    Ok(tag("stackplan:stack") == Some(stack)
        && wanted
            .get("Name")
            .is_none_or(|name| tag("Name") == Some(name)))
}

/// Usable as it is: not failed, not on its way out.
fn healthy(ng: &aws_sdk_eks::types::Nodegroup) -> bool {
    matches!(
        ng.status().map(|s| s.as_str()),
        Some("CREATING" | "ACTIVE" | "UPDATING")
    )
}

/// What a create does with the name it settles on.
#[derive(Debug, PartialEq, Eq)]
enum CreateAs {
    /// Nothing holds it: CreateNodegroup.
    New(String),
    /// This stack's node group holds it, made of what the stack asks (an
    /// earlier create whose answer was lost, or an apply killed after
    /// it): taken over, not made twice.
    TakeOver(String),
}

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

    /// The node group as it is. `desired` asking for `release_version =
    /// "latest"` shows the live release as `latest` when it is the newest
    /// for the version the stack asks, and as the concrete release
    /// otherwise, so the plan reads `1.30.0-20250101 -> 1.30.0-20250301`
    /// only when there is a newer one.
    async fn nodegroup_observe(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        name: &str,
        desired: Option<&Attrs>,
    ) -> AwsResult<Option<Observed>> {
        let Some(ng) = self.describe_nodegroup(addr, cluster, name).await? else {
            return Ok(None);
        };
        let status = ng.status().map(|s| s.as_str()).unwrap_or_default();
        if status == "DELETING" {
            return Ok(None);
        }
        let mut release = opt_str_value(ng.release_version());
        if let Some(d) = desired.filter(|d| ami_release::wants_latest(Some(d))) {
            let d = Desired::new(addr, d);
            let version = d.opt_str("version")?.or(ng.version()).unwrap_or_default();
            let ami_type = ng.ami_type().map(|t| t.as_str().to_string());
            let latest = self
                .resolve_latest_release(&d, version, ami_type.as_deref())
                .await?;
            if ng.release_version() == Some(latest.as_str()) {
                release = Value::string(LATEST);
            }
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
                .attr("version", opt_str_value(ng.version()))
                .attr("release_version", release)
                .attr(
                    "capacity_type",
                    ng.capacity_type().map_or("ON_DEMAND", |t| t.as_str()),
                )
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

    /// The newest AMI release for `version` and the node group's AMI type
    /// (the stack's, else the live one, else the one EKS gives a new node
    /// group), remembered for `plan_change` to show in place of `latest`.
    async fn resolve_latest_release(
        &self,
        d: &Desired<'_>,
        version: &str,
        live_ami_type: Option<&str>,
    ) -> AwsResult<String> {
        let instance_type = d
            .str_list("instance_types")
            .ok()
            .and_then(|t| t.into_iter().next())
            .unwrap_or_default();
        // The stack's AMI type when it names one: a change of it replaces
        // the node group, and the new one runs the new family's release.
        let ami_type = match (d.opt_str("ami_type")?, live_ami_type) {
            (Some(wanted), _) => wanted.to_string(),
            (None, Some(live)) => live.to_string(),
            (None, None) => ami_release::default_ami_type(version, &instance_type).to_string(),
        };
        let latest = self
            .latest_ami_release(&ReleaseLookup {
                addr: d.addr,
                kubernetes_version: version,
                ami_type: &ami_type,
            })
            .await?;
        if let Ok(mut m) = self.latest_ami_releases.lock() {
            m.insert(d.addr.clone(), latest.clone());
        }
        Ok(latest)
    }

    /// The release a create or version update asks EKS for: a pinned one
    /// as it is, `latest` resolved for the desired version, none when the
    /// stack leaves it out (EKS's default).
    ///
    /// `latest` is the release this run last resolved for the node group,
    /// when it did: an update's read of the node group has just resolved
    /// it, and asking DescribeNodegroup and SSM again would only cost two
    /// calls (or, with a release published in between, apply a release the
    /// read did not compare with).
    async fn desired_release(&self, d: &Desired<'_>) -> AwsResult<Option<String>> {
        match d.opt_str("release_version")? {
            Some(LATEST) => {
                let resolved = self
                    .latest_ami_releases
                    .lock()
                    .ok()
                    .and_then(|m| m.get(d.addr).cloned());
                if let Some(release) = resolved {
                    return Ok(Some(release));
                }
                let version = d.opt_str("version")?.unwrap_or_default();
                let live = self.live_ami_type(d).await?;
                Ok(Some(
                    self.resolve_latest_release(d, version, live.as_deref())
                        .await?,
                ))
            }
            other => Ok(other.map(str::to_string)),
        }
    }

    /// The AMI type of the node group the desired attributes name, when it
    /// exists.
    async fn live_ami_type(&self, d: &Desired<'_>) -> AwsResult<Option<String>> {
        let (Some(cluster), Some(name)) =
            (d.opt_str("cluster_name")?, d.opt_str("nodegroup_name")?)
        else {
            return Ok(None);
        };
        Ok(self
            .describe_nodegroup(d.addr, cluster, name)
            .await?
            .and_then(|ng| ng.ami_type().map(|t| t.as_str().to_string())))
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
        let Some((cluster, name)) = self.nodegroup_identity(req.prior, req.desired) else {
            return Ok(None);
        };
        let found = self
            .nodegroup_observe(req.addr, cluster, name, req.desired)
            .await?;
        if found.is_some() || prior_id(req.prior).is_some() {
            return Ok(found);
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let d = Desired::new(req.addr, desired);
        // Not in state: a replacement copy under a suffixed name is this
        // resource too, when its tags say it is this stack's.
        if let Some(copy) = self.own_suffixed_copy(&d, cluster, name).await? {
            return self
                .nodegroup_observe(req.addr, cluster, &copy, req.desired)
                .await;
        }
        // To be created: the plan names the release `latest` will install.
        if ami_release::wants_latest(Some(desired)) {
            self.desired_release(&d).await?;
        }
        Ok(None)
    }

    /// Every node group name of a cluster (ListNodegroups, all pages).
    async fn nodegroup_names(&self, addr: &ResourceAddr, cluster: &str) -> AwsResult<Vec<String>> {
        let pages: Vec<_> = self
            .eks
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::api(addr, "ListNodegroups", e))?;
        Ok(pages.iter().flat_map(|p| p.nodegroups()).cloned().collect())
    }

    /// This stack's replacement copy of the node group `name`, found
    /// without state: a `<name>-<6 hex>` node group of the cluster tagged
    /// as this resource of this stack (never another stack's), and not
    /// on its way out. Of several (an apply killed between the new copy's
    /// create and the old one's delete), the one made as the stack asks,
    /// else the newest.
    async fn own_suffixed_copy(
        &self,
        d: &Desired<'_>,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<String>> {
        let names = absent_if_not_found(self.nodegroup_names(d.addr, cluster).await)?;
        let mut best: Option<((bool, i64, u32), String)> = None;
        for copy in names.into_iter().flatten() {
            if !is_suffixed_copy(&copy, name) {
                continue;
            }
            let Some(ng) = self.describe_nodegroup(d.addr, cluster, &copy).await? else {
                continue;
            };
            if ng.status().is_some_and(|s| s.as_str() == "DELETING") || !owned_by_stack(&ng, d)? {
                continue;
            }
            let created = ng
                .created_at()
                .map(|t| (t.secs(), t.subsec_nanos()))
                .unwrap_or_default();
            let key = (made_as_desired(&ng, d.attrs), created.0, created.1);
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, copy));
            }
        }
        Ok(best.map(|(_, copy)| copy))
    }

    /// The name a create uses, and whether it makes or takes over the node
    /// group there. The stack's name when nothing holds it, or when this
    /// stack's node group made as desired does. Otherwise (the old copy of
    /// a replacement holds it, or a failed one) `<name>-<digest>`, taken
    /// over when this stack's node group already holds that.
    async fn nodegroup_create_as(
        &self,
        d: &Desired<'_>,
        cluster: &str,
        name: &str,
    ) -> AwsResult<CreateAs> {
        let Some(holder) = self.describe_nodegroup(d.addr, cluster, name).await? else {
            return Ok(CreateAs::New(name.to_string()));
        };
        if healthy(&holder) && owned_by_stack(&holder, d)? && made_as_desired(&holder, d.attrs) {
            return Ok(CreateAs::TakeOver(name.to_string()));
        }
        let copy = suffixed_name(name, &replacement_digest(d.attrs));
        match self.describe_nodegroup(d.addr, cluster, &copy).await? {
            None => Ok(CreateAs::New(copy)),
            Some(ng) if owned_by_stack(&ng, d)? && healthy(&ng) => Ok(CreateAs::TakeOver(copy)),
            Some(ng) if owned_by_stack(&ng, d)? => Err(AwsError::Failed {
                addr: d.addr.clone(),
                what: format!(
                    "node group {copy} of cluster {cluster}, this stack's copy made as the \
                     stack asks, is {}: {name} is held by another node group, so the \
                     replacement needs {copy}; delete it, then apply again",
                    ng.status().map_or("in an unknown state", |s| s.as_str())
                ),
            }),
            // Someone else's: CreateNodegroup gets EKS's own refusal.
            Some(_) => Ok(CreateAs::New(copy)),
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
        let wanted = d.str("nodegroup_name")?;
        let name = match self.nodegroup_create_as(&d, cluster, wanted).await? {
            CreateAs::TakeOver(name) => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    format!(
                        "node group {name} exists, tagged as this stack's: taking it over \
                         (an earlier create of it did not finish)"
                    ),
                );
                return self
                    .nodegroup_observe(req.addr, cluster, &name, Some(req.desired))
                    .await?
                    .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", &name));
            }
            CreateAs::New(name) => name,
        };
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            if name == wanted {
                "CreateNodegroup".to_string()
            } else {
                format!(
                    "CreateNodegroup {name} (the old node group holds {wanted} until it is \
                     deleted)"
                )
            },
        );
        let call = self
            .eks
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&name)
            .node_role(d.str("node_role_arn")?)
            .set_subnets(Some(d.str_list("subnet_ids")?))
            .set_instance_types(Some(d.str_list("instance_types")?))
            .set_disk_size(d.opt_int("disk_size")?.map(|i| i as i32))
            .set_ami_type(d.opt_str("ami_type")?.map(AmiTypes::from))
            .set_version(d.opt_str("version")?.map(str::to_string))
            .set_release_version(self.desired_release(&d).await?)
            .set_capacity_type(d.opt_str("capacity_type")?.map(CapacityTypes::from))
            .scaling_config(Self::scaling_config(&d)?)
            .set_labels(hash_tags(d.str_map("labels")?))
            .set_tags(hash_tags(d.str_map("tags")?));
        // One token per attempt (see the module `eks`): the SDK's own
        // retries of an attempt re-send it; a refusal IAM propagation
        // explains made nothing, so the next attempt is a new request.
        retry_while_iam_propagates(&self.wait, req.addr, req.events, || {
            let call = call.clone().client_request_token(client_token());
            async move {
                call.send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateNodegroup", e))
            }
        })
        .await?;
        self.nodegroup_observe(req.addr, cluster, &name, Some(req.desired))
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", &name))
    }

    pub(crate) async fn nodegroup_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let (cluster, name) =
            split_id(&id).ok_or_else(|| vanished(req.addr, "DescribeNodegroup", &id))?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .nodegroup_observe(req.addr, cluster, name, Some(req.desired))
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
        // After the cluster's upgrade (which brings every node group along,
        // see `cluster.rs`) the version is usually already there; what is
        // left is a node group behind (an apply stopped half way) or a new
        // AMI release.
        let version = differs(kind, &live.attrs, req.desired, "version");
        let release = d.opt_str("release_version")?.is_some()
            && differs(kind, &live.attrs, req.desired, "release_version");
        if version || release {
            self.nodegroup_version_update(
                req.addr,
                req.events,
                cluster,
                name,
                d.opt_str("version")?,
                self.desired_release(&d).await?.as_deref(),
            )
            .await?;
        }
        if let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) {
            self.eks_retag(&req, arn, &live.attrs).await?;
        }
        self.nodegroup_observe(req.addr, cluster, name, Some(req.desired))
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNodegroup", name))
    }

    /// One UpdateNodegroupVersion, waited for: EKS replaces the nodes one
    /// by one, draining each (botocore `eks` model, UpdateNodegroupVersion:
    /// "every Pod on that node is drained first"), so it is a rolling
    /// update, never a replacement. No `version` is the cluster's; no
    /// `release` is the latest AMI for the version.
    pub(super) async fn nodegroup_version_update(
        &self,
        addr: &ResourceAddr,
        events: &dyn stackplan_core::EventSink,
        cluster: &str,
        name: &str,
        version: Option<&str>,
        release: Option<&str>,
    ) -> AwsResult<()> {
        let what = match (version, release) {
            (Some(v), Some(r)) => format!("{v}, AMI release {r}"),
            (Some(v), None) => format!("{v}, latest AMI release"),
            (None, Some(r)) => format!("AMI release {r}"),
            (None, None) => "the cluster's version".to_string(),
        };
        progress(
            events,
            addr,
            Phase::Updating,
            format!("UpdateNodegroupVersion {name} to {what} (rolling)"),
        );
        let out = self
            .eks
            .update_nodegroup_version()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .set_version(version.map(str::to_string))
            .set_release_version(release.map(str::to_string))
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "UpdateNodegroupVersion", e))?;
        self.eks_update_wait(
            addr,
            events,
            UpdateOf {
                nodegroup: Some(name),
                ..UpdateOf::cluster(cluster)
            },
            out.update().and_then(|u| u.id()),
            &format!("node group {name} version update"),
        )
        .await
    }

    /// The managed node groups of a cluster with their Kubernetes
    /// versions (ListNodegroups, then DescribeNodegroup of each), those on
    /// their way out left out.
    pub(super) async fn nodegroup_versions(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
    ) -> AwsResult<Vec<(String, Option<String>)>> {
        let mut out = Vec::new();
        for name in self.nodegroup_names(addr, cluster).await? {
            let Some(ng) = self.describe_nodegroup(addr, cluster, &name).await? else {
                continue;
            };
            if ng.status().is_some_and(|s| s.as_str() == "DELETING") {
                continue;
            }
            out.push((name, ng.version().map(str::to_string)));
        }
        out.sort();
        Ok(out)
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
        self.nodegroup_observe(addr, cluster, name, Some(req.desired))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(instance: &str, subnets: &[&str]) -> Attrs {
        [
            ("cluster_name", Value::string("milvus")),
            ("nodegroup_name", Value::string("workers")),
            (
                "node_role_arn",
                Value::string("arn:aws:iam::123456789012:role/nodes"),
            ),
            (
                "subnet_ids",
                Value::list(subnets.iter().map(|s| Value::string(*s))),
            ),
            ("instance_types", Value::list([Value::string(instance)])),
            ("disk_size", Value::Int(100)),
            (
                "scaling",
                Value::map([
                    ("desired_size", Value::Int(3)),
                    ("min_size", Value::Int(3)),
                    ("max_size", Value::Int(6)),
                ]),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn the_digest_is_six_lowercase_hex_digits_and_the_same_on_every_run() {
        let d = desired("m6i.2xlarge", &["subnet-a", "subnet-b"]);
        let digest = replacement_digest(&d);
        assert_eq!(digest.len(), 6, "{digest}");
        assert!(
            digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{digest}"
        );
        // Pinned: a digest that moved between releases would make a
        // create tried again by a newer stackplan miss its own copy.
        assert_eq!(digest, "0fc04d");
        // The subnets' order is not what the node group is made of.
        assert_eq!(
            digest,
            replacement_digest(&desired("m6i.2xlarge", &["subnet-b", "subnet-a"]))
        );
    }

    #[test]
    fn the_digest_follows_what_forces_replacement_and_nothing_else() {
        let d = desired("m6i.2xlarge", &["subnet-a", "subnet-b"]);
        let other_type = desired("r6i.2xlarge", &["subnet-a", "subnet-b"]);
        assert_ne!(replacement_digest(&d), replacement_digest(&other_type));

        let mut scaled = d.clone();
        scaled.insert(
            "scaling".into(),
            Value::map([("desired_size", Value::Int(5))]),
        );
        scaled.insert("labels".into(), Value::map([("a", Value::string("b"))]));
        scaled.insert("nodegroup_name".into(), Value::string("renamed"));
        assert_eq!(replacement_digest(&d), replacement_digest(&scaled));

        // A default spelled out is the default left out.
        let mut spelled = d.clone();
        spelled.insert("capacity_type".into(), Value::string("ON_DEMAND"));
        assert_eq!(replacement_digest(&d), replacement_digest(&spelled));
        spelled.insert("capacity_type".into(), Value::string("SPOT"));
        assert_ne!(replacement_digest(&d), replacement_digest(&spelled));
    }

    #[test]
    fn a_suffixed_name_fits_the_eks_limit_and_is_recognised_as_a_copy() {
        assert_eq!(suffixed_name("workers", "0a1b2c"), "workers-0a1b2c");
        assert!(is_suffixed_copy("workers-0a1b2c", "workers"));

        let long = "n".repeat(63);
        let copy = suffixed_name(&long, "0a1b2c");
        assert_eq!(copy.len(), MAX_NAME);
        assert!(is_suffixed_copy(&copy, &long));

        for not_a_copy in [
            "workers",
            "workers-0A1B2C",
            "workers-0a1b2",
            "workers-0a1b2c3",
            "workers-0a1b2g",
            "workers-gpu-0a1b2c",
            "other-0a1b2c",
        ] {
            assert!(!is_suffixed_copy(not_a_copy, "workers"), "{not_a_copy}");
        }
    }

    #[test]
    fn plan_drops_the_name_diff_of_a_suffixed_copy_and_keeps_every_other() {
        let mut diffs = vec![
            FieldDiff::new(
                "nodegroup_name",
                Value::string("workers-0a1b2c"),
                Value::string("workers"),
            ),
            FieldDiff::new(
                "instance_types",
                Value::list([Value::string("m6i.xlarge")]),
                Value::list([Value::string("m6i.2xlarge")]),
            ),
        ];
        drop_suffixed_name_diff(&mut diffs);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "instance_types");

        // A rename in the stack is a real change.
        let mut renamed = vec![FieldDiff::new(
            "nodegroup_name",
            Value::string("workers-0a1b2c"),
            Value::string("search"),
        )];
        drop_suffixed_name_diff(&mut renamed);
        assert_eq!(renamed.len(), 1);
        let mut back = vec![FieldDiff::new(
            "nodegroup_name",
            Value::string("workers"),
            Value::string("workers-0a1b2c"),
        )];
        drop_suffixed_name_diff(&mut back);
        assert_eq!(back.len(), 1);
    }

    // --- Against an in-memory EKS (the SDK's mock client) ---------------------

    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex};

    use aws_sdk_eks::config::retry::RetryConfig;
    use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
    use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
    use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
    use aws_sdk_eks::types::{Nodegroup, NodegroupStatus};
    use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use stackplan_core::{NoEvents, Provider, ResourceMode};

    const CLUSTER: &str = "milvus";
    const STACK: &str = "milvus-prod";

    fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(r#"{{"message":"{message}"}}"#)),
        );
        r.headers_mut().insert("x-amzn-ErrorType", code.to_string());
        r.headers_mut()
            .insert("content-type", "application/json".to_string());
        r
    }

    fn tags(stack: &str, name: &str) -> HashMap<String, String> {
        HashMap::from([
            ("stackplan:stack".to_string(), stack.to_string()),
            ("Name".to_string(), name.to_string()),
        ])
    }

    fn stack_desired(instance: &str) -> Attrs {
        let mut d = desired(instance, &["subnet-a", "subnet-b"]);
        d.insert(
            "tags".into(),
            Value::map([
                ("stackplan:stack", Value::string(STACK)),
                ("Name", Value::string("workers")),
            ]),
        );
        d
    }

    fn node_group(name: &str, instance: &str, tags: HashMap<String, String>) -> Nodegroup {
        Nodegroup::builder()
            .cluster_name(CLUSTER)
            .nodegroup_name(name)
            .status(NodegroupStatus::Active)
            .node_role("arn:aws:iam::123456789012:role/nodes")
            .subnets("subnet-a")
            .subnets("subnet-b")
            .instance_types(instance)
            .disk_size(100)
            .set_tags(Some(tags))
            .build()
    }

    /// The node groups of one cluster, served through DescribeNodegroup,
    /// ListNodegroups and CreateNodegroup as EKS answers them (a taken
    /// name is ResourceInUseException).
    struct FakeEks {
        groups: Arc<Mutex<BTreeMap<String, Nodegroup>>>,
        creates: Rule,
        provider: AwsProvider,
    }

    impl FakeEks {
        fn with(groups: impl IntoIterator<Item = Nodegroup>) -> Self {
            let groups: BTreeMap<String, Nodegroup> = groups
                .into_iter()
                .map(|g| (g.nodegroup_name().unwrap().to_string(), g))
                .collect();
            let groups = Arc::new(Mutex::new(groups));
            let g = groups.clone();
            let describe = mock!(aws_sdk_eks::Client::describe_nodegroup).then_compute_response(
                move |input| match g.lock().unwrap().get(input.nodegroup_name().unwrap()) {
                    Some(ng) => MockResponse::Output(
                        DescribeNodegroupOutput::builder()
                            .nodegroup(ng.clone())
                            .build(),
                    ),
                    None => MockResponse::Http(aws_error(
                        404,
                        "ResourceNotFoundException",
                        "No node group found",
                    )),
                },
            );
            let g = groups.clone();
            let list = mock!(aws_sdk_eks::Client::list_nodegroups).then_compute_output(move |_| {
                ListNodegroupsOutput::builder()
                    .set_nodegroups(Some(g.lock().unwrap().keys().cloned().collect()))
                    .build()
            });
            let g = groups.clone();
            let creates =
                mock!(aws_sdk_eks::Client::create_nodegroup).then_compute_response(move |input| {
                    let name = input.nodegroup_name().unwrap().to_string();
                    let mut groups = g.lock().unwrap();
                    if groups.contains_key(&name) {
                        return MockResponse::Http(aws_error(
                            409,
                            "ResourceInUseException",
                            "NodeGroup already exists with name",
                        ));
                    }
                    let ng = Nodegroup::builder()
                        .cluster_name(input.cluster_name().unwrap())
                        .nodegroup_name(&name)
                        .status(NodegroupStatus::Creating)
                        .set_node_role(input.node_role().map(str::to_string))
                        .set_subnets(input.subnets.clone())
                        .set_instance_types(input.instance_types.clone())
                        .set_disk_size(input.disk_size())
                        .set_tags(input.tags.clone())
                        .build();
                    groups.insert(name, ng.clone());
                    MockResponse::Output(CreateNodegroupOutput::builder().nodegroup(ng).build())
                });
            let eks = mock_client!(
                aws_sdk_eks,
                RuleMode::MatchAny,
                &[&describe, &list, &creates],
                |c| c.retry_config(RetryConfig::disabled())
            );
            let config = aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("us-west-2"))
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build();
            FakeEks {
                groups,
                creates,
                provider: AwsProvider::from_sdk_config(&config).with_eks(eks),
            }
        }

        async fn create(&self, desired: &Attrs) -> Observed {
            self.provider
                .create(ApplyRequest {
                    addr: &ResourceAddr::new(ResourceKind::EksNodegroup, "workers"),
                    desired,
                    prior: None,
                    field_diffs: &[],
                    events: &NoEvents,
                })
                .await
                .unwrap()
        }

        async fn read_without_state(&self, desired: &Attrs) -> Option<Observed> {
            self.provider
                .read(ReadRequest {
                    addr: &ResourceAddr::new(ResourceKind::EksNodegroup, "workers"),
                    mode: ResourceMode::Managed,
                    desired: Some(desired),
                    prior: None,
                    events: &NoEvents,
                })
                .await
                .unwrap()
        }

        fn names(&self) -> Vec<String> {
            self.groups.lock().unwrap().keys().cloned().collect()
        }
    }

    #[tokio::test]
    async fn a_free_name_is_used_as_the_stack_gives_it() {
        let eks = FakeEks::with([]);
        let made = eks.create(&stack_desired("m6i.2xlarge")).await;
        assert_eq!(made.physical_id.as_deref(), Some("milvus:workers"));
        assert_eq!(eks.names(), ["workers"]);
    }

    #[tokio::test]
    async fn a_replacement_made_while_the_old_node_group_holds_the_name_takes_a_suffixed_one() {
        let old = node_group("workers", "m6i.xlarge", tags(STACK, "workers"));
        let eks = FakeEks::with([old]);
        let wanted = stack_desired("m6i.2xlarge");
        let copy = format!("workers-{}", replacement_digest(&wanted));

        let made = eks.create(&wanted).await;
        assert_eq!(
            made.physical_id.as_deref(),
            Some(format!("milvus:{copy}").as_str())
        );
        assert_eq!(made.attrs["nodegroup_name"], Value::string(&copy));
        assert_eq!(eks.names(), ["workers".to_string(), copy.clone()]);

        // Tried again (a lost answer, a killed apply): the same name, and
        // the copy the first try made is taken over, not made twice.
        let again = eks.create(&wanted).await;
        assert_eq!(again.physical_id, made.physical_id);
        assert_eq!(eks.creates.num_calls(), 1);
        assert_eq!(eks.names().len(), 2);

        // The next plan: live `workers-<hex>` against the stack's `workers`.
        let mut diffs = vec![FieldDiff::new(
            "nodegroup_name",
            made.attrs["nodegroup_name"].clone(),
            Value::string("workers"),
        )];
        eks.provider
            .plan_change(
                &ResourceAddr::new(ResourceKind::EksNodegroup, "workers"),
                &mut diffs,
            )
            .unwrap();
        assert!(diffs.is_empty(), "{diffs:?}");
    }

    #[tokio::test]
    async fn a_node_group_an_interrupted_create_made_is_taken_over_under_the_stacks_name() {
        let made_before = node_group("workers", "m6i.2xlarge", tags(STACK, "workers"));
        let eks = FakeEks::with([made_before]);
        let taken = eks.create(&stack_desired("m6i.2xlarge")).await;
        assert_eq!(taken.physical_id.as_deref(), Some("milvus:workers"));
        assert_eq!(eks.creates.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_suffixed_copy_of_another_stack_is_not_taken_over() {
        let wanted = stack_desired("m6i.2xlarge");
        let copy = format!("workers-{}", replacement_digest(&wanted));
        let eks = FakeEks::with([
            node_group("workers", "m6i.xlarge", tags(STACK, "workers")),
            node_group(&copy, "m6i.2xlarge", tags("someone-else", "workers")),
        ]);
        let err = eks
            .provider
            .create(ApplyRequest {
                addr: &ResourceAddr::new(ResourceKind::EksNodegroup, "workers"),
                desired: &wanted,
                prior: None,
                field_diffs: &[],
                events: &NoEvents,
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("ResourceInUseException"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_copy_of_this_stack_under_the_suffixed_name_is_reported_not_taken_over() {
        let wanted = stack_desired("m6i.2xlarge");
        let copy = format!("workers-{}", replacement_digest(&wanted));
        let mut failed = node_group(&copy, "m6i.2xlarge", tags(STACK, "workers"));
        failed.status = Some(NodegroupStatus::CreateFailed);
        let eks = FakeEks::with([
            node_group("workers", "m6i.xlarge", tags(STACK, "workers")),
            failed,
        ]);
        let err = eks
            .provider
            .create(ApplyRequest {
                addr: &ResourceAddr::new(ResourceKind::EksNodegroup, "workers"),
                desired: &wanted,
                prior: None,
                field_diffs: &[],
                events: &NoEvents,
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&copy) && text.contains("CREATE_FAILED"),
            "{text}"
        );
        assert_eq!(eks.creates.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_read_without_state_finds_this_stacks_suffixed_copy_and_never_another_stacks() {
        let wanted = stack_desired("m6i.2xlarge");
        let ours = format!("workers-{}", replacement_digest(&wanted));
        let eks = FakeEks::with([
            node_group(
                "workers-0a1b2c",
                "m6i.2xlarge",
                tags("someone-else", "workers"),
            ),
            node_group("workers-gpu", "g5.xlarge", tags(STACK, "workers-gpu")),
        ]);
        assert!(eks.read_without_state(&wanted).await.is_none());

        let eks = FakeEks::with([
            node_group(
                "workers-0a1b2c",
                "m6i.2xlarge",
                tags("someone-else", "workers"),
            ),
            node_group(&ours, "m6i.2xlarge", tags(STACK, "workers")),
        ]);
        let found = eks.read_without_state(&wanted).await.unwrap();
        assert_eq!(
            found.physical_id.as_deref(),
            Some(format!("milvus:{ours}").as_str())
        );
    }
}
