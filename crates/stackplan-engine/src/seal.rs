//! Sealing: sensitive values reduced to digests in memory, so one run can
//! tell a changed secret from an unchanged one (the SCRAM password the
//! secret holds against the one inside the Milvus release's values)
//! without keeping the secret itself in a plan or a diff.
//!
//! The digest is an HMAC-SHA256 under a key drawn from the operating
//! system's random source once per process and never written anywhere.
//! A digest is therefore useless outside the run that made it: it cannot
//! be checked offline against a guessed password, and state and plan files
//! never hold one (the state encoder writes `{"$sensitive": true}`). The
//! same password in two deployments, or two runs, seals differently.
//!
//! It is one key for the whole process, not one per attribute, because a
//! secret flows: the password sealed as the secret's output must compare
//! equal to the same password sealed inside the release's values, or every
//! plan would show a change.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use stackplan_core::{Attrs, Value, sealed, sealed_digest};

/// The scheme prefix of this build's digests; anything else (format 1's
/// salted SHA-256) is not comparable.
const SCHEME: &str = "hmac-sha256:";

/// SHA-256's block size, for HMAC's key padding (RFC 2104).
const BLOCK: usize = 64;

fn run_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source is available");
        key
    })
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (at most one block).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut padded = [0u8; BLOCK];
    padded[..key.len()].copy_from_slice(key);
    let inner_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn digest(value: &Value) -> String {
    let mac = hmac_sha256(run_key(), value.to_json().to_string().as_bytes());
    format!("{SCHEME}{}", hex::encode(mac))
}

/// Seals every sensitive value with known content inside `value`; sealed
/// values, secret sources and unknowns stay as they are.
pub fn seal_value(value: &Value) -> Value {
    match value {
        Value::Sensitive(inner) if sealed_digest(value).is_none() && inner.is_known() => {
            sealed(digest(inner))
        }
        Value::List(items) => Value::List(items.iter().map(seal_value).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), seal_value(v))).collect()),
        other => other.clone(),
    }
}

/// Seals every attribute of a resource: what refresh does to live values
/// before anything else sees them.
pub fn seal_attrs(attrs: &Attrs) -> Attrs {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), seal_value(v)))
        .collect()
}

/// Equality where one side may be sealed: a known sensitive value equals a
/// sealed one when it seals to the same digest. Returns `None` when the two
/// cannot be compared (a secret source against a digest, content that was
/// never written): the caller decides from other evidence.
pub fn sensitive_eq(a: &Value, b: &Value) -> Option<bool> {
    match (sealed_digest(a), sealed_digest(b)) {
        (Some(x), Some(y)) if x.starts_with(SCHEME) && y.starts_with(SCHEME) => Some(x == y),
        (Some(_), Some(_)) => None,
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
    if !d.starts_with(SCHEME) {
        return None;
    }
    let content = match other {
        Value::Sensitive(inner) if inner.is_known() => inner.as_ref(),
        v if v.is_known() && !v.is_sensitive() => v,
        _ => return None,
    };
    Some(digest(content) == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_hides_the_content_and_is_repeatable_within_a_run() {
        let v = Value::Sensitive(Box::new("hunter2".into()));
        let a = seal_value(&v);
        let b = seal_value(&v);
        assert_eq!(a, b);
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(sensitive_eq(&a, &v), Some(true));
        let other = Value::Sensitive(Box::new("hunter3".into()));
        assert_eq!(sensitive_eq(&a, &other), Some(false));
    }

    #[test]
    fn a_secret_seals_alike_wherever_it_flows_in_one_run() {
        // Sealed as the secret's output and inside the release's values.
        let v = Value::Sensitive(Box::new("hunter2".into()));
        let as_output = seal_attrs(&[("password".to_string(), v.clone())].into());
        let in_values = seal_value(&Value::map([("sasl", Value::map([("password", v)]))]));
        assert_eq!(
            Some(&as_output["password"]),
            in_values.get_path("sasl.password")
        );
    }

    #[test]
    fn a_digest_cannot_be_recomputed_from_the_password_without_the_run_key() {
        // What someone holding a digest could compute offline from a
        // guess: a plain SHA-256, or an HMAC under any fixed key. Neither
        // matches; the run key never leaves the process.
        let v = Value::Sensitive(Box::new("hunter2".into()));
        let d = sealed_digest(&seal_value(&v)).unwrap().to_string();
        let json = Value::from("hunter2").to_json().to_string();
        assert!(!d.contains(&hex::encode(Sha256::digest(json.as_bytes()))));
        assert!(!d.contains(&hex::encode(hmac_sha256(&[0u8; 32], json.as_bytes()))));
        assert!(!d.contains(&hex::encode(hmac_sha256(b"demo", json.as_bytes()))));
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // RFC 4231, section 4.3: key "Jefe".
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_format_1_digest_compares_with_nothing() {
        let legacy = sealed("sha256:00:ff");
        let v = Value::Sensitive(Box::new("hunter2".into()));
        assert_eq!(sensitive_eq(&legacy, &seal_value(&v)), None);
        assert_eq!(sensitive_eq(&legacy, &v), None);
    }
}
