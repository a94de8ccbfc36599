//! Generated values (the Milvus Helm values) as YAML for people to read:
//! what apply has yet to learn is a visible placeholder, and a sensitive
//! value is never written.

use serde_json::Value as Json;
use stackplan_core::Value;

use crate::RenderError;

pub const SENSITIVE: &str = "(sensitive)";

/// The placeholder shown for a value only apply will know.
pub fn placeholder(v: &Value) -> String {
    match v {
        Value::Ref(r) => format!("(known after apply: {r})"),
        _ => "(known after apply)".to_string(),
    }
}

/// Converts a value to JSON for display: unknowns become placeholders,
/// sensitive values `(sensitive)`.
pub fn display_json(v: &Value) -> Json {
    match v {
        Value::Sensitive(_) | Value::Secret(_) => Json::String(SENSITIVE.into()),
        Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) | Value::Unknown => {
            Json::String(placeholder(v))
        }
        Value::List(items) => Json::Array(items.iter().map(display_json).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), display_json(v)))
                .collect(),
        ),
        literal => literal.to_json(),
    }
}

/// YAML with keys in sorted order, so the same values give the same bytes.
pub fn yaml(v: &Value) -> Result<String, RenderError> {
    Ok(serde_norway::to_string(&display_json(v))?)
}

#[cfg(test)]
mod tests {
    use stackplan_core::{ResourceAddr, ResourceKind, SecretSource};

    use super::*;

    #[test]
    fn placeholders_and_masks_replace_what_is_not_shown() {
        let msk = ResourceAddr::new(ResourceKind::MskCluster, "milvus");
        let v = Value::map([
            (
                "brokerList",
                Value::reference(&msk, "bootstrap_brokers_sasl_scram"),
            ),
            ("password", Value::Secret(SecretSource::Env("PW".into()))),
            ("port", Value::Int(19530)),
        ]);
        insta::assert_snapshot!(yaml(&v).unwrap(), @r"
        brokerList: '(known after apply: msk_cluster.milvus.bootstrap_brokers_sasl_scram)'
        password: (sensitive)
        port: 19530
        ");
    }
}
