//! A monthly estimate: each billed resource's on-demand price from
//! `data/prices.toml` times 730 hours (AWS's own monthly convention on its
//! pricing pages), or its GiB-months. A price the table lacks is unknown,
//! shown as such and left out of the total, never counted as 0.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// Hours in a month, as AWS's pricing examples count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Debug, Deserialize)]
struct RegionPrices {
    eks_cluster_hour: Option<f64>,
    nat_gateway_hour: Option<f64>,
    load_balancer_hour: Option<f64>,
    ebs_gp3_gib_month: Option<f64>,
    s3_standard_gib_month: Option<f64>,
    msk_storage_gib_month: Option<f64>,
    #[serde(default)]
    ec2: BTreeMap<String, f64>,
    #[serde(default)]
    msk: BTreeMap<String, f64>,
}

/// Where the prices come from and when they were recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PriceSource {
    pub as_of: String,
    pub pages: String,
}

#[derive(Debug, Deserialize)]
struct Prices {
    source: PriceSource,
    regions: BTreeMap<String, RegionPrices>,
}

fn prices() -> &'static Prices {
    static PRICES: OnceLock<Prices> = OnceLock::new();
    PRICES.get_or_init(|| {
        toml::from_str(include_str!("../data/prices.toml"))
            .expect("data/prices.toml is checked by this crate's tests")
    })
}

/// A node group to price.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeGroupCost {
    pub address: String,
    pub instance_type: String,
    pub nodes: u32,
    /// Each node's root volume (gp3).
    pub disk_gib: u32,
}

/// An MSK cluster to price.
#[derive(Debug, Clone, PartialEq)]
pub struct MskInput {
    pub address: String,
    pub broker_type: String,
    pub brokers: u32,
    /// Each broker's EBS storage.
    pub storage_gib: u32,
}

/// What a stack bills for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostInput {
    pub region: String,
    /// The EKS cluster's address, when the stack has one.
    pub eks_cluster: Option<String>,
    pub node_groups: Vec<NodeGroupCost>,
    pub msk: Option<MskInput>,
    pub nat_gateways: u32,
    /// NLBs and ALBs the charts' Services and Ingresses make.
    pub load_balancers: u32,
    /// gp3 GiB the charts' persistent volume claims ask for.
    pub persistent_volume_gib: f64,
    /// The S3 bucket's address and the size the stack states, if it does.
    pub s3: Option<(String, Option<f64>)>,
}

/// One priced line of an estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    /// The stack's address, or what is billed (`load balancers`).
    pub resource: String,
    /// How it is priced: `3 x m6i.2xlarge x 730 h x $0.384`.
    pub basis: String,
    /// USD per month; `None` when a price is unknown.
    pub monthly: Option<f64>,
}

/// A stack's monthly estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub lines: Vec<CostLine>,
    pub source: PriceSource,
}

impl Estimate {
    /// The sum of the known lines.
    pub fn known_total(&self) -> f64 {
        self.lines.iter().filter_map(|l| l.monthly).sum()
    }

    /// The lines whose price is unknown.
    pub fn unknown(&self) -> impl Iterator<Item = &CostLine> {
        self.lines.iter().filter(|l| l.monthly.is_none())
    }
}

fn hourly(resource: &str, count: f64, what: &str, price: Option<f64>) -> CostLine {
    CostLine {
        resource: resource.to_string(),
        basis: match price {
            Some(p) => format!("{count} x {what} x {HOURS_PER_MONTH} h x ${p}"),
            None => format!("{count} x {what}: no recorded price"),
        },
        monthly: price.map(|p| count * HOURS_PER_MONTH * p),
    }
}

fn per_gib(resource: &str, gib: f64, what: &str, price: Option<f64>) -> CostLine {
    CostLine {
        resource: resource.to_string(),
        basis: match price {
            Some(p) => format!("{gib} GiB {what} x ${p}/GiB-month"),
            None => format!("{gib} GiB {what}: no recorded price"),
        },
        monthly: price.map(|p| gib * p),
    }
}

/// Prices what `input` bills for in its region.
pub fn estimate(input: &CostInput) -> Estimate {
    let all = prices();
    let region = all.regions.get(&input.region);
    let field = |f: fn(&RegionPrices) -> Option<f64>| region.and_then(f);
    let mut lines = Vec::new();
    if let Some(cluster) = &input.eks_cluster {
        lines.push(hourly(
            cluster,
            1.0,
            "EKS cluster",
            field(|r| r.eks_cluster_hour),
        ));
    }
    for ng in &input.node_groups {
        let nodes = f64::from(ng.nodes);
        lines.push(hourly(
            &ng.address,
            nodes,
            &ng.instance_type,
            region.and_then(|r| r.ec2.get(&ng.instance_type).copied()),
        ));
        lines.push(per_gib(
            &format!("{} (root volumes)", ng.address),
            nodes * f64::from(ng.disk_gib),
            "gp3",
            field(|r| r.ebs_gp3_gib_month),
        ));
    }
    if let Some(msk) = &input.msk {
        let brokers = f64::from(msk.brokers);
        lines.push(hourly(
            &msk.address,
            brokers,
            &msk.broker_type,
            region.and_then(|r| r.msk.get(&msk.broker_type).copied()),
        ));
        lines.push(per_gib(
            &format!("{} (storage)", msk.address),
            brokers * f64::from(msk.storage_gib),
            "broker storage",
            field(|r| r.msk_storage_gib_month),
        ));
    }
    if input.nat_gateways > 0 {
        lines.push(hourly(
            "NAT gateways",
            f64::from(input.nat_gateways),
            "NAT gateway",
            field(|r| r.nat_gateway_hour),
        ));
    }
    if input.load_balancers > 0 {
        lines.push(hourly(
            "load balancers (before capacity units)",
            f64::from(input.load_balancers),
            "NLB/ALB",
            field(|r| r.load_balancer_hour),
        ));
    }
    if input.persistent_volume_gib > 0.0 {
        lines.push(per_gib(
            "persistent volumes",
            input.persistent_volume_gib,
            "gp3",
            field(|r| r.ebs_gp3_gib_month),
        ));
    }
    if let Some((bucket, size)) = &input.s3 {
        lines.push(match size {
            Some(gib) => per_gib(
                bucket,
                *gib,
                "S3 Standard",
                field(|r| r.s3_standard_gib_month),
            ),
            None => CostLine {
                resource: bucket.clone(),
                basis: "S3 Standard: the stack states no size".to_string(),
                monthly: None,
            },
        });
    }
    Estimate {
        lines,
        source: all.source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(region: &str) -> CostInput {
        CostInput {
            region: region.to_string(),
            eks_cluster: Some("eks_cluster.main".into()),
            node_groups: vec![NodeGroupCost {
                address: "eks_nodegroup.ng-1-milvus".into(),
                instance_type: "m6i.2xlarge".into(),
                nodes: 3,
                disk_gib: 100,
            }],
            msk: Some(MskInput {
                address: "msk_cluster.milvus".into(),
                broker_type: "kafka.m5.large".into(),
                brokers: 3,
                storage_gib: 100,
            }),
            nat_gateways: 1,
            load_balancers: 2,
            persistent_volume_gib: 60.0,
            s3: Some(("s3_bucket.milvus".into(), None)),
        }
    }

    #[test]
    fn the_price_table_parses_with_its_source_and_date() {
        let p = prices();
        assert_eq!(p.source.as_of, "2025-01");
        for region in ["us-west-2", "us-east-2", "eu-west-1"] {
            assert!(p.regions.contains_key(region), "{region}");
        }
        // Every priced EC2 type is one the instance table knows: one table.
        for r in p.regions.values() {
            for t in r.ec2.keys() {
                assert!(crate::instance_type(t).is_some(), "{t}");
            }
        }
    }

    #[test]
    fn the_reference_stack_in_us_west_2_is_priced_line_by_line() {
        let e = estimate(&reference("us-west-2"));
        let line = |r: &str| e.lines.iter().find(|l| l.resource == r).unwrap().clone();
        assert_eq!(line("eks_cluster.main").monthly, Some(73.0));
        let nodes = line("eks_nodegroup.ng-1-milvus");
        assert_eq!(nodes.basis, "3 x m6i.2xlarge x 730 h x $0.384");
        assert!((nodes.monthly.unwrap() - 840.96).abs() < 1e-6);
        assert!((line("msk_cluster.milvus").monthly.unwrap() - 459.9).abs() < 1e-6);
        // No size stated: the bucket is unknown and out of the total.
        assert_eq!(line("s3_bucket.milvus").monthly, None);
        assert_eq!(e.unknown().count(), 1);
        // 73 + 840.96 + 24 (root volumes) + 459.90 + 30 (broker storage)
        // + 32.85 (NAT) + 32.85 (two load balancers) + 4.80 (volumes).
        assert!(
            (e.known_total() - 1498.36).abs() < 1e-6,
            "{}",
            e.known_total()
        );
    }

    #[test]
    fn an_unrecorded_price_is_unknown_never_zero() {
        // eu-west-1's MSK prices were not recorded.
        let e = estimate(&reference("eu-west-1"));
        let msk = e
            .lines
            .iter()
            .find(|l| l.resource == "msk_cluster.milvus")
            .unwrap();
        assert_eq!(msk.monthly, None);
        assert!(msk.basis.contains("no recorded price"));
        let e = estimate(&reference("ap-south-2"));
        assert!(e.lines.iter().all(|l| l.monthly.is_none()));
        assert_eq!(e.known_total(), 0.0);
    }
}
