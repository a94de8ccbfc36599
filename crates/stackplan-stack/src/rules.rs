//! The naming and format rules of AWS and Kubernetes, each returning the
//! reason a value breaks it. They mirror the services' own documented
//! limits, so a stack fails here instead of halfway through an apply.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub(crate) type Rule = Result<(), String>;

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

/// How long helm waits (`--timeout`): a duration as helm parses it
/// (`stackplan_core::duration`), from 1s to 10m. The ceiling is the EKS
/// token's: helm gets one token for its whole run (stackplan-kube's
/// `helm_session`), which EKS accepts for 15 minutes from its signing
/// (aws-iam-authenticator, behind EKS's token review; `token::
/// TOKEN_LIFETIME`), and a wait that runs out is followed by the rollback
/// in the same run; past the 15 minutes the cluster answers 401.
pub(crate) fn helm_timeout(text: &str) -> Rule {
    let secs = stackplan_core::duration::duration_secs(text)?;
    if !(1..=600).contains(&secs) {
        return fail(format!(
            "must be from 1s to 10m (helm's EKS token lasts 15 minutes, rollback included), not `{text}`"
        ));
    }
    Ok(())
}

/// S3 general purpose bucket naming rules.
pub(crate) fn s3_bucket(name: &str) -> Rule {
    if !(3..=63).contains(&name.len()) {
        return fail(format!(
            "must be 3 to 63 characters long, not {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return fail(format!(
            "may contain only lowercase letters, digits, dots and hyphens, not `{c}`"
        ));
    }
    let first_last_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return fail("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return fail("must not contain two adjacent periods or a period next to a hyphen");
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return fail("must not be formatted as an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return fail(format!(
                "must not start with the reserved prefix `{prefix}`"
            ));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"] {
        if name.ends_with(suffix) {
            return fail(format!("must not end with the reserved suffix `{suffix}`"));
        }
    }
    Ok(())
}

/// A DNS-1123 label (namespaces, Helm release names, most object names).
pub(crate) fn dns1123_label(name: &str, max: usize) -> Rule {
    if name.is_empty() || name.len() > max {
        return fail(format!(
            "must be 1 to {max} characters long, not {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return fail(format!(
            "must consist of lowercase letters, digits and '-' (a DNS-1123 label), not `{c}`"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return fail("must start and end with a lowercase letter or digit (a DNS-1123 label)");
    }
    Ok(())
}

/// A DNS-1123 subdomain (StorageClass and ServiceAccount names).
pub(crate) fn dns1123_subdomain(name: &str) -> Rule {
    if name.is_empty() || name.len() > 253 {
        return fail("must be 1 to 253 characters long");
    }
    for part in name.split('.') {
        dns1123_label(part, 63).map_err(|e| format!("{e} in each dot-separated part"))?;
    }
    Ok(())
}

/// A Kubernetes label key (`prefix/name`) or value.
pub(crate) fn k8s_label_key(key: &str) -> Rule {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("prefix {e}"))?;
    }
    k8s_label_value(name)?;
    if name.is_empty() {
        return fail("name part must not be empty");
    }
    Ok(())
}

pub(crate) fn k8s_label_value(v: &str) -> Rule {
    if v.len() > 63 {
        return fail("must be at most 63 characters");
    }
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    if !alnum(v.chars().next()) || !alnum(v.chars().last()) {
        return fail("must begin and end with a letter or digit");
    }
    if v.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return fail("may contain only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// An IPv4 CIDR block that AWS accepts for a VPC: /16 to /28, no host bits.
pub(crate) fn vpc_cidr(cidr: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| "is not an IPv4 CIDR block such as 10.0.0.0/16".to_string())?;
    if net.network() != net.addr() {
        return fail(format!(
            "has host bits set: the network address is {}",
            net.trunc()
        ));
    }
    if !(16..=28).contains(&net.prefix_len()) {
        return fail(format!(
            "is a /{}, but a VPC's block must be between /16 and /28",
            net.prefix_len()
        ));
    }
    Ok(net)
}

/// An EC2 resource id: `prefix-` and 8 or 17 hex digits.
pub(crate) fn ec2_id(prefix: &str, id: &str) -> Rule {
    let Some(hex) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return fail(format!("must start with `{prefix}-`"));
    };
    if !(hex.len() == 8 || hex.len() == 17)
        || !hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return fail(format!(
            "must be `{prefix}-` followed by 8 or 17 lowercase hexadecimal digits"
        ));
    }
    Ok(())
}

/// A Kubernetes minor version as EKS takes it: `1.30`.
pub(crate) fn eks_version(v: &str) -> Rule {
    let ok = v.split_once('.').is_some_and(|(major, minor)| {
        major == "1"
            && !minor.is_empty()
            && minor.len() <= 2
            && minor.chars().all(|c| c.is_ascii_digit())
            && !minor.starts_with('0')
    });
    if ok {
        Ok(())
    } else {
        fail("must be a Kubernetes minor version such as \"1.30\"")
    }
}

pub(crate) fn region(r: &str) -> Rule {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        fail("is not an AWS region such as us-west-2")
    }
}

/// EKS cluster names: 1-100 characters, a letter or digit first.
pub(crate) fn eks_cluster_name(n: &str) -> Rule {
    name_chars(n, 100, "letters, digits, '-' and '_'", |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    })
}

/// Managed node group names: 1-63 characters.
pub(crate) fn nodegroup_name(n: &str) -> Rule {
    name_chars(n, 63, "letters, digits, '-' and '_'", |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    })
}

/// MSK cluster and configuration names: 1-64 characters, a letter first.
pub(crate) fn msk_name(n: &str) -> Rule {
    name_chars(n, 64, "letters, digits and '-'", |c| {
        c.is_ascii_alphanumeric() || c == '-'
    })?;
    if !n.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return fail("must start with a letter");
    }
    Ok(())
}

fn name_chars(n: &str, max: usize, allowed: &str, ok: impl Fn(char) -> bool) -> Rule {
    if n.is_empty() || n.len() > max {
        return fail(format!(
            "must be 1 to {max} characters long, not {}",
            n.len()
        ));
    }
    if !n.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return fail("must start with a letter or digit");
    }
    if let Some(c) = n.chars().find(|c| !ok(*c)) {
        return fail(format!("may contain only {allowed}, not `{c}`"));
    }
    Ok(())
}

/// EC2 instance types (`m6i.2xlarge`) and MSK broker types (`kafka.m5.large`).
pub(crate) fn instance_type(t: &str, prefix: Option<&str>) -> Rule {
    let body = match prefix {
        Some(p) => t
            .strip_prefix(p)
            .ok_or_else(|| format!("must start with `{p}`"))?,
        None => t,
    };
    let ok = body.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && family
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && size
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        fail(match prefix {
            Some(p) => format!("is not an MSK broker type such as `{p}m5.large`"),
            None => "is not an EC2 instance type such as `m6i.2xlarge`".to_string(),
        })
    }
}

/// Kafka versions as MSK names them: `3.6.0`, `3.7.x`, `2.8.2.tiered`.
pub(crate) fn kafka_version(v: &str) -> Rule {
    let core = v.strip_suffix(".tiered").unwrap_or(v);
    let parts: Vec<&str> = core.split('.').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts[..2]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts
            .get(2)
            .is_none_or(|p| *p == "x" || (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    if ok {
        Ok(())
    } else {
        fail("is not a Kafka version such as \"3.6.0\"")
    }
}

/// The cores a Kubernetes CPU quantity stands for: `2`, `0.5`, `500m`.
/// `None` when it is not one.
pub(crate) fn cpu_cores(q: &str) -> Option<f64> {
    let (num, unit) = match q.strip_suffix('m') {
        Some(n) => (n, 0.001),
        None => (q, 1.0),
    };
    (!num.is_empty() && !num.starts_with('+'))
        .then(|| num.parse::<f64>().ok())
        .flatten()
        .filter(|n| *n > 0.0 && n.is_finite())
        .map(|n| n * unit)
}

/// The smallest and largest CPU a Milvus component may ask for. Below
/// 10m (a hundredth of a core) no Milvus process starts in reasonable
/// time, and Kubernetes itself schedules nothing finer than 1m. Above 256
/// cores no EC2 instance EKS runs as a node has the room: the largest
/// general purpose and memory optimised sizes (m7i.48xlarge,
/// r7i.48xlarge) have 192 vCPUs, and a pod never spans nodes.
const CPU_CORES: (f64, f64) = (0.01, 256.0);

/// A Kubernetes CPU quantity within [`CPU_CORES`]; a bare number above
/// the bound is taken for millicores written without their `m`.
pub(crate) fn cpu_quantity(q: &str) -> Rule {
    let Some(cores) = cpu_cores(q) else {
        return fail("is not a CPU quantity such as \"2\", \"0.5\" or \"500m\"");
    };
    if cores < CPU_CORES.0 {
        return fail(format!(
            "is {q}, under the 10m (a hundredth of a core) any Milvus component needs: write cores (\"2\") or millicores (\"500m\")"
        ));
    }
    if cores > CPU_CORES.1 {
        let hint = if q.ends_with('m') {
            String::new()
        } else {
            format!("; for millicores write \"{q}m\"")
        };
        return fail(format!(
            "is {q} cores, more than the 256 any EC2 node has{hint}"
        ));
    }
    Ok(())
}

/// The bytes a Kubernetes memory quantity stands for: `8Gi`, `512Mi`,
/// `0.5Gi`, `1G`, or a bare number of bytes. `None` when it is not one.
pub(crate) fn memory_bytes(q: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (num, unit) = SUFFIXES
        .iter()
        .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((q, 1.0));
    (!num.is_empty() && !num.starts_with('+'))
        .then(|| num.parse::<f64>().ok())
        .flatten()
        .filter(|n| *n > 0.0 && n.is_finite())
        .map(|n| n * unit)
}

/// The least and most memory a Milvus component may ask for, in bytes.
/// Below 64Mi no Milvus process (a Go binary loading its configuration
/// and segments) stays up; the chart's own smallest requests are 256Mi.
/// Above 2Ti no EC2 node EKS runs has the room: the largest memory
/// optimised size in general use (r7i.48xlarge) has 1,536 GiB, and a pod
/// never spans nodes.
const MEMORY_BYTES: (f64, f64) = (64.0 * 1048576.0, 2.0 * 1099511627776.0);

/// A Kubernetes memory quantity within [`MEMORY_BYTES`]. A bare number is
/// a count of bytes to Kubernetes: `memory = "8"` would give an 8-byte
/// limit and a pod killed at start, so it is refused with the unit it
/// most likely lacks; a suffix in the wrong case (`8gi`, `8GB`) gets the
/// one Kubernetes spells.
pub(crate) fn memory_quantity(q: &str) -> Rule {
    let Some(bytes) = memory_bytes(q) else {
        return fail(match respelt_memory(q) {
            Some(fixed) => format!(
                "is not a Kubernetes memory quantity: did you mean \"{fixed}\"? (Kubernetes spells the units Ki, Mi, Gi, Ti)"
            ),
            None => "is not a memory quantity such as \"8Gi\" or \"512Mi\"".to_string(),
        });
    };
    let bare = q.chars().all(|c| c.is_ascii_digit() || c == '.');
    if bytes < MEMORY_BYTES.0 {
        let with_unit = match bare {
            // `memory = "512"` most likely means MiB, `"8"` GiB.
            true if bytes >= 64.0 => format!(", such as \"{q}Mi\""),
            true => format!(", such as \"{q}Gi\""),
            false => String::new(),
        };
        let what = if bare {
            format!("{q} bytes")
        } else {
            q.to_string()
        };
        return fail(format!(
            "is {what}, under the 64Mi any Milvus component needs: write memory with a unit{with_unit}"
        ));
    }
    if bytes > MEMORY_BYTES.1 {
        return fail(format!(
            "is {q}, more than the 2Ti any EC2 node EKS runs has"
        ));
    }
    Ok(())
}

/// `8gi`, `8GI`, `8GB`, `8GiB`: the quantity in Kubernetes' spelling.
fn respelt_memory(q: &str) -> Option<String> {
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = q.split_at(split);
    num.parse::<f64>().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let fixed = match unit {
        "k" | "ki" => "Ki",
        "m" | "mi" => "Mi",
        "g" | "gi" => "Gi",
        "t" | "ti" => "Ti",
        _ => return None,
    };
    Some(format!("{num}{fixed}"))
}

/// The AWS regions, from the SDK's partition data (aws-sdk-sts 1.97.0,
/// `src/endpoint_lib.rs`: the same `partitions.json` botocore ships),
/// every partition's, less the `*-global` pseudo regions.
pub(crate) const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

/// An AWS region: the shape every region has, and, when it is not one
/// the list knows, not a near miss of one (`us-wset-2`, `eu-west`). A
/// well-formed name far from every known one is taken: AWS opens regions
/// after this list was made.
pub(crate) fn known_region(r: &str) -> Rule {
    if AWS_REGIONS.contains(&r) {
        return Ok(());
    }
    let nearest = nearest_regions(r);
    match (region(r), nearest.as_slice()) {
        (Ok(()), []) => Ok(()),
        (Err(e), []) => Err(e),
        (_, names) => {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            fail(format!(
                "is not an AWS region: did you mean {}?",
                names.join(" or ")
            ))
        }
    }
}

/// The known region `r` is most likely a typo of: one edit away (a letter
/// swapped, missing or extra), or two within the same continent; never
/// one that differs only in its number, which is as likely a region newer
/// than the list.
fn nearest_regions(r: &str) -> Vec<&'static str> {
    let lower = r.to_ascii_lowercase();
    let letters = |s: &str| {
        s.trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-')
            .to_string()
    };
    let numbered = lower.ends_with(|c: char| c.is_ascii_digit());
    let candidates: Vec<(usize, &'static str)> = AWS_REGIONS
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, k), *k))
        .filter(|(d, k)| {
            let only_the_number_differs = numbered && letters(&lower) == letters(k) && lower != *k;
            // Two edits only within one continent: `mx-north-1` is not a
            // typo of `eu-north-1`, it may be a new region.
            let near = *d <= 1 || (*d == 2 && lower.get(..2) == k.get(..2));
            near && !only_the_number_differs
        })
        .collect();
    // The closest, all of them when several are as close (`us-west`).
    let best = candidates.iter().map(|(d, _)| *d).min();
    candidates
        .into_iter()
        .filter(|(d, _)| Some(*d) == best)
        .map(|(_, k)| k)
        .collect()
}

/// A host name an Ingress routes: a DNS-1123 subdomain, or a wildcard
/// `*.example.com` (Kubernetes' IngressRule host rule).
pub(crate) fn dns_name(host: &str) -> Rule {
    dns1123_subdomain(host.strip_prefix("*.").unwrap_or(host))
}

/// An ACM certificate ARN, as the ALB's `certificate-arn` annotation takes
/// it: `arn:<partition>:acm:<region>:<account>:certificate/<id>`.
pub(crate) fn acm_certificate_arn(arn: &str) -> Rule {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    if ok {
        Ok(())
    } else {
        fail("is not an ACM certificate ARN")
    }
}

/// An access entry's principal: an IAM role or user ARN. EKS refuses STS
/// session principals (botocore `eks` model, CreateAccessEntryRequest
/// `principalArn`: "You can't use the STS session principal type").
pub(crate) fn access_principal_arn(arn: &str) -> Rule {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "sts" {
        if let Some(role) = parts[5]
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
        {
            return fail(format!(
                "is an STS session, which EKS refuses as a principal; use the role itself: arn:{}:iam::{}:role/{role}",
                parts[1], parts[4]
            ));
        }
        return fail("is an STS principal, which EKS refuses; use an IAM role or user ARN");
    }
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (parts[5]
            .strip_prefix("role/")
            .or_else(|| parts[5].strip_prefix("user/")))
        .is_some_and(|name| !name.is_empty() && !name.ends_with('/'));
    if ok {
        Ok(())
    } else {
        fail("is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
    }
}

/// EKS add-on versions: `v1.18.3-eksbuild.1`.
pub(crate) fn addon_version(v: &str) -> Rule {
    let ok = v
        .strip_prefix('v')
        .and_then(|r| r.split_once("-eksbuild."))
        .is_some_and(|(semver, build)| {
            semver.split('.').count() == 3
                && semver
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && !build.is_empty()
                && build.chars().all(|c| c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        fail("must be \"latest\" or an add-on version such as \"v1.18.3-eksbuild.1\"")
    }
}

// AWS tags. The stack's tags go on resources of EC2, EKS, MSK (kafka), S3,
// IAM, KMS and Secrets Manager, so they must pass the strictest of their
// rules, which are the rules AWS documents for all services ("Tagging AWS
// resources", Tag naming limits and requirements): a key of 1 to 128
// Unicode characters, a value of 0 to 256, letters, numbers, spaces
// representable in UTF-8 and `_ . : / = + - @`, and no `aws:` prefix, in
// any case, on either. In botocore's models (botocore 1.44.8, data/):
// - iam 2010-05-08 `tagKeyType`: min 1, max 128, pattern
//   `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`; `tagValueType`: min 0, max 256,
//   pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`;
// - eks 2017-11-01 `TagKey` 1..128, `TagValue` ..256, and `TagMap`'s
//   documentation: the allowed characters above, and `aws:` reserved "as a
//   prefix for either keys or values";
// - kms 2014-11-01 `TagKeyType` 1..128, `TagValueType` 0..256;
//   secretsmanager 2017-10-17 `TagKeyType` 1..128, `TagValueType` 0..256;
// - ec2 2016-11-15 `TagKey` 1..128 ("May not begin with `aws:`"; the `Tag`
//   documentation says 127, the shape and the EC2 guide 128);
// - kafka 2018-11-14 `TagResource`: "You can't start a tag key with aws:";
//   s3 2006-03-01 gives no pattern (its tags follow the general rules).
// `char::is_alphabetic` and `is_numeric` stand for \p{L} and \p{N}
// (is_alphabetic also takes the few combining marks Unicode counts as
// alphabetic). Of \p{Z} only the space separators are taken: the line and
// paragraph separators U+2028 and U+2029 are line breaks, not spaces.

/// The longest tag key and value AWS takes, in Unicode characters.
pub(crate) const TAG_KEY_MAX: usize = 128;
pub(crate) const TAG_VALUE_MAX: usize = 256;

/// Whether AWS takes `c` in a tag key or value.
pub(crate) fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}'))
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

/// A character as a message names it: `U+202E (right-to-left override)`.
pub(crate) fn describe_char(c: char) -> String {
    let name = match c {
        '\0' => Some("null"),
        '\t' => Some("tab"),
        '\n' => Some("line feed, a newline"),
        '\r' => Some("carriage return"),
        '\u{1b}' => Some("escape"),
        '\u{7f}' => Some("delete"),
        '\u{ad}' => Some("soft hyphen"),
        '\u{200b}' => Some("zero width space"),
        '\u{200c}' => Some("zero width non-joiner"),
        '\u{200d}' => Some("zero width joiner"),
        '\u{200e}' => Some("left-to-right mark"),
        '\u{200f}' => Some("right-to-left mark"),
        '\u{2028}' => Some("line separator"),
        '\u{2029}' => Some("paragraph separator"),
        '\u{202a}' => Some("left-to-right embedding"),
        '\u{202b}' => Some("right-to-left embedding"),
        '\u{202c}' => Some("pop directional formatting"),
        '\u{202d}' => Some("left-to-right override"),
        '\u{202e}' => Some("right-to-left override"),
        '\u{2066}' => Some("left-to-right isolate"),
        '\u{2067}' => Some("right-to-left isolate"),
        '\u{2068}' => Some("first strong isolate"),
        '\u{2069}' => Some("pop directional isolate"),
        '\u{feff}' => Some("zero width no-break space"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    };
    let code = format!("U+{:04X}", c as u32);
    match name {
        Some(n) => format!("{code} ({n})"),
        None if c.is_whitespace() || c.is_control() => code,
        None => format!("{code} `{c}`"),
    }
}

/// A tag key or value as a message may show it: every character AWS
/// refuses, other than visible ASCII, written as `\u{...}`, so that a
/// control or a bidirectional override in it does not act on the terminal
/// and an invisible one is seen.
pub(crate) fn shown_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if tag_char(c) || c.is_ascii_graphic() {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        }
    }
    out
}

fn tag_text(what: &str, s: &str, min: usize, max: usize) -> Rule {
    let n = s.chars().count();
    if n < min || n > max {
        return fail(format!(
            "the {what} is {n} characters long; AWS takes {min} to {max}"
        ));
    }
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return fail(format!(
            "the {what} starts with `{}`, a prefix AWS reserves for its own tags",
            &s[..4]
        ));
    }
    if let Some(c) = s.chars().find(|c| !tag_char(*c)) {
        return fail(format!(
            "the {what} has {}, which AWS does not allow in tags",
            describe_char(c)
        ));
    }
    Ok(())
}

/// An AWS tag key (see the rules above).
pub(crate) fn tag_key(key: &str) -> Rule {
    tag_text("key", key, 1, TAG_KEY_MAX)
}

/// An AWS tag value (see the rules above).
pub(crate) fn tag_value(value: &str) -> Rule {
    tag_text("value", value, 0, TAG_VALUE_MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_region_near_a_known_one_gets_it_suggested_and_a_new_one_is_taken() {
        let miss = |r: &str| known_region(r).unwrap_err();
        assert!(miss("us-wset-2").contains("did you mean `us-west-2`?"));
        assert!(
            miss("eu-west").contains("did you mean `eu-west-1` or `eu-west-2` or `eu-west-3`?")
        );
        assert!(miss("US-WEST-2").contains("did you mean `us-west-2`?"));
        assert!(miss("us-west-2a").contains("did you mean `us-west-2`?"));
        for known in AWS_REGIONS {
            assert!(known_region(known).is_ok(), "{known}");
        }
        // Only the number differs: as likely a region opened after the
        // list was made, so taken.
        assert!(known_region("ap-southeast-9").is_ok());
        assert!(known_region("mx-north-1").is_ok());
        assert!(known_region("uswest2").is_err());
    }

    #[test]
    fn cpu_and_memory_are_quantities_within_what_a_node_has() {
        for ok in ["10m", "500m", "0.5", "2", "256", "64Mi", "8Gi", "2Ti"] {
            let rule = if ok.ends_with('i') {
                memory_quantity(ok)
            } else {
                cpu_quantity(ok)
            };
            assert!(rule.is_ok(), "{ok}: {rule:?}");
        }
        assert!(cpu_quantity("2000").unwrap_err().contains("\"2000m\""));
        assert!(cpu_quantity("1m").unwrap_err().contains("10m"));
        assert!(cpu_quantity("300").is_err());
        assert!(memory_quantity("512").unwrap_err().contains("\"512Mi\""));
        assert!(
            memory_quantity("8gi")
                .unwrap_err()
                .contains("did you mean \"8Gi\"")
        );
        assert!(
            memory_quantity("16GB")
                .unwrap_err()
                .contains("did you mean \"16Gi\"")
        );
        assert!(memory_quantity("3Ti").unwrap_err().contains("2Ti"));
        assert!(memory_quantity("32Mi").unwrap_err().contains("64Mi"));
    }

    use super::*;

    #[test]
    fn tag_characters_are_letters_numbers_spaces_and_aws_symbols() {
        for ok in [
            'a', 'Z', '7', ' ', '\u{a0}', '\u{3000}', 'é', '名', '_', '.', ':', '/', '=', '+', '-',
            '@',
        ] {
            assert!(tag_char(ok), "{ok:?}");
        }
        for bad in [
            '\n',
            '\t',
            '\u{1b}',
            '\u{202e}',
            '\u{200b}',
            '\u{2028}',
            '#',
            '!',
            '*',
            '[',
            '\u{1f600}',
        ] {
            assert!(!tag_char(bad), "{bad:?}");
        }
        assert_eq!(tag_key(&"k".repeat(128)), Ok(()));
        assert!(tag_key("").is_err());
        assert_eq!(tag_value(""), Ok(()));
        assert_eq!(describe_char('\u{202e}'), "U+202E (right-to-left override)");
        assert_eq!(describe_char('#'), "U+0023 `#`");
        assert_eq!(shown_tag("a\u{200b}#\u{1b}"), "a\\u{200B}#\\u{001B}");
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for ok in ["acme-milvus-demo", "a.b.c", "abc", "123"] {
            assert_eq!(s3_bucket(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            "Acme",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a.-b",
        ] {
            assert!(s3_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidr_rules_catch_host_bits_and_sizes() {
        assert!(vpc_cidr("10.0.0.0/16").is_ok());
        assert_eq!(
            vpc_cidr("10.0.0.1/16").unwrap_err(),
            "has host bits set: the network address is 10.0.0.0/16"
        );
        assert!(vpc_cidr("10.0.0.0/8").is_err());
        assert!(vpc_cidr("10.0.0.0").is_err());
        assert!(vpc_cidr("300.0.0.0/16").is_err());
    }

    #[test]
    fn ec2_ids_need_the_prefix_and_8_or_17_hex_digits() {
        assert!(ec2_id("vpc", "vpc-0123456789abcdef0").is_ok());
        assert!(ec2_id("subnet", "subnet-0aaa1111").is_ok());
        for bad in [
            "vpc-xyz",
            "subnet-0aaa1111",
            "vpc-0123",
            "vpc-0123456789ABCDEF0",
        ] {
            assert!(ec2_id("vpc", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_and_quantities_have_their_formats() {
        assert!(eks_version("1.30").is_ok());
        for bad in ["1.3.0", "v1.30", "2.1", "1.", "1.030"] {
            assert!(eks_version(bad).is_err(), "{bad}");
        }
        assert!(
            kafka_version("3.6.0").is_ok()
                && kafka_version("3.7.x").is_ok()
                && kafka_version("2.8.2.tiered").is_ok()
        );
        assert!(kafka_version("three").is_err());
        assert!(cpu_quantity("0.5").is_ok() && cpu_quantity("500m").is_ok());
        assert!(cpu_quantity("two").is_err() && cpu_quantity("-1").is_err());
        assert!(memory_quantity("0.5Gi").is_ok() && memory_quantity("8Gi").is_ok());
        assert!(memory_quantity("8GB").is_err());
        // A bare number is bytes: an 8-byte limit is refused with a fix.
        let eight = memory_quantity("8").unwrap_err();
        assert!(eight.contains("\"8Gi\""), "{eight}");
        // 64Mi in bytes is the least a Milvus component runs in; 1 MiB,
        // once taken, is not (see MEMORY_BYTES).
        assert!(memory_quantity("67108864").is_ok());
        assert!(memory_quantity("1048576").is_err());
        assert_eq!(memory_bytes("0.5Gi"), Some(536870912.0));
        assert!(acm_certificate_arn("arn:aws:acm:us-west-2:123456789012:certificate/abc").is_ok());
        assert!(acm_certificate_arn("arn:aws:iam::123456789012:certificate/abc").is_err());
        assert!(dns_name("*.example.com").is_ok() && dns_name("attu.example.com").is_ok());
        assert!(dns_name("Attu_UI").is_err());
        assert!(addon_version("v1.18.3-eksbuild.1").is_ok());
        assert!(addon_version("1.18").is_err());
    }

    #[test]
    fn dns_labels_follow_dns_1123() {
        assert!(dns1123_label("milvus", 63).is_ok());
        for bad in ["Milvus", "-a", "a-", "a_b", ""] {
            assert!(dns1123_label(bad, 63).is_err(), "{bad}");
        }
        assert!(k8s_label_key("app.kubernetes.io/name").is_ok());
        assert!(k8s_label_key("role").is_ok());
        assert!(k8s_label_key("bad key").is_err());
    }
}
