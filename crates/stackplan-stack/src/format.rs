//! `stackplan fmt`: a valid stack file rewritten in one layout, with
//! `toml_edit` so that every comment and every value's own spelling
//! (quotes, `1_000_000`, inline tables) stays as the user wrote it.
//!
//! What changes:
//! - sections and keys follow the order the README documents for each
//!   section (`[stack]`, `[state]`, `[network]`, `[eks]` with its node
//!   groups, access entries and add-ons, `[s3]`, `[msk]`, `[milvus]`,
//!   `[load_balancer_controller]`, `[kubernetes]`); a comment above a key or
//!   a section moves with it;
//! - the `=` of a table's `key = value` lines is aligned, one space after
//!   the longest key;
//! - every section header but the first has a blank line before it.
//!
//! What is kept as written (conservatively, because no order is documented
//! for it or an order would change nothing a reader cares about): the keys
//! of tables whose keys are the user's (`[eks.addons]`, `tags`,
//! `[msk.server_properties]`, `[milvus.values]` and everything under it),
//! the keys inside inline tables (`create = { ... }`), the order of
//! `[[eks.nodegroup]]` and `[[eks.access]]` entries (an array's order), and
//! comments after the last key of a section, which stay at its end.
//!
//! The result is checked to hold the same TOML data as the input before it
//! is returned, so a formatting bug can refuse a file but never change what
//! it means.

use toml_edit::{DocumentMut, Item, Key, Table};

use crate::error::{Problem, StackError};

/// Known keys of each section, in the README's order (its tables, then
/// `ignore` and the sub-sections, as the reference stack writes them).
/// Sections not listed keep the user's order.
const KEY_ORDER: &[(&[&str], &[&str])] = &[
    (
        &[],
        &[
            "stack",
            "state",
            "network",
            "eks",
            "s3",
            "msk",
            "milvus",
            "load_balancer_controller",
            "kubernetes",
        ],
    ),
    (&["stack"], &["name", "region", "tags"]),
    (
        &["state"],
        &["backend", "path", "bucket", "key", "region", "kms_key_id"],
    ),
    (
        &["network"],
        &["vpc_id", "private_subnets", "create", "tags"],
    ),
    (
        &["eks"],
        &[
            "name",
            "version",
            "endpoint_public_access",
            "creator_admin",
            "prevent_destroy",
            "tags",
            "ignore",
            "nodegroup",
            "access",
            "addons",
        ],
    ),
    (
        &["eks", "nodegroup"],
        &[
            "name",
            "instance_type",
            "desired",
            "min",
            "max",
            "disk_size",
            "release_version",
            "labels",
            "tags",
            "ignore",
        ],
    ),
    (
        &["eks", "access"],
        &["principal", "policy", "namespaces", "name"],
    ),
    (
        &["s3"],
        &[
            "bucket",
            "root_path",
            "force_destroy",
            "noncurrent_days",
            "policy_arns",
            "expected_size_gib",
            "prevent_destroy",
            "tags",
            "ignore",
        ],
    ),
    (
        &["msk"],
        &[
            "name",
            "kafka_version",
            "broker_type",
            "brokers",
            "volume_size",
            "scram",
            "secret_recovery_days",
            "prevent_destroy",
            "tags",
            "ignore",
            "server_properties",
        ],
    ),
    (&["msk", "scram"], &["username", "password"]),
    (
        &["milvus"],
        &[
            "release",
            "namespace",
            "chart_version",
            "chart",
            "sizing",
            "service",
            "attu",
            "ha",
            "wait",
            "timeout",
            "ignore",
            "resources",
            "values",
        ],
    ),
    (
        &["milvus", "resources"],
        &["query_node", "data_node", "index_node", "streaming_node"],
    ),
    (
        &["load_balancer_controller"],
        &[
            "enabled",
            "chart_version",
            "chart",
            "wait",
            "timeout",
            "values",
        ],
    ),
    (&["kubernetes"], &["kubeconfig", "context"]),
];

/// Where `key` goes among the keys of the table at `path` (array indexes
/// left out): its documented place, or after every documented key.
fn rank(path: &[&str], key: &str) -> usize {
    match KEY_ORDER.iter().find(|(p, _)| *p == path) {
        Some((_, keys)) => keys.iter().position(|k| *k == key).unwrap_or(keys.len()),
        None => 0,
    }
}

/// `text`, a stack file, formatted. The stack is validated first: an
/// invalid one gets validate's errors and is not formatted.
pub fn format_stack(path: &str, text: &str) -> Result<String, StackError> {
    crate::parse(path, text)?;
    let problem = |message: String| StackError::Invalid {
        path: path.to_string(),
        src: miette::NamedSource::new(path, text.to_string()),
        problems: vec![Problem::new(0..0, message, "here")],
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| problem(format!("invalid TOML: {}", e.message())))?;
    order_sections(&mut doc);
    order_keys(doc.as_table_mut(), &mut Vec::new());
    align(doc.as_table_mut());
    let out = doc.to_string();
    let same = |t: &str| toml::from_str::<toml::Table>(t).ok();
    if same(text) != same(&out) || same(&out).is_none() {
        return Err(problem(
            "stackplan fmt would change what this file means, so it left it as it is; this is a bug, please report it with the file".into(),
        ));
    }
    Ok(out)
}

/// One level of a table's path: its key, its index in an array of tables,
/// and its place in the file.
#[derive(Debug, Clone)]
struct Level {
    key: String,
    index: usize,
}

/// What the section pass needs of every table with a header.
#[derive(Debug)]
struct Header {
    levels: Vec<Level>,
    /// Its place in the file as parsed (`toml_edit`'s position).
    position: isize,
    visible: bool,
    /// The text before its header; `None`: toml_edit's default (a blank
    /// line, none before the first header).
    prefix: Option<String>,
}

/// Visits every table that has (or could have) a header, in a fixed
/// order, as toml_edit's own display does. `f` gets the path and the table.
fn visit(table: &mut Table, levels: &mut Vec<Level>, f: &mut dyn FnMut(&[Level], &mut Table)) {
    if !table.is_dotted() {
        f(levels, table);
    }
    for (key, item) in table.iter_mut() {
        let key = key.get().to_string();
        match item {
            Item::Table(t) => {
                levels.push(Level { key, index: 0 });
                visit(t, levels, f);
                levels.pop();
            }
            Item::ArrayOfTables(a) => {
                for (index, t) in a.iter_mut().enumerate() {
                    levels.push(Level {
                        key: key.clone(),
                        index,
                    });
                    visit(t, levels, f);
                    levels.pop();
                }
            }
            _ => {}
        }
    }
}

fn prefix_of(table: &Table) -> Option<String> {
    table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .map(str::to_string)
}

/// Whether a header's prefix holds an empty line (before or after its
/// comments): then the header is set apart from what precedes it.
fn has_blank_line(prefix: &str) -> bool {
    prefix
        .split_inclusive('\n')
        .any(|l| l.trim().is_empty() && l.ends_with('\n'))
}

/// Puts the sections in their documented order (a table's sort key is, at
/// each level of its path, the key's documented rank, its index in an
/// array of tables, then where its first table was in the file), keeps the
/// file's leading comment block at the top, and sets every header but the
/// first apart with a blank line.
fn order_sections(doc: &mut DocumentMut) {
    let mut headers = Vec::new();
    let mut last = 0;
    visit(doc.as_table_mut(), &mut Vec::new(), &mut |levels, t| {
        if let Some(p) = t.position() {
            last = p;
        }
        headers.push(Header {
            levels: levels.to_vec(),
            position: last,
            // The root has no header; an implicit table without keys shows none.
            visible: !(levels.is_empty() || (t.is_implicit() && t.get_values().is_empty())),
            prefix: prefix_of(t),
        });
    });
    // The first place in the file of every table under a path prefix.
    let first_at = |levels: &[Level]| {
        headers
            .iter()
            .filter(|h| {
                h.levels.len() >= levels.len()
                    && h.levels
                        .iter()
                        .zip(levels)
                        .all(|(a, b)| a.key == b.key && a.index == b.index)
            })
            .map(|h| h.position)
            .min()
            .unwrap_or(0)
    };
    let sort_key = |h: &Header| -> Vec<(usize, usize, isize)> {
        (0..h.levels.len())
            .map(|i| {
                let parent: Vec<&str> = h.levels[..i].iter().map(|l| l.key.as_str()).collect();
                (
                    rank(&parent, &h.levels[i].key),
                    h.levels[i].index,
                    first_at(&h.levels[..=i]),
                )
            })
            .collect()
    };
    let keys: Vec<_> = headers.iter().map(sort_key).collect();
    let mut order: Vec<usize> = (0..headers.len()).collect();
    order.sort_by(|&a, &b| {
        keys[a]
            .cmp(&keys[b])
            .then(headers[a].position.cmp(&headers[b].position))
    });
    let mut new_position = vec![0isize; headers.len()];
    for (place, &i) in order.iter().enumerate() {
        new_position[i] = isize::try_from(place).unwrap_or(isize::MAX);
    }
    // The header shown first before and after: the file's leading comment
    // block (up to its last blank line) stays at the top of the file.
    let first_before = (0..headers.len())
        .filter(|&i| headers[i].visible)
        .min_by_key(|&i| headers[i].position);
    let first_after = order.iter().copied().find(|&i| headers[i].visible);
    // Every prefix as it shows: the default is a blank line, none first.
    let mut prefixes: Vec<String> = (0..headers.len())
        .map(|i| {
            let default = if Some(i) == first_before { "" } else { "\n" };
            headers[i].prefix.clone().unwrap_or_else(|| default.into())
        })
        .collect();
    if let (Some(before), Some(after)) = (first_before, first_after)
        && before != after
    {
        let (lead, own) = split_leading_block(&prefixes[before]);
        prefixes[before] = own;
        prefixes[after] = format!("{lead}{}", trim_blank_lines(&prefixes[after]));
    }
    for (i, prefix) in prefixes.iter_mut().enumerate() {
        if Some(i) != first_after && headers[i].visible && !has_blank_line(prefix) {
            prefix.insert(0, '\n');
        }
    }
    let mut i = 0;
    visit(doc.as_table_mut(), &mut Vec::new(), &mut |_, t| {
        if i > 0 {
            t.set_position(Some(new_position[i]));
            if headers[i].prefix.as_deref() != Some(prefixes[i].as_str()) {
                t.decor_mut().set_prefix(prefixes[i].clone());
            }
        }
        i += 1;
    });
}

/// `prefix` split into the file's leading block (every line up to and
/// including its last blank line) and the comment that belongs to the
/// header itself.
fn split_leading_block(prefix: &str) -> (String, String) {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    match lines
        .iter()
        .rposition(|l| l.trim().is_empty() && l.ends_with('\n'))
    {
        Some(last_blank) => (
            lines[..=last_blank].concat(),
            lines[last_blank + 1..].concat(),
        ),
        None => (String::new(), prefix.to_string()),
    }
}

fn trim_blank_lines(prefix: &str) -> String {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let first = lines
        .iter()
        .position(|l| !(l.trim().is_empty() && l.ends_with('\n')))
        .unwrap_or(lines.len());
    lines[first..].concat()
}

/// Sorts the `key = value` lines of every table with a documented order.
fn order_keys(table: &mut Table, path: &mut Vec<String>) {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    // Stable: keys of equal rank (all of an undocumented table's) keep
    // the user's order.
    table.sort_values_by(|a: &Key, _: &Item, b: &Key, _: &Item| {
        rank(&names, a.get()).cmp(&rank(&names, b.get()))
    });
    for (key, item) in table.iter_mut() {
        let key = key.get().to_string();
        match item {
            Item::Table(t) if !t.is_dotted() => {
                path.push(key);
                order_keys(t, path);
                path.pop();
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter_mut() {
                    path.push(key.clone());
                    order_keys(t, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// Aligns the `=` of every table's `key = value` lines: one space after
/// the longest key (with its indentation), one after the `=`.
fn align(table: &mut Table) {
    let widths: Vec<(String, usize)> = table
        .iter()
        .filter(|(_, item)| item.is_value())
        .filter_map(|(name, _)| {
            let key = table.key(name)?;
            let indent = key
                .leaf_decor()
                .prefix()
                .and_then(|p| p.as_str())
                .map_or(0, |p| p.rsplit('\n').next().unwrap_or("").chars().count());
            Some((
                name.to_string(),
                indent + key.display_repr().chars().count(),
            ))
        })
        .collect();
    let widest = widths.iter().map(|(_, w)| *w).max().unwrap_or(0);
    for (mut key, item) in table.iter_mut() {
        match item {
            Item::Value(value) => {
                let width = widths
                    .iter()
                    .find(|(name, _)| name == key.get())
                    .map_or(widest, |(_, w)| *w);
                key.leaf_decor_mut()
                    .set_suffix(" ".repeat(widest - width + 1));
                value.decor_mut().set_prefix(" ");
            }
            Item::Table(t) if !t.is_dotted() => align(t),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(align),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format_stack("stack.toml", text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    const MESSY: &str = r#"# A stack written by hand.
# Second line of the file's header.

[network]
private_subnets = ["subnet-0aaa1111", "subnet-0bbb2222"]   # two zones
vpc_id = "vpc-0123456789abcdef0"

# The cluster.
[eks]
version = "1.31"
name = "milvus-minimal"
[eks.addons]
vpc-cni = {}
aws-ebs-csi-driver = {}

[[eks.nodegroup]]
desired = 2
# The node group's name.
name = "workers"
instance_type = "m6i.xlarge"

[stack]
region = "eu-west-1"
name = "milvus-minimal"

[s3]
bucket = "acme-milvus-minimal"
"#;

    #[test]
    fn sections_and_keys_follow_the_documented_order_with_comments_kept() {
        insta::assert_snapshot!(fmt(MESSY));
    }

    #[test]
    fn formatting_twice_changes_nothing_the_second_time() {
        let once = fmt(MESSY);
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn the_shipped_stacks_are_already_formatted() {
        for (name, text) in [
            ("minimal", include_str!("../../../examples/minimal.toml")),
            ("new-vpc", include_str!("../../../examples/new-vpc.toml")),
            ("reference", include_str!("../../../stacks/milvus-eks.toml")),
        ] {
            let out = fmt(text);
            assert_eq!(out, fmt(&out), "{name}: not idempotent");
            similar_asserts(name, text, &out);
        }
    }

    /// The shipped files are written in the documented layout, so fmt
    /// leaves them byte for byte.
    fn similar_asserts(name: &str, before: &str, after: &str) {
        if before != after {
            let diff: Vec<String> = before
                .lines()
                .zip(after.lines())
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("- {a}\n+ {b}"))
                .collect();
            panic!("{name} changes under fmt:\n{}", diff.join("\n"));
        }
    }

    /// An array of tables is a list: its entries never swap, wherever
    /// the sections around them move.
    #[test]
    fn node_groups_keep_their_order() {
        let text = MESSY.replace(
            "[stack]",
            "[[eks.nodegroup]]\nname = \"second\"\ninstance_type = \"m6i.large\"\ndesired = 1\n\n[stack]",
        );
        let out = fmt(&text);
        let first = out.find("\"workers\"").expect("first node group");
        let second = out.find("\"second\"").expect("second node group");
        assert!(first < second, "{out}");
        assert!(out.find("[eks.addons]").expect("addons") > second, "{out}");
    }

    #[test]
    fn an_invalid_stack_is_refused_with_validate_s_errors() {
        let err = format_stack(
            "stack.toml",
            "[stack]\nname = \"x\"\nregon = \"us-west-2\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, StackError::Invalid { .. }), "{err:?}");
        assert!(
            err.problems().iter().any(|p| p.message.contains("regon")),
            "{:?}",
            err.problems()
        );
    }
}
