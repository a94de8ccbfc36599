use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map as JsonMap, Value as Json};

use crate::ResourceAddr;

/// A reference to an output attribute of another resource
/// (`eks_cluster.main.oidc_issuer`). Every reference is also a graph edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputRef {
    pub addr: ResourceAddr,
    pub attr: String,
}

impl OutputRef {
    pub fn new(addr: ResourceAddr, attr: impl Into<String>) -> Self {
        OutputRef {
            addr,
            attr: attr.into(),
        }
    }
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.addr, self.attr)
    }
}

impl FromStr for OutputRef {
    type Err = crate::CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, attr) = s
            .rsplit_once('.')
            .ok_or_else(|| crate::CoreError::InvalidAddress(s.to_string()))?;
        Ok(OutputRef::new(addr.parse()?, attr))
    }
}

/// Where a secret comes from. The stack file names a source, never a value,
/// and plans and state keep only the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretSource {
    /// `env:NAME`: read from the environment of the process that applies.
    Env(String),
    /// `secretsmanager:ARN`: read from an existing AWS Secrets Manager secret.
    SecretsManager(String),
    /// `generate`: made at create time and kept only in AWS Secrets Manager.
    Generate,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env:{name}"),
            SecretSource::SecretsManager(arn) => write!(f, "secretsmanager:{arn}"),
            SecretSource::Generate => f.write_str("generate"),
        }
    }
}

impl FromStr for SecretSource {
    type Err = ();

    /// Parses the three accepted spellings; anything else (a plaintext
    /// password, most likely) is refused so that it never reaches a plan.
    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "generate" {
            return Ok(SecretSource::Generate);
        }
        if let Some(name) = s.strip_prefix("env:") {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if valid {
                Ok(SecretSource::Env(name.to_string()))
            } else {
                Err(())
            };
        }
        if let Some(arn) = s.strip_prefix("secretsmanager:") {
            return if arn.starts_with("arn:") && arn.contains(":secretsmanager:") {
                Ok(SecretSource::SecretsManager(arn.to_string()))
            } else {
                Err(())
            };
        }
        Err(())
    }
}

/// A value of a resource attribute, desired or observed.
///
/// Besides plain data it can be something only apply will know: a reference
/// to another resource's output, a string built from such references, or a
/// bare unknown. Sensitive values never serialize their content.
#[derive(Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// The output of another resource.
    Ref(OutputRef),
    /// A string made by joining the parts, any of which may be unknown.
    Concat(Vec<Value>),
    /// A map whose keys are themselves computed (the IRSA trust policy's
    /// condition keys embed the cluster's OIDC issuer).
    DynMap(Vec<(Value, Value)>),
    /// Known only after apply.
    Unknown,
    /// Shown as `(sensitive)`, hashed in state, never printed.
    Sensitive(Box<Value>),
    /// A secret read from its source at apply time.
    Secret(SecretSource),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(items.into_iter().collect())
    }

    pub fn reference(addr: &ResourceAddr, attr: &str) -> Value {
        Value::Ref(OutputRef::new(addr.clone(), attr))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// True when the value holds no reference, unknown or unresolved secret:
    /// it can be shown and compared as it is.
    pub fn is_known(&self) -> bool {
        match self {
            Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) | Value::Unknown => false,
            Value::Secret(_) => false,
            Value::Sensitive(inner) => inner.is_known(),
            Value::List(items) => items.iter().all(Value::is_known),
            Value::Map(m) => m.values().all(Value::is_known),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) => {
                true
            }
        }
    }

    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Sensitive(_) | Value::Secret(_))
    }

    /// Every output this value consumes, in a stable order.
    pub fn refs(&self) -> BTreeSet<OutputRef> {
        let mut out = BTreeSet::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs(&self, out: &mut BTreeSet<OutputRef>) {
        match self {
            Value::Ref(r) => {
                out.insert(r.clone());
            }
            Value::Concat(parts) | Value::List(parts) => {
                parts.iter().for_each(|p| p.collect_refs(out))
            }
            Value::Map(m) => m.values().for_each(|v| v.collect_refs(out)),
            Value::DynMap(entries) => entries.iter().for_each(|(k, v)| {
                k.collect_refs(out);
                v.collect_refs(out);
            }),
            Value::Sensitive(inner) => inner.collect_refs(out),
            _ => {}
        }
    }

    /// Substitutes references with what `lookup` knows. A reference it does
    /// not know becomes `Unknown`; a string or map built from an unknown
    /// part becomes `Unknown` as a whole, since no part of it can be shown.
    pub fn resolve(&self, lookup: &dyn Fn(&OutputRef) -> Option<Value>) -> Value {
        match self {
            Value::Ref(r) => lookup(r).unwrap_or(Value::Unknown),
            Value::Concat(parts) => {
                let mut s = String::new();
                for part in parts {
                    match part.resolve(lookup) {
                        Value::String(p) => s.push_str(&p),
                        Value::Int(i) => s.push_str(&i.to_string()),
                        Value::Sensitive(inner) => {
                            return Value::Sensitive(Box::new(
                                Value::Concat(vec![Value::String(s), *inner]).resolve(lookup),
                            ));
                        }
                        _ => return Value::Unknown,
                    }
                }
                Value::String(s)
            }
            Value::DynMap(entries) => {
                let mut m = BTreeMap::new();
                for (k, v) in entries {
                    match k.resolve(lookup) {
                        Value::String(key) => {
                            m.insert(key, v.resolve(lookup));
                        }
                        _ => return Value::Unknown,
                    }
                }
                Value::Map(m)
            }
            Value::List(items) => Value::List(items.iter().map(|v| v.resolve(lookup)).collect()),
            Value::Map(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.resolve(lookup)))
                    .collect(),
            ),
            // A sensitive reference to a sensitive output is sensitive once:
            // a second wrapper would hide the value from sealing and compare
            // every secret equal to every other.
            Value::Sensitive(inner) => match inner.resolve(lookup) {
                Value::Sensitive(x) => Value::Sensitive(x),
                other => Value::Sensitive(Box::new(other)),
            },
            other => other.clone(),
        }
    }

    /// Deep-merges `overlay` into `self` the way Helm merges values files:
    /// maps merge key by key, anything else in the overlay replaces.
    pub fn deep_merge(&mut self, overlay: Value) {
        match (self, overlay) {
            (Value::Map(base), Value::Map(over)) => {
                for (k, v) in over {
                    match base.get_mut(&k) {
                        Some(existing) => existing.deep_merge(v),
                        None => {
                            base.insert(k, v);
                        }
                    }
                }
            }
            (slot, other) => *slot = other,
        }
    }

    /// Looks up a dotted path (`externalS3.bucketName`) through nested maps.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self, |v, key| v.as_map()?.get(key))
    }

    /// Sets the value at a dotted path of maps, making the maps on the way
    /// (a non-map on the way is replaced by one).
    pub fn set_path(&mut self, path: &str, value: Value) {
        let mut slot = self;
        for key in path.split('.') {
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::Map(BTreeMap::new());
            }
            let Value::Map(m) = slot else {
                unreachable!("made a map above")
            };
            slot = m.entry(key.to_string()).or_insert(Value::Null);
        }
        *slot = value;
    }

    /// The JSON form used by plans and state. Literals map to JSON as they
    /// are; everything apply has yet to know becomes a one-key object whose
    /// key starts with `$`. A sensitive value writes only `{"$sensitive": true}`.
    pub fn to_json(&self) -> Json {
        let tagged = |tag: &str, v: Json| {
            let mut m = JsonMap::new();
            m.insert(tag.to_string(), v);
            Json::Object(m)
        };
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Value::String(s) => Json::String(s.clone()),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Ref(r) => tagged("$ref", Json::String(r.to_string())),
            Value::Concat(parts) => tagged(
                "$concat",
                Json::Array(parts.iter().map(Value::to_json).collect()),
            ),
            Value::DynMap(entries) => tagged(
                "$dynmap",
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| Json::Array(vec![k.to_json(), v.to_json()]))
                        .collect(),
                ),
            ),
            Value::Unknown => tagged("$unknown", Json::Bool(true)),
            Value::Sensitive(_) => tagged("$sensitive", Json::Bool(true)),
            Value::Secret(src) => tagged("$secret", Json::String(src.to_string())),
        }
    }

    /// The inverse of [`Value::to_json`]. A `$sensitive` marker comes back
    /// as a sensitive unknown: the content was never written.
    pub fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            Json::Object(m) => {
                if m.len() == 1 {
                    let (k, v) = m.iter().next().expect("one entry");
                    if let Some(value) = Self::from_tagged(k, v) {
                        return value;
                    }
                }
                Value::Map(
                    m.iter()
                        .map(|(k, v)| (k.clone(), Value::from_json(v)))
                        .collect(),
                )
            }
        }
    }

    fn from_tagged(tag: &str, v: &Json) -> Option<Value> {
        Some(match (tag, v) {
            ("$ref", Json::String(s)) => Value::Ref(s.parse().ok()?),
            ("$concat", Json::Array(parts)) => {
                Value::Concat(parts.iter().map(Value::from_json).collect())
            }
            ("$dynmap", Json::Array(entries)) => Value::DynMap(
                entries
                    .iter()
                    .map(|e| match e {
                        Json::Array(kv) if kv.len() == 2 => {
                            Some((Value::from_json(&kv[0]), Value::from_json(&kv[1])))
                        }
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            ("$unknown", Json::Bool(true)) => Value::Unknown,
            ("$sensitive", _) => Value::Sensitive(Box::new(Value::Unknown)),
            ("$secret", Json::String(s)) => Value::Secret(s.parse().ok()?),
            _ => return None,
        })
    }
}

/// Debug output never shows a sensitive value's content: a `{:?}` in a
/// log line or a panic message must not print a password.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => f.debug_tuple("Bool").field(b).finish(),
            Value::Int(i) => f.debug_tuple("Int").field(i).finish(),
            Value::Float(x) => f.debug_tuple("Float").field(x).finish(),
            Value::String(s) => f.debug_tuple("String").field(s).finish(),
            Value::List(items) => f.debug_tuple("List").field(items).finish(),
            Value::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Value::Ref(r) => f.debug_tuple("Ref").field(&format_args!("{r}")).finish(),
            Value::Concat(parts) => f.debug_tuple("Concat").field(parts).finish(),
            Value::DynMap(entries) => f.debug_tuple("DynMap").field(entries).finish(),
            Value::Unknown => f.write_str("Unknown"),
            Value::Sensitive(inner) => match crate::sealed_digest(self) {
                Some(d) => f.debug_tuple("Sealed").field(&d).finish(),
                None if **inner == Value::Unknown => f.write_str("Sensitive(Unknown)"),
                None => f.write_str("Sensitive(..)"),
            },
            Value::Secret(src) => f
                .debug_tuple("Secret")
                .field(&format_args!("{src}"))
                .finish(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Value::from_json(&Json::deserialize(d)?))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResourceKind;

    fn cluster() -> ResourceAddr {
        ResourceAddr::new(ResourceKind::EksCluster, "main")
    }

    #[test]
    fn unresolved_reference_inside_a_string_makes_the_whole_string_unknown() {
        let v = Value::Concat(vec![
            Value::reference(&cluster(), "oidc_issuer_host"),
            ":sub".into(),
        ]);
        assert_eq!(v.resolve(&|_| None), Value::Unknown);
        let known = v.resolve(&|_| Some("oidc.eks/id/ABC".into()));
        assert_eq!(known, Value::string("oidc.eks/id/ABC:sub"));
    }

    #[test]
    fn computed_map_keys_resolve_into_a_plain_map() {
        let v = Value::DynMap(vec![(
            Value::Concat(vec![Value::reference(&cluster(), "issuer"), ":aud".into()]),
            "sts.amazonaws.com".into(),
        )]);
        let resolved = v.resolve(&|_| Some("oidc.example".into()));
        assert_eq!(
            resolved,
            Value::map([("oidc.example:aud", Value::string("sts.amazonaws.com"))])
        );
        assert_eq!(v.refs().len(), 1);
    }

    #[test]
    fn a_sensitive_reference_to_a_sensitive_output_is_wrapped_once() {
        let v = Value::Sensitive(Box::new(Value::reference(&cluster(), "password")));
        let resolved = v.resolve(&|_| Some(Value::Sensitive(Box::new("pw".into()))));
        assert_eq!(resolved, Value::Sensitive(Box::new("pw".into())));
    }

    #[test]
    fn debug_output_never_shows_sensitive_content() {
        let v = Value::map([("password", Value::Sensitive(Box::new("hunter2".into())))]);
        let shown = format!("{v:?} {v:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Sensitive(..)"), "{shown}");
    }

    #[test]
    fn sensitive_content_never_reaches_json() {
        let v = Value::map([("password", Value::Sensitive(Box::new("hunter2".into())))]);
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(json, r#"{"password":{"$sensitive":true}}"#);
    }

    #[test]
    fn json_form_round_trips_every_unknown_kind() {
        let v = Value::map([
            ("a", Value::reference(&cluster(), "endpoint")),
            ("b", Value::Concat(vec!["x".into(), Value::Unknown])),
            ("c", Value::Secret(SecretSource::Env("PW".into()))),
            (
                "d",
                Value::list([Value::Int(3), Value::Bool(true), Value::Null]),
            ),
            ("e", Value::DynMap(vec![("k".into(), "v".into())])),
        ]);
        assert_eq!(Value::from_json(&v.to_json()), v);
    }

    #[test]
    fn deep_merge_replaces_leaves_and_merges_maps() {
        let mut base = Value::map([
            ("proxy", Value::map([("replicas", Value::Int(2))])),
            ("image", Value::string("a")),
        ]);
        base.deep_merge(Value::map([
            ("proxy", Value::map([("cpu", Value::string("1"))])),
            ("image", Value::string("b")),
        ]));
        assert_eq!(base.get_path("proxy.replicas"), Some(&Value::Int(2)));
        assert_eq!(base.get_path("proxy.cpu"), Some(&Value::string("1")));
        assert_eq!(base.get_path("image"), Some(&Value::string("b")));
    }

    #[test]
    fn secret_sources_accept_only_the_three_spellings() {
        assert_eq!(
            "env:MSK_PW".parse::<SecretSource>(),
            Ok(SecretSource::Env("MSK_PW".into()))
        );
        assert_eq!(
            "generate".parse::<SecretSource>(),
            Ok(SecretSource::Generate)
        );
        assert!(
            "secretsmanager:arn:aws:secretsmanager:us-west-2:1:secret:x"
                .parse::<SecretSource>()
                .is_ok()
        );
        for bad in [
            "hunter2",
            "env:",
            "env:1X",
            "secretsmanager:nope",
            "env:A-B",
        ] {
            assert!(bad.parse::<SecretSource>().is_err(), "{bad}");
        }
    }
}
