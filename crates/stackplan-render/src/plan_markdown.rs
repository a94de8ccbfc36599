//! The plan as a pull-request comment (`--format markdown`): a summary
//! table, then one collapsible `<details>` per resource with its fields as
//! a `diff` block, kept under GitHub's 65,536-character comment limit by
//! leaving out whole sections and saying so.

use std::fmt::Write;

use stackplan_core::Plan;

use crate::docdiff::DocLine;
use crate::plan_view::{FieldLine, FieldOp, PlanView, ResourceView, summary_line};

/// GitHub refuses comments longer than this many characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Room kept for the truncation note.
const NOTE_RESERVE: usize = 400;

/// How to render Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The most characters the comment may have.
    pub limit: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            limit: GITHUB_COMMENT_LIMIT,
        }
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The `diff` lines of one resource: `-` before, `+` after, so GitHub
/// colours them.
fn diff_block(fields: &[FieldLine]) -> String {
    let mut out = String::from("```diff\n");
    for f in fields {
        let forces = if f.force_new {
            "  # forces replacement"
        } else {
            ""
        };
        if let Some(doc) = &f.document {
            let _ = writeln!(out, "~ {}:{forces}", f.path);
            for line in &doc.lines {
                let _ = match line {
                    DocLine::Hunk(h) => writeln!(out, "  {h}"),
                    DocLine::Context(l) => writeln!(out, "   {l}"),
                    DocLine::Removed(l) => writeln!(out, "-  {l}"),
                    DocLine::Added(l) => writeln!(out, "+  {l}"),
                };
            }
            continue;
        }
        let _ = match f.op {
            FieldOp::Add => writeln!(out, "+ {} = {}{forces}", f.path, f.after),
            FieldOp::Remove => writeln!(out, "- {} = {}{forces}", f.path, f.before),
            FieldOp::Change => writeln!(
                out,
                "- {} = {}\n+ {} = {}{forces}",
                f.path, f.before, f.path, f.after
            ),
        };
    }
    out.push_str("```\n");
    out
}

/// Text inside HTML (`<summary>`), where `<=` would open a tag.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn details(r: &ResourceView) -> String {
    let mut out = format!(
        "<details><summary><code>{} {}</code> {}</summary>\n\n",
        html(r.symbol.text()),
        html(&r.addr.to_string()),
        html(&r.headline)
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "{reason}\n");
    }
    if !r.fields.is_empty() {
        out.push_str(&diff_block(&r.fields));
    }
    out.push_str("\n</details>\n\n");
    out
}

/// The comment.
pub fn render(plan: &Plan, opts: MarkdownOptions) -> String {
    let view = PlanView::new(plan);
    let total = view.changes.len() + view.drift.len();
    let mut pieces: Vec<String> = Vec::new();
    pieces.push(format!("## stackplan plan: `{}`\n\n", view.stack));
    if let Some(partial) = &view.partial {
        pieces.push(format!("> **{}**\n\n", html(partial)));
    }
    if !view.ignored.is_empty() {
        pieces.push(format!(
            "Ignored (owned outside stackplan, never changed): {}\n\n",
            view.ignored
                .iter()
                .map(|i| format!("`{}`", html(i)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    pieces.push(format!("**Plan:** {}.", summary_line(&view.summary)));
    if view.drift.is_empty() {
        pieces.push("\n\n".into());
    } else {
        pieces.push(format!(
            " **Drift:** {} resource(s) changed outside stackplan.\n\n",
            view.drift.len()
        ));
    }
    if !view.changes.is_empty() {
        pieces.push("| | Resource | Action | Reason |\n|---|---|---|---|\n".into());
        for r in &view.changes {
            pieces.push(format!(
                "| `{}` | `{}` | {} | {} |\n",
                r.symbol.text(),
                r.addr,
                r.action,
                cell(r.reason.as_deref().unwrap_or(""))
            ));
        }
        pieces.push("\n".into());
    } else {
        pieces.push("No changes: the live resources match the stack.\n\n".into());
    }
    // Sections: everything above is the head; what follows may be cut.
    let head = pieces.len();
    if !view.drift.is_empty() {
        pieces.push("### Drift (changed outside stackplan)\n\n".into());
        pieces.extend(view.drift.iter().map(details));
    }
    if !view.changes.is_empty() {
        pieces.push("### Changes\n\n".into());
        pieces.extend(view.changes.iter().map(details));
    }

    let budget = opts.limit.saturating_sub(NOTE_RESERVE);
    let mut out = String::new();
    let mut used = 0;
    let mut shown_details = 0;
    let mut shown_rows = 0;
    let mut cut = false;
    for (i, piece) in pieces.iter().enumerate() {
        let n = piece.chars().count();
        if used + n > budget {
            cut = true;
            break;
        }
        used += n;
        out.push_str(piece);
        if i >= head && piece.starts_with("<details>") {
            shown_details += 1;
        }
        if i < head && piece.starts_with("| `") {
            shown_rows += 1;
        }
    }
    if cut {
        if shown_rows < view.changes.len() {
            let _ = write!(
                out,
                "\n\n> **Truncated:** the table lists {shown_rows} of {} changed resources and no details, to stay under GitHub's {}-character comment limit. Run `stackplan plan` (or `stackplan show PLAN`) for the full plan.\n",
                view.changes.len(),
                opts.limit
            );
        } else {
            let _ = write!(
                out,
                "\n> **Truncated:** details of {} of {} resource(s) are left out to stay under GitHub's {}-character comment limit. Run `stackplan plan` (or `stackplan show PLAN`) for the full plan.\n",
                total - shown_details,
                total,
                opts.limit
            );
        }
    }
    out
}
