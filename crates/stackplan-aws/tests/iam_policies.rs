//! The IAM policies users give stackplan (`docs/iam/plan.json`,
//! `docs/iam/apply.json`) against the AWS operations the code calls.
//!
//! The source of the AWS provider, the state backends and the Kubernetes
//! provider's EKS lookup is scanned for the SDK's fluent calls
//! (`self.eks.describe_cluster()`); each is an operation of the SDK crate
//! of its client, and its IAM action is the operation's name under the
//! service's prefix (`eks:DescribeCluster`), or the actions in
//! [`IRREGULAR`] where the service documents others. Then:
//!
//! - every read (`Describe*`, `Get*`, `List*`, `Head*`) is allowed by
//!   `plan.json`, and `plan.json` allows no other action of the code;
//! - every operation is allowed by `apply.json` (apply plans first, and
//!   deletes: it covers `destroy` too);
//! - neither allows an action the code never calls, except the ones in
//!   [`EXTRAS`], each needed by a service on the caller's behalf, with its
//!   source.
//!
//! So adding an SDK call without its permission, or leaving a permission
//! behind when a call goes, fails here. The operations are read from the
//! SDK crates this workspace builds (found with `cargo metadata`), so a
//! method of ours that only looks like an operation is never counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SDK crate of each service stackplan calls, and its IAM prefix.
const SERVICES: &[(&str, &str)] = &[
    ("aws-sdk-ec2", "ec2"),
    ("aws-sdk-eks", "eks"),
    ("aws-sdk-iam", "iam"),
    ("aws-sdk-kafka", "kafka"),
    ("aws-sdk-kms", "kms"),
    ("aws-sdk-s3", "s3"),
    ("aws-sdk-secretsmanager", "secretsmanager"),
    ("aws-sdk-ssm", "ssm"),
    ("aws-sdk-sts", "sts"),
];

/// The source trees that call AWS, and what each names its SDK clients
/// (the receiver of a fluent call: a field, a local, or a method returning
/// the client). Every other crate's `src` is scanned too, knowing no
/// client: a call that ends in `.send()` or `.into_paginator()` on a
/// receiver not listed here fails the test, so a new client name (or a
/// new crate calling AWS) is added here rather than missed.
const SOURCES: &[(&str, &[(&str, &str)])] = &[
    (
        "crates/stackplan-aws/src",
        &[
            ("ec2", "ec2"),
            ("ec2_once()", "ec2"),
            ("eks", "eks"),
            ("iam", "iam"),
            ("iam_once()", "iam"),
            ("kafka", "kafka"),
            ("kms", "kms"),
            ("kms_once()", "kms"),
            ("s3", "s3"),
            ("secrets", "secretsmanager"),
            ("ssm", "ssm"),
            ("sts", "sts"),
        ],
    ),
    (
        "crates/stackplan-state/src",
        &[("client", "s3"), ("client()", "s3")],
    ),
    // The EKS cluster's endpoint and CA (`target.rs`); the token is a
    // presigned `sts:GetCallerIdentity`, which needs no permission.
    (
        "crates/stackplan-kube/src",
        &[("client", "eks"), ("eks", "eks")],
    ),
];

/// Crates whose SDK calls are not stackplan's: the test harness sets up
/// and inspects the emulators.
const NOT_SCANNED: &[&str] = &["stackplan-testkit"];

/// Operations whose IAM action is not `prefix:OperationName`. Source: the
/// Amazon S3 User Guide, "Required permissions for Amazon S3 API
/// operations" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html),
/// and each operation's "Permissions" section in the S3 API Reference.
const IRREGULAR: &[(&str, &[&str])] = &[
    ("s3:HeadBucket", &["s3:ListBucket"]),
    (
        "s3:DeleteBucketLifecycle",
        &["s3:PutLifecycleConfiguration"],
    ),
    ("s3:DeleteBucketTagging", &["s3:PutBucketTagging"]),
    // Objects are deleted by version id (a versioned bucket).
    (
        "s3:DeleteObjects",
        &["s3:DeleteObject", "s3:DeleteObjectVersion"],
    ),
    ("s3:GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    ("s3:PutBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    (
        "s3:GetBucketLifecycleConfiguration",
        &["s3:GetLifecycleConfiguration"],
    ),
    (
        "s3:PutBucketLifecycleConfiguration",
        &["s3:PutLifecycleConfiguration"],
    ),
    (
        "s3:GetPublicAccessBlock",
        &["s3:GetBucketPublicAccessBlock"],
    ),
    (
        "s3:PutPublicAccessBlock",
        &["s3:PutBucketPublicAccessBlock"],
    ),
    ("s3:ListObjectVersions", &["s3:ListBucketVersions"]),
];

/// Reads that a plan never makes: `apply.json` only.
const APPLY_ONLY_READS: &[(&str, &str)] = &[(
    "secretsmanager:GetRandomPassword",
    "only a `generate` SCRAM password being created calls it",
)];

/// Which policy an extra belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needed {
    /// plan.json and apply.json.
    Both,
    ApplyOnly,
}

/// Actions no SDK call of ours names, which a service checks on the
/// caller's behalf. The README's permissions section says the same.
const EXTRAS: &[(&str, Needed, &str)] = &[
    (
        "iam:PassRole",
        Needed::ApplyOnly,
        "EKS CreateCluster (cluster role), CreateNodegroup (node role) and CreateAddon \
         (service account role) pass a role: IAM User Guide, \"Grant a user permissions to \
         pass a role to an AWS service\"; EKS User Guide, \"Amazon EKS cluster IAM role\"",
    ),
    (
        "iam:CreateServiceLinkedRole",
        Needed::ApplyOnly,
        "the first EKS cluster, managed node group and MSK cluster of an account create \
         AWSServiceRoleForAmazonEKS, AWSServiceRoleForAmazonEKSNodegroup and \
         AWSServiceRoleForKafka: EKS User Guide, \"Using roles for Amazon EKS node groups\"; \
         MSK Developer Guide, \"Service-linked role permissions for Amazon MSK\"",
    ),
    (
        "kms:Decrypt",
        Needed::Both,
        "GetSecretValue of the SCRAM secret (a customer managed key) and GetObject of state \
         under SSE-KMS decrypt with the caller's permission: Secrets Manager User Guide, \
         \"Secret encryption and decryption\", Permissions for the KMS key",
    ),
    (
        "kms:GenerateDataKey",
        Needed::ApplyOnly,
        "CreateSecret and PutSecretValue under a customer managed key, and PutObject of state \
         under SSE-KMS: Secrets Manager User Guide, \"Secret encryption and decryption\"; S3 \
         User Guide, \"Using server-side encryption with AWS KMS keys\"",
    ),
    (
        "kms:CreateGrant",
        Needed::ApplyOnly,
        "MSK CreateCluster and BatchAssociateScramSecret let MSK use the keys passed to it: \
         MSK Developer Guide, \"AWS managed policy: AmazonMSKFullAccess\" (kms:CreateGrant, \
         kms:DescribeKey)",
    ),
    (
        "route53:AssociateVPCWithHostedZone",
        Needed::ApplyOnly,
        "CreateVpcEndpoint with private DNS (`endpoints = true`) associates the VPC with the \
         endpoint's private hosted zone as the caller: AWS PrivateLink Guide, \"Manage DNS \
         names for VPC endpoint services\"; hasura/ddn-docs#1075",
    ),
];

/// Kinds of call an operation is, by its verb.
fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|verb| operation.starts_with(verb))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/<name> sits two levels below the workspace root")
        .to_path_buf()
}

/// Every operation of each service's SDK crate, snake case to its name:
/// `describe_cluster` -> `DescribeCluster`, read from the crate this
/// workspace builds (`src/operation/<snake>.rs` declares the operation's
/// struct). Platform filtered, so the resolution works offline.
fn sdk_operations() -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let host = {
        let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-vV")
            .output()
            .expect("rustc -vV runs");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            .expect("rustc -vV names the host")
    };
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            &host,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let mut all = BTreeMap::new();
    for (krate, prefix) in SERVICES {
        let manifest = packages
            .iter()
            .find(|p| p["name"] == *krate)
            .and_then(|p| p["manifest_path"].as_str())
            .unwrap_or_else(|| panic!("{krate} is not in the dependency graph"));
        let dir = Path::new(manifest).parent().unwrap().join("src/operation");
        let mut ops = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let snake = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            // `pub struct DescribeCluster;`: the operation's own name, with
            // the service's casing (`AddClientIDToOpenIDConnectProvider`).
            let name = text.lines().find_map(|l| {
                let rest = l.trim().strip_prefix("pub struct ")?;
                let name = rest.strip_suffix(';')?.trim();
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric())
                    .then(|| name.to_string())
            });
            if let Some(name) = name {
                ops.insert(snake, name);
            }
        }
        assert!(!ops.is_empty(), "no operations found under {dir:?}");
        all.insert(*prefix, ops);
    }
    all
}

/// Rust source with comments, string and char literals blanked out, so
/// that a call in a doc comment or an error message is not a call.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(len) = raw_string_len(rest, i == 0 || !is_ident(b[i - 1])) {
            i += len;
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).unwrap();
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `r"..."`, `r#"..."#`, `br"..."`: its length, when `s` starts with one.
fn raw_string_len(s: &str, at_token_start: bool) -> Option<usize> {
    if !at_token_start {
        return None;
    }
    let s2 = s.strip_prefix('b').unwrap_or(s);
    let skipped = s.len() - s2.len();
    let after_r = s2.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(skipped + 1 + hashes + 1 + end + close.len())
}

/// `'a'`, `'\n'`, `'\u{202E}'`; not a lifetime.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        let close = s[1..].find('\'')? + 1;
        return Some(close + 1);
    }
    let (j, close) = chars.next()?;
    (close == '\'').then_some(j + 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Punct(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut ident = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    ident.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Ident(ident));
        } else if !c.is_whitespace() {
            out.push(Token::Punct(c));
        }
    }
    out
}

/// The tokens without `#[cfg(test)]` items (test modules call mock
/// clients, not AWS).
fn without_test_items(toks: Vec<Token>) -> Vec<Token> {
    let cfg_test = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i..].starts_with(&cfg_test) {
            // Skip to the item's end: its block, or a `;` before any block.
            let mut j = i + cfg_test.len();
            while j < toks.len() && toks[j] != Token::Punct('{') && toks[j] != Token::Punct(';') {
                j += 1;
            }
            if j < toks.len() && toks[j] == Token::Punct('{') {
                let mut depth = 0;
                while j < toks.len() {
                    match toks[j] {
                        Token::Punct('{') => depth += 1,
                        Token::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
            i = j + 1;
        } else {
            out.push(toks[i].clone());
            i += 1;
        }
    }
    out
}

/// One fluent SDK call found in the source.
#[derive(Debug)]
struct Call {
    file: PathBuf,
    receiver: String,
    method: String,
    /// `.send()` or `.into_paginator()` follows in the same statement.
    sent: bool,
}

/// Every `RECEIVER.method()` with no arguments (an SDK operation's
/// builder takes none; a helper of ours named like one takes some).
fn calls_in(file: &Path) -> Vec<Call> {
    let src = std::fs::read_to_string(file).unwrap();
    let toks = without_test_items(tokens(&code_only(&src)));
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let (
            Token::Punct('.'),
            Some(Token::Ident(method)),
            Some(Token::Punct('(')),
            Some(Token::Punct(')')),
        ) = (&toks[i], toks.get(i + 1), toks.get(i + 2), toks.get(i + 3))
        else {
            continue;
        };
        let receiver = match (
            i.checked_sub(3).map(|k| &toks[k..i]),
            toks.get(i.wrapping_sub(1)),
        ) {
            (Some([Token::Ident(name), Token::Punct('('), Token::Punct(')')]), _) => {
                format!("{name}()")
            }
            (_, Some(Token::Ident(name))) => name.clone(),
            _ => continue,
        };
        let end = toks[i..]
            .iter()
            .position(|t| *t == Token::Punct(';'))
            .map_or(toks.len(), |p| i + p);
        let sent = toks[i + 4..end].windows(2).any(|w| {
            matches!(&w[0], Token::Punct('.'))
                && matches!(&w[1], Token::Ident(m) if m == "send" || m == "into_paginator")
        });
        out.push(Call {
            file: file.to_path_buf(),
            receiver,
            method: method.clone(),
            sent,
        });
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The operations the code calls: `prefix:OperationName` -> where.
fn called_operations() -> BTreeMap<String, BTreeSet<String>> {
    let ops = sdk_operations();
    let root = workspace_root();
    let mut called: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut trees: Vec<(String, &[(&str, &str)])> = SOURCES
        .iter()
        .map(|(dir, receivers)| (dir.to_string(), *receivers))
        .collect();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let dir = format!("crates/{name}/src");
        if !NOT_SCANNED.contains(&name.as_str())
            && root.join(&dir).is_dir()
            && !trees.iter().any(|(d, _)| *d == dir)
        {
            trees.push((dir, &[]));
        }
    }
    for (dir, receivers) in trees {
        for file in rust_files(&root.join(&dir)) {
            let shown = file.strip_prefix(&root).unwrap().display().to_string();
            for call in calls_in(&file) {
                let known = receivers.iter().find(|(r, _)| *r == call.receiver);
                match known {
                    Some((_, prefix)) => {
                        if let Some(name) = ops[prefix].get(&call.method) {
                            called
                                .entry(format!("{prefix}:{name}"))
                                .or_default()
                                .insert(shown.clone());
                        }
                    }
                    None if call.sent && ops.values().any(|o| o.contains_key(&call.method)) => {
                        unknown.push(format!(
                            "{}: `{}.{}()`",
                            call.file.display(),
                            call.receiver,
                            call.method
                        ));
                    }
                    None => {}
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "SDK calls on a client this test does not know; add its name to SOURCES:\n{}",
        unknown.join("\n")
    );
    called
}

/// The IAM actions an operation needs.
fn actions_of(operation: &str) -> Vec<String> {
    match IRREGULAR.iter().find(|(op, _)| *op == operation) {
        Some((_, actions)) => actions.iter().map(|a| a.to_string()).collect(),
        None => vec![operation.to_string()],
    }
}

/// The actions a policy file allows, lower-cased (IAM action names are
/// case-insensitive: IAM User Guide, "IAM JSON policy elements: Action").
fn allowed(file: &str) -> BTreeMap<String, String> {
    let path = workspace_root().join("docs/iam").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    assert_eq!(
        doc["Version"], "2012-10-17",
        "{file}: policy language version"
    );
    let mut out = BTreeMap::new();
    for statement in doc["Statement"].as_array().expect("Statement is a list") {
        let sid = statement["Sid"].as_str().unwrap_or("?");
        assert_eq!(
            statement["Effect"], "Allow",
            "{file} {sid}: only Allow statements"
        );
        assert!(
            statement.get("Resource").is_some(),
            "{file} {sid}: no Resource"
        );
        assert!(
            statement.get("NotAction").is_none(),
            "{file} {sid}: NotAction"
        );
        let actions: Vec<&str> = match &statement["Action"] {
            serde_json::Value::String(a) => vec![a.as_str()],
            serde_json::Value::Array(list) => list.iter().map(|a| a.as_str().unwrap()).collect(),
            other => panic!("{file} {sid}: Action is {other}"),
        };
        for action in actions {
            assert!(
                !action.contains('*') && !action.contains('?'),
                "{file} {sid}: `{action}` is a wildcard; name each action, so the policy \
                 grants what the code calls and nothing else"
            );
            let (prefix, name) = action
                .split_once(':')
                .unwrap_or_else(|| panic!("{file} {sid}: `{action}` has no service prefix"));
            assert!(!prefix.is_empty() && !name.is_empty(), "{file}: `{action}`");
            let previous = out.insert(action.to_ascii_lowercase(), action.to_string());
            assert!(previous.is_none(), "{file}: `{action}` is allowed twice");
        }
    }
    out
}

/// What plan.json and apply.json must allow: action -> why.
fn required() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut plan = BTreeMap::new();
    let mut apply = BTreeMap::new();
    for (operation, files) in called_operations() {
        let name = operation.split_once(':').unwrap().1;
        let why = format!(
            "{operation} ({})",
            files.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let apply_only = APPLY_ONLY_READS.iter().any(|(op, _)| *op == operation);
        for action in actions_of(&operation) {
            if is_read(name) && !apply_only {
                plan.insert(action.clone(), why.clone());
            }
            apply.insert(action, why.clone());
        }
    }
    for (action, needed, why) in EXTRAS {
        if *needed == Needed::Both {
            plan.insert(action.to_string(), why.to_string());
        }
        apply.insert(action.to_string(), why.to_string());
    }
    (plan, apply)
}

fn check(file: &str, required: &BTreeMap<String, String>) {
    let allowed = allowed(file);
    let required_lower: BTreeMap<String, &String> = required
        .iter()
        .map(|(a, why)| (a.to_ascii_lowercase(), why))
        .collect();
    let missing: Vec<String> = required
        .iter()
        .filter(|(a, _)| !allowed.contains_key(&a.to_ascii_lowercase()))
        .map(|(a, why)| format!("  {a}  <- {why}"))
        .collect();
    let unused: Vec<&String> = allowed
        .iter()
        .filter(|(lower, _)| !required_lower.contains_key(*lower))
        .map(|(_, a)| a)
        .collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "docs/iam/{file} does not match the code.\nmissing (the code calls them):\n{}\n\
         allowed but never needed (remove, or add to EXTRAS with its source):\n{}",
        missing.join("\n"),
        unused
            .iter()
            .map(|a| format!("  {a}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn plan_policy_allows_every_read_the_code_makes_and_nothing_else() {
    let (plan, _) = required();
    check("plan.json", &plan);
}

#[test]
fn apply_policy_allows_every_call_the_code_makes_and_nothing_else() {
    let (_, apply) = required();
    check("apply.json", &apply);
}

#[test]
fn plan_policy_grants_no_write() {
    // A write in plan.json would let a pull request's plan change the
    // account; apply's superset is only for the role that applies.
    let plan = allowed("plan.json");
    let (_, apply) = required();
    for (lower, action) in &plan {
        let name = action.split_once(':').unwrap().1;
        let listed_read = is_read(name)
            || ["s3:listbucket", "s3:listbucketversions", "kms:decrypt"].contains(&lower.as_str());
        assert!(
            listed_read,
            "plan.json allows `{action}`, which is not a read"
        );
        assert!(
            apply.keys().any(|a| a.eq_ignore_ascii_case(action)),
            "plan.json allows `{action}`, which apply.json's requirements lack"
        );
    }
}

#[test]
fn the_scan_finds_the_calls_it_must() {
    // Guards the scanner itself: calls made through a field, a method
    // returning a client and a `match` scrutinee, in the three crates.
    let called = called_operations();
    for op in [
        "eks:DescribeCluster",
        "ec2:DetachInternetGateway",
        "iam:AddClientIDToOpenIDConnectProvider",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:GetPublicAccessBlock",
        "sts:GetCallerIdentity",
        "kafka:DescribeCluster",
        "secretsmanager:GetSecretValue",
    ] {
        assert!(
            called.contains_key(op),
            "{op} not found; found: {called:#?}"
        );
    }
    assert!(
        called["eks:DescribeCluster"]
            .iter()
            .any(|f| f.starts_with("crates/stackplan-kube/")),
        "the Kubernetes provider's DescribeCluster is scanned"
    );
    // Nothing from test code: the mock tests' clients are not AWS.
    for files in called.values() {
        assert!(!files.iter().any(|f| f.ends_with("mock_tests.rs")));
    }
}

#[test]
fn source_scanning_ignores_comments_strings_and_test_modules() {
    let src = r##"
        // self.eks.delete_cluster().send()
        /* self.eks.delete_nodegroup() */
        let m = "self.eks.delete_addon().send()";
        let r = r#"self.eks.create_addon()"#;
        let c = '"'; self.eks.describe_cluster().send();
        #[cfg(test)]
        mod tests { fn f() { self.eks.update_addon().send(); } }
        match ec2
            .detach_internet_gateway()
            .send()
    "##;
    let toks = without_test_items(tokens(&code_only(src)));
    let text: Vec<String> = toks
        .iter()
        .filter_map(|t| match t {
            Token::Ident(i) => Some(i.clone()),
            Token::Punct(_) => None,
        })
        .collect();
    for gone in [
        "delete_cluster",
        "delete_nodegroup",
        "delete_addon",
        "create_addon",
        "update_addon",
    ] {
        assert!(!text.iter().any(|t| t == gone), "{gone} survived: {text:?}");
    }
    assert!(text.iter().any(|t| t == "describe_cluster"));
    assert!(text.iter().any(|t| t == "detach_internet_gateway"));
}
