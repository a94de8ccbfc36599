//! Attribute values to and from what the APIs speak (JSON), and the rule
//! that keeps secrets out of anything shown: a live value sits under
//! [`Value::Sensitive`] wherever the stack or the last apply had a secret,
//! or where its key names one.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use stackplan_core::{Attrs, SecretSource, Value};

use crate::KubeError;

/// JSON as literal data: unlike [`Value::from_json`], a key starting with
/// `$` is an ordinary key here (Helm values are not a plan).
pub fn json_to_value(json: &Json) -> Value {
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

/// A fully known value as JSON for an API or a values file, with secrets
/// in plaintext: the caller writes it only where a secret may go, and
/// collects the plaintexts in `secrets` to scrub them from error output.
pub fn value_to_json(path: &str, v: &Value, secrets: &mut Vec<String>) -> Result<Json, KubeError> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| value_to_json(&format!("{path}[{i}]"), item, secrets))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, item)| {
                    Ok((
                        k.clone(),
                        value_to_json(&format!("{path}.{k}"), item, secrets)?,
                    ))
                })
                .collect::<Result<_, KubeError>>()?,
        ),
        Value::Sensitive(inner) => {
            let json = value_to_json(path, inner, secrets)?;
            collect_plaintexts(&json, secrets);
            json
        }
        Value::Secret(SecretSource::Env(name)) => {
            // The engine resolves secret sources it knows; an `env:` one
            // that reaches a provider is read here, at the last moment.
            let plain = std::env::var(name).map_err(|_| {
                KubeError::attr(
                    path,
                    format!("the environment variable `{name}` is not set"),
                )
            })?;
            secrets.push(plain.clone());
            Json::String(plain)
        }
        Value::Secret(other) => {
            return Err(KubeError::attr(
                path,
                format!("the secret `{other}` was not resolved before apply"),
            ));
        }
        Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) | Value::Unknown => {
            return Err(KubeError::attr(
                path,
                "a value only apply can know was not resolved",
            ));
        }
    })
}

fn collect_plaintexts(json: &Json, out: &mut Vec<String>) {
    match json {
        Json::String(s) => out.push(s.clone()),
        Json::Number(n) => out.push(n.to_string()),
        Json::Array(items) => items.iter().for_each(|i| collect_plaintexts(i, out)),
        Json::Object(m) => m.values().for_each(|i| collect_plaintexts(i, out)),
        _ => {}
    }
}

/// Keys whose values are secrets whatever the stack says: a value the
/// stack did not mark (set by hand, or left from an older stack) must not
/// be shown either.
fn names_a_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || matches!(
            k.as_str(),
            "token" | "secretkey" | "secretaccesskey" | "accesskey" | "apikey"
        )
}

/// Wraps every part of `live` that is secret in [`Value::Sensitive`]:
/// where any of `templates` (the desired value, the last applied one) is
/// sensitive or a secret source, or where the key names a secret.
pub fn mask(live: Value, templates: &[&Value]) -> Value {
    if templates
        .iter()
        .any(|t| t.is_sensitive() || matches!(t, Value::Secret(_)))
    {
        return sensitive(live);
    }
    match live {
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| {
                    let inner: Vec<&Value> = templates
                        .iter()
                        .filter_map(|t| t.as_map().and_then(|tm| tm.get(&k)))
                        .collect();
                    let v = if names_a_secret(&k) && !matches!(v, Value::Map(_) | Value::Null) {
                        sensitive(v)
                    } else {
                        mask(v, &inner)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let inner: Vec<&Value> = templates
                        .iter()
                        .filter_map(|t| match t {
                            Value::List(l) => l.get(i),
                            _ => None,
                        })
                        .collect();
                    mask(v, &inner)
                })
                .collect(),
        ),
        other => other,
    }
}

fn sensitive(v: Value) -> Value {
    match v {
        already @ Value::Sensitive(_) => already,
        other => Value::Sensitive(Box::new(other)),
    }
}

/// A string attribute, required.
pub fn req_str<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, KubeError> {
    opt_str(attrs, name)?.ok_or_else(|| KubeError::attr(name, "is required"))
}

/// A string attribute; `Ok(None)` when absent or null, an error when it is
/// not known yet or not a string.
pub fn opt_str<'a>(attrs: &'a Attrs, name: &str) -> Result<Option<&'a str>, KubeError> {
    match attrs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) if !v.is_known() => Err(KubeError::attr(name, "is not known yet")),
        Some(_) => Err(KubeError::attr(name, "must be a string")),
    }
}

/// A string attribute when it is known; `None` when absent or unknown
/// (a read with an unresolved identity finds nothing).
pub fn known_str<'a>(attrs: Option<&'a Attrs>, name: &str) -> Option<&'a str> {
    match attrs?.get(name)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A map of strings (labels, annotations, parameters): scalars become
/// their string form, as the API stores them.
pub fn string_map(attrs: &Attrs, name: &str) -> Result<BTreeMap<String, String>, KubeError> {
    let m = match attrs.get(name) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Map(m)) => m,
        Some(v) if !v.is_known() => return Err(KubeError::attr(name, "is not known yet")),
        Some(_) => return Err(KubeError::attr(name, "must be a map of strings")),
    };
    m.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Sensitive(inner) => match inner.as_ref() {
                    Value::String(s) => s.clone(),
                    _ => return Err(KubeError::attr(&format!("{name}.{k}"), "must be a string")),
                },
                other if !other.is_known() => {
                    return Err(KubeError::attr(&format!("{name}.{k}"), "is not known yet"));
                }
                _ => return Err(KubeError::attr(&format!("{name}.{k}"), "must be a string")),
            };
            Ok((k.clone(), s))
        })
        .collect()
}

/// The keys of a map attribute, if it is a map.
pub fn map_keys(attrs: Option<&Attrs>, name: &str) -> Vec<String> {
    match attrs.and_then(|a| a.get(name)) {
        Some(Value::Map(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_secret_is_masked_where_the_stack_has_one() {
        let desired = Value::map([(
            "sasl",
            Value::map([
                ("password", Value::Sensitive(Box::new(Value::Unknown))),
                ("username", Value::string("milvus")),
            ]),
        )]);
        let live = Value::map([(
            "sasl",
            Value::map([
                ("password", Value::string("hunter2")),
                ("username", Value::string("milvus")),
            ]),
        )]);
        let masked = mask(live, &[&desired]);
        assert_eq!(
            masked.get_path("sasl.password"),
            Some(&Value::Sensitive(Box::new(Value::string("hunter2"))))
        );
        assert_eq!(
            masked.get_path("sasl.username"),
            Some(&Value::string("milvus"))
        );
        assert!(!masked.to_json().to_string().contains("hunter2"));
    }

    #[test]
    fn a_key_that_names_a_password_is_masked_without_a_template() {
        let live = Value::map([("rootPassword", Value::string("p"))]);
        assert!(
            mask(live, &[])
                .get_path("rootPassword")
                .unwrap()
                .is_sensitive()
        );
    }

    #[test]
    fn sensitive_plaintexts_are_collected_for_scrubbing() {
        let v = Value::map([("pw", Value::Sensitive(Box::new(Value::string("s3cret"))))]);
        let mut secrets = Vec::new();
        let json = value_to_json("values", &v, &mut secrets).unwrap();
        assert_eq!(json, serde_json::json!({"pw": "s3cret"}));
        assert_eq!(secrets, ["s3cret"]);
    }

    #[test]
    fn unresolved_values_are_refused_with_their_path() {
        let v = Value::map([("a", Value::map([("b", Value::Unknown)]))]);
        let err = value_to_json("values", &v, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("values.a.b"), "{err}");
    }

    #[test]
    fn dollar_keys_in_helm_values_stay_literal() {
        let v = json_to_value(&serde_json::json!({"$ref": "x"}));
        assert_eq!(v, Value::map([("$ref", Value::string("x"))]));
    }
}
