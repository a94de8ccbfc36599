//! IAM: roles (trust policy, attached managed policies), customer managed
//! policies (a change is a new default version), the cluster's OIDC
//! provider.

use std::collections::BTreeSet;

use aws_sdk_iam::types::{PolicyScopeType, Tag};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{Desired, differs, policy_document, str_list_value, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::network::adopt_read;
use crate::wait::progress;
use crate::wait::{after_create, create_or_find, retry_while_iam_propagates, same_stack};

/// IAM's answer to a create of a name that exists (botocore IAM model,
/// `EntityAlreadyExistsException`, error code `EntityAlreadyExists`).
const ENTITY_ALREADY_EXISTS: &str = "EntityAlreadyExists";
use crate::{AwsProvider, prior_id};

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

fn iam_tags(addr: &ResourceAddr, d: &Desired<'_>) -> AwsResult<Option<Vec<Tag>>> {
    let map = d.str_map("tags")?;
    if map.is_empty() {
        return Ok(None);
    }
    map.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::attribute(addr, "tags", e.to_string()))
        })
        .collect::<AwsResult<Vec<_>>>()
        .map(Some)
}

fn tags_of(tags: &[Tag]) -> Value {
    tags_value(tags.iter().map(|t| (t.key(), t.value())))
}

/// The host and path of an issuer URL, as IAM names the provider.
fn issuer_host(url: &str) -> &str {
    url.strip_prefix("https://").unwrap_or(url)
}

impl AwsProvider {
    // --- Roles ---------------------------------------------------------------

    async fn role_observe(&self, addr: &ResourceAddr, name: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "GetRole", e)),
        )?;
        let Some(role) = out.as_ref().and_then(|o| o.role()) else {
            return Ok(None);
        };
        // GetRole leaves tags out on some partitions and emulators:
        // ListRoleTags is the source of truth. Both lists are asked at once.
        let (attached, tags) = tokio::try_join!(
            async {
                self.iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListAttachedRolePolicies", e))
            },
            async {
                self.iam
                    .list_role_tags()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListRoleTags", e))
            },
        )?;
        let mut arns: Vec<&str> = attached.iter().filter_map(|p| p.policy_arn()).collect();
        arns.sort_unstable();
        Ok(Some(
            Observed::new(role.role_name())
                .attr("name", role.role_name())
                .attr("path", role.path())
                .attr(
                    "assume_role_policy",
                    role.assume_role_policy_document()
                        .map(policy_document)
                        .unwrap_or(Value::Null),
                )
                .attr("managed_policy_arns", str_list_value(arns))
                .attr("description", role.description().unwrap_or_default())
                .attr(
                    "max_session_duration",
                    i64::from(role.max_session_duration().unwrap_or(3600)),
                )
                .attr("tags", tags_of(tags.tags()))
                .output("arn", role.arn())
                .output("unique_id", role.role_id()),
        ))
    }

    pub(crate) async fn role_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        // Role names are unique per account: the name is the identity.
        let name = prior_id(req.prior).or_else(|| {
            req.desired
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
        });
        match name {
            Some(n) => self.role_observe(req.addr, n).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn role_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let name = d.str("name")?;
        progress(req.events, req.addr, Phase::Creating, "CreateRole");
        let trust = d.document("assume_role_policy")?;
        let path = d.opt_str("path")?.map(str::to_string);
        let description = d.opt_str("description")?.map(str::to_string);
        let session = d.opt_int("max_session_duration")?.map(|i| i as i32);
        let tags = iam_tags(req.addr, &d)?;
        let tag_map = d.str_map("tags")?;
        let (trust, path, description, tags, tag_map) =
            (&trust, &path, &description, &tags, &tag_map);
        // Role names are unique per account, and CreateRole has no token
        // (botocore IAM model 1.44.8): an SDK retry of a role made but
        // whose answer was lost answers EntityAlreadyExists. The role
        // found by its name is taken over when its tags name this stack
        // (it was made with them, in the same call).
        create_or_find(
            req.addr,
            req.events,
            "CreateRole",
            &[ENTITY_ALREADY_EXISTS],
            || async move {
                // An IRSA trust policy names an OIDC provider made moments
                // ago, which IAM may refuse for a while as "Invalid
                // principal in policy" (MalformedPolicyDocument): tried
                // again while IAM propagates.
                retry_while_iam_propagates(&self.wait, req.addr, req.events, || async {
                    self.iam
                        .create_role()
                        .role_name(name)
                        .assume_role_policy_document(trust.clone())
                        .set_path(path.clone())
                        .set_description(description.clone())
                        .set_max_session_duration(session)
                        .set_tags(tags.clone())
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "CreateRole", e))
                })
                .await
                .map(drop)
            },
            || async move {
                let found = self.role_read(adopt_read(&req)).await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tag_map))
                    .map(drop))
            },
        )
        .await?;
        after_create(
            name,
            || async move {
                // AttachRolePolicy of an attached policy is a no-op, so the
                // SDK's retries cannot duplicate it.
                for arn in d.str_list("managed_policy_arns")? {
                    self.iam
                        .attach_role_policy()
                        .role_name(name)
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "AttachRolePolicy", e))?;
                }
                self.role_observe(req.addr, name)
                    .await?
                    .ok_or_else(|| vanished(req.addr, "GetRole", name))
            },
            || self.role_observe(req.addr, name),
        )
        .await
    }

    pub(crate) async fn role_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let name = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .role_observe(req.addr, &name)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetRole", &name))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "assume_role_policy") {
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "UpdateAssumeRolePolicy",
            );
            let trust = d.document("assume_role_policy")?;
            retry_while_iam_propagates(&self.wait, req.addr, req.events, || async {
                self.iam
                    .update_assume_role_policy()
                    .role_name(&name)
                    .policy_document(trust.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UpdateAssumeRolePolicy", e))
            })
            .await?;
        }
        if differs(kind, &live.attrs, req.desired, "description")
            || differs(kind, &live.attrs, req.desired, "max_session_duration")
        {
            self.iam
                .update_role()
                .role_name(&name)
                .set_description(d.opt_str("description")?.map(str::to_string))
                .set_max_session_duration(d.opt_int("max_session_duration")?.map(|i| i as i32))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateRole", e))?;
        }
        if req.desired.contains_key("managed_policy_arns") {
            let want: BTreeSet<String> = d.str_list("managed_policy_arns")?.into_iter().collect();
            let have: BTreeSet<String> = Desired::new(req.addr, &live.attrs)
                .str_list("managed_policy_arns")?
                .into_iter()
                .collect();
            // Attach first: the role never holds less than both sets share.
            for arn in want.difference(&have) {
                progress(
                    req.events,
                    req.addr,
                    Phase::Updating,
                    format!("AttachRolePolicy {arn}"),
                );
                self.iam
                    .attach_role_policy()
                    .role_name(&name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "AttachRolePolicy", e))?;
            }
            for arn in have.difference(&want) {
                progress(
                    req.events,
                    req.addr,
                    Phase::Updating,
                    format!("DetachRolePolicy {arn}"),
                );
                absent_if_not_found(
                    self.iam
                        .detach_role_policy()
                        .role_name(&name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "DetachRolePolicy", e)),
                )?;
            }
        }
        if let Some((set, remove)) = d.tag_delta(&live.attrs)? {
            if !remove.is_empty() {
                self.iam
                    .untag_role()
                    .role_name(&name)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UntagRole", e))?;
            }
            if !set.is_empty() {
                let tags = set_tags(req.addr, &set)?;
                self.iam
                    .tag_role()
                    .role_name(&name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "TagRole", e))?;
            }
        }
        self.role_observe(req.addr, &name)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetRole", &name))
    }

    pub(crate) async fn role_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(name) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let addr = req.addr;
        // IAM refuses to delete a role that still has policies or instance
        // profiles: take them off first.
        let attached = match absent_if_not_found(
            self.iam
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| AwsError::api(addr, "ListAttachedRolePolicies", e)),
        )? {
            Some(a) => a,
            None => return Ok(()),
        };
        progress(req.events, addr, Phase::Deleting, "DeleteRole");
        for p in &attached {
            if let Some(arn) = p.policy_arn() {
                absent_if_not_found(
                    self.iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "DetachRolePolicy", e)),
                )?;
            }
        }
        let inline = self
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "ListRolePolicies", e))?;
        for policy in inline.policy_names() {
            self.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DeleteRolePolicy", e))?;
        }
        let profiles = self
            .iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "ListInstanceProfilesForRole", e))?;
        for p in profiles.instance_profiles() {
            self.iam
                .remove_role_from_instance_profile()
                .role_name(name)
                .instance_profile_name(p.instance_profile_name())
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "RemoveRoleFromInstanceProfile", e))?;
        }
        absent_if_not_found(
            self.iam
                .delete_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DeleteRole", e)),
        )?;
        Ok(())
    }

    // --- Managed policies ------------------------------------------------------

    async fn policy_observe(&self, addr: &ResourceAddr, arn: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "GetPolicy", e)),
        )?;
        let Some(p) = out.as_ref().and_then(|o| o.policy()) else {
            return Ok(None);
        };
        let version = p.default_version_id().unwrap_or("v1");
        let (doc, tags) = tokio::try_join!(
            async {
                self.iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "GetPolicyVersion", e))
            },
            async {
                self.iam
                    .list_policy_tags()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListPolicyTags", e))
            },
        )?;
        let document = doc
            .policy_version()
            .and_then(|v| v.document())
            .map(policy_document)
            .unwrap_or(Value::Null);
        Ok(Some(
            Observed::new(arn)
                .attr("name", p.policy_name().unwrap_or_default())
                .attr("path", p.path().unwrap_or("/"))
                .attr("description", p.description().unwrap_or_default())
                .attr("document", document)
                .attr("tags", tags_of(tags.tags()))
                .output("arn", arn)
                .output("policy_id", p.policy_id().unwrap_or_default())
                .output("default_version_id", version),
        ))
    }

    /// A customer managed policy by name, for a resource not in state.
    async fn policy_arn_by_name(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<Option<String>> {
        let policies = self
            .iam
            .list_policies()
            .scope(PolicyScopeType::Local)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| AwsError::api(addr, "ListPolicies", e))?;
        Ok(policies
            .iter()
            .find(|p| p.policy_name() == Some(name))
            .and_then(|p| p.arn())
            .map(str::to_string))
    }

    pub(crate) async fn policy_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let arn = match prior_id(req.prior) {
            Some(arn) => Some(arn.to_string()),
            None => match req
                .desired
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) => self.policy_arn_by_name(req.addr, name).await?,
                None => None,
            },
        };
        match arn {
            Some(arn) => self.policy_observe(req.addr, &arn).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn policy_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        progress(req.events, req.addr, Phase::Creating, "CreatePolicy");
        let (name, document) = (d.str("name")?, d.document("document")?);
        let path = d.opt_str("path")?.map(str::to_string);
        let description = d.opt_str("description")?.map(str::to_string);
        let tags = iam_tags(req.addr, &d)?;
        let tag_map = d.str_map("tags")?;
        let (document, path, description, tags, tag_map) =
            (&document, &path, &description, &tags, &tag_map);
        // Policy names are unique per account and path; CreatePolicy has
        // no token (botocore IAM model): a retry of a policy made answers
        // EntityAlreadyExists, and the policy of that name is taken over
        // when its tags (given in the same call) name this stack.
        let arn = create_or_find(
            req.addr,
            req.events,
            "CreatePolicy",
            &[ENTITY_ALREADY_EXISTS],
            || async move {
                let out = self
                    .iam
                    .create_policy()
                    .policy_name(name)
                    .policy_document(document.clone())
                    .set_path(path.clone())
                    .set_description(description.clone())
                    .set_tags(tags.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreatePolicy", e))?;
                Ok(out
                    .policy()
                    .and_then(|p| p.arn())
                    .unwrap_or_default()
                    .to_string())
            },
            || async move {
                let found = self.policy_read(adopt_read(&req)).await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tag_map))
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        self.policy_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetPolicy", &arn))
    }

    pub(crate) async fn policy_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let arn = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .policy_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetPolicy", &arn))?;
        if differs(req.addr.kind, &live.attrs, req.desired, "document") {
            let versions = self
                .iam
                .list_policy_versions()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "ListPolicyVersions", e))?;
            let mut old: Vec<_> = versions
                .versions()
                .iter()
                .filter(|v| !v.is_default_version())
                .collect();
            if versions.versions().len() >= MAX_POLICY_VERSIONS {
                // Make room: the oldest non-default version goes.
                old.sort_by_key(|v| v.create_date().map(|t| t.secs()).unwrap_or_default());
                if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
                    progress(
                        req.events,
                        req.addr,
                        Phase::Updating,
                        format!("DeletePolicyVersion {oldest}"),
                    );
                    // An SDK retry of a deletion whose answer was lost
                    // finds the version gone (NoSuchEntity): done.
                    absent_if_not_found(
                        self.iam
                            .delete_policy_version()
                            .policy_arn(&arn)
                            .version_id(oldest)
                            .send()
                            .await
                            .map_err(|e| AwsError::api(req.addr, "DeletePolicyVersion", e)),
                    )?;
                }
            }
            progress(req.events, req.addr, Phase::Updating, "CreatePolicyVersion");
            // CreatePolicyVersion has no token (botocore IAM model 1.44.8)
            // and versions have no name: an SDK retry after a lost answer
            // would add a second version (and use up one of the five IAM
            // keeps). Sent once; before a retry, the default version is
            // read: holding the wanted document, the lost attempt made it.
            let (iam, document, arn) = (&self.iam_once(), &d.document("document")?, &arn);
            create_or_find(
                req.addr,
                req.events,
                "CreatePolicyVersion",
                &[],
                || async move {
                    iam.create_policy_version()
                        .policy_arn(arn)
                        .policy_document(document.clone())
                        .set_as_default(true)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| AwsError::api(req.addr, "CreatePolicyVersion", e))
                },
                || async move {
                    let live = self.policy_observe(req.addr, arn).await?;
                    Ok(live
                        .filter(|o| !differs(req.addr.kind, &o.attrs, req.desired, "document"))
                        .map(drop))
                },
            )
            .await?;
        }
        if let Some((set, remove)) = d.tag_delta(&live.attrs)? {
            if !remove.is_empty() {
                self.iam
                    .untag_policy()
                    .policy_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UntagPolicy", e))?;
            }
            if !set.is_empty() {
                self.iam
                    .tag_policy()
                    .policy_arn(&arn)
                    .set_tags(Some(set_tags(req.addr, &set)?))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "TagPolicy", e))?;
            }
        }
        self.policy_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetPolicy", &arn))
    }

    pub(crate) async fn policy_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(arn) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        // DeletePolicy refuses while non-default versions exist.
        let Some(versions) = absent_if_not_found(
            self.iam
                .list_policy_versions()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "ListPolicyVersions", e)),
        )?
        else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeletePolicy");
        for v in versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            if let Some(id) = v.version_id() {
                self.iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(id)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "DeletePolicyVersion", e))?;
            }
        }
        absent_if_not_found(
            self.iam
                .delete_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeletePolicy", e)),
        )?;
        Ok(())
    }

    // --- OIDC provider -----------------------------------------------------------

    async fn oidc_observe(&self, addr: &ResourceAddr, arn: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "GetOpenIDConnectProvider", e)),
        )?;
        let Some(p) = out else { return Ok(None) };
        let host = issuer_host(p.url().unwrap_or_default());
        let mut clients: Vec<&str> = p.client_id_list().iter().map(String::as_str).collect();
        clients.sort_unstable();
        let mut thumbprints: Vec<&str> = p.thumbprint_list().iter().map(String::as_str).collect();
        thumbprints.sort_unstable();
        Ok(Some(
            Observed::new(arn)
                // IAM stores the URL without its scheme; the stack (and the
                // cluster's issuer it comes from) has it.
                .attr("url", format!("https://{host}"))
                .attr("client_ids", str_list_value(clients))
                .attr("thumbprint_list", str_list_value(thumbprints))
                .attr("tags", tags_of(p.tags()))
                .output("arn", arn)
                .output("issuer_host", host),
        ))
    }

    pub(crate) async fn oidc_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(arn) = prior_id(req.prior) {
            return self.oidc_observe(req.addr, arn).await;
        }
        let Some(url) = req
            .desired
            .and_then(|d| d.get("url"))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        // Not in state: IAM names the provider after the issuer host.
        let list = self
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "ListOpenIDConnectProviders", e))?;
        let suffix = format!(":oidc-provider/{}", issuer_host(url));
        match list
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&suffix))
        {
            Some(arn) => self.oidc_observe(req.addr, arn).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn oidc_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            "CreateOpenIDConnectProvider",
        );
        let thumbprints = d.str_list("thumbprint_list")?;
        let (url, client_ids) = (d.str("url")?, d.str_list("client_ids")?);
        let tags = iam_tags(req.addr, &d)?;
        let tag_map = d.str_map("tags")?;
        let (thumbprints, client_ids, tags, tag_map) = (&thumbprints, &client_ids, &tags, &tag_map);
        // One provider per issuer URL and account; no token (botocore IAM
        // model): a retry of one made answers EntityAlreadyExists, and the
        // provider of that URL is taken over when its tags name this stack.
        let arn = create_or_find(
            req.addr,
            req.events,
            "CreateOpenIDConnectProvider",
            &[ENTITY_ALREADY_EXISTS],
            || async move {
                let out = self
                    .iam
                    .create_open_id_connect_provider()
                    .url(url)
                    .set_client_id_list(Some(client_ids.clone()))
                    // IAM finds the thumbprint of an EKS issuer itself.
                    .set_thumbprint_list((!thumbprints.is_empty()).then(|| thumbprints.clone()))
                    .set_tags(tags.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateOpenIDConnectProvider", e))?;
                Ok(out
                    .open_id_connect_provider_arn()
                    .unwrap_or_default()
                    .to_string())
            },
            || async move {
                let found = self.oidc_read(adopt_read(&req)).await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tag_map))
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        self.oidc_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetOpenIDConnectProvider", &arn))
    }

    pub(crate) async fn oidc_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let arn = self.managed_id(&req)?;
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .oidc_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetOpenIDConnectProvider", &arn))?;
        if req.desired.contains_key("client_ids") {
            let want: BTreeSet<String> = d.str_list("client_ids")?.into_iter().collect();
            let have: BTreeSet<String> = Desired::new(req.addr, &live.attrs)
                .str_list("client_ids")?
                .into_iter()
                .collect();
            for id in want.difference(&have) {
                self.iam
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::api(req.addr, "AddClientIDToOpenIDConnectProvider", e)
                    })?;
            }
            for id in have.difference(&want) {
                self.iam
                    .remove_client_id_from_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::api(req.addr, "RemoveClientIDFromOpenIDConnectProvider", e)
                    })?;
            }
        }
        if let Some((set, remove)) = d.tag_delta(&live.attrs)? {
            if !remove.is_empty() {
                self.iam
                    .untag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UntagOpenIDConnectProvider", e))?;
            }
            if !set.is_empty() {
                self.iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .set_tags(Some(set_tags(req.addr, &set)?))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "TagOpenIDConnectProvider", e))?;
            }
        }
        self.oidc_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "GetOpenIDConnectProvider", &arn))
    }

    pub(crate) async fn oidc_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(arn) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            "DeleteOpenIDConnectProvider",
        );
        absent_if_not_found(
            self.iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteOpenIDConnectProvider", e)),
        )?;
        Ok(())
    }
}

fn set_tags(
    addr: &ResourceAddr,
    set: &std::collections::BTreeMap<String, String>,
) -> AwsResult<Vec<Tag>> {
    let mut attrs = Attrs::new();
    attrs.insert(
        "tags".into(),
        Value::Map(
            set.iter()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        ),
    );
    Ok(iam_tags(addr, &Desired::new(addr, &attrs))?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_host_is_the_url_without_its_scheme() {
        assert_eq!(
            issuer_host("https://oidc.eks.us-west-2.amazonaws.com/id/ABC"),
            "oidc.eks.us-west-2.amazonaws.com/id/ABC"
        );
        assert_eq!(issuer_host("oidc.example/id/1"), "oidc.example/id/1");
    }
}
