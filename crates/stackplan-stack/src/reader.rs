//! A typed walk over the spanned TOML tree that collects every problem
//! instead of stopping at the first, so one run reports all of them.

use std::collections::BTreeSet;
use std::ops::Range;

use stackplan_core::Value;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::Problem;

pub(crate) type Sp<T> = Spanned<T>;

/// Collects the problems found while reading.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) list: Vec<Problem>,
    /// Spans of values an error must not show (plaintext secrets, the
    /// values of unknown keys); `snippet::shown_source` masks them.
    pub(crate) redact: Vec<Range<usize>>,
}

impl Problems {
    pub(crate) fn push(&mut self, p: Problem) {
        self.list.push(p);
    }

    pub(crate) fn at(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        label: &str,
        hint: &str,
    ) {
        let mut p = Problem::new(span, msg, label);
        if !hint.is_empty() {
            p = p.hint(hint);
        }
        self.push(p);
    }
}

fn article(ty: &str) -> &'static str {
    match ty {
        "integer" | "array" => "an",
        _ => "a",
    }
}

/// One TOML table being read: records every key the reader asks for, so
/// that `finish` can name the keys nobody asked for as unknown.
pub(crate) struct Table<'a, 'i> {
    /// The dotted path shown in messages (`eks.nodegroup[1]`).
    pub(crate) path: String,
    pub(crate) span: Range<usize>,
    map: &'a DeTable<'i>,
    known: BTreeSet<&'static str>,
}

impl<'a, 'i> Table<'a, 'i> {
    pub(crate) fn new(path: impl Into<String>, span: Range<usize>, map: &'a DeTable<'i>) -> Self {
        Table {
            path: path.into(),
            span,
            map,
            known: BTreeSet::new(),
        }
    }

    pub(crate) fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some()
    }

    /// The span of a key's value, or of the table when the key is absent.
    pub(crate) fn span_of(&self, key: &str) -> Range<usize> {
        self.map
            .get(key)
            .map(|v| v.span())
            .unwrap_or(self.span.clone())
    }

    pub(crate) fn raw(&mut self, key: &'static str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.known.insert(key);
        self.map.get(key)
    }

    fn wrong_type(
        &self,
        p: &mut Problems,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        want: &str,
        hint: &str,
    ) {
        let found = v.get_ref().type_str();
        p.at(
            v.span(),
            format!(
                "`{}` must be {} {want}, found {} {found}",
                self.field(key),
                article(want),
                article(found)
            ),
            &format!("expected {want}"),
            hint,
        );
    }

    fn missing(&self, p: &mut Problems, key: &str, hint: &str) {
        let section = if self.path.is_empty() {
            "the file".to_string()
        } else {
            format!("[{}]", self.path)
        };
        p.at(
            self.span.clone(),
            format!("missing required key `{}`", self.field(key)),
            &format!("{section} needs `{key}`"),
            hint,
        );
    }

    pub(crate) fn string(&mut self, p: &mut Problems, key: &'static str) -> Option<Sp<String>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
            _ => {
                self.wrong_type(p, key, v, "string", "quote the value: key = \"...\"");
                None
            }
        }
    }

    pub(crate) fn req_string(
        &mut self,
        p: &mut Problems,
        key: &'static str,
        hint: &str,
    ) -> Option<Sp<String>> {
        if !self.has(key) {
            self.raw(key);
            self.missing(p, key, hint);
            return None;
        }
        self.string(p, key)
    }

    pub(crate) fn integer(&mut self, p: &mut Problems, key: &'static str) -> Option<Sp<i64>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => {
                match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Some(Spanned::new(v.span(), n)),
                    Err(_) => {
                        p.at(
                            v.span(),
                            format!("`{}` is out of range", self.field(key)),
                            "too large",
                            "",
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(p, key, v, "integer", "write a whole number without quotes");
                None
            }
        }
    }

    pub(crate) fn req_integer(
        &mut self,
        p: &mut Problems,
        key: &'static str,
        hint: &str,
    ) -> Option<Sp<i64>> {
        if !self.has(key) {
            self.raw(key);
            self.missing(p, key, hint);
            return None;
        }
        self.integer(p, key)
    }

    pub(crate) fn boolean(&mut self, p: &mut Problems, key: &'static str) -> Option<Sp<bool>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Spanned::new(v.span(), *b)),
            _ => {
                self.wrong_type(p, key, v, "boolean", "write true or false without quotes");
                None
            }
        }
    }

    /// An optional boolean with its default.
    pub(crate) fn flag(&mut self, p: &mut Problems, key: &'static str, default: bool) -> bool {
        self.boolean(p, key)
            .map(Spanned::into_inner)
            .unwrap_or(default)
    }

    pub(crate) fn table(&mut self, p: &mut Problems, key: &'static str) -> Option<Table<'a, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(self.field(key), v.span(), t)),
            _ => {
                self.wrong_type(
                    p,
                    key,
                    v,
                    "table",
                    &format!(
                        "write it as a [{}] section or an inline table {{ ... }}",
                        self.field(key)
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn array(
        &mut self,
        p: &mut Problems,
        key: &'static str,
    ) -> Option<(Range<usize>, &'a DeArray<'i>)> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Array(a) => Some((v.span(), a)),
            _ => {
                self.wrong_type(
                    p,
                    key,
                    v,
                    "array",
                    "write a list in brackets: [\"a\", \"b\"]",
                );
                None
            }
        }
    }

    /// An array of tables (`[[eks.nodegroup]]`), each read as a table.
    pub(crate) fn tables(&mut self, p: &mut Problems, key: &'static str) -> Vec<Table<'a, 'i>> {
        let Some((_, arr)) = self.array(p, key) else {
            return Vec::new();
        };
        let base = self.field(key);
        arr.iter()
            .enumerate()
            .filter_map(|(i, v)| match v.get_ref() {
                DeValue::Table(t) => Some(Table::new(format!("{base}[{i}]"), v.span(), t)),
                other => {
                    p.at(
                        v.span(),
                        format!(
                            "`{base}[{i}]` must be a table, found {} {}",
                            article(other.type_str()),
                            other.type_str()
                        ),
                        "expected a table",
                        &format!("write each entry as a [[{base}]] section"),
                    );
                    None
                }
            })
            .collect()
    }

    pub(crate) fn string_list(
        &mut self,
        p: &mut Problems,
        key: &'static str,
    ) -> Option<Vec<Sp<String>>> {
        let (_, arr) = self.array(p, key)?;
        let field = self.field(key);
        let mut out = Vec::new();
        for (i, v) in arr.iter().enumerate() {
            match v.get_ref() {
                DeValue::String(s) => out.push(Spanned::new(v.span(), s.to_string())),
                other => p.at(
                    v.span(),
                    format!(
                        "`{field}[{i}]` must be a string, found {} {}",
                        article(other.type_str()),
                        other.type_str()
                    ),
                    "expected a string",
                    "quote each item",
                ),
            }
        }
        Some(out)
    }

    /// A table of string values (labels, tags). Booleans and numbers are
    /// accepted and written as their TOML text, since Kafka properties and
    /// Kubernetes labels are strings in the end.
    pub(crate) fn string_map(
        &mut self,
        p: &mut Problems,
        key: &'static str,
    ) -> Vec<(Sp<String>, Sp<String>)> {
        let Some(t) = self.table(p, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.map.iter() {
            let text = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.as_str().replace('_', ""),
                DeValue::Float(f) => f.as_str().to_string(),
                DeValue::Boolean(b) => b.to_string(),
                other => {
                    p.at(
                        v.span(),
                        format!(
                            "`{}.{}` must be a string, found {} {}",
                            t.path,
                            k.get_ref(),
                            article(other.type_str()),
                            other.type_str()
                        ),
                        "expected a string",
                        "values of this table are plain strings",
                    );
                    continue;
                }
            };
            out.push((
                Spanned::new(k.span(), k.get_ref().to_string()),
                Spanned::new(v.span(), text),
            ));
        }
        out
    }

    /// Every key of the table, for tables whose keys are names (add-ons).
    pub(crate) fn entries(
        &self,
    ) -> impl Iterator<
        Item = (
            &'a Spanned<std::borrow::Cow<'i, str>>,
            &'a Spanned<DeValue<'i>>,
        ),
    > {
        self.map.iter()
    }

    /// Reports every key nobody asked for, suggesting the nearest known one.
    /// Its value is masked in the error: a misspelt or misplaced key may
    /// hold a secret the parser would otherwise have refused.
    pub(crate) fn finish(self, p: &mut Problems) {
        for (k, v) in self.map.iter() {
            let key = k.get_ref().as_ref();
            if self.known.contains(key) {
                continue;
            }
            crate::snippet::strings(v, &mut p.redact);
            let nearest = self
                .known
                .iter()
                .map(|cand| (strsim::jaro_winkler(key, cand), *cand))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let section = if self.path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{}]", self.path)
            };
            let hint = match nearest {
                Some((_, cand)) => format!("did you mean `{cand}`?"),
                None => format!(
                    "valid keys {section}: {}",
                    self.known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            p.at(
                k.span(),
                format!("unknown key `{key}` {section}"),
                "unknown key",
                &hint,
            );
        }
    }
}

/// Converts free-form TOML (`[milvus.values]`) into a value, keeping every
/// type as it is; datetimes become their TOML text.
pub(crate) fn to_value(v: &DeValue<'_>) -> Value {
    match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .map(Value::Int)
            .unwrap_or_else(|_| Value::String(i.as_str().to_string())),
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or(Value::Null),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(a) => Value::List(a.iter().map(|x| to_value(x.get_ref())).collect()),
        DeValue::Table(t) => Value::Map(
            t.iter()
                .map(|(k, x)| (k.get_ref().to_string(), to_value(x.get_ref())))
                .collect(),
        ),
    }
}
