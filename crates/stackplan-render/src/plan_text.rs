//! The plan for people: Terraform-like symbols (`+ ~ -/+ -` and `<=` for
//! reads), field paths, reasons, `(known after apply)`, `(sensitive)`.
//! Colour only when the caller asks (the CLI decides from the terminal and
//! `NO_COLOR`); the text reads the same without it. The header says where
//! the plan points; values are in one notation (`crate::notation`);
//! published documents created whole are named, not printed, unless
//! [`Detail::Full`]; [`Detail::Compact`] is one line per resource.

use std::fmt::Write;

use stackplan_core::Plan;

use crate::docdiff::DocLine;
pub use crate::plan_view::Detail;
use crate::plan_view::{
    FieldLine, FieldOp, PlanView, ResourceView, Symbol, UNKNOWN, group_unknown, summary_line,
};

/// How to render text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colours on the symbols and headings.
    pub color: bool,
    /// How much of each resource is shown.
    pub detail: Detail,
}

struct Painter(bool);

impl Painter {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn symbol(&self, sym: &str) -> String {
        let code = match sym {
            "+" => "32",
            "-" => "31",
            "~" => "33",
            "-/+" | "+/-" => "35",
            "<=" => "36",
            _ => "0",
        };
        self.paint(code, sym)
    }

    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn write_fields(out: &mut String, p: &Painter, fields: &[FieldLine], detail: Detail) {
    let (fields, unknown) = group_unknown(fields, detail);
    let width = fields
        .iter()
        .filter(|f| !f.is_block() || f.collapsed(detail).is_some())
        .map(|f| f.path.len())
        .max()
        .unwrap_or(0);
    for f in fields {
        let sym = p.symbol(f.op.text());
        let forces = if f.force_new {
            p.paint("31", " # forces replacement")
        } else {
            String::new()
        };
        if let Some(name) = f.collapsed(detail) {
            let path = format!("{:<width$}", f.path);
            let _ = writeln!(
                out,
                "      {sym} {path} = {}{forces}",
                p.paint("2", &format!("# {name}"))
            );
            continue;
        }
        if let Some(doc) = &f.document {
            if f.op == FieldOp::Change {
                let _ = writeln!(out, "      {sym} {} ={forces}", f.path);
                for line in &doc.lines {
                    let _ = match line {
                        DocLine::Hunk(h) => writeln!(out, "          {}", p.paint("36", h)),
                        DocLine::Context(l) => writeln!(out, "           {l}"),
                        DocLine::Removed(l) => {
                            writeln!(out, "          {}", p.paint("31", &format!("-{l}")))
                        }
                        DocLine::Added(l) => {
                            writeln!(out, "          {}", p.paint("32", &format!("+{l}")))
                        }
                    };
                }
            } else {
                // New or gone whole: the value as written, under the
                // field's own `+` or `-`.
                let mut lines = doc.lines.iter().map(|l| match l {
                    DocLine::Hunk(h) => h.as_str(),
                    DocLine::Context(l) | DocLine::Removed(l) | DocLine::Added(l) => l.as_str(),
                });
                let first = lines.next().unwrap_or_default();
                let _ = writeln!(out, "      {sym} {} = {first}{forces}", f.path);
                for l in lines {
                    let _ = writeln!(out, "        {l}");
                }
            }
            continue;
        }
        let path = format!("{:<width$}", f.path);
        let _ = match f.op {
            FieldOp::Add => writeln!(out, "      {sym} {path} = {}{forces}", f.after),
            FieldOp::Remove => writeln!(out, "      {sym} {path} = {} -> null{forces}", f.before),
            FieldOp::Change => writeln!(
                out,
                "      {sym} {path} = {} -> {}{forces}",
                f.before, f.after
            ),
        };
    }
    write_unknown(out, p, &unknown);
}

/// `+ arn, id, unique_id = (known after apply)`, the names wrapped.
fn write_unknown(out: &mut String, p: &Painter, names: &[&str]) {
    if names.is_empty() {
        return;
    }
    let mut lines: Vec<String> = vec![String::new()];
    for name in names {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.len() + name.len() + 2 > WRAP {
            last.push(',');
            lines.push(String::new());
        } else if !last.is_empty() {
            last.push_str(", ");
        }
        lines.last_mut().expect("one line at least").push_str(name);
    }
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        let lead = if i == 0 {
            format!("      {} ", p.symbol("+"))
        } else {
            "        ".to_string()
        };
        let tail = if i + 1 == n {
            format!(" = {UNKNOWN}")
        } else {
            String::new()
        };
        let _ = writeln!(out, "{lead}{l}{tail}");
    }
}

/// Where the names of unknown fields wrap.
const WRAP: usize = 64;

fn write_resource(out: &mut String, p: &Painter, r: &ResourceView, detail: Detail) {
    if detail == Detail::Compact {
        write_line(out, p, r);
        return;
    }
    // One line says what and what happens (Terraform's comment line and
    // symbol line in one: the address once), the reason under it.
    let sym = r.symbol.text();
    // Pad before painting: escape codes have no width on screen.
    let pad = " ".repeat(3usize.saturating_sub(sym.len()));
    let _ = writeln!(
        out,
        "{pad}{} {} {}",
        p.symbol(sym),
        p.bold(&r.addr.to_string()),
        r.headline
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "      # {reason}");
    }
    if r.symbol != Symbol::Read {
        write_fields(out, p, &r.fields, detail);
    }
    if !r.objects.is_empty() {
        let _ = writeln!(out, "      # Kubernetes objects this changes:");
        for o in &r.objects {
            let (head, fields) = crate::plan_view::object_lines(o);
            let _ = writeln!(out, "      {head}");
            for f in fields {
                let _ = writeln!(out, "          {f}");
            }
        }
    }
    out.push('\n');
}

/// One resource on one line: symbol, address, verb, and for an update or
/// a replacement the paths that change.
fn write_line(out: &mut String, p: &Painter, r: &ResourceView) {
    let sym = r.symbol.text();
    let pad = " ".repeat(3usize.saturating_sub(sym.len()));
    let _ = write!(out, "{pad}{} {}  {}", p.symbol(sym), r.addr, r.verb);
    match r.paths_summary(4) {
        Some(paths) => {
            let _ = writeln!(out, " ({paths})");
        }
        None => out.push('\n'),
    }
}

/// The stack and where the plan points, one labelled line each;
/// `command` is `plan` or `drift`.
fn write_header(out: &mut String, view: &PlanView, command: &str) {
    let _ = writeln!(out, "stackplan {command} for stack `{}`", view.stack);
    for (label, value) in &view.target {
        let _ = writeln!(out, "  {label:<8} {value}");
    }
    out.push('\n');
}

fn write_drift(out: &mut String, p: &Painter, view: &PlanView, detail: Detail) {
    let _ = writeln!(
        out,
        "{} {} resource(s) changed outside stackplan since the last apply:\n",
        p.bold("Drift:"),
        view.drift.len()
    );
    for r in &view.drift {
        write_resource(out, p, r, detail);
    }
    if detail == Detail::Compact {
        out.push('\n');
    }
}

/// The whole plan.
pub fn render(plan: &Plan, opts: TextOptions) -> String {
    let p = Painter(opts.color);
    let detail = opts.detail;
    let view = PlanView::new(plan);
    let mut out = String::new();
    write_header(&mut out, &view, "plan");
    if let Some(partial) = &view.partial {
        let _ = writeln!(out, "{}\n", p.bold(partial));
    }
    if !view.ignored.is_empty() {
        let _ = writeln!(
            out,
            "Ignored (owned outside stackplan, never changed): {}\n",
            view.ignored.join(", ")
        );
    }
    if !view.drift.is_empty() {
        write_drift(&mut out, &p, &view, detail);
    }
    if !plan.has_changes() && view.changes.iter().all(|c| c.symbol == Symbol::Read) {
        for r in &view.changes {
            write_resource(&mut out, &p, r, detail);
        }
        if detail == Detail::Compact && !view.changes.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} The live resources match the stack.",
            p.bold("No changes.")
        );
        write_cost(&mut out, plan, detail);
        return out;
    }
    let _ = writeln!(out, "{}\n", p.bold("Changes:"));
    for r in &view.changes {
        write_resource(&mut out, &p, r, detail);
    }
    if detail == Detail::Compact {
        out.push('\n');
    }
    let _ = writeln!(out, "{} {}.", p.bold("Plan:"), summary_line(&view.summary));
    write_cost(&mut out, plan, detail);
    out
}

/// The monthly estimate after the summary: its headline by default (the
/// plan stays short to review), every resource's line with `--full`
/// (and always in JSON and in Markdown's collapsed table).
fn write_cost(out: &mut String, plan: &Plan, detail: Detail) {
    let Some(est) = &plan.cost else { return };
    out.push('\n');
    match detail {
        Detail::Full => out.push_str(&crate::cost::text(est)),
        _ => {
            let _ = writeln!(
                out,
                "{} (--full itemises it)",
                crate::cost::headline(est).trim_end_matches('.')
            );
        }
    }
}

/// Only the drift (`stackplan drift`).
pub fn render_drift(plan: &Plan, opts: TextOptions) -> String {
    let p = Painter(opts.color);
    let view = PlanView::new(plan);
    let mut out = String::new();
    write_header(&mut out, &view, "drift");
    if view.drift.is_empty() {
        let _ = writeln!(
            out,
            "No drift: every resource of stack `{}` is as last applied.",
            view.stack
        );
    } else {
        write_drift(&mut out, &p, &view, opts.detail);
    }
    out
}
