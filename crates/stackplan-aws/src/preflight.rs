//! Checks at plan time against what only AWS knows, so that a stack AWS
//! would refuse late in an apply is refused before anything is created.
//!
//! - EKS add-on names: `CreateAddon` fails for a name EKS does not offer,
//!   and only once the cluster exists (15 minutes into a first apply). The
//!   names come from `DescribeAddonVersions` for the stack's Kubernetes
//!   version (botocore `eks` model: `DescribeAddonVersions`, paginated by
//!   `nextToken`; without `addonName` it lists every add-on).
//! - An existing network (`[network] vpc_id`, `private_subnets`): the
//!   subnets exist, belong to that VPC and span at least two Availability
//!   Zones (EKS user guide, "View Amazon EKS networking requirements for VPC
//!   and subnets": subnets in at least two zones; CreateCluster refuses
//!   fewer), and the ones MSK's brokers get are in distinct zones (MSK
//!   developer guide, "Create an MSK Provisioned cluster").

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use stackplan_core::{
    Finding, Resource, ResourceAddr, ResourceKind, ResourceMode, Severity, Value,
};

use crate::AwsProvider;
use crate::error::{AwsError, AwsResult};

/// The existing VPC lookup's flag: the stack needs public subnets tagged
/// for internet-facing load balancers (an internet-facing Attu).
pub const PUBLIC_ELB_SUBNETS: &str = "public_elb_subnets";

/// The internet gateway a subnet's route table sends traffic to: its
/// explicit association's table, else the VPC's main one (VPC user guide,
/// "Subnet route tables": a subnet without an association uses the main
/// route table). A subnet routing to one is public.
fn internet_gateway_of<'a>(
    tables: &'a [aws_sdk_ec2::types::RouteTable],
    subnet: &str,
) -> Option<&'a str> {
    let explicit = tables.iter().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    let table = explicit.or_else(|| {
        tables
            .iter()
            .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
    })?;
    table
        .routes()
        .iter()
        .filter_map(|r| r.gateway_id())
        .find(|g| g.starts_with("igw-"))
}

/// The closest known name, for a did-you-mean: one that contains the
/// given name or is contained in it (`ebs-csi` → `aws-ebs-csi-driver`), else
/// the most similar by Jaro-Winkler above 0.8.
fn nearest<'a>(name: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    let n = name.to_ascii_lowercase();
    known
        .iter()
        .find(|k| k.contains(&n) || n.contains(k.as_str()))
        .or_else(|| {
            known
                .iter()
                .map(|k| (strsim::jaro_winkler(&n, k), k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| k)
        })
        .map(String::as_str)
}

impl AwsProvider {
    /// Every add-on EKS offers for Kubernetes `version`.
    async fn addon_names(
        &self,
        cluster: &stackplan_core::ResourceAddr,
        version: &str,
    ) -> AwsResult<BTreeSet<String>> {
        let pages = self
            .eks
            .describe_addon_versions()
            .kubernetes_version(version)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::Failed {
                addr: cluster.clone(),
                what: format!(
                    "DescribeAddonVersions: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
            })?;
        Ok(pages
            .iter()
            .flat_map(|p| p.addons())
            .filter_map(|a| a.addon_name().map(str::to_string))
            .collect())
    }

    pub(crate) async fn preflight_findings(
        &self,
        resources: &[&Resource],
    ) -> AwsResult<Vec<Finding>> {
        let (mut addons, network) = tokio::try_join!(
            self.addon_findings(resources),
            self.network_findings(resources)
        )?;
        addons.extend(network);
        Ok(addons)
    }

    /// The existing subnets a stack names, checked as EKS and MSK will,
    /// and as the load balancer controller will look for them.
    async fn network_findings(&self, resources: &[&Resource]) -> AwsResult<Vec<Finding>> {
        let literal = |r: &Resource| {
            r.attrs
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let vpc_lookup = resources
            .iter()
            .find(|r| r.addr.kind == ResourceKind::Ec2Vpc && r.mode == ResourceMode::Lookup);
        let vpc = vpc_lookup.and_then(|r| literal(r));
        let subnets: Vec<(&Resource, String)> = resources
            .iter()
            .filter(|r| r.addr.kind == ResourceKind::Ec2Subnet && r.mode == ResourceMode::Lookup)
            .filter_map(|r| Some((*r, literal(r)?)))
            .collect();
        let Some(first) = subnets.first() else {
            return Ok(Vec::new());
        };
        let first_addr = &first.0.addr;
        // A filter, not SubnetIds: one unknown id would fail the whole call.
        let described = self.ec2.describe_subnets().filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(subnets.iter().map(|(_, id)| id.clone()).collect()))
                .build(),
        );
        let routes = async {
            match &vpc {
                Some(v) => self
                    .ec2
                    .describe_route_tables()
                    .filters(Filter::builder().name("vpc-id").values(v).build())
                    .send()
                    .await
                    .map(Some)
                    .map_err(|e| AwsError::api(first_addr, "DescribeRouteTables", e)),
                None => Ok(None),
            }
        };
        let wants_public =
            vpc_lookup.is_some_and(|r| r.attrs.get(PUBLIC_ELB_SUBNETS) == Some(&Value::Bool(true)));
        let public = async {
            match (&vpc, wants_public) {
                (Some(v), true) => self
                    .ec2
                    .describe_subnets()
                    .filters(Filter::builder().name("vpc-id").values(v).build())
                    .filters(
                        Filter::builder()
                            .name("tag:kubernetes.io/role/elb")
                            .values("1")
                            .build(),
                    )
                    .send()
                    .await
                    .map(Some)
                    .map_err(|e| AwsError::api(first_addr, "DescribeSubnets", e)),
                _ => Ok(None),
            }
        };
        let (out, routes, public) = tokio::try_join!(
            async {
                described
                    .send()
                    .await
                    .map_err(|e| AwsError::api(first_addr, "DescribeSubnets", e))
            },
            routes,
            public
        )?;
        let live: BTreeMap<&str, &aws_sdk_ec2::types::Subnet> = out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.subnet_id()?, s)))
            .collect();
        let finding = |addr: &ResourceAddr, message: String, hint: &str| Finding {
            addr: addr.clone(),
            attr: "id".into(),
            message,
            hint: Some(hint.to_string()),
            severity: Severity::Error,
        };
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let mut zone_of: BTreeMap<ResourceAddr, &str> = BTreeMap::new();
        for (r, id) in &subnets {
            let Some(subnet) = live.get(id.as_str()) else {
                out.push(finding(
                    &r.addr,
                    format!("subnet {id} does not exist in {}", self.region),
                    "check `[network] private_subnets` and the stack's region",
                ));
                continue;
            };
            let subnet_vpc = subnet.vpc_id().unwrap_or_default();
            if let Some(v) = &vpc
                && subnet_vpc != v
            {
                out.push(finding(
                    &r.addr,
                    format!("subnet {id} is in {subnet_vpc}, not in [network] vpc_id {v}"),
                    "every private subnet must belong to `vpc_id`",
                ));
            }
            if let Some(zone) = subnet.availability_zone() {
                zone_of.insert(r.addr.clone(), zone);
            }
            if let Some(igw) = routes
                .as_ref()
                .and_then(|t| internet_gateway_of(t.route_tables(), id))
            {
                warnings.push(Finding {
                    severity: Severity::Warning,
                    ..finding(
                        &r.addr,
                        format!("subnet {id} routes to the internet gateway {igw}: it is public, not private"),
                        "nodes and MSK brokers belong in private subnets (a route to a NAT gateway, or none)",
                    )
                });
            }
            let tagged = subnet
                .tags()
                .iter()
                .any(|t| t.key() == Some("kubernetes.io/role/internal-elb"));
            if !tagged {
                warnings.push(Finding {
                    severity: Severity::Warning,
                    ..finding(
                        &r.addr,
                        format!("subnet {id} is not tagged kubernetes.io/role/internal-elb"),
                        "the load balancer controller finds subnets for internal load balancers by that tag: tag it `kubernetes.io/role/internal-elb = 1`",
                    )
                });
            }
        }
        let zones: BTreeSet<&str> = zone_of.values().copied().collect();
        if out.is_empty() && zones.len() < 2 {
            out.push(finding(
                first_addr,
                format!(
                    "the private subnets are all in {}: EKS needs subnets in at least two Availability Zones",
                    zones.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "add a private subnet of another zone to `[network] private_subnets`",
            ));
        }
        // An internet-facing ALB takes public subnets in at least two
        // zones, found by the `kubernetes.io/role/elb` tag (AWS Load
        // Balancer Controller docs, "Subnet auto-discovery"; ELB user
        // guide: an Application Load Balancer needs two zones).
        if let (Some(public), Some(lookup), Some(v)) = (public, vpc_lookup, &vpc) {
            let zones: BTreeSet<&str> = public
                .subnets()
                .iter()
                .filter_map(|s| s.availability_zone())
                .collect();
            if zones.len() < 2 {
                out.push(Finding {
                    attr: PUBLIC_ELB_SUBNETS.into(),
                    ..finding(
                        &lookup.addr,
                        format!(
                            "Attu is internet-facing, but {v} has {} public subnet(s) tagged kubernetes.io/role/elb{}: an internet-facing load balancer needs them in at least two Availability Zones",
                            public.subnets().len(),
                            if zones.is_empty() { String::new() } else { format!(" (in {})", zones.into_iter().collect::<Vec<_>>().join(", ")) }
                        ),
                        "tag the VPC's public subnets `kubernetes.io/role/elb = 1`, or make Attu internal: [milvus] attu = { scheme = \"internal\" }",
                    )
                });
            }
        }
        if let Some(msk) = resources
            .iter()
            .find(|r| r.addr.kind == ResourceKind::MskCluster)
        {
            out.extend(msk_zone_findings(msk, &zone_of));
        }
        out.extend(warnings);
        Ok(out)
    }

    /// Add-on names against the add-ons EKS offers.
    async fn addon_findings(&self, resources: &[&Resource]) -> AwsResult<Vec<Finding>> {
        let addons: Vec<(&Resource, &str)> = resources
            .iter()
            .filter(|r| r.addr.kind == ResourceKind::EksAddon)
            .filter_map(|r| Some((*r, r.attrs.get("addon_name")?.as_str()?)))
            .collect();
        let cluster = resources
            .iter()
            .find(|r| r.addr.kind == ResourceKind::EksCluster);
        let version = cluster
            .and_then(|r| r.attrs.get("version"))
            .and_then(Value::as_str);
        let (Some(cluster), Some(version), false) = (cluster, version, addons.is_empty()) else {
            return Ok(Vec::new());
        };
        let known = self.addon_names(&cluster.addr, version).await?;
        // A version EKS lists nothing for is the version's problem, which
        // CreateCluster reports; the names cannot be judged against it.
        if known.is_empty() {
            return Ok(Vec::new());
        }
        Ok(addons
            .into_iter()
            .filter(|(_, name)| !known.contains(*name))
            .map(|(r, name)| Finding {
                addr: r.addr.clone(),
                attr: "addon_name".into(),
                message: format!(
                    "EKS offers no add-on `{name}` for Kubernetes {version} ([eks.addons])"
                ),
                hint: Some(match nearest(name, &known) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!(
                        "EKS offers: {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                }),
                severity: Severity::Error,
            })
            .collect())
    }
}

/// MSK's client subnets, in distinct zones.
fn msk_zone_findings(msk: &Resource, zone_of: &BTreeMap<ResourceAddr, &str>) -> Vec<Finding> {
    let Some(Value::List(refs)) = msk.attrs.get("client_subnets") else {
        return Vec::new();
    };
    let mut seen: BTreeMap<&str, &ResourceAddr> = BTreeMap::new();
    for r in refs {
        let Value::Ref(o) = r else { continue };
        let Some(zone) = zone_of.get(&o.addr) else {
            continue;
        };
        if let Some(other) = seen.insert(zone, &o.addr) {
            return vec![Finding {
                addr: msk.addr.clone(),
                attr: "client_subnets".into(),
                message: format!(
                    "MSK's client subnets {other} and {} are both in {zone}: MSK needs each in its own Availability Zone",
                    o.addr
                ),
                hint: Some(
                    "order `[network] private_subnets` so that the first two or three are in different zones"
                        .into(),
                ),
                severity: Severity::Error,
            }];
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_or_misspelt_add_on_name_finds_the_real_one() {
        let known: BTreeSet<String> = ["aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni"]
            .map(String::from)
            .into();
        assert_eq!(nearest("ebs-csi", &known), Some("aws-ebs-csi-driver"));
        assert_eq!(nearest("kube-porxy", &known), Some("kube-proxy"));
        assert_eq!(nearest("istio", &known), None);
    }
}
