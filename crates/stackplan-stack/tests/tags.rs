//! Tags are checked at validate against AWS's tag rules (keys of 1 to 128
//! characters, values up to 256, letters, numbers, spaces and the symbols
//! `_ . : / = + - @`, no `aws:` prefix), so a tag AWS refuses fails before
//! anything is created rather than halfway through an apply.

use miette::{GraphicalReportHandler, GraphicalTheme};
use stackplan_stack::{StackError, parse};

const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

/// The reference stack with `tags` (a TOML inline table's body) in
/// `[stack]`, on line 9.
fn with_tags(tags: &str) -> String {
    let from = "region = \"us-west-2\"\n";
    assert!(REFERENCE.contains(from));
    REFERENCE.replacen(from, &format!("{from}tags   = {{ {tags} }}\n"), 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn report(err: &StackError) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(300)
        .render_report(&mut out, err)
        .unwrap();
    out
}

/// `tags` is refused with exactly one problem, on the tags line, whose
/// message is `message` and whose label is `label`; the report shows no
/// character AWS refuses raw.
#[track_caller]
fn refused(tags: &str, message: &str, label: &str) {
    let text = with_tags(tags);
    let err = parse("stack.toml", &text).expect_err(tags);
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(p.message, message);
    assert_eq!(p.label, label);
    assert_eq!(line_of(&text, p.span.offset()), 9);
    assert!(
        p.hint
            .as_deref()
            .is_some_and(|h| h.contains("_ . : / = + - @")),
        "{:?}",
        p.hint
    );
    let shown = report(&err);
    assert!(shown.contains("stack.toml:9:"), "{shown}");
    for c in ['\u{1b}', '\u{202e}'] {
        assert!(!shown.contains(c), "{c:?} shown raw:\n{shown}");
    }
}

#[test]
fn a_newline_in_a_tag_value_is_refused_naming_the_character() {
    refused(
        "team = \"data\\nplatform\"",
        "invalid value of tag `team` in `stack.tags`: the value has U+000A (line feed, a newline), which AWS does not allow in tags",
        "invalid tag value",
    );
}

#[test]
fn an_escape_character_in_a_tag_key_is_refused_and_shown_escaped() {
    refused(
        "\"team\\u001B[31m\" = \"data\"",
        "invalid tag key `team\\u{001B}[31m` in `stack.tags`: the key has U+001B (escape), which AWS does not allow in tags",
        "invalid tag key",
    );
}

#[test]
fn a_right_to_left_override_written_raw_is_refused_and_never_printed_raw() {
    refused(
        "owner = \"alice\u{202E}cba\"",
        "invalid value of tag `owner` in `stack.tags`: the value has U+202E (right-to-left override), which AWS does not allow in tags",
        "invalid tag value",
    );
    refused(
        "\"own\u{202E}er\" = \"alice\"",
        "invalid tag key `own\\u{202E}er` in `stack.tags`: the key has U+202E (right-to-left override), which AWS does not allow in tags",
        "invalid tag key",
    );
}

#[test]
fn a_tag_key_of_129_characters_is_refused_and_128_taken() {
    let long = "k".repeat(129);
    refused(
        &format!("{long} = \"x\""),
        &format!(
            "invalid tag key `{}...` in `stack.tags`: the key is 129 characters long; AWS takes 1 to 128",
            "k".repeat(40)
        ),
        "invalid tag key",
    );
    // Characters, not bytes: 128 two-byte letters are a valid key.
    let ok = with_tags(&format!(
        "\"{}\" = \"{}\"",
        "é".repeat(128),
        "ü".repeat(256)
    ));
    parse("stack.toml", &ok).unwrap_or_else(|e| panic!("{:#?}", e.problems()));
    refused(
        &format!("team = \"{}\"", "v".repeat(257)),
        "invalid value of tag `team` in `stack.tags`: the value is 257 characters long; AWS takes 0 to 256",
        "invalid tag value",
    );
}

#[test]
fn the_aws_prefix_is_refused_on_keys_and_values_in_any_case() {
    refused(
        "\"aws:team\" = \"data\"",
        "invalid tag key `aws:team` in `stack.tags`: the key starts with `aws:`, a prefix AWS reserves for its own tags",
        "invalid tag key",
    );
    refused(
        "\"AWS:team\" = \"data\"",
        "invalid tag key `AWS:team` in `stack.tags`: the key starts with `AWS:`, a prefix AWS reserves for its own tags",
        "invalid tag key",
    );
    refused(
        "team = \"Aws:data\"",
        "invalid value of tag `team` in `stack.tags`: the value starts with `Aws:`, a prefix AWS reserves for its own tags",
        "invalid tag value",
    );
}

#[test]
fn tags_of_every_section_are_checked() {
    let text = REFERENCE
        .replace(
            "labels        = { role = \"milvus\" }",
            "labels        = { role = \"milvus\" }\ntags          = { \"a\\tb\" = \"x\" }",
        )
        .replace(
            "root_path = \"milvus\"",
            "root_path = \"milvus\"\ntags = { team = \"x\\u0000\" }",
        );
    let err = parse("stack.toml", &text).unwrap_err();
    let messages: Vec<&str> = err.problems().iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "invalid tag key `a\\u{0009}b` in `eks.nodegroup[0].tags`: the key has U+0009 (tab), which AWS does not allow in tags",
            "invalid value of tag `team` in `s3.tags`: the value has U+0000 (null), which AWS does not allow in tags",
        ]
    );
}

#[test]
fn letters_numbers_spaces_and_the_allowed_symbols_are_taken() {
    let text = with_tags(
        "\"Cost Center\" = \"1234\", \"kubernetes.io/cluster/x\" = \"owned\", \"team:a=b+c-d_e@f\" = \"\", \"名前\" = \"データ\u{3000}基盤\", empty = \"\"",
    );
    let stack = parse("stack.toml", &text).unwrap_or_else(|e| panic!("{:#?}", e.problems()));
    assert_eq!(stack.tags["Cost Center"], "1234");
    assert_eq!(stack.tags["名前"], "データ\u{3000}基盤");
}
