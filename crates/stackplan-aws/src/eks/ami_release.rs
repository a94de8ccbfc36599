//! `release_version = "latest"` on a node group: the newest EKS optimized
//! AMI release for the node group's Kubernetes version and AMI type,
//! resolved at plan so the plan names the release it will roll to.
//!
//! AWS publishes it as a public SSM parameter per version and AMI family,
//! `/aws/service/eks/optimized-ami/<version>/<family>/recommended/release_version`
//! (EKS user guide, "Retrieve recommended Amazon Linux AMI IDs"; the
//! `terraform-aws-modules/eks` module reads the same parameters for its
//! managed node groups' `ami_release_version`). EKS's own default when no
//! release is given is the same release (botocore `eks` model,
//! UpdateNodegroupVersionRequest.releaseVersion: "By default, the latest
//! available AMI version for the node group's Kubernetes version is used").

use stackplan_core::{ResourceAddr, Value};

use super::addon::LATEST;
use crate::AwsProvider;
use crate::error::{AwsError, AwsResult};

/// The SSM path segment of an AMI type's family, for the AMI types AWS
/// publishes a `release_version` parameter for (EKS user guide, "Retrieve
/// recommended Amazon Linux AMI IDs"). Bottlerocket and Windows releases
/// are published under other trees with another version scheme.
fn family(ami_type: &str) -> Option<&'static str> {
    Some(match ami_type {
        "AL2_x86_64" => "amazon-linux-2",
        "AL2_x86_64_GPU" => "amazon-linux-2-gpu",
        "AL2_ARM_64" => "amazon-linux-2-arm64",
        "AL2023_x86_64_STANDARD" => "amazon-linux-2023/x86_64/standard",
        "AL2023_ARM_64_STANDARD" => "amazon-linux-2023/arm64/standard",
        "AL2023_x86_64_NVIDIA" => "amazon-linux-2023/x86_64/nvidia",
        "AL2023_x86_64_NEURON" => "amazon-linux-2023/x86_64/neuron",
        _ => return None,
    })
}

/// The SSM parameter that holds the newest AMI release of a version.
pub(crate) fn release_parameter(kubernetes_version: &str, ami_type: &str) -> Option<String> {
    family(ami_type).map(|f| {
        format!(
            "/aws/service/eks/optimized-ami/{kubernetes_version}/{f}/recommended/release_version"
        )
    })
}

/// True for an AWS Graviton (arm64) instance type: its family carries a
/// `g` after the generation digit (`m7g`, `c6gn`, `r6gd`, `t4g`, `g5g`),
/// EC2's naming convention for Graviton processors (EC2 instance types
/// guide, "Amazon EC2 instance type naming conventions").
fn graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let after_generation = family
        .trim_start_matches(|c: char| c.is_ascii_lowercase())
        .trim_start_matches(|c: char| c.is_ascii_digit());
    after_generation.contains('g')
}

/// The AMI type EKS gives a new node group that names none: AL2023 from
/// Kubernetes 1.30 ("Starting with Kubernetes version 1.30 or newer, any
/// newly created managed node groups will automatically default to using
/// AL2023", EKS user guide, "Create a managed node group"), Amazon Linux 2
/// before, each for the instance type's architecture.
pub(crate) fn default_ami_type(kubernetes_version: &str, instance_type: &str) -> &'static str {
    let minor = kubernetes_version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    match (minor >= 30, graviton(instance_type)) {
        (true, false) => "AL2023_x86_64_STANDARD",
        (true, true) => "AL2023_ARM_64_STANDARD",
        (false, false) => "AL2_x86_64",
        (false, true) => "AL2_ARM_64",
    }
}

/// What a node group's `release_version` is compared with.
pub(crate) struct ReleaseLookup<'a> {
    pub addr: &'a ResourceAddr,
    pub kubernetes_version: &'a str,
    pub ami_type: &'a str,
}

impl AwsProvider {
    /// The newest AMI release for a version and AMI type, from SSM.
    pub(super) async fn latest_ami_release(&self, l: &ReleaseLookup<'_>) -> AwsResult<String> {
        let Some(name) = release_parameter(l.kubernetes_version, l.ami_type) else {
            return Err(AwsError::Attribute {
                addr: l.addr.clone(),
                attr: "release_version".to_string(),
                problem: format!(
                    "\"latest\" is resolved for Amazon Linux AMI types, and this node group's \
                     is {}: pin a release, or leave it out for EKS's default",
                    l.ami_type
                ),
            });
        };
        let out = self
            .ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .map_err(|e| AwsError::api(l.addr, "GetParameter", e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| AwsError::Failed {
                addr: l.addr.clone(),
                what: format!("SSM parameter {name} has no value"),
            })
    }
}

/// The stack asks for the newest release.
pub(crate) fn wants_latest(desired: Option<&stackplan_core::Attrs>) -> bool {
    desired
        .and_then(|d| d.get("release_version"))
        .and_then(Value::as_str)
        == Some(LATEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_amazon_linux_ami_type_has_its_published_parameter() {
        assert_eq!(
            release_parameter("1.31", "AL2023_x86_64_STANDARD").as_deref(),
            Some(
                "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/release_version"
            )
        );
        assert_eq!(
            release_parameter("1.29", "AL2_ARM_64").as_deref(),
            Some(
                "/aws/service/eks/optimized-ami/1.29/amazon-linux-2-arm64/recommended/release_version"
            )
        );
        assert_eq!(release_parameter("1.31", "BOTTLEROCKET_x86_64"), None);
    }

    #[test]
    fn a_new_node_group_defaults_to_al2023_from_1_30_for_its_architecture() {
        assert_eq!(
            default_ami_type("1.31", "m6i.2xlarge"),
            "AL2023_x86_64_STANDARD"
        );
        assert_eq!(
            default_ami_type("1.31", "m7g.2xlarge"),
            "AL2023_ARM_64_STANDARD"
        );
        assert_eq!(
            default_ami_type("1.31", "c6gn.large"),
            "AL2023_ARM_64_STANDARD"
        );
        assert_eq!(default_ami_type("1.29", "m5.large"), "AL2_x86_64");
        assert_eq!(default_ami_type("1.29", "g5.xlarge"), "AL2_x86_64");
        assert_eq!(default_ami_type("1.29", "g5g.xlarge"), "AL2_ARM_64");
    }
}
