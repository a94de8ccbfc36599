//! The EKS bearer token, as `aws eks get-token` and aws-iam-authenticator
//! make it: `k8s-aws-v1.` + base64url (no padding) of an STS
//! `GetCallerIdentity` URL presigned with the caller's credentials, the
//! `x-k8s-aws-id` header (the cluster name) among the signed headers.
//!
//! EKS replays the URL against STS to learn who the caller is, so the URL
//! itself is the credential: it is never logged. The signature is SigV4 from
//! `aws-sigv4`; only the URL around it is assembled here, in the same
//! parameter order as botocore, so the token is byte-for-byte the one the
//! AWS CLI makes for the same credentials and clock.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::KubeError;

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The header that binds a token to one cluster.
const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// How long the presigned URL is valid for STS, as `aws eks get-token`.
const URL_EXPIRES: Duration = Duration::from_secs(60);

/// EKS accepts a token for 15 minutes from its signing time (the URL's
/// 60 s are STS's, not EKS's); this is that lifetime.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A token and when EKS stops accepting it.
#[derive(Clone)]
pub struct EksToken {
    pub token: String,
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for EksToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never formatted.
        f.debug_struct("EksToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The STS endpoint the URL is signed for: the regional one, which EKS
/// accepts in every region (the global endpoint is deprecated).
fn sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

/// Signs a token for `cluster` at `now`.
pub fn eks_token(
    cluster: &str,
    region: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<EksToken, KubeError> {
    let host = sts_host(region);
    let operation = "Action=GetCallerIdentity&Version=2011-06-15";
    let url = format!("https://{host}/?{operation}");

    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| KubeError::Token(e.to_string()))?
        .into();
    let headers = [("host", host.as_str()), (CLUSTER_ID_HEADER, cluster)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| KubeError::Token(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| KubeError::Token(e.to_string()))?
        .into_parts();

    // botocore's order: the operation's parameters, the auth parameters,
    // the session token, then the signature last.
    let signed: Vec<(&str, Cow<'static, str>)> = instructions.params().to_vec();
    let value = |name: &str| {
        signed
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    };
    let mut query = operation.to_string();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ] {
        if let Some(v) = value(name) {
            query.push('&');
            query.push_str(name);
            query.push('=');
            query.push_str(&uri_encode(v));
        }
    }
    if value("X-Amz-Signature").is_none() {
        return Err(KubeError::Token("the signer returned no signature".into()));
    }
    let presigned = format!("https://{host}/?{query}");
    Ok(EksToken {
        token: format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(presigned)),
        expires_at: now + TOKEN_LIFETIME,
    })
}

/// RFC 3986 percent-encoding of a query value: everything but the
/// unreserved characters, as SigV4 canonicalises it.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_2024_01_02_03_04_05() -> SystemTime {
        // 2024-01-02T03:04:05Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645)
    }

    // Both expected tokens were produced by botocore 1.44.8's own presigner
    // (the harness venv, ~/.cache/stackplan-test/venv), wired exactly as the
    // AWS CLI's `aws eks get-token` wires it (awscli
    // customizations/eks/get_token.py: the cluster name moved from the
    // parameters into the `x-k8s-aws-id` header in a before-sign handler,
    // `generate_presigned_url('get_caller_identity', ExpiresIn=60,
    // HttpMethod='GET')`, regional endpoint), with
    // `botocore.auth.get_current_datetime` patched to 2024-01-02T03:04:05Z,
    // then `"k8s-aws-v1." + urlsafe_b64encode(url).rstrip("=")`. The
    // credentials are AWS's documentation example keys.
    #[test]
    fn token_matches_the_aws_cli_for_fixed_credentials_and_time() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let token =
            eks_token("milvus-demo", "us-west-2", &creds, at_2024_01_02_03_04_05()).unwrap();
        assert_eq!(
            token.token,
            "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMjQwMTAyJTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNDAxMDJUMDMwNDA1WiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9Yzg2NzQyN2FkNjYxNDBhNjU0YjJiNTNjM2IyZDVkNzMyNGFjMzgwMzQ3MjQyZTgyNTEyNGY4MmQ3NTkxY2EyZQ"
        );
        assert_eq!(
            token.expires_at,
            at_2024_01_02_03_04_05() + Duration::from_secs(900)
        );
    }

    #[test]
    fn session_token_is_signed_and_placed_before_the_signature() {
        let creds = Credentials::new(
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("FQoGZXIvYXdzEBYaDEXAMPLE/token+with=chars".into()),
            None,
            "test",
        );
        let token =
            eks_token("milvus-demo", "us-west-2", &creds, at_2024_01_02_03_04_05()).unwrap();
        assert_eq!(
            token.token,
            "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BU0lBRVhBTVBMRSUyRjIwMjQwMTAyJTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNDAxMDJUMDMwNDA1WiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TZWN1cml0eS1Ub2tlbj1GUW9HWlhJdllYZHpFQllhREVYQU1QTEUlMkZ0b2tlbiUyQndpdGglM0RjaGFycyZYLUFtei1TaWduYXR1cmU9MGVjMjlkZDkxNWI4ZmI5MjcxMDNjMzkyMmU1MjNlZmE0YjUyZTJjZDYyYTVmZjU5MWYyZWRhZjNhNjVkMjBiZA"
        );
    }

    #[test]
    fn token_is_bound_to_its_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let t = at_2024_01_02_03_04_05();
        let a = eks_token("a", "us-west-2", &creds, t).unwrap();
        let b = eks_token("b", "us-west-2", &creds, t).unwrap();
        assert_ne!(a.token, b.token);
        assert!(!format!("{a:?}").contains("k8s-aws-v1"));
    }
}
