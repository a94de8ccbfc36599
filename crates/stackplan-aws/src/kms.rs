//! KMS: the customer managed key that encrypts the SCRAM secret (MSK
//! refuses secrets under the AWS managed key), with its alias. Deleting
//! schedules deletion, as KMS allows nothing else.
//!
//! KMS keys have no name: a key this resource made and no state names is
//! found by its `Name` and `stackplan:stack` tags. Creating adopts such a
//! key rather than making a second one: one an apply made and stopped
//! before aliasing, or the stack's own key that a destroy scheduled for
//! deletion (cancelled and enabled again: what it encrypted, the SCRAM
//! secret in its recovery window, becomes readable again).

use aws_sdk_kms::types::{KeyState, Tag};
use stackplan_core::{
    ApplyRequest, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{Desired, as_int, differs, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{after_create, create_or_find, progress};
use crate::{AwsProvider, prior_id};

/// The shortest window KMS allows, used unless the stack sets one: a key
/// stackplan deletes is one it created and no longer references.
const DELETION_WINDOW_DAYS: i32 = 7;

fn kms_tags(
    addr: &ResourceAddr,
    map: &std::collections::BTreeMap<String, String>,
) -> AwsResult<Vec<Tag>> {
    map.iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| AwsError::attribute(addr, "tags", e.to_string()))
        })
        .collect()
}

/// A key of this resource's, found by its tags.
#[derive(Debug)]
enum TaggedKey {
    /// Made by an apply that stopped before giving it its alias: enabled,
    /// without an alias.
    Orphan(String),
    /// Scheduled for deletion by a destroy (`PendingDeletion`), or whose
    /// deletion was cancelled by an apply that stopped before EnableKey
    /// (`Disabled`, without an alias).
    Restorable { id: String, state: KeyState },
}

impl AwsProvider {
    /// The key this resource made that no state names: tagged exactly with
    /// the resource's `Name` and `stackplan:stack`, and either an orphan
    /// (kill -9 or a lost answer between CreateKey and CreateAlias) or
    /// restorable (destroyed within KMS's waiting period). An orphan wins;
    /// of several restorable keys, the newest (the one the stack's secret
    /// was last encrypted under). Without this a re-apply made a second
    /// key and left the first one behind.
    async fn own_key(
        &self,
        addr: &ResourceAddr,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> AwsResult<Option<TaggedKey>> {
        let (Some(name), Some(stack)) = (tags.get("Name"), tags.get("stackplan:stack")) else {
            return Ok(None);
        };
        let pages = self
            .kms
            .list_keys()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::api(addr, "ListKeys", e))?;
        let mut restorable: Option<((i64, u32), TaggedKey)> = None;
        for key in pages.iter().flat_map(|p| p.keys()) {
            let Some(id) = key.key_id() else { continue };
            let tagged = absent_if_not_found(
                self.kms
                    .list_resource_tags()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListResourceTags", e)),
            )?;
            let Some(tagged) = tagged else { continue };
            let tag = |k: &str| {
                tagged
                    .tags()
                    .iter()
                    .find(|t| t.tag_key() == k)
                    .map(|t| t.tag_value())
            };
            if tag("Name") != Some(name.as_str()) || tag("stackplan:stack") != Some(stack.as_str())
            {
                continue;
            }
            let (described, aliases) = tokio::try_join!(
                async {
                    self.kms
                        .describe_key()
                        .key_id(id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "DescribeKey", e))
                },
                async {
                    self.kms
                        .list_aliases()
                        .key_id(id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "ListAliases", e))
                },
            )?;
            let Some(meta) = described.key_metadata() else {
                continue;
            };
            let unaliased = aliases.aliases().is_empty();
            let created = meta
                .creation_date()
                .map(|d| (d.secs(), d.subsec_nanos()))
                .unwrap_or_default();
            let candidate = match meta.key_state() {
                Some(KeyState::Enabled) if unaliased => {
                    return Ok(Some(TaggedKey::Orphan(id.to_string())));
                }
                Some(state @ KeyState::PendingDeletion) => TaggedKey::Restorable {
                    id: id.to_string(),
                    state: state.clone(),
                },
                Some(state @ KeyState::Disabled) if unaliased => TaggedKey::Restorable {
                    id: id.to_string(),
                    state: state.clone(),
                },
                _ => continue,
            };
            if restorable
                .as_ref()
                .is_none_or(|(newest, _)| created > *newest)
            {
                restorable = Some((created, candidate));
            }
        }
        Ok(restorable.map(|(_, key)| key))
    }

    /// Makes a key of this resource's found pending deletion, or disabled
    /// by a restore that stopped half way, usable again. CancelKeyDeletion
    /// leaves a key `Disabled`; EnableKey then enables it (KMS API
    /// reference, CancelKeyDeletion).
    async fn key_restore(
        &self,
        addr: &ResourceAddr,
        events: &dyn stackplan_core::EventSink,
        id: &str,
        state: &KeyState,
    ) -> AwsResult<()> {
        if *state == KeyState::PendingDeletion {
            progress(
                events,
                addr,
                Phase::Creating,
                format!(
                    "CancelKeyDeletion {id}: the stack's key, scheduled for deletion by an \
                     earlier destroy, is restored rather than a second key made"
                ),
            );
            self.kms
                .cancel_key_deletion()
                .key_id(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "CancelKeyDeletion", e))?;
        }
        progress(events, addr, Phase::Creating, format!("EnableKey {id}"));
        self.kms
            .enable_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "EnableKey", e))?;
        Ok(())
    }

    async fn key_observe(&self, addr: &ResourceAddr, key: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.kms
                .describe_key()
                .key_id(key)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeKey", e)),
        )?;
        let Some(meta) = out.as_ref().and_then(|o| o.key_metadata()) else {
            return Ok(None);
        };
        if matches!(
            meta.key_state(),
            Some(KeyState::PendingDeletion) | Some(KeyState::Unavailable)
        ) {
            // Scheduled for deletion: unusable, so absent for planning.
            return Ok(None);
        }
        let id = meta.key_id();
        let (aliases, tags) = tokio::try_join!(
            async {
                self.kms
                    .list_aliases()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListAliases", e))
            },
            async {
                self.kms
                    .list_resource_tags()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "ListResourceTags", e))
            },
        )?;
        let mut names: Vec<&str> = aliases
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name())
            .collect();
        names.sort_unstable();
        let mut o = Observed::new(id)
            .attr("description", meta.description().unwrap_or_default())
            .attr(
                "key_usage",
                meta.key_usage()
                    .map(|u| u.as_str())
                    .unwrap_or("ENCRYPT_DECRYPT"),
            )
            .attr(
                "key_spec",
                meta.key_spec()
                    .map(|s| s.as_str())
                    .unwrap_or("SYMMETRIC_DEFAULT"),
            )
            .attr(
                "tags",
                tags_value(tags.tags().iter().map(|t| (t.tag_key(), t.tag_value()))),
            )
            .output("arn", meta.arn().unwrap_or_default())
            .output("key_id", id);
        // One alias is stackplan's; a key can carry others it does not manage.
        if let Some(first) = names.first() {
            o = o.attr("alias", *first);
        }
        o.outputs
            .insert("aliases".into(), crate::attrs::str_list_value(names));
        Ok(Some(o))
    }

    /// The alias the stack wants, if this key carries it (a key can carry
    /// several), else whichever the key has.
    fn key_alias_view(mut o: Observed, want: Option<&str>) -> Observed {
        if let (Some(want), Some(Value::List(all))) = (want, o.outputs.get("aliases"))
            && all.iter().any(|a| a.as_str() == Some(want))
        {
            o.attrs.insert("alias".into(), Value::string(want));
        }
        o
    }

    pub(crate) async fn key_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let want_alias = req
            .desired
            .and_then(|d| d.get("alias"))
            .and_then(Value::as_str);
        // Not in state: the alias finds the key (aliases are unique).
        let key = prior_id(req.prior).or(want_alias);
        let Some(key) = key else { return Ok(None) };
        Ok(self
            .key_observe(req.addr, key)
            .await?
            .map(|o| Self::key_alias_view(o, want_alias)))
    }

    pub(crate) async fn key_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tag_map = d.str_map("tags")?;
        let tags = kms_tags(req.addr, &tag_map)?;
        let id = match self.own_key(req.addr, &tag_map).await? {
            Some(TaggedKey::Orphan(id)) => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    format!("adopting key {id}, made by an apply that stopped before its alias"),
                );
                id
            }
            Some(TaggedKey::Restorable { id, state }) => {
                self.key_restore(req.addr, req.events, &id, &state).await?;
                id
            }
            None => {
                progress(req.events, req.addr, Phase::Creating, "CreateKey");
                let policy = match d.get("policy") {
                    Some(_) => Some(d.document("policy")?),
                    None => None,
                };
                let description = d.opt_str("description")?;
                // CreateKey takes no idempotency token (botocore KMS model
                // 1.44.8, CreateKeyRequest), and a key has no name to
                // conflict on: an SDK retry after a lost answer would make
                // a second key. Sent once; before a retry the key is looked
                // for by its tags, as an orphan (made, not yet aliased).
                // terraform-provider-aws reads a new key back by its id
                // (`findKeyByID`) rather than calling CreateKey again.
                let (kms, tags, tag_map, policy) = (&self.kms_once(), &tags, &tag_map, &policy);
                create_or_find(
                    req.addr,
                    req.events,
                    "CreateKey",
                    &[],
                    || async move {
                        let out = kms
                            .create_key()
                            .set_description(description.map(str::to_string))
                            .set_policy(policy.clone())
                            .set_tags(Some(tags.clone()).filter(|t| !t.is_empty()))
                            .send()
                            .await
                            .map_err(|e| AwsError::api(req.addr, "CreateKey", e))?;
                        Ok(out
                            .key_metadata()
                            .map(|m| m.key_id().to_string())
                            .unwrap_or_default())
                    },
                    || async move {
                        Ok(match self.own_key(req.addr, tag_map).await? {
                            Some(TaggedKey::Orphan(id)) => Some(id),
                            _ => None,
                        })
                    },
                )
                .await?
            }
        };
        // A new key has its description and tags; an adopted or restored
        // one is brought to them. Either gets its alias here. A failure
        // from here on leaves a key made (or restored) and unaliased: the
        // error says which (`AwsError::Partial`), for the engine to record.
        let id = &id;
        after_create(
            id,
            || async move {
                let observed = self.key_converge(&req, id).await?;
                if d.opt_bool("enable_key_rotation")? == Some(true) {
                    self.kms
                        .enable_key_rotation()
                        .key_id(id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "EnableKeyRotation", e))?;
                }
                Ok(observed)
            },
            || self.key_observe(req.addr, id),
        )
        .await
    }

    pub(crate) async fn key_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        self.key_converge(&req, &id).await
    }

    /// Makes key `id`'s description, alias and tags what the stack says.
    async fn key_converge(&self, req: &ApplyRequest<'_>, id: &str) -> AwsResult<Observed> {
        let id = id.to_string();
        let d = Desired::new(req.addr, req.desired);
        let want_alias = d.opt_str("alias")?;
        let live = self
            .key_observe(req.addr, &id)
            .await?
            .map(|o| Self::key_alias_view(o, want_alias))
            .ok_or_else(|| vanished(req.addr, "DescribeKey", &id))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "description") {
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                "UpdateKeyDescription",
            );
            self.kms
                .update_key_description()
                .key_id(&id)
                .description(d.opt_str("description")?.unwrap_or_default())
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateKeyDescription", e))?;
        }
        if let Some(alias) = want_alias
            && differs(kind, &live.attrs, req.desired, "alias")
        {
            progress(
                req.events,
                req.addr,
                Phase::Updating,
                format!("CreateAlias {alias}"),
            );
            // The new name first, then the old one goes: the key is never
            // without a name its users know.
            match self
                .kms
                .create_alias()
                .alias_name(alias)
                .target_key_id(&id)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "CreateAlias", e))
            {
                Ok(_) => {}
                // The alias exists on another key: move it to this one.
                Err(e) if e.code() == Some("AlreadyExistsException") => {
                    self.kms
                        .update_alias()
                        .alias_name(alias)
                        .target_key_id(&id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "UpdateAlias", e))?;
                }
                Err(e) => return Err(e),
            }
            if let Some(old) = live.attrs.get("alias").and_then(Value::as_str)
                && old != alias
            {
                absent_if_not_found(
                    self.kms
                        .delete_alias()
                        .alias_name(old)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "DeleteAlias", e)),
                )?;
            }
        }
        if let Some((set, remove)) = d.tag_delta(&live.attrs)? {
            if !remove.is_empty() {
                self.kms
                    .untag_resource()
                    .key_id(&id)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UntagResource", e))?;
            }
            if !set.is_empty() {
                self.kms
                    .tag_resource()
                    .key_id(&id)
                    .set_tags(Some(kms_tags(req.addr, &set)?))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "TagResource", e))?;
            }
        }
        let o = self
            .key_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeKey", &id))?;
        Ok(Self::key_alias_view(o, want_alias))
    }

    pub(crate) async fn key_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        // The alias goes now, so a new key can take the name at once.
        if let Some(alias) = req.prior.attributes.get("alias").and_then(Value::as_str) {
            absent_if_not_found(
                self.kms
                    .delete_alias()
                    .alias_name(alias)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "DeleteAlias", e)),
            )?;
        }
        let window = req
            .prior
            .attributes
            .get("deletion_window_in_days")
            .and_then(as_int)
            .map(|d| d as i32)
            .unwrap_or(DELETION_WINDOW_DAYS);
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            format!("ScheduleKeyDeletion in {window} days"),
        );
        match self
            .kms
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(window)
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "ScheduleKeyDeletion", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // Already scheduled: the delete has happened as far as KMS allows.
            Err(e) if e.code() == Some("KMSInvalidStateException") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use stackplan_core::{Attrs, NoEvents, Provider, ResourceKind};
    use stackplan_testkit::{Emulators, unique_name};

    use super::*;

    /// A key made whose alias call failed is not lost: the create's error
    /// carries it (its id), for apply to record it tainted.
    #[tokio::test]
    async fn a_key_whose_alias_fails_is_returned_with_the_error_as_partial() {
        let emulators = Emulators::shared().expect("the emulators start");
        let config = emulators.aws_config().await;
        let p = AwsProvider::from_sdk_config(&config).with_wait(crate::WaitConfig::quick());
        let name = unique_name("partial");
        let tags: std::collections::BTreeMap<String, Value> = [
            ("Name", Value::string(&name)),
            ("stackplan:stack", Value::string(&name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // KMS refuses an alias with a `:` (botocore CreateAlias AliasName
        // pattern); the key is made first.
        let desired: Attrs = [
            ("description", Value::string("partial create")),
            ("alias", Value::string(format!("alias/{name}:bad"))),
            ("tags", Value::Map(tags)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let err = p
            .create(ApplyRequest {
                addr: &ResourceAddr::new(ResourceKind::KmsKey, "partial"),
                desired: &desired,
                prior: None,
                field_diffs: &[],
                events: &NoEvents,
            })
            .await
            .expect_err("CreateAlias refuses the alias");
        assert!(err.message.contains("CreateAlias"), "{}", err.message);
        let made = err.partial.expect("the key made is in the error");
        let id = made.physical_id.expect("its id");
        let key = p
            .kms
            .describe_key()
            .key_id(&id)
            .send()
            .await
            .expect("the key exists");
        assert_eq!(key.key_metadata().map(|m| m.key_id()), Some(id.as_str()));
        assert_eq!(
            key.key_metadata().and_then(|m| m.key_state()),
            Some(&KeyState::Enabled)
        );
    }
}
