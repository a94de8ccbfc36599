//! Rotation: what each secret source of the stack gives now, sealed with
//! the run's key, so a plan sees a password that changed behind an
//! unchanged `env:NAME` or `secretsmanager:ARN`.
//!
//! The stack names sources, state keeps sources, and neither can show that
//! the value behind one changed. The values read here never leave memory:
//! they are sealed at once and compared with what refresh sealed live.

use std::collections::{BTreeMap, BTreeSet};

use stackplan_core::{Attrs, ProviderRegistry, Resource, SecretSource, Value};

use crate::seal::seal_value;

/// Each source's current value, sealed; sources that cannot be known
/// before apply (`generate`) or cannot be read here are absent.
#[derive(Debug, Default)]
pub(crate) struct CurrentSecrets {
    values: BTreeMap<SecretSource, Value>,
    /// Why a source could not be read, for the plan's warnings.
    pub unreadable: Vec<String>,
}

impl CurrentSecrets {
    /// Reads every source the resources name.
    pub async fn read(registry: &ProviderRegistry, resources: &[Resource]) -> CurrentSecrets {
        let mut found = BTreeSet::new();
        for r in resources {
            for v in r.attrs.values() {
                collect(v, &mut found);
            }
        }
        let mut out = CurrentSecrets::default();
        let Some(sources) = registry.secret_sources() else {
            return out;
        };
        let reads = found.iter().map(|s| sources.current(s));
        for (source, result) in found.iter().zip(futures::future::join_all(reads).await) {
            match result {
                Ok(Some(v)) => {
                    let sealed = seal_value(&Value::Sensitive(Box::new(Value::String(v))));
                    out.values.insert(source.clone(), sealed);
                }
                Ok(None) => {}
                Err(why) => out.unreadable.push(format!(
                    "`{source}` cannot be read here ({why}): this plan cannot tell whether the password behind it changed"
                )),
            }
        }
        out
    }

    /// `value` with every source this run could read replaced by what it
    /// gives now (sealed): the form compared with what is live.
    pub fn substitute(&self, value: &Value) -> Value {
        if let Some(s) = source_of(value) {
            return self.values.get(s).cloned().unwrap_or_else(|| value.clone());
        }
        match value {
            Value::List(items) => Value::List(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Map(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn substitute_attrs(&self, attrs: &Attrs) -> Attrs {
        attrs
            .iter()
            .map(|(k, v)| (k.clone(), self.substitute(v)))
            .collect()
    }

    /// What the source gives now, sealed, when this run could read it.
    pub fn get(&self, source: &SecretSource) -> Option<&Value> {
        self.values.get(source)
    }
}

/// The source `value` names, directly or wrapped as sensitive.
pub(crate) fn source_of(value: &Value) -> Option<&SecretSource> {
    match value {
        Value::Secret(s) => Some(s),
        Value::Sensitive(inner) => match inner.as_ref() {
            Value::Secret(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn collect(value: &Value, out: &mut BTreeSet<SecretSource>) {
    if let Some(s) = source_of(value) {
        out.insert(s.clone());
        return;
    }
    match value {
        Value::List(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Map(m) => m.values().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// The sources at or under `path` of `attrs` (`values.externalKafka.sasl`).
pub(crate) fn sources_at(attrs: &Attrs, path: &str) -> BTreeSet<SecretSource> {
    let mut parts = path.splitn(2, '.');
    let mut found = BTreeSet::new();
    let Some(top) = parts.next().and_then(|a| attrs.get(a)) else {
        return found;
    };
    let at = match parts.next() {
        Some(rest) => top.get_path(rest),
        None => Some(top),
    };
    if let Some(v) = at {
        collect(v, &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_replaced_by_its_sealed_value_wherever_it_sits() {
        let mut current = CurrentSecrets::default();
        let src = SecretSource::Env("PW".into());
        let sealed = seal_value(&Value::Sensitive(Box::new("hunter2".into())));
        current.values.insert(src.clone(), sealed.clone());
        let v = Value::map([(
            "sasl",
            Value::map([("password", Value::Sensitive(Box::new(Value::Secret(src))))]),
        )]);
        let out = current.substitute(&v);
        assert_eq!(out.get_path("sasl.password"), Some(&sealed));
        assert!(!format!("{out:?}").contains("hunter2"));
    }

    #[test]
    fn a_source_not_read_stays_a_source() {
        let current = CurrentSecrets::default();
        let v = Value::Secret(SecretSource::Generate);
        assert_eq!(current.substitute(&v), v);
    }

    #[test]
    fn sources_are_found_under_a_field_path() {
        let attrs: Attrs = [(
            "values".to_string(),
            Value::map([(
                "kafka",
                Value::map([("password", Value::Secret(SecretSource::Env("PW".into())))]),
            )]),
        )]
        .into();
        assert_eq!(
            sources_at(&attrs, "values.kafka"),
            [SecretSource::Env("PW".into())].into()
        );
        assert!(sources_at(&attrs, "values.other").is_empty());
    }
}
