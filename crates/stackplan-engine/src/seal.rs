//! Sealing: sensitive values reduced to salted SHA-256 digests, so state
//! and plan fingerprints can tell a changed secret from an unchanged one
//! without holding it.
//!
//! The salt is derived from the stack and written next to the digest
//! (`sha256:<salt>:<digest>`): digests of one stack do not match another
//! stack's, and sealing the same value twice gives the same bytes, which
//! keeps plans identical across runs. It is one salt for the whole stack,
//! not one per attribute, because a secret flows: the SCRAM password sealed
//! as the secret's output must compare equal to the same password sealed
//! inside the Milvus release's values, or every plan would show a change.

use sha2::{Digest, Sha256};
use stackplan_core::{Attrs, Value, sealed, sealed_digest};

/// The salt of a stack, hex.
pub fn salt_for(stack: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"stackplan-seal\0");
    h.update(stack.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn digest(salt: &str, value: &Value) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(value.to_json().to_string().as_bytes());
    format!("sha256:{salt}:{}", hex::encode(h.finalize()))
}

/// Seals every sensitive value with known content inside `value`; sealed
/// values, secret sources and unknowns stay as they are.
pub fn seal_value(stack: &str, value: &Value) -> Value {
    match value {
        Value::Sensitive(inner) if sealed_digest(value).is_none() && inner.is_known() => {
            sealed(digest(&salt_for(stack), inner))
        }
        Value::List(items) => Value::List(items.iter().map(|v| seal_value(stack, v)).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), seal_value(stack, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Seals every attribute of a resource: what apply hands to state, and what
/// refresh does to live values before anything else sees them.
pub fn seal_attrs(stack: &str, attrs: &Attrs) -> Attrs {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), seal_value(stack, v)))
        .collect()
}

/// Equality where one side may be sealed: a known sensitive value equals a
/// sealed one when it seals to the same digest under that digest's salt.
/// Returns `None` when the two cannot be compared (a secret source against
/// a digest): the caller decides from other evidence.
pub fn sensitive_eq(a: &Value, b: &Value) -> Option<bool> {
    match (sealed_digest(a), sealed_digest(b)) {
        (Some(x), Some(y)) => Some(x == y),
        (Some(d), None) => against_digest(d, b),
        (None, Some(d)) => against_digest(d, a),
        (None, None) => match (a, b) {
            // Content that was never written (`{"$sensitive": true}`)
            // cannot be compared with anything.
            (Value::Sensitive(x), _) | (_, Value::Sensitive(x)) if **x == Value::Unknown => None,
            (Value::Sensitive(x), Value::Sensitive(y)) => Some(x == y),
            (Value::Sensitive(x), y) | (y, Value::Sensitive(x)) if y.is_known() => {
                Some(x.as_ref() == y)
            }
            (Value::Secret(x), Value::Secret(y)) => Some(x == y),
            (Value::Secret(_), _) | (_, Value::Secret(_)) => None,
            _ => Some(a == b),
        },
    }
}

fn against_digest(d: &str, other: &Value) -> Option<bool> {
    let salt = d.split(':').nth(1)?;
    let content = match other {
        Value::Sensitive(inner) if inner.is_known() => inner.as_ref(),
        v if v.is_known() && !v.is_sensitive() => v,
        _ => return None,
    };
    Some(digest(salt, content) == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_hides_the_content_and_is_repeatable() {
        let v = Value::Sensitive(Box::new("hunter2".into()));
        let a = seal_value("demo", &v);
        let b = seal_value("demo", &v);
        assert_eq!(a, b);
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(sensitive_eq(&a, &v), Some(true));
        let other = Value::Sensitive(Box::new("hunter3".into()));
        assert_eq!(sensitive_eq(&a, &other), Some(false));
    }

    #[test]
    fn a_secret_seals_alike_wherever_it_flows_in_one_stack() {
        // Sealed as the secret's output and inside the release's values.
        let v = Value::Sensitive(Box::new("hunter2".into()));
        let as_output = seal_attrs("demo", &[("password".to_string(), v.clone())].into());
        let in_values = seal_value(
            "demo",
            &Value::map([("sasl", Value::map([("password", v)]))]),
        );
        assert_eq!(
            Some(&as_output["password"]),
            in_values.get_path("sasl.password")
        );
    }

    #[test]
    fn the_same_secret_seals_differently_in_another_stack() {
        let v = Value::Sensitive(Box::new("hunter2".into()));
        assert_ne!(seal_value("demo", &v), seal_value("prod", &v));
    }
}
