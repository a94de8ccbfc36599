//! EKS access entries: an IAM principal admitted to a cluster, with the
//! EKS access policies associated with it, cluster-wide or per namespace.
//!
//! `access_policies` maps a policy ARN to the namespaces of its scope (an
//! empty list is the whole cluster). EKS keeps one scope per associated
//! policy, and AssociateAccessPolicy on an associated policy replaces its
//! scope, so an update associates what is new or rescoped and
//! disassociates what the stack no longer lists (botocore `eks` model,
//! AssociateAccessPolicy / DisassociateAccessPolicy).

use std::collections::BTreeMap;

use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use stackplan_core::{
    ApplyRequest, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{Desired, differs, str_list_value, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id};

/// Policy ARN to the sorted namespaces of its scope; empty: the cluster.
type Policies = BTreeMap<String, Vec<String>>;

/// `<cluster>:<principal ARN>`: a cluster name has no `:`, so the first one
/// splits them.
fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
}

fn policies_value(policies: &Policies) -> Value {
    Value::map(
        policies
            .iter()
            .map(|(arn, ns)| (arn.as_str(), str_list_value(ns))),
    )
}

fn desired_policies(d: &Desired<'_>) -> AwsResult<Policies> {
    let mut out = Policies::new();
    let Some(map) = d.opt_map("access_policies")? else {
        return Ok(out);
    };
    for (arn, scope) in map {
        let Value::List(items) = scope else {
            return Err(AwsError::Failed {
                addr: d.addr.clone(),
                what: format!("access_policies[{arn}] must be a list of namespaces"),
            });
        };
        let mut ns: Vec<String> = items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        ns.sort();
        out.insert(arn.clone(), ns);
    }
    Ok(out)
}

fn scope(namespaces: &[String]) -> AccessScope {
    let kind = if namespaces.is_empty() {
        AccessScopeType::Cluster
    } else {
        AccessScopeType::Namespace
    };
    AccessScope::builder()
        .r#type(kind)
        .set_namespaces((!namespaces.is_empty()).then(|| namespaces.to_vec()))
        .build()
}

impl AwsProvider {
    async fn associated_policies(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        principal: &str,
    ) -> AwsResult<Option<Policies>> {
        let mut out = Policies::new();
        let mut token: Option<String> = None;
        loop {
            let listed = self
                .eks
                .list_associated_access_policies()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "ListAssociatedAccessPolicies", e));
            // Node entries (EC2_LINUX, FARGATE_LINUX, ...) take no access
            // policies, and EKS refuses to list them: they have none.
            let listed = match listed {
                Err(e) if e.code() == Some("InvalidParameterException") => return Ok(Some(out)),
                other => other,
            };
            let Some(page) = absent_if_not_found(listed)? else {
                return Ok(None);
            };
            for p in page.associated_access_policies() {
                let mut ns: Vec<String> = p
                    .access_scope()
                    .map(|s| s.namespaces().to_vec())
                    .unwrap_or_default();
                ns.sort();
                out.insert(p.policy_arn().unwrap_or_default().to_string(), ns);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(Some(out)),
            }
        }
    }

    async fn access_entry_observe(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        principal: &str,
    ) -> AwsResult<Option<Observed>> {
        // The entry and its policies are independent reads: one round trip.
        let (entry, policies) = tokio::join!(
            async {
                absent_if_not_found(
                    self.eks
                        .describe_access_entry()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "DescribeAccessEntry", e)),
                )
            },
            self.associated_policies(addr, cluster, principal)
        );
        let Some(entry) = entry?.and_then(|o| o.access_entry) else {
            return Ok(None);
        };
        let policies = policies?.unwrap_or_default();
        Ok(Some(
            Observed::new(format!("{cluster}:{principal}"))
                .attr("cluster_name", cluster)
                .attr("principal_arn", principal)
                .attr("type", entry.r#type().unwrap_or("STANDARD"))
                .attr(
                    "kubernetes_groups",
                    str_list_value(entry.kubernetes_groups()),
                )
                .attr("access_policies", policies_value(&policies))
                .attr("tags", tags_value(entry.tags().into_iter().flatten()))
                .output("arn", entry.access_entry_arn().unwrap_or_default())
                .output("username", entry.username().unwrap_or_default()),
        ))
    }

    fn access_entry_identity<'a>(
        prior: Option<&'a stackplan_core::ResourceState>,
        desired: Option<&'a stackplan_core::Attrs>,
    ) -> Option<(&'a str, &'a str)> {
        prior_id(prior).and_then(split_id).or_else(|| {
            let d = desired?;
            Some((
                d.get("cluster_name")?.as_str()?,
                d.get("principal_arn")?.as_str()?,
            ))
        })
    }

    pub(crate) async fn access_entry_read(
        &self,
        req: ReadRequest<'_>,
    ) -> AwsResult<Option<Observed>> {
        match Self::access_entry_identity(req.prior, req.desired) {
            Some((cluster, principal)) => {
                self.access_entry_observe(req.addr, cluster, principal)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Makes the associated policies equal the desired ones: associates
    /// the new and rescoped, then disassociates the rest, so a principal
    /// changing policy never passes through having none.
    async fn sync_access_policies(
        &self,
        req: &ApplyRequest<'_>,
        cluster: &str,
        principal: &str,
        live: &Policies,
    ) -> AwsResult<()> {
        let d = Desired::new(req.addr, req.desired);
        let wanted = desired_policies(&d)?;
        for (arn, ns) in &wanted {
            if live.get(arn) == Some(ns) {
                continue;
            }
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                format!("AssociateAccessPolicy {arn}"),
            );
            let call = self
                .eks
                .associate_access_policy()
                .cluster_name(cluster)
                .principal_arn(principal)
                .policy_arn(arn)
                .access_scope(scope(ns));
            call.send()
                .await
                .map_err(|e| AwsError::api(req.addr, "AssociateAccessPolicy", e))?;
        }
        for arn in live.keys().filter(|a| !wanted.contains_key(*a)) {
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                format!("DisassociateAccessPolicy {arn}"),
            );
            absent_if_not_found(
                self.eks
                    .disassociate_access_policy()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "DisassociateAccessPolicy", e)),
            )?;
        }
        Ok(())
    }

    pub(crate) async fn access_entry_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let cluster = d.str("cluster_name")?;
        let principal = d.str("principal_arn")?;
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            format!("CreateAccessEntry {principal}"),
        );
        let groups = d.str_list("kubernetes_groups").unwrap_or_default();
        let call = self
            .eks
            .create_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .r#type(d.opt_str("type")?.unwrap_or("STANDARD"))
            .set_kubernetes_groups((!groups.is_empty()).then_some(groups))
            .set_tags(super::hash_tags(d.str_map("tags")?));
        // A role created moments ago can be unknown to EKS for a while, as
        // to IAM's other consumers.
        retry_while_iam_propagates(&self.wait, req.addr, req.events, || {
            let call = call.clone().client_request_token(client_token());
            async move {
                call.send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateAccessEntry", e))
            }
        })
        .await?;
        self.sync_access_policies(&req, cluster, principal, &Policies::new())
            .await?;
        self.access_entry_observe(req.addr, cluster, principal)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAccessEntry", principal))
    }

    pub(crate) async fn access_entry_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let (cluster, principal) =
            split_id(&id).ok_or_else(|| vanished(req.addr, "DescribeAccessEntry", &id))?;
        let live = self
            .access_entry_observe(req.addr, cluster, principal)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAccessEntry", principal))?;
        let d = Desired::new(req.addr, req.desired);
        if differs(req.addr.kind, &live.attrs, req.desired, "kubernetes_groups") {
            progress(req.events, req.addr, Phase::Updating, "UpdateAccessEntry");
            self.eks
                .update_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_kubernetes_groups(Some(d.str_list("kubernetes_groups").unwrap_or_default()))
                .client_request_token(client_token())
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateAccessEntry", e))?;
        }
        let live_policies = Desired::new(req.addr, &live.attrs);
        let live_policies = desired_policies(&live_policies)?;
        self.sync_access_policies(&req, cluster, principal, &live_policies)
            .await?;
        if let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) {
            self.eks_retag(&req, arn, &live.attrs).await?;
        }
        self.access_entry_observe(req.addr, cluster, principal)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAccessEntry", principal))
    }

    pub(crate) async fn access_entry_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some((cluster, principal)) = req.prior.physical_id.as_deref().and_then(split_id) else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteAccessEntry");
        // Deleting the entry removes its policy associations with it.
        absent_if_not_found(
            self.eks
                .delete_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteAccessEntry", e)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_arn_with_colons_splits_after_the_cluster_name() {
        assert_eq!(
            split_id("milvus:arn:aws:iam::123456789012:role/ci-plan"),
            Some(("milvus", "arn:aws:iam::123456789012:role/ci-plan"))
        );
    }

    #[test]
    fn no_namespaces_is_the_cluster_scope_and_some_are_a_namespace_scope() {
        let cluster = scope(&[]);
        assert_eq!(cluster.r#type(), Some(&AccessScopeType::Cluster));
        assert!(cluster.namespaces().is_empty());
        let ns = scope(&["milvus".to_string()]);
        assert_eq!(ns.r#type(), Some(&AccessScopeType::Namespace));
        assert_eq!(ns.namespaces(), ["milvus"]);
    }
}
