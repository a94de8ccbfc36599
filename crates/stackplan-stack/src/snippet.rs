//! What an error may show of the stack file.
//!
//! An error quotes the lines around each problem. Before that text goes
//! into the error, every string under a secret-looking key
//! (`secrets::looks_secret`, whether it holds or names a secret) and every
//! string under a key the parser did not recognise is masked, so a
//! plaintext secret never leaves the parser, even one under a misspelt or
//! misplaced key, or in a line the TOML parser could not read (a line scan
//! finds `KEY = "...` with a secret-looking KEY). Characters a terminal would act on (controls such as ESC)
//! or that reorder text (bidirectional controls such as U+202E) are
//! replaced too. Every replacement keeps the byte length, so the problems'
//! spans still point at the same places.

use std::ops::Range;

use stackplan_core::SecretSource;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::{Problem, secrets};

/// The file's text as errors may show it. `extra` are spans to mask
/// besides the secret-looking keys' values (the unknown keys' values).
pub(crate) fn shown_source(src: &str, extra: &[Range<usize>]) -> String {
    let mut spans = extra.to_vec();
    let (doc, _) = DeTable::parse_recoverable(src);
    secret_values(doc.get_ref(), &mut spans);
    // What the tree lost to a syntax error (an unterminated string).
    secret_assignments(src, &mut spans);
    let mut text = src.to_string();
    for r in spans {
        if let Some(slice) = text.get(r.clone()) {
            let masked = mask(slice);
            text.replace_range(r, &masked);
        }
    }
    text.chars().map(neutral).collect()
}

/// A problem as errors may show it: controls and bidirectional controls
/// in its texts (a key or value it quotes) written as escapes.
pub(crate) fn shown_problem(mut p: Problem) -> Problem {
    p.message = escape(&p.message);
    p.label = escape(&p.label);
    p.hint = p.hint.map(|h| escape(&h));
    p
}

/// Whether a character would act on a terminal or reorder the text around
/// it rather than show as itself: C0 and C1 controls other than tab and
/// line ends, and the Unicode bidirectional controls (the "Trojan Source"
/// characters, CVE-2021-42574).
pub(crate) fn is_unsafe(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as an escape (`\u{202E}`).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// An unsafe character replaced by a visible one of the same UTF-8 length.
fn neutral(c: char) -> char {
    if !is_unsafe(c) {
        return c;
    }
    match c.len_utf8() {
        1 => '?',
        2 => '\u{00BF}',
        _ => '\u{FFFD}',
    }
}

/// A value's text with its content starred out, quotes and line ends kept,
/// byte for byte as long.
fn mask(slice: &str) -> String {
    let delim = ["\"\"\"", "'''", "\"", "'"]
        .iter()
        .find(|d| slice.len() >= 2 * d.len() && slice.starts_with(**d) && slice.ends_with(**d))
        .map_or(0, |d| d.len());
    let (head, body, tail) = (
        &slice[..delim],
        &slice[delim..slice.len() - delim],
        &slice[slice.len() - delim..],
    );
    let mut out = String::with_capacity(slice.len());
    out.push_str(head);
    for c in body.chars() {
        if matches!(c, '\n' | '\r') {
            out.push(c);
        } else {
            out.extend(std::iter::repeat_n('*', c.len_utf8()));
        }
    }
    out.push_str(tail);
    out
}

/// The spans of every non-empty string in a value (an unknown key's).
pub(crate) fn strings(v: &Spanned<DeValue<'_>>, out: &mut Vec<Range<usize>>) {
    match v.get_ref() {
        DeValue::String(s) if !s.is_empty() => out.push(v.span()),
        DeValue::Array(a) => a.iter().for_each(|x| strings(x, out)),
        DeValue::Table(t) => t.iter().for_each(|(_, x)| strings(x, out)),
        _ => {}
    }
}

/// The spans of the strings under a secret-looking key that are not a
/// valid secret reference.
fn plaintexts(v: &Spanned<DeValue<'_>>, out: &mut Vec<Range<usize>>) {
    match v.get_ref() {
        DeValue::String(s) if !s.is_empty() && s.parse::<SecretSource>().is_err() => {
            out.push(v.span())
        }
        DeValue::Array(a) => a.iter().for_each(|x| plaintexts(x, out)),
        DeValue::Table(t) => t.iter().for_each(|(_, x)| plaintexts(x, out)),
        _ => {}
    }
}

/// Walks the whole file for values under secret-looking keys, and for the
/// value of a Kubernetes env var whose name is one (`{ name =
/// "API_TOKEN", value = "..." }`).
fn secret_values(t: &DeTable<'_>, out: &mut Vec<Range<usize>>) {
    if let Some(value) = env_var_value(t, secrets::looks_secret) {
        plaintexts(value, out);
    }
    for (k, v) in t.iter() {
        if secrets::looks_secret(k.get_ref()) {
            plaintexts(v, out);
            continue;
        }
        match v.get_ref() {
            DeValue::Table(inner) => secret_values(inner, out),
            DeValue::Array(a) => {
                for x in a.iter() {
                    if let DeValue::Table(inner) = x.get_ref() {
                        secret_values(inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A line-by-line scan for `KEY = "..."` with a secret-looking KEY (bare,
/// dotted or quoted), for text the TOML parser could not read: the string
/// up to its closing quote, or to the end of the line when there is none,
/// unless it is a valid secret reference.
fn secret_assignments(src: &str, out: &mut Vec<Range<usize>>) {
    let mut line_start = 0;
    for line in src.split_inclusive('\n') {
        let bytes = line.as_bytes();
        for (eq, _) in line.match_indices('=') {
            let before = line[..eq].trim_end();
            let key = if let Some(inner) = before.strip_suffix('"') {
                inner.rsplit('"').next().unwrap_or_default()
            } else {
                let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
                let start = before
                    .char_indices()
                    .rev()
                    .find(|(_, c)| !bare(*c))
                    .map_or(0, |(i, c)| i + c.len_utf8());
                &before[start..]
            };
            if key.is_empty() || !secrets::looks_secret(key) {
                continue;
            }
            let after = &line[eq + 1..];
            let open = eq + 1 + (after.len() - after.trim_start().len());
            let Some(&quote) = bytes.get(open).filter(|q| matches!(q, b'"' | b'\'')) else {
                continue;
            };
            let body_start = open + 1;
            let mut end = line.trim_end_matches(['\n', '\r']).len();
            let mut i = body_start;
            while i < end {
                match bytes[i] {
                    b'\\' if quote == b'"' => i += 1,
                    q if q == quote => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let body = &line[body_start..end.max(body_start)];
            let body = body.strip_suffix(quote as char).unwrap_or(body);
            if body.is_empty() || body.parse::<SecretSource>().is_ok() {
                continue;
            }
            out.push(line_start + open..line_start + end);
        }
        line_start += line.len();
    }
}

/// The `value` of a table shaped as a Kubernetes env var (`{ name, value
/// }`) whose `name` is a key `secret` takes for one.
pub(crate) fn env_var_value<'a, 'i>(
    t: &'a DeTable<'i>,
    secret: fn(&str) -> bool,
) -> Option<&'a Spanned<DeValue<'i>>> {
    let name = t.get("name")?;
    let DeValue::String(name) = name.get_ref() else {
        return None;
    };
    if !secret(name) {
        return None;
    }
    t.get("value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_quotes_line_ends_and_byte_length() {
        for (given, want) in [
            ("\"hunter2\"", "\"*******\""),
            ("'hunter2'", "'*******'"),
            ("\"\"\"a\nb\"\"\"", "\"\"\"*\n*\"\"\""),
            ("\"pä\"", "\"***\""),
            ("42", "**"),
        ] {
            let got = mask(given);
            assert_eq!(got, want);
            assert_eq!(got.len(), given.len());
        }
    }

    #[test]
    fn shown_source_masks_secret_looking_keys_but_not_references() {
        let src = "[a]\nclientSecret = \"s3cr3t\"\nsecretName = \"milvus-tls\"\npassword = \"env:PW\"\nlevel = \"info\"\nenv = [{ name = \"API_TOKEN\", value = \"t0k\" }]\n";
        let shown = shown_source(src, &[]);
        assert_eq!(shown.len(), src.len());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("milvus-tls"), "{shown}");
        assert!(!shown.contains("t0k"), "{shown}");
        assert!(shown.contains("env:PW"), "{shown}");
        assert!(shown.contains("\"info\""), "{shown}");
    }

    #[test]
    fn shown_source_masks_secrets_the_toml_parser_could_not_read() {
        for src in [
            "scram = { username = \"u\", password = \"hunter2 }\nx = 1\n",
            "[a]\n\"api.key\" = 'hunter2\nb = \"ok\"\n",
            "a.client_secret = \"hunter2\" oops\n",
        ] {
            let shown = shown_source(src, &[]);
            assert_eq!(shown.len(), src.len());
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let src = "x = { password = \"env:PW\", y = \"a=b\" \n";
        assert_eq!(shown_source(src, &[]), src);
        // A key ending in a multi-byte character (found by no_panic.rs).
        assert_eq!(shown_source("ⴧ=", &[]), "ⴧ=");
    }

    #[test]
    fn shown_source_neutralises_terminal_and_bidi_controls() {
        let src = "a = \"x\u{202E}y\"\nb = \"\u{1b}[31m\"\n";
        let shown = shown_source(src, &[]);
        assert_eq!(shown.len(), src.len());
        assert!(!shown.chars().any(is_unsafe), "{shown:?}");
        assert_eq!(escape("k\u{202E}\u{1b}"), "k\\u{202E}\\u{001B}");
    }
}
