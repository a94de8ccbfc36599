//! AWS providers for stackplan: every AWS kind of the expansion, on the official SDK.
//!
//! One [`AwsProvider`] serves every AWS kind ([`KINDS`]). It holds one SDK client
//! per service, built from one `SdkConfig` (region from the stack;
//! credentials and endpoint from the standard chain: `AWS_PROFILE`, SSO,
//! environment, `AWS_ENDPOINT_URL`), with standard retries (backoff with
//! jitter on throttling and 5xx).
//!
//! ```text
//!   stackplan-cli ──registers──▶ Arc<AwsProvider> as dyn stackplan_core::Provider
//!                                   │
//!        ec2.rs  network.rs  iam.rs  eks/  s3.rs  kms.rs  secrets.rs  msk.rs
//!        (one module per service: read, create, update, delete, wait)
//! ```
//!
//! How the CLI registers it (the stack's region; waits from the stack or
//! the defaults):
//!
//! ```no_run
//! # async fn f(registry: &mut stackplan_core::ProviderRegistry, resources: &[stackplan_core::Resource]) {
//! use std::sync::Arc;
//! let aws = stackplan_aws::AwsProvider::from_env("us-west-2").await
//!     .with_wait(stackplan_aws::WaitConfig::default());
//! registry.register(Arc::new(aws));
//! // Shown with the plan: a role that attaches AmazonS3FullAccess.
//! let warnings = stackplan_aws::plan_warnings(resources);
//! # let _ = warnings;
//! # }
//! ```
//!
//! Observed attributes come back in exactly the shape the expansion writes
//! the desired ones (`crates/stackplan-stack/src/expand.rs`), so a clean
//! apply followed by a plan is quiet.

mod attrs;
mod ec2;
mod eks;
mod error;
mod iam;
mod kms;
#[cfg(test)]
mod mock_tests;
mod msk;
mod network;
mod preflight;
mod s3;
mod secrets;
mod sources;
mod wait;
mod zones;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use stackplan_core::{
    ApplyRequest, BoxFuture, DeleteRequest, FieldDiff, Observed, Provider, ProviderResult,
    ReadRequest, Resource, ResourceAddr, ResourceKind, ResourceMode, Value,
};

pub use error::{AwsError, AwsResult};
pub use sources::CallerIdentity;
pub use wait::WaitConfig;

/// Every kind this crate serves.
pub const KINDS: &[ResourceKind] = &[
    ResourceKind::Ec2AvailabilityZones,
    ResourceKind::Ec2Vpc,
    ResourceKind::Ec2Subnet,
    ResourceKind::Ec2SecurityGroup,
    ResourceKind::Ec2SecurityGroupRule,
    ResourceKind::Ec2InternetGateway,
    ResourceKind::Ec2Eip,
    ResourceKind::Ec2NatGateway,
    ResourceKind::Ec2RouteTable,
    ResourceKind::Ec2RouteTableAssociation,
    ResourceKind::Ec2VpcEndpoint,
    ResourceKind::IamRole,
    ResourceKind::IamPolicy,
    ResourceKind::IamOidcProvider,
    ResourceKind::EksCluster,
    ResourceKind::EksNodegroup,
    ResourceKind::EksAddon,
    ResourceKind::EksAccessEntry,
    ResourceKind::S3Bucket,
    ResourceKind::KmsKey,
    ResourceKind::SecretsmanagerSecret,
    ResourceKind::MskConfiguration,
    ResourceKind::MskCluster,
    ResourceKind::MskScramAssociation,
];

/// How many attempts the SDK makes per request before an error surfaces.
const MAX_ATTEMPTS: u32 = 8;

/// The provider for every AWS kind.
#[derive(Debug)]
pub struct AwsProvider {
    region: String,
    /// The endpoint every call goes to when one is configured
    /// (`AWS_ENDPOINT_URL`, an emulator); `None`: AWS's own per service.
    endpoint_url: Option<String>,
    ec2: aws_sdk_ec2::Client,
    eks: aws_sdk_eks::Client,
    iam: aws_sdk_iam::Client,
    kafka: aws_sdk_kafka::Client,
    kms: aws_sdk_kms::Client,
    s3: aws_sdk_s3::Client,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
    sts: aws_sdk_sts::Client,
    wait: WaitConfig,
    /// What `latest` resolved to for each add-on at the last read, so that
    /// `plan_change` (which cannot call the API) shows the concrete version.
    latest_addon_versions: Mutex<BTreeMap<ResourceAddr, String>>,
    /// The same for node groups' `release_version = "latest"`.
    latest_ami_releases: Mutex<BTreeMap<ResourceAddr, String>>,
    /// Per MSK cluster, what MSK would refuse in the change the stack asks
    /// for, found when a plan reads it (some rules need the API: the
    /// storage cool-down, the compatible Kafka versions); `plan_change`
    /// refuses the change with them.
    msk_refusals: Mutex<BTreeMap<ResourceAddr, Vec<String>>>,
}

impl AwsProvider {
    /// The standard credential and endpoint chain, in the stack's region,
    /// with standard retries.
    pub async fn from_env(region: &str) -> Self {
        Self::from_sdk_config(&sdk_config(region).await)
    }

    /// From a ready SDK config (tests point one at the emulator). The
    /// region comes from the config.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        let mut config = if config.retry_config().is_some_and(|r| r.max_attempts() > 1) {
            config.clone()
        } else {
            config.to_builder().retry_config(retry_config()).build()
        };
        // A config made without an operation limit (a test's) gets ours.
        if config
            .timeout_config()
            .is_none_or(|t| t.operation_timeout().is_none())
        {
            config = config.to_builder().timeout_config(timeout_config()).build();
        }
        // A custom endpoint (an emulator, a VPC endpoint by IP) cannot take
        // the bucket as a host name.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        AwsProvider {
            endpoint_url: config.endpoint_url().map(str::to_string),
            region: config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".to_string()),
            ec2: aws_sdk_ec2::Client::new(&config),
            eks: aws_sdk_eks::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            kafka: aws_sdk_kafka::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            wait: WaitConfig::default(),
            latest_addon_versions: Mutex::new(BTreeMap::new()),
            latest_ami_releases: Mutex::new(BTreeMap::new()),
            msk_refusals: Mutex::new(BTreeMap::new()),
        }
    }

    /// Replaces the EKS client (unit tests with a mock client).
    #[cfg(test)]
    pub(crate) fn with_eks(mut self, eks: aws_sdk_eks::Client) -> Self {
        self.eks = eks;
        self
    }

    /// Replaces the IAM client (unit tests with a mock client).
    #[cfg(test)]
    pub(crate) fn with_iam(mut self, iam: aws_sdk_iam::Client) -> Self {
        self.iam = iam;
        self
    }

    /// Replaces the S3 client (unit tests with a mock client).
    #[cfg(test)]
    pub(crate) fn with_s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = s3;
        self
    }

    /// Poll interval and per-kind timeouts for the waiters.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.wait = wait;
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Where this provider's calls to `service` (`sts`, `eks`) go, for a
    /// message about an endpoint that did not answer.
    pub fn endpoint(&self, service: &str) -> String {
        endpoint_of(self.endpoint_url.as_deref(), service, &self.region)
    }

    /// This provider as the trait objects a `ProviderRegistry` takes.
    pub fn into_providers(self) -> Vec<Arc<dyn Provider>> {
        vec![Arc::new(self)]
    }

    fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}

/// The SDK configuration every AWS client of a run is built from: the
/// standard credential and endpoint chain in `region`, standard retries,
/// and [`timeout_config`]. The CLI builds its other clients (the EKS
/// client that finds the cluster for Kubernetes) from it too, so no
/// client of a run waits for ever.
pub async fn sdk_config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// Seconds one AWS API call may take, retries included, when
/// `STACKPLAN_AWS_TIMEOUT` does not say otherwise.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The SDK's four limits (aws-smithy-types `TimeoutConfig`): connect
/// (establishing the socket), read (the first byte of an answer after the
/// request is sent), operation attempt (one try) and operation (every try
/// of one call, with the retries' backoff). Without them an endpoint
/// that accepts a connection and never answers holds a plan for ever:
/// the SDK's defaults set only a connect timeout (3.1 s).
///
/// AWS's control-plane APIs answer in well under a second; a long
/// operation (an EKS cluster, an MSK cluster) is a quick call followed by
/// polling (`wait.rs`), so no single call needs long. The operation limit
/// is 60 s (`STACKPLAN_AWS_TIMEOUT=SECONDS` changes it, for a slow proxy
/// or link); one attempt gets half of it, so one slow answer is still
/// retried, and the read and connect limits are capped by the attempt's.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    let operation = operation_timeout_from(std::env::var("STACKPLAN_AWS_TIMEOUT").ok().as_deref());
    let attempt = operation / 2;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(10)))
        .read_timeout(attempt)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// `STACKPLAN_AWS_TIMEOUT`'s value: whole seconds, at least 2; anything
/// else is the default (a typo must not disable the limit).
fn operation_timeout_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s >= 2)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_OPERATION_TIMEOUT)
}

/// Where this provider's calls to `service` go, for messages that must
/// name the endpoint that failed to answer: `AWS_ENDPOINT_URL` (or a
/// test's endpoint) when one is set, else AWS's regional endpoint
/// (`https://sts.us-west-2.amazonaws.com`; `amazonaws.com.cn` in China).
pub fn endpoint_of(config_endpoint: Option<&str>, service: &str, region: &str) -> String {
    match config_endpoint {
        Some(url) => url.to_string(),
        None if region.starts_with("cn-") => {
            format!("https://{service}.{region}.amazonaws.com.cn")
        }
        None => format!("https://{service}.{region}.amazonaws.com"),
    }
}

/// Standard retries: exponential backoff with jitter, never a delay
/// before a first attempt. Adaptive mode adds a client-side rate limiter
/// that one throttle switches on at the rate measured so far: early in a
/// run that is the floor of 0.5 requests a second, shared by every client
/// of the service in the process, and each call of a parallel burst then
/// waits for the ones queued before it, until calls run out of their 60 s
/// (the fault test saw DescribeVpcs do so after 14 injected faults in 90
/// requests; its apply took 104 to 138 s adaptive, 12 to 13 s standard,
/// same seeds, side by side). AWS's SDK reference guide ("Retry
/// behavior") recommends standard for all workloads and adaptive only for
/// a single resource that is throttled heavily and can wait;
/// aws-smithy-runtime's `ClientRateLimiter` is the mechanism.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

/// A plan warning about one resource: something allowed but worth a
/// reviewer's attention.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlanWarning {
    pub addr: ResourceAddr,
    pub message: String,
}

/// Warnings about the desired AWS resources of a stack, sorted by address.
///
/// The CLI shows them with the plan. Today: an IAM role that attaches
/// `AmazonS3FullAccess` (what the reference guide does; stackplan grants
/// access to the stack's bucket only unless a stack asks for more).
pub fn plan_warnings(resources: &[Resource]) -> Vec<PlanWarning> {
    let mut out: Vec<PlanWarning> = resources
        .iter()
        .filter(|r| r.addr.kind == ResourceKind::IamRole)
        .filter_map(|r| {
            let Some(Value::List(arns)) = r.attrs.get("managed_policy_arns") else {
                return None;
            };
            let full = arns
                .iter()
                .filter_map(Value::as_str)
                .any(|a| a.ends_with(":policy/AmazonS3FullAccess"));
            full.then(|| PlanWarning {
                addr: r.addr.clone(),
                message: "attaches AmazonS3FullAccess: every bucket of the account, not only \
                          the stack's; the least-privilege policy `iam_policy.milvus_s3` is \
                          scoped to the Milvus bucket"
                    .to_string(),
            })
        })
        .collect();
    out.sort();
    out
}

fn unsupported(addr: &ResourceAddr, what: &str) -> AwsError {
    AwsError::Unsupported {
        addr: addr.clone(),
        problem: what.to_string(),
    }
}

/// A fresh idempotency token (`ClientToken`, `ClientRequestToken`) per
/// request: only a retry of the same request (the SDK's, after a lost
/// answer) may reuse one.
fn client_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The physical id of a resource known from state, if any.
fn prior_id(prior: Option<&stackplan_core::ResourceState>) -> Option<&str> {
    prior.and_then(|p| p.physical_id.as_deref())
}

/// The id a waiter polls: the one the create or update just returned, else
/// the one state holds.
fn waited_id<'a>(
    observed: &'a Observed,
    prior: Option<&'a stackplan_core::ResourceState>,
) -> Option<&'a str> {
    observed.physical_id.as_deref().or_else(|| prior_id(prior))
}

impl AwsProvider {
    async fn read_any(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        use ResourceKind::*;
        if let Some(desired) = req.desired
            && prior_id(req.prior).is_none()
            && req.mode == ResourceMode::Managed
            && !identity_known(req.addr.kind, desired)
        {
            // The identity is built from outputs not known yet (a first
            // plan): it cannot exist under a name nobody knows.
            return Ok(None);
        }
        match req.addr.kind {
            Ec2AvailabilityZones => self.zones_read(req).await,
            Ec2Vpc => self.vpc_read(req).await,
            Ec2Subnet => self.subnet_read(req).await,
            Ec2SecurityGroup => self.sg_read(req).await,
            Ec2SecurityGroupRule => self.sg_rule_read(req).await,
            Ec2InternetGateway => self.igw_read(req).await,
            Ec2Eip => self.eip_read(req).await,
            Ec2NatGateway => self.nat_read(req).await,
            Ec2RouteTable => self.route_table_read(req).await,
            Ec2RouteTableAssociation => self.association_read(req).await,
            Ec2VpcEndpoint => self.endpoint_read(req).await,
            IamRole => self.role_read(req).await,
            IamPolicy => self.policy_read(req).await,
            IamOidcProvider => self.oidc_read(req).await,
            EksCluster => self.cluster_read(req).await,
            EksNodegroup => self.nodegroup_read(req).await,
            EksAddon => self.addon_read(req).await,
            EksAccessEntry => self.access_entry_read(req).await,
            S3Bucket => self.bucket_read(req).await,
            KmsKey => self.key_read(req).await,
            SecretsmanagerSecret => self.secret_read(req).await,
            MskConfiguration => self.msk_config_read(req).await,
            MskCluster => self.msk_cluster_read(req).await,
            MskScramAssociation => self.scram_read(req).await,
            other => Err(unsupported(
                req.addr,
                &format!("{other} is not an AWS kind"),
            )),
        }
    }

    async fn create_any(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        use ResourceKind::*;
        match req.addr.kind {
            Ec2Vpc => self.vpc_create(req).await,
            Ec2Subnet => self.subnet_create(req).await,
            Ec2SecurityGroup => self.sg_create(req).await,
            Ec2SecurityGroupRule => self.sg_rule_create(req).await,
            Ec2InternetGateway => self.igw_create(req).await,
            Ec2Eip => self.eip_create(req).await,
            Ec2NatGateway => self.nat_create(req).await,
            Ec2RouteTable => self.route_table_create(req).await,
            Ec2RouteTableAssociation => self.association_create(req).await,
            Ec2VpcEndpoint => self.endpoint_create(req).await,
            IamRole => self.role_create(req).await,
            IamPolicy => self.policy_create(req).await,
            IamOidcProvider => self.oidc_create(req).await,
            EksCluster => self.cluster_create(req).await,
            EksNodegroup => self.nodegroup_create(req).await,
            EksAddon => self.addon_create(req).await,
            EksAccessEntry => self.access_entry_create(req).await,
            S3Bucket => self.bucket_create(req).await,
            KmsKey => self.key_create(req).await,
            SecretsmanagerSecret => self.secret_create(req).await,
            MskConfiguration => self.msk_config_create(req).await,
            MskCluster => self.msk_cluster_create(req).await,
            MskScramAssociation => self.scram_create(req).await,
            other => Err(unsupported(
                req.addr,
                &format!("{other} is not an AWS kind"),
            )),
        }
    }

    async fn update_any(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        use ResourceKind::*;
        match req.addr.kind {
            Ec2Vpc => self.vpc_update(req).await,
            Ec2Subnet => self.subnet_update(req).await,
            Ec2SecurityGroup => self.sg_update(req).await,
            Ec2SecurityGroupRule => self.sg_rule_update(req).await,
            Ec2InternetGateway => self.igw_update(req).await,
            Ec2Eip => self.eip_update(req).await,
            Ec2NatGateway => self.nat_update(req).await,
            Ec2RouteTable => self.route_table_update(req).await,
            Ec2RouteTableAssociation => self.association_update(req).await,
            Ec2VpcEndpoint => self.endpoint_update(req).await,
            IamRole => self.role_update(req).await,
            IamPolicy => self.policy_update(req).await,
            IamOidcProvider => self.oidc_update(req).await,
            EksCluster => self.cluster_update(req).await,
            EksNodegroup => self.nodegroup_update(req).await,
            EksAddon => self.addon_update(req).await,
            EksAccessEntry => self.access_entry_update(req).await,
            S3Bucket => self.bucket_update(req).await,
            KmsKey => self.key_update(req).await,
            SecretsmanagerSecret => self.secret_update(req).await,
            MskConfiguration => self.msk_config_update(req).await,
            MskCluster => self.msk_cluster_update(req).await,
            MskScramAssociation => self.scram_update(req).await,
            other => Err(unsupported(
                req.addr,
                &format!("{other} is not an AWS kind"),
            )),
        }
    }

    async fn delete_any(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        use ResourceKind::*;
        if req.prior.mode == ResourceMode::Lookup {
            // Looked-up resources were never stackplan's to delete.
            return Ok(());
        }
        match req.addr.kind {
            Ec2Vpc => self.vpc_delete(req).await,
            Ec2Subnet => self.subnet_delete(req).await,
            Ec2SecurityGroup => self.sg_delete(req).await,
            Ec2SecurityGroupRule => self.sg_rule_delete(req).await,
            Ec2InternetGateway => self.igw_delete(req).await,
            Ec2Eip => self.eip_delete(req).await,
            Ec2NatGateway => self.nat_delete(req).await,
            Ec2RouteTable => self.route_table_delete(req).await,
            Ec2RouteTableAssociation => self.association_delete(req).await,
            Ec2VpcEndpoint => self.endpoint_delete(req).await,
            IamRole => self.role_delete(req).await,
            IamPolicy => self.policy_delete(req).await,
            IamOidcProvider => self.oidc_delete(req).await,
            EksCluster => self.cluster_delete(req).await,
            EksNodegroup => self.nodegroup_delete(req).await,
            EksAddon => self.addon_delete(req).await,
            EksAccessEntry => self.access_entry_delete(req).await,
            S3Bucket => self.bucket_delete(req).await,
            KmsKey => self.key_delete(req).await,
            SecretsmanagerSecret => self.secret_delete(req).await,
            MskConfiguration => self.msk_config_delete(req).await,
            MskCluster => self.msk_cluster_delete(req).await,
            MskScramAssociation => self.scram_delete(req).await,
            other => Err(unsupported(
                req.addr,
                &format!("{other} is not an AWS kind"),
            )),
        }
    }

    async fn wait_any(&self, req: ApplyRequest<'_>, observed: Observed) -> AwsResult<Observed> {
        use ResourceKind::*;
        match req.addr.kind {
            EksCluster => self.cluster_wait(req, observed).await,
            EksNodegroup => self.nodegroup_wait(req, observed).await,
            EksAddon => self.addon_wait(req, observed).await,
            Ec2NatGateway => self.nat_wait(req, observed).await,
            Ec2VpcEndpoint => self.endpoint_wait(req, observed).await,
            MskCluster => self.msk_cluster_wait(req, observed).await,
            _ => Ok(observed),
        }
    }
}

/// Whether the attributes a kind is found by are known. A resource named
/// after another's output (an add-on's cluster name, an association's
/// cluster ARN) cannot be looked up before that output exists.
fn identity_known(kind: ResourceKind, desired: &stackplan_core::Attrs) -> bool {
    use ResourceKind::*;
    let keys: &[&str] = match kind {
        Ec2Vpc => &["cidr_block"],
        Ec2Subnet => &["vpc_id", "cidr_block"],
        Ec2SecurityGroup => &["name", "vpc_id"],
        Ec2SecurityGroupRule => &["security_group_id", "source_security_group_id"],
        // Found by the stack's tags (and their VPC or subnet) when not in
        // state; before those exist there is nothing to find.
        // A gateway is found by its tags alone: one created and then
        // killed before its attach has no VPC to be found by.
        Ec2RouteTable => &["vpc_id"],
        Ec2NatGateway => &["subnet_id"],
        Ec2RouteTableAssociation => &["subnet_id", "route_table_id"],
        Ec2VpcEndpoint => &["vpc_id", "service_name"],
        IamRole | IamPolicy => &["name"],
        IamOidcProvider => &["url"],
        EksCluster => &["name"],
        EksNodegroup => &["cluster_name", "nodegroup_name"],
        EksAddon => &["cluster_name", "addon_name"],
        EksAccessEntry => &["cluster_name", "principal_arn"],
        S3Bucket => &["bucket"],
        KmsKey => &["alias"],
        SecretsmanagerSecret => &["name"],
        MskConfiguration => &["name"],
        MskCluster => &["cluster_name"],
        MskScramAssociation => &["cluster_arn"],
        _ => &[],
    };
    keys.iter()
        .all(|k| desired.get(*k).is_some_and(Value::is_known))
}

impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn kinds(&self) -> Vec<ResourceKind> {
        KINDS.to_vec()
    }

    fn read<'a>(&'a self, req: ReadRequest<'a>) -> BoxFuture<'a, ProviderResult<Option<Observed>>> {
        Box::pin(async move { Ok(self.read_any(req).await?) })
    }

    fn create<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move { Ok(self.create_any(req).await?) })
    }

    fn update<'a>(&'a self, req: ApplyRequest<'a>) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move { Ok(self.update_any(req).await?) })
    }

    fn delete<'a>(&'a self, req: DeleteRequest<'a>) -> BoxFuture<'a, ProviderResult<()>> {
        Box::pin(async move { Ok(self.delete_any(req).await?) })
    }

    fn wait<'a>(
        &'a self,
        req: ApplyRequest<'a>,
        observed: Observed,
    ) -> BoxFuture<'a, ProviderResult<Observed>> {
        Box::pin(async move { Ok(self.wait_any(req, observed).await?) })
    }

    fn preflight<'a>(
        &'a self,
        resources: &'a [&'a stackplan_core::Resource],
    ) -> BoxFuture<'a, ProviderResult<Vec<stackplan_core::Finding>>> {
        Box::pin(async move { Ok(self.preflight_findings(resources).await?) })
    }

    fn import_id<'a>(
        &'a self,
        addr: &'a ResourceAddr,
        id: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<String>>> {
        Box::pin(async move {
            Ok(match addr.kind {
                // State holds a role by its name; an ARN is
                // `arn:<partition>:iam::<account>:role/<path>/<name>`
                // (IAM user guide, "IAM identifiers": role names are unique
                // per account whatever their path).
                ResourceKind::IamRole => Some(
                    id.split_once(":role/")
                        .filter(|_| id.starts_with("arn:"))
                        .and_then(|(_, path)| path.rsplit('/').next())
                        .unwrap_or(id)
                        .to_string(),
                ),
                // State holds an MSK cluster by its ARN; a name is found
                // among the region's clusters (names are unique per
                // account and region).
                ResourceKind::MskCluster if !id.starts_with("arn:") => {
                    self.msk_arn_by_name(addr, id).await?
                }
                _ => Some(id.to_string()),
            })
        })
    }

    fn plan_change(&self, addr: &ResourceAddr, diffs: &mut Vec<FieldDiff>) -> ProviderResult<()> {
        match addr.kind {
            ResourceKind::EksCluster => eks::check_version_change(addr, diffs)?,
            ResourceKind::EksNodegroup => {
                eks::drop_suffixed_name_diff(diffs);
                let latest = self
                    .latest_ami_releases
                    .lock()
                    .map(|m| m.get(addr).cloned())
                    .unwrap_or_default();
                eks::show_latest(diffs, "release_version", latest.as_deref());
            }
            ResourceKind::MskCluster => {
                let refusals = self
                    .msk_refusals
                    .lock()
                    .map(|m| m.get(addr).cloned())
                    .unwrap_or_default()
                    .unwrap_or_default();
                if !refusals.is_empty() {
                    return Err(stackplan_core::ProviderError::new(format!(
                        "MSK cannot make this change in place: {}",
                        refusals.join("; ")
                    )));
                }
            }
            ResourceKind::EksAddon => {
                let latest = self
                    .latest_addon_versions
                    .lock()
                    .map(|m| m.get(addr).cloned())
                    .unwrap_or_default();
                eks::show_latest(diffs, "addon_version", latest.as_deref());
            }
            _ => {}
        }
        Ok(())
    }

    fn wait_timeout(&self, kind: ResourceKind) -> Duration {
        self.wait.timeout(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_with_s3_full_access_is_warned_about_and_a_scoped_one_is_not() {
        let full = Resource::managed(ResourceKind::IamRole, "milvus_s3").attr(
            "managed_policy_arns",
            Value::list([Value::string("arn:aws:iam::aws:policy/AmazonS3FullAccess")]),
        );
        let scoped = Resource::managed(ResourceKind::IamRole, "other").attr(
            "managed_policy_arns",
            Value::list([Value::reference(
                &ResourceAddr::new(ResourceKind::IamPolicy, "milvus_s3"),
                "arn",
            )]),
        );
        let warnings = plan_warnings(&[scoped, full]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].addr.to_string(), "iam_role.milvus_s3");
        assert!(warnings[0].message.contains("AmazonS3FullAccess"));
    }

    #[test]
    fn the_provider_serves_every_aws_kind_and_no_other() {
        let aws: Vec<ResourceKind> = ResourceKind::ALL
            .iter()
            .copied()
            .filter(|k| k.family() == stackplan_core::ProviderFamily::Aws)
            .collect();
        assert_eq!(aws, KINDS);
    }

    #[test]
    fn retries_back_off_without_a_client_side_rate_limit() {
        let r = retry_config();
        assert_eq!(r.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(r.max_attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn every_call_has_connect_read_attempt_and_operation_limits() {
        let t = timeout_config();
        assert_eq!(t.operation_timeout(), Some(DEFAULT_OPERATION_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(t.read_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(t.connect_timeout(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn stackplan_aws_timeout_sets_the_operation_limit_and_a_typo_keeps_the_default() {
        assert_eq!(
            operation_timeout_from(Some("120")),
            Duration::from_secs(120)
        );
        assert_eq!(operation_timeout_from(Some("4")), Duration::from_secs(4));
        for bad in ["", "0", "1", "60s", "-5", "ten"] {
            assert_eq!(
                operation_timeout_from(Some(bad)),
                DEFAULT_OPERATION_TIMEOUT,
                "{bad:?}"
            );
        }
        assert_eq!(operation_timeout_from(None), DEFAULT_OPERATION_TIMEOUT);
    }

    #[test]
    fn the_endpoint_named_is_the_configured_one_else_the_regional_one() {
        assert_eq!(
            endpoint_of(Some("http://127.0.0.1:4566"), "sts", "us-west-2"),
            "http://127.0.0.1:4566"
        );
        assert_eq!(
            endpoint_of(None, "sts", "eu-central-1"),
            "https://sts.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_of(None, "eks", "cn-north-1"),
            "https://eks.cn-north-1.amazonaws.com.cn"
        );
    }
}
