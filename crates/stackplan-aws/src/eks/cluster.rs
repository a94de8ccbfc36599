//! The EKS cluster: created with its access configuration, its version
//! upgraded in place, endpoint access and the authentication mode changed
//! through UpdateClusterConfig.
//!
//! An upgrade is a chain, run by the cluster's update one minor at a time
//! however many minors the stack moves (EKS user guide, "Update existing
//! cluster to new Kubernetes version": a cluster moves one minor per
//! update, and the nodes and add-ons are updated after the control plane;
//! botocore `eks` model, UpdateClusterVersion: "all of your node groups'
//! Kubernetes versions must match the cluster's Kubernetes version in
//! order to update the cluster to a new Kubernetes version"). Per minor:
//! UpdateClusterVersion, waited for; every managed node group of the
//! cluster UpdateNodegroupVersion to it (rolling), waited for; then every
//! add-on whose installed version DescribeAddonVersions does not list for
//! that minor (kube-proxy always: its builds are per minor) UpdateAddon to
//! the minor's default. eksctl's "Cluster upgrades" guide has the same
//! three steps as separate commands (`eksctl upgrade cluster`, one minor
//! at a time: "Upgrades of more than one Kubernetes version are not
//! supported"; then the node groups; then the default add-ons). With
//! terraform-provider-aws a node group follows the cluster by
//! `version = aws_eks_cluster.x.version` (hashicorp/terraform-provider-aws
//! #26345), which orders one minor's steps but cannot interleave two, and
//! a node group left behind is the refusal quoted in #19478; pulumi-eks
//! made managed node groups follow the cluster's version by default
//! (pulumi/pulumi-eks#1253), as the expansion does here. The node group and add-on resources
//! follow the cluster's version in the stack, so they plan a change of
//! their own: run after the cluster's, it finds the node group there, and
//! resolves an add-on's `latest` or EKS default for the new minor.

use aws_sdk_eks::types::{
    AuthenticationMode, CreateAccessConfigRequest, UpdateAccessConfigRequest, VpcConfigRequest,
};
use stackplan_core::{
    ApplyRequest, DeleteRequest, FieldDiff, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use super::{UpdateOf, hash_tags, sorted, tags_of};
use crate::attrs::{Desired, differs};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, poll_until, poll_until_gone, progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id, waited_id};

/// `1.30` as (1, 30).
fn minor_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The minor versions an upgrade from `from` to `to` passes through, in
/// order, `to` included: EKS upgrades a control plane one minor version
/// at a time (EKS user guide, "Update existing cluster to new Kubernetes
/// version": "you can't skip versions"; moto_ext refuses a jump of two
/// the same way). Empty when `to` is not above `from`.
pub(crate) fn upgrade_minors(from: &str, to: &str) -> Vec<String> {
    match (minor_version(from), minor_version(to)) {
        (Some((fm, fi)), Some((tm, ti))) if fm == tm && ti > fi => {
            (fi + 1..=ti).map(|m| format!("{fm}.{m}")).collect()
        }
        _ => Vec::new(),
    }
}

/// The field of the cluster's change that names the steps of an upgrade.
pub(crate) const UPGRADE_STEPS: &str = "upgrade_steps";

/// What one minor of an upgrade does, each with the EKS rule it follows;
/// the plan shows these, and `cluster_update` runs them in this order.
fn step_descriptions(minor: &str) -> [String; 3] {
    [
        format!(
            "{minor}: control plane, UpdateClusterVersion to {minor} (EKS upgrades one minor \
             version at a time)"
        ),
        format!(
            "{minor}: every managed node group, UpdateNodegroupVersion to {minor}, rolling \
             (EKS refuses the next UpdateClusterVersion while a node group's version differs \
             from the cluster's)"
        ),
        format!(
            "{minor}: kube-proxy and every add-on whose version is not built for {minor} to \
             {minor}'s default version (DescribeAddonVersions for {minor}; kube-proxy must \
             track the control plane)"
        ),
    ]
}

/// Checks a change of the cluster's version at plan time, so the plan
/// fails with the reason instead of apply failing half way: EKS cannot go
/// down, nor change the major version. An upgrade is kept, and the steps
/// it takes are added to the change as `upgrade_steps` (one minor at a
/// time: control plane, node groups, add-ons), so a reviewer sees every
/// one and the rule behind it.
pub(crate) fn check_version_change(
    addr: &ResourceAddr,
    diffs: &mut Vec<FieldDiff>,
) -> AwsResult<()> {
    diffs.retain(|d| d.path != UPGRADE_STEPS);
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
    if t.0 != f.0 {
        return refuse(format!(
            "EKS upgrades one minor version at a time within a major version: version \
             {from} is live, the stack asks for {to}"
        ));
    }
    let steps: Vec<Value> = upgrade_minors(from, to)
        .iter()
        .flat_map(|m| step_descriptions(m))
        .map(Value::string)
        .collect();
    if !steps.is_empty() {
        diffs.push(FieldDiff::new(
            UPGRADE_STEPS,
            Value::Null,
            Value::list(steps),
        ));
    }
    Ok(())
}

impl AwsProvider {
    pub(super) async fn describe_cluster(
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
        // One token per attempt (see the module `eks`): the SDK's own
        // retries of an attempt re-send it; a refusal IAM propagation
        // explains made nothing, so the next attempt is a new request.
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
            let before = live
                .attrs
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            check_version_change(
                req.addr,
                &mut vec![FieldDiff::new(
                    "version",
                    Value::string(&before),
                    Value::string(want),
                )],
            )?;
            // Node groups an earlier apply left behind first: EKS refuses
            // the next step while one is.
            self.nodegroups_follow(&req, &name, &before).await?;
            for minor in upgrade_minors(&before, want) {
                self.cluster_version_step(&req, &name, &minor).await?;
                self.nodegroups_follow(&req, &name, &minor).await?;
                self.addons_follow(&req, &name, &minor).await?;
            }
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

    /// One minor of an upgrade: UpdateClusterVersion, waited for.
    async fn cluster_version_step(
        &self,
        req: &ApplyRequest<'_>,
        name: &str,
        minor: &str,
    ) -> AwsResult<()> {
        progress(
            req.events,
            req.addr,
            Phase::Updating,
            format!("UpdateClusterVersion to {minor}"),
        );
        let out = self
            .eks
            .update_cluster_version()
            .name(name)
            .version(minor)
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "UpdateClusterVersion", e))?;
        self.eks_update_wait(
            req.addr,
            req.events,
            UpdateOf::cluster(name),
            out.update().and_then(|u| u.id()),
            &format!("cluster version update to {minor}"),
        )
        .await
    }

    /// Every managed node group of the cluster not on `minor` taken to it
    /// (UpdateNodegroupVersion, rolling, the latest AMI release of that
    /// version), one after the other, each waited for.
    async fn nodegroups_follow(
        &self,
        req: &ApplyRequest<'_>,
        cluster: &str,
        minor: &str,
    ) -> AwsResult<()> {
        let want = minor_version(minor);
        for (ng, version) in self.nodegroup_versions(req.addr, cluster).await? {
            if version.as_deref().and_then(minor_version) == want {
                continue;
            }
            self.nodegroup_version_update(req.addr, req.events, cluster, &ng, Some(minor), None)
                .await?;
        }
        Ok(())
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

    fn steps(diffs: &[FieldDiff]) -> Vec<String> {
        diffs
            .iter()
            .filter(|d| d.path == UPGRADE_STEPS)
            .flat_map(|d| match &d.after {
                Value::List(items) => items.clone(),
                _ => Vec::new(),
            })
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn cluster_upgrade_by_one_minor_version_names_its_three_steps() {
        let mut diffs = version_diff("1.30", "1.31");
        check_version_change(&cluster(), &mut diffs).unwrap();
        let steps = steps(&diffs);
        assert_eq!(steps.len(), 3, "{steps:#?}");
        assert!(steps[0].starts_with("1.31: control plane, UpdateClusterVersion to 1.31"));
        assert!(steps[1].starts_with("1.31: every managed node group"));
        assert!(steps[2].starts_with("1.31: kube-proxy"));
        // Planned again (a saved plan checked at apply): the same steps once.
        check_version_change(&cluster(), &mut diffs).unwrap();
        assert_eq!(diffs.len(), 2);
    }

    #[test]
    fn cluster_upgrade_of_several_minors_is_planned_one_minor_at_a_time_in_order() {
        assert_eq!(upgrade_minors("1.29", "1.32"), ["1.30", "1.31", "1.32"]);
        assert!(upgrade_minors("1.31", "1.31").is_empty());
        assert!(upgrade_minors("1.31", "1.30").is_empty());
        let mut diffs = version_diff("1.29", "1.31");
        check_version_change(&cluster(), &mut diffs).unwrap();
        let minors: Vec<String> = steps(&diffs).iter().map(|s| s[..4].to_string()).collect();
        assert_eq!(minors, ["1.30", "1.30", "1.30", "1.31", "1.31", "1.31"]);
    }

    #[test]
    fn cluster_downgrade_and_major_change_are_refused() {
        let err = check_version_change(&cluster(), &mut version_diff("1.31", "1.30")).unwrap_err();
        assert!(err.to_string().contains("cannot downgrade"));
        let err = check_version_change(&cluster(), &mut version_diff("1.31", "2.0")).unwrap_err();
        assert!(err.to_string().contains("within a major version"), "{err}");
    }
}
