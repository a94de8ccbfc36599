//! The instance table and what EKS leaves a node's pods.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// CPU and memory, as the scheduler counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

impl Resources {
    pub fn new(cpu_millis: u64, memory_bytes: u64) -> Self {
        Resources {
            cpu_millis,
            memory_bytes,
        }
    }

    pub fn fits_in(&self, other: &Resources) -> bool {
        self.cpu_millis <= other.cpu_millis && self.memory_bytes <= other.memory_bytes
    }

    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources::new(
            self.cpu_millis.saturating_sub(other.cpu_millis),
            self.memory_bytes.saturating_sub(other.memory_bytes),
        )
    }

    pub fn add(&self, other: &Resources) -> Resources {
        Resources::new(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
        )
    }

    pub fn times(&self, n: u64) -> Resources {
        Resources::new(self.cpu_millis * n, self.memory_bytes * n)
    }
}

impl std::fmt::Display for Resources {
    /// `1.5 vCPU, 6.0 GiB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vCPU, {:.1} GiB",
            self.cpu_millis as f64 / 1000.0,
            self.memory_bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// One EC2 instance type as `data/instances.toml` records it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstanceType {
    #[serde(skip)]
    pub name: String,
    pub vcpu: u32,
    pub memory_mib: u64,
    pub enis: u32,
    pub ipv4_per_eni: u32,
}

#[derive(Deserialize)]
struct Table {
    types: BTreeMap<String, InstanceType>,
}

fn table() -> &'static BTreeMap<String, InstanceType> {
    static TABLE: OnceLock<BTreeMap<String, InstanceType>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let t: Table = toml::from_str(include_str!("../data/instances.toml"))
            .expect("data/instances.toml is checked by this crate's tests");
        t.types
            .into_iter()
            .map(|(name, mut it)| {
                it.name = name.clone();
                (name, it)
            })
            .collect()
    })
}

/// The instance type of that name, when the table has it.
pub fn instance_type(name: &str) -> Option<&'static InstanceType> {
    table().get(name)
}

const MIB: u64 = 1 << 20;

impl InstanceType {
    /// The pods a node of this type runs with the VPC CNI: one per
    /// secondary IPv4 address of each interface, plus two host-network
    /// pods (aws-node, kube-proxy), capped at 110 below 30 vCPUs and 250
    /// above (amazon-eks-ami `max-pods-calculator.sh`, which EKS follows
    /// for managed node groups: EKS user guide, "Amazon EKS recommended
    /// maximum Pods for each Amazon EC2 instance type").
    pub fn max_pods(&self) -> u32 {
        let by_eni = self.enis * (self.ipv4_per_eni - 1) + 2;
        let ceiling = if self.vcpu > 30 { 250 } else { 110 };
        by_eni.min(ceiling)
    }

    /// What the kubelet reserves for itself (amazon-eks-ami, the
    /// bootstrap's `get_memory_mebibytes_to_reserve` and
    /// `get_cpu_millicores_to_reserve`; nodeadm keeps the formula for
    /// AL2023): memory 255 MiB + 11 MiB per pod; CPU 6% of the first
    /// core, 1% of the second, 0.5% of the third and fourth, 0.25% of
    /// every core above four.
    pub fn kube_reserved(&self) -> Resources {
        let cores = u64::from(self.vcpu);
        let cpu_tenths = 600 // 60m, in tenths of a millicore
            + if cores >= 2 { 100 } else { 0 }
            + cores.saturating_sub(2).min(2) * 50
            + cores.saturating_sub(4) * 25;
        Resources::new(
            cpu_tenths.div_ceil(10),
            (255 + 11 * u64::from(self.max_pods())) * MIB,
        )
    }

    /// The node's allocatable: its capacity less the kubelet's
    /// reservation and the 100 MiB hard eviction threshold EKS sets
    /// (`evictionHard: memory.available<100Mi`). Capacity is the
    /// instance's nominal memory; a real node reports a few percent less
    /// (the kernel's own), so this is an upper bound.
    pub fn allocatable(&self) -> Resources {
        let capacity = Resources::new(u64::from(self.vcpu) * 1000, self.memory_mib * MIB);
        capacity
            .saturating_sub(&self.kube_reserved())
            .saturating_sub(&Resources::new(0, 100 * MIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_loads_and_pod_limits_follow_the_eni_formula_and_its_ceiling() {
        let pods = |t: &str| instance_type(t).unwrap().max_pods();
        // amazon-eks-ami eni-max-pods.txt: m6i.large 29, m6i.xlarge 58.
        assert_eq!(pods("m6i.large"), 29);
        assert_eq!(pods("m6i.xlarge"), 58);
        assert_eq!(pods("m6i.2xlarge"), 58);
        // 234 by the ENI formula, capped at 110 below 30 vCPUs.
        assert_eq!(pods("m6i.4xlarge"), 110);
        // Above 30 vCPUs the ceiling is 250: the formula's 234 stands.
        assert_eq!(pods("m6i.8xlarge"), 234);
        assert!(instance_type("m6i.3xlarge").is_none());
    }

    #[test]
    fn allocatable_is_capacity_less_ekss_reservation_and_eviction_threshold() {
        let t = instance_type("m6i.2xlarge").unwrap();
        // CPU: 60 + 10 + 2*5 + 4*2.5 = 90 millicores.
        assert_eq!(t.kube_reserved().cpu_millis, 90);
        // Memory: 255 + 11*58 = 893 MiB.
        assert_eq!(t.kube_reserved().memory_bytes, 893 * MIB);
        assert_eq!(
            t.allocatable(),
            Resources::new(8000 - 90, (32768 - 893 - 100) * MIB)
        );
        // Two cores: 60 + 10.
        assert_eq!(
            instance_type("m6i.large")
                .unwrap()
                .kube_reserved()
                .cpu_millis,
            70
        );
    }
}
