//! The TOML stack file: parse it keeping spans, validate it, and expand it into typed resources.

pub mod chart;
mod error;
mod expand;
mod format;
mod milvus;
mod model;
mod network;
mod parse;
mod reader;
mod rules;
mod secrets;
pub mod sizing;
mod snippet;

use std::path::{Path, PathBuf};

pub use chart::{ChartProfile, Charts};
pub use error::{Problem, StackError};
pub use expand::{Addrs, EXCLUDED_ZONE_IDS, MSK_SCRAM_PORT, expand, partition, subnet_cidrs};
pub use format::format_stack;
pub use milvus::milvus_values;
pub use model::*;
pub use parse::{LBC_REPO, MILVUS_REPO, parse};

/// Reads, parses and validates the stack file at `path`. Relative paths
/// inside it (a kubeconfig, a local chart, a local state file) are taken
/// relative to the stack file's directory, as a user reading the file
/// would expect, and `~` is the home directory.
pub fn load(path: &Path) -> Result<Stack, StackError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            StackError::NotFound {
                path: shown.clone(),
                hint: not_found_hint(path, Path::new(".")),
            }
        } else {
            StackError::Read {
                path: shown.clone(),
                source,
            }
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| StackError::NotUtf8 {
        path: shown.clone(),
    })?;
    let mut stack = parse(&shown, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let home = std::env::var_os("HOME");
    stack.resolve_paths(base, home.as_deref().map(Path::new));
    Ok(stack)
}

/// The hint for a stack file that is not there, in paths that exist from
/// `here` (where stackplan runs): the stack file there or in its
/// `stacks/` whose name is closest to the one given, else the ones there
/// are, else how to make one.
fn not_found_hint(wanted: &Path, here: &Path) -> String {
    let mut found: Vec<String> = Vec::new();
    for dir in [PathBuf::new(), PathBuf::from("stacks")] {
        let Ok(entries) = std::fs::read_dir(here.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") && entry.path().is_file() {
                found.push(dir.join(&name).display().to_string());
            }
        }
    }
    found.sort();
    let wanted_name = wanted
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nearest = found
        .iter()
        .map(|f| {
            let name = Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (strsim::jaro_winkler(&wanted_name, &name), f)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match (nearest, found.as_slice()) {
        (Some((_, f)), _) => format!("did you mean `{f}`?"),
        (None, []) => {
            "no stack file here (*.toml); `stackplan init` writes a starter one".to_string()
        }
        (None, files) => {
            let shown: Vec<String> = files.iter().take(5).map(|f| format!("`{f}`")).collect();
            format!("stack files here: {}", shown.join(", "))
        }
    }
}

/// Checks the stack against the charts it installs, once they are read:
/// a worker size for a worker the chart does not deploy, HA on a chart
/// without coordinators, a controller chart whose IAM policy stackplan
/// does not know. Each problem points into the stack file.
pub fn check_charts(stack: &Stack, charts: &Charts) -> Result<(), StackError> {
    let mut problems = Vec::new();
    if let (Some(m), Some(chart)) = (&stack.milvus, &charts.milvus) {
        problems.extend(milvus::chart_problems(m, chart));
    }
    if let (Some(l), Some(chart)) = (
        &stack.load_balancer_controller,
        &charts.load_balancer_controller,
    ) {
        problems.extend(chart::lbc_policy_problem(
            l.chart_span.clone(),
            &chart.version,
            &format!("chart {}", chart.describe()),
            &stack.region,
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut problems: Vec<Problem> = problems.into_iter().map(snippet::shown_problem).collect();
    problems.sort_by_key(|p| p.span.offset());
    Err(StackError::Invalid {
        path: stack.path.clone(),
        src: miette::NamedSource::new(&stack.path, snippet::shown_source(&stack.source, &[]))
            .with_language("TOML"),
        problems,
    })
}

/// Advice about a valid stack, shown by `plan` on stderr.
pub fn warnings(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    // The gp3 class is made the default; without the EBS CSI driver no
    // volume of it is ever provisioned and every claim stays Pending.
    if !stack.eks.addons.contains_key("aws-ebs-csi-driver") {
        out.push(
            "eks.addons: the gp3 StorageClass is made the default, but without the `aws-ebs-csi-driver` add-on no gp3 volume can be provisioned; add `aws-ebs-csi-driver = {}` to [eks.addons]".to_string(),
        );
    }
    if let Some(m) = &stack.milvus
        && m.attu.enabled
        && m.attu.scheme == LbScheme::InternetFacing
        && m.attu.certificate_arn.is_none()
    {
        out.push(
            "milvus.attu: Attu, an admin UI, is internet-facing over plain HTTP; set `certificate_arn` for HTTPS, or `scheme = \"internal\"`".to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use stackplan_core::Value;

    use super::*;

    const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

    #[test]
    fn a_missing_stack_file_gets_the_nearest_one_that_exists_here() {
        let here = tempfile::tempdir().unwrap();
        std::fs::create_dir(here.path().join("stacks")).unwrap();
        std::fs::write(here.path().join("stacks/milvus-eks.toml"), "").unwrap();
        std::fs::write(here.path().join("other.toml"), "").unwrap();
        assert_eq!(
            not_found_hint(Path::new("milvus-eks.toml"), here.path()),
            "did you mean `stacks/milvus-eks.toml`?"
        );
        assert_eq!(
            not_found_hint(Path::new("prod.toml"), here.path()),
            "stack files here: `other.toml`, `stacks/milvus-eks.toml`"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(not_found_hint(Path::new("a.toml"), empty.path()).contains("stackplan init"));
    }

    #[test]
    fn a_default_gp3_class_without_the_ebs_csi_driver_is_warned_about() {
        let with = parse("s.toml", REFERENCE).unwrap();
        assert!(
            !warnings(&with)
                .iter()
                .any(|w| w.contains("aws-ebs-csi-driver"))
        );
        let without = REFERENCE.replace("aws-ebs-csi-driver = {}\n", "");
        let w = warnings(&parse("s.toml", &without).unwrap());
        assert!(
            w.iter()
                .any(|w| w.contains("add `aws-ebs-csi-driver = {}`")),
            "{w:?}"
        );
    }

    #[test]
    fn an_internet_facing_attu_without_tls_is_warned_about_and_with_tls_is_not() {
        let plain = parse("s.toml", REFERENCE).unwrap();
        let w = warnings(&plain);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("certificate_arn"), "{w:?}");
        let tls = REFERENCE.replace(
            "scheme = \"internet-facing\" }",
            "scheme = \"internet-facing\", certificate_arn = \"arn:aws:acm:us-west-2:123456789012:certificate/abc\" }",
        );
        assert!(warnings(&parse("s.toml", &tls).unwrap()).is_empty());
        let internal = REFERENCE.replace(
            "attu          = { enabled = true, scheme = \"internet-facing\" }",
            "attu          = { enabled = true, scheme = \"internal\" }",
        );
        assert!(warnings(&parse("s.toml", &internal).unwrap()).is_empty());
    }

    fn trust_principal(stack: &Stack, role: &str) -> String {
        let resources = expand(stack, &Charts::default());
        let r = resources
            .iter()
            .find(|r| r.addr.to_string() == format!("iam_role.{role}"))
            .unwrap();
        r.attrs["assume_role_policy"].to_json()["Statement"][0]["Principal"]["Service"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// eksctl's ServicePrincipalPartitionMap: EC2 is `ec2.amazonaws.com.cn`
    /// in aws-cn, EKS is `eks.amazonaws.com` everywhere.
    #[test]
    fn the_node_role_trusts_the_ec2_principal_of_its_partition() {
        let global = parse("s.toml", REFERENCE).unwrap();
        assert_eq!(trust_principal(&global, "eks_nodes"), "ec2.amazonaws.com");
        let china = parse(
            "s.toml",
            &REFERENCE.replace("region = \"us-west-2\"", "region = \"cn-northwest-1\""),
        )
        .unwrap();
        assert_eq!(trust_principal(&china, "eks_nodes"), "ec2.amazonaws.com.cn");
        assert_eq!(trust_principal(&china, "eks_cluster"), "eks.amazonaws.com");
    }

    fn msk_subnets(stack: &Stack) -> usize {
        let resources = expand(stack, &Charts::default());
        let msk = resources
            .iter()
            .find(|r| r.addr.to_string() == "msk_cluster.milvus")
            .unwrap();
        msk.attrs["client_subnets"]
            .to_json()
            .as_array()
            .unwrap()
            .len()
    }

    /// MSK standard brokers take two or three client subnets (two in
    /// us-west-1), in distinct zones: a stack across more zones gives MSK
    /// the first three, and the broker count must divide by that.
    #[test]
    fn msk_gets_two_or_three_client_subnets_and_brokers_divide_by_them() {
        let four = REFERENCE.replace(
            "vpc_id          = \"vpc-0123456789abcdef0\"\nprivate_subnets = [\"subnet-0aaa1111\", \"subnet-0bbb2222\", \"subnet-0ccc3333\"]",
            "create = { cidr = \"10.0.0.0/16\", azs = 4 }",
        );
        assert!(four.contains("azs = 4"));
        assert_eq!(msk_subnets(&parse("s.toml", &four).unwrap()), 3);
        let err = parse(
            "s.toml",
            &four.replace("brokers       = 3", "brokers       = 4"),
        )
        .unwrap_err();
        assert!(
            err.problems()[0]
                .message
                .contains("not a multiple of the 3 client subnets MSK uses"),
            "{err:?}"
        );
        let west1 = REFERENCE
            .replace("region = \"us-west-2\"", "region = \"us-west-1\"")
            .replace("brokers       = 3", "brokers       = 2");
        assert_eq!(msk_subnets(&parse("s.toml", &west1).unwrap()), 2);
    }

    fn created(create: &str) -> Result<Stack, StackError> {
        parse(
            "s.toml",
            &REFERENCE.replace(
                "vpc_id          = \"vpc-0123456789abcdef0\"\nprivate_subnets = [\"subnet-0aaa1111\", \"subnet-0bbb2222\", \"subnet-0ccc3333\"]",
                &format!("create = {create}"),
            ),
        )
    }

    fn tag<'v>(tags: &'v Value, key: &str) -> Option<&'v Value> {
        match tags {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    fn addrs_of(stack: &Stack, kind: &str) -> Vec<String> {
        expand(stack, &Charts::default())
            .iter()
            .map(|r| r.addr.to_string())
            .filter(|a| a.starts_with(&format!("{kind}.")))
            .collect()
    }

    /// eksctl's default VPC: a public and a private subnet per zone, an
    /// internet gateway, one NAT gateway, the public route table through
    /// the gateway and each private one through the NAT.
    #[test]
    fn a_created_vpc_is_laid_out_as_eksctls_default() {
        let stack = created("{ cidr = \"10.0.0.0/16\", azs = 3 }").unwrap();
        let resources = expand(&stack, &Charts::default());
        let get = |a: &str| resources.iter().find(|r| r.addr.to_string() == a).unwrap();
        assert_eq!(addrs_of(&stack, "ec2_subnet").len(), 6);
        assert_eq!(
            addrs_of(&stack, "ec2_nat_gateway"),
            ["ec2_nat_gateway.nat[0]"]
        );
        assert_eq!(addrs_of(&stack, "ec2_eip"), ["ec2_eip.nat[0]"]);
        assert_eq!(
            addrs_of(&stack, "ec2_internet_gateway"),
            ["ec2_internet_gateway.main"]
        );
        assert_eq!(addrs_of(&stack, "ec2_route_table_association").len(), 6);
        assert!(addrs_of(&stack, "ec2_vpc_endpoint").is_empty());

        let public = get("ec2_subnet.public[1]");
        assert_eq!(public.attrs["map_public_ip_on_launch"], Value::Bool(true));
        assert_eq!(public.attrs["cidr_block"], Value::string("10.0.128.0/19"));
        assert_eq!(
            tag(&public.attrs["tags"], "kubernetes.io/role/elb"),
            Some(&Value::string("1"))
        );
        let private = get("ec2_subnet.private[1]");
        assert_eq!(private.attrs["cidr_block"], Value::string("10.0.32.0/19"));
        assert_eq!(
            tag(&private.attrs["tags"], "kubernetes.io/role/internal-elb"),
            Some(&Value::string("1"))
        );
        assert_eq!(
            tag(&private.attrs["tags"], "kubernetes.io/cluster/milvus-demo"),
            Some(&Value::string("shared"))
        );
        let igw = stackplan_core::ResourceAddr::new(
            stackplan_core::ResourceKind::Ec2InternetGateway,
            "main",
        );
        assert_eq!(
            get("ec2_route_table.public").attrs["routes"],
            Value::map([("0.0.0.0/0", Value::reference(&igw, "id"))])
        );
        let nat = stackplan_core::ResourceAddr::indexed(
            stackplan_core::ResourceKind::Ec2NatGateway,
            "nat",
            0,
        );
        assert_eq!(
            get("ec2_route_table.private[2]").attrs["routes"],
            Value::map([("0.0.0.0/0", Value::reference(&nat, "id"))])
        );
        // EC2 refuses a NAT gateway before the internet gateway is attached.
        assert!(get("ec2_nat_gateway.nat[0]").depends_on.contains(&igw));
        // Nodes join only once their subnet routes out.
        let ng = get("eks_nodegroup.ng-1-milvus");
        let assoc = stackplan_core::ResourceAddr::indexed(
            stackplan_core::ResourceKind::Ec2RouteTableAssociation,
            "private",
            0,
        );
        assert!(ng.depends_on.contains(&assoc), "{:?}", ng.depends_on);
    }

    #[test]
    fn per_az_nat_gives_each_private_route_table_its_zones_gateway() {
        let stack = created("{ cidr = \"10.0.0.0/16\", azs = 3, nat = \"per-az\" }").unwrap();
        assert_eq!(addrs_of(&stack, "ec2_nat_gateway").len(), 3);
        let resources = expand(&stack, &Charts::default());
        let rt = resources
            .iter()
            .find(|r| r.addr.to_string() == "ec2_route_table.private[2]")
            .unwrap();
        let nat2 = stackplan_core::ResourceAddr::indexed(
            stackplan_core::ResourceKind::Ec2NatGateway,
            "nat",
            2,
        );
        assert_eq!(
            rt.attrs["routes"],
            Value::map([("0.0.0.0/0", Value::reference(&nat2, "id"))])
        );
    }

    #[test]
    fn no_nat_needs_endpoints_and_gets_s3_ecr_sts_ec2_and_logs() {
        let err = created("{ cidr = \"10.0.0.0/16\", nat = \"none\" }").unwrap_err();
        assert!(
            err.problems()[0].message.contains("no way to AWS"),
            "{err:?}"
        );
        let stack =
            created("{ cidr = \"10.0.0.0/16\", nat = \"none\", endpoints = true }").unwrap();
        assert!(addrs_of(&stack, "ec2_nat_gateway").is_empty());
        assert_eq!(
            addrs_of(&stack, "ec2_vpc_endpoint"),
            [
                "ec2_vpc_endpoint.ec2",
                "ec2_vpc_endpoint.ecr_api",
                "ec2_vpc_endpoint.ecr_dkr",
                "ec2_vpc_endpoint.logs",
                "ec2_vpc_endpoint.s3",
                "ec2_vpc_endpoint.sts",
            ]
        );
        assert!(
            addrs_of(&stack, "ec2_security_group_rule")
                .contains(&"ec2_security_group_rule.endpoints_https".to_string())
        );
        let typo = created("{ cidr = \"10.0.0.0/16\", nat = \"perAZ\" }").unwrap_err();
        assert!(
            typo.problems()[0].message.contains("is not a NAT layout"),
            "{typo:?}"
        );
    }

    /// A principal other than the creator gets an access entry with its
    /// policy's ARN in the stack's partition, and what is applied through
    /// the cluster's API waits for it.
    #[test]
    fn access_entries_carry_their_policy_and_come_before_the_kubernetes_resources() {
        let text = REFERENCE.replace(
            "[eks.addons]",
            "[[eks.access]]\nprincipal  = \"arn:aws:iam::123456789012:role/ops\"\npolicy     = \"edit\"\nnamespaces = [\"milvus\", \"attu\"]\n\n[eks.addons]",
        );
        let stack = parse("s.toml", &text).unwrap();
        let resources = expand(&stack, &Charts::default());
        let entry = resources
            .iter()
            .find(|r| r.addr.to_string() == "eks_access_entry.ops")
            .expect("an access entry named after the role");
        assert_eq!(
            entry.attrs["access_policies"],
            Value::map([(
                "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
                Value::list([Value::string("attu"), Value::string("milvus")]),
            )])
        );
        let release = resources
            .iter()
            .find(|r| r.addr.kind == stackplan_core::ResourceKind::HelmRelease)
            .unwrap();
        assert!(release.depends_on.contains(&entry.addr));
    }
}
