//! What the plan formatters show, computed once: per resource its symbol,
//! headline and reason, and per field the operation and the values as
//! people read them (`(known after apply)`, `(sensitive)`), with unified
//! diffs for large documents. Text and Markdown format this view; neither
//! looks at values itself, so a new format touches no diff code.

use stackplan_core::schema::Normalize;
use stackplan_core::{
    Action, Change, FieldDiff, KindSchema, Plan, PlanSummary, ReplaceOrder, ResourceAddr, Value,
};

use crate::docdiff::{DocDiff, DocFormat, DocLine, display_json, document_text};

/// Values longer than this inline are shown as a document diff.
const INLINE_LIMIT: usize = 72;
/// Context lines around each change in a document diff.
const DOC_CONTEXT: usize = 2;

/// The symbol a resource is marked with, as in Terraform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    Read,
    Create,
    Update,
    Replace(ReplaceOrder),
    Delete,
    /// Drift entries: changed outside stackplan.
    Drifted,
}

impl Symbol {
    pub fn text(self) -> &'static str {
        match self {
            Symbol::Read => "<=",
            Symbol::Create => "+",
            Symbol::Update | Symbol::Drifted => "~",
            Symbol::Replace(ReplaceOrder::DestroyBeforeCreate) => "-/+",
            Symbol::Replace(ReplaceOrder::CreateBeforeDestroy) => "+/-",
            Symbol::Delete => "-",
        }
    }
}

/// What happens to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Add,
    Remove,
    Change,
}

impl FieldOp {
    pub fn text(self) -> &'static str {
        match self {
            FieldOp::Add => "+",
            FieldOp::Remove => "-",
            FieldOp::Change => "~",
        }
    }
}

/// One field as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLine {
    pub op: FieldOp,
    pub path: String,
    pub before: String,
    pub after: String,
    pub force_new: bool,
    /// For large documents, the line diff shown instead of the values.
    pub document: Option<DocDiff>,
}

/// One resource as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceView {
    pub addr: ResourceAddr,
    pub symbol: Symbol,
    /// `create`, `update`, ... (the action's stable name), or `drift`.
    pub action: &'static str,
    /// `will be created`, `must be replaced (create before destroy)`, ...
    pub headline: String,
    pub reason: Option<String>,
    pub fields: Vec<FieldLine>,
}

/// A whole plan as shown: drift apart from changes, no-ops left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    pub stack: String,
    /// Said first when the plan covers only part of the stack
    /// (`--target`, `--exclude`).
    pub partial: Option<String>,
    /// `address: path` of each field the stack says something else owns.
    pub ignored: Vec<String>,
    pub summary: PlanSummary,
    pub drift: Vec<ResourceView>,
    pub changes: Vec<ResourceView>,
}

/// A value inline: strings quoted, unknowns and secrets as markers.
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

fn map_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        serde_json::Value::String(k.to_string()).to_string()
    }
}

fn is_document(v: &Value) -> bool {
    match v {
        Value::Map(m) => {
            m.values()
                .any(|x| matches!(x, Value::Map(_) | Value::List(_)))
                || inline(v).len() > INLINE_LIMIT
        }
        Value::List(items) => {
            items.iter().any(|x| matches!(x, Value::Map(_))) || inline(v).len() > INLINE_LIMIT
        }
        _ => false,
    }
}

fn field_line(addr: &ResourceAddr, d: &FieldDiff) -> FieldLine {
    let op = match (&d.before, &d.after) {
        (Value::Null, _) => FieldOp::Add,
        (_, Value::Null) => FieldOp::Remove,
        _ => FieldOp::Change,
    };
    let shown = |v: &Value| {
        if d.sensitive && *v != Value::Null {
            "(sensitive)".to_string()
        } else {
            inline(v)
        }
    };
    let document = (!d.sensitive && (is_document(&d.before) || is_document(&d.after))).then(|| {
        // A whole new or removed document has one hunk that says nothing.
        let whole = op != FieldOp::Change;
        let format = match KindSchema::for_kind(addr.kind).attr(d.attr()).normalize {
            Normalize::PolicyDocument | Normalize::JsonDocument => DocFormat::Json,
            _ => DocFormat::Yaml,
        };
        let mut diff = DocDiff::compute(
            &document_text(&d.before, format),
            &document_text(&d.after, format),
            DOC_CONTEXT,
        );
        if whole {
            diff.lines.retain(|l| !matches!(l, DocLine::Hunk(_)));
        }
        diff
    });
    FieldLine {
        op,
        path: d.path.clone(),
        before: shown(&d.before),
        after: shown(&d.after),
        force_new: d.force_new,
        document,
    }
}

fn change_view(c: &Change) -> ResourceView {
    let (symbol, headline) = match &c.action {
        Action::Read => (Symbol::Read, "will be read".to_string()),
        Action::Create => (Symbol::Create, "will be created".to_string()),
        Action::Update => (Symbol::Update, "will be updated in place".to_string()),
        Action::Replace { order, .. } => (
            Symbol::Replace(*order),
            format!("must be replaced ({order})"),
        ),
        Action::Delete => (Symbol::Delete, "will be destroyed".to_string()),
        Action::NoOp => (Symbol::Update, "is unchanged".to_string()),
    };
    let fields = if c.action == Action::Read {
        Vec::new()
    } else {
        c.field_diffs
            .iter()
            .map(|d| field_line(&c.addr, d))
            .collect()
    };
    ResourceView {
        addr: c.addr.clone(),
        symbol,
        action: c.action.name(),
        headline,
        reason: c.reason.clone(),
        fields,
    }
}

/// The delete of an old copy an earlier replacement left in state.
fn deposed_view(c: &Change) -> ResourceView {
    let mut view = change_view(c);
    view.headline = format!(
        "(old copy `{}`) will be destroyed",
        c.physical_id.as_deref().unwrap_or("?")
    );
    view
}

fn drift_view(c: &Change) -> Option<ResourceView> {
    let drift = c.drift.as_ref()?;
    if drift.deleted {
        return Some(ResourceView {
            addr: c.addr.clone(),
            symbol: Symbol::Delete,
            action: "drift",
            headline: "was deleted outside stackplan".into(),
            reason: None,
            fields: Vec::new(),
        });
    }
    if drift.fields.is_empty() {
        return None;
    }
    Some(ResourceView {
        addr: c.addr.clone(),
        symbol: Symbol::Drifted,
        action: "drift",
        headline: "changed outside stackplan".into(),
        reason: None,
        fields: drift
            .fields
            .iter()
            .map(|d| field_line(&c.addr, d))
            .collect(),
    })
}

impl PlanView {
    pub fn new(plan: &Plan) -> PlanView {
        PlanView {
            stack: plan.stack.clone(),
            partial: plan.options.selection.describe(),
            ignored: plan.ignored.clone(),
            summary: plan.summary(),
            drift: plan.changes.iter().filter_map(drift_view).collect(),
            changes: plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(change_view)
                .chain(plan.deposed.iter().map(deposed_view))
                .collect(),
        }
    }
}

/// `Plan: 1 to read, 2 to create, ...`, naming only non-zero counts.
pub fn summary_line(s: &PlanSummary) -> String {
    let parts: Vec<String> = [
        (s.read, "to read"),
        (s.create, "to create"),
        (s.update, "to update"),
        (s.replace, "to replace"),
        (s.delete, "to delete"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no changes".to_string()
    } else {
        parts.join(", ")
    }
}
