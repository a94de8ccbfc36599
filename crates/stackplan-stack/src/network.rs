//! The VPC stackplan creates, laid out as eksctl's default VPC: per zone a
//! private subnet (nodes, MSK, internal load balancers) and a public one
//! (NAT gateways, internet-facing load balancers); an internet gateway
//! with the public route table through it; NAT gateways (one, one per
//! zone, or none) with each private route table through its zone's; and,
//! when asked or when there is no NAT, the VPC endpoints a private cluster
//! needs (EKS user guide, "Deploy private clusters with limited internet
//! access": S3 gateway; ECR api and dkr, STS, EC2, Logs interfaces).
//!
//! Teardown order falls out of the references: associations before their
//! route tables and subnets, NAT gateways before their Elastic IPs and
//! subnets, and (through an explicit edge) before the internet gateway,
//! which EC2 refuses to detach while NAT addresses are mapped.

use ipnet::Ipv4Net;
use stackplan_core::{Resource, ResourceAddr, ResourceKind as K, ResourceMode, Value};

use crate::expand::{EXCLUDED_ZONE_IDS, tags};
use crate::model::{NatMode, Stack};

/// The interface endpoints a cluster without NAT needs, by address name
/// and service.
const INTERFACE_ENDPOINTS: [(&str, &str); 5] = [
    ("ecr_api", "ecr.api"),
    ("ecr_dkr", "ecr.dkr"),
    ("sts", "sts"),
    ("ec2", "ec2"),
    ("logs", "logs"),
];

/// Everything a created VPC is made of.
pub(crate) struct NetworkLayout<'a> {
    pub stack: &'a Stack,
    pub vpc: &'a ResourceAddr,
    pub net: Ipv4Net,
    pub azs: u32,
    pub nat: NatMode,
    pub endpoints: bool,
    /// The private subnets' addresses, which the rest of the stack uses.
    pub private: &'a [ResourceAddr],
}

/// The network's resources, and what a node needs before it can join:
/// its subnet's route out, or the endpoints.
pub(crate) struct Network {
    pub resources: Vec<Resource>,
    pub egress: Vec<ResourceAddr>,
    /// The interface endpoints' security group, when there are endpoints:
    /// the expansion opens it to the cluster's security group.
    pub endpoints_group: Option<ResourceAddr>,
}

fn addr(kind: K, name: &str) -> ResourceAddr {
    ResourceAddr::new(kind, name)
}

fn indexed(kind: K, name: &str, i: u32) -> ResourceAddr {
    ResourceAddr::indexed(kind, name, i)
}

fn id(of: &ResourceAddr) -> Value {
    Value::reference(of, "id")
}

impl NetworkLayout<'_> {
    fn tags(&self, name: Value, extra: &[(&str, &str)]) -> Value {
        let mut t = tags(self.stack, &self.stack.network.tags, "");
        // A Name the stack gives in its tags is kept.
        if t.get_path("Name") == Some(&Value::string("")) {
            t.deep_merge(Value::map([("Name", name)]));
        }
        if !extra.is_empty() {
            t.deep_merge(Value::map(
                extra.iter().map(|(k, v)| (*k, Value::string(*v))),
            ));
        }
        t
    }

    fn named(&self, suffix: &str) -> Value {
        Value::string(format!("{}-{suffix}", self.stack.name))
    }

    fn nat_count(&self) -> u32 {
        match self.nat {
            NatMode::Single => 1,
            NatMode::PerAz => self.azs,
            NatMode::None => 0,
        }
    }

    pub(crate) fn resources(&self) -> Network {
        let stack = self.stack;
        let mut out = Vec::new();
        let mut egress = Vec::new();
        let mut endpoints_group = None;
        out.push(
            Resource::new(self.vpc.clone(), ResourceMode::Managed)
                .attr("cidr_block", self.net.to_string())
                .attr("enable_dns_support", true)
                // Interface endpoints' private DNS needs both DNS flags.
                .attr("enable_dns_hostnames", true)
                .attr("tags", tags(stack, &stack.network.tags, &stack.name))
                .from_section("[network]"),
        );
        // The zones come from AWS at plan, never from the region's name:
        // accounts and regions differ in which exist.
        let zones = addr(K::Ec2AvailabilityZones, "main");
        out.push(
            Resource::new(zones.clone(), ResourceMode::Lookup)
                .attr("count", i64::from(self.azs))
                .attr(
                    "exclude_zone_ids",
                    Value::list(EXCLUDED_ZONE_IDS.map(Value::string)),
                )
                .from_section("[network]"),
        );
        let blocks =
            crate::expand::subnet_cidrs(&self.net, self.azs).expect("validated when parsed");
        let (private_blocks, public_blocks) = blocks.split_at(self.azs as usize);
        let cluster_tag = format!("kubernetes.io/cluster/{}", stack.eks.name);
        let zone_name = |i: u32, role: &str| {
            Value::Concat(vec![
                Value::string(format!("{}-{role}-", stack.name)),
                Value::reference(&zones, &format!("zone_{i}")),
            ])
        };
        let public: Vec<ResourceAddr> = (0..self.azs)
            .map(|i| indexed(K::Ec2Subnet, "public", i))
            .collect();
        for (i, (subnet, block)) in self.private.iter().zip(private_blocks).enumerate() {
            let i = i as u32;
            out.push(
                Resource::new(subnet.clone(), ResourceMode::Managed)
                    .attr("vpc_id", id(self.vpc))
                    .attr("cidr_block", block.to_string())
                    .attr(
                        "availability_zone",
                        Value::reference(&zones, &format!("zone_{i}")),
                    )
                    .attr(
                        "tags",
                        self.tags(
                            zone_name(i, "private"),
                            &[
                                ("kubernetes.io/role/internal-elb", "1"),
                                (cluster_tag.as_str(), "shared"),
                            ],
                        ),
                    )
                    .from_section("[network]"),
            );
        }
        for (i, (subnet, block)) in public.iter().zip(public_blocks).enumerate() {
            let i = i as u32;
            out.push(
                Resource::new(subnet.clone(), ResourceMode::Managed)
                    .attr("vpc_id", id(self.vpc))
                    .attr("cidr_block", block.to_string())
                    .attr(
                        "availability_zone",
                        Value::reference(&zones, &format!("zone_{i}")),
                    )
                    .attr("map_public_ip_on_launch", true)
                    .attr(
                        "tags",
                        self.tags(
                            zone_name(i, "public"),
                            &[
                                ("kubernetes.io/role/elb", "1"),
                                (cluster_tag.as_str(), "shared"),
                            ],
                        ),
                    )
                    .from_section("[network]"),
            );
        }

        // The way out: the internet gateway and the public route table.
        let igw = addr(K::Ec2InternetGateway, "main");
        out.push(
            Resource::new(igw.clone(), ResourceMode::Managed)
                .attr("vpc_id", id(self.vpc))
                .attr("tags", self.tags(self.named("igw"), &[]))
                .from_section("[network]"),
        );
        let public_rt = addr(K::Ec2RouteTable, "public");
        out.push(
            Resource::new(public_rt.clone(), ResourceMode::Managed)
                .attr("vpc_id", id(self.vpc))
                .attr("routes", Value::map([("0.0.0.0/0", id(&igw))]))
                .attr("tags", self.tags(self.named("public"), &[]))
                .from_section("[network]"),
        );
        for (i, subnet) in public.iter().enumerate() {
            out.push(
                Resource::new(
                    indexed(K::Ec2RouteTableAssociation, "public", i as u32),
                    ResourceMode::Managed,
                )
                .attr("subnet_id", id(subnet))
                .attr("route_table_id", id(&public_rt))
                .from_section("[network]"),
            );
        }

        // NAT gateways in the public subnets, each with its Elastic IP.
        // EC2 refuses a public NAT gateway in a VPC without an attached
        // internet gateway (Gateway.NotAttached), hence the edge.
        let mut nats = Vec::new();
        for i in 0..self.nat_count() {
            let eip = indexed(K::Ec2Eip, "nat", i);
            out.push(
                Resource::new(eip.clone(), ResourceMode::Managed)
                    .attr("domain", "vpc")
                    .attr("tags", self.tags(self.named(&format!("nat-{i}")), &[]))
                    .from_section("[network]"),
            );
            let nat = indexed(K::Ec2NatGateway, "nat", i);
            out.push(
                Resource::new(nat.clone(), ResourceMode::Managed)
                    .attr("subnet_id", id(&public[i as usize]))
                    .attr("allocation_id", id(&eip))
                    .attr("connectivity_type", "public")
                    .attr("tags", self.tags(self.named(&format!("nat-{i}")), &[]))
                    .after(&igw)
                    .from_section("[network]"),
            );
            nats.push(nat);
        }

        // A private route table per zone, through that zone's NAT gateway
        // (or the one), as eksctl lays them out.
        let mut private_rts = Vec::new();
        for (i, subnet) in self.private.iter().enumerate() {
            let rt = indexed(K::Ec2RouteTable, "private", i as u32);
            let routes = match nats.get(i).or(nats.first()) {
                Some(nat) => Value::map([("0.0.0.0/0", id(nat))]),
                None => Value::Map(Default::default()),
            };
            out.push(
                Resource::new(rt.clone(), ResourceMode::Managed)
                    .attr("vpc_id", id(self.vpc))
                    .attr("routes", routes)
                    .attr("tags", self.tags(self.named(&format!("private-{i}")), &[]))
                    .from_section("[network]"),
            );
            let assoc = indexed(K::Ec2RouteTableAssociation, "private", i as u32);
            out.push(
                Resource::new(assoc.clone(), ResourceMode::Managed)
                    .attr("subnet_id", id(subnet))
                    .attr("route_table_id", id(&rt))
                    .from_section("[network]"),
            );
            egress.push(assoc);
            private_rts.push(rt);
        }

        if self.endpoints || self.nat == NatMode::None {
            let region = &stack.region;
            let s3 = addr(K::Ec2VpcEndpoint, "s3");
            out.push(
                Resource::new(s3.clone(), ResourceMode::Managed)
                    .attr("vpc_id", id(self.vpc))
                    .attr("service_name", format!("com.amazonaws.{region}.s3"))
                    .attr("vpc_endpoint_type", "Gateway")
                    .attr("route_table_ids", Value::list(private_rts.iter().map(id)))
                    .attr("tags", self.tags(self.named("s3"), &[]))
                    .from_section("[network]"),
            );
            egress.push(s3);
            // Interface endpoints answer HTTPS from the nodes: a group of
            // their own, opened to the cluster's security group (which EKS
            // gives managed nodes) by a rule the expansion adds with the
            // cluster.
            let sg = addr(K::Ec2SecurityGroup, "endpoints");
            out.push(
                Resource::new(sg.clone(), ResourceMode::Managed)
                    .attr("name", format!("{}-endpoints", stack.name))
                    .attr(
                        "description",
                        "VPC interface endpoints, reached over HTTPS from the EKS nodes",
                    )
                    .attr("vpc_id", id(self.vpc))
                    .attr("tags", self.tags(self.named("endpoints"), &[]))
                    .from_section("[network]"),
            );
            for (name, service) in INTERFACE_ENDPOINTS {
                let e = addr(K::Ec2VpcEndpoint, name);
                out.push(
                    Resource::new(e.clone(), ResourceMode::Managed)
                        .attr("vpc_id", id(self.vpc))
                        .attr("service_name", format!("com.amazonaws.{region}.{service}"))
                        .attr("vpc_endpoint_type", "Interface")
                        .attr("subnet_ids", Value::list(self.private.iter().map(id)))
                        .attr("security_group_ids", Value::list([id(&sg)]))
                        .attr("private_dns_enabled", true)
                        .attr("tags", self.tags(self.named(&name.replace('_', "-")), &[]))
                        .from_section("[network]"),
                );
                egress.push(e);
            }
            endpoints_group = Some(sg);
        }
        Network {
            resources: out,
            egress,
            endpoints_group,
        }
    }
}
