//! Per-kind attribute schemas: which attributes force replacement, which are
//! computed, which are sensitive, what the API defaults them to and how their
//! values normalise, so that a clean apply followed by a plan is quiet.
//!
//! The tables are data, one `static` per kind, in [`aws`] and [`kube`]. The
//! provider issues refine them there (a new attribute, a default the API
//! really applies) without touching the engine: the engine only asks
//! [`KindSchema::for_kind`].

mod aws;
mod kube;

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::{ReplaceOrder, ResourceKind, Value};

/// How a value is brought to a canonical form before it is compared.
///
/// Both sides of every comparison (desired, last applied, live) go through
/// the same normaliser, so what is equal as data is equal in the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Compared as it is (maps are unordered already; `3` equals `3.0`).
    Plain,
    /// A JSON document held as a string (or as data): compared as data, so
    /// key order and whitespace never show as a change.
    JsonDocument,
    /// An IAM policy document: a JSON document, URL-encoded or not (IAM
    /// returns role trust policies URL-encoded), with IAM's equivalences:
    /// a one-element list equals its element, `Action`/`Resource` and
    /// condition value lists are sets, statements are unordered.
    PolicyDocument,
    /// A list whose order means nothing (subnet ids, instance types):
    /// compared sorted, duplicates dropped.
    UnorderedList,
    /// Tags: a map, or AWS's `[{Key, Value}]` list; keys AWS sets itself
    /// (`aws:*`) are not stackplan's and are dropped; values as strings.
    Tags,
    /// A map of strings where the API may hand back numbers or booleans as
    /// strings (Kafka server properties, Kubernetes labels and annotations).
    StringMap,
}

/// The value the API gives an attribute that the stack leaves out, so that
/// "not set" and "set to the default" compare equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrDefault {
    None,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    EmptyList,
    EmptyMap,
}

impl AttrDefault {
    pub fn to_value(self) -> Option<Value> {
        Some(match self {
            AttrDefault::None => return None,
            AttrDefault::Bool(b) => Value::Bool(b),
            AttrDefault::Int(i) => Value::Int(i),
            AttrDefault::Str(s) => Value::String(s.to_string()),
            AttrDefault::EmptyList => Value::List(Vec::new()),
            AttrDefault::EmptyMap => Value::Map(BTreeMap::new()),
        })
    }
}

/// One attribute of a kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttrSchema {
    pub name: &'static str,
    /// Changing it means a new resource (a bucket's name, a subnet's CIDR).
    pub force_new: bool,
    /// Set by the API, never by the stack: read and shown, never diffed.
    pub computed: bool,
    /// Never printed and stored in state only as a salted hash.
    pub sensitive: bool,
    pub normalize: Normalize,
    pub default: AttrDefault,
}

impl AttrSchema {
    /// A plain, updatable attribute with no default.
    pub const fn new(name: &'static str) -> Self {
        AttrSchema {
            name,
            force_new: false,
            computed: false,
            sensitive: false,
            normalize: Normalize::Plain,
            default: AttrDefault::None,
        }
    }

    pub const fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    pub const fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub const fn normalize(mut self, n: Normalize) -> Self {
        self.normalize = n;
        self
    }

    pub const fn default(mut self, d: AttrDefault) -> Self {
        self.default = d;
        self
    }
}

/// The schema of one kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindSchema {
    pub kind: ResourceKind,
    pub attrs: &'static [AttrSchema],
    /// Outputs other resources may reference; all computed.
    pub outputs: &'static [&'static str],
    pub replace: ReplaceOrder,
    /// The attribute that names the resource uniquely in its API (a
    /// role's `name`, a bucket's `bucket`), when it has one. Renaming
    /// frees the old name, so such a replacement can create the new copy
    /// first; adoption looks the resource up by it.
    pub unique_name: Option<&'static str>,
    /// Outputs an in-place update gives a new value, each with the
    /// attributes whose change does it (none listed: any update). An MSK
    /// configuration's revision, an IAM policy's default version, the
    /// brokers of an MSK cluster that grew.
    pub outputs_on_update: &'static [(&'static str, &'static [&'static str])],
}

/// What an attribute the schema does not list is treated as: plain,
/// updatable, not sensitive. Keeps a stack ahead of its schema working.
const UNLISTED: AttrSchema = AttrSchema::new("");

impl KindSchema {
    /// True for a kind whose object exists before the stack and is only
    /// taken over, never made: the cluster's default StorageClass (EKS's
    /// gp2), whose default flag is all the stack sets.
    pub fn exists_before_stack(&self) -> bool {
        self.kind == crate::ResourceKind::K8sDefaultClass
    }

    /// True when an in-place update that changes `changed` (attribute
    /// names) gives `output` a new value. While their producer is updated,
    /// consumers see such outputs as unknown, so the consumer's change
    /// lands in the same apply (the Milvus pods carry the Secret's
    /// resource version in an annotation, and roll when a rotated password
    /// is written to it).
    pub fn output_changes_on_update<'a>(
        &self,
        output: &str,
        mut changed: impl Iterator<Item = &'a str>,
    ) -> bool {
        self.outputs_on_update
            .iter()
            .find(|(name, _)| *name == output)
            .is_some_and(|(_, when)| when.is_empty() || changed.any(|c| when.contains(&c)))
    }

    /// The schema for `kind`; every kind has one.
    pub fn for_kind(kind: ResourceKind) -> &'static KindSchema {
        use ResourceKind::*;
        match kind {
            Ec2AvailabilityZones => &aws::EC2_AVAILABILITY_ZONES,
            Ec2Vpc => &aws::EC2_VPC,
            Ec2Subnet => &aws::EC2_SUBNET,
            Ec2SecurityGroup => &aws::EC2_SECURITY_GROUP,
            Ec2SecurityGroupRule => &aws::EC2_SECURITY_GROUP_RULE,
            Ec2InternetGateway => &aws::EC2_INTERNET_GATEWAY,
            Ec2Eip => &aws::EC2_EIP,
            Ec2NatGateway => &aws::EC2_NAT_GATEWAY,
            Ec2RouteTable => &aws::EC2_ROUTE_TABLE,
            Ec2RouteTableAssociation => &aws::EC2_ROUTE_TABLE_ASSOCIATION,
            Ec2VpcEndpoint => &aws::EC2_VPC_ENDPOINT,
            IamRole => &aws::IAM_ROLE,
            IamPolicy => &aws::IAM_POLICY,
            IamOidcProvider => &aws::IAM_OIDC_PROVIDER,
            EksCluster => &aws::EKS_CLUSTER,
            EksNodegroup => &aws::EKS_NODEGROUP,
            EksAddon => &aws::EKS_ADDON,
            EksAccessEntry => &aws::EKS_ACCESS_ENTRY,
            S3Bucket => &aws::S3_BUCKET,
            KmsKey => &aws::KMS_KEY,
            SecretsmanagerSecret => &aws::SECRETSMANAGER_SECRET,
            MskConfiguration => &aws::MSK_CONFIGURATION,
            MskCluster => &aws::MSK_CLUSTER,
            MskScramAssociation => &aws::MSK_SCRAM_ASSOCIATION,
            K8sNamespace => &kube::K8S_NAMESPACE,
            K8sServiceAccount => &kube::K8S_SERVICE_ACCOUNT,
            K8sStorageClass => &kube::K8S_STORAGE_CLASS,
            K8sDefaultClass => &kube::K8S_DEFAULT_CLASS,
            K8sSecret => &kube::K8S_SECRET,
            HelmRelease => &kube::HELM_RELEASE,
        }
    }

    /// The attribute's schema, or the plain default for unlisted names.
    pub fn attr(&self, name: &str) -> &AttrSchema {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .unwrap_or(&UNLISTED)
    }

    pub fn is_computed(&self, name: &str) -> bool {
        self.attr(name).computed || self.outputs.contains(&name)
    }

    /// The canonical form of `value` for attribute `name`.
    pub fn normalize(&self, name: &str, value: &Value) -> Value {
        normalize(self.attr(name).normalize, value)
    }

    /// The value compared when a side does not set `name` at all: the API
    /// default, normalised, or null.
    pub fn effective(&self, name: &str, value: Option<&Value>) -> Value {
        let attr = self.attr(name);
        match value {
            Some(v) if *v != Value::Null => normalize(attr.normalize, v),
            _ => attr
                .default
                .to_value()
                .map(|d| normalize(attr.normalize, &d))
                .unwrap_or(Value::Null),
        }
    }
}

/// Applies one normaliser. Unknowns, references and secrets pass through
/// untouched: they are compared by what they are, not by content.
pub fn normalize(how: Normalize, value: &Value) -> Value {
    match value {
        Value::Sensitive(inner) => return Value::Sensitive(Box::new(normalize(how, inner))),
        v if !v.is_known() => return v.clone(),
        _ => {}
    }
    match how {
        Normalize::Plain => plain(value),
        Normalize::JsonDocument => plain(&parse_document(value, false)),
        Normalize::PolicyDocument => policy(&plain(&parse_document(value, true))),
        Normalize::UnorderedList => match plain(value) {
            Value::List(items) => Value::List(sorted_set(items)),
            other => other,
        },
        Normalize::Tags => tags(value),
        Normalize::StringMap => match plain(value) {
            Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, stringly(v))).collect()),
            other => other,
        },
    }
}

/// Floats that are whole numbers become integers (JSON and YAML round
/// trips turn `3` into `3.0`); maps and lists are normalised deeply.
fn plain(value: &Value) -> Value {
    match value {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(*f as i64),
        Value::List(items) => Value::List(items.iter().map(plain).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), plain(v))).collect()),
        Value::Sensitive(inner) => Value::Sensitive(Box::new(plain(inner))),
        other => other.clone(),
    }
}

/// A string holding JSON becomes the data it holds; anything that does not
/// parse stays a string (and then differs from any parsed document).
fn parse_document(value: &Value, url_encoded: bool) -> Value {
    let Value::String(s) = value else {
        return value.clone();
    };
    let text = if url_encoded && s.trim_start().starts_with('%') {
        percent_decode(s).unwrap_or_else(|| s.clone())
    } else {
        s.clone()
    };
    match serde_json::from_str::<Json>(&text) {
        Ok(json) => json_to_plain(&json),
        Err(_) => value.clone(),
    }
}

/// JSON to a [`Value`] as literal data: unlike [`Value::from_json`], keys
/// that start with `$` are ordinary keys here (a document is not a plan).
fn json_to_plain(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_to_plain).collect()),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), json_to_plain(v)))
                .collect(),
        ),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Sorts by the canonical JSON text of each item and drops duplicates.
fn sorted_set(items: Vec<Value>) -> Vec<Value> {
    let mut keyed: Vec<(String, Value)> = items
        .into_iter()
        .map(|v| (v.to_json().to_string(), v))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed.into_iter().map(|(_, v)| v).collect()
}

fn as_set(value: Value) -> Value {
    match value {
        Value::List(items) => Value::List(sorted_set(items)),
        single => Value::List(vec![single]),
    }
}

/// IAM's equivalences on an already parsed policy document.
fn policy(doc: &Value) -> Value {
    let Value::Map(doc) = doc else {
        return doc.clone();
    };
    let mut out = doc.clone();
    if let Some(statements) = out.remove("Statement") {
        let statements = match statements {
            Value::List(items) => items,
            single => vec![single],
        };
        let statements = statements.iter().map(statement).collect();
        out.insert("Statement".into(), Value::List(sorted_set(statements)));
    }
    Value::Map(out)
}

fn statement(st: &Value) -> Value {
    let Value::Map(st) = st else {
        return st.clone();
    };
    let mut out = BTreeMap::new();
    for (k, v) in st {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => as_set(v.clone()),
            "Principal" | "NotPrincipal" => match v {
                Value::Map(m) => Value::Map(
                    m.iter()
                        .map(|(pk, pv)| (pk.clone(), as_set(pv.clone())))
                        .collect(),
                ),
                other => other.clone(),
            },
            // Condition: { operator: { key: value-or-values } }
            "Condition" => match v {
                Value::Map(ops) => Value::Map(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Map(km) => Value::Map(
                                    km.iter()
                                        .map(|(ck, cv)| (ck.clone(), as_set(stringly(cv.clone()))))
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Map(out)
}

/// Scalars as strings, as the API hands them back.
fn stringly(v: Value) -> Value {
    match v {
        Value::Int(i) => Value::String(i.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Float(f) => Value::String(f.to_string()),
        Value::List(items) => Value::List(items.into_iter().map(stringly).collect()),
        other => other,
    }
}

fn tags(value: &Value) -> Value {
    let map: BTreeMap<String, Value> = match plain(value) {
        Value::Map(m) => m,
        Value::List(items) => items
            .into_iter()
            .filter_map(|item| {
                let m = item.as_map()?;
                let key = m.get("Key").or_else(|| m.get("key"))?.as_str()?.to_string();
                let value = m
                    .get("Value")
                    .or_else(|| m.get("value"))
                    .cloned()
                    .unwrap_or(Value::String(String::new()));
                Some((key, value))
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => return other,
    };
    Value::Map(
        map.into_iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k, stringly(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_equal(how: Normalize, a: Value, b: Value) {
        assert_eq!(normalize(how, &a), normalize(how, &b), "{a:?} vs {b:?}");
    }

    #[test]
    fn every_unique_name_is_a_force_new_attribute_of_its_kind() {
        for kind in ResourceKind::ALL {
            let schema = KindSchema::for_kind(*kind);
            if let Some(name) = schema.unique_name {
                let attr = schema.attrs.iter().find(|a| a.name == name);
                assert!(
                    attr.is_some_and(|a| a.force_new),
                    "{kind}: unique name `{name}` is not a force-new attribute"
                );
            }
            for (output, _) in schema.outputs_on_update {
                assert!(schema.outputs.contains(output), "{kind}: `{output}`");
            }
        }
        // The node group's parent cluster is not its name (the old guess
        // took the first name-like attribute, `cluster_name`).
        assert_eq!(
            KindSchema::for_kind(ResourceKind::EksNodegroup).unique_name,
            Some("nodegroup_name")
        );
    }

    #[test]
    fn the_broker_list_changes_only_when_brokers_are_added() {
        let msk = KindSchema::for_kind(ResourceKind::MskCluster);
        let brokers = "bootstrap_brokers_sasl_scram";
        assert!(msk.output_changes_on_update(brokers, ["number_of_broker_nodes"].into_iter()));
        assert!(!msk.output_changes_on_update(brokers, ["enhanced_monitoring"].into_iter()));
        assert!(msk.output_changes_on_update("current_version", ["tags"].into_iter()));
    }

    #[test]
    fn policy_documents_compare_as_data_whatever_their_spelling() {
        let written = Value::string(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        let returned = Value::string(
            r#"{ "Statement": {"Resource": ["arn:aws:s3:::b/*"], "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObject"], "Effect": "Allow"},
                 "Version": "2012-10-17" }"#,
        );
        check_equal(Normalize::PolicyDocument, written, returned);
    }

    #[test]
    fn url_encoded_trust_policy_equals_the_plain_one() {
        let plain = Value::string(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        let encoded = Value::string(
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22eks.amazonaws.com%22%5D%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
        );
        check_equal(Normalize::PolicyDocument, plain, encoded);
    }

    #[test]
    fn policy_with_a_different_action_is_still_different() {
        let a = Value::string(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#);
        let b = Value::string(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#);
        assert_ne!(
            normalize(Normalize::PolicyDocument, &a),
            normalize(Normalize::PolicyDocument, &b)
        );
    }

    #[test]
    fn unordered_lists_ignore_order_and_duplicates() {
        check_equal(
            Normalize::UnorderedList,
            Value::list(["subnet-b".into(), "subnet-a".into()]),
            Value::list(["subnet-a".into(), "subnet-b".into(), "subnet-a".into()]),
        );
    }

    #[test]
    fn tags_as_aws_key_value_list_equal_the_map_without_aws_owned_keys() {
        check_equal(
            Normalize::Tags,
            Value::map([("team", Value::string("search")), ("n", Value::Int(1))]),
            Value::list([
                Value::map([("Key", Value::string("n")), ("Value", Value::string("1"))]),
                Value::map([
                    ("Key", Value::string("aws:cloudformation:stack-name")),
                    ("Value", Value::string("x")),
                ]),
                Value::map([
                    ("Key", Value::string("team")),
                    ("Value", Value::string("search")),
                ]),
            ]),
        );
    }

    #[test]
    fn string_maps_take_numbers_and_booleans_as_their_string_form() {
        check_equal(
            Normalize::StringMap,
            Value::map([("auto.create.topics.enable", Value::Bool(true))]),
            Value::map([("auto.create.topics.enable", Value::string("true"))]),
        );
    }

    #[test]
    fn unset_attribute_equals_the_api_default() {
        let s3 = KindSchema::for_kind(ResourceKind::S3Bucket);
        assert_eq!(
            s3.effective("force_destroy", None),
            s3.effective("force_destroy", Some(&Value::Bool(false)))
        );
        assert_eq!(
            s3.effective("tags", None),
            s3.effective("tags", Some(&Value::list([])))
        );
    }

    #[test]
    fn unknowns_pass_through_normalisation() {
        assert_eq!(
            normalize(Normalize::PolicyDocument, &Value::Unknown),
            Value::Unknown
        );
    }

    #[test]
    fn every_kind_has_a_schema_for_itself() {
        for kind in ResourceKind::ALL {
            assert_eq!(KindSchema::for_kind(*kind).kind, *kind);
        }
    }
}
