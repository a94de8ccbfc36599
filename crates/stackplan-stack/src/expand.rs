//! Expansion: the stack's sections become typed resources whose
//! attributes reference the outputs they consume, which makes the edges
//! of the graph. Names the user gave once are wired, never typed twice.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use stackplan_core::{ProviderFamily, Resource, ResourceAddr, ResourceKind, ResourceMode, Value};

use crate::chart::{ChartProfile, Charts, lbc_policy};
use crate::model::{Chart, Stack, VpcSpec};
use crate::network::NetworkLayout;

pub(crate) const MILVUS_SA: &str = "milvus-s3-access-sa";
const LBC_SA: &str = "aws-load-balancer-controller";
const EBS_CSI_SA: &str = "ebs-csi-controller-sa";
const EBS_CSI_ADDON: &str = "aws-ebs-csi-driver";
const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The port MSK brokers listen on for SASL/SCRAM clients.
pub const MSK_SCRAM_PORT: i64 = 9096;

/// The addresses other parts of the expansion refer to.
#[derive(Debug, Clone)]
pub struct Addrs {
    pub vpc: ResourceAddr,
    pub cluster: ResourceAddr,
    pub oidc: ResourceAddr,
    pub bucket: ResourceAddr,
    pub msk_cluster: ResourceAddr,
    /// The Kubernetes Secret Milvus reads the SCRAM password from.
    pub kafka_sasl: ResourceAddr,
}

impl Default for Addrs {
    fn default() -> Self {
        Addrs {
            vpc: ResourceAddr::new(ResourceKind::Ec2Vpc, "main"),
            cluster: ResourceAddr::new(ResourceKind::EksCluster, "main"),
            oidc: ResourceAddr::new(ResourceKind::IamOidcProvider, "main"),
            bucket: ResourceAddr::new(ResourceKind::S3Bucket, "milvus"),
            msk_cluster: ResourceAddr::new(ResourceKind::MskCluster, "milvus"),
            kafka_sasl: ResourceAddr::new(ResourceKind::K8sSecret, "kafka_sasl"),
        }
    }
}

/// The zone IDs a created VPC never uses: EKS refuses them for
/// control-plane subnets (EKS user guide, "View Amazon EKS networking
/// requirements for VPC and subnets"), and MSK refuses use1-az3 for
/// client subnets (botocore `kafka` model, `BrokerNodeGroupInfo`). IDs,
/// not names: zone names are shuffled per account, IDs are not.
pub const EXCLUDED_ZONE_IDS: [&str; 3] = ["use1-az3", "usw1-az2", "cac1-az3"];

/// The AWS partition of a region, for ARNs of AWS managed policies.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// How many of the stack's subnets MSK's brokers sit in: the first two or
/// three. MSK standard brokers take exactly two client subnets in US West
/// (N. California) and two or three elsewhere, each in its own zone (MSK
/// developer guide, "Create an MSK Provisioned cluster"); more fail
/// CreateCluster.
pub fn msk_subnet_count(region: &str, subnets: usize) -> usize {
    if region == "us-west-1" {
        subnets.min(2)
    } else {
        subnets.min(3)
    }
}

/// EC2's service principal in a region's partition, for the node role's
/// trust policy: `ec2.amazonaws.com.cn` in aws-cn, `ec2.amazonaws.com`
/// elsewhere (eksctl's ServicePrincipalPartitionMap; EKS's own principal
/// is `eks.amazonaws.com` in every partition).
pub fn ec2_principal(region: &str) -> &'static str {
    if partition(region) == "aws-cn" {
        "ec2.amazonaws.com.cn"
    } else {
        "ec2.amazonaws.com"
    }
}

/// The DNS suffix of service endpoints in a region's partition.
pub fn partition_dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Splits a VPC block into a private and a public subnet per AZ: the
/// first `azs` blocks are the private subnets, the next `azs` the public
/// ones. Each takes an eighth of a /16 (a /19, as eksctl does) or the
/// equivalent share; `None` when the block is too small for subnets of at
/// least /28.
pub fn subnet_cidrs(vpc: &Ipv4Net, azs: u32) -> Option<Vec<Ipv4Net>> {
    let bits = (azs.max(1) * 2).next_power_of_two().trailing_zeros() as u8;
    let prefix = vpc.prefix_len() + bits;
    if prefix > 28 {
        return None;
    }
    Some(vpc.subnets(prefix).ok()?.take(2 * azs as usize).collect())
}

pub(crate) fn tags(stack: &Stack, section: &BTreeMap<String, String>, name: &str) -> Value {
    let mut t: BTreeMap<String, Value> = BTreeMap::new();
    t.insert("Name".into(), Value::string(name));
    t.insert("stackplan:stack".into(), Value::string(&stack.name));
    for (k, v) in stack.tags.iter().chain(section) {
        t.insert(k.clone(), Value::string(v));
    }
    Value::Map(t)
}

fn policy(statements: Vec<Value>) -> Value {
    Value::map([
        ("Version", Value::string("2012-10-17")),
        ("Statement", Value::List(statements)),
    ])
}

fn service_trust(service: &str) -> Value {
    policy(vec![Value::map([
        ("Effect", Value::string("Allow")),
        (
            "Principal",
            Value::map([("Service", Value::string(service))]),
        ),
        ("Action", Value::string("sts:AssumeRole")),
    ])])
}

/// How plans name [`service_trust`]'s document.
fn service_trust_name(service: &str) -> String {
    format!("trust policy for service {service}")
}

/// The IRSA trust policy: only the named service account, through the
/// cluster's OIDC provider, may assume the role.
fn irsa_trust(oidc: &ResourceAddr, namespace: &str, sa: &str) -> Value {
    let issuer = Value::reference(oidc, "issuer_host");
    policy(vec![Value::map([
        ("Effect", Value::string("Allow")),
        (
            "Principal",
            Value::map([("Federated", Value::reference(oidc, "arn"))]),
        ),
        ("Action", Value::string("sts:AssumeRoleWithWebIdentity")),
        (
            "Condition",
            Value::map([(
                "StringEquals",
                Value::DynMap(vec![
                    (
                        Value::Concat(vec![issuer.clone(), ":sub".into()]),
                        Value::string(format!("system:serviceaccount:{namespace}:{sa}")),
                    ),
                    (
                        Value::Concat(vec![issuer, ":aud".into()]),
                        Value::string("sts.amazonaws.com"),
                    ),
                ]),
            )]),
        ),
    ])])
}

fn managed_policies(stack: &Stack, names: &[&str]) -> Value {
    let part = partition(&stack.region);
    Value::list(
        names
            .iter()
            .map(|n| Value::string(format!("arn:{part}:iam::aws:policy/{n}"))),
    )
}

/// The chart attribute: where the chart comes from and its version, plus
/// the chart's own version and appVersion once it was read, so a plan
/// shows the Milvus release a chart change moves to.
fn chart_value(chart: &Chart, profile: Option<&ChartProfile>) -> Value {
    let mut v = match chart {
        Chart::Repository { url, name, version } => Value::map([
            ("repository", Value::string(url)),
            ("name", Value::string(name)),
            (
                "version",
                version.as_deref().map(Value::string).unwrap_or(Value::Null),
            ),
        ]),
        Chart::Path { path } => Value::map([("path", Value::string(path))]),
        Chart::Oci { reference, version } => Value::map([
            ("oci", Value::string(reference)),
            (
                "version",
                version.as_deref().map(Value::string).unwrap_or(Value::Null),
            ),
        ]),
    };
    if let Some(p) = profile {
        v.deep_merge(Value::map([
            ("version", Value::string(&p.version)),
            (
                "app_version",
                p.app_version
                    .as_deref()
                    .map(Value::string)
                    .unwrap_or(Value::Null),
            ),
        ]));
    }
    v
}

/// The load balancer controller's IAM policy for the chart version being
/// installed, in the stack's partition; unknown until the version is
/// (a chart read from a path), and then checked by `check_charts`.
fn lbc_policy_document(stack: &Stack, chart: &Chart, profile: Option<&ChartProfile>) -> Value {
    let version = profile.map(|p| p.version.as_str()).or(chart.version());
    match version.and_then(|v| lbc_policy(v, partition(&stack.region))) {
        Some(doc) => {
            let json: serde_json::Value =
                serde_json::from_str(doc).expect("the shipped policies are valid JSON");
            Value::from_json(&json)
        }
        None => Value::Unknown,
    }
}

/// How plans name the controller's published policy: by the chart it
/// comes with and the controller release that chart runs.
fn lbc_policy_name(chart: &Chart, profile: Option<&ChartProfile>) -> String {
    let version = profile
        .map(|p| p.version.as_str())
        .or(chart.version())
        .unwrap_or("(unknown)");
    match profile.and_then(|p| p.app_version.as_deref()) {
        Some(app) => format!("AWS Load Balancer Controller IAM policy {app} (chart {version})"),
        None => format!("AWS Load Balancer Controller IAM policy of chart {version}"),
    }
}

/// Turns a valid stack into its resources, sorted by address. `charts`
/// are the charts the stack installs, as far as they were read: the
/// generated Helm values follow them.
pub fn expand(stack: &Stack, charts: &Charts) -> Vec<Resource> {
    let a = Addrs::default();
    let mut out: Vec<Resource> = Vec::new();

    // Network: looked up when given by id, created otherwise.
    let subnet_count = stack.network.subnet_count();
    let subnets: Vec<ResourceAddr> = (0..subnet_count as u32)
        .map(|i| ResourceAddr::indexed(ResourceKind::Ec2Subnet, "private", i))
        .collect();
    // What a node needs before it can join: a created VPC's routes out,
    // or its endpoints.
    let mut egress: Vec<ResourceAddr> = Vec::new();
    let mut endpoints_group: Option<ResourceAddr> = None;
    match &stack.network.vpc {
        VpcSpec::Existing {
            vpc_id,
            private_subnets,
        } => {
            // An internet-facing Attu needs public subnets the load
            // balancer controller can find: the AWS preflight checks the
            // VPC for them when the lookup says so.
            let attu_public = stack.milvus.as_ref().is_some_and(|m| {
                m.attu.enabled && m.attu.scheme == crate::model::LbScheme::InternetFacing
            });
            let mut vpc = Resource::new(a.vpc.clone(), ResourceMode::Lookup)
                .attr("id", vpc_id.as_str())
                .from_section("[network]");
            if attu_public {
                vpc = vpc.attr("public_elb_subnets", true);
            }
            out.push(vpc);
            for (addr, id) in subnets.iter().zip(private_subnets) {
                out.push(
                    Resource::new(addr.clone(), ResourceMode::Lookup)
                        .attr("id", id.as_str())
                        .attr("vpc_id", Value::reference(&a.vpc, "id"))
                        .from_section("[network]"),
                );
            }
        }
        VpcSpec::Create {
            cidr,
            azs,
            nat,
            endpoints,
        } => {
            let net: Ipv4Net = cidr.parse().expect("validated when parsed");
            let layout = NetworkLayout {
                stack,
                vpc: &a.vpc,
                net,
                azs: *azs,
                nat: *nat,
                endpoints: *endpoints,
                private: &subnets,
            };
            let network = layout.resources();
            out.extend(network.resources);
            egress = network.egress;
            endpoints_group = network.endpoints_group;
        }
    }
    let subnet_ids = Value::list(subnets.iter().map(|s| Value::reference(s, "id")));

    // EKS: cluster and node roles, the cluster, its node groups.
    let eks = &stack.eks;
    let eks_tags = |name: &str| tags(stack, &eks.tags, name);
    let cluster_role = ResourceAddr::new(ResourceKind::IamRole, "eks_cluster");
    let nodes_role = ResourceAddr::new(ResourceKind::IamRole, "eks_nodes");
    out.push(
        Resource::new(cluster_role.clone(), ResourceMode::Managed)
            .attr("name", format!("{}-cluster", eks.name))
            .attr("assume_role_policy", service_trust("eks.amazonaws.com"))
            .published(
                "assume_role_policy",
                service_trust_name("eks.amazonaws.com"),
            )
            .attr(
                "managed_policy_arns",
                managed_policies(stack, &["AmazonEKSClusterPolicy"]),
            )
            .attr("tags", eks_tags(&format!("{}-cluster", eks.name)))
            .from_section("[eks]"),
    );
    out.push(
        Resource::new(nodes_role.clone(), ResourceMode::Managed)
            .attr("name", format!("{}-nodes", eks.name))
            .attr(
                "assume_role_policy",
                service_trust(ec2_principal(&stack.region)),
            )
            .published(
                "assume_role_policy",
                service_trust_name(ec2_principal(&stack.region)),
            )
            .attr(
                "managed_policy_arns",
                managed_policies(
                    stack,
                    &[
                        "AmazonEKSWorkerNodePolicy",
                        "AmazonEC2ContainerRegistryReadOnly",
                        "AmazonEKS_CNI_Policy",
                    ],
                ),
            )
            .attr("tags", eks_tags(&format!("{}-nodes", eks.name)))
            .from_section("[eks]"),
    );
    let mut cluster = Resource::new(a.cluster.clone(), ResourceMode::Managed)
        .attr("name", eks.name.as_str())
        .attr("version", eks.version.as_str())
        .attr("role_arn", Value::reference(&cluster_role, "arn"))
        .attr("subnet_ids", subnet_ids.clone())
        .attr("endpoint_private_access", true)
        .attr("endpoint_public_access", eks.endpoint_public_access)
        // Access entries as well as the aws-auth ConfigMap: so that others
        // than the creator (the PR-CI plan role) can be granted access.
        .attr("authentication_mode", "API_AND_CONFIG_MAP")
        .attr(
            "bootstrap_cluster_creator_admin_permissions",
            eks.creator_admin,
        )
        .attr("tags", eks_tags(&eks.name))
        .from_section("[eks]");
    cluster.prevent_destroy = eks.prevent_destroy;
    out.push(cluster);

    // The interface endpoints answer HTTPS from the nodes, which EKS puts
    // in the cluster's security group.
    let endpoint_rule = endpoints_group.map(|group| {
        let rule = ResourceAddr::new(ResourceKind::Ec2SecurityGroupRule, "endpoints_https");
        out.push(
            Resource::new(rule.clone(), ResourceMode::Managed)
                .attr("security_group_id", Value::reference(&group, "id"))
                .attr("type", "ingress")
                .attr("protocol", "tcp")
                .attr("from_port", 443)
                .attr("to_port", 443)
                .attr(
                    "source_security_group_id",
                    Value::reference(&a.cluster, "cluster_security_group_id"),
                )
                .attr(
                    "description",
                    "HTTPS to the VPC endpoints from the EKS nodes",
                )
                .from_section("[network]"),
        );
        rule
    });
    egress.extend(endpoint_rule);

    let mut nodegroups = Vec::new();
    for ng in &eks.nodegroups {
        let addr = ResourceAddr::new(ResourceKind::EksNodegroup, &ng.name);
        let mut t = eks_tags(&ng.name);
        for (k, v) in &ng.tags {
            t.deep_merge(Value::map([(k.as_str(), Value::string(v))]));
        }
        out.push(
            Resource::new(addr.clone(), ResourceMode::Managed)
                .attr("cluster_name", Value::reference(&a.cluster, "name"))
                .attr("nodegroup_name", ng.name.as_str())
                .attr("node_role_arn", Value::reference(&nodes_role, "arn"))
                .attr("subnet_ids", subnet_ids.clone())
                .attr(
                    "instance_types",
                    Value::list([Value::string(&ng.instance_type)]),
                )
                .attr("disk_size", i64::from(ng.disk_size))
                // Node groups follow the cluster's Kubernetes version: the
                // cluster's upgrade brings them along one minor at a time
                // (EKS refuses the next UpdateClusterVersion while a node
                // group is behind), so the node group plans clean after it.
                .attr("version", eks.version.as_str())
                .attr(
                    "scaling",
                    Value::map([
                        ("desired_size", Value::Int(i64::from(ng.desired))),
                        ("min_size", Value::Int(i64::from(ng.min))),
                        ("max_size", Value::Int(i64::from(ng.max))),
                    ]),
                )
                .attr(
                    "labels",
                    Value::map(
                        ng.labels
                            .iter()
                            .map(|(k, v)| (k.as_str(), Value::string(v))),
                    ),
                )
                .attr("tags", t)
                .from_section("[[eks.nodegroup]]"),
        );
        // Nodes that cannot reach ECR, EKS and STS never join.
        let last = out.last_mut().expect("just pushed");
        // Unset: EKS's latest AMI release for the version, not compared.
        if let Some(release) = &ng.release_version {
            last.attrs
                .insert("release_version".into(), Value::string(release));
        }
        for e in &egress {
            last.depends_on.insert(e.clone());
        }
        nodegroups.push(addr);
    }

    // IAM OIDC provider for the cluster's issuer, and the IRSA roles.
    out.push(
        Resource::new(a.oidc.clone(), ResourceMode::Managed)
            .attr("url", Value::reference(&a.cluster, "oidc_issuer"))
            .attr(
                "client_ids",
                Value::list([Value::string("sts.amazonaws.com")]),
            )
            .attr("tags", eks_tags(&format!("{}-oidc", eks.name)))
            .from_section("[eks]"),
    );
    let irsa_role = |name: &str, namespace: &str, sa: &str, policies: Value, section: &str| {
        Resource::managed(ResourceKind::IamRole, name)
            .attr("name", format!("{}-{}", eks.name, name.replace('_', "-")))
            .attr("assume_role_policy", irsa_trust(&a.oidc, namespace, sa))
            .published(
                "assume_role_policy",
                format!("IRSA trust policy for service account {namespace}/{sa}"),
            )
            .attr("managed_policy_arns", policies)
            .attr(
                "tags",
                eks_tags(&format!("{}-{}", eks.name, name.replace('_', "-"))),
            )
            .from_section(section)
    };

    let ebs_csi = eks.addons.contains_key(EBS_CSI_ADDON).then(|| {
        let role = irsa_role(
            "ebs_csi",
            "kube-system",
            EBS_CSI_SA,
            managed_policies(stack, &["service-role/AmazonEBSCSIDriverPolicy"]),
            "[eks.addons]",
        );
        let addr = role.addr.clone();
        out.push(role);
        addr
    });

    // EKS add-ons: after the node groups they schedule on.
    for (name, addon) in &eks.addons {
        let mut r = Resource::managed(ResourceKind::EksAddon, name)
            .attr("cluster_name", Value::reference(&a.cluster, "name"))
            .attr("addon_name", name.as_str())
            .attr("resolve_conflicts", "OVERWRITE")
            // An add-on without a pinned version follows the cluster's
            // minor: its default (or, for `latest`, newest) version is
            // looked up again for the version the cluster moves to.
            .attr("kubernetes_version", eks.version.as_str())
            .attr("tags", eks_tags(name))
            .from_section("[eks.addons]");
        if let Some(v) = &addon.version {
            r = r.attr("addon_version", v.as_str());
        }
        if name == EBS_CSI_ADDON
            && let Some(role) = &ebs_csi
        {
            r = r.attr("service_account_role_arn", Value::reference(role, "arn"));
        }
        for ng in &nodegroups {
            r = r.after(ng);
        }
        out.push(r);
    }

    // Access entries for the principals other than the creator, each with
    // its access policy (EKS user guide, "Grant IAM users access to
    // Kubernetes with EKS access entries").
    for grant in &eks.access {
        let scope: Vec<Value> = grant.namespaces.iter().map(Value::string).collect();
        out.push(
            Resource::managed(ResourceKind::EksAccessEntry, &grant.name)
                .attr("cluster_name", Value::reference(&a.cluster, "name"))
                .attr("principal_arn", grant.principal.as_str())
                .attr("type", "STANDARD")
                .attr(
                    "access_policies",
                    Value::map([(
                        grant.policy.arn(partition(&stack.region)),
                        Value::List(scope),
                    )]),
                )
                .attr("tags", eks_tags(&grant.name))
                .from_section("[[eks.access]]"),
        );
    }

    // S3 bucket and the least-privilege policy scoped to it.
    if let Some(s3) = &stack.s3 {
        let mut b = Resource::new(a.bucket.clone(), ResourceMode::Managed)
            .attr("bucket", s3.bucket.as_str())
            .attr("versioning", true)
            .attr("sse_algorithm", "AES256")
            .attr(
                "public_access_block",
                Value::map([
                    ("block_public_acls", Value::Bool(true)),
                    ("block_public_policy", Value::Bool(true)),
                    ("ignore_public_acls", Value::Bool(true)),
                    ("restrict_public_buckets", Value::Bool(true)),
                ]),
            )
            .attr("force_destroy", s3.force_destroy)
            .attr(
                "noncurrent_version_expiration_days",
                i64::from(s3.noncurrent_days),
            )
            .attr("tags", tags(stack, &s3.tags, &s3.bucket))
            .from_section("[s3]");
        b.prevent_destroy = s3.prevent_destroy;
        out.push(b);
    }

    // MSK: security group reachable only from the cluster's security
    // group, KMS key and SCRAM secret, configuration, cluster, association.
    if let Some(msk) = &stack.msk {
        let msk_tags = |name: &str| tags(stack, &msk.tags, name);
        let sg = ResourceAddr::new(ResourceKind::Ec2SecurityGroup, "msk");
        out.push(
            Resource::new(sg.clone(), ResourceMode::Managed)
                .attr("name", format!("{}-msk", msk.name))
                .attr(
                    "description",
                    format!(
                        "MSK brokers of {}: SASL/SCRAM from the EKS cluster only",
                        msk.name
                    ),
                )
                .attr("vpc_id", Value::reference(&a.vpc, "id"))
                .attr("tags", msk_tags(&format!("{}-msk", msk.name)))
                .from_section("[msk]"),
        );
        out.push(
            Resource::managed(ResourceKind::Ec2SecurityGroupRule, "msk_scram")
                .attr("security_group_id", Value::reference(&sg, "id"))
                .attr("type", "ingress")
                .attr("protocol", "tcp")
                .attr("from_port", MSK_SCRAM_PORT)
                .attr("to_port", MSK_SCRAM_PORT)
                .attr(
                    "source_security_group_id",
                    Value::reference(&a.cluster, "cluster_security_group_id"),
                )
                .attr(
                    "description",
                    "Kafka SASL/SCRAM from the EKS cluster security group",
                )
                .from_section("[msk]"),
        );
        let key = ResourceAddr::new(ResourceKind::KmsKey, "msk_scram");
        out.push(
            Resource::new(key.clone(), ResourceMode::Managed)
                .attr(
                    "description",
                    format!("Encrypts the SASL/SCRAM secret of MSK cluster {}", msk.name),
                )
                .attr("alias", format!("alias/{}-msk-scram", msk.name))
                .attr("tags", msk_tags(&format!("{}-msk-scram", msk.name)))
                .from_section("[msk]"),
        );
        let secret = ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "msk_scram");
        let mut scram_secret = Resource::new(secret.clone(), ResourceMode::Managed)
            // MSK only associates secrets whose name starts with AmazonMSK_.
            .attr("name", format!("AmazonMSK_{}", msk.name))
            .attr("kms_key_id", Value::reference(&key, "arn"))
            .attr("username", msk.scram.username.as_str())
            .attr("password", Value::Secret(msk.scram.password.clone()))
            .attr("tags", msk_tags(&format!("AmazonMSK_{}", msk.name)))
            .from_section("[msk.scram]");
        // Only when given: the schema's default is Secrets Manager's (30).
        if let Some(days) = msk.secret_recovery_days {
            scram_secret = scram_secret.attr("recovery_window_in_days", i64::from(days));
        }
        out.push(scram_secret);
        let config = ResourceAddr::new(ResourceKind::MskConfiguration, "milvus");
        out.push(
            Resource::new(config.clone(), ResourceMode::Managed)
                .attr("name", msk.name.as_str())
                .attr(
                    "kafka_versions",
                    Value::list([Value::string(&msk.kafka_version)]),
                )
                .attr(
                    "server_properties",
                    Value::map(
                        msk.server_properties
                            .iter()
                            .map(|(k, v)| (k.as_str(), Value::string(v))),
                    ),
                )
                .from_section("[msk.server_properties]"),
        );
        let mut cluster = Resource::new(a.msk_cluster.clone(), ResourceMode::Managed)
            .attr("cluster_name", msk.name.as_str())
            .attr("kafka_version", msk.kafka_version.as_str())
            .attr("number_of_broker_nodes", i64::from(msk.brokers))
            .attr("instance_type", msk.broker_type.as_str())
            .attr(
                "client_subnets",
                Value::list(
                    subnets
                        .iter()
                        .take(msk_subnet_count(&stack.region, subnets.len()))
                        .map(|s| Value::reference(s, "id")),
                ),
            )
            .attr(
                "security_groups",
                Value::list([Value::reference(&sg, "id")]),
            )
            .attr("volume_size", i64::from(msk.volume_size))
            .attr(
                "configuration",
                Value::map([
                    ("arn", Value::reference(&config, "arn")),
                    ("revision", Value::reference(&config, "latest_revision")),
                ]),
            )
            .attr(
                "client_authentication",
                Value::map([("sasl_scram", Value::Bool(true))]),
            )
            .attr(
                "encryption_in_transit",
                Value::map([
                    ("client_broker", Value::string("TLS")),
                    ("in_cluster", Value::Bool(true)),
                ]),
            )
            .attr("tags", msk_tags(&msk.name))
            .from_section("[msk]");
        cluster.prevent_destroy = msk.prevent_destroy;
        out.push(cluster);
        out.push(
            Resource::managed(ResourceKind::MskScramAssociation, "milvus")
                .attr("cluster_arn", Value::reference(&a.msk_cluster, "arn"))
                .attr(
                    "secret_arn_list",
                    Value::list([Value::reference(&secret, "arn")]),
                )
                .from_section("[msk.scram]"),
        );
    }

    // Kubernetes objects: after the node groups exist.
    let k8s_after = |mut r: Resource| {
        for ng in &nodegroups {
            r = r.after(ng);
        }
        r
    };
    let sc = ResourceAddr::new(ResourceKind::K8sStorageClass, "ebs-sc");
    let mut storage = k8s_after(
        Resource::new(sc.clone(), ResourceMode::Managed)
            .attr("name", "ebs-sc")
            .attr("provisioner", "ebs.csi.aws.com")
            .attr("volume_binding_mode", "WaitForFirstConsumer")
            .attr("parameters", Value::map([("type", Value::string("gp3"))]))
            .attr(
                "annotations",
                Value::map([(IS_DEFAULT_CLASS, Value::string("true"))]),
            )
            .from_section("[eks]"),
    );
    let mut gp2 = k8s_after(
        Resource::managed(ResourceKind::K8sDefaultClass, "gp2")
            .attr("name", "gp2")
            .attr("default", false)
            .after(&sc)
            .from_section("[eks]"),
    );
    if eks.addons.contains_key(EBS_CSI_ADDON) {
        let addon = ResourceAddr::new(ResourceKind::EksAddon, EBS_CSI_ADDON);
        storage = storage.after(&addon);
        gp2 = gp2.after(&addon);
    }
    out.push(storage);
    out.push(gp2);

    let lbc_release = stack.load_balancer_controller.as_ref().map(|lbc| {
        let policy_addr = ResourceAddr::new(ResourceKind::IamPolicy, "lb_controller");
        let lbc_chart = charts.load_balancer_controller.as_ref();
        out.push(
            Resource::new(policy_addr.clone(), ResourceMode::Managed)
                .attr(
                    "name",
                    format!("{}-AWSLoadBalancerControllerIAMPolicy", eks.name),
                )
                .attr(
                    "document",
                    lbc_policy_document(stack, &lbc.chart, lbc_chart),
                )
                .published("document", lbc_policy_name(&lbc.chart, lbc_chart))
                .attr("tags", eks_tags(&format!("{}-lb-controller", eks.name)))
                .from_section("[load_balancer_controller]"),
        );
        let role = irsa_role(
            "lb_controller",
            "kube-system",
            LBC_SA,
            Value::list([Value::reference(&policy_addr, "arn")]),
            "[load_balancer_controller]",
        );
        let role_addr = role.addr.clone();
        out.push(role);
        let sa = ResourceAddr::new(ResourceKind::K8sServiceAccount, LBC_SA);
        out.push(k8s_after(
            Resource::new(sa.clone(), ResourceMode::Managed)
                .attr("namespace", "kube-system")
                .attr("name", LBC_SA)
                .attr(
                    "labels",
                    Value::map([("app.kubernetes.io/managed-by", Value::string("stackplan"))]),
                )
                .attr(
                    "annotations",
                    Value::map([(
                        "eks.amazonaws.com/role-arn",
                        Value::reference(&role_addr, "arn"),
                    )]),
                )
                .from_section("[load_balancer_controller]"),
        ));
        let mut values = Value::map([
            ("clusterName", Value::reference(&a.cluster, "name")),
            ("region", Value::string(&stack.region)),
            ("vpcId", Value::reference(&a.vpc, "id")),
            (
                "serviceAccount",
                Value::map([
                    ("create", Value::Bool(false)),
                    ("name", Value::string(LBC_SA)),
                ]),
            ),
        ]);
        values.deep_merge(lbc.values.clone());
        let addr = ResourceAddr::new(ResourceKind::HelmRelease, "aws-load-balancer-controller");
        let release = Resource::new(addr.clone(), ResourceMode::Managed)
            .attr("name", "aws-load-balancer-controller")
            .attr("namespace", "kube-system")
            .attr("chart", chart_value(&lbc.chart, lbc_chart))
            .attr("values", values)
            .attr("wait", lbc.wait)
            .attr("chart_objects", Value::map::<&str>([]))
            .after(&sa)
            .from_section("[load_balancer_controller]");
        // Only when set: the default is the schema's, and a plan of a stack
        // that never mentions it shows no `timeout`.
        let release = match &lbc.timeout {
            Some(t) => release.attr("timeout", t.as_str()),
            None => release,
        };
        out.push(release);
        addr
    });

    if let Some(m) = &stack.milvus {
        let ns = ResourceAddr::new(ResourceKind::K8sNamespace, &m.namespace);
        out.push(k8s_after(
            Resource::new(ns.clone(), ResourceMode::Managed)
                .attr("name", m.namespace.as_str())
                .from_section("[milvus]"),
        ));
        let mut release = Resource::managed(ResourceKind::HelmRelease, "milvus")
            .attr("name", m.release.as_str())
            .attr("namespace", Value::reference(&ns, "name"))
            .attr("chart", chart_value(&m.chart, charts.milvus.as_ref()))
            .attr(
                "values",
                crate::milvus::milvus_values(stack, m, &a, charts.milvus.as_ref()),
            )
            .attr("wait", m.wait)
            // The chart's objects as its manifest makes them: an edit
            // behind stackplan's back is drift (stackplan-kube's
            // chart_drift).
            .attr("chart_objects", Value::map::<&str>([]))
            .after(&sc)
            .from_section("[milvus]");
        if let Some(t) = &m.timeout {
            release = release.attr("timeout", t.as_str());
        }
        if let Some(lbc) = &lbc_release {
            release = release.after(lbc);
        }
        if stack.msk.is_some() {
            // The brokers accept the credentials only once associated.
            release = release.after(&ResourceAddr::new(
                ResourceKind::MskScramAssociation,
                "milvus",
            ));
            // The SCRAM password reaches Milvus from this Secret, not from
            // the release's values (which the chart writes into a
            // ConfigMap); the values reference it, which orders the two.
            out.push(k8s_after(crate::milvus::kafka_sasl_secret(m, &a, &ns)));
        }
        if let Some(s3) = &stack.s3 {
            let policy_addr = ResourceAddr::new(ResourceKind::IamPolicy, "milvus_s3");
            let bucket_arn = Value::reference(&a.bucket, "arn");
            out.push(
                Resource::new(policy_addr.clone(), ResourceMode::Managed)
                    .attr("name", format!("{}-milvus-s3", stack.name))
                    .attr(
                        "document",
                        policy(vec![
                            Value::map([
                                ("Sid", Value::string("ListTheMilvusBucket")),
                                ("Effect", Value::string("Allow")),
                                (
                                    "Action",
                                    Value::list([
                                        Value::string("s3:ListBucket"),
                                        Value::string("s3:GetBucketLocation"),
                                    ]),
                                ),
                                ("Resource", bucket_arn.clone()),
                            ]),
                            Value::map([
                                ("Sid", Value::string("ReadWriteMilvusObjects")),
                                ("Effect", Value::string("Allow")),
                                (
                                    "Action",
                                    Value::list(
                                        [
                                            "s3:GetObject",
                                            "s3:PutObject",
                                            "s3:DeleteObject",
                                            "s3:AbortMultipartUpload",
                                            "s3:ListMultipartUploadParts",
                                        ]
                                        .map(Value::string),
                                    ),
                                ),
                                (
                                    "Resource",
                                    Value::Concat(vec![bucket_arn, Value::string("/*")]),
                                ),
                            ]),
                        ]),
                    )
                    .attr(
                        "tags",
                        tags(stack, &s3.tags, &format!("{}-milvus-s3", stack.name)),
                    )
                    .from_section("[s3]"),
            );
            let role = irsa_role(
                "milvus_s3",
                &m.namespace,
                MILVUS_SA,
                Value::list(
                    std::iter::once(Value::reference(&policy_addr, "arn"))
                        .chain(s3.policy_arns.iter().map(Value::string)),
                ),
                "[s3]",
            );
            let role_addr = role.addr.clone();
            out.push(role);
            let sa = ResourceAddr::new(ResourceKind::K8sServiceAccount, MILVUS_SA);
            out.push(k8s_after(
                Resource::new(sa.clone(), ResourceMode::Managed)
                    .attr("namespace", Value::reference(&ns, "name"))
                    .attr("name", MILVUS_SA)
                    .attr(
                        "labels",
                        Value::map([("aws-usage", Value::string("milvus"))]),
                    )
                    .attr(
                        "annotations",
                        Value::map([(
                            "eks.amazonaws.com/role-arn",
                            Value::reference(&role_addr, "arn"),
                        )]),
                    )
                    .from_section("[s3]"),
            ));
            release = release.after(&sa);
        }
        out.push(release);
    }

    // What is applied through the cluster's API waits for the access
    // entries: the principal running the apply may be one of them (a
    // cluster made with `creator_admin = false`, an ops role taking over).
    let entries: Vec<ResourceAddr> = out
        .iter()
        .filter(|r| r.addr.kind == ResourceKind::EksAccessEntry)
        .map(|r| r.addr.clone())
        .collect();
    for r in &mut out {
        if r.addr.kind.family() != ProviderFamily::Aws {
            for entry in &entries {
                r.depends_on.insert(entry.clone());
            }
        }
    }
    attach_ignores(stack, &a, &mut out);
    out.sort_by(|x, y| x.addr.cmp(&y.addr));
    out
}

/// Gives each section's main resource the paths its `ignore` names, and
/// an autoscaled node group its count.
fn attach_ignores(stack: &Stack, a: &Addrs, out: &mut [Resource]) {
    let mut wanted: Vec<(ResourceAddr, Vec<String>)> = vec![
        (a.cluster.clone(), stack.eks.ignore.clone()),
        (
            ResourceAddr::new(ResourceKind::HelmRelease, "milvus"),
            stack
                .milvus
                .as_ref()
                .map(|m| m.ignore.clone())
                .unwrap_or_default(),
        ),
        (
            a.bucket.clone(),
            stack
                .s3
                .as_ref()
                .map(|s| s.ignore.clone())
                .unwrap_or_default(),
        ),
        (
            a.msk_cluster.clone(),
            stack
                .msk
                .as_ref()
                .map(|m| m.ignore.clone())
                .unwrap_or_default(),
        ),
    ];
    for ng in &stack.eks.nodegroups {
        let mut paths = ng.ignore.clone();
        if ng.autoscaled {
            paths.push("scaling.desired_size".to_string());
        }
        wanted.push((
            ResourceAddr::new(ResourceKind::EksNodegroup, &ng.name),
            paths,
        ));
    }
    for (addr, mut paths) in wanted {
        paths.sort();
        paths.dedup();
        if let Some(r) = out.iter_mut().find(|r| r.addr == addr) {
            r.ignore = paths;
        }
    }
}
