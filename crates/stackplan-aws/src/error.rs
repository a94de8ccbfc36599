//! The crate's one error type, and the mapping of SDK errors into it.
//!
//! Every error names the resource address and, for API failures, the
//! operation and AWS's own code and message
//! (`eks_cluster.main: CreateCluster: AccessDeniedException: ...`), so a
//! user can act on it without a debug log.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stackplan_core::{Observed, ProviderError, ResourceAddr};

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything the AWS providers can fail at.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// AWS answered with an error, or the request never got an answer.
    #[error("{addr}: {operation}: {code}: {message}")]
    Api {
        addr: ResourceAddr,
        operation: &'static str,
        /// AWS's error code (`AccessDeniedException`), or the SDK's failure
        /// kind when there was no answer (`DispatchFailure`).
        code: String,
        message: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    /// A desired attribute is missing or has the wrong shape: a bug in the
    /// expansion or a hand-edited plan, never an AWS problem.
    #[error("{addr}: attribute `{attr}`: {problem}")]
    Attribute {
        addr: ResourceAddr,
        attr: String,
        problem: String,
    },
    /// AWS cannot make this change in place, and replacing is not safe to
    /// do implicitly (an EKS upgrade that skips a minor version).
    #[error("{addr}: {reason}")]
    Refused { addr: ResourceAddr, reason: String },
    /// A waiter gave up.
    #[error("{addr}: timed out after {elapsed_secs}s waiting for {what}")]
    Timeout {
        addr: ResourceAddr,
        what: String,
        elapsed_secs: u64,
    },
    /// The resource reached a state it will not leave on its own
    /// (`CREATE_FAILED`, `FAILED`).
    #[error("{addr}: {what}")]
    Failed { addr: ResourceAddr, what: String },
    /// A secret's source could not give its value. Names the source, never
    /// a value.
    #[error("{addr}: secret source {source_name}: {problem}")]
    SecretSource {
        addr: ResourceAddr,
        source_name: String,
        problem: String,
    },
    /// Who the credentials belong to could not be found out.
    #[error("GetCallerIdentity: {message}")]
    Identity { message: String },
    /// This kind is not served by the AWS provider, or this mode of it.
    #[error("{addr}: {problem}")]
    Unsupported { addr: ResourceAddr, problem: String },
    /// A create made `made` and then failed (a key whose alias call
    /// failed, a gateway whose attach failed): the engine records `made`
    /// as tainted rather than leak it or create it twice.
    #[error("{error}")]
    Partial {
        made: Box<Observed>,
        error: Box<AwsError>,
    },
}

/// AWS error codes that mean "slow down", whatever the service.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException.Throttling",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// AWS error codes that mean "it does not exist", whatever the service.
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchEntity",
    "NoSuchBucket",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    // The network kinds (EC2 API reference, "Error codes for the Amazon
    // EC2 API": client error codes).
    "InvalidInternetGatewayID.NotFound",
    "InvalidAllocationID.NotFound",
    "NatGatewayNotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidVpcEndpointId.NotFound",
    "InvalidRoute.NotFound",
];

pub(crate) fn is_throttling(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

impl AwsError {
    /// Maps an SDK failure of `operation` on `addr`.
    pub fn api<E>(
        addr: &ResourceAddr,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let (code, message, retryable) = match &err {
            SdkError::ServiceError(_) => {
                let code = err
                    .code()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {}", status.unwrap_or_default()));
                let message = err
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| "(no message)".to_string());
                let retryable = is_throttling(&code) || status.is_some_and(|s| s >= 500);
                (code, message, retryable)
            }
            SdkError::TimeoutError(_) => {
                ("Timeout".to_string(), "no answer in time".to_string(), true)
            }
            SdkError::DispatchFailure(f) => (
                "DispatchFailure".to_string(),
                format!("the request could not be sent: {}", chain(&err)),
                f.is_io() || f.is_timeout(),
            ),
            SdkError::ResponseError(_) => (
                "ResponseError".to_string(),
                format!("the answer could not be read: {}", chain(&err)),
                true,
            ),
            _ => ("ConstructionFailure".to_string(), chain(&err), false),
        };
        AwsError::Api {
            addr: addr.clone(),
            operation,
            code,
            message,
            retryable,
            source: Box::new(err),
        }
    }

    pub(crate) fn attribute(addr: &ResourceAddr, attr: &str, problem: impl Into<String>) -> Self {
        AwsError::Attribute {
            addr: addr.clone(),
            attr: attr.to_string(),
            problem: problem.into(),
        }
    }

    /// AWS's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => Some(code),
            AwsError::Partial { error, .. } => error.code(),
            _ => None,
        }
    }

    /// AWS's message, for API errors.
    pub fn message(&self) -> Option<&str> {
        match self {
            AwsError::Api { message, .. } => Some(message),
            AwsError::Partial { error, .. } => error.message(),
            _ => None,
        }
    }

    /// What a failed create left behind, if it got that far.
    pub fn partial(&self) -> Option<&Observed> {
        match self {
            AwsError::Partial { made, .. } => Some(made),
            _ => None,
        }
    }

    /// Says that the create failing with `self` had made `made`.
    pub(crate) fn after_making(self, made: Observed) -> Self {
        match self {
            // The first thing made is what the create made.
            partial @ AwsError::Partial { .. } => partial,
            error => AwsError::Partial {
                made: Box::new(made),
                error: Box::new(error),
            },
        }
    }

    /// True when AWS refused a role or principal that was created moments
    /// ago: IAM is eventually consistent, and EKS or MSK may not see a new
    /// role for several seconds ("Role ... cannot be assumed").
    pub fn is_iam_propagation(&self) -> bool {
        let code_fits = matches!(
            self.code(),
            Some("InvalidParameterException" | "InvalidParameterValue" | "MalformedPolicyDocument")
        );
        let message = self.message().unwrap_or_default().to_ascii_lowercase();
        // A malformed ARN never becomes valid by waiting ("The principalArn
        // parameter format is not valid").
        let malformed = message.contains("format is not valid");
        code_fits
            && !malformed
            && ["role", "assume", "principal"]
                .iter()
                .any(|w| message.contains(w))
    }

    /// True when the API said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code().is_some_and(|c| NOT_FOUND_CODES.contains(&c))
    }

    /// True when trying again later may succeed (throttling, 5xx, network).
    pub fn is_retryable(&self) -> bool {
        match self {
            AwsError::Api { retryable, .. } => *retryable,
            AwsError::Partial { error, .. } => error.is_retryable(),
            _ => false,
        }
    }
}

/// The SDK error's cause chain on one line: `DispatchFailure` alone says
/// nothing, the connection refused under it does.
fn chain(err: &dyn StdError) -> String {
    let mut parts = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        parts.push(e.to_string());
        next = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

impl From<AwsError> for ProviderError {
    /// The message already says everything the SDK error says on top; the
    /// SDK error is kept as the source for `--debug`-style chains, not
    /// repeated in the message.
    fn from(err: AwsError) -> Self {
        if let AwsError::Partial { made, error } = err {
            return ProviderError::from(*error).with_partial(*made);
        }
        let retryable = err.is_retryable();
        let message = err.to_string();
        let e = match err {
            AwsError::Api { source, .. } => ProviderError {
                message,
                retryable: false,
                source: Some(source),
                partial: None,
            },
            _ => ProviderError::new(message),
        };
        if retryable { e.retryable() } else { e }
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

/// `Ok(None)` for a not-found error: reads turn "does not exist" into
/// absence, and every other error stays an error.
pub(crate) fn absent_if_not_found<T>(r: AwsResult<T>) -> AwsResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
