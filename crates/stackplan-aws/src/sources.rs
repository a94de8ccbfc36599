//! What the stack's secret sources give now, for plans (core's
//! `SecretSources`), and who the credentials belong to (the account a plan
//! and a state are pinned to).
//!
//! A plan reads `env:NAME` from its own environment and `secretsmanager:ARN`
//! with `GetSecretValue`, exactly as apply will; the value goes back to the
//! engine, which seals it in memory at once. `generate` has nothing to read
//! before apply: the secret keeps what it holds.

use stackplan_core::{BoxFuture, SecretSource, SecretSources};

use crate::AwsProvider;
use crate::secrets::Credentials;

impl AwsProvider {
    /// What `source` gives now; `Err` says why it cannot be read, never
    /// holding the value.
    pub(crate) async fn source_value(
        &self,
        source: &SecretSource,
    ) -> Result<Option<String>, String> {
        match source {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Some(v)),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!("environment variable {name} is not set")),
            },
            SecretSource::SecretsManager(arn) => {
                let out = self
                    .secrets
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        let e = aws_sdk_secretsmanager::error::DisplayErrorContext(e);
                        format!("GetSecretValue: {e}")
                    })?;
                let text = out
                    .secret_string()
                    .ok_or_else(|| "the secret holds no string".to_string())?;
                let password = Credentials::parse(text).password;
                if password.is_empty() {
                    Err("the secret holds an empty password".to_string())
                } else {
                    Ok(Some(password))
                }
            }
            SecretSource::Generate => Ok(None),
        }
    }

    /// Who the credentials belong to: the account and the caller's ARN,
    /// from one STS `GetCallerIdentity` (which needs no permission). A plan
    /// records the account, and apply refuses a plan or a state made in
    /// another; the plan's header shows both.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, crate::AwsError> {
        let out =
            self.sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| crate::AwsError::Identity {
                    message: aws_sdk_sts::error::DisplayErrorContext(e).to_string(),
                })?;
        let account =
            out.account()
                .map(str::to_string)
                .ok_or_else(|| crate::AwsError::Identity {
                    message: "GetCallerIdentity returned no account".to_string(),
                })?;
        Ok(CallerIdentity {
            account,
            arn: out.arn().unwrap_or_default().to_string(),
        })
    }

    /// The account alone: [`Self::caller_identity`]'s (the same one call).
    pub async fn caller_account(&self) -> Result<String, crate::AwsError> {
        Ok(self.caller_identity().await?.account)
    }
}

/// The principal behind the credentials, as STS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The 12-digit account id.
    pub account: String,
    /// `arn:aws:sts::123456789012:assumed-role/...` or `...:user/...`;
    /// empty when STS gave none.
    pub arn: String,
}

impl SecretSources for AwsProvider {
    fn current<'a>(
        &'a self,
        source: &'a SecretSource,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(self.source_value(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_read_from_msks_json_or_is_the_whole_text() {
        let password_of = |text: &str| Credentials::parse(text).password;
        assert_eq!(password_of(r#"{"username":"u","password":"p"}"#), "p");
        assert_eq!(password_of("bare-password"), "bare-password");
        assert_eq!(password_of(r#"{"username":"u"}"#), "");
    }
}
