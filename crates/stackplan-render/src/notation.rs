//! The one value notation every plan rendering uses, HCL-like as in
//! Terraform's plans: strings quoted, maps `{ key = value }`, lists
//! `[a, b]`, `(known after apply)` and `(sensitive)` as markers. A value
//! that fits on a line is written on it; a longer one becomes an indented
//! block whose parts are again inline when they fit, so a policy document,
//! a tag map and Helm values all read the same way.

use stackplan_core::Value;

use crate::docdiff::display_json;

/// The widest a value may be and still be written inline.
pub const INLINE_WIDTH: usize = 72;

/// Indentation per nesting level of a block.
const INDENT: &str = "  ";

/// A value on one line.
pub fn inline(v: &Value) -> String {
    match v {
        Value::Sensitive(_) | Value::Secret(_) => "(sensitive)".into(),
        Value::Ref(_) | Value::Concat(_) | Value::DynMap(_) | Value::Unknown => {
            "(known after apply)".into()
        }
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(m) if m.is_empty() => "{}".into(),
        Value::Map(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {}", map_key(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => display_json(other).to_string(),
    }
}

/// A map key as HCL writes it: bare when it is a plain identifier,
/// quoted otherwise (`"stackplan:stack"`).
pub fn map_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        serde_json::Value::String(k.to_string()).to_string()
    }
}

/// True when `v` is written on one line where `room` characters are left.
pub fn fits(v: &Value, room: usize) -> bool {
    inline(v).chars().count() <= room
}

/// `v` as lines: one when it fits in [`INLINE_WIDTH`], else a block
/// (`{` ... `}` or `[` ... `]`) whose first line is the opener, to follow
/// `name = ` on the caller's line, and whose inner lines are indented.
pub fn lines(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    write_value(&mut out, String::new(), v, 0, INLINE_WIDTH);
    out
}

/// Writes `prefix` followed by `v` at nesting `depth`, where `room`
/// characters are left after the prefix for an inline value.
fn write_value(out: &mut Vec<String>, prefix: String, v: &Value, depth: usize, room: usize) {
    let pad = INDENT.repeat(depth);
    let inner = format!("{pad}{INDENT}");
    match v {
        Value::Map(m) if !m.is_empty() && !fits(v, room) => {
            out.push(format!("{prefix}{{"));
            // Which entries stay on their key's line, decided before the
            // keys are aligned: alignment never turns a line into a block.
            let entries: Vec<(String, &Value, bool)> = m
                .iter()
                .map(|(k, x)| {
                    let key = map_key(k);
                    let used = inner.chars().count() + key.chars().count() + 3;
                    let one_line = fits(x, INLINE_WIDTH.saturating_sub(used));
                    (key, x, one_line)
                })
                .collect();
            let width = entries
                .iter()
                .filter(|(_, _, one_line)| *one_line)
                .map(|(k, _, _)| k.chars().count())
                .max()
                .unwrap_or(0);
            for (key, x, one_line) in entries {
                if one_line {
                    out.push(format!("{inner}{key:<width$} = {}", inline(x)));
                } else {
                    write_value(out, format!("{inner}{key} = "), x, depth + 1, 0);
                }
            }
            out.push(format!("{pad}}}"));
        }
        Value::List(items) if !items.is_empty() && !fits(v, room) => {
            out.push(format!("{prefix}["));
            for x in items {
                let left = INLINE_WIDTH.saturating_sub(inner.chars().count() + 1);
                let start = out.len();
                write_value(out, inner.clone(), x, depth + 1, left);
                if let Some(last) = out[start..].last_mut() {
                    last.push(',');
                }
            }
            out.push(format!("{pad}]"));
        }
        _ => out.push(format!("{prefix}{}", inline(v))),
    }
}

/// The text of a document for a line diff: its [`lines`], each ended by
/// a newline; a missing document is empty.
pub fn document_text(v: &Value) -> String {
    if *v == Value::Null {
        return String::new();
    }
    let mut s = String::new();
    for l in lines(v) {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use stackplan_core::{ResourceAddr, ResourceKind};

    use super::*;

    #[test]
    fn a_short_value_stays_on_one_line() {
        let v = Value::map([("Name", "demo".into()), ("stackplan:stack", "demo".into())]);
        assert_eq!(
            lines(&v),
            vec![r#"{ Name = "demo", "stackplan:stack" = "demo" }"#]
        );
    }

    #[test]
    fn a_policy_document_is_a_block_whose_short_parts_stay_inline() {
        let oidc = ResourceAddr::new(ResourceKind::IamOidcProvider, "main");
        let v = Value::map([
            ("Version", "2012-10-17".into()),
            (
                "Statement",
                Value::list([Value::map([
                    ("Effect", "Allow".into()),
                    ("Action", "sts:AssumeRoleWithWebIdentity".into()),
                    (
                        "Principal",
                        Value::map([("Federated", Value::reference(&oidc, "arn"))]),
                    ),
                    (
                        "Action2",
                        Value::list((0..8).map(|i| Value::string(format!("s3:SomeLongAction{i}")))),
                    ),
                ])]),
            ),
        ]);
        insta::assert_snapshot!(lines(&v).join("\n"), @r#"
        {
          Statement = [
            {
              Action    = "sts:AssumeRoleWithWebIdentity"
              Action2 = [
                "s3:SomeLongAction0",
                "s3:SomeLongAction1",
                "s3:SomeLongAction2",
                "s3:SomeLongAction3",
                "s3:SomeLongAction4",
                "s3:SomeLongAction5",
                "s3:SomeLongAction6",
                "s3:SomeLongAction7",
              ]
              Effect    = "Allow"
              Principal = { Federated = (known after apply) }
            },
          ]
          Version = "2012-10-17"
        }
        "#);
    }
}
