//! EKS add-ons: `latest` resolved to a concrete version through
//! DescribeAddonVersions, version and service-account role changed in
//! place.

use aws_sdk_eks::types::ResolveConflicts;
use stackplan_core::{
    ApplyRequest, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use super::{UpdateOf, hash_tags, split_id, tags_of};
use crate::attrs::{Desired, differs};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, poll_until, poll_until_gone, progress, retry_while_iam_propagates};
use crate::{AwsProvider, client_token, prior_id, waited_id};

/// What `addon_version = "latest"` means.
pub(crate) const LATEST: &str = "latest";

/// Orders `v1.19.2-eksbuild.1` by its numbers.
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// What DescribeAddonVersions offers of one add-on for one Kubernetes
/// version.
struct AddonCatalogue {
    /// Newest first.
    versions: Vec<String>,
    /// The one flagged `defaultVersion` for that Kubernetes version.
    default: Option<String>,
}

impl AddonCatalogue {
    fn default_or_newest(&self) -> Option<String> {
        self.default
            .clone()
            .or_else(|| self.versions.first().cloned())
    }
}

fn no_version(addr: &ResourceAddr, addon: &str, k8s: &str) -> AwsError {
    AwsError::Failed {
        addr: addr.clone(),
        what: format!("DescribeAddonVersions lists no version of {addon} for Kubernetes {k8s}"),
    }
}

impl AwsProvider {
    /// The cluster's Kubernetes version (DescribeCluster).
    async fn cluster_k8s_version(&self, addr: &ResourceAddr, cluster: &str) -> AwsResult<String> {
        self.describe_cluster(addr, cluster)
            .await?
            .and_then(|c| c.version().map(str::to_string))
            .ok_or_else(|| vanished(addr, "DescribeCluster", cluster))
    }

    /// What EKS offers of an add-on for a Kubernetes version
    /// (DescribeAddonVersions with `kubernetesVersion`): every version,
    /// newest first, and the one flagged `defaultVersion` for it.
    async fn addon_catalogue(
        &self,
        addr: &ResourceAddr,
        addon: &str,
        k8s: &str,
    ) -> AwsResult<AddonCatalogue> {
        let pages: Vec<_> = self
            .eks
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(k8s)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeAddonVersions", e))?;
        let infos: Vec<_> = pages
            .iter()
            .flat_map(|p| p.addons())
            .filter(|a| a.addon_name() == Some(addon))
            .flat_map(|a| a.addon_versions())
            .collect();
        let mut versions: Vec<String> = infos
            .iter()
            .filter_map(|v| v.addon_version())
            .map(str::to_string)
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(version_key(v)));
        versions.dedup();
        let default = infos
            .iter()
            .find(|v| {
                v.compatibilities()
                    .iter()
                    .any(|c| c.cluster_version() == Some(k8s) && c.default_version())
            })
            .and_then(|v| v.addon_version())
            .map(str::to_string);
        Ok(AddonCatalogue { versions, default })
    }

    /// The newest version of an add-on for the cluster's Kubernetes version.
    /// Not EKS's `defaultVersion`, which often lags: "latest" means newest.
    async fn latest_addon_version(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        addon: &str,
    ) -> AwsResult<String> {
        let k8s = self.cluster_k8s_version(addr, cluster).await?;
        self.addon_catalogue(addr, addon, &k8s)
            .await?
            .versions
            .into_iter()
            .next()
            .ok_or_else(|| no_version(addr, addon, &k8s))
    }

    /// The version EKS installs by default for the cluster's version.
    async fn default_addon_version(
        &self,
        addr: &ResourceAddr,
        cluster: &str,
        addon: &str,
    ) -> AwsResult<String> {
        let k8s = self.cluster_k8s_version(addr, cluster).await?;
        self.addon_catalogue(addr, addon, &k8s)
            .await?
            .default_or_newest()
            .ok_or_else(|| no_version(addr, addon, &k8s))
    }

    /// One minor of a cluster's upgrade, for its add-ons: every add-on
    /// whose installed version EKS does not list for `minor` moved to
    /// `minor`'s default version. kube-proxy's builds are per minor
    /// (v1.31.x for 1.31), so it always moves: it must track the control
    /// plane. What the stack asks of each add-on (`latest`, a pinned
    /// version) its own update applies once the cluster is at its target.
    pub(super) async fn addons_follow(
        &self,
        req: &ApplyRequest<'_>,
        cluster: &str,
        minor: &str,
    ) -> AwsResult<()> {
        let pages: Vec<_> = self
            .eks
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::api(req.addr, "ListAddons", e))?;
        let mut names: Vec<String> = pages.iter().flat_map(|p| p.addons()).cloned().collect();
        names.sort();
        for name in names {
            let Some(a) = self.describe_addon(req.addr, cluster, &name).await? else {
                continue;
            };
            if a.status().is_some_and(|s| s.as_str() == "DELETING") {
                continue;
            }
            let installed = a.addon_version().unwrap_or_default();
            let catalogue = self.addon_catalogue(req.addr, &name, minor).await?;
            if catalogue.versions.iter().any(|v| v == installed) {
                continue;
            }
            let Some(target) = catalogue.default_or_newest() else {
                return Err(no_version(req.addr, &name, minor));
            };
            self.addon_version_update(
                req.addr,
                req.events,
                cluster,
                &name,
                Some(&target),
                None,
                ResolveConflicts::Overwrite,
                &format!("{installed} is not built for {minor}"),
            )
            .await?;
        }
        Ok(())
    }

    /// One UpdateAddon, waited for.
    #[allow(clippy::too_many_arguments)]
    async fn addon_version_update(
        &self,
        addr: &ResourceAddr,
        events: &dyn stackplan_core::EventSink,
        cluster: &str,
        name: &str,
        version: Option<&str>,
        role: Option<&str>,
        resolve: ResolveConflicts,
        why: &str,
    ) -> AwsResult<()> {
        progress(
            events,
            addr,
            Phase::Updating,
            match version {
                Some(v) => format!("UpdateAddon {name} to {v} ({why})"),
                None => format!("UpdateAddon {name} ({why})"),
            },
        );
        let out = self
            .eks
            .update_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .set_addon_version(version.map(str::to_string))
            .set_service_account_role_arn(role.map(str::to_string))
            .resolve_conflicts(resolve)
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "UpdateAddon", e))?;
        self.eks_update_wait(
            addr,
            events,
            UpdateOf {
                addon: Some(name),
                ..UpdateOf::cluster(cluster)
            },
            out.update().and_then(|u| u.id()),
            &format!("add-on {name} update"),
        )
        .await
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
        let (described, k8s_latest) =
            tokio::join!(self.describe_addon(addr, cluster, name), async {
                let k8s = self.cluster_k8s_version(addr, cluster).await?;
                let latest = if wants_latest {
                    Some(self.addon_catalogue(addr, name, &k8s).await.and_then(|c| {
                        c.versions
                            .into_iter()
                            .next()
                            .ok_or_else(|| no_version(addr, name, &k8s))
                    }))
                } else {
                    None
                };
                Ok::<_, AwsError>((k8s, latest))
            });
        let Some(a) = described? else {
            return Ok(None);
        };
        let (k8s, latest) = k8s_latest?;
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
                // The version it follows is the cluster's: an add-on is
                // always on its cluster's version.
                .attr("kubernetes_version", k8s)
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
        // One token per attempt (see the module `eks`): the SDK's own
        // retries of an attempt re-send it; a refusal IAM propagation
        // explains made nothing, so the next attempt is a new request.
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
        // The plan moved the cluster's version under this add-on: an
        // add-on without a pinned version goes to the default of the
        // version the cluster is on now (read again here, after the
        // cluster's upgrade ran), `latest` to its newest.
        let follows = req
            .field_diffs
            .iter()
            .any(|d| d.path == "kubernetes_version");
        let installed = live
            .outputs
            .get("installed_version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let target = match d.opt_str("addon_version")? {
            Some(LATEST) => Some(self.latest_addon_version(req.addr, cluster, name).await?),
            Some(v) => Some(v.to_string()),
            None if follows => Some(self.default_addon_version(req.addr, cluster, name).await?),
            None => None,
        };
        let version_moves = target.as_deref().is_some_and(|t| t != installed);
        let role_moves = differs(kind, &live.attrs, req.desired, "service_account_role_arn");
        if version_moves || role_moves {
            self.addon_version_update(
                req.addr,
                req.events,
                cluster,
                name,
                target.as_deref().filter(|_| version_moves),
                d.opt_str("service_account_role_arn")?,
                ResolveConflicts::from(d.opt_str("resolve_conflicts")?.unwrap_or("OVERWRITE")),
                if version_moves && follows {
                    "the cluster's Kubernetes version moved"
                } else {
                    "the stack asks for it"
                },
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
    use super::*;
    use stackplan_core::FieldDiff;

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
        crate::eks::show_latest(&mut diffs, "addon_version", Some("v1.11.4-eksbuild.2"));
        assert_eq!(diffs[0].after, Value::string("v1.11.4-eksbuild.2"));
    }
}
