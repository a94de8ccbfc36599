//! Reads a stack file into [`Stack`], checking every rule and collecting
//! every problem, so one run reports all of them.

use std::collections::BTreeMap;
use std::ops::Range;

use miette::NamedSource;
use stackplan_core::{KindSchema, ResourceKind, SecretSource, Value};
use toml::de::{DeTable, DeValue};

use crate::model::*;
use crate::reader::{Problems, Sp, Table, to_value};
use crate::rules::{self, Rule};
use crate::sizing::{IndexType, SizingInput};
use crate::{Problem, StackError, secrets, snippet};

const SECRET_HINT: &str =
    "secrets never go in the stack file: use \"env:NAME\", \"secretsmanager:ARN\" or \"generate\"";

/// Parses and validates a stack file's text. `path` is used in messages.
pub fn parse(path: &str, src: &str) -> Result<Stack, StackError> {
    let mut p = Problems::default();
    let (doc, syntax) = DeTable::parse_recoverable(src);
    let stack = if syntax.is_empty() {
        let mut root = Table::new("", 0..0, doc.get_ref());
        let stack = read_stack(path, &mut root, &mut p);
        root.finish(&mut p);
        stack
    } else {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            p.push(
                Problem::new(span, format!("invalid TOML: {}", e.message().trim()), "here")
                    .hint("check the TOML syntax here: strings need quotes, sections are [name], lists are [a, b]"),
            );
        }
        None
    };
    match stack {
        Some(mut stack) if p.list.is_empty() => {
            stack.source = src.to_string();
            Ok(stack)
        }
        _ => Err(invalid(path, src, p)),
    }
}

/// Builds the error, ordering problems as they appear in the file. Its
/// snippets never show a plaintext secret, the value of a secret-looking
/// or unknown key, or a character that acts on the terminal
/// (`snippet.rs`).
fn invalid(path: &str, src: &str, p: Problems) -> StackError {
    let mut problems: Vec<Problem> = p.list.into_iter().map(snippet::shown_problem).collect();
    problems.sort_by_key(|p| (p.span.offset(), p.message.clone()));
    problems.dedup();
    StackError::Invalid {
        path: path.to_string(),
        src: NamedSource::new(path, snippet::shown_source(src, &p.redact)).with_language("TOML"),
        problems,
    }
}

fn check(p: &mut Problems, field: &str, v: &Sp<String>, rule: Rule, hint: &str) -> bool {
    match rule {
        Ok(()) => true,
        Err(why) => {
            p.at(v.span(), format!("`{field}` {why}"), "invalid value", hint);
            false
        }
    }
}

/// A section's `tags`, checked against AWS's tag rules (`rules.rs`), so a
/// tag AWS refuses fails here rather than halfway through an apply.
fn tags(t: &mut Table, p: &mut Problems) -> BTreeMap<String, String> {
    let field = format!("{}.tags", t.path);
    let pairs = t.string_map(p, "tags");
    const HINT: &str = "AWS tags take letters, numbers, spaces and _ . : / = + - @; keys 1 to 128 characters, values up to 256, neither starting with aws:";
    for (k, v) in &pairs {
        let shown = shorten(&rules::shown_tag(k.get_ref()));
        if let Err(why) = rules::tag_key(k.get_ref()) {
            p.at(
                k.span(),
                format!("invalid tag key `{shown}` in `{field}`: {why}"),
                "invalid tag key",
                HINT,
            );
        }
        if let Err(why) = rules::tag_value(v.get_ref()) {
            p.at(
                v.span(),
                format!("invalid value of tag `{shown}` in `{field}`: {why}"),
                "invalid tag value",
                HINT,
            );
        }
    }
    pairs
        .into_iter()
        .map(|(k, v)| (k.into_inner(), v.into_inner()))
        .collect()
}

/// A long text cut for a message: its first 40 characters and an ellipsis.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 48 {
        return s.to_string();
    }
    let head: String = s.chars().take(40).collect();
    format!("{head}...")
}

fn positive(p: &mut Problems, field: &str, v: Option<Sp<i64>>, min: i64, max: i64) -> Option<u32> {
    let v = v?;
    let n = *v.get_ref();
    if n < min || n > max {
        p.at(
            v.span(),
            format!("`{field}` must be between {min} and {max}, not {n}"),
            "out of range",
            "",
        );
        return None;
    }
    Some(n as u32)
}

fn read_stack(path: &str, root: &mut Table, p: &mut Problems) -> Option<Stack> {
    let stack = section(
        root,
        p,
        "stack",
        "add a [stack] section with `name` and `region`",
    );
    let state = root.table(p, "state");
    let network = section(
        root,
        p,
        "network",
        "add [network] with `vpc_id` and `private_subnets`, or `create = { cidr = \"10.0.0.0/16\", azs = 3 }`",
    );
    let eks = section(
        root,
        p,
        "eks",
        "add an [eks] section with `name` and `version`",
    );
    let s3 = root.table(p, "s3");
    let msk = root.table(p, "msk");
    let milvus = root.table(p, "milvus");
    let lbc = root.table(p, "load_balancer_controller");
    let kubernetes = root.table(p, "kubernetes");

    let (name, region, stack_tags) = match stack {
        Some(mut t) => {
            let name = t.req_string(p, "name", "name the stack: name = \"milvus-demo\"");
            if let Some(n) = &name {
                check(
                    p,
                    "stack.name",
                    n,
                    rules::dns1123_label(n.get_ref(), 63),
                    "the stack name becomes part of resource names and the state file name",
                );
            }
            let region = t.req_string(p, "region", "set the AWS region: region = \"us-west-2\"");
            if let Some(r) = &region {
                check(p, "stack.region", r, rules::known_region(r.get_ref()), "");
            }
            let tags = tags(&mut t, p);
            t.finish(p);
            (name.map(Sp::into_inner), region.map(Sp::into_inner), tags)
        }
        None => (None, None, BTreeMap::new()),
    };

    let state = match state {
        Some(t) => read_state(t, p),
        None => Some(StateConfig::Local { path: None }),
    };
    let network = network.and_then(|t| read_network(t, p));
    let eks = eks.and_then(|t| read_eks(t, p));
    let s3 = s3.map(|t| read_s3(t, p));
    let msk_subnets = network.as_ref().and_then(|n| {
        region
            .as_ref()
            .map(|r| crate::expand::msk_subnet_count(r, n.subnet_count()))
    });
    let msk = msk.map(|t| read_msk(t, p, msk_subnets));
    let milvus = milvus.map(|t| read_milvus(t, p));
    let lbc = match lbc {
        Some(t) => read_lbc(t, p),
        None => Some(Some(LoadBalancerController {
            chart: default_lbc_chart(),
            chart_span: 0..0,
            wait: true,
            timeout: None,
            values: Value::Map(BTreeMap::new()),
        })),
    };
    // The controller's IAM policy is kept per chart version; a chart read
    // from a path is checked once it is read (check_charts).
    if let (Some(Some(l)), Some(r)) = (&lbc, &region)
        && let Some(v) = l.chart.version()
        && let Some(problem) = crate::chart::lbc_policy_problem(
            l.chart_span.clone(),
            v,
            &format!("chart version {v}"),
            r,
        )
    {
        p.push(problem);
    }
    let kubernetes = kubernetes.map(|t| read_kubernetes(t, p));

    Some(Stack {
        path: path.to_string(),
        name: name?,
        region: region?,
        tags: stack_tags,
        state: state?,
        network: network?,
        eks: eks?,
        s3: s3.map(|x| x.ok_or(())).transpose().ok()?,
        msk: msk.map(|x| x.ok_or(())).transpose().ok()?,
        milvus: milvus.map(|x| x.ok_or(())).transpose().ok()?,
        load_balancer_controller: lbc?,
        kubernetes: kubernetes.map(|x| x.ok_or(())).transpose().ok()?,
        source: String::new(),
    })
}

fn section<'a, 'i>(
    root: &mut Table<'a, 'i>,
    p: &mut Problems,
    key: &'static str,
    hint: &str,
) -> Option<Table<'a, 'i>> {
    if !root.has(key) {
        root.raw(key);
        p.at(
            0..0,
            format!("missing required section [{key}]"),
            "the stack file starts here",
            hint,
        );
        return None;
    }
    root.table(p, key)
}

fn read_state(mut t: Table, p: &mut Problems) -> Option<StateConfig> {
    let backend = t.string(p, "backend");
    let path = t.string(p, "path");
    let bucket = t.string(p, "bucket");
    let key = t.string(p, "key");
    let region = t.string(p, "region");
    let kms_key_id = t.string(p, "kms_key_id");
    let out = match backend
        .as_ref()
        .map(|b| b.get_ref().as_str())
        .unwrap_or("local")
    {
        "local" => {
            for (name, v) in [
                ("bucket", &bucket),
                ("key", &key),
                ("region", &region),
                ("kms_key_id", &kms_key_id),
            ] {
                if let Some(v) = v {
                    p.at(
                        v.span(),
                        format!("`state.{name}` applies only to the s3 backend"),
                        "not used by the local backend",
                        "set backend = \"s3\" or remove this key",
                    );
                }
            }
            Some(StateConfig::Local {
                path: path.map(Sp::into_inner),
            })
        }
        "s3" => {
            if let Some(v) = &path {
                p.at(
                    v.span(),
                    "`state.path` applies only to the local backend",
                    "not used by the s3 backend",
                    "the s3 backend takes `bucket` and `key`",
                );
            }
            if bucket.is_none() {
                p.at(
                    t.span.clone(),
                    "missing required key `state.bucket`",
                    "the s3 backend needs `bucket`",
                    "name the bucket that holds state: bucket = \"acme-stackplan-state\"",
                );
            }
            if key.is_none() {
                p.at(
                    t.span.clone(),
                    "missing required key `state.key`",
                    "the s3 backend needs `key`",
                    "name the state object: key = \"milvus-demo.json\"",
                );
            }
            if let Some(b) = &bucket {
                check(p, "state.bucket", b, rules::s3_bucket(b.get_ref()), "");
            }
            if let Some(r) = &region {
                check(p, "state.region", r, rules::known_region(r.get_ref()), "");
            }
            if let Some(k) = &kms_key_id {
                check(
                    p,
                    "state.kms_key_id",
                    k,
                    kms_key_id_rule(k.get_ref()),
                    "e.g. kms_key_id = \"alias/stackplan-state\" or a key ARN",
                );
            }
            match (bucket, key) {
                (Some(b), Some(k)) => Some(StateConfig::S3 {
                    bucket: b.into_inner(),
                    key: k.into_inner(),
                    region: region.map(Sp::into_inner),
                    kms_key_id: kms_key_id.map(Sp::into_inner),
                }),
                _ => None,
            }
        }
        other => {
            let b = backend.as_ref().expect("a value was read");
            p.at(
                b.span(),
                format!("unknown state backend `{other}`"),
                "unknown backend",
                "use \"local\" or \"s3\"",
            );
            None
        }
    };
    t.finish(p);
    out
}

/// `[state] kms_key_id`: what S3's `SSEKMSKeyId` accepts, in the forms KMS
/// documents (botocore `data/kms/2014-11-01/service-2.json`, `KeyId` of
/// `EncryptRequest`; `AliasNameType`): a key id (a UUID, or `mrk-` and 32
/// hex digits for a multi-Region key), a key ARN, an alias name
/// (`alias/` then letters, digits, `/`, `_`, `-`; 256 characters at most)
/// or an alias ARN. Kept beside the section it serves: no other section
/// names a KMS key by reference.
fn kms_key_id_rule(id: &str) -> Rule {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    let key_id = |s: &str| {
        let g: Vec<&str> = s.split('-').collect();
        let uuid = g.len() == 5 && [8, 4, 4, 4, 12].iter().zip(&g).all(|(n, g)| hex(g, *n));
        uuid || s.strip_prefix("mrk-").is_some_and(|h| hex(h, 32))
    };
    let alias = |s: &str| {
        s.len() <= 256
            && s.strip_prefix("alias/").is_some_and(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"/_-".contains(&c))
            })
    };
    let ok = if let Some(rest) = id.strip_prefix("arn:") {
        // arn:PARTITION:kms:REGION:ACCOUNT:key/ID or :alias/NAME
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        parts.len() == 5
            && !parts[0].is_empty()
            && parts[1] == "kms"
            && rules::region(parts[2]).is_ok()
            && parts[3].len() == 12
            && parts[3].bytes().all(|c| c.is_ascii_digit())
            && (parts[4].strip_prefix("key/").is_some_and(key_id) || alias(parts[4]))
    } else {
        key_id(id) || alias(id)
    };
    if ok {
        Ok(())
    } else {
        Err("must be a KMS key id, key ARN, alias name (`alias/...`) or alias ARN".to_string())
    }
}

fn read_network(mut t: Table, p: &mut Problems) -> Option<Network> {
    let vpc_id = t.string(p, "vpc_id");
    let subnets = t.string_list(p, "private_subnets");
    let create = t.table(p, "create");
    let tags = tags(&mut t, p);
    let vpc = match (vpc_id, create) {
        (Some(_), Some(c)) => {
            p.at(c.span.clone(), "`network.vpc_id` and `network.create` cannot both be set", "conflicts with `vpc_id`",
                "keep `vpc_id` and `private_subnets` to use an existing VPC, or only `create` to make a new one");
            // Its keys are not read, so they are not checked either.
            drop(c);
            None
        }
        (Some(id), None) => {
            check(
                p,
                "network.vpc_id",
                &id,
                rules::ec2_id("vpc", id.get_ref()),
                "copy the id from the VPC console or `aws ec2 describe-vpcs`",
            );
            match subnets {
                None => {
                    p.at(t.span.clone(), "missing required key `network.private_subnets`", "an existing VPC needs its private subnets",
                        "list the private subnet ids: private_subnets = [\"subnet-...\", \"subnet-...\", \"subnet-...\"]");
                    None
                }
                Some(list) => {
                    let mut seen: BTreeMap<&str, &Sp<String>> = BTreeMap::new();
                    for s in &list {
                        check(
                            p,
                            "network.private_subnets",
                            s,
                            rules::ec2_id("subnet", s.get_ref()),
                            "",
                        );
                        if seen.insert(s.get_ref(), s).is_some() {
                            p.at(
                                s.span(),
                                format!(
                                    "duplicate subnet `{}` in `network.private_subnets`",
                                    s.get_ref()
                                ),
                                "listed twice",
                                "list each subnet once",
                            );
                        }
                    }
                    if list.len() < 2 {
                        let span = t.span_of("private_subnets");
                        p.at(span, format!("`network.private_subnets` lists {} subnet(s); EKS needs at least two, in different availability zones", list.len()), "too few subnets", "the reference deployment uses three private subnets, one per AZ");
                    }
                    Some(VpcSpec::Existing {
                        vpc_id: id.into_inner(),
                        private_subnets: list.into_iter().map(Sp::into_inner).collect(),
                    })
                }
            }
        }
        (None, Some(mut c)) => {
            if subnets.is_some() {
                let span = t.span_of("private_subnets");
                p.at(
                    span,
                    "`network.private_subnets` cannot be combined with `network.create`",
                    "conflicts with `create`",
                    "stackplan creates one private subnet per AZ; remove `private_subnets`",
                );
            }
            let cidr = c.req_string(p, "cidr", "give the VPC's block: cidr = \"10.0.0.0/16\"");
            let azs = {
                let v = c.integer(p, "azs");
                positive(p, "network.create.azs", v, 2, 6)
            }
            .or(if c.has("azs") { None } else { Some(3) });
            let nat = match c.string(p, "nat") {
                None => Some(NatMode::Single),
                Some(n) => {
                    let found = NatMode::ALL
                        .iter()
                        .copied()
                        .find(|m| m.key() == n.get_ref());
                    if found.is_none() {
                        p.at(
                            n.span(),
                            format!("`network.create.nat` `{}` is not a NAT layout", n.get_ref()),
                            "unknown NAT layout",
                            "one of: \"single\" (one NAT gateway, the default), \"per-az\" (one per zone), \"none\" (VPC endpoints only; needs endpoints = true)",
                        );
                    }
                    found
                }
            };
            let endpoints_flag = c.boolean(p, "endpoints");
            let endpoints = endpoints_flag.as_ref().is_some_and(|e| *e.get_ref());
            if nat == Some(NatMode::None) && !endpoints {
                // Without NAT or endpoints nodes cannot reach ECR, EKS or
                // STS and never join (eksctl refuses a private cluster
                // without its endpoints the same way).
                p.at(
                    c.span_of("nat"),
                    "`network.create.nat = \"none\"` leaves the private subnets no way to AWS",
                    "no NAT and no endpoints",
                    "add endpoints = true (S3, ECR, STS, EC2 and Logs VPC endpoints), or keep a NAT gateway: nat = \"single\"",
                );
            }
            c.finish(p);
            let net = cidr
                .as_ref()
                .and_then(|cidr| match rules::vpc_cidr(cidr.get_ref()) {
                    Ok(net) => Some(net),
                    Err(why) => {
                        let hint = if why.starts_with("has host bits") {
                            format!(
                                "did you mean \"{}\"?",
                                cidr.get_ref()
                                    .parse::<ipnet::Ipv4Net>()
                                    .map(|n| n.trunc().to_string())
                                    .unwrap_or_default()
                            )
                        } else {
                            "use a private block such as \"10.0.0.0/16\"".to_string()
                        };
                        p.at(
                            cidr.span(),
                            format!("`network.create.cidr` {why}"),
                            "invalid CIDR",
                            &hint,
                        );
                        None
                    }
                });
            // `nat` is matched, not `?`-ed: a `?` would leave the section
            // before its unknown keys are reported.
            match (net, azs, nat) {
                (Some(net), Some(azs), Some(nat)) => {
                    if crate::expand::subnet_cidrs(&net, azs).is_none() {
                        let c = cidr.as_ref().expect("parsed");
                        p.at(c.span(), format!("`network.create.cidr` is too small to split into {azs} subnets of at least /28"), "too small", "use a larger block, such as a /16");
                        None
                    } else {
                        Some(VpcSpec::Create {
                            cidr: net.to_string(),
                            azs,
                            nat,
                            endpoints,
                        })
                    }
                }
                _ => None,
            }
        }
        (None, None) => {
            p.at(t.span.clone(), "[network] needs either `vpc_id` and `private_subnets`, or `create`", "no VPC given",
                "use an existing VPC: vpc_id = \"vpc-...\", private_subnets = [...]; or create one: create = { cidr = \"10.0.0.0/16\", azs = 3 }");
            None
        }
    };
    t.finish(p);
    Some(Network { vpc: vpc?, tags })
}

fn read_eks(mut t: Table, p: &mut Problems) -> Option<Eks> {
    let name = t.req_string(p, "name", "name the cluster: name = \"milvus-demo\"");
    if let Some(n) = &name {
        check(p, "eks.name", n, rules::eks_cluster_name(n.get_ref()), "");
    }
    let version = match t.raw("version").map(|v| (v.span(), v.get_ref())) {
        None => {
            p.at(
                t.span.clone(),
                "missing required key `eks.version`",
                "[eks] needs `version`",
                "set the Kubernetes version: version = \"1.30\"",
            );
            None
        }
        Some((span, DeValue::Float(f))) => {
            p.at(
                span,
                "`eks.version` must be a string, found a float",
                "expected a string",
                &format!(
                    "quote it: version = \"{}\" (as a number, 1.30 would mean 1.3)",
                    f.as_str()
                ),
            );
            None
        }
        Some(_) => t.string(p, "version").filter(|v| {
            check(
                p,
                "eks.version",
                v,
                rules::eks_version(v.get_ref()),
                "EKS takes the Kubernetes minor version, e.g. \"1.30\"",
            )
        }),
    };
    let public = t.flag(p, "endpoint_public_access", true);
    let creator_admin = t.flag(p, "creator_admin", true);
    let prevent_destroy = t.flag(p, "prevent_destroy", false);
    let tags = tags(&mut t, p);

    let mut nodegroups = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    if !t.has("nodegroup") {
        t.raw("nodegroup");
        p.at(t.span.clone(), "[eks] needs at least one [[eks.nodegroup]]", "no node group", "Milvus needs nodes to run on: add [[eks.nodegroup]] with `name`, `instance_type` and `desired`");
    }
    for ng in t.tables(p, "nodegroup") {
        let cluster_version = version.as_ref().map(|v| v.get_ref().as_str());
        if let Some((ng, name_span)) = read_nodegroup(ng, p, cluster_version) {
            if let Some(first) = seen.get(&ng.name) {
                p.at(
                    name_span,
                    format!("duplicate node group name `{}`", ng.name),
                    "declared again here",
                    &format!(
                        "node group names must be unique; the first is eks.nodegroup[{first}]"
                    ),
                );
            } else {
                seen.insert(ng.name.clone(), nodegroups.len());
                nodegroups.push(ng);
            }
        }
    }

    let mut addons = BTreeMap::new();
    if let Some(at) = t.table(p, "addons") {
        for (k, v) in at.entries() {
            let key = k.get_ref().to_string();
            let field = format!("eks.addons.{key}");
            if let Err(why) = rules::dns1123_label(&key, 100) {
                p.at(k.span(), format!("add-on name `{key}` {why}"), "invalid add-on name", "add-on names are as `aws eks describe-addon-versions` lists them, e.g. aws-ebs-csi-driver");
            }
            let DeValue::Table(inner) = v.get_ref() else {
                p.at(
                    v.span(),
                    format!(
                        "`{field}` must be a table, found {}",
                        v.get_ref().type_str()
                    ),
                    "expected a table",
                    &format!("write {key} = {{}} or {key} = {{ version = \"latest\" }}"),
                );
                continue;
            };
            let mut a = Table::new(field.clone(), v.span(), inner);
            let version = a.string(p, "version");
            if let Some(ver) = &version
                && ver.get_ref() != "latest"
            {
                check(
                    p,
                    &format!("{field}.version"),
                    ver,
                    rules::addon_version(ver.get_ref()),
                    "",
                );
            }
            a.finish(p);
            addons.insert(
                key,
                Addon {
                    version: version.map(Sp::into_inner),
                },
            );
        }
    }
    let access = read_access(&mut t, p);
    let ignore = read_ignore(&mut t, p, ResourceKind::EksCluster);
    t.finish(p);
    Some(Eks {
        name: name?.into_inner(),
        version: version?.into_inner(),
        endpoint_public_access: public,
        creator_admin,
        nodegroups,
        addons,
        access,
        tags,
        prevent_destroy,
        ignore,
    })
}

/// `ignore = ["path", ...]`: attribute paths of the section's resource that
/// something else owns (Terraform's `ignore_changes`). Each path starts
/// with an attribute of the resource's kind, as a plan shows it
/// (`scaling.desired_size`, `values.queryNode.replicas`).
fn read_ignore(t: &mut Table, p: &mut Problems, kind: ResourceKind) -> Vec<String> {
    let Some(items) = t.string_list(p, "ignore") else {
        return Vec::new();
    };
    let field = t.field("ignore");
    let schema = KindSchema::for_kind(kind);
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = item.get_ref();
        let attr = path.split('.').next().unwrap_or_default();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            p.at(
                item.span(),
                format!("`{field}[{i}]` is not an attribute path"),
                "empty path segment",
                "write dotted names, as a plan shows them: \"scaling.desired_size\"",
            );
            continue;
        }
        if !schema.attrs.iter().any(|a| a.name == attr) {
            let names: Vec<&str> = schema.attrs.iter().map(|a| a.name).collect();
            let nearest = names
                .iter()
                .map(|n| (strsim::jaro_winkler(attr, n), *n))
                .filter(|(score, _)| *score > 0.7)
                .max_by(|x, y| x.0.total_cmp(&y.0));
            let hint = match nearest {
                Some((_, n)) => format!("did you mean `{n}`? `{kind}` has: {}", names.join(", ")),
                None => format!("`{kind}` has: {}", names.join(", ")),
            };
            p.at(
                item.span(),
                format!("`{field}[{i}]`: `{attr}` is not an attribute of `{kind}`"),
                "unknown attribute",
                &hint,
            );
            continue;
        }
        out.push(path.to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// `[[eks.access]]`: one access entry per principal, each with one access
/// policy. EKS takes a principal once per cluster (botocore `eks` model,
/// CreateAccessEntryRequest `principalArn`), so a repeat is an error here
/// rather than a ResourceInUseException halfway through an apply.
fn read_access(t: &mut Table, p: &mut Problems) -> Vec<AccessGrant> {
    let mut out: Vec<AccessGrant> = Vec::new();
    let mut principals: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, mut a) in t.tables(p, "access").into_iter().enumerate() {
        let path = a.path.clone();
        let principal = a.req_string(
            p,
            "principal",
            "name the IAM role or user: principal = \"arn:aws:iam::123456789012:role/ci-plan\"",
        );
        let principal = principal.filter(|pr| {
            check(
                p,
                &format!("{path}.principal"),
                pr,
                rules::access_principal_arn(pr.get_ref()),
                "an access entry names an IAM role or user, e.g. arn:aws:iam::123456789012:role/ci-plan",
            )
        });
        let policy = a.req_string(
            p,
            "policy",
            "choose an access policy: policy = \"admin-view\" (cluster-admin, admin, admin-view, edit, view)",
        );
        let policy = policy.and_then(|pol| {
            let found = AccessPolicy::ALL
                .iter()
                .copied()
                .find(|k| k.key() == pol.get_ref());
            if found.is_none() {
                let keys: Vec<&str> = AccessPolicy::ALL.iter().map(|k| k.key()).collect();
                let nearest = keys
                    .iter()
                    .map(|k| (strsim::jaro_winkler(pol.get_ref(), k), *k))
                    .filter(|(score, _)| *score > 0.7)
                    .max_by(|x, y| x.0.total_cmp(&y.0));
                let hint = match nearest {
                    Some((_, k)) => format!("did you mean \"{k}\"? One of: {}", keys.join(", ")),
                    None => format!("one of: {}", keys.join(", ")),
                };
                p.at(
                    pol.span(),
                    format!(
                        "`{path}.policy` `{}` is not an EKS access policy",
                        pol.get_ref()
                    ),
                    "unknown access policy",
                    &hint,
                );
            }
            found
        });
        let namespaces = a.string_list(p, "namespaces").unwrap_or_default();
        for ns in &namespaces {
            check(
                p,
                &format!("{path}.namespaces"),
                ns,
                rules::dns1123_label(ns.get_ref(), 63),
                "namespaces are Kubernetes names: lower case letters, digits and '-'",
            );
        }
        if a.has("namespaces") && namespaces.is_empty() {
            p.at(
                a.span_of("namespaces"),
                format!("`{path}.namespaces` is empty"),
                "no namespace",
                "leave `namespaces` out for cluster-wide access, or list the namespaces",
            );
        }
        let name = a.string(p, "name");
        if let Some(n) = &name {
            check(
                p,
                &format!("{path}.name"),
                n,
                rules::dns1123_label(n.get_ref(), 63),
                "",
            );
        }
        a.finish(p);
        let Some(principal) = principal else { continue };
        if let Some(first) = principals.get(principal.get_ref()) {
            p.at(
                principal.span(),
                format!("`{path}.principal` repeats eks.access[{first}]'s principal"),
                "declared again here",
                "EKS takes one access entry per principal: merge the two, or scope one policy to the namespaces both need",
            );
            continue;
        }
        principals.insert(principal.get_ref().clone(), i);
        let own = principal
            .get_ref()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
        let (name_span, name) = match &name {
            Some(n) => (n.span(), n.get_ref().clone()),
            None => (principal.span(), own),
        };
        if let Some(first) = names.get(&name) {
            p.at(
                name_span,
                format!("eks.access[{i}] and eks.access[{first}] would both be `eks_access_entry.{name}`"),
                "same name",
                "give one of them its own `name = \"...\"`",
            );
            continue;
        }
        names.insert(name.clone(), i);
        let Some(policy) = policy else { continue };
        let mut namespaces: Vec<String> = namespaces.into_iter().map(Sp::into_inner).collect();
        namespaces.sort();
        namespaces.dedup();
        out.push(AccessGrant {
            name,
            principal: principal.into_inner(),
            policy,
            namespaces,
        });
    }
    out
}

/// An EKS optimized AMI release, `<major>.<minor>.<patch>-<yyyymmdd>`
/// (EKS user guide, "Amazon EKS optimized Amazon Linux AMI versions"), of
/// the cluster's version: EKS refuses another version's release, and a
/// stale pin would fail an upgrade after the control plane moved, so it
/// fails the plan instead. `latest` is the newest release of the version,
/// resolved at plan (the AWS provider reads the public SSM parameter).
fn release_version_rule(release: &str, cluster: Option<&str>) -> Result<(), String> {
    if release == "latest" {
        return Ok(());
    }
    let Some((version, date)) = release.split_once('-') else {
        return Err("is not an AMI release (`<version>-<date>`, e.g. \"1.30.4-20250123\")".into());
    };
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(|s| numeric(s)) || date.len() != 8 || !numeric(date) {
        return Err("is not an AMI release (`<version>-<date>`, e.g. \"1.30.4-20250123\")".into());
    }
    let minor = format!("{}.{}", parts[0], parts[1]);
    match cluster {
        Some(c) if c != minor => Err(format!(
            "is an AMI release of Kubernetes {minor}, but eks.version is {c}: node groups follow \
             the cluster's version"
        )),
        _ => Ok(()),
    }
}

fn read_nodegroup(
    mut t: Table,
    p: &mut Problems,
    cluster_version: Option<&str>,
) -> Option<(Nodegroup, Range<usize>)> {
    let path = t.path.clone();
    let name = t.req_string(p, "name", "name the node group: name = \"ng-1-milvus\"");
    if let Some(n) = &name {
        check(
            p,
            &format!("{path}.name"),
            n,
            rules::nodegroup_name(n.get_ref()),
            "",
        );
    }
    let itype = t.req_string(
        p,
        "instance_type",
        "pick an instance type: instance_type = \"m6i.2xlarge\"",
    );
    if let Some(i) = &itype {
        check(
            p,
            &format!("{path}.instance_type"),
            i,
            rules::instance_type(i.get_ref(), None),
            "",
        );
    }
    // `desired = "autoscaled"`: an autoscaler (cluster-autoscaler,
    // Karpenter) owns the count; min and max stay the stack's.
    let autoscaled = t.raw("desired").and_then(|v| match v.get_ref() {
        DeValue::String(s) if s.as_ref() == "autoscaled" => Some(v.span()),
        _ => None,
    });
    let desired = if autoscaled.is_some() {
        None
    } else {
        let v = t.req_integer(
            p,
            "desired",
            "set the node count: desired = 3, or desired = \"autoscaled\" when an autoscaler owns it",
        );
        positive(p, &format!("{path}.desired"), v, 1, 450)
    };
    let min = {
        let v = t.integer(p, "min");
        positive(p, &format!("{path}.min"), v, 0, 450)
    };
    let max = {
        let v = t.integer(p, "max");
        positive(p, &format!("{path}.max"), v, 1, 450)
    };
    let disk = {
        let v = t.integer(p, "disk_size");
        positive(p, &format!("{path}.disk_size"), v, 20, 16384)
    };
    let release = t.string(p, "release_version").filter(|r| {
        check(
            p,
            &format!("{path}.release_version"),
            r,
            release_version_rule(r.get_ref(), cluster_version),
            "an AMI release of the cluster's version, e.g. \"1.30.4-20250123\", \"latest\" \
             for the newest (resolved at plan), or leave it out for EKS's default",
        )
    });
    let labels = t.string_map(p, "labels");
    for (k, v) in &labels {
        if let Err(why) = rules::k8s_label_key(k.get_ref()) {
            p.at(
                k.span(),
                format!("label key `{}` in `{path}.labels` {why}", k.get_ref()),
                "invalid label key",
                "",
            );
        }
        check(
            p,
            &format!("{path}.labels.{}", k.get_ref()),
            v,
            rules::k8s_label_value(v.get_ref()),
            "",
        );
    }
    let tags = tags(&mut t, p);
    let span = t.span.clone();
    let ignore = read_ignore(&mut t, p, ResourceKind::EksNodegroup);
    t.finish(p);
    let (desired, min, max) = match autoscaled.clone() {
        Some(at) => {
            // The count starts at min and is the autoscaler's from then on.
            let (Some(min), Some(max)) = (min, max) else {
                p.at(
                    at,
                    format!("`{path}.desired` is \"autoscaled\" but `min` or `max` is missing"),
                    "autoscaled needs its bounds",
                    "give the autoscaler its range: min = 2, max = 10",
                );
                return None;
            };
            (min.max(1), min, max)
        }
        None => {
            let desired = desired?;
            (desired, min.unwrap_or(desired), max.unwrap_or(desired))
        }
    };
    if !(min <= desired && desired <= max) {
        p.at(span, format!("`{path}` needs min <= desired <= max, but has min {min}, desired {desired}, max {max}"), "inconsistent scaling", "min and max default to desired when left out");
        return None;
    }
    let name = name?;
    let name_span = name.span();
    Some((
        Nodegroup {
            name: name.into_inner(),
            instance_type: itype?.into_inner(),
            desired,
            min,
            max,
            autoscaled: autoscaled.is_some(),
            ignore,
            disk_size: disk.unwrap_or(80),
            release_version: release.map(Sp::into_inner),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into_inner(), v.into_inner()))
                .collect(),
            tags,
        },
        name_span,
    ))
}

fn read_s3(mut t: Table, p: &mut Problems) -> Option<S3> {
    let bucket = t.req_string(
        p,
        "bucket",
        "name the bucket Milvus stores data in: bucket = \"acme-milvus-demo\"",
    );
    let bucket = bucket.filter(|b| {
        check(
            p,
            "s3.bucket",
            b,
            rules::s3_bucket(b.get_ref()),
            "bucket names are global: lowercase letters, digits, dots and hyphens",
        )
    });
    let root_path = t
        .string(p, "root_path")
        .map(Sp::into_inner)
        .unwrap_or_default();
    let force_destroy = t.flag(p, "force_destroy", false);
    // Milvus's compaction rewrites segments, so a versioned bucket keeps
    // every superseded one until a rule expires it. S3 takes NoncurrentDays
    // as a positive integer (PutBucketLifecycleConfiguration); 0 here means
    // no rule.
    let noncurrent_days = match t.integer(p, "noncurrent_days") {
        None => Some(30),
        v => positive(p, "s3.noncurrent_days", v, 0, 36500),
    };
    let policy_arns = t.string_list(p, "policy_arns").unwrap_or_default();
    for arn in &policy_arns {
        let valid = arn.get_ref().starts_with("arn:") && arn.get_ref().contains(":policy/");
        if !valid {
            p.at(
                arn.span(),
                format!(
                    "`s3.policy_arns` holds `{}`, which is not an IAM policy ARN",
                    arn.get_ref()
                ),
                "not a policy ARN",
                "for example arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            );
        }
    }
    // Only the plan's cost estimate reads it: up to 10 PiB.
    let expected_size_gib = {
        let v = t.integer(p, "expected_size_gib");
        positive(p, "s3.expected_size_gib", v, 1, 10 * 1024 * 1024)
    };
    let prevent_destroy = t.flag(p, "prevent_destroy", false);
    let tags = tags(&mut t, p);
    let ignore = read_ignore(&mut t, p, ResourceKind::S3Bucket);
    t.finish(p);
    Some(S3 {
        bucket: bucket?.into_inner(),
        root_path,
        force_destroy,
        noncurrent_days: noncurrent_days?,
        policy_arns: policy_arns.into_iter().map(Sp::into_inner).collect(),
        expected_size_gib,
        tags,
        prevent_destroy,
        ignore,
    })
}

/// A secret given as a source, or a problem when it is anything else.
/// Either way the value is masked in the error: a malformed reference may
/// be the secret itself (`env:hunter2!`).
fn secret(p: &mut Problems, field: &str, v: &Sp<String>, hint: &str) -> Option<SecretSource> {
    match v.get_ref().parse::<SecretSource>() {
        Ok(src) => Some(src),
        Err(()) => {
            p.redact.push(v.span());
            let looks_like_source = ["env:", "secretsmanager:"]
                .iter()
                .any(|pre| v.get_ref().starts_with(pre));
            if looks_like_source {
                p.at(v.span(), format!("`{field}` is not a valid secret reference"), "malformed secret reference",
                    "write env:NAME (letters, digits, '_') or secretsmanager:arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME");
            } else {
                p.at(
                    v.span(),
                    format!("`{field}` holds a plaintext secret"),
                    "plaintext secret",
                    hint,
                );
            }
            None
        }
    }
}

/// `client_subnets`: how many subnets MSK's brokers go in, when known.
fn read_msk(mut t: Table, p: &mut Problems, client_subnets: Option<usize>) -> Option<Msk> {
    let name = t.req_string(p, "name", "name the MSK cluster: name = \"milvus-demo\"");
    if let Some(n) = &name {
        check(p, "msk.name", n, rules::msk_name(n.get_ref()), "");
    }
    let version = t.req_string(
        p,
        "kafka_version",
        "pick an MSK Kafka version: kafka_version = \"3.6.0\"",
    );
    if let Some(v) = &version {
        check(
            p,
            "msk.kafka_version",
            v,
            rules::kafka_version(v.get_ref()),
            "",
        );
    }
    let broker_type = t.req_string(
        p,
        "broker_type",
        "pick a broker type: broker_type = \"kafka.m5.large\"",
    );
    if let Some(b) = &broker_type {
        check(
            p,
            "msk.broker_type",
            b,
            rules::instance_type(b.get_ref(), Some("kafka.")),
            "",
        );
    }
    let brokers_raw = t.req_integer(
        p,
        "brokers",
        "set the broker count, a multiple of MSK's client subnets (2 or 3): brokers = 3",
    );
    let brokers_span = brokers_raw.as_ref().map(|b| b.span());
    let brokers = positive(p, "msk.brokers", brokers_raw, 1, 30);
    if let (Some(n), Some(subnets), Some(span)) = (brokers, client_subnets, brokers_span) {
        let subnets = subnets as u32;
        if subnets > 0 && n % subnets != 0 {
            p.at(
                span,
                format!(
                    "`msk.brokers` is {n}, not a multiple of the {subnets} client subnets MSK uses (the first {subnets} of [network])"
                ),
                "not a multiple of the client subnet count",
                &format!(
                    "MSK spreads brokers evenly over its client subnets: use {} or {}",
                    (n / subnets).max(1) * subnets,
                    (n / subnets + 1) * subnets
                ),
            );
        }
    }
    let volume = {
        let v = t.integer(p, "volume_size");
        positive(p, "msk.volume_size", v, 1, 16384)
    };
    let scram = match t.table(p, "scram") {
        None => {
            if !t.has("scram") {
                p.at(t.span.clone(), "missing required key `msk.scram`", "[msk] needs `scram`",
                    "Milvus reaches MSK with SASL/SCRAM: scram = { username = \"milvus\", password = \"env:MSK_SCRAM_PASSWORD\" }");
            }
            None
        }
        Some(mut s) => {
            let user = s.req_string(p, "username", "username = \"milvus\"");
            let pass = s.req_string(p, "password", SECRET_HINT);
            let pass = pass.and_then(|pw| secret(p, "msk.scram.password", &pw, SECRET_HINT));
            s.finish(p);
            match (user, pass) {
                (Some(u), Some(pw)) => Some(Scram {
                    username: u.into_inner(),
                    password: pw,
                }),
                _ => None,
            }
        }
    };
    // Secrets Manager's recovery window (botocore secretsmanager
    // 2017-10-17, DeleteSecret `RecoveryWindowInDays`: "The number of days
    // from 7 to 30 that Secrets Manager waits before permanently deleting
    // the secret", 30 when not given); 0 deletes it without one
    // (`ForceDeleteWithoutRecovery`), so a stack can be torn down and made
    // again under the same AmazonMSK_ name at once.
    let recovery_days = match t.integer(p, "secret_recovery_days") {
        None => Some(None),
        Some(d) => {
            let n = *d.get_ref();
            if n == 0 || (7..=30).contains(&n) {
                Some(Some(n as u32))
            } else {
                p.at(
                    d.span(),
                    format!("`msk.secret_recovery_days` must be 0 or between 7 and 30, not {n}"),
                    "not a recovery window",
                    "Secrets Manager keeps a deleted secret 7 to 30 days (30 when not set); 0 deletes it at once",
                );
                None
            }
        }
    };
    let props = t.string_map(p, "server_properties");
    for (k, _) in &props {
        let key = k.get_ref();
        let valid = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
        if !valid {
            p.at(
                k.span(),
                format!("`{key}` is not a Kafka property name"),
                "invalid property",
                "Kafka properties look like \"auto.create.topics.enable\"",
            );
        }
    }
    let prevent_destroy = t.flag(p, "prevent_destroy", false);
    let tags = tags(&mut t, p);
    let ignore = read_ignore(&mut t, p, ResourceKind::MskCluster);
    t.finish(p);
    Some(Msk {
        name: name?.into_inner(),
        kafka_version: version?.into_inner(),
        broker_type: broker_type?.into_inner(),
        brokers: brokers?,
        volume_size: volume.unwrap_or(100),
        scram: scram?,
        secret_recovery_days: recovery_days?,
        server_properties: props
            .into_iter()
            .map(|(k, v)| (k.into_inner(), v.into_inner()))
            .collect(),
        tags,
        prevent_destroy,
        ignore,
    })
}

fn scheme(
    p: &mut Problems,
    field: &str,
    v: Option<Sp<String>>,
    default: LbScheme,
) -> Option<LbScheme> {
    match v {
        None => Some(default),
        Some(v) => match v.get_ref().as_str() {
            "internal" => Some(LbScheme::Internal),
            "internet-facing" => Some(LbScheme::InternetFacing),
            other => {
                p.at(
                    v.span(),
                    format!("`{field}` is `{other}`, not a load balancer scheme"),
                    "unknown scheme",
                    "use \"internal\" (the secure default) or \"internet-facing\"",
                );
                None
            }
        },
    }
}

/// Reads a chart source: `chart = { repository, name, version }`,
/// `{ path }` or `{ oci, version }`, with `chart_version` as a shorthand,
/// and where it is in the file. A repository or OCI chart is always
/// pinned: the default repository's chart to `default_version`, any other
/// to the version the stack gives, so that a plan never installs "the
/// latest" of whatever a repository serves that day.
fn read_chart(
    t: &mut Table,
    p: &mut Problems,
    default_repo: &str,
    default_name: &str,
    default_version: &str,
) -> Option<(Chart, Range<usize>)> {
    let span = if t.has("chart") {
        t.span_of("chart")
    } else {
        t.span_of("chart_version")
    };
    let short_version = t.string(p, "chart_version").map(Sp::into_inner);
    let Some(mut c) = t.table(p, "chart") else {
        return Some((
            Chart::Repository {
                url: default_repo.into(),
                name: default_name.into(),
                version: Some(short_version.unwrap_or_else(|| default_version.into())),
            },
            span,
        ));
    };
    let repo = c.string(p, "repository");
    let name = c.string(p, "name");
    let path = c.string(p, "path");
    let oci = c.string(p, "oci");
    let version = c.string(p, "version").map(Sp::into_inner).or(short_version);
    let field = c.path.clone();
    let table_span = c.span.clone();
    c.finish(p);
    let given = [
        repo.is_some() || name.is_some(),
        path.is_some(),
        oci.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given > 1 {
        p.at(
            table_span,
            format!("`{field}` takes one source: `repository` (with `name`), `path` or `oci`"),
            "several sources",
            "",
        );
        return None;
    }
    if let Some(path) = path {
        return Some((
            Chart::Path {
                path: path.into_inner(),
            },
            span,
        ));
    }
    let unpinned = |p: &mut Problems| {
        p.at(
            table_span.clone(),
            format!("`{field}` names no version: stackplan installs pinned charts only"),
            "unpinned chart",
            &format!("add `version = \"...\"` to `{field}` (the default chart is {default_name} {default_version})"),
        );
    };
    if let Some(oci) = oci {
        if !oci.get_ref().starts_with("oci://") {
            p.at(
                oci.span(),
                format!("`{field}.oci` must start with oci://"),
                "not an OCI reference",
                "for example oci://registry.example.com/charts/milvus",
            );
            return None;
        }
        let Some(version) = version else {
            unpinned(p);
            return None;
        };
        return Some((
            Chart::Oci {
                reference: oci.into_inner(),
                version: Some(version),
            },
            span,
        ));
    }
    if let Some(r) = &repo
        && !(r.get_ref().starts_with("https://") || r.get_ref().starts_with("http://"))
    {
        p.at(
            r.span(),
            format!("`{field}.repository` must be an http(s) URL"),
            "not a URL",
            "for example https://zilliztech.github.io/milvus-helm/",
        );
        return None;
    }
    let url = repo
        .map(Sp::into_inner)
        .unwrap_or_else(|| default_repo.into());
    let version = match version {
        Some(v) => v,
        None if url == default_repo => default_version.into(),
        None => {
            unpinned(p);
            return None;
        }
    };
    Some((
        Chart::Repository {
            url,
            name: name
                .map(Sp::into_inner)
                .unwrap_or_else(|| default_name.into()),
            version: Some(version),
        },
        span,
    ))
}

pub const MILVUS_REPO: &str = "https://zilliztech.github.io/milvus-helm/";
pub const LBC_REPO: &str = "https://aws.github.io/eks-charts";

fn default_lbc_chart() -> Chart {
    Chart::Repository {
        url: LBC_REPO.into(),
        name: "aws-load-balancer-controller".into(),
        version: Some(crate::chart::DEFAULT_LBC_CHART_VERSION.into()),
    }
}

/// Free-form Helm values: any TOML, but a string under a key that holds a
/// secret (`secrets.rs`: `rootPassword`, `accessToken`, `clientSecret`,
/// ...), anywhere in the table, must be a secret reference, which becomes
/// a secret value; so must the `value` of a Kubernetes env var whose
/// `name` is such a key (`{ name = "API_TOKEN", value = "env:TOKEN" }`).
fn helm_values(t: &mut Table, p: &mut Problems) -> Value {
    let Some(v) = t.raw("values") else {
        return Value::Map(BTreeMap::new());
    };
    let field = format!("{}.values", t.path);
    let DeValue::Table(table) = v.get_ref() else {
        p.at(
            v.span(),
            format!(
                "`{field}` must be a table, found {}",
                v.get_ref().type_str()
            ),
            "expected a table",
            &format!("write it as a [{field}] section"),
        );
        return Value::Map(BTreeMap::new());
    };
    values_table(table, &field, p)
}

const VALUES_SECRET_HINT: &str = "secrets never go in the stack file: use \"env:NAME\" (read at apply) or \"secretsmanager:ARN\"; \
     a value under a key like password, passwd, secret, token, api_key, private_key, access_key, passphrase or credential is a secret (README, \"Secrets\")";

fn values_table(table: &DeTable, field: &str, p: &mut Problems) -> Value {
    let env_var = snippet::env_var_value(table, secrets::holds_secret).is_some();
    let mut out = BTreeMap::new();
    for (k, v) in table.iter() {
        let key = k.get_ref().to_string();
        let path = format!("{field}.{key}");
        let holds = secrets::holds_secret(&key) || (env_var && key == "value");
        out.insert(key, values_item(v, &path, holds, p));
    }
    Value::Map(out)
}

/// One Helm value; `holds` when it is under a key that holds a secret.
fn values_item(v: &Sp<DeValue>, path: &str, holds: bool, p: &mut Problems) -> Value {
    match v.get_ref() {
        DeValue::Table(inner) => values_table(inner, path, p),
        DeValue::Array(items) => Value::List(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| values_item(x, &format!("{path}[{i}]"), holds, p))
                .collect(),
        ),
        // An empty string hides nothing; charts use it for "not set".
        DeValue::String(s) if holds && !s.is_empty() => {
            let given = toml::Spanned::new(v.span(), s.to_string());
            if s.as_ref() == "generate" {
                p.at(
                    v.span(),
                    format!(
                        "`{path}` cannot be \"generate\": only `msk.scram.password` is generated"
                    ),
                    "not generated",
                    VALUES_SECRET_HINT,
                );
                return Value::Null;
            }
            match secret(p, path, &given, VALUES_SECRET_HINT) {
                Some(src) => Value::Secret(src),
                None => Value::Null,
            }
        }
        other => to_value(other),
    }
}

fn read_node_resources(
    t: &mut Table,
    p: &mut Problems,
    key: &'static str,
) -> Option<Option<NodeResources>> {
    let Some(mut n) = t.table(p, key) else {
        return Some(None);
    };
    let path = n.path.clone();
    let replicas = {
        let v = n.integer(p, "replicas");
        positive(p, &format!("{path}.replicas"), v, 0, 100)
    };
    let cpu = n.req_string(p, "cpu", "cpu = \"2\"");
    let mem = n.req_string(p, "memory", "memory = \"8Gi\"");
    let cpu = cpu.filter(|c| {
        check(
            p,
            &format!("{path}.cpu"),
            c,
            rules::cpu_quantity(c.get_ref()),
            "",
        )
    });
    let mem = mem.filter(|m| {
        check(
            p,
            &format!("{path}.memory"),
            m,
            rules::memory_quantity(m.get_ref()),
            "",
        )
    });
    let replicas_given = n.has("replicas");
    n.finish(p);
    let replicas = match (replicas, replicas_given) {
        (Some(r), _) => r,
        (None, false) => 1,
        (None, true) => return None,
    };
    Some(Some(NodeResources {
        replicas,
        cpu: cpu?.into_inner(),
        memory: mem?.into_inner(),
    }))
}

fn read_milvus(mut t: Table, p: &mut Problems) -> Option<Milvus> {
    let release = t.req_string(p, "release", "name the Helm release: release = \"demo\"");
    let release = release.filter(|r| {
        check(
            p,
            "milvus.release",
            r,
            rules::dns1123_label(r.get_ref(), 53),
            "Helm release names are DNS-1123 labels of at most 53 characters",
        )
    });
    let namespace = t.string(p, "namespace");
    let namespace = match namespace {
        Some(ns) => check(
            p,
            "milvus.namespace",
            &ns,
            rules::dns1123_label(ns.get_ref(), 63),
            "",
        )
        .then(|| ns.into_inner()),
        None => Some("milvus".to_string()),
    };
    let chart = read_chart(
        &mut t,
        p,
        MILVUS_REPO,
        "milvus",
        crate::chart::DEFAULT_MILVUS_CHART_VERSION,
    );

    let service = match t.table(p, "service") {
        None => Some(Service {
            kind: ServiceType::LoadBalancer,
            scheme: LbScheme::Internal,
            load_balancer_name: "milvus-service".into(),
        }),
        Some(mut s) => {
            let kind = match s.string(p, "type") {
                None => Some(ServiceType::LoadBalancer),
                Some(k) => match k.get_ref().as_str() {
                    "LoadBalancer" => Some(ServiceType::LoadBalancer),
                    "ClusterIP" => Some(ServiceType::ClusterIp),
                    "NodePort" => Some(ServiceType::NodePort),
                    other => {
                        p.at(
                            k.span(),
                            format!("`milvus.service.type` is `{other}`, not a Service type"),
                            "unknown type",
                            "use \"LoadBalancer\", \"ClusterIP\" or \"NodePort\"",
                        );
                        None
                    }
                },
            };
            let sch = s.string(p, "scheme");
            let sch = scheme(p, "milvus.service.scheme", sch, LbScheme::Internal);
            let lb_name = s
                .string(p, "name")
                .map(Sp::into_inner)
                .unwrap_or_else(|| "milvus-service".into());
            s.finish(p);
            // No `?` here: it would return from the whole section and
            // hide every problem after it (`resources`, `values`, unknown
            // keys) until this one is fixed.
            match (kind, sch) {
                (Some(kind), Some(scheme)) => Some(Service {
                    kind,
                    scheme,
                    load_balancer_name: lb_name,
                }),
                _ => None,
            }
        }
    };
    let attu = match t.table(p, "attu") {
        None => Some(Attu {
            enabled: false,
            scheme: LbScheme::Internal,
            host: None,
            certificate_arn: None,
        }),
        Some(mut a) => {
            let enabled = a.flag(p, "enabled", true);
            let sch = a.string(p, "scheme");
            let sch = scheme(p, "milvus.attu.scheme", sch, LbScheme::Internal);
            let host = a.string(p, "host");
            let host_ok = host.as_ref().is_none_or(|h| {
                check(
                    p,
                    "milvus.attu.host",
                    h,
                    rules::dns_name(h.get_ref()),
                    "the host the Attu ingress routes, such as attu.example.com",
                )
            });
            let cert = a.string(p, "certificate_arn");
            let cert_ok = cert.as_ref().is_none_or(|c| {
                check(
                    p,
                    "milvus.attu.certificate_arn",
                    c,
                    rules::acm_certificate_arn(c.get_ref()),
                    "an ACM certificate ARN: arn:aws:acm:us-west-2:123456789012:certificate/...",
                )
            });
            a.finish(p);
            match (sch, host_ok && cert_ok) {
                (Some(scheme), true) => Some(Attu {
                    enabled,
                    scheme,
                    host: host.map(Sp::into_inner),
                    certificate_arn: cert.map(Sp::into_inner),
                }),
                _ => None,
            }
        }
    };
    let ha = t.flag(p, "ha", false);
    let wait = t.flag(p, "wait", true);
    let timeout = read_timeout(&mut t, p);

    let given = t.table(p, "resources");
    let sizing = t.table(p, "sizing");
    let resources = match (given, sizing) {
        (Some(_), Some(s)) => {
            p.at(
                s.span.clone(),
                "`milvus.sizing` and `milvus.resources` cannot both be set",
                "conflicts with [milvus.resources]",
                "keep `sizing` to compute the sizes, or `resources` to give them",
            );
            s.finish(p);
            None
        }
        (Some(mut r), None) => {
            let spans: BTreeMap<String, Range<usize>> = crate::chart::WORKERS
                .iter()
                .filter(|(k, _)| r.has(k))
                .map(|(k, _)| (k.to_string(), r.span_of(k)))
                .collect();
            let q = read_node_resources(&mut r, p, "query_node");
            let d = read_node_resources(&mut r, p, "data_node");
            let i = read_node_resources(&mut r, p, "index_node");
            let s = read_node_resources(&mut r, p, "streaming_node");
            r.finish(p);
            match (q, d, i, s) {
                (Some(q), Some(d), Some(i), Some(s)) => Some(Some(Resources {
                    query_node: q,
                    data_node: d,
                    index_node: i,
                    streaming_node: s,
                    origin: ResourcesOrigin::Given,
                    spans,
                })),
                _ => None,
            }
        }
        (None, Some(mut s)) => {
            let vectors = s.req_integer(p, "vectors", "vectors = 1_000_000");
            let vectors = vectors.and_then(|v| {
                let n = *v.get_ref();
                if (1..=100_000_000_000).contains(&n) {
                    Some(n as u64)
                } else {
                    p.at(
                        v.span(),
                        format!(
                            "`milvus.sizing.vectors` must be between 1 and 100 billion, not {n}"
                        ),
                        "out of range",
                        "",
                    );
                    None
                }
            });
            let dim = {
                let v = s.req_integer(p, "dim", "dim = 1024");
                positive(p, "milvus.sizing.dim", v, 1, 32768)
            };
            let index = s.req_string(p, "index", "index = \"HNSW\"");
            let index = index.and_then(|i| match IndexType::parse(i.get_ref()) {
                Some(t) => Some(t),
                None => {
                    p.at(
                        i.span(),
                        format!(
                            "`milvus.sizing.index` is `{}`, which the sizing model does not know",
                            i.get_ref()
                        ),
                        "unknown index type",
                        &format!("use one of {}", IndexType::NAMES.join(", ")),
                    );
                    None
                }
            });
            s.finish(p);
            match (vectors, dim, index) {
                (Some(vectors), Some(dim), Some(index)) => {
                    let input = SizingInput {
                        vectors,
                        dim,
                        index,
                    };
                    let sz = input.compute();
                    Some(Some(Resources {
                        query_node: Some(sz.query_node),
                        data_node: Some(sz.data_node),
                        index_node: Some(sz.index_node),
                        streaming_node: None,
                        origin: ResourcesOrigin::Sizing(input),
                        spans: BTreeMap::new(),
                    }))
                }
                _ => None,
            }
        }
        (None, None) => Some(None),
    };
    let values = helm_values(&mut t, p);
    let ignore = read_ignore(&mut t, p, ResourceKind::HelmRelease);
    t.finish(p);
    let (chart, chart_span) = chart?;
    Some(Milvus {
        release: release?.into_inner(),
        namespace: namespace?,
        chart,
        chart_span,
        service: service?,
        attu: attu?,
        ha,
        resources: resources?,
        wait,
        timeout: timeout?,
        values,
        ignore,
    })
}

fn read_lbc(mut t: Table, p: &mut Problems) -> Option<Option<LoadBalancerController>> {
    let enabled = t.flag(p, "enabled", true);
    let chart = read_chart(
        &mut t,
        p,
        LBC_REPO,
        "aws-load-balancer-controller",
        crate::chart::DEFAULT_LBC_CHART_VERSION,
    );
    let wait = t.flag(p, "wait", true);
    let timeout = read_timeout(&mut t, p);
    let values = helm_values(&mut t, p);
    t.finish(p);
    let (chart, chart_span) = chart?;
    Some(enabled.then_some(LoadBalancerController {
        chart,
        chart_span,
        wait,
        timeout: timeout?,
        values,
    }))
}

/// A release's `timeout`: how long helm waits for it (`--timeout`),
/// `Some(None)` when not given. `None` when it is invalid.
fn read_timeout(t: &mut Table, p: &mut Problems) -> Option<Option<String>> {
    let field = format!("{}.timeout", t.path);
    match t.string(p, "timeout") {
        None => Some(None),
        Some(v) => check(
            p,
            &field,
            &v,
            rules::helm_timeout(v.get_ref()),
            "a duration as helm's --timeout takes it: \"90s\", \"5m\", \"2m30s\"",
        )
        .then(|| Some(v.into_inner())),
    }
}

fn read_kubernetes(mut t: Table, p: &mut Problems) -> Option<KubernetesOverride> {
    let kubeconfig = t.req_string(
        p,
        "kubeconfig",
        "point at a kubeconfig file: kubeconfig = \"~/.kube/config\"",
    );
    let context = t.string(p, "context").map(Sp::into_inner);
    t.finish(p);
    Some(KubernetesOverride {
        kubeconfig: kubeconfig?.into_inner(),
        context,
    })
}

#[cfg(test)]
mod state_tests {
    use crate::model::StateConfig;

    const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

    fn with_state(section: &str) -> Result<crate::Stack, crate::StackError> {
        let text = REFERENCE.replace(
            "backend = \"local\"            # .stackplan/milvus-demo.state.json\n",
            section,
        );
        assert_ne!(text, REFERENCE, "the reference stack's [state] moved");
        crate::parse("s.toml", &text)
    }

    fn s3(kms_key_id: &str) -> String {
        format!(
            "backend = \"s3\"\nbucket = \"acme-stackplan-state\"\nkey = \"milvus-demo.json\"\nkms_key_id = \"{kms_key_id}\"\n"
        )
    }

    #[test]
    fn kms_key_id_is_read_in_each_form_kms_documents() {
        for id in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/stackplan-state",
            "alias/aws/s3",
            "arn:aws-cn:kms:cn-north-1:111122223333:alias/team/state_key",
        ] {
            let stack = with_state(&s3(id)).unwrap_or_else(|e| panic!("{id}: {e:?}"));
            match stack.state {
                StateConfig::S3 { kms_key_id, .. } => assert_eq!(kms_key_id.as_deref(), Some(id)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_kms_key_id_in_no_documented_form_is_refused() {
        for id in [
            "stackplan-state",
            "alias/",
            "alias/has space",
            "1234abcd-12ab-34cd-56ef",
            "arn:aws:s3:::acme-stackplan-state",
            "arn:aws:kms:us-west-2:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            let err = with_state(&s3(id)).unwrap_err();
            let problems = err.problems();
            assert_eq!(problems.len(), 1, "{id}: {problems:?}");
            assert_eq!(
                problems[0].message,
                "`state.kms_key_id` must be a KMS key id, key ARN, alias name (`alias/...`) or alias ARN",
                "{id}"
            );
        }
    }

    #[test]
    fn kms_key_id_applies_only_to_the_s3_backend() {
        let err = with_state("backend = \"local\"\nkms_key_id = \"alias/state\"\n").unwrap_err();
        assert_eq!(
            err.problems()[0].message,
            "`state.kms_key_id` applies only to the s3 backend"
        );
    }
}

#[cfg(test)]
mod release_version_tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

    fn with_release(release: &str) -> Result<Stack, StackError> {
        let from = "instance_type = \"m6i.2xlarge\"\n";
        assert!(REFERENCE.contains(from));
        let text = REFERENCE.replacen(from, &format!("{from}release_version = \"{release}\"\n"), 1);
        parse("stack.toml", &text)
    }

    #[test]
    fn a_node_group_takes_an_ami_release_of_the_clusters_version() {
        let stack = with_release("1.30.4-20250123").unwrap();
        assert_eq!(
            stack.eks.nodegroups[0].release_version.as_deref(),
            Some("1.30.4-20250123")
        );
        let stack = parse("stack.toml", REFERENCE).unwrap();
        assert_eq!(stack.eks.nodegroups[0].release_version, None);
    }

    #[test]
    fn latest_is_an_ami_release_resolved_at_plan() {
        let stack = with_release("latest").unwrap();
        assert_eq!(
            stack.eks.nodegroups[0].release_version.as_deref(),
            Some("latest")
        );
    }

    #[test]
    fn an_ami_release_of_another_version_or_not_a_release_is_refused_at_validate() {
        let err = with_release("1.29.15-20250123").unwrap_err();
        let text = format!("{:?}", err.problems());
        assert!(
            text.contains("is an AMI release of Kubernetes 1.29, but eks.version is 1.30"),
            "{text}"
        );
        for bad in ["newest", "1.30-20250123", "1.30.4", "1.30.4-2025"] {
            let err = with_release(bad).unwrap_err();
            let text = format!("{:?}", err.problems());
            assert!(text.contains("is not an AMI release"), "{bad}: {text}");
        }
    }
}

#[cfg(test)]
mod helm_timeout_tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

    fn with_timeout(timeout: &str) -> Result<Stack, StackError> {
        let from = "[milvus]\n";
        assert!(REFERENCE.contains(from));
        let text = REFERENCE.replacen(from, &format!("{from}timeout = {timeout}\n"), 1);
        parse("stack.toml", &text)
    }

    #[test]
    fn a_release_waits_ten_minutes_unless_its_timeout_says_otherwise() {
        let stack = parse("stack.toml", REFERENCE).unwrap();
        assert_eq!(stack.milvus.as_ref().unwrap().timeout, None);
        assert_eq!(
            stack.load_balancer_controller.as_ref().unwrap().timeout,
            None
        );
        let stack = with_timeout("\"2m30s\"").unwrap();
        assert_eq!(stack.milvus.unwrap().timeout.as_deref(), Some("2m30s"));
    }

    #[test]
    fn a_timeout_helm_would_refuse_or_a_typo_is_refused_naming_the_field() {
        for (bad, why) in [
            ("\"10\"", "needs a unit after each whole number"),
            ("\"10 min\"", "needs a unit after each whole number"),
            ("\"ten\"", "is not a duration"),
            ("\"0s\"", "must be from 1s to 10m"),
            ("\"11m\"", "must be from 1s to 10m"),
            ("\"1.5h\"", "needs a unit after each whole number"),
        ] {
            let err = with_timeout(bad).unwrap_err();
            let text = format!("{:?}", err.problems());
            assert!(
                text.contains("`milvus.timeout`") && text.contains(why),
                "{bad}: {text}"
            );
        }
        let err = with_timeout("600").unwrap_err();
        let text = format!("{:?}", err.problems());
        assert!(text.contains("timeout"), "{text}");
    }
}
