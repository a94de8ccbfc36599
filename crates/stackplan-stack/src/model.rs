//! The stack file as typed data, after validation. Spans are kept only
//! where a later rule or message needs to point back into the file.

use std::collections::BTreeMap;
use std::ops::Range;

use stackplan_core::{SecretSource, Value};

/// A whole, valid stack file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// The path the stack was read from, as given (for messages and hashing).
    pub path: String,
    pub name: String,
    pub region: String,
    /// `[stack] tags`: put on every AWS resource, under each section's own.
    pub tags: BTreeMap<String, String>,
    pub state: StateConfig,
    pub network: Network,
    pub eks: Eks,
    pub s3: Option<S3>,
    pub msk: Option<Msk>,
    pub milvus: Option<Milvus>,
    pub load_balancer_controller: Option<LoadBalancerController>,
    pub kubernetes: Option<KubernetesOverride>,
    /// The file's text, for messages that point into it after parsing
    /// (a resource key the chart being installed does not have).
    pub source: String,
}

/// `~/x` under `home`, a relative path under `base`, an absolute one as is.
fn resolve(path: &str, base: &std::path::Path, home: Option<&std::path::Path>) -> String {
    if let (Some(rest), Some(home)) = (path.strip_prefix("~/"), home) {
        return home.join(rest).display().to_string();
    }
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        path.to_string()
    } else {
        base.join(p).display().to_string()
    }
}

impl Stack {
    /// Makes every file path in the stack independent of the working
    /// directory: relative to `base` (the stack file's directory).
    pub fn resolve_paths(&mut self, base: &std::path::Path, home: Option<&std::path::Path>) {
        if let Some(k) = &mut self.kubernetes {
            k.kubeconfig = resolve(&k.kubeconfig, base, home);
        }
        if let StateConfig::Local { path: Some(p) } = &mut self.state {
            *p = resolve(p, base, home);
        }
        let charts = [
            self.milvus.as_mut().map(|m| &mut m.chart),
            self.load_balancer_controller.as_mut().map(|l| &mut l.chart),
        ];
        for chart in charts.into_iter().flatten() {
            if let Chart::Path { path } = chart {
                *path = resolve(path, base, home);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateConfig {
    /// `.stackplan/<stack>.state.json`, or `path` when given.
    Local { path: Option<String> },
    S3 {
        bucket: String,
        key: String,
        region: Option<String>,
        /// SSE-KMS under this key (id, ARN, alias or alias ARN) for the
        /// state and lock objects; `None` is SSE-S3.
        kms_key_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub vpc: VpcSpec,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcSpec {
    /// An existing VPC and its private subnets, looked up and never changed.
    Existing {
        vpc_id: String,
        private_subnets: Vec<String>,
    },
    /// A VPC that stackplan creates, laid out as eksctl's default: a
    /// public and a private subnet per AZ, an internet gateway, NAT.
    Create {
        cidr: String,
        azs: u32,
        nat: NatMode,
        /// VPC endpoints for S3, ECR, STS, EC2 and Logs (required without
        /// NAT: a private cluster reaches AWS through them).
        endpoints: bool,
    },
}

/// How the private subnets of a created VPC reach the internet (eksctl's
/// `vpc.nat.gateway`: Single, HighlyAvailable, Disable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatMode {
    /// One NAT gateway, in the first zone's public subnet.
    Single,
    /// One per zone: no zone's outage cuts the others off.
    PerAz,
    /// None: the private subnets reach AWS through VPC endpoints only.
    None,
}

impl NatMode {
    pub const ALL: [NatMode; 3] = [NatMode::Single, NatMode::PerAz, NatMode::None];

    pub fn key(self) -> &'static str {
        match self {
            NatMode::Single => "single",
            NatMode::PerAz => "per-az",
            NatMode::None => "none",
        }
    }
}

impl Network {
    /// How many subnets (and so availability zones) the stack spans.
    pub fn subnet_count(&self) -> usize {
        match &self.vpc {
            VpcSpec::Existing {
                private_subnets, ..
            } => private_subnets.len(),
            VpcSpec::Create { azs, .. } => *azs as usize,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Eks {
    pub name: String,
    pub version: String,
    pub endpoint_public_access: bool,
    /// Whether the principal that creates the cluster becomes its admin
    /// through an access entry (EKS's bootstrap; default true).
    pub creator_admin: bool,
    pub nodegroups: Vec<Nodegroup>,
    /// By add-on name, in name order.
    pub addons: BTreeMap<String, Addon>,
    /// `[[eks.access]]`: principals other than the creator, in file order.
    pub access: Vec<AccessGrant>,
    pub tags: BTreeMap<String, String>,
    pub prevent_destroy: bool,
    /// `ignore = [...]`: attribute paths of the section's resource that
    /// something else owns, never changed nor reported as drift.
    pub ignore: Vec<String>,
}

/// One `[[eks.access]]` entry: an IAM principal's access entry with one
/// EKS access policy, cluster-wide or scoped to namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The address name: `name`, else the principal's own name.
    pub name: String,
    pub principal: String,
    pub policy: AccessPolicy,
    /// Empty: the whole cluster.
    pub namespaces: Vec<String>,
}

/// The EKS access policies a stack can grant, by their short names
/// (EKS user guide, "Review access policy permissions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicy {
    ClusterAdmin,
    Admin,
    AdminView,
    Edit,
    View,
}

impl AccessPolicy {
    pub const ALL: [AccessPolicy; 5] = [
        AccessPolicy::ClusterAdmin,
        AccessPolicy::Admin,
        AccessPolicy::AdminView,
        AccessPolicy::Edit,
        AccessPolicy::View,
    ];

    /// The stack's name for it.
    pub fn key(self) -> &'static str {
        match self {
            AccessPolicy::ClusterAdmin => "cluster-admin",
            AccessPolicy::Admin => "admin",
            AccessPolicy::AdminView => "admin-view",
            AccessPolicy::Edit => "edit",
            AccessPolicy::View => "view",
        }
    }

    /// EKS's name, the last part of its ARN.
    pub fn eks_name(self) -> &'static str {
        match self {
            AccessPolicy::ClusterAdmin => "AmazonEKSClusterAdminPolicy",
            AccessPolicy::Admin => "AmazonEKSAdminPolicy",
            AccessPolicy::AdminView => "AmazonEKSAdminViewPolicy",
            AccessPolicy::Edit => "AmazonEKSEditPolicy",
            AccessPolicy::View => "AmazonEKSViewPolicy",
        }
    }

    /// `arn:<partition>:eks::aws:cluster-access-policy/<name>`.
    pub fn arn(self, partition: &str) -> String {
        format!(
            "arn:{partition}:eks::aws:cluster-access-policy/{}",
            self.eks_name()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodegroup {
    pub name: String,
    pub instance_type: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub disk_size: u32,
    /// The EKS optimized AMI release (`1.30.4-20250123`), of the cluster's
    /// Kubernetes version; `None` is EKS's latest for the version.
    pub release_version: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// `desired = "autoscaled"`: an autoscaler owns the node count;
    /// `desired` is then `min`, used at create only.
    pub autoscaled: bool,
    /// `ignore = [...]`: attribute paths of the section's resource that
    /// something else owns, never changed nor reported as drift.
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addon {
    /// `None` lets EKS pick its default for the cluster version; `latest`
    /// is resolved to a concrete version at plan time.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3 {
    pub bucket: String,
    pub root_path: String,
    /// Delete the objects too when the bucket is destroyed.
    pub force_destroy: bool,
    /// Days after which a noncurrent object version expires; 0 keeps them.
    pub noncurrent_days: u32,
    /// Managed policies attached to Milvus's role next to the
    /// least-privilege one (`AmazonS3FullAccess` is warned about).
    pub policy_arns: Vec<String>,
    /// GiB the stack expects Milvus to store: priced in the plan's
    /// estimate, nothing else (`None`: its cost is unknown).
    pub expected_size_gib: Option<u32>,
    pub tags: BTreeMap<String, String>,
    pub prevent_destroy: bool,
    /// `ignore = [...]`: attribute paths of the section's resource that
    /// something else owns, never changed nor reported as drift.
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Msk {
    pub name: String,
    pub kafka_version: String,
    pub broker_type: String,
    pub brokers: u32,
    pub volume_size: u32,
    pub scram: Scram,
    /// Days Secrets Manager keeps the SCRAM secret after it is deleted: 0
    /// (at once) or 7 to 30; `None` leaves Secrets Manager's default, 30.
    pub secret_recovery_days: Option<u32>,
    pub server_properties: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub prevent_destroy: bool,
    /// `ignore = [...]`: attribute paths of the section's resource that
    /// something else owns, never changed nor reported as drift.
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scram {
    pub username: String,
    pub password: SecretSource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Milvus {
    pub release: String,
    pub namespace: String,
    pub chart: Chart,
    /// Where the chart is chosen in the file (`chart`, `chart_version` or
    /// the section), for messages about the chart.
    pub chart_span: Range<usize>,
    pub service: Service,
    pub attu: Attu,
    pub ha: bool,
    /// `None` keeps the chart's own requests and limits.
    pub resources: Option<Resources>,
    /// Wait for the release's workloads to be ready (`helm --wait`).
    pub wait: bool,
    /// How long helm waits (`--timeout`), a Go duration: `"90s"`;
    /// `None`: [`DEFAULT_HELM_TIMEOUT`].
    pub timeout: Option<String>,
    /// `[milvus.values]`, deep-merged over the generated values.
    pub values: Value,
    /// `ignore = [...]`: attribute paths of the section's resource that
    /// something else owns, never changed nor reported as drift.
    pub ignore: Vec<String>,
}

/// Where a Helm chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    Repository {
        url: String,
        name: String,
        version: Option<String>,
    },
    /// A chart directory or archive on disk (tests use the fixture charts).
    Path { path: String },
    /// An OCI reference, `oci://registry/repo/chart`.
    Oci {
        reference: String,
        version: Option<String>,
    },
}

impl Chart {
    pub fn version(&self) -> Option<&str> {
        match self {
            Chart::Repository { version, .. } | Chart::Oci { version, .. } => version.as_deref(),
            Chart::Path { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub kind: ServiceType,
    pub scheme: LbScheme,
    pub load_balancer_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    LoadBalancer,
    ClusterIp,
    NodePort,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbScheme {
    Internal,
    InternetFacing,
}

impl LbScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            LbScheme::Internal => "internal",
            LbScheme::InternetFacing => "internet-facing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attu {
    pub enabled: bool,
    pub scheme: LbScheme,
    /// The host the ingress routes; without one, every host reaches Attu.
    pub host: Option<String>,
    /// An ACM certificate: the ALB then listens on HTTPS 443 only.
    pub certificate_arn: Option<String>,
}

/// The worker pods' sizes: given, or computed from `sizing`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub query_node: Option<NodeResources>,
    pub data_node: Option<NodeResources>,
    pub index_node: Option<NodeResources>,
    pub streaming_node: Option<NodeResources>,
    /// Where the figures came from, shown in `render`.
    pub origin: ResourcesOrigin,
    /// Where each given worker key is in the file, by the stack's key
    /// (`index_node`), for a key the chart being installed lacks.
    pub spans: BTreeMap<String, Range<usize>>,
}

impl Resources {
    /// The given sizes by the stack's key.
    pub fn by_key(&self) -> [(&'static str, Option<&NodeResources>); 4] {
        [
            ("query_node", self.query_node.as_ref()),
            ("data_node", self.data_node.as_ref()),
            ("index_node", self.index_node.as_ref()),
            ("streaming_node", self.streaming_node.as_ref()),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResources {
    pub replicas: u32,
    pub cpu: String,
    pub memory: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResourcesOrigin {
    /// `[milvus.resources]` as written.
    Given,
    /// `sizing = { vectors, dim, index }`.
    Sizing(crate::sizing::SizingInput),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerController {
    pub chart: Chart,
    pub chart_span: Range<usize>,
    pub wait: bool,
    /// How long helm waits (`--timeout`), a Go duration: `"90s"`;
    /// `None`: [`DEFAULT_HELM_TIMEOUT`].
    pub timeout: Option<String>,
    pub values: Value,
}

/// helm's `--timeout` when a release does not set `timeout` (the
/// attribute's schema default): helm's own default is 5m; the Milvus
/// chart's first install pulls a dozen images, so stackplan allows it
/// twice that.
pub const DEFAULT_HELM_TIMEOUT: &str = "10m";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesOverride {
    pub kubeconfig: String,
    pub context: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::resolve;

    #[test]
    fn paths_resolve_against_the_stack_file_and_home() {
        let base = Path::new("/repo/stacks");
        let home = Some(Path::new("/home/ops"));
        assert_eq!(
            resolve("../charts/milvus", base, home),
            "/repo/stacks/../charts/milvus"
        );
        assert_eq!(
            resolve("~/.kube/config", base, home),
            "/home/ops/.kube/config"
        );
        assert_eq!(resolve("/etc/kubeconfig", base, home), "/etc/kubeconfig");
    }
}
