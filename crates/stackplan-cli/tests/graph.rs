//! The resource graph of the reference stack: the edges DESIGN.md
//! section 2 names, and the DOT and Mermaid renderings.

mod common;

use common::{Scratch, reference_stack};

fn mermaid() -> String {
    let run = Scratch::with_stack(&reference_stack()).run(&[
        "graph",
        "stack.toml",
        "--format",
        "mermaid",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// The edges of the graph as `from -> to` lines, read back from the
/// Mermaid output through its node labels.
fn edges(mermaid: &str) -> Vec<(String, String)> {
    let mut labels = std::collections::BTreeMap::new();
    let mut edges = Vec::new();
    for line in mermaid.lines().skip(1).map(str::trim) {
        if let Some((from, to)) = line.split_once(" --> ") {
            edges.push((from.to_string(), to.to_string()));
        } else if let Some(start) = line.find('"') {
            let id = line[..line.find(['[', '(']).unwrap()].to_string();
            let label = line[start + 1..line.rfind('"').unwrap()].to_string();
            labels.insert(id, label);
        }
    }
    edges
        .into_iter()
        .map(|(a, b)| (labels[&a].clone(), labels[&b].clone()))
        .collect()
}

#[test]
fn reference_graph_has_the_edges_of_the_design() {
    let edges = edges(&mermaid());
    let has = |from: &str, to: &str| edges.iter().any(|(a, b)| a == from && b == to);
    let expected = [
        // Subnets and the cluster role feed the cluster; it waits for them.
        ("ec2_subnet.private[0]", "eks_cluster.main"),
        ("ec2_subnet.private[2]", "eks_cluster.main"),
        ("iam_role.eks_cluster", "eks_cluster.main"),
        // Node group: cluster and node role.
        ("eks_cluster.main", "eks_nodegroup.ng-1-milvus"),
        ("iam_role.eks_nodes", "eks_nodegroup.ng-1-milvus"),
        // OIDC issuer -> OIDC provider -> IRSA roles -> service accounts.
        ("eks_cluster.main", "iam_oidc_provider.main"),
        ("iam_oidc_provider.main", "iam_role.ebs_csi"),
        ("iam_oidc_provider.main", "iam_role.lb_controller"),
        ("iam_oidc_provider.main", "iam_role.milvus_s3"),
        (
            "iam_role.milvus_s3",
            "k8s_service_account.milvus-s3-access-sa",
        ),
        (
            "iam_role.lb_controller",
            "k8s_service_account.aws-load-balancer-controller",
        ),
        // Bucket -> least-privilege policy -> role.
        ("s3_bucket.milvus", "iam_policy.milvus_s3"),
        ("iam_policy.milvus_s3", "iam_role.milvus_s3"),
        // Add-ons: cluster, node group, and the EBS CSI role.
        ("eks_cluster.main", "eks_addon.aws-ebs-csi-driver"),
        ("eks_nodegroup.ng-1-milvus", "eks_addon.coredns"),
        ("iam_role.ebs_csi", "eks_addon.aws-ebs-csi-driver"),
        // MSK: SG from the VPC, its rule from the cluster SG.
        ("ec2_vpc.main", "ec2_security_group.msk"),
        (
            "ec2_security_group.msk",
            "ec2_security_group_rule.msk_scram",
        ),
        ("eks_cluster.main", "ec2_security_group_rule.msk_scram"),
        ("kms_key.msk_scram", "secretsmanager_secret.msk_scram"),
        ("ec2_subnet.private[1]", "msk_cluster.milvus"),
        ("ec2_security_group.msk", "msk_cluster.milvus"),
        ("msk_configuration.milvus", "msk_cluster.milvus"),
        ("msk_cluster.milvus", "msk_scram_association.milvus"),
        (
            "secretsmanager_secret.msk_scram",
            "msk_scram_association.milvus",
        ),
        // Kubernetes objects after the node group; storage after the CSI add-on.
        ("eks_nodegroup.ng-1-milvus", "k8s_namespace.milvus"),
        (
            "k8s_namespace.milvus",
            "k8s_service_account.milvus-s3-access-sa",
        ),
        ("eks_addon.aws-ebs-csi-driver", "k8s_storage_class.ebs-sc"),
        ("eks_addon.aws-ebs-csi-driver", "k8s_default_class.gp2"),
        (
            "k8s_service_account.aws-load-balancer-controller",
            "helm_release.aws-load-balancer-controller",
        ),
        // The Milvus release consumes everything above.
        ("msk_cluster.milvus", "helm_release.milvus"),
        ("s3_bucket.milvus", "helm_release.milvus"),
        ("secretsmanager_secret.msk_scram", "helm_release.milvus"),
        ("msk_scram_association.milvus", "helm_release.milvus"),
        ("k8s_namespace.milvus", "helm_release.milvus"),
        (
            "k8s_service_account.milvus-s3-access-sa",
            "helm_release.milvus",
        ),
        ("k8s_storage_class.ebs-sc", "helm_release.milvus"),
        (
            "helm_release.aws-load-balancer-controller",
            "helm_release.milvus",
        ),
    ];
    let missing: Vec<_> = expected.iter().filter(|(a, b)| !has(a, b)).collect();
    assert!(missing.is_empty(), "missing edges: {missing:#?}");
}

#[test]
fn independent_resources_have_no_edge_between_them() {
    let edges = edges(&mermaid());
    // The EKS and MSK clusters must be able to create at the same time.
    assert!(!edges.iter().any(
        |(a, b)| (a == "eks_cluster.main" && b == "msk_cluster.milvus")
            || (a == "msk_cluster.milvus" && b == "eks_cluster.main")
    ));
}

#[test]
fn reference_graph_mermaid() {
    insta::assert_snapshot!(mermaid());
}

#[test]
fn reference_graph_dot() {
    let run =
        Scratch::with_stack(&reference_stack()).run(&["graph", "stack.toml", "--format", "dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn graph_output_is_byte_identical_across_runs() {
    assert_eq!(mermaid(), mermaid());
}

#[test]
fn extra_policy_arns_attach_to_the_milvus_role_next_to_the_least_privilege_policy() {
    let text = common::reference_with(&[(
        "root_path = \"milvus\"",
        "root_path = \"milvus\"\npolicy_arns = [\"arn:aws:iam::aws:policy/AmazonS3FullAccess\"]",
    )]);
    let run = Scratch::with_stack(&text).run(&["validate", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stack = stackplan_stack::parse("stack.toml", &text).unwrap();
    let role = stackplan_stack::expand(&stack, &stackplan_stack::Charts::default())
        .into_iter()
        .find(|r| r.addr.to_string() == "iam_role.milvus_s3")
        .unwrap();
    let warnings = stackplan_aws::plan_warnings(std::slice::from_ref(&role));
    assert_eq!(warnings.len(), 1, "AmazonS3FullAccess is warned about");
    assert_eq!(warnings[0].addr.to_string(), "iam_role.milvus_s3");
}
