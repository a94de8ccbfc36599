use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal ),+ $(,)?) => {
        /// Every kind of resource stackplan manages or looks up.
        ///
        /// The string form is the first half of an address (`eks_cluster.main`),
        /// so it is part of the state file format: renaming one is a migration.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ResourceKind {
            $( $(#[$doc])* $variant, )+
        }

        impl ResourceKind {
            pub const ALL: &'static [ResourceKind] = &[$(ResourceKind::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ResourceKind::$variant => $name,)+ }
            }
        }

        impl FromStr for ResourceKind {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                match s {
                    $($name => Ok(ResourceKind::$variant),)+
                    other => Err(CoreError::UnknownKind(other.to_string())),
                }
            }
        }
    };
}

kinds! {
    /// The Availability Zones a created VPC's subnets go in, read from
    /// AWS at plan (a lookup only).
    Ec2AvailabilityZones => "ec2_availability_zones",
    Ec2Vpc => "ec2_vpc",
    Ec2Subnet => "ec2_subnet",
    /// A security group; its ingress rules are separate resources so that a
    /// rule can follow the group it references.
    Ec2SecurityGroup => "ec2_security_group",
    Ec2SecurityGroupRule => "ec2_security_group_rule",
    /// An internet gateway, attached to the VPC it names.
    Ec2InternetGateway => "ec2_internet_gateway",
    /// An Elastic IP address (a NAT gateway's public address).
    Ec2Eip => "ec2_eip",
    Ec2NatGateway => "ec2_nat_gateway",
    /// A route table with its routes (the VPC's local route is AWS's).
    Ec2RouteTable => "ec2_route_table",
    Ec2RouteTableAssociation => "ec2_route_table_association",
    /// A gateway (S3) or interface (ECR, STS, EC2, Logs) VPC endpoint.
    Ec2VpcEndpoint => "ec2_vpc_endpoint",
    IamRole => "iam_role",
    IamPolicy => "iam_policy",
    IamOidcProvider => "iam_oidc_provider",
    EksCluster => "eks_cluster",
    EksNodegroup => "eks_nodegroup",
    EksAddon => "eks_addon",
    /// An IAM principal's access entry on a cluster, with the EKS access
    /// policies associated with it.
    EksAccessEntry => "eks_access_entry",
    S3Bucket => "s3_bucket",
    KmsKey => "kms_key",
    SecretsmanagerSecret => "secretsmanager_secret",
    MskConfiguration => "msk_configuration",
    MskCluster => "msk_cluster",
    MskScramAssociation => "msk_scram_association",
    K8sNamespace => "k8s_namespace",
    K8sServiceAccount => "k8s_service_account",
    K8sStorageClass => "k8s_storage_class",
    /// An existing StorageClass whose default-class annotation stackplan
    /// manages, and nothing else of it.
    K8sDefaultClass => "k8s_default_class",
    /// An Opaque Secret holding what a release must not find in its
    /// values (the Kafka SCRAM password Milvus reads from its environment).
    K8sSecret => "k8s_secret",
    HelmRelease => "helm_release",
}

/// Which API family serves a kind: decides which provider handles it and
/// which client has to exist before it can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderFamily {
    Aws,
    Kubernetes,
    Helm,
}

impl ResourceKind {
    /// Stateful kinds hold data or take long to rebuild; destroying or
    /// replacing one needs `--allow-destroy`.
    pub fn is_stateful(self) -> bool {
        matches!(
            self,
            ResourceKind::S3Bucket | ResourceKind::MskCluster | ResourceKind::EksCluster
        )
    }

    pub fn family(self) -> ProviderFamily {
        use ResourceKind::*;
        match self {
            K8sNamespace | K8sServiceAccount | K8sStorageClass | K8sDefaultClass | K8sSecret => {
                ProviderFamily::Kubernetes
            }
            HelmRelease => ProviderFamily::Helm,
            _ => ProviderFamily::Aws,
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable identity of a resource inside a stack: `kind.name` or
/// `kind.name[index]` for the members of a counted group (subnets).
///
/// Ordering is by kind, then name, then index, which gives every listing a
/// deterministic order that does not depend on how the stack was expanded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAddr {
    pub kind: ResourceKind,
    pub name: String,
    pub index: Option<u32>,
}

impl ResourceAddr {
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        ResourceAddr {
            kind,
            name: name.into(),
            index: None,
        }
    }

    pub fn indexed(kind: ResourceKind, name: impl Into<String>, index: u32) -> Self {
        ResourceAddr {
            kind,
            name: name.into(),
            index: Some(index),
        }
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

impl FromStr for ResourceAddr {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let invalid = || CoreError::InvalidAddress(s.to_string());
        let (kind, rest) = s.split_once('.').ok_or_else(invalid)?;
        let kind: ResourceKind = kind.parse()?;
        let (name, index) = match rest.strip_suffix(']') {
            Some(body) => {
                let (name, idx) = body.split_once('[').ok_or_else(invalid)?;
                (name, Some(idx.parse::<u32>().map_err(|_| invalid())?))
            }
            None => (rest, None),
        };
        if name.is_empty() || name.contains(['[', ']']) {
            return Err(invalid());
        }
        Ok(ResourceAddr {
            kind,
            name: name.to_string(),
            index,
        })
    }
}

impl Serialize for ResourceAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ResourceKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResourceKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_round_trips_through_its_string_form() {
        for s in [
            "eks_cluster.main",
            "ec2_subnet.private[2]",
            "eks_addon.vpc-cni",
        ] {
            let addr: ResourceAddr = s.parse().unwrap();
            assert_eq!(addr.to_string(), s);
        }
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for s in [
            "eks_cluster",
            "nope.main",
            "ec2_subnet.private[x]",
            "s3_bucket.",
        ] {
            assert!(s.parse::<ResourceAddr>().is_err(), "{s} parsed");
        }
    }

    #[test]
    fn every_kind_parses_from_its_own_name() {
        for kind in ResourceKind::ALL {
            assert_eq!(kind.as_str().parse::<ResourceKind>().unwrap(), *kind);
        }
    }
}
