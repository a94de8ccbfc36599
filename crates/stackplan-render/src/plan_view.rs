//! What the plan formatters show, computed once: per resource its symbol,
//! headline and reason, and per field the operation and the values as
//! people read them (`(known after apply)`, `(sensitive)`), with unified
//! diffs for large documents. Text and Markdown format this view; neither
//! looks at values itself, so a new format touches no diff code.

use stackplan_core::{
    Action, Change, FieldDiff, Plan, PlanSummary, ReplaceOrder, ResourceAddr, Value,
};

use crate::docdiff::{DocDiff, DocLine};
pub use crate::notation::inline;
use crate::notation::{INLINE_WIDTH, document_text, fits};

/// How much of each resource a rendering shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Everything, except published documents stackplan owns (the load
    /// balancer controller's IAM policy, trust policies) that are created
    /// or deleted whole: those by name and length.
    #[default]
    Short,
    /// Every value in full (`--full`).
    Full,
    /// One line per resource (`--compact`).
    Compact,
}

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
    /// For values too long for one line, the lines shown instead: the
    /// whole value (`Added` or `Removed` lines) when it is new or gone,
    /// else a line diff.
    pub document: Option<DocDiff>,
    /// The name of the published document the field holds, when it holds
    /// one (see `Change::published`).
    pub published: Option<String>,
}

impl FieldLine {
    /// True when the value is shown as lines of its own: a new or removed
    /// document whole, or a document's line diff.
    pub fn is_block(&self) -> bool {
        self.document.is_some()
    }

    /// The published document's name and length, when `detail` shows it
    /// instead of the text: created or removed whole, not `--full`.
    pub fn collapsed(&self, detail: Detail) -> Option<String> {
        let name = self.published.as_ref()?;
        let doc = self.document.as_ref()?;
        if detail == Detail::Full || self.op == FieldOp::Change {
            return None;
        }
        Some(format!(
            "{name} ({} lines, shown with --full)",
            doc.lines.len()
        ))
    }
}

/// The fields shown one by one, and the paths of new fields whose value
/// only apply learns, which a short rendering names together on one line
/// (`+ arn, id = (known after apply)`): every output of a new resource is
/// unknown, and a line each says nothing more. [`Detail::Full`] groups
/// none.
pub fn group_unknown(fields: &[FieldLine], detail: Detail) -> (Vec<&FieldLine>, Vec<&str>) {
    let mut shown = Vec::new();
    let mut unknown = Vec::new();
    for f in fields {
        if detail != Detail::Full
            && f.op == FieldOp::Add
            && f.document.is_none()
            && f.after == UNKNOWN
            && !f.force_new
        {
            unknown.push(f.path.as_str());
        } else {
            shown.push(f);
        }
    }
    // One alone is clearer on its own line.
    if unknown.len() == 1 {
        return (fields.iter().collect(), Vec::new());
    }
    (shown, unknown)
}

/// `(known after apply)`, as every format writes it.
pub const UNKNOWN: &str = "(known after apply)";

/// One resource as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceView {
    pub addr: ResourceAddr,
    pub symbol: Symbol,
    /// `create`, `update`, ... (the action's stable name), or `drift`.
    pub action: &'static str,
    /// `will be created`, `must be replaced (create before destroy)`, ...
    pub headline: String,
    /// For one line: `create`, `take over`, `update`, `replace`, ...
    pub verb: &'static str,
    pub reason: Option<String>,
    pub fields: Vec<FieldLine>,
    /// For a Helm release: the Kubernetes objects the change alters.
    pub objects: Vec<stackplan_core::ManifestChange>,
}

impl ResourceView {
    /// The paths of the fields that change (all of them for a create or a
    /// delete), for the one-line and table forms.
    pub fn changed_paths(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.path.as_str()).collect()
    }

    /// `values.queryNode.replicas, values.proxy.replicas and 3 more`: the
    /// first `n` changed paths, for an update, a replacement or drift;
    /// `None` for other actions, where every field is new or gone.
    pub fn paths_summary(&self, n: usize) -> Option<String> {
        // A take-over's create sets fields as new; drift names its paths.
        if !matches!(self.action, "update" | "replace" | "drift") || self.fields.is_empty() {
            return None;
        }
        let paths = self.changed_paths();
        let mut s = paths.iter().take(n).copied().collect::<Vec<_>>().join(", ");
        if paths.len() > n {
            s.push_str(&format!(" and {} more", paths.len() - n));
        }
        Some(s)
    }
}

/// A whole plan as shown: drift apart from changes, no-ops left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    pub stack: String,
    /// Where the plan points, as `(label, value)` lines: the AWS account
    /// and caller, the region, the state, the cluster. Only what the plan
    /// recorded.
    pub target: Vec<(&'static str, String)>,
    /// Said first when the plan covers only part of the stack
    /// (`--target`, `--exclude`).
    pub partial: Option<String>,
    /// `address: path` of each field the stack says something else owns.
    pub ignored: Vec<String>,
    pub summary: PlanSummary,
    pub drift: Vec<ResourceView>,
    pub changes: Vec<ResourceView>,
}

fn is_document(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::List(_)) && !fits(v, INLINE_WIDTH)
}

fn field_line(d: &FieldDiff, published: Option<&String>) -> FieldLine {
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
        let mut diff = DocDiff::compute(
            &document_text(&d.before),
            &document_text(&d.after),
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
        published: published.cloned(),
    }
}

fn change_view(c: &Change) -> ResourceView {
    let (symbol, headline, verb) = match &c.action {
        Action::Read => (Symbol::Read, "will be read".to_string(), "read"),
        // Made by someone else (the cluster's own StorageClass): apply
        // only sets what the stack asks for on it.
        Action::Create if c.takes_over => (
            Symbol::Update,
            "will be taken over".to_string(),
            "take over",
        ),
        Action::Create => (Symbol::Create, "will be created".to_string(), "create"),
        Action::Update if c.takes_over => (
            Symbol::Update,
            "will be taken over and updated in place".to_string(),
            "take over",
        ),
        Action::Update => (
            Symbol::Update,
            "will be updated in place".to_string(),
            "update",
        ),
        Action::Replace { order, .. } => (
            Symbol::Replace(*order),
            format!("must be replaced ({order})"),
            "replace",
        ),
        Action::Delete => (Symbol::Delete, "will be destroyed".to_string(), "delete"),
        Action::NoOp => (Symbol::Update, "is unchanged".to_string(), "no-op"),
    };
    let fields = if c.action == Action::Read {
        Vec::new()
    } else {
        c.field_diffs
            .iter()
            .map(|d| field_line(d, c.published.get(d.attr())))
            .collect()
    };
    ResourceView {
        addr: c.addr.clone(),
        symbol,
        action: c.action.name(),
        headline,
        verb,
        reason: c.reason.clone(),
        fields,
        objects: c.manifest_changes.clone(),
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
            verb: "deleted outside stackplan",
            reason: None,
            fields: Vec::new(),
            objects: Vec::new(),
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
        verb: "changed outside stackplan",
        reason: None,
        fields: drift.fields.iter().map(|d| field_line(d, None)).collect(),
        objects: Vec::new(),
    })
}

impl PlanView {
    pub fn new(plan: &Plan) -> PlanView {
        PlanView {
            stack: plan.stack.clone(),
            target: target_lines(plan),
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

/// Where a plan points, from what it recorded: `account`, `region`,
/// `state`, `cluster`, each only when known.
fn target_lines(plan: &Plan) -> Vec<(&'static str, String)> {
    let b = &plan.basis;
    let mut out = Vec::new();
    if let Some(account) = &b.account {
        out.push((
            "account",
            match &b.caller_arn {
                Some(arn) => format!("{account} as {arn}"),
                None => account.clone(),
            },
        ));
    }
    if let Some(region) = &b.region {
        out.push(("region", region.clone()));
    }
    if let Some(state) = &b.state_location {
        out.push(("state", state.clone()));
    }
    if let Some(kube) = &b.kube {
        out.push(("cluster", kube.to_string()));
    }
    out
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

/// `~ Deployment milvus/demo-milvus-querynode` and, for a changed object,
/// one `path: before -> after` line per field: the lines a Helm release's
/// object diff shows in text and Markdown.
pub fn object_lines(o: &stackplan_core::ManifestChange) -> (String, Vec<String>) {
    let sym = match o.action.as_str() {
        "add" => "+",
        "remove" => "-",
        _ => "~",
    };
    let head = format!("{sym} {} {}/{}", o.kind, o.namespace, o.name);
    let fields = o
        .fields
        .iter()
        .map(|f| {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".to_string());
            format!("{}: {} -> {}", f.path, v(&f.before), v(&f.after))
        })
        .collect();
    (head, fields)
}
