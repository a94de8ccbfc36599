//! Checks at plan time against what only AWS knows, so that a stack AWS
//! would refuse late in an apply is refused before anything is created.
//!
//! - EKS add-on names: `CreateAddon` fails for a name EKS does not offer,
//!   and only once the cluster exists (15 minutes into a first apply). The
//!   names come from `DescribeAddonVersions` for the stack's Kubernetes
//!   version (botocore `eks` model: `DescribeAddonVersions`, paginated by
//!   `nextToken`; without `addonName` it lists every add-on).

use std::collections::BTreeSet;

use stackplan_core::{Finding, Resource, ResourceKind, Value};

use crate::AwsProvider;
use crate::error::{AwsError, AwsResult};

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
            })
            .collect())
    }
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
