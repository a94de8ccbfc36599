//! The three-way diff of one resource, as pure functions over attributes:
//! desired (the stack, resolved), last applied (state) and live (refresh).
//!
//! - changes: what apply must do to make live equal desired;
//! - drift: where live differs from the last applied value, i.e. what
//!   changed outside stackplan;
//! - config changes: where desired differs from the last applied value,
//!   i.e. what changed in the stack file.
//!
//! Every value goes through the kind's normaliser first; an attribute a
//! live read does not report is taken as still being its last applied
//! value (the API may not expose it: `force_destroy`, a password).

use std::collections::BTreeSet;

use stackplan_core::schema::Normalize;
use stackplan_core::{Attrs, FieldDiff, KindSchema, Value};

use crate::seal::sensitive_eq;

/// The result of diffing one existing resource.
#[derive(Debug, Default)]
pub(crate) struct ResourceDiff {
    /// live (or last applied) -> desired.
    pub changes: Vec<FieldDiff>,
    /// last applied -> live.
    pub drift: Vec<FieldDiff>,
    /// Paths whose desired value differs from the last applied one and is
    /// known: changed in the stack file (an unknown is not a change there).
    pub config_changed: BTreeSet<String>,
}

/// True when two normalised values are the same for planning purposes.
/// An unknown on either side is never equal: apply will decide.
fn same(a: &Value, b: &Value) -> Option<bool> {
    if a.is_sensitive() || b.is_sensitive() {
        return sensitive_eq(a, b);
    }
    if !a.is_known() || !b.is_known() {
        return Some(false);
    }
    Some(a == b)
}

/// Whether an attribute's maps are diffed key by key (tags, labels, Helm
/// values) or as one document (policies, whose structure is IAM's).
fn recurses(how: Normalize) -> bool {
    matches!(
        how,
        Normalize::Plain | Normalize::Tags | Normalize::StringMap
    )
}

fn diff_value(path: &str, before: &Value, after: &Value, recurse: bool, out: &mut Vec<FieldDiff>) {
    if same(before, after) == Some(true) {
        return;
    }
    if recurse && let (Value::Map(b), Value::Map(a)) = (before, after) {
        let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        for k in keys {
            let bv = b.get(k).unwrap_or(&Value::Null);
            let av = a.get(k).unwrap_or(&Value::Null);
            diff_value(&format!("{path}.{k}"), bv, av, true, out);
        }
        return;
    }
    out.push(FieldDiff::new(path, before.clone(), after.clone()));
}

/// Marks sensitive fields, and force-new ones where a field changes on a
/// resource that stays (on a create or a delete nothing is replaced).
fn annotate(schema: &KindSchema, diffs: &mut [FieldDiff], changes_in_place: bool) {
    for d in diffs {
        let attr = schema.attr(d.attr());
        d.force_new = changes_in_place && attr.force_new;
        d.sensitive = attr.sensitive || d.before.is_sensitive() || d.after.is_sensitive();
    }
}

/// The attributes, normalised, for display and fingerprints.
pub(crate) fn normalized(schema: &KindSchema, attrs: &Attrs) -> Attrs {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), schema.normalize(k, v)))
        .collect()
}

/// Every field of a resource that does not exist yet: desired attributes,
/// then computed outputs as unknown.
pub(crate) fn diff_create(schema: &KindSchema, desired: &Attrs) -> Vec<FieldDiff> {
    let mut out: Vec<FieldDiff> = desired
        .iter()
        .filter(|(_, v)| **v != Value::Null)
        .map(|(k, v)| FieldDiff::new(k.clone(), Value::Null, schema.normalize(k, v)))
        .collect();
    for o in schema.outputs {
        if !desired.contains_key(*o) {
            out.push(FieldDiff::new(*o, Value::Null, Value::Unknown));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    annotate(schema, &mut out, false);
    out
}

/// Every field of a resource that goes away.
pub(crate) fn diff_delete(schema: &KindSchema, before: &Attrs) -> Vec<FieldDiff> {
    let mut out: Vec<FieldDiff> = before
        .iter()
        .filter(|(k, v)| **v != Value::Null && !schema.is_computed(k))
        .map(|(k, v)| FieldDiff::new(k.clone(), schema.normalize(k, v), Value::Null))
        .collect();
    annotate(schema, &mut out, false);
    out
}

impl ResourceDiff {
    /// True when the change at `path` comes from the stack file: the path,
    /// or a map around it or inside it, changed there.
    pub fn is_stack_change(&self, path: &str) -> bool {
        self.config_changed.iter().any(|c| {
            c == path
                || path
                    .strip_prefix(c.as_str())
                    .is_some_and(|r| r.starts_with('.'))
                || c.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
        })
    }
}

/// The three-way diff of a resource that exists live. `last` is `None` for
/// a resource found live but not in state (adopted). `current` is
/// `desired` with the secret sources this run could read replaced by what
/// they give now: what live is compared with, while the stack's own
/// changes are found on `desired` (a rotated password is not one).
pub(crate) fn diff_existing(
    schema: &KindSchema,
    desired: &Attrs,
    current: &Attrs,
    last: Option<&Attrs>,
    live: &Attrs,
) -> ResourceDiff {
    let mut result = ResourceDiff::default();
    let keys: BTreeSet<&String> = desired
        .keys()
        .chain(last.into_iter().flat_map(|l| l.keys()))
        .filter(|k| !schema.is_computed(k))
        .collect();
    for k in keys {
        let how = schema.attr(k).normalize;
        let want = schema.effective(k, desired.get(k));
        let applied = last.map(|l| schema.effective(k, l.get(k)));
        // What exists: live when the API reports it, else as last applied.
        let base = match live.get(k) {
            Some(v) => schema.effective(k, Some(v)),
            None => applied.clone().unwrap_or_else(|| schema.effective(k, None)),
        };

        if let Some(applied) = &applied {
            let mut config = Vec::new();
            diff_value(k, applied, &want, recurses(how), &mut config);
            result.config_changed.extend(
                config
                    .into_iter()
                    // A sensitive value state kept no content of cannot
                    // have been changed in the stack as far as anyone can
                    // tell; what it is now is compared with live below.
                    .filter(|d| same(&d.before, &d.after).is_some())
                    .filter(|d| d.after.is_known() || d.after.is_sensitive())
                    .map(|d| d.path),
            );
            // Drift is a change from what was applied: a key the last
            // apply never set (an attribute the stack has just started to
            // set) has no applied value to drift from; the change below
            // still shows it.
            if live.contains_key(k) && last.is_some_and(|l| l.contains_key(k)) {
                // A secret source against a digest cannot be compared:
                // no drift can be shown for it.
                if same(applied, &base) == Some(false) {
                    let mut drift = Vec::new();
                    diff_value(k, applied, &base, recurses(how), &mut drift);
                    // A sensitive leaf state kept no content of (`data.password`
                    // inside a Secret's map) cannot be said to have drifted.
                    result.drift.extend(
                        drift
                            .into_iter()
                            .filter(|d| same(&d.before, &d.after).is_some()),
                    );
                }
            }
        }

        let want_now = schema.effective(k, current.get(k));
        match same(&base, &want_now) {
            Some(true) => {}
            // Incomparable (a source this run could not read against what
            // the API holds): unchanged exactly when the stack still names
            // the same source that was last applied.
            None if applied.as_ref().is_some_and(|a| a == &want) => {}
            _ => diff_value(k, &base, &want_now, recurses(how), &mut result.changes),
        }
    }
    annotate(schema, &mut result.changes, true);
    annotate(schema, &mut result.drift, false);
    result
}

#[cfg(test)]
mod tests {
    use stackplan_core::ResourceKind;

    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn attribute_the_api_does_not_report_is_taken_as_last_applied() {
        let s3 = KindSchema::for_kind(ResourceKind::S3Bucket);
        let desired = attrs(&[("bucket", "b".into()), ("force_destroy", true.into())]);
        let live = attrs(&[("bucket", "b".into())]);
        let d = diff_existing(s3, &desired, &desired, Some(&desired), &live);
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert!(d.drift.is_empty());
    }

    #[test]
    fn an_attribute_the_last_apply_never_set_is_a_change_not_drift() {
        let schema = KindSchema::for_kind(ResourceKind::S3Bucket);
        let last = attrs(&[("bucket", Value::string("b"))]);
        let desired = attrs(&[
            ("bucket", Value::string("b")),
            ("versioning", Value::Bool(true)),
        ]);
        let live = attrs(&[
            ("bucket", Value::string("b")),
            ("versioning", Value::Bool(false)),
        ]);
        let d = diff_existing(schema, &desired, &desired, Some(&last), &live);
        assert!(d.drift.is_empty(), "{:?}", d.drift);
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].path, "versioning");
    }

    #[test]
    fn maps_diff_key_by_key_with_dotted_paths() {
        let s3 = KindSchema::for_kind(ResourceKind::S3Bucket);
        let desired = attrs(&[(
            "tags",
            Value::map([("team", "search".into()), ("env", "prod".into())]),
        )]);
        let live = attrs(&[("tags", Value::map([("team", "search".into())]))]);
        let d = diff_existing(s3, &desired, &desired, None, &live);
        let paths: Vec<&str> = d.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["tags.env"]);
    }
}
