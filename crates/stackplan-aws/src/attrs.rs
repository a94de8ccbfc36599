//! Reading desired attributes and building observed ones.
//!
//! Desired attributes arrive as core `Value`s in the shapes the expansion
//! writes (`crates/stackplan-stack/src/expand.rs`); these helpers say which
//! attribute was missing or misshapen instead of panicking, and turn API
//! answers back into exactly those shapes.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use stackplan_core::{Attrs, KindSchema, ResourceAddr, ResourceKind, Value};

use crate::error::{AwsError, AwsResult};

/// Tags to set, and tag keys to remove.
pub(crate) type TagDelta = (BTreeMap<String, String>, Vec<String>);

/// The desired attributes of one resource, with its address for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Desired<'a> {
    pub addr: &'a ResourceAddr,
    pub attrs: &'a Attrs,
}

impl<'a> Desired<'a> {
    pub fn new(addr: &'a ResourceAddr, attrs: &'a Attrs) -> Self {
        Desired { addr, attrs }
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        match self.attrs.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong(&self, name: &str, expected: &str) -> AwsError {
        let problem = match self.get(name) {
            None => format!("missing (expected {expected})"),
            Some(v) if !v.is_known() => format!("not known yet (expected {expected})"),
            Some(_) => format!("expected {expected}"),
        };
        AwsError::attribute(self.addr, name, problem)
    }

    pub fn str(&self, name: &str) -> AwsResult<&'a str> {
        self.opt_str(name)?
            .ok_or_else(|| self.wrong(name, "a string"))
    }

    pub fn opt_str(&self, name: &str) -> AwsResult<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(name, "a string")),
        }
    }

    pub fn int(&self, name: &str) -> AwsResult<i64> {
        self.opt_int(name)?
            .ok_or_else(|| self.wrong(name, "an integer"))
    }

    pub fn opt_int(&self, name: &str) -> AwsResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| self.wrong(name, "an integer")),
        }
    }

    pub fn opt_bool(&self, name: &str) -> AwsResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(name, "a boolean")),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> AwsResult<bool> {
        Ok(self.opt_bool(name)?.unwrap_or(default))
    }

    pub fn str_list(&self, name: &str) -> AwsResult<Vec<String>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::List(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.wrong(name, "a list of strings")),
            Some(_) => Err(self.wrong(name, "a list of strings")),
        }
    }

    /// A map of strings (tags, labels, server properties); numbers and
    /// booleans are taken in their string form.
    /// The tag changes that make `live`'s tags the stack's: `None` when the
    /// stack sets none or they match after normalisation, else the tags to
    /// set and the keys to remove (never AWS's own `aws:` ones).
    pub fn tag_delta(&self, live: &Attrs) -> AwsResult<Option<TagDelta>> {
        if !differs(self.addr.kind, live, self.attrs, "tags") {
            return Ok(None);
        }
        let want = self.str_map("tags")?;
        Ok(Some(map_delta(&observed_str_map(live, "tags"), &want)))
    }

    pub fn str_map(&self, name: &str) -> AwsResult<BTreeMap<String, String>> {
        match self.get(name) {
            None => Ok(BTreeMap::new()),
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s)))
                .collect::<Option<BTreeMap<_, _>>>()
                .ok_or_else(|| self.wrong(name, "a map of strings")),
            Some(_) => Err(self.wrong(name, "a map of strings")),
        }
    }

    /// A nested map attribute (`scaling`, `configuration`), as a `Desired`
    /// whose errors still name the outer attribute.
    pub fn map(&self, name: &str) -> AwsResult<&'a Attrs> {
        match self.get(name) {
            Some(Value::Map(m)) => Ok(m),
            _ => Err(self.wrong(name, "a map")),
        }
    }

    pub fn opt_map(&self, name: &str) -> AwsResult<Option<&'a Attrs>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Map(m)) => Ok(Some(m)),
            Some(_) => Err(self.wrong(name, "a map")),
        }
    }

    /// A JSON document held as data (a policy) or as a JSON string.
    pub fn document(&self, name: &str) -> AwsResult<String> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) if v.is_known() => Ok(value_to_json(v).to_string()),
            _ => Err(self.wrong(name, "a JSON document")),
        }
    }
}

pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// A value as literal JSON: for documents sent to the API, where a `$`
/// key is an ordinary key and not one of the plan's markers.
pub(crate) fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        other => other.to_json(),
    }
}

/// JSON from an API as literal data (the inverse of [`value_to_json`]).
pub(crate) fn json_to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}

/// A policy document as IAM returns it (URL-encoded JSON, or plain JSON)
/// as data, the shape the expansion writes; text that is not JSON stays a
/// string so the diff shows it rather than hiding it.
pub(crate) fn policy_document(text: &str) -> Value {
    let decoded = if text.trim_start().starts_with('%') {
        percent_decode(text).unwrap_or_else(|| text.to_string())
    } else {
        text.to_string()
    };
    match serde_json::from_str::<Json>(&decoded) {
        Ok(json) => json_to_value(&json),
        Err(_) => Value::String(decoded),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A list of strings as a value.
pub(crate) fn str_list_value<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::List(
        items
            .into_iter()
            .map(|s| Value::string(s.as_ref()))
            .collect(),
    )
}

/// A map of strings as a value (tags, labels).
pub(crate) fn str_map_value<K: AsRef<str>, V: AsRef<str>>(
    items: impl IntoIterator<Item = (K, V)>,
) -> Value {
    Value::Map(
        items
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), Value::string(v.as_ref())))
            .collect(),
    )
}

/// Tags as the stack writes them, without the keys AWS sets itself.
pub(crate) fn tags_value<K: AsRef<str>, V: AsRef<str>>(
    items: impl IntoIterator<Item = (K, V)>,
) -> Value {
    str_map_value(
        items
            .into_iter()
            .filter(|(k, _)| !k.as_ref().starts_with("aws:")),
    )
}

/// What to add or change and what to remove, to go from `live` to `want`.
pub(crate) fn map_delta(
    live: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = want
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = live
        .keys()
        .filter(|k| !want.contains_key(*k) && !k.starts_with("aws:"))
        .cloned()
        .collect();
    (set, remove)
}

/// True when the stack sets `name` and its live value differs after the
/// kind's normalisation. Updates compare against a fresh read rather than
/// the plan's diffs, so an update is right even when the world moved
/// between plan and apply.
pub(crate) fn differs(kind: ResourceKind, live: &Attrs, desired: &Attrs, name: &str) -> bool {
    match desired.get(name) {
        None | Some(Value::Null) => false,
        Some(want) => {
            let schema = KindSchema::for_kind(kind);
            schema.effective(name, Some(want)) != schema.effective(name, live.get(name))
        }
    }
}

/// Live tags from an observed attribute map (what the last read saw).
pub(crate) fn observed_str_map(attrs: &Attrs, name: &str) -> BTreeMap<String, String> {
    match attrs.get(name) {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use stackplan_core::ResourceKind;

    use super::*;

    #[test]
    fn url_encoded_trust_policy_reads_back_as_data() {
        let v = policy_document("%7B%22Version%22%3A%222012-10-17%22%7D");
        assert_eq!(v, Value::map([("Version", Value::string("2012-10-17"))]));
    }

    #[test]
    fn documents_keep_dollar_keys_literal() {
        let v = Value::map([("$ref", Value::string("x"))]);
        assert_eq!(value_to_json(&v).to_string(), r#"{"$ref":"x"}"#);
        assert_eq!(json_to_value(&value_to_json(&v)), v);
    }

    #[test]
    fn map_delta_sets_changed_keys_and_removes_missing_ones_but_not_aws_owned() {
        let live: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("aws:x", "y")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let want: BTreeMap<String, String> = [("a", "1"), ("b", "3"), ("c", "4")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let (set, remove) = map_delta(&live, &want);
        assert_eq!(set.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert!(remove.is_empty());
        let (_, remove) = map_delta(&want, &live);
        assert_eq!(remove, ["c"]);
    }

    #[test]
    fn missing_attribute_error_names_the_resource_and_the_attribute() {
        let addr = ResourceAddr::new(ResourceKind::S3Bucket, "milvus");
        let attrs = Attrs::new();
        let err = Desired::new(&addr, &attrs).str("bucket").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s3_bucket.milvus: attribute `bucket`: missing (expected a string)"
        );
    }
}
