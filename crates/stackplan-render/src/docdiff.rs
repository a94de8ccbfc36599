//! Unified diffs of large documents (Helm values, policy documents): the
//! line-level calculation only, on the text `notation` writes. Formatters
//! decide how lines look.

use similar::{ChangeTag, TextDiff};
use stackplan_core::Value;

/// One line of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocLine {
    /// `@@ -1,4 +1,4 @@`
    Hunk(String),
    Context(String),
    Removed(String),
    Added(String),
}

/// The unified diff of two documents, with `context` lines around each
/// change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocDiff {
    pub lines: Vec<DocLine>,
}

impl DocDiff {
    pub fn compute(before: &str, after: &str, context: usize) -> DocDiff {
        let diff = TextDiff::from_lines(before, after);
        let mut lines = Vec::new();
        let mut unified = diff.unified_diff();
        unified.context_radius(context);
        for hunk in unified.iter_hunks() {
            lines.push(DocLine::Hunk(hunk.header().to_string()));
            for change in hunk.iter_changes() {
                let text = change.to_string_lossy().trim_end_matches('\n').to_string();
                lines.push(match change.tag() {
                    ChangeTag::Equal => DocLine::Context(text),
                    ChangeTag::Delete => DocLine::Removed(text),
                    ChangeTag::Insert => DocLine::Added(text),
                });
            }
        }
        DocDiff { lines }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The JSON that people see for a value: unknowns and secrets as their
/// markers, never content.
pub fn display_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::String(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(display_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), display_json(v)))
                .collect(),
        ),
        Value::Sensitive(_) | Value::Secret(_) => J::String("(sensitive)".into()),
        Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) | Value::Unknown => {
            J::String("(known after apply)".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_keeps_context_and_marks_lines() {
        let before = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n";
        let after = "a: 1\nb: 2\nc: 30\nd: 4\ne: 5\n";
        let d = DocDiff::compute(before, after, 1);
        assert_eq!(
            d.lines,
            vec![
                DocLine::Hunk("@@ -2,3 +2,3 @@".into()),
                DocLine::Context("b: 2".into()),
                DocLine::Removed("c: 3".into()),
                DocLine::Added("c: 30".into()),
                DocLine::Context("d: 4".into()),
            ]
        );
    }
}
