//! Schemas of the AWS kinds. Issue 5 (the AWS providers) refines these
//! tables as each provider is written: an attribute the SDK reports, a
//! default the API really applies, a field it can or cannot update.

use super::AttrDefault::{Bool, EmptyList, EmptyMap, Int, Str};
use super::Normalize::{JsonDocument, PolicyDocument, StringMap, Tags, UnorderedList};
use super::ReplaceOrder::{CreateBeforeDestroy, DestroyBeforeCreate};
use super::{AttrSchema as A, KindSchema};
use crate::ResourceKind as K;

const TAGS: A = A::new("tags").normalize(Tags).default(EmptyMap);

/// Read only: `count` zones of the region, in name order, skipping the
/// zone IDs in `exclude_zone_ids`; outputs `zone_<i>` (names) and
/// `zone_id_<i>` for i below six, the most a created VPC spans.
pub static EC2_AVAILABILITY_ZONES: KindSchema = KindSchema {
    kind: K::Ec2AvailabilityZones,
    attrs: &[
        A::new("count"),
        A::new("exclude_zone_ids")
            .normalize(UnorderedList)
            .default(EmptyList),
    ],
    outputs: &[
        "zone_0",
        "zone_1",
        "zone_2",
        "zone_3",
        "zone_4",
        "zone_5",
        "zone_id_0",
        "zone_id_1",
        "zone_id_2",
        "zone_id_3",
        "zone_id_4",
        "zone_id_5",
    ],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_VPC: KindSchema = KindSchema {
    kind: K::Ec2Vpc,
    attrs: &[
        A::new("id").force_new(),
        A::new("cidr_block").force_new(),
        A::new("enable_dns_hostnames").default(Bool(false)),
        A::new("enable_dns_support").default(Bool(true)),
        TAGS,
    ],
    // cidr_block is an attribute (force-new); listed as an output it would
    // count as computed and a changed block would never show.
    outputs: &["id", "arn"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_SUBNET: KindSchema = KindSchema {
    kind: K::Ec2Subnet,
    attrs: &[
        A::new("id").force_new(),
        A::new("vpc_id").force_new(),
        A::new("cidr_block").force_new(),
        A::new("availability_zone").force_new(),
        A::new("map_public_ip_on_launch").default(Bool(false)),
        TAGS,
    ],
    // availability_zone likewise is an attribute, not an output.
    outputs: &["id", "arn"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_SECURITY_GROUP: KindSchema = KindSchema {
    kind: K::Ec2SecurityGroup,
    attrs: &[
        A::new("name").force_new(),
        A::new("description")
            .force_new()
            .default(Str("Managed by stackplan")),
        A::new("vpc_id").force_new(),
        TAGS,
    ],
    outputs: &["id", "arn"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static EC2_SECURITY_GROUP_RULE: KindSchema = KindSchema {
    kind: K::Ec2SecurityGroupRule,
    attrs: &[
        A::new("security_group_id").force_new(),
        A::new("type").force_new().default(Str("ingress")),
        A::new("protocol").force_new().default(Str("tcp")),
        A::new("from_port").force_new(),
        A::new("to_port").force_new(),
        A::new("source_security_group_id").force_new(),
        A::new("cidr_blocks")
            .force_new()
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("description").default(Str("")),
    ],
    outputs: &["id"],
    // EC2 refuses a duplicate rule, so the old one has to go first.
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

/// Created and attached to `vpc_id` in one step, as Terraform's
/// `aws_internet_gateway` does; destroyed by detaching, then deleting.
pub static EC2_INTERNET_GATEWAY: KindSchema = KindSchema {
    kind: K::Ec2InternetGateway,
    attrs: &[A::new("vpc_id").force_new(), TAGS],
    outputs: &["id", "arn"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_EIP: KindSchema = KindSchema {
    kind: K::Ec2Eip,
    attrs: &[A::new("domain").force_new().default(Str("vpc")), TAGS],
    outputs: &["id", "public_ip"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_NAT_GATEWAY: KindSchema = KindSchema {
    kind: K::Ec2NatGateway,
    attrs: &[
        A::new("subnet_id").force_new(),
        A::new("allocation_id").force_new(),
        A::new("connectivity_type")
            .force_new()
            .default(Str("public")),
        TAGS,
    ],
    outputs: &["id", "state"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

/// `routes` maps a destination CIDR to its target (an internet gateway or
/// NAT gateway id); the VPC's own `local` route is AWS's and not listed.
pub static EC2_ROUTE_TABLE: KindSchema = KindSchema {
    kind: K::Ec2RouteTable,
    attrs: &[
        A::new("vpc_id").force_new(),
        A::new("routes").normalize(StringMap).default(EmptyMap),
        TAGS,
    ],
    outputs: &["id", "arn"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_ROUTE_TABLE_ASSOCIATION: KindSchema = KindSchema {
    kind: K::Ec2RouteTableAssociation,
    attrs: &[
        A::new("subnet_id").force_new(),
        A::new("route_table_id").force_new(),
    ],
    outputs: &["id"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EC2_VPC_ENDPOINT: KindSchema = KindSchema {
    kind: K::Ec2VpcEndpoint,
    attrs: &[
        A::new("vpc_id").force_new(),
        A::new("service_name").force_new(),
        A::new("vpc_endpoint_type")
            .force_new()
            .default(Str("Gateway")),
        A::new("route_table_ids")
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("subnet_ids")
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("security_group_ids")
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("private_dns_enabled").default(Bool(false)),
        TAGS,
    ],
    outputs: &["id", "state"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static IAM_ROLE: KindSchema = KindSchema {
    kind: K::IamRole,
    attrs: &[
        A::new("name").force_new(),
        A::new("path").force_new().default(Str("/")),
        A::new("assume_role_policy").normalize(PolicyDocument),
        A::new("managed_policy_arns")
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("description").default(Str("")),
        A::new("max_session_duration").default(Int(3600)),
        TAGS,
    ],
    outputs: &["arn", "unique_id"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static IAM_POLICY: KindSchema = KindSchema {
    kind: K::IamPolicy,
    attrs: &[
        A::new("name").force_new(),
        A::new("path").force_new().default(Str("/")),
        A::new("description").force_new().default(Str("")),
        A::new("policy").normalize(PolicyDocument),
        // The expansion's name for the document (`policy` kept for stacks
        // that spell it the IAM way).
        A::new("document").normalize(PolicyDocument),
        TAGS,
    ],
    outputs: &["arn", "policy_id", "default_version_id"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[("default_version_id", &[])],
};

pub static IAM_OIDC_PROVIDER: KindSchema = KindSchema {
    kind: K::IamOidcProvider,
    attrs: &[
        A::new("url").force_new(),
        A::new("client_id_list").normalize(UnorderedList),
        A::new("client_ids").normalize(UnorderedList),
        A::new("thumbprint_list")
            .normalize(UnorderedList)
            .default(EmptyList),
        TAGS,
    ],
    outputs: &["arn", "issuer_host"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static EKS_CLUSTER: KindSchema = KindSchema {
    kind: K::EksCluster,
    attrs: &[
        A::new("name").force_new(),
        A::new("version"),
        A::new("role_arn").force_new(),
        A::new("subnet_ids").force_new().normalize(UnorderedList),
        A::new("security_group_ids")
            .force_new()
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("endpoint_public_access").default(Bool(true)),
        A::new("endpoint_private_access").default(Bool(false)),
        A::new("enabled_log_types")
            .normalize(UnorderedList)
            .default(EmptyList),
        // The EKS API's default (botocore `eks` model,
        // CreateAccessConfigRequest.authenticationMode): CONFIG_MAP; the
        // console's is API_AND_CONFIG_MAP.
        A::new("authentication_mode").default(Str("CONFIG_MAP")),
        // Set at create only (UpdateAccessConfigRequest has no such field).
        A::new("bootstrap_cluster_creator_admin_permissions")
            .force_new()
            .default(Bool(true)),
        TAGS,
    ],
    outputs: &[
        "arn",
        "endpoint",
        "certificate_authority",
        "oidc_issuer",
        "cluster_security_group_id",
        "platform_version",
        "status",
    ],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static EKS_NODEGROUP: KindSchema = KindSchema {
    kind: K::EksNodegroup,
    attrs: &[
        A::new("cluster_name").force_new(),
        A::new("name").force_new(),
        A::new("nodegroup_name").force_new(),
        A::new("node_role_arn").force_new(),
        A::new("subnet_ids").force_new().normalize(UnorderedList),
        A::new("instance_types")
            .force_new()
            .normalize(UnorderedList),
        A::new("capacity_type")
            .force_new()
            .default(Str("ON_DEMAND")),
        A::new("disk_size").force_new().default(Int(20)),
        A::new("ami_type").force_new(),
        // The Kubernetes version (the expansion gives the cluster's) and
        // the AMI release: both change in place, by a rolling
        // UpdateNodegroupVersion (botocore `eks` model), never by
        // replacement. An unset `release_version` is EKS's latest AMI for
        // the version.
        A::new("version"),
        A::new("release_version"),
        A::new("desired_size"),
        A::new("min_size"),
        A::new("max_size"),
        // desired/min/max as one map, as the expansion writes them.
        A::new("scaling"),
        A::new("labels").normalize(StringMap).default(EmptyMap),
        TAGS,
    ],
    outputs: &["arn", "status"],
    // Blue/green: a node group that cannot change in place is replaced
    // by a new one next to it (the provider suffixes the name while the
    // old one holds it), which takes the pods before the old one goes.
    replace: CreateBeforeDestroy,
    unique_name: Some("nodegroup_name"),
    outputs_on_update: &[],
};

pub static EKS_ADDON: KindSchema = KindSchema {
    kind: K::EksAddon,
    attrs: &[
        A::new("cluster_name").force_new(),
        A::new("name").force_new(),
        A::new("addon_name").force_new(),
        A::new("version"),
        A::new("addon_version"),
        // The cluster's Kubernetes version the add-on follows (the
        // expansion gives the cluster's): when it moves, an add-on whose
        // `addon_version` is unset or `latest` is re-resolved for it.
        A::new("kubernetes_version"),
        A::new("service_account_role_arn"),
        A::new("resolve_conflicts").default(Str("OVERWRITE")),
        A::new("configuration_values").normalize(JsonDocument),
        TAGS,
    ],
    outputs: &["arn", "status", "installed_version"],
    replace: DestroyBeforeCreate,
    unique_name: Some("addon_name"),
    outputs_on_update: &[],
};

/// An access entry and its associated access policies: `access_policies`
/// maps a policy ARN to the namespaces it is scoped to (an empty list is
/// the whole cluster). The principal and type are fixed at create
/// (botocore `eks` model, CreateAccessEntryRequest).
pub static EKS_ACCESS_ENTRY: KindSchema = KindSchema {
    kind: K::EksAccessEntry,
    attrs: &[
        A::new("cluster_name").force_new(),
        A::new("principal_arn").force_new(),
        A::new("type").force_new().default(Str("STANDARD")),
        A::new("kubernetes_groups")
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("access_policies").default(EmptyMap),
        TAGS,
    ],
    outputs: &["arn", "username"],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};

pub static S3_BUCKET: KindSchema = KindSchema {
    kind: K::S3Bucket,
    attrs: &[
        A::new("bucket").force_new(),
        A::new("versioning").default(Bool(false)),
        // S3 encrypts every new object with SSE-S3 since January 2023.
        A::new("sse_algorithm").default(Str("AES256")),
        A::new("kms_key_id"),
        // New buckets block public access by default since April 2023.
        A::new("block_public_access").default(Bool(true)),
        A::new("public_access_block"),
        A::new("force_destroy").default(Bool(false)),
        // stackplan's own lifecycle rule; 0 is no rule (other rules on
        // the bucket are left alone).
        A::new("noncurrent_version_expiration_days").default(Int(0)),
        TAGS,
    ],
    outputs: &["arn", "region", "bucket_regional_domain_name"],
    replace: DestroyBeforeCreate,
    unique_name: Some("bucket"),
    outputs_on_update: &[],
};

pub static KMS_KEY: KindSchema = KindSchema {
    kind: K::KmsKey,
    attrs: &[
        A::new("description").default(Str("")),
        A::new("key_usage")
            .force_new()
            .default(Str("ENCRYPT_DECRYPT")),
        A::new("key_spec")
            .force_new()
            .default(Str("SYMMETRIC_DEFAULT")),
        A::new("enable_key_rotation").default(Bool(false)),
        // The provider schedules deletion with KMS's shortest window.
        A::new("deletion_window_in_days").default(Int(7)),
        A::new("policy").normalize(PolicyDocument),
        A::new("alias"),
        TAGS,
    ],
    outputs: &["arn", "key_id"],
    // Key ids are generated: a new key can exist next to the old one.
    replace: CreateBeforeDestroy,
    unique_name: None,
    outputs_on_update: &[],
};

pub static SECRETSMANAGER_SECRET: KindSchema = KindSchema {
    kind: K::SecretsmanagerSecret,
    attrs: &[
        A::new("name").force_new(),
        A::new("description").default(Str("")),
        A::new("kms_key_id"),
        A::new("secret_string").sensitive(),
        A::new("username"),
        A::new("password").sensitive(),
        A::new("recovery_window_in_days").default(Int(30)),
        TAGS,
    ],
    outputs: &["arn", "version_id"],
    replace: DestroyBeforeCreate,
    unique_name: Some("name"),
    outputs_on_update: &[],
};

pub static MSK_CONFIGURATION: KindSchema = KindSchema {
    kind: K::MskConfiguration,
    attrs: &[
        A::new("name").force_new(),
        A::new("description").default(Str("")),
        A::new("kafka_versions")
            .force_new()
            .normalize(UnorderedList)
            .default(EmptyList),
        A::new("server_properties").normalize(StringMap),
    ],
    outputs: &["arn", "latest_revision"],
    // A new Kafka version needs a new configuration (UpdateConfiguration
    // cannot change KafkaVersions, botocore kafka model), and MSK refuses
    // to delete one a cluster uses: the new copy is made first (under a
    // suffixed name while the old one holds the name), the cluster moves
    // to it with UpdateClusterKafkaVersion, and the old one goes last.
    replace: CreateBeforeDestroy,
    unique_name: Some("name"),
    outputs_on_update: &[("latest_revision", &[])],
};

pub static MSK_CLUSTER: KindSchema = KindSchema {
    kind: K::MskCluster,
    attrs: &[
        A::new("name").force_new(),
        A::new("cluster_name").force_new(),
        A::new("kafka_version"),
        A::new("broker_type"),
        A::new("instance_type"),
        A::new("number_of_broker_nodes"),
        A::new("client_subnets")
            .force_new()
            .normalize(UnorderedList),
        A::new("security_groups")
            .force_new()
            .normalize(UnorderedList),
        A::new("ebs_volume_size").default(Int(1000)),
        A::new("volume_size"),
        A::new("configuration_arn"),
        A::new("configuration_revision"),
        // { arn, revision }, as the expansion writes it.
        A::new("configuration"),
        A::new("client_authentication"),
        A::new("encryption_in_transit").force_new(),
        A::new("enhanced_monitoring").default(Str("DEFAULT")),
        TAGS,
    ],
    outputs: &[
        "arn",
        "bootstrap_brokers_sasl_scram",
        "zookeeper_connect_string",
        "current_version",
        "state",
    ],
    replace: DestroyBeforeCreate,
    unique_name: Some("cluster_name"),
    outputs_on_update: &[
        // New brokers join the bootstrap list (botocore `kafka` model,
        // GetBootstrapBrokers: a list of the cluster's brokers).
        ("bootstrap_brokers_sasl_scram", &["number_of_broker_nodes"]),
        // Every cluster operation moves the cluster to a new version.
        ("current_version", &[]),
    ],
};

pub static MSK_SCRAM_ASSOCIATION: KindSchema = KindSchema {
    kind: K::MskScramAssociation,
    attrs: &[
        A::new("cluster_arn").force_new(),
        A::new("secret_arn_list").normalize(UnorderedList),
    ],
    outputs: &[],
    replace: DestroyBeforeCreate,
    unique_name: None,
    outputs_on_update: &[],
};
