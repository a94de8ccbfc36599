//! The state document (DESIGN.md section 4) and the [`StateStore`] trait
//! its backends implement (`stackplan-state`: local file and S3).
//!
//! State never holds a secret, nor anything that can check one offline: a
//! sensitive value is written as `{"$sensitive": true}` and its content is
//! lost. Only where a secret comes from (`env:NAME`, `secretsmanager:ARN`,
//! `generate`) is kept, since that is not the secret. A value *sealed* in
//! memory (see [`sealed`]) is written the same way: its digest is keyed by
//! a key that lives only as long as one run. That rule is enforced here, in
//! the one encoder every backend uses, so no backend can forget it.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map as JsonMap, Value as Json};

use crate::provider::{Attrs, BoxFuture};
use crate::{ResourceAddr, ResourceKind, ResourceMode, Value};

/// The version of the state document. Bumped on any change an older
/// stackplan would misread; an unknown version is refused, not guessed.
///
/// Version 2 holds no digest of a sensitive value. Version 1 held a
/// SHA-256 salted per stack name, an offline verifier of the password:
/// it is still read, its digests dropped, and the next apply writes 2.
///
/// Version 3 adds tainted resources and deposed old copies, which an
/// older build would silently drop on its next write.
pub const STATE_FORMAT_VERSION: u32 = 3;

/// The oldest version this build reads (and upgrades on its next write).
const OLDEST_READABLE_VERSION: u32 = 1;

/// The key inside a sealed sensitive value that holds its digest.
const SEALED_KEY: &str = "$sealed";

/// A sensitive value reduced to a digest, for comparing secrets in memory
/// without holding them (the engine keys it per run). Never written to
/// state or a plan: [`encode_state_value`] writes it as
/// `{"$sensitive": true}`.
pub fn sealed(digest: impl Into<String>) -> Value {
    Value::Sensitive(Box::new(Value::map([(
        SEALED_KEY,
        Value::String(digest.into()),
    )])))
}

/// The digest of a sealed value, or `None` for anything else.
pub fn sealed_digest(value: &Value) -> Option<&str> {
    match value {
        Value::Sensitive(inner) => match inner.as_ref() {
            Value::Map(m) if m.len() == 1 => m.get(SEALED_KEY)?.as_str(),
            _ => None,
        },
        _ => None,
    }
}

/// The JSON form of a value inside state: literals as they are, a
/// sensitive value as `{"$sensitive": true}` (never its content nor a
/// digest of it), a secret source as itself, and the markers of
/// [`Value::to_json`] for references, unknowns and secret sources.
pub fn encode_state_value(value: &Value) -> Json {
    let tagged = |tag: &str, v: Json| {
        let mut m = JsonMap::new();
        m.insert(tag.to_string(), v);
        Json::Object(m)
    };
    match value {
        Value::Sensitive(inner) => match (sealed_digest(value), inner.as_ref()) {
            (Some(_), _) => tagged("$sensitive", Json::Bool(true)),
            // Where a secret comes from is not the secret: keeping the
            // source lets the next plan see that it did not change.
            (None, Value::Secret(src)) => tagged(
                "$sensitive",
                tagged("$secret", Json::String(src.to_string())),
            ),
            (None, _) => tagged("$sensitive", Json::Bool(true)),
        },
        Value::List(items) => Json::Array(items.iter().map(encode_state_value).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), encode_state_value(v)))
                .collect(),
        ),
        Value::Concat(parts) => tagged(
            "$concat",
            Json::Array(parts.iter().map(encode_state_value).collect()),
        ),
        Value::DynMap(entries) => tagged(
            "$dynmap",
            Json::Array(
                entries
                    .iter()
                    .map(|(k, v)| Json::Array(vec![encode_state_value(k), encode_state_value(v)]))
                    .collect(),
            ),
        ),
        other => other.to_json(),
    }
}

/// The inverse of [`encode_state_value`].
pub fn decode_state_value(json: &Json) -> Value {
    match json {
        Json::Object(m) if m.len() == 1 => {
            match m.get("$sensitive") {
                // Format 1's digest: an offline verifier of the secret,
                // dropped on read and so gone from the next write.
                Some(Json::String(_)) => return Value::Sensitive(Box::new(Value::Unknown)),
                Some(source @ Json::Object(_)) => {
                    return Value::Sensitive(Box::new(Value::from_json(source)));
                }
                _ => {}
            }
            match m.iter().next() {
                Some((k, _)) if k.starts_with('$') => Value::from_json(json),
                _ => Value::Map(
                    m.iter()
                        .map(|(k, v)| (k.clone(), decode_state_value(v)))
                        .collect(),
                ),
            }
        }
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), decode_state_value(v)))
                .collect(),
        ),
        Json::Array(items) => Value::List(items.iter().map(decode_state_value).collect()),
        other => Value::from_json(other),
    }
}

mod attrs_codec {
    use super::*;

    pub fn serialize<S: Serializer>(attrs: &Attrs, s: S) -> Result<S::Ok, S::Error> {
        let m: JsonMap<String, Json> = attrs
            .iter()
            .map(|(k, v)| (k.clone(), encode_state_value(v)))
            .collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Attrs, D::Error> {
        let m = JsonMap::<String, Json>::deserialize(d)?;
        Ok(m.iter()
            .map(|(k, v)| (k.clone(), decode_state_value(v)))
            .collect())
    }
}

/// One resource as last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub addr: ResourceAddr,
    /// Redundant with the address, written for people and tools that read
    /// state without parsing addresses.
    pub kind: ResourceKind,
    pub mode: ResourceMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// The attributes stackplan last applied (desired, resolved), sealed.
    #[serde(default, with = "attrs_codec")]
    pub attributes: Attrs,
    /// The outputs the API reported after that apply, sealed.
    #[serde(default, with = "attrs_codec")]
    pub outputs: Attrs,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub dependencies: BTreeSet<ResourceAddr>,
    /// Its create did not finish (the wait failed or timed out, or a
    /// follow-up call after the create failed): the next plan waits for
    /// it again or replaces it, and `destroy` deletes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tainted: bool,
}

impl ResourceState {
    pub fn new(addr: ResourceAddr, mode: ResourceMode) -> Self {
        ResourceState {
            kind: addr.kind,
            addr,
            mode,
            physical_id: None,
            attributes: Attrs::new(),
            outputs: Attrs::new(),
            dependencies: BTreeSet::new(),
            tainted: false,
        }
    }
}

/// The whole record of what a stack owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDocument {
    pub format_version: u32,
    /// A UUID fixed when the state is first created: a plan or a write from
    /// another lineage is refused.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    pub stack: String,
    /// The AWS account and region the stack was applied in, recorded by
    /// its first apply: a stack is never planned against another (its
    /// resources would all look "deleted outside stackplan").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Sorted by address.
    pub resources: Vec<ResourceState>,
    /// Old copies of replaced resources whose delete has not succeeded
    /// yet (create-before-destroy made the new copy first), sorted by
    /// address then id. Kept until deleted, so a failed or interrupted
    /// delete never leaks one: every plan shows them and the next apply
    /// (or `destroy`) deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<ResourceState>,
}

impl StateDocument {
    pub fn new(stack: impl Into<String>, lineage: impl Into<String>) -> Self {
        StateDocument {
            format_version: STATE_FORMAT_VERSION,
            lineage: lineage.into(),
            serial: 0,
            stack: stack.into(),
            account: None,
            region: None,
            resources: Vec::new(),
            deposed: Vec::new(),
        }
    }

    pub fn get(&self, addr: &ResourceAddr) -> Option<&ResourceState> {
        self.resources
            .binary_search_by(|r| r.addr.cmp(addr))
            .ok()
            .map(|i| &self.resources[i])
    }

    /// Inserts or replaces one resource, keeping the list sorted.
    pub fn upsert(&mut self, resource: ResourceState) {
        match self
            .resources
            .binary_search_by(|r| r.addr.cmp(&resource.addr))
        {
            Ok(i) => self.resources[i] = resource,
            Err(i) => self.resources.insert(i, resource),
        }
    }

    pub fn remove(&mut self, addr: &ResourceAddr) -> Option<ResourceState> {
        let i = self.resources.binary_search_by(|r| r.addr.cmp(addr)).ok()?;
        Some(self.resources.remove(i))
    }

    /// Moves the current object at `addr` to the deposed list: the old
    /// copy of a create-before-destroy replacement, kept until deleted.
    /// Returns its id. An object with no id made nothing to delete.
    pub fn depose(&mut self, addr: &ResourceAddr) -> Option<String> {
        let old = self.remove(addr)?;
        let id = old.physical_id.clone()?;
        if !self
            .deposed
            .iter()
            .any(|d| deposed_key(d) == (addr, Some(&id)))
        {
            self.deposed.push(old);
            self.deposed
                .sort_by(|a, b| deposed_key(a).cmp(&deposed_key(b)));
        }
        Some(id)
    }

    /// The deposed copy of `addr` with id `id`.
    pub fn deposed(&self, addr: &ResourceAddr, id: &str) -> Option<&ResourceState> {
        self.deposed
            .iter()
            .find(|d| deposed_key(d) == (addr, Some(&id.to_string())))
    }

    /// Forgets a deposed copy once it is deleted.
    pub fn remove_deposed(&mut self, addr: &ResourceAddr, id: &str) -> Option<ResourceState> {
        let i = self
            .deposed
            .iter()
            .position(|d| deposed_key(d) == (addr, Some(&id.to_string())))?;
        Some(self.deposed.remove(i))
    }

    /// The canonical bytes every backend writes: pretty JSON, a trailing
    /// newline, resources sorted, no secret (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        // Whatever version was read, what is written is this build's.
        sorted.format_version = STATE_FORMAT_VERSION;
        sorted.resources.sort_by(|a, b| a.addr.cmp(&b.addr));
        sorted
            .deposed
            .sort_by(|a, b| deposed_key(a).cmp(&deposed_key(b)));
        let mut out = serde_json::to_vec_pretty(&sorted).expect("state always serializes");
        out.push(b'\n');
        out
    }

    /// Parses a state document, refusing versions this build cannot read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        #[derive(Deserialize)]
        struct Probe {
            format_version: u32,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            detail: e.to_string(),
        })?;
        if !(OLDEST_READABLE_VERSION..=STATE_FORMAT_VERSION).contains(&probe.format_version) {
            return Err(StateError::UnsupportedVersion {
                found: probe.format_version,
            });
        }
        let mut doc: StateDocument =
            serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
                detail: e.to_string(),
            })?;
        doc.resources.sort_by(|a, b| a.addr.cmp(&b.addr));
        // Two entries for one address come from a bad merge of state files
        // (or a hand edit). Every lookup binary-searches the sorted list and
        // would see one of them at random, and the next write would drop
        // the other: refuse the document and let a person choose.
        if let Some(pair) = doc.resources.windows(2).find(|w| w[0].addr == w[1].addr) {
            return Err(StateError::DuplicateResource {
                addr: pair[0].addr.to_string(),
            });
        }
        Ok(doc)
    }
}

/// How a deposed copy is told apart from the others of its address.
fn deposed_key(d: &ResourceState) -> (&ResourceAddr, Option<&String>) {
    (&d.addr, d.physical_id.as_ref())
}

/// Who holds a state lock, written into the lock so `stackplan unlock` can
/// show it before releasing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A UUID per acquisition.
    pub id: String,
    /// `apply`, `destroy`, ...
    pub operation: String,
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub created: String,
    /// RFC 3339, UTC: when the holder last showed it is alive. Renewed
    /// while held by backends whose lock outlives its process (S3); absent
    /// for a local OS lock, whose liveness the OS knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}) for `{}` since {}, lock id {}",
            self.who, self.pid, self.operation, self.created, self.id
        )?;
        match &self.heartbeat {
            Some(beat) => write!(f, ", last heartbeat {beat}"),
            None => Ok(()),
        }
    }
}

/// Everything a state backend can refuse or fail at. `stackplan-state`
/// uses this as its error type, so one enum describes state failures.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state {location} is locked by {holder}")]
    Locked {
        location: String,
        holder: Box<LockInfo>,
    },
    #[error("state {location} is locked by another process (no holder recorded)")]
    LockedUnknown { location: String },
    #[error("state {location} must be locked before it is written")]
    NotLocked { location: String },
    #[error("state {location} was changed by another writer since it was read ({detail})")]
    Conflict { location: String, detail: String },
    #[error("state lineage {found} does not match {expected}: this state belongs to another stack")]
    LineageMismatch { expected: String, found: String },
    #[error(
        "state format_version {found} is not supported (this build reads {STATE_FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
    #[error("state is not a valid state document: {detail}")]
    Corrupt { detail: String },
    #[error(
        "state lists resource {addr} more than once (a bad merge or edit of the state file?): keep the right entry and delete the others"
    )]
    DuplicateResource { addr: String },
    #[error(
        "state lock {path} is {found}, not a regular file: stackplan does not follow or write through it; remove it if you did not make it"
    )]
    UnsafeLockFile { path: String, found: String },
    #[error(
        // Short lines (JSON may break inside its quotes), so that a report
        // wrapped at 80 columns still shows the command as it is typed.
        "state bucket {bucket} {problem}: state must not be readable by the public. Block all public access on it, then run again:\n  aws s3api put-public-access-block \\\n    --bucket {bucket} \\\n    --public-access-block-configuration '{{\"BlockPublicAcls\": true,\n      \"IgnorePublicAcls\": true, \"BlockPublicPolicy\": true,\n      \"RestrictPublicBuckets\": true}}'"
    )]
    PublicBucket { bucket: String, problem: String },
    #[error(
        "state {location} is locked by {holder}; the holder is alive (its heartbeat is {age_secs}s old, stale only after {stale_after_secs}s)"
    )]
    LockAlive {
        location: String,
        holder: Box<LockInfo>,
        age_secs: u64,
        stale_after_secs: u64,
    },
    #[error("state {location}: this run no longer holds the lock ({detail})")]
    LockLost { location: String, detail: String },
    #[error("state {location}: {action}")]
    Io {
        location: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state {location}: {message}")]
    Backend {
        location: String,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

/// Where a stack's state lives. `read` needs no lock (a plan is read-only
/// and every backend replaces the document atomically); `write` needs the
/// lock and refuses a concurrent writer.
pub trait StateStore: Send + Sync {
    /// Where, for messages: `.stackplan/demo.state.json`, `s3://b/k`.
    fn location(&self) -> String;

    /// The current document, or `None` when the stack has no state yet.
    fn read(&self) -> BoxFuture<'_, Result<Option<StateDocument>, StateError>>;

    /// Stores `doc` with the next serial and returns that serial. Refuses
    /// a document of another lineage and a write that would overwrite one
    /// made by someone else since this store last read or wrote.
    fn write<'a>(&'a self, doc: &'a StateDocument) -> BoxFuture<'a, Result<u64, StateError>>;

    /// Takes the lock for the run, or says who holds it.
    fn lock<'a>(&'a self, info: &'a LockInfo) -> BoxFuture<'a, Result<(), StateError>>;

    /// Releases the lock this store took.
    fn unlock(&self) -> BoxFuture<'_, Result<(), StateError>>;

    /// Who holds the lock now, if anyone.
    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>>;

    /// Releases a lock someone else left behind (`stackplan unlock`) and
    /// returns who held it.
    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, StateError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsealed_sensitive_content_is_never_encoded() {
        let mut r = ResourceState::new(
            ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "scram"),
            ResourceMode::Managed,
        );
        r.attributes.insert(
            "secret_string".into(),
            Value::Sensitive(Box::new("hunter2".into())),
        );
        r.attributes.insert(
            "nested".into(),
            Value::map([("pw", Value::Sensitive(Box::new("hunter2".into())))]),
        );
        let mut doc = StateDocument::new("demo", "l");
        doc.upsert(r);
        let text = String::from_utf8(doc.to_bytes()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn sealed_values_reach_state_without_their_digest_and_sources_as_themselves() {
        let mut r = ResourceState::new(
            ResourceAddr::new(ResourceKind::SecretsmanagerSecret, "scram"),
            ResourceMode::Managed,
        );
        r.attributes
            .insert("secret_string".into(), sealed("hmac-sha256:00ff"));
        r.attributes.insert(
            "source".into(),
            Value::Secret(crate::SecretSource::Env("PW".into())),
        );
        r.attributes.insert(
            "wrapped_source".into(),
            Value::Sensitive(Box::new(Value::Secret(crate::SecretSource::Env(
                "PW".into(),
            )))),
        );
        let mut doc = StateDocument::new("demo", "l");
        doc.upsert(r);
        let bytes = doc.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("00ff"), "{text}");
        let back = StateDocument::from_bytes(&bytes).unwrap();
        let attrs = &back.resources[0].attributes;
        assert_eq!(
            attrs["secret_string"],
            Value::Sensitive(Box::new(Value::Unknown))
        );
        assert_eq!(attrs["source"], doc.resources[0].attributes["source"]);
        assert_eq!(
            attrs["wrapped_source"],
            doc.resources[0].attributes["wrapped_source"]
        );
    }

    #[test]
    fn a_format_1_state_loses_its_password_digests_and_is_written_in_the_current_format() {
        let v1 = br#"{"format_version": 1, "lineage": "l", "serial": 3, "stack": "demo",
            "resources": [{"addr": "secretsmanager_secret.scram", "kind": "secretsmanager_secret",
              "mode": "managed", "physical_id": "arn",
              "outputs": {"password": {"$sensitive": "sha256:5a1t:d1ge57"}}}]}"#;
        let doc = StateDocument::from_bytes(v1).unwrap();
        assert_eq!(
            doc.format_version, 1,
            "the version read, so a caller can upgrade it"
        );
        assert_eq!(
            doc.resources[0].outputs["password"],
            Value::Sensitive(Box::new(Value::Unknown))
        );
        let written = String::from_utf8(doc.to_bytes()).unwrap();
        assert!(
            written.contains(&format!("\"format_version\": {STATE_FORMAT_VERSION}")),
            "{written}"
        );
        assert!(!written.contains("d1ge57"), "{written}");
    }

    #[test]
    fn a_deposed_copy_and_a_tainted_resource_survive_a_round_trip_and_an_older_build_refuses_them()
    {
        let mut doc = StateDocument::new("demo", "l");
        let addr = ResourceAddr::new(ResourceKind::S3Bucket, "data");
        let mut old = ResourceState::new(addr.clone(), ResourceMode::Managed);
        old.physical_id = Some("bucket-old".into());
        doc.upsert(old);
        assert_eq!(doc.depose(&addr).as_deref(), Some("bucket-old"));
        let mut new = ResourceState::new(addr.clone(), ResourceMode::Managed);
        new.physical_id = Some("bucket-new".into());
        new.tainted = true;
        doc.upsert(new);
        let back = StateDocument::from_bytes(&doc.to_bytes()).unwrap();
        assert_eq!(back, doc);
        assert!(back.get(&addr).unwrap().tainted);
        assert!(back.deposed(&addr, "bucket-old").is_some());
        // Written as format 3: a format-2 build refuses it rather than
        // dropping the deposed copy on its next write.
        assert_eq!(STATE_FORMAT_VERSION, 3);
        let mut json: Json = serde_json::from_slice(&doc.to_bytes()).unwrap();
        json["format_version"] = Json::from(4);
        assert!(matches!(
            StateDocument::from_bytes(&serde_json::to_vec(&json).unwrap()),
            Err(StateError::UnsupportedVersion { found: 4 })
        ));
    }

    #[test]
    fn a_resource_listed_twice_is_refused_naming_its_address() {
        let mut doc = StateDocument::new("demo", "l");
        for name in ["data", "logs"] {
            doc.upsert(ResourceState::new(
                ResourceAddr::new(ResourceKind::S3Bucket, name),
                ResourceMode::Managed,
            ));
        }
        // What a bad merge leaves: both sides' entry for the same address.
        let mut json: Json = serde_json::from_slice(&doc.to_bytes()).unwrap();
        let resources = json["resources"].as_array_mut().unwrap();
        let mut twin = resources[0].clone();
        twin["physical_id"] = Json::String("other-side-of-the-merge".into());
        resources.push(twin);
        let bytes = serde_json::to_vec(&json).unwrap();

        let err = StateDocument::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(&err, StateError::DuplicateResource { addr } if addr == "s3_bucket.data"),
            "{err}"
        );
        assert!(
            err.to_string().contains("s3_bucket.data more than once"),
            "{err}"
        );
    }

    #[test]
    fn unknown_format_version_is_refused() {
        let err = StateDocument::from_bytes(br#"{"format_version": 99}"#).unwrap_err();
        assert!(matches!(err, StateError::UnsupportedVersion { found: 99 }));
    }
}
