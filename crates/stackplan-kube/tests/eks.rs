//! The EKS target before and after its cluster exists, with the cluster
//! looked up through `DescribeCluster` on the harness's moto.

mod common;

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::emulators;
use stackplan_core::{
    ApplyRequest, NoEvents, Provider, ReadRequest, Resource, ResourceKind, ResourceMode,
};
use stackplan_kube::{ClusterLocator, DescribeCluster, EksTarget, KubeProvider, KubeTarget};
use stackplan_testkit::unique_name;

async fn eks_client() -> aws_sdk_eks::Client {
    aws_sdk_eks::Client::new(&emulators().aws_config().await)
}

fn provider(client: aws_sdk_eks::Client, cluster: &str) -> KubeProvider {
    KubeProvider::new(KubeTarget::Eks(EksTarget {
        cluster: cluster.to_string(),
        region: "us-west-2".into(),
        credentials: SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )),
        locator: Arc::new(DescribeCluster {
            client,
            cluster: cluster.to_string(),
        }),
    }))
}

#[tokio::test]
async fn before_the_cluster_exists_reads_find_nothing_and_writes_say_why() {
    let cluster = unique_name("eks");
    let provider = provider(eks_client().await, &cluster);
    let ns = Resource::managed(ResourceKind::K8sNamespace, "milvus").attr("name", "milvus");
    let found = provider
        .read(ReadRequest {
            addr: &ns.addr,
            mode: ResourceMode::Managed,
            desired: Some(&ns.attrs),
            prior: None,
            events: &NoEvents,
        })
        .await
        .expect("a read before the cluster exists is not an error");
    assert!(found.is_none());
    let err = provider
        .create(ApplyRequest {
            addr: &ns.addr,
            desired: &ns.attrs,
            prior: None,
            field_diffs: &[],
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(
        err.message.contains(&cluster) && err.message.contains("does not exist yet"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn for_eks_reads_nothing_until_its_cluster_exists() {
    let cluster = unique_name("eks");
    let sdk = emulators().aws_config().await;
    let provider = KubeProvider::for_eks(
        &cluster,
        sdk.region().unwrap().as_ref(),
        sdk.credentials_provider().unwrap(),
        aws_sdk_eks::Client::new(&sdk),
    );
    let ns = Resource::managed(ResourceKind::K8sNamespace, "milvus").attr("name", "milvus");
    let found = provider
        .read(ReadRequest {
            addr: &ns.addr,
            mode: ResourceMode::Managed,
            desired: Some(&ns.attrs),
            prior: None,
            events: &NoEvents,
        })
        .await
        .unwrap();
    assert!(found.is_none(), "no cluster yet");
}

#[tokio::test]
async fn describe_cluster_finds_the_endpoint_and_ca_once_the_cluster_exists() {
    let client = eks_client().await;
    let cluster = unique_name("eks");
    let locator = DescribeCluster {
        client: client.clone(),
        cluster: cluster.clone(),
    };
    assert_eq!(locator.locate().await.unwrap(), None);
    client
        .create_cluster()
        .name(&cluster)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        // moto checks subnets only when some are given.
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
        .send()
        .await
        .unwrap();
    let found = locator
        .locate()
        .await
        .unwrap()
        .expect("the cluster's endpoint");
    assert!(found.endpoint.starts_with("https://"), "{found:?}");
    assert!(!found.certificate_authority.is_empty());
    client.delete_cluster().name(&cluster).send().await.unwrap();
}

/// Stands in for `DescribeCluster`: the harness apiserver's endpoint and
/// CA, in the form EKS returns them (base64 PEM).
struct HarnessEndpoint(stackplan_kube::ClusterEndpoint);

impl ClusterLocator for HarnessEndpoint {
    fn locate(
        &self,
    ) -> stackplan_core::BoxFuture<
        '_,
        Result<Option<stackplan_kube::ClusterEndpoint>, stackplan_kube::KubeError>,
    > {
        Box::pin(async move { Ok(Some(self.0.clone())) })
    }
}

#[tokio::test]
async fn eks_client_trusts_the_cluster_ca_and_presents_an_eks_token() {
    let kubeconfig = kube::config::Kubeconfig::read_from(emulators().kubeconfig()).unwrap();
    let cluster = kubeconfig.clusters[0].cluster.clone().unwrap();
    let endpoint = stackplan_kube::ClusterEndpoint {
        endpoint: cluster.server.unwrap(),
        certificate_authority: cluster.certificate_authority_data.unwrap(),
    };
    let provider = KubeProvider::new(KubeTarget::Eks(EksTarget {
        cluster: "milvus-demo".into(),
        region: "us-west-2".into(),
        credentials: SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )),
        locator: Arc::new(HarnessEndpoint(endpoint)),
    }));
    let ns = Resource::managed(ResourceKind::K8sNamespace, "default").attr("name", "default");
    let err = provider
        .read(ReadRequest {
            addr: &ns.addr,
            mode: ResourceMode::Managed,
            desired: Some(&ns.attrs),
            prior: None,
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    // TLS succeeded against the CA handed over; the test apiserver knows
    // only its own static token, so the EKS token is refused as such.
    let mut chain = vec![err.message.clone()];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let chain = chain.join(": ");
    assert!(
        chain.contains("Unauthorized") || chain.contains("401"),
        "{chain}"
    );
    // On EKS a 401 means the principal has no access entry: the message
    // says so and names the stack's remedy, not a bare status.
    assert!(
        err.message.contains("has no access entry") && err.message.contains("[[eks.access]]"),
        "{}",
        err.message
    );
}

/// A principal the cluster admits but no role binds (an access entry with
/// too narrow a policy) meets 403: the message names the policy a plan
/// needs. The harness's apiserver authorizes with RBAC and has such a user.
#[tokio::test]
async fn a_principal_without_the_rights_a_plan_needs_is_told_which_policy_to_grant() {
    let e = emulators();
    let viewer = e
        .env_vars()
        .get("STACKPLAN_KUBE_VIEWER_TOKEN")
        .expect("the harness writes a viewer token")
        .clone();
    let mut config = kube::config::Kubeconfig::read_from(e.kubeconfig()).unwrap();
    for user in &mut config.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.token = Some(viewer.clone().into());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, serde_norway::to_string(&config).unwrap()).unwrap();
    let provider = KubeProvider::new(KubeTarget::kubeconfig(path.to_str(), None));
    let ns = Resource::managed(ResourceKind::K8sNamespace, "default").attr("name", "default");
    let err = provider
        .read(ReadRequest {
            addr: &ns.addr,
            mode: ResourceMode::Managed,
            desired: Some(&ns.attrs),
            prior: None,
            events: &NoEvents,
        })
        .await
        .unwrap_err();
    assert!(
        err.message.contains("403 Forbidden") && err.message.contains("admin-view"),
        "{}",
        err.message
    );
}
