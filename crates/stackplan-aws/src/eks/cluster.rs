//! The EKS cluster: created with its access configuration, its version
//! upgraded in place one minor at a time, endpoint access and the
//! authentication mode changed through UpdateClusterConfig.

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
}
