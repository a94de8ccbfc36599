//! Preflight: what must hold before a plan reads anything or an apply
//! changes anything, checked once, up front, each failure said once with
//! its fix. Without it, a missing credential showed as one error per
//! resource read, and a missing kubeconfig or helm only once the reads or
//! the helm step reached it (on a first apply, after EKS and MSK were
//! built).
//!
//! The checks, in order:
//! 1. who the AWS credentials belong to (STS `GetCallerIdentity`, the one
//!    call `aws_target` makes, which every principal may make);
//! 2. the cluster: `[kubernetes] kubeconfig` exists and its API server
//!    answers, or the stack's EKS cluster, when it exists, answers;
//! 3. helm, when the stack installs a chart and nothing has run it yet
//!    (plan and apply read the charts with it first; destroy does not).
//!
//! The cluster and helm checks run even when the identity check fails, so
//! one run names every missing piece. The same causes (credentials,
//! network, a missing file) give the hint of a refresh that failed
//! anyway (`refresh_hint`).

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use stackplan_core::{ProviderError, ResourceAddr};
use stackplan_stack::Stack;
use thiserror::Error;

use super::plan::{Target, aws_target};

/// What a failure's text says went wrong, for the hint that fits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The credential chain found nothing.
    NoCredentials,
    /// Found, but expired or not valid.
    BadCredentials,
    /// Valid, but not allowed.
    AccessDenied,
    /// No connection, no name, or no answer in time.
    Network,
    /// A file the stack names is not there.
    MissingFile,
    Other,
}

/// Reads the cause from an error's text, cause chain included. The SDKs
/// give these as messages, not types, once they are behind a provider
/// error; the phrases are the SDK's and the OS's own.
pub fn cause_of(text: &str) -> Cause {
    let t = text.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if any(&[
        "no providers in chain provided credentials",
        "credentialsnotloaded",
        "credential provider was not enabled",
        "no aws credentials",
    ]) {
        Cause::NoCredentials
    } else if any(&[
        "expiredtoken",
        "token is expired",
        "token has expired",
        "requestexpired",
        "invalidclienttokenid",
        "security token included in the request is invalid",
        "signaturedoesnotmatch",
        "unrecognizedclient",
    ]) {
        Cause::BadCredentials
    } else if any(&[
        "accessdenied",
        "unauthorizedoperation",
        "is not authorized to perform",
        "403 forbidden",
    ]) {
        Cause::AccessDenied
    } else if any(&[
        "connection refused",
        "timed out",
        "timeout",
        "no answer in time",
        "did not answer",
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "connection reset",
        "network is unreachable",
        "no route to host",
    ]) {
        Cause::Network
    } else if any(&["no such file or directory", "os error 2"]) {
        Cause::MissingFile
    } else {
        Cause::Other
    }
}

/// The hint for AWS failing for `cause`, naming the endpoint that was
/// called.
fn aws_hint(cause: Cause, endpoint: &str) -> String {
    match cause {
        Cause::NoCredentials => "no AWS credentials were found: set AWS_PROFILE (after `aws sso login` for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions, aws-actions/configure-aws-credentials".to_string(),
        Cause::BadCredentials => "the AWS credentials are expired or not valid: renew them (`aws sso login`, or new temporary keys) and run again".to_string(),
        Cause::AccessDenied => "the credentials are valid but not allowed this call: docs/iam/plan.json and docs/iam/apply.json are the policies plan and apply need".to_string(),
        Cause::Network => format!(
            "AWS at {endpoint} could not be reached or did not answer in time: check the network, HTTPS_PROXY and AWS_ENDPOINT_URL; STACKPLAN_AWS_TIMEOUT=SECONDS allows a slow link longer than 60 s"
        ),
        Cause::MissingFile => "a file the AWS credential chain reads is missing: check AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE and AWS_WEB_IDENTITY_TOKEN_FILE".to_string(),
        Cause::Other => "set AWS_PROFILE or AWS credentials for the account this stack lives in".to_string(),
    }
}

/// One check that failed: what, and the fix.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct CheckFailed {
    message: String,
    #[help]
    help: String,
}

/// Several checks that failed, each with its fix, in one report.
#[derive(Debug, Error, Diagnostic)]
#[error("{} checks failed before anything was read or changed", .failed.len())]
struct ChecksFailed {
    #[related]
    failed: Vec<CheckFailed>,
}

/// What has been checked already by the time preflight runs.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// helm was found and is new enough (it read the charts).
    pub helm: bool,
}

/// Runs the checks; the AWS target (account and region) when all pass.
pub async fn run(stack: &Stack, checked: Checked) -> miette::Result<Target> {
    let identity = aws_target(stack).await;
    let mut failed = Vec::new();
    let target = match identity {
        Ok(t) => Some(t),
        Err(report) => {
            let aws = stackplan_aws::AwsProvider::from_env(&stack.region).await;
            let text = without_sdk_debug(&format!("{report}"));
            failed.push(CheckFailed {
                help: aws_hint(cause_of(&text), &aws.endpoint("sts")),
                message: text,
            });
            None
        }
    };
    // The cluster is reached with the same credentials on EKS: without
    // them it cannot be checked, and the identity failure says why.
    if target.is_some() || stack.kubernetes.is_some() {
        failed.extend(check_cluster(stack).await);
    }
    if !checked.helm && installs_charts(stack) {
        failed.extend(check_helm().await);
    }
    match (target, failed.len()) {
        (Some(t), 0) => Ok(t),
        (_, 1) => Err(failed.remove(0).into()),
        _ => Err(ChecksFailed { failed }.into()),
    }
}

fn installs_charts(stack: &Stack) -> bool {
    stack.milvus.is_some() || stack.load_balancer_controller.is_some()
}

async fn check_helm() -> Option<CheckFailed> {
    let e = stackplan_kube::helm::Helm::discover().await.err()?;
    Some(CheckFailed {
        message: e.to_string(),
        help: "helm installs the stack's charts: install helm 3.8 or newer (https://helm.sh/docs/intro/install/), or set STACKPLAN_HELM to its path".to_string(),
    })
}

/// `[kubernetes] kubeconfig` exists and its server answers; or the EKS
/// cluster, if it exists yet, answers.
async fn check_cluster(stack: &Stack) -> Option<CheckFailed> {
    let provider = match &stack.kubernetes {
        Some(k) => {
            let path = Path::new(&k.kubeconfig);
            if !path.exists() {
                return Some(CheckFailed {
                    message: format!(
                        "the kubeconfig `{}` that [kubernetes] names does not exist",
                        path.display()
                    ),
                    help: missing_file_hint(stack, path),
                });
            }
            stackplan_kube::KubeProvider::from_kubeconfig(Some(&k.kubeconfig), k.context.as_deref())
        }
        None => {
            let config = stackplan_aws::sdk_config(&stack.region).await;
            let credentials = config.credentials_provider()?;
            stackplan_kube::KubeProvider::for_eks(
                &stack.eks.name,
                &stack.region,
                credentials,
                aws_sdk_eks::Client::new(&config),
            )
        }
    };
    let e = provider.probe().await.err()?;
    let text = chain(&e);
    let help = match (&e, cause_of(&text)) {
        (stackplan_kube::KubeError::Unreachable { server, .. }, _) => format!(
            "check that {server} is reachable from here (VPN, a private EKS endpoint, HTTPS_PROXY); STACKPLAN_KUBE_TIMEOUT=SECONDS allows a slow link longer than 60 s"
        ),
        (stackplan_kube::KubeError::Kubeconfig { .. }, _) => {
            "check the kubeconfig file and its context ([kubernetes] context)".to_string()
        }
        (_, Cause::Other) => {
            "check access to the cluster: the message above says what failed".to_string()
        }
        (_, cause) => aws_hint(cause, "the EKS endpoint"),
    };
    Some(CheckFailed {
        message: text,
        help,
    })
}

/// A missing file's hint, with a path that works where the user is.
/// Relative paths in the stack file are read from the stack file's
/// directory; a user who wrote one relative to where they run stackplan
/// gets the path that names that file.
fn missing_file_hint(stack: &Stack, resolved: &Path) -> String {
    if let Some(hint) = relocated_hint(stack, resolved, |p| format!("kubeconfig = \"{p}\"")) {
        return hint;
    }
    format!(
        "write the kubeconfig there (`aws eks update-kubeconfig --name {} --region {} --kubeconfig {}`), or point [kubernetes] kubeconfig at an existing one (read from the stack file's directory), or remove [kubernetes] to reach the EKS cluster directly",
        stack.eks.name,
        stack.region,
        resolved.display()
    )
}

/// When `resolved` (a path of the stack file, read from the stack file's
/// directory) does not exist but the path as written does from where
/// stackplan runs: the hint that says so and, through `write` (the line
/// that sets it), the path that names that file from anywhere.
pub fn relocated_hint(
    stack: &Stack,
    resolved: &Path,
    write: impl Fn(&str) -> String,
) -> Option<String> {
    let stack_dir = Path::new(&stack.path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let written = resolved.strip_prefix(stack_dir).ok()?;
    if !written.is_relative() || stack_dir == Path::new(".") || !written.exists() {
        return None;
    }
    let absolute = std::fs::canonicalize(written).unwrap_or_else(|_| PathBuf::from(written));
    Some(format!(
        "paths in the stack file are read from its directory (`{}`), not from here, where `{}` exists: write {}",
        stack_dir.display(),
        written.display(),
        write(&absolute.display().to_string())
    ))
}

/// The hint for a refresh that failed: the one that fits when every
/// failure has one cause, else the general one.
pub fn refresh_hint(failures: &[(ResourceAddr, ProviderError)]) -> String {
    let causes: Vec<Cause> = failures.iter().map(|(_, e)| cause_of(&chain(e))).collect();
    let one = causes
        .first()
        .copied()
        .filter(|c| causes.iter().all(|x| x == c));
    match one {
        Some(c @ (Cause::NoCredentials | Cause::BadCredentials)) => aws_hint(c, ""),
        Some(Cause::AccessDenied) => "the principal is not allowed these reads: docs/iam/plan.json is the policy a plan needs; for Kubernetes, an [[eks.access]] entry with policy = \"admin-view\"".to_string(),
        Some(Cause::Network) => "the APIs named above could not be reached or did not answer in time: check the network, HTTPS_PROXY, AWS_ENDPOINT_URL and the kubeconfig's server; STACKPLAN_AWS_TIMEOUT and STACKPLAN_KUBE_TIMEOUT (seconds) allow a slow link longer".to_string(),
        Some(Cause::MissingFile) => "a file named above does not exist: paths in the stack file are read from the stack file's directory".to_string(),
        _ => "check credentials and network access to the APIs named above".to_string(),
    }
}

/// The SDK's `DisplayErrorContext` ends with the error's `Debug` form
/// (`(DispatchFailure(DispatchFailure { source: ... }))`), which repeats
/// the message in Rust's syntax: cut it.
fn without_sdk_debug(text: &str) -> String {
    const DEBUG_FORMS: [&str; 5] = [
        " (DispatchFailure(",
        " (ServiceError(",
        " (TimeoutError(",
        " (ResponseError(",
        " (ConstructionFailure(",
    ];
    let cut = DEBUG_FORMS
        .iter()
        .filter_map(|f| text.find(f))
        .min()
        .unwrap_or(text.len());
    text[..cut].to_string()
}

/// The hint for a state backend that failed, by its cause: a backend
/// that does not answer, or credentials, before the generic one.
pub fn state_hint(text: &str) -> &'static str {
    match cause_of(text) {
        Cause::Network => {
            "the state backend could not be reached or did not answer in time: check the network, HTTPS_PROXY and AWS_ENDPOINT_URL; STACKPLAN_AWS_TIMEOUT=SECONDS allows a slow link longer than 60 s"
        }
        Cause::NoCredentials => {
            "no AWS credentials were found for the S3 state backend: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        Cause::BadCredentials => {
            "the AWS credentials are expired or not valid: renew them and run again"
        }
        _ => "check the `[state]` section of the stack file and your access to it",
    }
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_read_from_the_sdks_and_the_os_own_words() {
        for (text, cause) in [
            (
                "GetCallerIdentity: dispatch failure: other: the credential provider was not enabled: no providers in chain provided credentials",
                Cause::NoCredentials,
            ),
            (
                "GetCallerIdentity: ExpiredToken: The security token included in the request is expired",
                Cause::BadCredentials,
            ),
            (
                "ec2_vpc.main: DescribeVpcs: UnauthorizedOperation: You are not authorized",
                Cause::AccessDenied,
            ),
            (
                "GetCallerIdentity: dispatch failure: io error: error trying to connect: tcp connect error: Connection refused (os error 111)",
                Cause::Network,
            ),
            (
                "GetCallerIdentity: timeout: operation timeout (all attempts including retries) occurred after 60s",
                Cause::Network,
            ),
            (
                "could not load the kubeconfig `/x`: failed to read kubeconfig from '/x': No such file or directory (os error 2)",
                Cause::MissingFile,
            ),
            ("something else entirely", Cause::Other),
        ] {
            assert_eq!(cause_of(text), cause, "{text}");
        }
    }

    #[test]
    fn a_refresh_failing_for_one_cause_gets_that_causes_hint() {
        let f = |m: &str| {
            (
                ResourceAddr::new(stackplan_core::ResourceKind::S3Bucket, "b"),
                ProviderError::new(m),
            )
        };
        let no_creds = [
            f("no providers in chain provided credentials"),
            f("CredentialsNotLoaded"),
        ];
        assert!(refresh_hint(&no_creds).contains("AWS_PROFILE"));
        let mixed = [f("Connection refused"), f("AccessDenied")];
        assert_eq!(
            refresh_hint(&mixed),
            "check credentials and network access to the APIs named above"
        );
    }
}
