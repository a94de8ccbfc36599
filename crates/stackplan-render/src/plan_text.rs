//! The plan for people: Terraform-like symbols (`+ ~ -/+ -` and `<=` for
//! reads), field paths, reasons, `(known after apply)`, `(sensitive)`.
//! Colour only when the caller asks (the CLI decides from the terminal and
//! `NO_COLOR`); the text reads the same without it.

use std::fmt::Write;

use stackplan_core::Plan;

use crate::docdiff::DocLine;
use crate::plan_view::{FieldLine, FieldOp, PlanView, ResourceView, Symbol, summary_line};

/// How to render text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colours on the symbols and headings.
    pub color: bool,
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

fn write_fields(out: &mut String, p: &Painter, fields: &[FieldLine]) {
    let width = fields
        .iter()
        .filter(|f| f.document.is_none())
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
        if let Some(doc) = &f.document {
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
}

fn write_resource(out: &mut String, p: &Painter, r: &ResourceView) {
    let _ = write!(out, "  # {} {}", p.bold(&r.addr.to_string()), r.headline);
    match &r.reason {
        Some(reason) => {
            let _ = writeln!(out, ":\n  #   {reason}");
        }
        None => out.push('\n'),
    }
    let sym = r.symbol.text();
    // Pad before painting: escape codes have no width on screen.
    let pad = " ".repeat(3usize.saturating_sub(sym.len()));
    let _ = writeln!(out, "{pad}{} {}", p.symbol(sym), r.addr);
    if r.symbol != Symbol::Read {
        write_fields(out, p, &r.fields);
    }
    out.push('\n');
}

fn write_drift(out: &mut String, p: &Painter, view: &PlanView) {
    let _ = writeln!(
        out,
        "{} {} resource(s) changed outside stackplan since the last apply:\n",
        p.bold("Drift:"),
        view.drift.len()
    );
    for r in &view.drift {
        write_resource(out, p, r);
    }
}

/// The whole plan.
pub fn render(plan: &Plan, opts: TextOptions) -> String {
    let p = Painter(opts.color);
    let view = PlanView::new(plan);
    let mut out = String::new();
    let _ = writeln!(out, "stackplan plan for stack `{}`\n", view.stack);
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
        write_drift(&mut out, &p, &view);
    }
    if !plan.has_changes() && view.changes.iter().all(|c| c.symbol == Symbol::Read) {
        for r in &view.changes {
            write_resource(&mut out, &p, r);
        }
        let _ = writeln!(
            out,
            "{} The live resources match the stack.",
            p.bold("No changes.")
        );
        return out;
    }
    let _ = writeln!(out, "{}\n", p.bold("Changes:"));
    for r in &view.changes {
        write_resource(&mut out, &p, r);
    }
    let _ = writeln!(out, "{} {}.", p.bold("Plan:"), summary_line(&view.summary));
    out
}

/// Only the drift (`stackplan drift`).
pub fn render_drift(plan: &Plan, opts: TextOptions) -> String {
    let p = Painter(opts.color);
    let view = PlanView::new(plan);
    let mut out = String::new();
    if view.drift.is_empty() {
        let _ = writeln!(
            out,
            "No drift: every resource of stack `{}` is as last applied.",
            view.stack
        );
    } else {
        write_drift(&mut out, &p, &view);
    }
    out
}
