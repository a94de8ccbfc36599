//! Proves the emulators stand in for AWS, Kubernetes and helm: through the
//! real AWS SDK crates and the real kube client, every kind of object the
//! stack manages is created and read back, and a fixture chart is installed
//! and upgraded with helm against the real kube-apiserver.
//!
//! All tests share one set of emulators (`Emulators::shared`) and name what
//! they create with `unique_name`, so they run in parallel and against a
//! developer's `just emulators-up` set alike.

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};
use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use aws_sdk_kafka::primitives::Blob;
use aws_sdk_kafka::types::{
    BrokerNodeGroupInfo, ClientAuthentication, ConfigurationInfo, EncryptionInTransit,
    EncryptionInfo, Sasl, Scram,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use stackplan_testkit::{Emulators, fixture_chart, unique_name};

use common::{subnet, vpc};

fn emulators() -> &'static Emulators {
    Emulators::shared().expect("emulators (run `just emulators-install` once)")
}

/// Creates a VPC with one private subnet in each of three AZs, as the
/// reference deployment has; returns (vpc id, subnet ids).
async fn network(ec2: &aws_sdk_ec2::Client) -> (String, Vec<String>) {
    let vpc = vpc(ec2, "10.42.0.0/16").await;
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b", "us-west-2c"]
        .iter()
        .enumerate()
    {
        subnets.push(subnet(ec2, &vpc, &format!("10.42.{i}.0/24"), az).await);
    }
    (vpc, subnets)
}

const EKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

async fn role(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(EKS_TRUST)
        .send()
        .await
        .expect("CreateRole")
        .role
        .expect("role")
        .arn
}

#[tokio::test]
async fn sts_reports_the_caller_identity() {
    let sdk = emulators().aws_config().await;
    let identity = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(identity.account(), Some("123456789012"));
}

#[tokio::test]
async fn ec2_vpc_subnets_and_security_group_rule_round_trip() {
    let sdk = emulators().aws_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (vpc, subnets) = network(&ec2).await;

    let described = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .expect("DescribeSubnets");
    let mut zones: Vec<_> = described
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    assert_eq!(zones, ["us-west-2a", "us-west-2b", "us-west-2c"]);
    assert_eq!(described.subnets().len(), subnets.len());

    // The MSK security group admits the EKS cluster's security group on the
    // SASL/SCRAM port, as the reference deployment requires.
    let mut groups = Vec::new();
    for purpose in ["eks", "msk"] {
        let id = ec2
            .create_security_group()
            .group_name(unique_name(purpose))
            .description(format!("{purpose} test group"))
            .vpc_id(&vpc)
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id
            .expect("group id");
        groups.push(id);
    }
    let (eks_sg, msk_sg) = (&groups[0], &groups[1]);
    ec2.authorize_security_group_ingress()
        .group_id(msk_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(9096)
                .to_port(9096)
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(eks_sg).build())
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress");

    let rules = ec2
        .describe_security_group_rules()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(msk_sg)
                .build(),
        )
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    let ingress = rules
        .security_group_rules()
        .iter()
        .find(|r| r.is_egress() == Some(false))
        .expect("an ingress rule");
    assert_eq!(ingress.from_port(), Some(9096));
    assert_eq!(
        ingress.referenced_group_info().and_then(|g| g.group_id()),
        Some(eks_sg.as_str())
    );
}

#[tokio::test]
async fn iam_role_policy_and_oidc_provider_round_trip() {
    let sdk = emulators().aws_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role_name = unique_name("role");
    let role_arn = role(&iam, &role_name).await;
    assert!(
        role_arn.ends_with(&format!(":role/{role_name}")),
        "{role_arn}"
    );

    // A customer managed policy (the bucket-scoped S3 access stackplan
    // grants) and an AWS managed one (moto loads them: the launcher sets
    // MOTO_IAM_LOAD_MANAGED_POLICIES).
    let policy_arn = iam
        .create_policy()
        .policy_name(unique_name("policy"))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
        )
        .send()
        .await
        .expect("CreatePolicy")
        .policy
        .and_then(|p| p.arn)
        .expect("policy arn");
    for arn in [
        policy_arn.as_str(),
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    ] {
        iam.attach_role_policy()
            .role_name(&role_name)
            .policy_arn(arn)
            .send()
            .await
            .expect("AttachRolePolicy");
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    let mut arns: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    arns.sort();
    let mut expected = [
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        policy_arn.as_str(),
    ];
    expected.sort();
    assert_eq!(arns, expected);

    let issuer = format!(
        "https://oidc.eks.us-west-2.amazonaws.com/id/{}",
        unique_name("x").to_uppercase()
    );
    let provider = iam
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .expect("CreateOpenIDConnectProvider")
        .open_id_connect_provider_arn
        .expect("provider arn");
    // Added to moto by the harness.
    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .client_id("extra-audience")
        .send()
        .await
        .expect("AddClientIDToOpenIDConnectProvider");
    let got = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .send()
        .await
        .expect("GetOpenIDConnectProvider");
    assert_eq!(got.url(), issuer.strip_prefix("https://"));
    assert_eq!(
        got.client_id_list(),
        ["sts.amazonaws.com", "extra-audience"]
    );
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .client_id("extra-audience")
        .send()
        .await
        .expect("RemoveClientIDFromOpenIDConnectProvider");
}

#[tokio::test]
async fn eks_cluster_nodegroup_and_addons_round_trip() {
    let sdk = emulators().aws_config().await;
    let (ec2, iam, eks) = (
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_iam::Client::new(&sdk),
        aws_sdk_eks::Client::new(&sdk),
    );
    let (vpc, subnets) = network(&ec2).await;
    let role_arn = role(&iam, &unique_name("eks")).await;
    let name = unique_name("eks");

    let created = eks
        .create_cluster()
        .name(&name)
        .version("1.30")
        .role_arn(&role_arn)
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets.clone()))
                .endpoint_private_access(true)
                .build(),
        )
        .send()
        .await
        .expect("CreateCluster")
        .cluster
        .expect("cluster");
    assert_eq!(created.version(), Some("1.30"));

    let cluster = eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster
        .expect("cluster");
    let issuer = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .expect("an OIDC issuer");
    assert!(
        issuer.starts_with("https://oidc.eks.us-west-2.amazonaws.com/id/"),
        "{issuer}"
    );
    let vpc_config = cluster.resources_vpc_config().expect("vpc config");
    assert_eq!(vpc_config.vpc_id(), Some(vpc.as_str()));
    assert!(vpc_config.cluster_security_group_id().is_some());

    // Managed node group, as the reference deployment declares it.
    let ng = unique_name("ng");
    eks.create_nodegroup()
        .cluster_name(&name)
        .nodegroup_name(&ng)
        .node_role(&role_arn)
        .set_subnets(Some(subnets.clone()))
        .instance_types("m6i.2xlarge")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(3)
                .max_size(3)
                .desired_size(3)
                .build(),
        )
        .labels("role", "milvus")
        .send()
        .await
        .expect("CreateNodegroup");
    let nodegroup = eks
        .describe_nodegroup()
        .cluster_name(&name)
        .nodegroup_name(&ng)
        .send()
        .await
        .expect("DescribeNodegroup")
        .nodegroup
        .expect("nodegroup");
    assert_eq!(nodegroup.instance_types(), ["m6i.2xlarge"]);
    assert_eq!(
        nodegroup.version(),
        Some("1.30"),
        "defaults to the cluster's"
    );
    assert_eq!(
        nodegroup
            .labels()
            .and_then(|l| l.get("role"))
            .map(String::as_str),
        Some("milvus")
    );

    // Add-ons: "latest" is the newest version DescribeAddonVersions lists,
    // which is not the default one.
    let versions = eks
        .describe_addon_versions()
        .addon_name("coredns")
        .kubernetes_version("1.30")
        .send()
        .await
        .expect("DescribeAddonVersions");
    let coredns = versions.addons().first().expect("coredns listed");
    let listed: Vec<_> = coredns
        .addon_versions()
        .iter()
        .filter_map(|v| v.addon_version())
        .collect();
    assert!(listed.len() >= 2, "{listed:?}");
    let latest = listed[0].to_owned();
    let default = coredns
        .addon_versions()
        .iter()
        .find(|v| v.compatibilities().iter().any(|c| c.default_version()))
        .and_then(|v| v.addon_version())
        .expect("a default version");
    assert_ne!(latest, default);

    let addon = eks
        .create_addon()
        .cluster_name(&name)
        .addon_name("coredns")
        .send()
        .await
        .expect("CreateAddon")
        .addon
        .expect("addon");
    assert_eq!(addon.addon_version(), Some(default));
    let update = eks
        .update_addon()
        .cluster_name(&name)
        .addon_name("coredns")
        .addon_version(&latest)
        .send()
        .await
        .expect("UpdateAddon")
        .update
        .expect("update");
    let finished = eks
        .describe_update()
        .name(&name)
        .addon_name("coredns")
        .update_id(update.id().expect("update id"))
        .send()
        .await
        .expect("DescribeUpdate")
        .update
        .expect("update");
    assert_eq!(
        finished.status(),
        Some(&aws_sdk_eks::types::UpdateStatus::Successful)
    );
    let described = eks
        .describe_addon()
        .cluster_name(&name)
        .addon_name("coredns")
        .send()
        .await
        .expect("DescribeAddon")
        .addon
        .expect("addon");
    assert_eq!(described.addon_version(), Some(latest.as_str()));
    assert_eq!(
        described.status(),
        Some(&aws_sdk_eks::types::AddonStatus::Active)
    );
    let addons = eks
        .list_addons()
        .cluster_name(&name)
        .send()
        .await
        .expect("ListAddons");
    assert_eq!(addons.addons(), ["coredns"]);
    eks.delete_addon()
        .cluster_name(&name)
        .addon_name("coredns")
        .send()
        .await
        .expect("DeleteAddon");
    let gone = eks
        .describe_addon()
        .cluster_name(&name)
        .addon_name("coredns")
        .send()
        .await
        .expect_err("deleted");
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{gone:?}"
    );

    // One minor version at a time, as on EKS.
    let upgrade = eks
        .update_cluster_version()
        .name(&name)
        .version("1.31")
        .send()
        .await
        .expect("UpdateClusterVersion")
        .update
        .expect("update");
    assert_eq!(
        upgrade.r#type(),
        Some(&aws_sdk_eks::types::UpdateType::VersionUpdate)
    );
    eks.update_cluster_version()
        .name(&name)
        .version("1.33")
        .send()
        .await
        .expect_err("skipping a minor version is refused");
}

#[tokio::test]
async fn s3_bucket_round_trip() {
    let s3 = emulators().s3_client().await;
    let bucket = unique_name("milvus");
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket");
    s3.head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("HeadBucket");
    let location = s3
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("GetBucketLocation");
    assert_eq!(
        location.location_constraint(),
        Some(&aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
    );
}

/// KMS key, the AmazonMSK_ secret, MSK configuration with revisions, the MSK
/// cluster, its SCRAM association and bootstrap brokers, and a configuration
/// update applied to the cluster.
#[tokio::test]
async fn msk_configuration_cluster_scram_secret_and_brokers_round_trip() {
    let sdk = emulators().aws_config().await;
    let (ec2, kms, secrets, kafka) = (
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_kms::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
        aws_sdk_kafka::Client::new(&sdk),
    );
    let (_vpc, subnets) = network(&ec2).await;

    let key_id = kms
        .create_key()
        .description("MSK SCRAM secret key")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("key metadata")
        .key_id;
    let key = kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("key metadata");
    assert_eq!(
        key.key_manager(),
        Some(&aws_sdk_kms::types::KeyManagerType::Customer)
    );

    let secret_name = format!("AmazonMSK_{}", unique_name("milvus"));
    let secret_arn = secrets
        .create_secret()
        .name(&secret_name)
        .kms_key_id(&key_id)
        .secret_string(r#"{"username":"milvus","password":"s3cret-pass"}"#)
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("secret arn");
    let value = secrets
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .expect("GetSecretValue");
    assert!(value.secret_string().is_some_and(|s| s.contains("milvus")));

    // Configuration: the reference deployment's three server properties.
    let properties = "auto.create.topics.enable=true\nmessage.max.bytes=10485880\n";
    let configuration = kafka
        .create_configuration()
        .name(unique_name("milvus"))
        .kafka_versions("3.6.0")
        .server_properties(Blob::new(properties))
        .send()
        .await
        .expect("CreateConfiguration");
    let configuration_arn = configuration.arn().expect("configuration arn").to_owned();
    assert_eq!(
        configuration.latest_revision().and_then(|r| r.revision()),
        Some(1)
    );
    let revised = format!("{properties}replica.fetch.max.bytes=20971760\n");
    let updated = kafka
        .update_configuration()
        .arn(&configuration_arn)
        .server_properties(Blob::new(revised.as_str()))
        .send()
        .await
        .expect("UpdateConfiguration");
    assert_eq!(
        updated.latest_revision().and_then(|r| r.revision()),
        Some(2)
    );
    let revision = kafka
        .describe_configuration_revision()
        .arn(&configuration_arn)
        .revision(2)
        .send()
        .await
        .expect("DescribeConfigurationRevision");
    assert_eq!(
        revision.server_properties().map(|b| b.as_ref()),
        Some(revised.as_bytes())
    );
    let described = kafka
        .describe_configuration()
        .arn(&configuration_arn)
        .send()
        .await
        .expect("DescribeConfiguration");
    assert_eq!(described.kafka_versions(), ["3.6.0"]);
    let listed = kafka
        .list_configurations()
        .send()
        .await
        .expect("ListConfigurations");
    assert!(
        listed
            .configurations()
            .iter()
            .any(|c| c.arn() == Some(configuration_arn.as_str()))
    );

    // The cluster: SASL/SCRAM, TLS in transit, three brokers over three AZs.
    let cluster_arn = kafka
        .create_cluster()
        .cluster_name(unique_name("milvus"))
        .kafka_version("3.6.0")
        .number_of_broker_nodes(3)
        .broker_node_group_info(
            BrokerNodeGroupInfo::builder()
                .instance_type("kafka.m5.large")
                .set_client_subnets(Some(subnets.clone()))
                .build(),
        )
        .client_authentication(
            ClientAuthentication::builder()
                .sasl(
                    Sasl::builder()
                        .scram(Scram::builder().enabled(true).build())
                        .build(),
                )
                .build(),
        )
        .encryption_info(
            EncryptionInfo::builder()
                .encryption_in_transit(
                    EncryptionInTransit::builder()
                        .client_broker(aws_sdk_kafka::types::ClientBroker::Tls)
                        .in_cluster(true)
                        .build(),
                )
                .build(),
        )
        .configuration_info(
            ConfigurationInfo::builder()
                .arn(&configuration_arn)
                .revision(1)
                .build(),
        )
        .send()
        .await
        .expect("CreateCluster")
        .cluster_arn
        .expect("cluster arn");
    let info = kafka
        .describe_cluster()
        .cluster_arn(&cluster_arn)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster_info
        .expect("cluster info");
    assert_eq!(
        info.state(),
        Some(&aws_sdk_kafka::types::ClusterState::Active)
    );
    assert_eq!(info.number_of_broker_nodes(), Some(3));

    let associated = kafka
        .batch_associate_scram_secret()
        .cluster_arn(&cluster_arn)
        .secret_arn_list(&secret_arn)
        .send()
        .await
        .expect("BatchAssociateScramSecret");
    assert!(
        associated.unprocessed_scram_secrets().is_empty(),
        "{associated:?}"
    );
    let scram = kafka
        .list_scram_secrets()
        .cluster_arn(&cluster_arn)
        .send()
        .await
        .expect("ListScramSecrets");
    assert_eq!(scram.secret_arn_list(), std::slice::from_ref(&secret_arn));

    let brokers = kafka
        .get_bootstrap_brokers()
        .cluster_arn(&cluster_arn)
        .send()
        .await
        .expect("GetBootstrapBrokers");
    let scram_brokers = brokers
        .bootstrap_broker_string_sasl_scram()
        .expect("SASL/SCRAM brokers");
    assert_eq!(scram_brokers.split(',').count(), 3, "{scram_brokers}");
    assert!(
        scram_brokers.split(',').all(|b| b.ends_with(":9096")),
        "{scram_brokers}"
    );

    // Moving the cluster to revision 2 goes through currentVersion and a
    // cluster operation, as on MSK.
    let operation = kafka
        .update_cluster_configuration()
        .cluster_arn(&cluster_arn)
        .current_version(info.current_version().expect("current version"))
        .configuration_info(
            ConfigurationInfo::builder()
                .arn(&configuration_arn)
                .revision(2)
                .build(),
        )
        .send()
        .await
        .expect("UpdateClusterConfiguration")
        .cluster_operation_arn
        .expect("operation arn");
    let state = kafka
        .describe_cluster_operation()
        .cluster_operation_arn(&operation)
        .send()
        .await
        .expect("DescribeClusterOperation")
        .cluster_operation_info
        .and_then(|o| o.operation_state)
        .expect("operation state");
    assert_eq!(state, "UPDATE_COMPLETE");
    let after = kafka
        .describe_cluster()
        .cluster_arn(&cluster_arn)
        .send()
        .await
        .expect("DescribeCluster")
        .cluster_info
        .expect("cluster info");
    assert_eq!(
        after
            .current_broker_software_info()
            .and_then(|s| s.configuration_revision()),
        Some(2)
    );
    assert_ne!(after.current_version(), info.current_version());

    // A configuration in use cannot be deleted, as on MSK.
    kafka
        .delete_configuration()
        .arn(&configuration_arn)
        .send()
        .await
        .expect_err("configuration in use");
}

#[tokio::test]
async fn kubernetes_namespace_serviceaccount_and_storageclasses_round_trip() {
    let client = emulators().kube_client().await.expect("kube client");

    let ns_name = unique_name("milvus");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(ns_name.clone()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .expect("create namespace");

    // IRSA service account, as the reference deployment creates it.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns_name);
    let role = "arn:aws:iam::123456789012:role/milvus-s3";
    accounts
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("milvus-s3-access-sa".into()),
                    labels: Some(BTreeMap::from([("aws-usage".into(), "milvus".into())])),
                    annotations: Some(BTreeMap::from([(
                        "eks.amazonaws.com/role-arn".into(),
                        role.into(),
                    )])),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            },
        )
        .await
        .expect("create service account");
    let account = accounts
        .get("milvus-s3-access-sa")
        .await
        .expect("get service account");
    assert_eq!(
        account
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("eks.amazonaws.com/role-arn"))
            .map(String::as_str),
        Some(role)
    );

    // The gp3 class the stack adds.
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class_name = unique_name("ebs-sc");
    classes
        .create(
            &PostParams::default(),
            &StorageClass {
                metadata: ObjectMeta {
                    name: Some(class_name.clone()),
                    ..ObjectMeta::default()
                },
                provisioner: "ebs.csi.aws.com".into(),
                volume_binding_mode: Some("WaitForFirstConsumer".into()),
                parameters: Some(BTreeMap::from([("type".into(), "gp3".into())])),
                ..StorageClass::default()
            },
        )
        .await
        .expect("create storage class");
    let class = classes.get(&class_name).await.expect("get storage class");
    assert_eq!(class.provisioner, "ebs.csi.aws.com");
    assert_eq!(
        class.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );
    classes
        .delete(&class_name, &DeleteParams::default())
        .await
        .expect("delete storage class");

    // The pre-created gp2 class, default as on EKS; the annotation patch the
    // stack applies, then put back for whoever else uses this apiserver.
    let gp2 = classes.get("gp2").await.expect("gp2 exists");
    let annotation = "storageclass.kubernetes.io/is-default-class";
    let default_of = |class: &StorageClass| {
        class
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotation))
            .cloned()
    };
    assert_eq!(default_of(&gp2).as_deref(), Some("true"));
    assert_eq!(gp2.provisioner, "kubernetes.io/aws-ebs");
    let set_default = |value: &str| {
        Patch::Merge(serde_json::json!({"metadata": {"annotations": {annotation: value}}}))
    };
    let patched = classes
        .patch("gp2", &PatchParams::default(), &set_default("false"))
        .await
        .expect("patch gp2");
    assert_eq!(default_of(&patched).as_deref(), Some("false"));
    classes
        .patch("gp2", &PatchParams::default(), &set_default("true"))
        .await
        .expect("restore gp2");

    // Deleting the namespace finishes: the controller manager's namespace
    // controller empties and removes it.
    namespaces
        .delete(&ns_name, &DeleteParams::default())
        .await
        .expect("delete namespace");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while namespaces
        .get_opt(&ns_name)
        .await
        .expect("get namespace")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace {ns_name} still exists after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn run(output: std::io::Result<Output>, what: &str) -> String {
    let output = output.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn release_values(
    client: &kube::Client,
    ns: &str,
    release: &str,
) -> (serde_json::Value, String) {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let map = maps
        .get(&format!("{release}-values"))
        .await
        .expect("values ConfigMap");
    let data = map.data.expect("ConfigMap data");
    let values = serde_json::from_str(&data["values.json"]).expect("values.json is JSON");
    (values, data["revision"].clone())
}

/// helm v4 installs and upgrades the Milvus fixture chart against the real
/// apiserver, and the values it was given come back through the ConfigMap.
#[tokio::test]
async fn helm_installs_and_upgrades_the_milvus_fixture_chart() {
    let emulators = emulators();
    let client = emulators.kube_client().await.expect("kube client");
    let ns = unique_name("helm");
    let release = "demo";
    let chart = fixture_chart("milvus");
    let values = tempfile::NamedTempFile::new().expect("values file");
    std::fs::write(
        values.path(),
        "minio:\n  enabled: false\nexternalS3:\n  enabled: true\n  bucketName: acme-milvus\n  useIAM: true\nservice:\n  type: LoadBalancer\n  annotations:\n    service.beta.kubernetes.io/aws-load-balancer-scheme: internal\n",
    )
    .expect("write values");

    let helm = |args: &[&str]| emulators.command(emulators.helm()).args(args).output();
    run(
        helm(&[
            "install",
            release,
            chart.to_str().expect("utf-8 path"),
            "--namespace",
            &ns,
            "--create-namespace",
            "--values",
            values.path().to_str().expect("utf-8 path"),
            "--wait",
            "--timeout",
            "60s",
        ]),
        "helm install",
    );
    let (installed, revision) = release_values(&client, &ns, release).await;
    assert_eq!(revision, "1");
    assert_eq!(installed["externalS3"]["bucketName"], "acme-milvus");
    assert_eq!(installed["minio"]["enabled"], false);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let service = services
        .get(&format!("{release}-milvus"))
        .await
        .expect("milvus service");
    assert_eq!(
        service.spec.and_then(|s| s.type_).as_deref(),
        Some("LoadBalancer")
    );

    run(
        helm(&[
            "upgrade",
            release,
            chart.to_str().expect("utf-8 path"),
            "--namespace",
            &ns,
            "--reuse-values",
            "--set",
            "externalKafka.enabled=true,externalKafka.brokerList=b-1.example:9096",
        ]),
        "helm upgrade",
    );
    let (upgraded, revision) = release_values(&client, &ns, release).await;
    assert_eq!(revision, "2");
    assert_eq!(upgraded["externalKafka"]["brokerList"], "b-1.example:9096");
    assert_eq!(
        upgraded["externalS3"]["bucketName"], "acme-milvus",
        "reused"
    );

    let listed = run(
        helm(&["list", "--namespace", &ns, "--output", "json"]),
        "helm list",
    );
    let releases: serde_json::Value = serde_json::from_str(&listed).expect("helm list json");
    assert_eq!(releases[0]["revision"], "2");
    assert_eq!(releases[0]["status"], "deployed");

    run(
        helm(&["uninstall", release, "--namespace", &ns]),
        "helm uninstall",
    );
    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete namespace");
}

/// helm v3.18 does the same with the load balancer controller fixture, whose
/// clusterName is required as upstream.
#[tokio::test]
async fn helm_v3_installs_and_upgrades_the_load_balancer_controller_fixture() {
    let emulators = emulators();
    let client = emulators.kube_client().await.expect("kube client");
    let ns = unique_name("albc");
    let chart = fixture_chart("aws-load-balancer-controller");
    let chart = chart.to_str().expect("utf-8 path");
    let helm = |args: &[&str]| emulators.command(emulators.helm_v3()).args(args).output();

    let refused = helm(&[
        "install",
        "albc",
        chart,
        "--namespace",
        &ns,
        "--create-namespace",
    ])
    .expect("run helm");
    assert!(!refused.status.success(), "clusterName is required");

    run(
        helm(&[
            "install",
            "albc",
            chart,
            "--namespace",
            &ns,
            "--create-namespace",
            "--set",
            "clusterName=milvus-demo,serviceAccount.create=false,serviceAccount.name=aws-load-balancer-controller",
        ]),
        "helm install",
    );
    let (values, revision) = release_values(&client, &ns, "albc").await;
    assert_eq!(revision, "1");
    assert_eq!(values["clusterName"], "milvus-demo");
    assert_eq!(values["serviceAccount"]["create"], false);

    run(
        helm(&[
            "upgrade",
            "albc",
            chart,
            "--namespace",
            &ns,
            "--reuse-values",
            "--set",
            "replicaCount=3",
        ]),
        "helm upgrade",
    );
    let (values, revision) = release_values(&client, &ns, "albc").await;
    assert_eq!(revision, "2");
    assert_eq!(values["replicaCount"], 3);
    assert_eq!(values["clusterName"], "milvus-demo");

    run(
        helm(&["uninstall", "albc", "--namespace", &ns]),
        "helm uninstall",
    );
    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete namespace");
}

/// The moto extension refuses MSK client subnets as MSK does (developer
/// guide, "Create an MSK Provisioned cluster"): two or three, in distinct
/// Availability Zones. A laxer emulator would let a stack pass here and
/// fail at CreateCluster on AWS.
#[tokio::test]
async fn msk_refuses_four_client_subnets_and_two_in_one_zone() {
    let sdk = emulators().aws_config().await;
    let (ec2, kafka) = (
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_kafka::Client::new(&sdk),
    );
    let (vpc, mut subnets) = network(&ec2).await;
    let extra = subnet(&ec2, &vpc, "10.42.9.0/24", "us-west-2a").await;
    let create = |client_subnets: Vec<String>, brokers: i32| {
        kafka
            .create_cluster()
            .cluster_name(unique_name("zones"))
            .kafka_version("3.6.0")
            .number_of_broker_nodes(brokers)
            .broker_node_group_info(
                BrokerNodeGroupInfo::builder()
                    .instance_type("kafka.m5.large")
                    .set_client_subnets(Some(client_subnets))
                    .build(),
            )
            .send()
    };
    let message = |e: &aws_sdk_kafka::error::SdkError<_>| {
        aws_sdk_kafka::error::DisplayErrorContext(e).to_string()
    };
    let mut four = subnets.clone();
    four.push(extra.clone());
    let err = create(four, 4).await.unwrap_err();
    assert!(
        message(&err).contains("Specify 2 or 3 client subnets"),
        "{}",
        message(&err)
    );
    let same_zone = vec![subnets.remove(0), extra];
    let err = create(same_zone, 2).await.unwrap_err();
    assert!(
        message(&err).contains("must be in distinct Availability Zones"),
        "{}",
        message(&err)
    );
}

/// EC2 creates subnets only in the region's own zones; moto took any zone
/// it knew (a us-west-2a subnet in ca-central-1), which would let a stack
/// that guesses zone names pass here and fail on AWS.
#[tokio::test]
async fn subnets_are_refused_in_zones_the_region_does_not_have() {
    let sdk = emulators()
        .aws_config()
        .await
        .into_builder()
        .region(aws_config::Region::new("ca-central-1"))
        .build();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = vpc(&ec2, "10.43.0.0/16").await;
    for zone in ["ca-central-1c", "us-west-2a"] {
        let err = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.43.1.0/24")
            .availability_zone(zone)
            .send()
            .await
            .unwrap_err();
        let msg = aws_sdk_ec2::error::DisplayErrorContext(&err).to_string();
        assert!(
            msg.contains("InvalidParameterValue")
                && msg.contains("ca-central-1a, ca-central-1b, ca-central-1d"),
            "{zone}: {msg}"
        );
    }
    // A zone of the region is taken.
    subnet(&ec2, &vpc, "10.43.1.0/24", "ca-central-1d").await;
}
