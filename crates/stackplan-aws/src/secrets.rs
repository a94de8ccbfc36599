//! Secrets Manager: the `AmazonMSK_` secret holding the SCRAM credentials
//! as MSK wants them (`{"username": ..., "password": ...}`), under the
//! customer managed key.
//!
//! The password comes from the stack's secret source at apply time and
//! leaves this module only as `Value::Sensitive`; no message, event or
//! error ever contains it.
//!
//! A destroy schedules the secret for deletion (its recovery window) and
//! its KMS key too (a shorter window). An apply within the secret's window
//! finds the name taken: it makes the key usable again (CancelKeyDeletion,
//! EnableKey), restores the secret and brings it to what the stack says.
//! Once the key is gone the value can never be decrypted again, so the
//! old secret is deleted without recovery and a new one made, and the
//! user is told.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_kms::types::KeyState;
use aws_sdk_secretsmanager::types::Tag;
use serde_json::json;
use stackplan_core::{
    ApplyRequest, DeleteRequest, EventSink, Observed, Phase, ReadRequest, ResourceAddr,
    SecretSource, Value,
};

use crate::attrs::{Desired, as_int, differs, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{Poll, WaitConfig, poll_until, progress};
use crate::{AwsProvider, client_token, prior_id};

/// Long enough for SCRAM-SHA-512, and without punctuation, which Kafka
/// client configurations and Helm values would otherwise need to escape.
const GENERATED_LENGTH: i64 = 32;

/// How long a name deleted without recovery may take to be freed.
/// Secrets Manager deletes asynchronously ("there might be a short delay
/// before the secret is permanently deleted. If you delete a secret and
/// then immediately create a secret with the same name, use appropriate
/// back off and retry logic": DeleteSecret, ForceDeleteWithoutRecovery).
const NAME_FREED_WITHIN: Duration = Duration::from_secs(120);

/// How long a key just enabled may take to decrypt: KMS is eventually
/// consistent (KMS API reference, "Eventual consistency").
const KEY_USABLE_WITHIN: Duration = Duration::from_secs(60);

/// What became of the KMS key of a secret scheduled for deletion.
#[derive(Debug)]
enum SecretKeyFate {
    /// Usable, or made usable again: the secret can be restored and read.
    Usable,
    /// Deleted, or beyond saving: the secret's value can never be
    /// decrypted again. Says why.
    Gone(String),
}

/// Secrets Manager's answers to a name that is taken: InvalidRequestException
/// ("a secret with this name is already scheduled for deletion", or one
/// being deleted without recovery); emulators answer
/// ResourceExistsException.
fn name_taken(e: &AwsError) -> bool {
    matches!(
        e.code(),
        Some("InvalidRequestException" | "ResourceExistsException")
    )
}

fn is_alias(key: &str) -> bool {
    key.starts_with("alias/") || key.contains(":alias/")
}

fn millis(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// The stored credentials; `Debug` never shows the password.
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"(sensitive)")
            .finish()
    }
}

impl Credentials {
    fn secret_string(&self) -> String {
        json!({"username": self.username, "password": self.password}).to_string()
    }

    /// MSK's JSON shape; a secret that is not JSON is taken as a bare
    /// password (what `secretsmanager:ARN` sources often hold).
    pub(crate) fn parse(text: &str) -> Credentials {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => Credentials {
                username: m
                    .get("username")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                password: m
                    .get("password")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
            },
            _ => Credentials {
                username: String::new(),
                password: text.to_string(),
            },
        }
    }
}

fn sm_tags(map: &std::collections::BTreeMap<String, String>) -> Option<Vec<Tag>> {
    (!map.is_empty()).then(|| {
        map.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

impl AwsProvider {
    async fn secret_credentials(
        &self,
        addr: &ResourceAddr,
        id: &str,
    ) -> AwsResult<Option<Credentials>> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "GetSecretValue", e));
        match out {
            Ok(o) => Ok(o.secret_string().map(Credentials::parse)),
            // A read-only plan role may describe but not read secrets: the
            // secret exists, its content is simply not shown.
            Err(e) if e.code() == Some("AccessDeniedException") => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn secret_observe(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        // Secrets Manager takes the name or the ARN alike, so the value is
        // read alongside the description; its answer counts only for a
        // live secret (one scheduled for deletion refuses GetSecretValue).
        let (described, credentials) = tokio::join!(
            async {
                absent_if_not_found(
                    self.secrets
                        .describe_secret()
                        .secret_id(id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "DescribeSecret", e)),
                )
            },
            self.secret_credentials(addr, id),
        );
        let Some(s) = described? else { return Ok(None) };
        if s.deleted_date().is_some() {
            // Scheduled for deletion: gone for planning purposes.
            return Ok(None);
        }
        // A secret whose key is disabled or pending deletion cannot be
        // decrypted (DecryptionFailure): it exists, its content is not
        // shown; an apply that must read it says why.
        let credentials = match credentials {
            Err(e) if e.code() == Some("DecryptionFailure") => Ok(None),
            other => other,
        };
        let arn = s.arn().unwrap_or_default();
        let mut o = Observed::new(arn)
            .attr("name", s.name().unwrap_or_default())
            .attr("description", s.description().unwrap_or_default())
            .attr(
                "kms_key_id",
                s.kms_key_id().map(Value::string).unwrap_or(Value::Null),
            )
            .attr(
                "tags",
                tags_value(
                    s.tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                ),
            )
            .output("arn", arn)
            .output("name", s.name().unwrap_or_default());
        if let Some(c) = credentials? {
            // The password as an attribute too: a plan compares it, sealed
            // in memory, with what the stack's source gives now, and so
            // sees a rotation the stack file cannot show.
            o = o
                .attr("username", c.username.as_str())
                .attr(
                    "password",
                    Value::Sensitive(Box::new(Value::String(c.password.clone()))),
                )
                .output("username", c.username.as_str())
                .output(
                    "password",
                    Value::Sensitive(Box::new(Value::String(c.password))),
                );
        }
        Ok(Some(o))
    }

    pub(crate) async fn secret_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        // Secrets Manager takes a name or an ARN as the id.
        let id = prior_id(req.prior).or_else(|| {
            req.desired
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
        });
        match id {
            Some(id) => self.secret_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    /// The password the stack's source gives. `current` is what the secret
    /// holds now: `generate` keeps it rather than rotating on every update.
    async fn resolve_password(
        &self,
        d: &Desired<'_>,
        current: Option<&Credentials>,
    ) -> AwsResult<String> {
        let addr = d.addr;
        let source = match d.get("password") {
            Some(Value::Secret(s)) => s.clone(),
            Some(Value::Sensitive(inner)) => match inner.as_ref() {
                Value::String(s) => return Ok(s.clone()),
                Value::Secret(s) => s.clone(),
                _ => {
                    return Err(AwsError::attribute(
                        addr,
                        "password",
                        "expected a secret source",
                    ));
                }
            },
            None => SecretSource::Generate,
            Some(_) => {
                return Err(AwsError::attribute(
                    addr,
                    "password",
                    "expected a secret source (env:NAME, secretsmanager:ARN or generate)",
                ));
            }
        };
        let problem = |problem: String| AwsError::SecretSource {
            addr: addr.clone(),
            source_name: source.to_string(),
            problem,
        };
        match &source {
            // Read as a plan reads them (`sources.rs`), so what a plan
            // compared is what apply writes.
            SecretSource::Env(_) | SecretSource::SecretsManager(_) => self
                .source_value(&source)
                .await
                .map_err(problem)?
                .ok_or_else(|| problem("the source gave nothing".to_string())),
            SecretSource::Generate => {
                if let Some(c) = current.filter(|c| !c.password.is_empty()) {
                    return Ok(c.password.clone());
                }
                let out = self
                    .secrets
                    .get_random_password()
                    .password_length(GENERATED_LENGTH)
                    .exclude_punctuation(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "GetRandomPassword", e))?;
                out.random_password()
                    .map(str::to_string)
                    .ok_or_else(|| problem("GetRandomPassword returned nothing".to_string()))
            }
        }
    }

    pub(crate) async fn secret_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let name = d.str("name")?;
        progress(req.events, req.addr, Phase::Creating, "CreateSecret");
        let e = match self.secret_create_call(&d, name).await {
            Ok(arn) => return self.secret_created(req.addr, &arn).await,
            Err(e) if name_taken(&e) => e,
            Err(e) => return Err(e),
        };
        // The name is taken: DescribeSecret says by what.
        let described = absent_if_not_found(
            self.secrets
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DescribeSecret", e)),
        )?;
        match described {
            // A secret stackplan deleted stays for its recovery window and
            // keeps its name meanwhile (a destroy, then an apply).
            Some(s) if s.deleted_date().is_some() => {
                let arn = s.arn().unwrap_or(name).to_string();
                self.secret_recover(&req, &d, &arn, s.kms_key_id()).await
            }
            // No secret answers to the name, yet it is taken: one deleted
            // without recovery moments ago, still being freed.
            None => self.secret_create_when_free(&req, &d).await,
            Some(_) => Err(e),
        }
    }

    /// CreateSecret with the desired attributes and a value from the
    /// stack's source; the new secret's ARN.
    async fn secret_create_call(&self, d: &Desired<'_>, name: &str) -> AwsResult<String> {
        let creds = Credentials {
            username: d.str("username")?.to_string(),
            password: self.resolve_password(d, None).await?,
        };
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .set_description(d.opt_str("description")?.map(str::to_string))
            .set_kms_key_id(d.opt_str("kms_key_id")?.map(str::to_string))
            .secret_string(creds.secret_string())
            .set_tags(sm_tags(&d.str_map("tags")?))
            // One token per create, reused by the SDK's retries: a retry of
            // a secret made but whose answer was lost is answered with that
            // secret, not ResourceExistsException (botocore Secrets Manager
            // model 1.44.8, CreateSecretRequest.ClientRequestToken: "If a
            // version with this value already exists and the version
            // SecretString and SecretBinary values are the same as those in
            // the request, then the request is ignored"). moto does so.
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(d.addr, "CreateSecret", e))?;
        Ok(out.arn().unwrap_or(name).to_string())
    }

    async fn secret_created(&self, addr: &ResourceAddr, arn: &str) -> AwsResult<Observed> {
        self.secret_observe(addr, arn)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeSecret", arn))
    }

    /// Creates the secret, retrying while Secrets Manager frees a name
    /// deleted without recovery moments ago: it answers
    /// InvalidRequestException meanwhile. Bounded backoff.
    async fn secret_create_when_free(
        &self,
        req: &ApplyRequest<'_>,
        d: &Desired<'_>,
    ) -> AwsResult<Observed> {
        let name = d.str("name")?;
        let started = Instant::now();
        let deadline = self.wait.timeout(req.addr.kind).min(NAME_FREED_WITHIN);
        let mut delay = self.wait.interval.min(Duration::from_secs(1));
        let longest = self.wait.interval.max(delay);
        loop {
            match self.secret_create_call(d, name).await {
                Ok(arn) => return self.secret_created(req.addr, &arn).await,
                Err(e)
                    if e.code() == Some("InvalidRequestException")
                        && started.elapsed() + delay <= deadline =>
                {
                    progress(
                        req.events,
                        req.addr,
                        Phase::Waiting,
                        format!(
                            "CreateSecret: Secrets Manager is still freeing the name {name}; \
                             trying again in {}",
                            millis(delay)
                        ),
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(longest);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The secret `arn`, scheduled for deletion, under the stack's name:
    /// restored when its key can decrypt it again, else deleted without
    /// recovery and made anew.
    async fn secret_recover(
        &self,
        req: &ApplyRequest<'_>,
        d: &Desired<'_>,
        arn: &str,
        key: Option<&str>,
    ) -> AwsResult<Observed> {
        // No key: the AWS managed aws/secretsmanager key, always usable.
        let fate = match key {
            Some(key) => self.secret_key_fate(req.addr, req.events, key).await?,
            None => SecretKeyFate::Usable,
        };
        match fate {
            SecretKeyFate::Usable => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    "RestoreSecret (was scheduled for deletion)",
                );
                let restored = self
                    .secrets
                    .restore_secret()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "RestoreSecret", e))?;
                let arn = restored.arn().unwrap_or(arn).to_string();
                if key.is_some() {
                    self.secret_wait_decryptable(req.addr, req.events, &arn)
                        .await?;
                }
                self.secret_converge(req, &arn).await
            }
            SecretKeyFate::Gone(why) => {
                let name = d.str("name")?;
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    format!(
                        "secret {name} was scheduled for deletion, but its KMS key {} {why}: \
                         its value can never be read again, so it is deleted without recovery \
                         and a new secret is created",
                        key.unwrap_or_default()
                    ),
                );
                self.secrets
                    .delete_secret()
                    .secret_id(arn)
                    .force_delete_without_recovery(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "DeleteSecret", e))?;
                self.secret_create_when_free(req, d).await
            }
        }
    }

    /// Makes the KMS key `key` of a secret scheduled for deletion usable:
    /// a key pending deletion gets CancelKeyDeletion, which leaves it
    /// Disabled, then EnableKey; a disabled key EnableKey.
    async fn secret_key_fate(
        &self,
        addr: &ResourceAddr,
        events: &dyn EventSink,
        key: &str,
    ) -> AwsResult<SecretKeyFate> {
        let described = absent_if_not_found(
            self.kms
                .describe_key()
                .key_id(key)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeKey", e)),
        )?;
        let Some(meta) = described.as_ref().and_then(|o| o.key_metadata()) else {
            if is_alias(key) {
                // The alias is gone, which says nothing of its key.
                return Err(AwsError::Refused {
                    addr: addr.clone(),
                    reason: format!(
                        "the secret scheduled for deletion is encrypted under the KMS alias \
                         {key}, which no longer exists: whether its key can still be recovered \
                         is unknown; restore the alias, or delete the secret without recovery"
                    ),
                });
            }
            return Ok(SecretKeyFate::Gone("no longer exists".to_string()));
        };
        let id = meta.key_id().to_string();
        match meta.key_state() {
            Some(KeyState::Enabled) => Ok(SecretKeyFate::Usable),
            Some(KeyState::Disabled) => {
                self.secret_enable_key(addr, events, &id).await?;
                Ok(SecretKeyFate::Usable)
            }
            Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
                progress(
                    events,
                    addr,
                    Phase::Creating,
                    format!("CancelKeyDeletion {id}: the secret's key is scheduled for deletion"),
                );
                match self
                    .kms
                    .cancel_key_deletion()
                    .key_id(&id)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "CancelKeyDeletion", e))
                {
                    Ok(_) => {}
                    // Deleted meanwhile, or a deletion KMS will not cancel.
                    Err(e) if e.is_not_found() || e.code() == Some("KMSInvalidStateException") => {
                        return Ok(SecretKeyFate::Gone(format!(
                            "is pending deletion and its deletion cannot be cancelled ({})",
                            e.message().unwrap_or_default()
                        )));
                    }
                    Err(e) => return Err(e),
                }
                self.secret_enable_key(addr, events, &id).await?;
                Ok(SecretKeyFate::Usable)
            }
            other => Err(AwsError::Refused {
                addr: addr.clone(),
                reason: format!(
                    "the secret scheduled for deletion is encrypted under KMS key {id}, which \
                     is {}: its value cannot be read until the key is usable",
                    other.map(|s| s.as_str()).unwrap_or("in an unknown state")
                ),
            }),
        }
    }

    async fn secret_enable_key(
        &self,
        addr: &ResourceAddr,
        events: &dyn EventSink,
        id: &str,
    ) -> AwsResult<()> {
        progress(events, addr, Phase::Creating, format!("EnableKey {id}"));
        self.kms
            .enable_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "EnableKey", e))?;
        Ok(())
    }

    /// Waits until the secret decrypts under its key, just made usable:
    /// KMS is eventually consistent.
    async fn secret_wait_decryptable(
        &self,
        addr: &ResourceAddr,
        events: &dyn EventSink,
        arn: &str,
    ) -> AwsResult<()> {
        let config = WaitConfig {
            default_timeout: self.wait.timeout(addr.kind).min(KEY_USABLE_WITHIN),
            timeouts: BTreeMap::new(),
            ..self.wait.clone()
        };
        poll_until(&config, addr, events, "GetSecretValue", || async {
            match self.secret_credentials(addr, arn).await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if e.code() == Some("DecryptionFailure") => {
                    Ok(Poll::Pending("DecryptionFailure".to_string()))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    pub(crate) async fn secret_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let arn = self.managed_id(&req)?;
        self.secret_converge(&req, &arn).await
    }

    /// Makes the secret `arn` match the desired attributes.
    async fn secret_converge(&self, req: &ApplyRequest<'_>, arn: &str) -> AwsResult<Observed> {
        let arn = arn.to_string();
        let d = Desired::new(req.addr, req.desired);
        let live = self
            .secret_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecret", &arn))?;
        let kind = req.addr.kind;
        if differs(kind, &live.attrs, req.desired, "kms_key_id")
            || differs(kind, &live.attrs, req.desired, "description")
        {
            progress(req.events, req.addr, Phase::Updating, "UpdateSecret");
            self.secrets
                .update_secret()
                .secret_id(&arn)
                .set_kms_key_id(d.opt_str("kms_key_id")?.map(str::to_string))
                .set_description(d.opt_str("description")?.map(str::to_string))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "UpdateSecret", e))?;
        }
        // The value is compared as the credentials it holds: a changed
        // username or a source that now gives another password.
        let current = self.secret_credentials(req.addr, &arn).await?;
        let want = Credentials {
            username: d.str("username")?.to_string(),
            password: self.resolve_password(&d, current.as_ref()).await?,
        };
        let same = current
            .as_ref()
            .is_some_and(|c| c.username == want.username && c.password == want.password);
        if !same {
            progress(req.events, req.addr, Phase::Updating, "PutSecretValue");
            self.secrets
                .put_secret_value()
                .secret_id(&arn)
                .secret_string(want.secret_string())
                // Reused by the SDK's retries: a retry of a version made but
                // whose answer was lost adds no second version (botocore
                // PutSecretValueRequest.ClientRequestToken, as CreateSecret).
                .client_request_token(client_token())
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "PutSecretValue", e))?;
        }
        if let Some((set, remove)) = d.tag_delta(&live.attrs)? {
            if !remove.is_empty() {
                self.secrets
                    .untag_resource()
                    .secret_id(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "UntagResource", e))?;
            }
            if !set.is_empty() {
                self.secrets
                    .tag_resource()
                    .secret_id(&arn)
                    .set_tags(sm_tags(&set))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "TagResource", e))?;
            }
        }
        self.secret_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecret", &arn))
    }

    pub(crate) async fn secret_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(arn) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let window = req
            .prior
            .attributes
            .get("recovery_window_in_days")
            .and_then(as_int);
        let call = self.secrets.delete_secret().secret_id(arn);
        // 0 days: deleted at once (ForceDeleteWithoutRecovery; the two
        // parameters cannot be combined). 7 to 30: that recovery window.
        // Unset: Secrets Manager's default, 30 days.
        let (call, what) = match window {
            Some(0) => (
                call.force_delete_without_recovery(true),
                "DeleteSecret without recovery".to_string(),
            ),
            Some(days) => (
                call.recovery_window_in_days(days),
                format!("DeleteSecret, recoverable for {days} days"),
            ),
            None => (call, "DeleteSecret, recoverable for 30 days".to_string()),
        };
        progress(req.events, req.addr, Phase::Deleting, what);
        match call
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DeleteSecret", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // Already scheduled for deletion (a destroy run again): deleted
            // as far as its recovery window allows.
            Err(e)
                if e.code() == Some("InvalidRequestException")
                    && self.secret_scheduled_for_deletion(req.addr, arn).await? =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn secret_scheduled_for_deletion(
        &self,
        addr: &ResourceAddr,
        id: &str,
    ) -> AwsResult<bool> {
        let out = absent_if_not_found(
            self.secrets
                .describe_secret()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeSecret", e)),
        )?;
        Ok(out.is_some_and(|s| s.deleted_date().is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_never_shows_the_password() {
        let c = Credentials {
            username: "milvus".into(),
            password: "hunter2".into(),
        };
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("milvus"));
    }

    #[test]
    fn credentials_round_trip_through_msks_json_shape() {
        let c = Credentials {
            username: "milvus".into(),
            password: "p\"w".into(),
        };
        let back = Credentials::parse(&c.secret_string());
        assert_eq!(
            (back.username.as_str(), back.password.as_str()),
            ("milvus", "p\"w")
        );
    }

    #[test]
    fn a_secret_that_is_not_json_is_a_bare_password() {
        let c = Credentials::parse("plain-password");
        assert_eq!(c.password, "plain-password");
        assert_eq!(c.username, "");
    }
}
