//! Secrets Manager: the `AmazonMSK_` secret holding the SCRAM credentials
//! as MSK wants them (`{"username": ..., "password": ...}`), under the
//! customer managed key.
//!
//! The password comes from the stack's secret source at apply time and
//! leaves this module only as `Value::Sensitive`; no message, event or
//! error ever contains it.

use aws_sdk_secretsmanager::types::Tag;
use serde_json::json;
use stackplan_core::{
    ApplyRequest, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, SecretSource, Value,
};

use crate::attrs::{Desired, as_int, differs, tags_value};
use crate::ec2::vanished;
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::progress;
use crate::{AwsProvider, client_token, prior_id};

/// Long enough for SCRAM-SHA-512, and without punctuation, which Kafka
/// client configurations and Helm values would otherwise need to escape.
const GENERATED_LENGTH: i64 = 32;

/// The stored credentials; `Debug` never shows the password.
struct Credentials {
    username: String,
    password: String,
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
    fn parse(text: &str) -> Credentials {
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
            o = o
                .attr("username", c.username.as_str())
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
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(problem(format!("environment variable {name} is empty"))),
                Err(_) => Err(problem(format!("environment variable {name} is not set"))),
            },
            SecretSource::SecretsManager(arn) => {
                let out = self
                    .secrets
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "GetSecretValue", e))?;
                let text = out
                    .secret_string()
                    .ok_or_else(|| problem("the secret holds no string".to_string()))?;
                let c = Credentials::parse(text);
                if c.password.is_empty() {
                    Err(problem("the secret holds an empty password".to_string()))
                } else {
                    Ok(c.password)
                }
            }
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
        let creds = Credentials {
            username: d.str("username")?.to_string(),
            password: self.resolve_password(&d, None).await?,
        };
        progress(req.events, req.addr, Phase::Creating, "CreateSecret");
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .set_description(d.opt_str("description")?.map(str::to_string))
            .set_kms_key_id(d.opt_str("kms_key_id")?.map(str::to_string))
            .secret_string(creds.secret_string())
            .set_tags(sm_tags(&d.str_map("tags")?))
            .client_request_token(client_token())
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "CreateSecret", e));
        let out = match out {
            Ok(out) => out,
            // A secret stackplan deleted stays for its recovery window
            // and keeps its name meanwhile (a destroy, then an apply):
            // restore it and make it what the stack says.
            // AWS answers InvalidRequestException, emulators
            // ResourceExistsException: either way the name is taken, and
            // DescribeSecret says whether by a secret on its way out.
            Err(e)
                if matches!(
                    e.code(),
                    Some("InvalidRequestException" | "ResourceExistsException")
                ) && self.secret_scheduled_for_deletion(req.addr, name).await? =>
            {
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    "RestoreSecret (was scheduled for deletion)",
                );
                let restored = self
                    .secrets
                    .restore_secret()
                    .secret_id(name)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "RestoreSecret", e))?;
                let arn = restored.arn().unwrap_or(name).to_string();
                return self.secret_converge(&req, &arn).await;
            }
            Err(e) => return Err(e),
        };
        let arn = out.arn().unwrap_or(name).to_string();
        self.secret_observe(req.addr, &arn)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecret", name))
    }

    async fn secret_scheduled_for_deletion(
        &self,
        addr: &ResourceAddr,
        name: &str,
    ) -> AwsResult<bool> {
        let out = absent_if_not_found(
            self.secrets
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeSecret", e)),
        )?;
        Ok(out.is_some_and(|s| s.deleted_date().is_some()))
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
        progress(req.events, req.addr, Phase::Deleting, "DeleteSecret");
        let call = self.secrets.delete_secret().secret_id(arn);
        // 0 days means now; otherwise Secrets Manager's own default (30).
        let call = match window {
            Some(0) => call.force_delete_without_recovery(true),
            Some(days) => call.recovery_window_in_days(days),
            None => call,
        };
        absent_if_not_found(
            call.send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteSecret", e)),
        )?;
        Ok(())
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
