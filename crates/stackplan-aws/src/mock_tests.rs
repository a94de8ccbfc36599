//! Error mapping and not-found handling, through the SDK's mock client
//! answering with the HTTP responses AWS sends (status, `x-amzn-ErrorType`,
//! JSON message): no server needed.

use aws_sdk_eks::config::retry::RetryConfig;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use stackplan_core::{
    ApplyRequest, Attrs, NoEvents, Provider, ProviderError, ReadRequest, ResourceAddr,
    ResourceKind, ResourceMode, Value,
};

use crate::AwsProvider;

fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"message":"{message}"}}"#)),
    );
    r.headers_mut().insert("x-amzn-ErrorType", code.to_string());
    r.headers_mut()
        .insert("content-type", "application/json".to_string());
    r
}

/// An SDK configuration for mock clients: a region, no credentials chain.
fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-west-2"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

async fn provider_answering(response: fn() -> HttpResponse) -> AwsProvider {
    let create = mock!(aws_sdk_eks::Client::create_cluster).then_http_response(response);
    let describe = mock!(aws_sdk_eks::Client::describe_cluster).then_http_response(response);
    let eks = mock_client!(
        aws_sdk_eks,
        RuleMode::MatchAny,
        &[&create, &describe],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let config = sdk_config();
    AwsProvider::from_sdk_config(&config).with_eks(eks)
}

fn cluster_attrs() -> Attrs {
    [
        ("name", Value::string("milvus-demo")),
        ("version", Value::string("1.30")),
        (
            "role_arn",
            Value::string("arn:aws:iam::123456789012:role/milvus-demo-cluster"),
        ),
        (
            "subnet_ids",
            Value::list([Value::string("subnet-a"), Value::string("subnet-b")]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// What a create of `kind.main` with `desired` gives, as apply makes it.
async fn created_by(
    p: &AwsProvider,
    kind: ResourceKind,
    desired: &Attrs,
) -> Result<stackplan_core::Observed, ProviderError> {
    p.create(ApplyRequest {
        addr: &ResourceAddr::new(kind, "main"),
        desired,
        prior: None,
        field_diffs: &[],
        events: &NoEvents,
    })
    .await
}

async fn create_cluster(p: &AwsProvider) -> ProviderError {
    created_by(p, ResourceKind::EksCluster, &cluster_attrs())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn access_denied_reaches_the_user_with_address_operation_and_awss_message() {
    let p = provider_answering(|| {
        aws_error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: eks:CreateCluster",
        )
    })
    .await;
    let err = create_cluster(&p).await;
    assert_eq!(
        err.to_string(),
        "eks_cluster.main: CreateCluster: AccessDeniedException: User: \
         arn:aws:iam::123456789012:user/ci is not authorized to perform: eks:CreateCluster"
    );
    assert!(!err.retryable, "access denied does not heal by retrying");
    assert!(err.source.is_some(), "the SDK error is kept as the cause");
}

#[tokio::test]
async fn limit_exceeded_and_invalid_parameter_keep_awss_code_and_message() {
    let p = provider_answering(|| {
        aws_error(
            400,
            "ResourceLimitExceededException",
            "Cluster limit exceeded for account",
        )
    })
    .await;
    assert_eq!(
        create_cluster(&p).await.to_string(),
        "eks_cluster.main: CreateCluster: ResourceLimitExceededException: Cluster limit exceeded for account"
    );
    let p = provider_answering(|| {
        aws_error(
            400,
            "InvalidParameterException",
            "unsupported Kubernetes version 1.10",
        )
    })
    .await;
    let err = create_cluster(&p).await;
    assert_eq!(
        err.to_string(),
        "eks_cluster.main: CreateCluster: InvalidParameterException: unsupported Kubernetes version 1.10"
    );
    assert!(!err.retryable);
}

#[tokio::test]
async fn throttling_and_server_errors_are_marked_retryable() {
    let p = provider_answering(|| aws_error(400, "ThrottlingException", "Rate exceeded")).await;
    let err = create_cluster(&p).await;
    assert!(err.retryable, "{err}");
    assert!(
        err.to_string()
            .contains("ThrottlingException: Rate exceeded")
    );

    let p = provider_answering(|| aws_error(503, "ServiceUnavailableException", "try later")).await;
    assert!(create_cluster(&p).await.retryable);
}

#[tokio::test]
async fn not_found_on_read_is_absence_not_an_error() {
    let p = provider_answering(|| {
        aws_error(
            404,
            "ResourceNotFoundException",
            "No cluster found for name: milvus-demo.",
        )
    })
    .await;
    let addr = ResourceAddr::new(ResourceKind::EksCluster, "main");
    let desired = cluster_attrs();
    let seen = p
        .read(ReadRequest {
            addr: &addr,
            mode: ResourceMode::Managed,
            desired: Some(&desired),
            prior: None,
            events: &NoEvents,
        })
        .await
        .unwrap();
    assert!(seen.is_none());
}

#[tokio::test]
async fn a_role_iam_has_not_propagated_yet_is_tried_again_until_eks_accepts_it() {
    use aws_sdk_eks::operation::create_cluster::CreateClusterOutput;
    use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
    use aws_sdk_eks::types::{Cluster, ClusterStatus};

    let refused = mock!(aws_sdk_eks::Client::create_cluster).then_http_response(|| {
        aws_error(
            400,
            "InvalidParameterException",
            "Role with arn: arn:aws:iam::123456789012:role/milvus-demo-cluster, could not be \
             assumed because it does not exist or the trusted entity is not correct",
        )
    });
    let created = mock!(aws_sdk_eks::Client::create_cluster)
        .then_output(|| CreateClusterOutput::builder().build());
    let describe = mock!(aws_sdk_eks::Client::describe_cluster).then_output(|| {
        DescribeClusterOutput::builder()
            .cluster(
                Cluster::builder()
                    .name("milvus-demo")
                    .status(ClusterStatus::Creating)
                    .build(),
            )
            .build()
    });
    let eks = mock_client!(
        aws_sdk_eks,
        RuleMode::Sequential,
        &[&refused, &created, &describe],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let config = sdk_config();
    let p = AwsProvider::from_sdk_config(&config)
        .with_eks(eks)
        .with_wait(crate::WaitConfig::quick());
    let observed = created_by(&p, ResourceKind::EksCluster, &cluster_attrs())
        .await
        .unwrap();
    assert_eq!(observed.physical_id.as_deref(), Some("milvus-demo"));
    assert_eq!(refused.num_calls(), 1);
    assert_eq!(created.num_calls(), 1);
}

/// An IAM error as the Query protocol sends it (XML, `ErrorResponse`).
fn iam_error(code: &str, message: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        )),
    );
    r.headers_mut()
        .insert("content-type", "text/xml".to_string());
    r
}

/// A role whose trust policy names an OIDC provider made a moment ago:
/// IAM answers "Invalid principal in policy" until the provider has
/// propagated, and the create is tried again rather than failed.
#[tokio::test]
async fn a_trust_policy_naming_a_new_oidc_provider_is_tried_again_until_iam_sees_it() {
    use aws_sdk_iam::operation::create_role::CreateRoleOutput;
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput;
    use aws_sdk_iam::types::Role;

    let role = || {
        Role::builder()
            .path("/")
            .role_name("milvus-s3")
            .role_id("AROA0000000000000000")
            .arn("arn:aws:iam::123456789012:role/milvus-s3")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .assume_role_policy_document("%7B%7D")
            .build()
            .unwrap()
    };
    // Refused once, then created: one rule answering in sequence.
    let create = mock!(aws_sdk_iam::Client::create_role)
        .sequence()
        .http_response(|| {
            iam_error(
                "MalformedPolicyDocument",
                "Invalid principal in policy: \"Federated\":\"arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC\"",
            )
        })
        .output(move || CreateRoleOutput::builder().role(role()).build())
        .build();
    let get = mock!(aws_sdk_iam::Client::get_role)
        .then_output(move || GetRoleOutput::builder().role(role()).build());
    let attached = mock!(aws_sdk_iam::Client::list_attached_role_policies)
        .then_output(|| ListAttachedRolePoliciesOutput::builder().build());
    let tags = mock!(aws_sdk_iam::Client::list_role_tags).then_output(|| {
        ListRoleTagsOutput::builder()
            .set_tags(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let iam = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        &[&create, &get, &attached, &tags],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let config = sdk_config();
    let p = AwsProvider::from_sdk_config(&config)
        .with_iam(iam)
        .with_wait(crate::WaitConfig::quick());
    let desired: Attrs = [
        ("name", Value::string("milvus-s3")),
        (
            "assume_role_policy",
            Value::map([("Version", Value::string("2012-10-17"))]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let observed = created_by(&p, ResourceKind::IamRole, &desired)
        .await
        .unwrap();
    assert_eq!(observed.physical_id.as_deref(), Some("milvus-s3"));
    assert_eq!(create.num_calls(), 2, "refused once, then created");
}

/// A bucket made a moment ago can answer NotFound (S3 is eventually
/// consistent): create waits until HeadBucket sees it before it sets the
/// bucket's configuration, instead of failing on NoSuchBucket.
#[tokio::test]
async fn a_new_bucket_not_visible_yet_is_waited_for_before_it_is_configured() {
    use aws_sdk_s3::operation::create_bucket::CreateBucketOutput;
    use aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput;
    use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput;
    use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
    use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
    use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput;
    use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;

    let created = mock!(aws_sdk_s3::Client::create_bucket)
        .then_output(|| CreateBucketOutput::builder().build());
    // Not there at first, then there for good.
    let head = mock!(aws_sdk_s3::Client::head_bucket)
        .sequence()
        .http_response(|| HttpResponse::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()))
        .output(|| {
            HeadBucketOutput::builder()
                .bucket_region("us-west-2")
                .build()
        })
        .repeatedly()
        .build();
    let versioning = mock!(aws_sdk_s3::Client::get_bucket_versioning)
        .then_output(|| GetBucketVersioningOutput::builder().build());
    let encryption = mock!(aws_sdk_s3::Client::get_bucket_encryption)
        .then_output(|| GetBucketEncryptionOutput::builder().build());
    let pab = mock!(aws_sdk_s3::Client::get_public_access_block)
        .then_output(|| GetPublicAccessBlockOutput::builder().build());
    let tagging = mock!(aws_sdk_s3::Client::get_bucket_tagging).then_output(|| {
        GetBucketTaggingOutput::builder()
            .set_tag_set(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let lifecycle = mock!(aws_sdk_s3::Client::get_bucket_lifecycle_configuration)
        .then_output(|| GetBucketLifecycleConfigurationOutput::builder().build());
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        &[
            &created,
            &head,
            &versioning,
            &encryption,
            &pab,
            &tagging,
            &lifecycle
        ],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let p = AwsProvider::from_sdk_config(&sdk_config())
        .with_s3(s3)
        .with_wait(crate::WaitConfig::quick());
    let desired: Attrs = [("bucket".to_string(), Value::string("acme-milvus"))].into();
    let observed = created_by(&p, ResourceKind::S3Bucket, &desired)
        .await
        .unwrap();
    assert_eq!(observed.physical_id.as_deref(), Some("acme-milvus"));
    assert!(
        head.num_calls() >= 3,
        "not found once, then seen: {}",
        head.num_calls()
    );
}
