//! The EKS access-entry operations the emulator adds to moto
//! (`tests/harness/moto_ext/eks.py`), driven through the real Rust SDK, and
//! the rules EKS enforces on them, each asserted by the AWS error code the
//! SDK reads from the response.
//!
//! Sources, cited per test:
//! - [ug-create] EKS user guide, "Create access entries"
//! - [ug-assoc] EKS user guide, "Associate access policies with access entries"
//! - [ug-mode] EKS user guide, "Change authentication mode to use access entries"
//! - [ug-ref] EKS user guide, "Review access policy permissions"
//! - [ug-legacy] EKS user guide, "Manage access entries" (the creator's entry)
//! - [model] the botocore `eks` service model's documentation strings
//!
//! All tests share one emulator set and name what they create with
//! `unique_name`, so they run in parallel.

mod common;

use std::fmt::Debug;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, CreateAccessConfigRequest,
    UpdateAccessConfigRequest, VpcConfigRequest,
};
use stackplan_testkit::{Emulators, unique_name};

use common::{subnet, vpc};

const ACCOUNT: &str = "123456789012";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
const CLUSTER_ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
/// The IAM principal behind the tests' credentials: moto's STS answers
/// GetCallerIdentity with `arn:aws:sts::123456789012:user/moto` for keys it
/// did not issue, the user `moto`.
const CREATOR: &str = "arn:aws:iam::123456789012:user/moto";

const EKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn emulators() -> &'static Emulators {
    Emulators::shared().expect("emulators (run `just emulators-install` once)")
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    eks: aws_sdk_eks::Client,
}

async fn clients() -> Clients {
    let sdk = emulators().aws_config().await;
    Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        iam: aws_sdk_iam::Client::new(&sdk),
        eks: aws_sdk_eks::Client::new(&sdk),
    }
}

/// An IAM role named `name` under `path`; returns its ARN.
async fn role(iam: &aws_sdk_iam::Client, path: &str, name: &str) -> String {
    iam.create_role()
        .path(path)
        .role_name(name)
        .assume_role_policy_document(EKS_TRUST)
        .send()
        .await
        .expect("CreateRole")
        .role
        .expect("role")
        .arn
}

/// A cluster in a fresh VPC with two subnets in two AZs (EKS's minimum);
/// `access` is its accessConfig, or none for the API default.
async fn cluster(c: &Clients, access: Option<(AuthenticationMode, bool)>) -> String {
    let vpc = vpc(&c.ec2, "10.77.0.0/16").await;
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        subnets.push(subnet(&c.ec2, &vpc, &format!("10.77.{i}.0/24"), az).await);
    }
    let cluster_role = role(&c.iam, "/", &unique_name("eks")).await;
    let name = unique_name("access");
    c.eks
        .create_cluster()
        .name(&name)
        .version("1.30")
        .role_arn(cluster_role)
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets))
                .build(),
        )
        .set_access_config(access.map(|(mode, bootstrap)| {
            CreateAccessConfigRequest::builder()
                .authentication_mode(mode)
                .bootstrap_cluster_creator_admin_permissions(bootstrap)
                .build()
        }))
        .send()
        .await
        .expect("CreateCluster");
    name
}

/// A cluster with access entries and no creator entry, so tests see only
/// their own.
async fn api_cluster(c: &Clients) -> String {
    cluster(c, Some((AuthenticationMode::Api, false))).await
}

/// The AWS error code and message of a failed call.
fn error<T: Debug, E: ProvideErrorMetadata + Debug>(result: Result<T, E>) -> (String, String) {
    let err = result.expect_err("the call should have failed");
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

fn scope(namespaces: &[&str]) -> AccessScope {
    if namespaces.is_empty() {
        AccessScope::builder()
            .r#type(AccessScopeType::Cluster)
            .build()
    } else {
        AccessScope::builder()
            .r#type(AccessScopeType::Namespace)
            .set_namespaces(Some(namespaces.iter().map(|n| n.to_string()).collect()))
            .build()
    }
}

async fn entries(eks: &aws_sdk_eks::Client, cluster: &str) -> Vec<String> {
    eks.list_access_entries()
        .cluster_name(cluster)
        .send()
        .await
        .expect("ListAccessEntries")
        .access_entries
        .unwrap_or_default()
}

/// [ug-create], [ug-assoc]: an entry is created (STANDARD by default, with
/// the username EKS generates for a role), a policy is associated with a
/// namespace scope, associating it again with the cluster scope replaces
/// the scope ("run the previous command again with the new scope"), and
/// disassociating and deleting leave nothing behind.
#[tokio::test]
async fn access_entry_lifecycle_rescopes_a_policy_in_place() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let role_name = unique_name("dev");
    let principal = role(&c.iam, "/", &role_name).await;

    let created = c
        .eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .kubernetes_groups("viewers")
        .tags("team", "data")
        .send()
        .await
        .expect("CreateAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(created.r#type(), Some("STANDARD"));
    assert_eq!(created.kubernetes_groups(), ["viewers"]);
    // [ug-create], the username table: a role's is its assumed-role ARN.
    assert_eq!(
        created.username(),
        Some(
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{{{{SessionName}}}}").as_str()
        )
    );
    let arn = created.access_entry_arn().expect("accessEntryArn");
    let prefix = format!(
        "arn:aws:eks:us-west-2:{ACCOUNT}:access-entry/{cluster}/role/{ACCOUNT}/{role_name}/"
    );
    assert!(arn.starts_with(&prefix), "{arn}");

    let associated = c
        .eks
        .associate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(VIEW)
        .access_scope(scope(&["milvus", "dev-*"]))
        .send()
        .await
        .expect("AssociateAccessPolicy");
    assert_eq!(associated.cluster_name(), Some(cluster.as_str()));
    assert_eq!(associated.principal_arn(), Some(principal.as_str()));
    let first = associated.associated_access_policy().expect("association");
    assert_eq!(
        first.access_scope().and_then(|s| s.r#type()),
        Some(&AccessScopeType::Namespace)
    );

    assert_eq!(entries(&c.eks, &cluster).await, [principal.as_str()]);
    let with_view = c
        .eks
        .list_access_entries()
        .cluster_name(&cluster)
        .associated_policy_arn(VIEW)
        .send()
        .await
        .expect("ListAccessEntries by policy");
    assert_eq!(with_view.access_entries(), [principal.as_str()]);
    let with_edit = c
        .eks
        .list_access_entries()
        .cluster_name(&cluster)
        .associated_policy_arn(EDIT)
        .send()
        .await
        .expect("ListAccessEntries by policy");
    assert!(with_edit.access_entries().is_empty());

    let listed = c
        .eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("ListAssociatedAccessPolicies");
    let policies = listed.associated_access_policies();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].policy_arn(), Some(VIEW));
    let namespaces = policies[0].access_scope().map(|s| s.namespaces().to_vec());
    assert_eq!(
        namespaces,
        Some(vec!["milvus".to_string(), "dev-*".to_string()])
    );

    // Associating the same policy again replaces its scope.
    c.eks
        .associate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(VIEW)
        .access_scope(scope(&[]))
        .send()
        .await
        .expect("AssociateAccessPolicy again");
    let listed = c
        .eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("ListAssociatedAccessPolicies");
    let policies = listed.associated_access_policies();
    assert_eq!(policies.len(), 1, "{policies:?}");
    let rescoped = policies[0].access_scope().expect("scope");
    assert_eq!(rescoped.r#type(), Some(&AccessScopeType::Cluster));
    assert!(rescoped.namespaces().is_empty());
    assert_eq!(policies[0].associated_at(), first.associated_at());

    // UpdateAccessEntry replaces the groups.
    let updated = c
        .eks
        .update_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .kubernetes_groups("editors")
        .send()
        .await
        .expect("UpdateAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(updated.kubernetes_groups(), ["editors"]);

    c.eks
        .disassociate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(VIEW)
        .send()
        .await
        .expect("DisassociateAccessPolicy");
    let listed = c
        .eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("ListAssociatedAccessPolicies");
    assert!(listed.associated_access_policies().is_empty());

    c.eks
        .delete_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("DeleteAccessEntry");
    assert!(entries(&c.eks, &cluster).await.is_empty());
    let (code, _) = error(
        c.eks
            .describe_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
}

/// The SDK percent-encodes the principal ARN's `:` and `/` in the path; a
/// role with a path ([ug-create]: "If the ARN is for an IAM role, it can
/// include a path") and a policy ARN as a path label come back intact.
#[tokio::test]
async fn a_percent_encoded_principal_with_a_path_round_trips() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let role_name = unique_name("app");
    let principal = role(&c.iam, "/development/apps/", &role_name).await;
    assert_eq!(
        principal,
        format!("arn:aws:iam::{ACCOUNT}:role/development/apps/{role_name}")
    );

    c.eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("CreateAccessEntry");
    let described = c
        .eks
        .describe_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("DescribeAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(described.principal_arn(), Some(principal.as_str()));
    assert_eq!(described.cluster_name(), Some(cluster.as_str()));
    // [ug-create]: "If the ARN of the role that you specified contained a
    // path, Amazon EKS removes it in the generated username."
    assert_eq!(
        described.username(),
        Some(
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{{{{SessionName}}}}").as_str()
        )
    );

    c.eks
        .associate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(EDIT)
        .access_scope(scope(&["milvus"]))
        .send()
        .await
        .expect("AssociateAccessPolicy");
    let listed = c
        .eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("ListAssociatedAccessPolicies");
    assert_eq!(listed.principal_arn(), Some(principal.as_str()));
    assert_eq!(
        listed.associated_access_policies()[0].policy_arn(),
        Some(EDIT)
    );
    c.eks
        .disassociate_access_policy()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .policy_arn(EDIT)
        .send()
        .await
        .expect("DisassociateAccessPolicy");
    c.eks
        .delete_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("DeleteAccessEntry");
    assert!(entries(&c.eks, &cluster).await.is_empty());
}

/// [ug-mode]: "To begin using access entries, you must change the
/// authentication mode of the cluster to either the API_AND_CONFIG_MAP or
/// API modes." The message is EKS's, quoted in
/// terraform-aws-modules/terraform-aws-eks#3048.
#[tokio::test]
async fn access_entries_are_refused_on_a_config_map_cluster() {
    let c = clients().await;
    // [model] CreateAccessConfigRequest: through the API the mode defaults to CONFIG_MAP.
    let cluster = cluster(&c, None).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    let refused = [
        error(
            c.eks
                .create_access_entry()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .send()
                .await,
        ),
        error(
            c.eks
                .list_access_entries()
                .cluster_name(&cluster)
                .send()
                .await,
        ),
        error(
            c.eks
                .describe_access_entry()
                .cluster_name(&cluster)
                .principal_arn(CREATOR)
                .send()
                .await,
        ),
        error(
            c.eks
                .associate_access_policy()
                .cluster_name(&cluster)
                .principal_arn(CREATOR)
                .policy_arn(VIEW)
                .access_scope(scope(&[]))
                .send()
                .await,
        ),
    ];
    for (code, message) in refused {
        assert_eq!(code, "InvalidRequestException");
        assert_eq!(
            message,
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."
        );
    }
}

/// [model] bootstrapClusterCreatorAdminPermissions: "whether or not the
/// cluster creator IAM principal was set as a cluster admin access entry
/// during cluster creation time. The default value is true." The entry is
/// the caller's IAM identity with AmazonEKSClusterAdminPolicy, cluster-wide.
#[tokio::test]
async fn the_cluster_creator_gets_a_cluster_admin_entry_by_default() {
    let c = clients().await;
    let sdk = emulators().aws_config().await;
    let caller = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    // moto's caller for keys it did not issue; its IAM form is CREATOR.
    assert_eq!(caller.arn(), Some("arn:aws:sts::123456789012:user/moto"));

    let cluster = cluster(&c, Some((AuthenticationMode::ApiAndConfigMap, true))).await;
    assert_eq!(entries(&c.eks, &cluster).await, [CREATOR]);
    let entry = c
        .eks
        .describe_access_entry()
        .cluster_name(&cluster)
        .principal_arn(CREATOR)
        .send()
        .await
        .expect("DescribeAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(entry.r#type(), Some("STANDARD"));
    // [ug-create], the username table: a user's is its ARN.
    assert_eq!(entry.username(), Some(CREATOR));
    let listed = c
        .eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(CREATOR)
        .send()
        .await
        .expect("ListAssociatedAccessPolicies");
    let policies = listed.associated_access_policies();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].policy_arn(), Some(CLUSTER_ADMIN));
    assert_eq!(
        policies[0].access_scope().and_then(|s| s.r#type()),
        Some(&AccessScopeType::Cluster)
    );

    // A second entry for the creator is the ResourceInUseException of
    // terraform-aws-modules/terraform-aws-eks#2911.
    let (code, _) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(CREATOR)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceInUseException");
}

/// [model] bootstrapClusterCreatorAdminPermissions false: no creator entry.
#[tokio::test]
async fn no_creator_entry_without_the_bootstrap() {
    let c = clients().await;
    let cluster = cluster(&c, Some((AuthenticationMode::ApiAndConfigMap, false))).await;
    assert!(entries(&c.eks, &cluster).await.is_empty());
}

/// [ug-legacy]: EKS "creates an access entry with administrator permissions
/// to the cluster for the IAM principal that originally created the
/// cluster", and a CONFIG_MAP cluster (whose creator is always admin)
/// shows it once UpdateClusterConfig enables access entries; that is the
/// ResourceInUseException terraform-aws-eks users met on the creator's
/// entry after moving a cluster off CONFIG_MAP
/// (terraform-aws-modules/terraform-aws-eks#2911).
#[tokio::test]
async fn enabling_access_entries_on_a_config_map_cluster_shows_the_creator_entry() {
    let c = clients().await;
    let cluster = cluster(&c, None).await;
    c.eks
        .update_cluster_config()
        .name(&cluster)
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .expect("UpdateClusterConfig");
    assert_eq!(entries(&c.eks, &cluster).await, [CREATOR]);
}

/// In CONFIG_MAP mode the creator is the only way in: EKS refuses to create
/// such a cluster without the bootstrap, with this message
/// (terraform-aws-modules/terraform-aws-eks#3026, #3270).
#[tokio::test]
async fn a_config_map_cluster_without_the_creator_bootstrap_is_refused() {
    let c = clients().await;
    let cluster_role = role(&c.iam, "/", &unique_name("eks")).await;
    let (code, message) = error(
        c.eks
            .create_cluster()
            .name(unique_name("access"))
            .role_arn(cluster_role)
            .resources_vpc_config(VpcConfigRequest::builder().build())
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::ConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(false)
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        message,
        "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP"
    );
}

/// [model] ResourceNotFoundException: "The specified resource could not be
/// found"; every access-entry operation names a cluster.
#[tokio::test]
async fn an_unknown_cluster_is_not_found() {
    let c = clients().await;
    let missing = unique_name("missing");
    let (code, _) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&missing)
            .principal_arn(CREATOR)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = error(
        c.eks
            .list_access_entries()
            .cluster_name(&missing)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
}

/// An entry that does not exist is not found by describe, update, delete
/// and the policy operations; the message is EKS's, quoted in
/// terraform-aws-modules/terraform-aws-eks#3024 (AssociateAccessPolicy).
#[tokio::test]
async fn an_unknown_entry_is_not_found() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    let missing = [
        error(
            c.eks
                .describe_access_entry()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .send()
                .await,
        ),
        error(
            c.eks
                .update_access_entry()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .kubernetes_groups("viewers")
                .send()
                .await,
        ),
        error(
            c.eks
                .delete_access_entry()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .send()
                .await,
        ),
        error(
            c.eks
                .associate_access_policy()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .policy_arn(VIEW)
                .access_scope(scope(&[]))
                .send()
                .await,
        ),
        error(
            c.eks
                .list_associated_access_policies()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .send()
                .await,
        ),
    ];
    for (code, message) in missing {
        assert_eq!(code, "ResourceNotFoundException");
        assert_eq!(
            message,
            "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'."
        );
    }
}

/// [ug-create]: "An IAM principal can't be included in more than one access
/// entry." The 409 and its message are EKS's, quoted in
/// terraform-aws-modules/terraform-aws-eks#2968.
#[tokio::test]
async fn a_second_entry_for_a_principal_is_in_use() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    let create = || {
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal)
            .send()
    };
    create().await.expect("CreateAccessEntry");
    let (code, message) = error(create().await);
    assert_eq!(code, "ResourceInUseException");
    assert_eq!(
        message,
        "The specified access entry resource is already in use on this cluster."
    );
}

/// [model] principalArn: "You can't use the STS session principal type with
/// access entries". The message is EKS's for an assumed-role ARN, quoted in
/// aws-samples/appmod-blueprints#319.
#[tokio::test]
async fn an_sts_assumed_role_arn_is_refused() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let role_name = unique_name("dev");
    role(&c.iam, "/", &role_name).await;
    let (code, message) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/session"
            ))
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(message, "The principalArn parameter format is not valid");
}

/// [ug-create]: an access entry holds "the ARN of one, and only one,
/// existing IAM principal". EKS refuses a role ARN naming no role (one
/// missing its path) with this message
/// (terraform-aws-modules/terraform-aws-eks#2969).
#[tokio::test]
async fn a_role_that_does_not_exist_is_refused() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let role_name = unique_name("app");
    role(&c.iam, "/development/", &role_name).await;
    let (code, message) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(format!("arn:aws:iam::{ACCOUNT}:role/{role_name}"))
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        message,
        "The specified principalArn is invalid: invalid principal."
    );
}

/// Kubernetes reserves `system:`; EKS refuses such group names on create and
/// on update with this message (terraform-aws-modules/terraform-aws-eks#2915,
/// aws/karpenter-provider-aws#7558 for UpdateAccessEntry).
#[tokio::test]
async fn kubernetes_groups_cannot_start_with_system() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    let (code, message) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal)
            .kubernetes_groups("system:masters")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        message,
        "The kubernetes group name system:masters is invalid, it cannot start with system:"
    );
    c.eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("CreateAccessEntry");
    let (code, _) = error(
        c.eks
            .update_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal)
            .kubernetes_groups("system:bootstrappers")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
}

/// [ug-create]: a username of one's own "can't start with system:, eks:,
/// aws:, amazon:, or iam:".
#[tokio::test]
async fn a_username_cannot_take_a_reserved_prefix() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    for username in ["system:admin", "eks:me", "aws:me", "amazon:me", "iam:me"] {
        let (code, _) = error(
            c.eks
                .create_access_entry()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .username(username)
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException", "{username}");
    }
    let entry = c
        .eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .username("ci-plan")
        .send()
        .await
        .expect("CreateAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(entry.username(), Some("ci-plan"));
}

/// [model] type: "If you set the value to EC2_LINUX or EC2_WINDOWS, you
/// can't specify values for kubernetesGroups, or associate an AccessPolicy";
/// for node types "the only valid ARN is IAM roles". The STANDARD-only
/// message is EKS's (aws-controllers-k8s/community#2144, on
/// ListAssociatedAccessPolicies for a node entry). Types are case-sensitive
/// (aws/aws-cdk#31146: "Standard" is refused).
#[tokio::test]
async fn node_entries_take_no_groups_and_no_policies() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let node_role = role(&c.iam, "/", &unique_name("node")).await;

    let (code, _) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&node_role)
            .r#type("EC2_LINUX")
            .kubernetes_groups("nodes")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    let (code, _) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(CREATOR)
            .r#type("EC2_LINUX")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException", "a user is no node role");
    let (code, _) = error(
        c.eks
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&node_role)
            .r#type("Standard")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");

    let entry = c
        .eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&node_role)
        .r#type("EC2_LINUX")
        .send()
        .await
        .expect("CreateAccessEntry EC2_LINUX")
        .access_entry
        .expect("accessEntry");
    // [ug-create], the username table.
    assert_eq!(entry.username(), Some("system:node:{{EC2PrivateDNSName}}"));
    assert_eq!(entry.r#type(), Some("EC2_LINUX"));

    let standard_only =
        "This operation can only be performed on Access Entries with a type of \"STANDARD\".";
    let (code, message) = error(
        c.eks
            .associate_access_policy()
            .cluster_name(&cluster)
            .principal_arn(&node_role)
            .policy_arn(VIEW)
            .access_scope(scope(&[]))
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(message, standard_only);
    let (code, message) = error(
        c.eks
            .list_associated_access_policies()
            .cluster_name(&cluster)
            .principal_arn(&node_role)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(message, standard_only);
}

/// [ug-ref]: "You can't create your own access policies"; [model] policyArn:
/// "For a list of ARNs, use ListAccessPolicies". An IAM policy ARN or a
/// name EKS does not publish is refused.
#[tokio::test]
async fn only_eks_access_policies_can_be_associated() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    c.eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("CreateAccessEntry");
    for policy in [
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSSuperUserPolicy",
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
    ] {
        let (code, _) = error(
            c.eks
                .associate_access_policy()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .policy_arn(policy)
                .access_scope(scope(&[]))
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException", "{policy}");
    }
}

/// [model] AccessScope.namespaces: "A value is required if you specified
/// namespace for Type"; a cluster scope names no namespaces.
#[tokio::test]
async fn an_access_scope_must_match_its_type() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    c.eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("CreateAccessEntry");
    let bad = [
        AccessScope::builder()
            .r#type(AccessScopeType::Namespace)
            .build(),
        AccessScope::builder()
            .r#type(AccessScopeType::Cluster)
            .namespaces("milvus")
            .build(),
    ];
    for access_scope in bad {
        let (code, _) = error(
            c.eks
                .associate_access_policy()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .policy_arn(VIEW)
                .access_scope(access_scope.clone())
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException", "{access_scope:?}");
    }
}

/// [ug-assoc], [ug-ref]: the catalogue `list-access-policies` shows, with
/// ARNs `arn:aws:eks::aws:cluster-access-policy/<Name>`.
#[tokio::test]
async fn list_access_policies_shows_the_eks_catalogue() {
    let c = clients().await;
    let mut policies = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .eks
            .list_access_policies()
            .max_results(5)
            .set_next_token(token.take())
            .send()
            .await
            .expect("ListAccessPolicies");
        policies.extend(page.access_policies().iter().map(|p| {
            (
                p.name().unwrap_or_default().to_string(),
                p.arn().unwrap_or_default().to_string(),
            )
        }));
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    for name in [
        "AmazonEKSClusterAdminPolicy",
        "AmazonEKSAdminPolicy",
        "AmazonEKSAdminViewPolicy",
        "AmazonEKSEditPolicy",
        "AmazonEKSViewPolicy",
    ] {
        let arn = format!("arn:aws:eks::aws:cluster-access-policy/{name}");
        assert!(
            policies.contains(&(name.to_string(), arn)),
            "{name} missing from {policies:?}"
        );
    }
}

/// Deleting a cluster deletes its access entries: a cluster created again
/// under the same name starts with none.
#[tokio::test]
async fn deleting_a_cluster_deletes_its_access_entries() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    c.eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("CreateAccessEntry");
    let described = c
        .eks
        .describe_cluster()
        .name(&cluster)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster
        .expect("cluster");
    c.eks
        .delete_cluster()
        .name(&cluster)
        .send()
        .await
        .expect("DeleteCluster");
    let (code, _) = error(
        c.eks
            .list_access_entries()
            .cluster_name(&cluster)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");

    let vpc = described.resources_vpc_config().expect("vpc config");
    c.eks
        .create_cluster()
        .name(&cluster)
        .role_arn(described.role_arn().expect("role"))
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .set_subnet_ids(Some(vpc.subnet_ids().to_vec()))
                .build(),
        )
        .access_config(
            CreateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::Api)
                .bootstrap_cluster_creator_admin_permissions(false)
                .build(),
        )
        .send()
        .await
        .expect("CreateCluster again");
    assert!(entries(&c.eks, &cluster).await.is_empty());
}

/// [model] CreateAccessEntry tags, and TagResource / UntagResource /
/// ListTagsForResource on the entry's ARN
/// (`arn:aws:eks:<region>:<account>:access-entry/...`), a path label with
/// `/`s in it.
#[tokio::test]
async fn access_entries_are_tagged_by_arn() {
    let c = clients().await;
    let cluster = api_cluster(&c).await;
    let principal = role(&c.iam, "/", &unique_name("dev")).await;
    let arn = c
        .eks
        .create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .tags("team", "data")
        .tags("env", "ci")
        .send()
        .await
        .expect("CreateAccessEntry")
        .access_entry
        .and_then(|e| e.access_entry_arn)
        .expect("accessEntryArn");
    c.eks
        .tag_resource()
        .resource_arn(&arn)
        .tags("owner", "stackplan")
        .send()
        .await
        .expect("TagResource");
    c.eks
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("env")
        .send()
        .await
        .expect("UntagResource");
    let tags = c
        .eks
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("ListTagsForResource")
        .tags
        .unwrap_or_default();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags.get("owner").map(String::as_str), Some("stackplan"));
    let described = c
        .eks
        .describe_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await
        .expect("DescribeAccessEntry")
        .access_entry
        .expect("accessEntry");
    assert_eq!(described.tags().map(|t| t.len()), Some(1));
}
