//! EKS rules the emulator adds to moto (`tests/harness/moto_ext/eks.py`)
//! that node group replacement and retried creates depend on, driven
//! through the real Rust SDK and asserted by the AWS error code it reads.
//!
//! Sources, cited per test:
//! - [model] the botocore `eks` service model (1.44.8) documentation
//!   strings: `clientRequestToken` "A unique, case-sensitive identifier that
//!   you provide to ensure the idempotency of the request."; UpdateClusterVersion
//!   "all of your node groups' Kubernetes versions must match the cluster's
//!   Kubernetes version in order to update the cluster to a new Kubernetes
//!   version."
//! - [tf-19478] AWS's answer to an upgrade with a node group behind, as
//!   quoted in hashicorp/terraform-provider-aws#19478.
//!
//! The blue/green naming of a replacement node group (`<name>-<6 hex>`
//! while the old one holds the name) is the AWS provider's, tested in
//! `crates/stackplan-aws/src/eks/nodegroup.rs`; what it relies on here is
//! that two node groups of different names live side by side and a taken
//! name is refused.
//!
//! All tests share one emulator set and name what they create with
//! `unique_name`, so they run in parallel.

mod common;

use std::fmt::Debug;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use stackplan_testkit::{Emulators, unique_name};

use common::{subnet, vpc};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["eks.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;

fn emulators() -> &'static Emulators {
    Emulators::shared().expect("emulators (run `just emulators-install` once)")
}

struct Cluster {
    eks: aws_sdk_eks::Client,
    name: String,
    role: String,
    subnets: Vec<String>,
}

/// A 1.30 cluster in a fresh VPC with two subnets in two AZs (EKS's
/// minimum), and a role its node groups can use.
async fn cluster() -> Cluster {
    let sdk = emulators().aws_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let eks = aws_sdk_eks::Client::new(&sdk);
    let vpc = vpc(&ec2, "10.78.0.0/16").await;
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        subnets.push(subnet(&ec2, &vpc, &format!("10.78.{i}.0/24"), az).await);
    }
    let role = iam
        .create_role()
        .role_name(unique_name("eks"))
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("CreateRole")
        .role
        .expect("role")
        .arn;
    let name = unique_name("ng");
    create_cluster(&eks, &name, &role, &subnets, "first")
        .await
        .expect("CreateCluster");
    Cluster {
        eks,
        name,
        role,
        subnets,
    }
}

async fn create_cluster(
    eks: &aws_sdk_eks::Client,
    name: &str,
    role: &str,
    subnets: &[String],
    token: &str,
) -> Result<
    aws_sdk_eks::operation::create_cluster::CreateClusterOutput,
    aws_sdk_eks::error::SdkError<aws_sdk_eks::operation::create_cluster::CreateClusterError>,
> {
    eks.create_cluster()
        .name(name)
        .version("1.30")
        .role_arn(role)
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets.to_vec()))
                .build(),
        )
        .client_request_token(token)
        .send()
        .await
}

impl Cluster {
    /// CreateNodegroup of `name` with `instance` and the client token
    /// `token`; answers the node group's ARN.
    async fn create_nodegroup(
        &self,
        name: &str,
        instance: &str,
        token: &str,
    ) -> Result<
        String,
        aws_sdk_eks::error::SdkError<
            aws_sdk_eks::operation::create_nodegroup::CreateNodegroupError,
        >,
    > {
        let out = self
            .eks
            .create_nodegroup()
            .cluster_name(&self.name)
            .nodegroup_name(name)
            .node_role(&self.role)
            .set_subnets(Some(self.subnets.clone()))
            .instance_types(instance)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .desired_size(2)
                    .max_size(3)
                    .build(),
            )
            .client_request_token(token)
            .send()
            .await?;
        Ok(out
            .nodegroup
            .and_then(|n| n.nodegroup_arn)
            .expect("nodegroup ARN"))
    }

    async fn nodegroups(&self) -> Vec<String> {
        let mut names = self
            .eks
            .list_nodegroups()
            .cluster_name(&self.name)
            .send()
            .await
            .expect("ListNodegroups")
            .nodegroups
            .unwrap_or_default();
        names.sort();
        names
    }

    async fn upgrade(
        &self,
        version: &str,
    ) -> Result<
        aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput,
        aws_sdk_eks::error::SdkError<
            aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionError,
        >,
    > {
        self.eks
            .update_cluster_version()
            .name(&self.name)
            .version(version)
            .send()
            .await
    }
}

/// The AWS error code and message of a failed call.
fn error<T: Debug, E: ProvideErrorMetadata + Debug>(result: Result<T, E>) -> (String, String) {
    let err = result.expect_err("the call should have failed");
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

/// A replacement next to the node group it replaces: EKS refuses a second
/// node group of a name in a cluster ([model] CreateNodegroup errors:
/// ResourceInUseException), so the new copy takes another name, lives
/// beside the old one, and the old one goes after.
#[tokio::test]
async fn a_replacement_node_group_lives_beside_the_old_one_under_another_name() {
    let c = cluster().await;
    c.create_nodegroup("workers", "m6i.xlarge", "old")
        .await
        .expect("the first node group");

    let (code, message) = error(c.create_nodegroup("workers", "m6i.2xlarge", "new").await);
    assert_eq!(code, "ResourceInUseException", "{message}");
    assert!(message.contains("workers"), "{message}");

    c.create_nodegroup("workers-0fc04d", "m6i.2xlarge", "new")
        .await
        .expect("the new copy beside the old one");
    assert_eq!(c.nodegroups().await, ["workers", "workers-0fc04d"]);

    c.eks
        .delete_nodegroup()
        .cluster_name(&c.name)
        .nodegroup_name("workers")
        .send()
        .await
        .expect("DeleteNodegroup of the old copy");
    assert_eq!(c.nodegroups().await, ["workers-0fc04d"]);
    // Its name is free again.
    c.create_nodegroup("workers", "m6i.2xlarge", "again")
        .await
        .expect("the stack's own name, free again");
}

/// [model] clientRequestToken: a create repeated with its token and the
/// same parameters (what the SDK sends when it retries after a lost
/// answer) answers what the first one made; another token for a name in
/// use is refused as before.
#[tokio::test]
async fn a_create_nodegroup_repeated_with_its_token_answers_the_node_group_it_made() {
    let c = cluster().await;
    let first = c
        .create_nodegroup("workers", "m6i.xlarge", "token-1")
        .await
        .expect("CreateNodegroup");
    let again = c
        .create_nodegroup("workers", "m6i.xlarge", "token-1")
        .await
        .expect("the same request again");
    assert_eq!(again, first);
    assert_eq!(c.nodegroups().await, ["workers"]);

    let (code, _) = error(c.create_nodegroup("workers", "m6i.xlarge", "token-2").await);
    assert_eq!(code, "ResourceInUseException");
    // The same token with other parameters is not a retry of that request.
    let (code, _) = error(c.create_nodegroup("workers", "r6i.xlarge", "token-1").await);
    assert_eq!(code, "ResourceInUseException");
}

/// [model] clientRequestToken, CreateCluster.
#[tokio::test]
async fn a_create_cluster_repeated_with_its_token_answers_the_cluster_it_made() {
    let c = cluster().await;
    let again = create_cluster(&c.eks, &c.name, &c.role, &c.subnets, "first")
        .await
        .expect("the same request again");
    let arn = c
        .eks
        .describe_cluster()
        .name(&c.name)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster
        .and_then(|c| c.arn);
    assert_eq!(again.cluster.and_then(|c| c.arn), arn);

    let (code, message) =
        error(create_cluster(&c.eks, &c.name, &c.role, &c.subnets, "other").await);
    assert_eq!(code, "ResourceInUseException", "{message}");
    let (code, _) = error(create_cluster(&c.eks, &c.name, &c.role, &c.subnets[..1], "first").await);
    assert_eq!(code, "ResourceInUseException");
}

/// [model] clientRequestToken, CreateAddon.
#[tokio::test]
async fn a_create_addon_repeated_with_its_token_answers_the_addon_it_made() {
    let c = cluster().await;
    let create = |token: &'static str| {
        c.eks
            .create_addon()
            .cluster_name(&c.name)
            .addon_name("vpc-cni")
            .client_request_token(token)
            .send()
    };
    let first = create("token-1").await.expect("CreateAddon");
    let again = create("token-1").await.expect("the same request again");
    assert_eq!(
        again.addon.and_then(|a| a.addon_arn),
        first.addon.and_then(|a| a.addon_arn)
    );
    let (code, _) = error(create("token-2").await);
    assert_eq!(code, "ResourceInUseException");
}

/// [model] UpdateClusterVersion: every managed node group must run the
/// cluster's version before the cluster moves on; [tf-19478] AWS's answer.
#[tokio::test]
async fn update_cluster_version_is_refused_while_a_node_group_runs_an_older_version() {
    let c = cluster().await;
    c.create_nodegroup("workers", "m6i.xlarge", "t")
        .await
        .expect("CreateNodegroup");
    c.upgrade("1.31")
        .await
        .expect("1.30 -> 1.31: node group at 1.30");

    let (code, message) = error(c.upgrade("1.32").await);
    assert_eq!(code, "InvalidRequestException", "{message}");
    assert_eq!(
        message,
        "Nodegroups workers must be updated to match cluster version 1.31 before updating \
         cluster version"
    );

    c.eks
        .update_nodegroup_version()
        .cluster_name(&c.name)
        .nodegroup_name("workers")
        .send()
        .await
        .expect("UpdateNodegroupVersion to the cluster's");
    c.upgrade("1.32")
        .await
        .expect("1.31 -> 1.32 once it caught up");
}

/// A read of a node group without state lists the cluster's node groups
/// (for a replacement copy); before the cluster exists EKS answers
/// ResourceNotFoundException ([model] ListNodegroups errors), which the
/// read takes as nothing there (moto answered HTTP 500).
#[tokio::test]
async fn list_nodegroups_of_a_cluster_that_does_not_exist_is_not_found() {
    let sdk = emulators().aws_config().await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let (code, _) = error(
        eks.list_nodegroups()
            .cluster_name(unique_name("absent"))
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
}
