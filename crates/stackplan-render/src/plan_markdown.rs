//! The plan as a pull-request comment (`--format markdown`): a title that
//! says where the plan points, a summary table whose Reason column names
//! the paths that change, then one collapsible `<details>` per resource
//! with its fields as a `diff` block. Kept under GitHub's 65,536-character
//! comment limit by shortening the longest values inside their blocks
//! first, naming each resource shortened and pointing to the CI log; whole
//! blocks are left out only when even that is not enough.

use std::fmt::Write;

use stackplan_core::Plan;

use crate::docdiff::DocLine;
use crate::plan_view::{
    Detail, FieldLine, FieldOp, PlanView, ResourceView, UNKNOWN, group_unknown, summary_line,
};

/// GitHub refuses comments longer than this many characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Room kept for the truncation note.
const NOTE_RESERVE: usize = 400;

/// Room kept for the note naming the resources shortened, which names at
/// most [`NAMED_SHORTENED`] of them.
const SHORTENED_RESERVE: usize = 700;
const NAMED_SHORTENED: usize = 8;

/// The fewest characters of a value on one line a shortened comment keeps.
const MIN_CLIPPED: usize = 40;

/// How many changed paths a row of the summary table names.
const PATHS_IN_TABLE: usize = 5;

/// How to render Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The most characters the comment may have.
    pub limit: usize,
    /// [`Detail::Full`] expands published documents too; `Compact` is
    /// treated as `Short` (the table is the compact form).
    pub detail: Detail,
    /// The commit the plan was made for (the CLI gives `GITHUB_SHA`), for
    /// the title.
    pub commit: Option<String>,
    /// The stackplan version that made it, for the title.
    pub version: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            limit: GITHUB_COMMENT_LIMIT,
            detail: Detail::Short,
            commit: None,
            version: None,
        }
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The `diff` lines of one resource: `-` before, `+` after, so GitHub
/// colours them. `caps[i]`, when set, is the most lines field `i`'s
/// document may show; the rest is said to be cut.
fn diff_block(fields: &[FieldLine], detail: Detail, caps: &[Option<usize>]) -> String {
    let mut out = String::from("```diff\n");
    let (shown, unknown) = group_unknown(fields, detail);
    for (i, f) in fields.iter().enumerate() {
        if !shown.iter().any(|s| std::ptr::eq(*s, f)) {
            continue;
        }
        let forces = if f.force_new {
            "  # forces replacement"
        } else {
            ""
        };
        if let Some(name) = f.collapsed(detail) {
            let sym = f.op.text();
            let _ = writeln!(out, "{sym} {} = # {name}{forces}", f.path);
            continue;
        }
        if let Some(doc) = &f.document {
            let cap = caps.get(i).copied().flatten().unwrap_or(usize::MAX);
            let shown = doc.lines.len().min(cap);
            if f.op == FieldOp::Change {
                let _ = writeln!(out, "~ {} ={forces}", f.path);
                for line in &doc.lines[..shown] {
                    let _ = match line {
                        DocLine::Hunk(h) => writeln!(out, "  {h}"),
                        DocLine::Context(l) => writeln!(out, "   {l}"),
                        DocLine::Removed(l) => writeln!(out, "-  {l}"),
                        DocLine::Added(l) => writeln!(out, "+  {l}"),
                    };
                }
            } else {
                let sym = f.op.text();
                let mut lines = doc.lines[..shown].iter().map(|l| match l {
                    DocLine::Hunk(h) => h.as_str(),
                    DocLine::Context(l) | DocLine::Removed(l) | DocLine::Added(l) => l.as_str(),
                });
                let first = lines.next().unwrap_or("...");
                let _ = writeln!(out, "{sym} {} = {first}{forces}", f.path);
                for l in lines {
                    let _ = writeln!(out, "{sym}   {l}");
                }
            }
            if shown < doc.lines.len() {
                let _ = writeln!(
                    out,
                    "  # ... {} more line(s) cut to fit the comment: the full plan is in the CI log",
                    doc.lines.len() - shown
                );
            }
            continue;
        }
        // A long value on one line (a certificate, a script) is cut to
        // its cap, when the comment needs the room.
        let cap = caps.get(i).copied().flatten();
        let (before, after) = (clip(&f.before, cap), clip(&f.after, cap));
        let _ = match f.op {
            FieldOp::Add => writeln!(out, "+ {} = {after}{forces}", f.path),
            FieldOp::Remove => writeln!(out, "- {} = {before}{forces}", f.path),
            FieldOp::Change => writeln!(
                out,
                "- {} = {before}\n+ {} = {after}{forces}",
                f.path, f.path
            ),
        };
    }
    if !unknown.is_empty() {
        let _ = writeln!(out, "+ {} = {UNKNOWN}", unknown.join(", "));
    }
    out.push_str("```\n");
    out
}

/// `value`, or its first `cap` characters and how many more were cut.
fn clip(value: &str, cap: Option<usize>) -> String {
    let n = value.chars().count();
    match cap {
        Some(cap) if n > cap => format!(
            "{}... ({} more characters cut to fit the comment: the full plan is in the CI log)",
            value.chars().take(cap).collect::<String>(),
            n - cap
        ),
        _ => value.to_string(),
    }
}

/// Text inside HTML (`<summary>`), where `<=` would open a tag.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn details(r: &ResourceView, detail: Detail, caps: &[Option<usize>]) -> String {
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
        out.push_str(&diff_block(&r.fields, detail, caps));
    }
    // The objects the change alters: one collapsible block each.
    for o in &r.objects {
        let (head, fields) = crate::plan_view::object_lines(o);
        let _ = write!(
            out,
            "\n<details><summary><code>{}</code></summary>\n\n",
            html(&head)
        );
        if !fields.is_empty() {
            let _ = writeln!(out, "```\n{}\n```", fields.join("\n"));
        }
        out.push_str("\n</details>\n");
    }
    out.push_str("\n</details>\n\n");
    out
}

/// The plan's warnings as a GitHub alert, in the head so that a
/// comment cut for length still carries them: in CI they are otherwise
/// only on the job's stderr, where a reviewer does not look.
fn warnings(warnings: &[String]) -> String {
    let mut out = String::from("> [!WARNING]\n");
    for w in warnings {
        let _ = writeln!(out, "> - {}", html(w).replace('\n', "\n>   "));
    }
    out.push('\n');
    out
}

/// The Reason cell: why, preceded by the paths an update or a replacement
/// changes when they say more than the attributes the reason names
/// (`values.queryNode.replicas`, not just `values`).
fn reason_cell(r: &ResourceView) -> String {
    let reason = r.reason.as_deref().unwrap_or("");
    let all = r.changed_paths();
    let deeper = all.iter().any(|p| p.contains(['.', '[']));
    let paths = r.paths_summary(PATHS_IN_TABLE).filter(|_| deeper).map(|_| {
        let mut s = all
            .iter()
            .take(PATHS_IN_TABLE)
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if all.len() > PATHS_IN_TABLE {
            s.push_str(&format!(" and {} more", all.len() - PATHS_IN_TABLE));
        }
        s
    });
    cell(&match (paths, reason.is_empty()) {
        (Some(p), true) => p,
        (Some(p), false) => format!("{p} — {reason}"),
        (None, _) => reason.to_string(),
    })
}

/// `## stackplan plan: `stack` · account … · region · commit … · stackplan …`,
/// naming only what is known.
fn title(view: &PlanView, plan: &Plan, opts: &MarkdownOptions) -> String {
    let mut parts = vec![format!("## stackplan plan: `{}`", view.stack)];
    if let Some(account) = &plan.basis.account {
        parts.push(format!("account `{account}`"));
    }
    if let Some(region) = &plan.basis.region {
        parts.push(format!("`{region}`"));
    }
    if let Some(commit) = &opts.commit {
        parts.push(format!("commit `{commit}`"));
    }
    if let Some(version) = &opts.version {
        parts.push(format!("stackplan {version}"));
    }
    let mut out = parts.join(" · ");
    out.push_str("\n\n");
    // The rest of where it points, on one line under the title.
    let rest: Vec<String> = view
        .target
        .iter()
        .filter(|(label, _)| *label != "region")
        .map(|(label, value)| match *label {
            "account" => format!(
                "caller `{}`",
                plan.basis.caller_arn.as_deref().unwrap_or(value)
            ),
            "cluster" => format!("cluster: {value}"),
            _ => format!("{label} `{value}`"),
        })
        .collect();
    if !rest.is_empty() {
        out.push_str(&html(&rest.join(" · ")));
        out.push_str("\n\n");
    }
    out
}

/// The comment.
pub fn render(plan: &Plan, opts: MarkdownOptions) -> String {
    let view = PlanView::new(plan);
    let detail = match opts.detail {
        Detail::Compact => Detail::Short,
        d => d,
    };
    let total = view.changes.len() + view.drift.len();
    let mut pieces: Vec<String> = Vec::new();
    pieces.push(title(&view, plan, &opts));
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
                r.verb,
                reason_cell(r)
            ));
        }
        pieces.push("\n".into());
    } else {
        pieces.push("No changes: the live resources match the stack.\n\n".into());
    }
    if !plan.warnings.is_empty() {
        pieces.push(warnings(&plan.warnings));
    }
    if let Some(est) = &plan.cost {
        pieces.push(crate::cost::markdown(est));
    }
    // Sections: everything above is the head; what follows may be
    // shortened, and as a last resort cut.
    let head = pieces.len();
    let sections: Vec<(Option<&str>, &[ResourceView])> = vec![
        (
            (!view.drift.is_empty()).then_some("### Drift (changed outside stackplan)\n\n"),
            &view.drift,
        ),
        (
            (!view.changes.is_empty()).then_some("### Changes\n\n"),
            &view.changes,
        ),
    ];
    let blocks: Vec<&ResourceView> = sections.iter().flat_map(|(_, rs)| rs.iter()).collect();
    let budget = opts.limit.saturating_sub(NOTE_RESERVE);
    let (caps, shortened) = fit_blocks(
        &pieces,
        &blocks,
        detail,
        budget.saturating_sub(SHORTENED_RESERVE),
    );
    // The note naming what was shortened takes its room from the blocks.
    let all_shortened: Vec<String> = shortened
        .iter()
        .map(|&b| blocks[b].addr.to_string())
        .collect();
    let budget = budget.saturating_sub(
        shortened_note(all_shortened, false, opts.limit)
            .chars()
            .count(),
    );
    let mut next = 0;
    for (heading, rs) in &sections {
        if let Some(h) = heading {
            pieces.push((*h).to_string());
        }
        for r in rs.iter() {
            pieces.push(details(r, detail, &caps[next]));
            next += 1;
        }
    }

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
    // Only the blocks that made it in are said to be shortened.
    let named: Vec<String> = shortened
        .iter()
        .filter(|&&b| b < shown_details)
        .map(|&b| blocks[b].addr.to_string())
        .collect();
    out.push_str(&shortened_note(named, cut, opts.limit));
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

/// The note naming the resources whose values were cut (at most
/// [`NAMED_SHORTENED`] by name), or nothing when none was.
fn shortened_note(mut named: Vec<String>, cut: bool, limit: usize) -> String {
    if named.is_empty() {
        return String::new();
    }
    named.sort();
    let more = named.len().saturating_sub(NAMED_SHORTENED);
    named.truncate(NAMED_SHORTENED);
    let mut list = named
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    format!(
        "{}> **Shortened:** long values of {list} are cut to stay under GitHub's {limit}-character comment limit. The CI log has the full plan (`stackplan plan`, or `stackplan show --full PLAN`).\n",
        if cut { "\n" } else { "" },
    )
}

/// How much of each block's values fits: the longest document shown is
/// halved until the head and every block fit in `budget` (caps in lines),
/// then the longest value on one line (caps in characters).
/// Returns the caps per block and field, and the blocks shortened.
fn fit_blocks(
    head: &[String],
    blocks: &[&ResourceView],
    detail: Detail,
    budget: usize,
) -> (Vec<Vec<Option<usize>>>, std::collections::BTreeSet<usize>) {
    let mut caps: Vec<Vec<Option<usize>>> =
        blocks.iter().map(|r| vec![None; r.fields.len()]).collect();
    let head_len: usize = head.iter().map(|p| p.chars().count()).sum::<usize>() + 200;
    let mut sizes: Vec<usize> = blocks
        .iter()
        .zip(&caps)
        .map(|(r, c)| details(r, detail, c).chars().count())
        .collect();
    let mut shortened = std::collections::BTreeSet::new();
    while head_len + sizes.iter().sum::<usize>() > budget {
        // The document showing the most lines, first in plan order on a
        // tie: the same plan is always shortened the same way.
        let mut best: Option<(usize, usize, usize)> = None;
        for (b, r) in blocks.iter().enumerate() {
            for (f, field) in r.fields.iter().enumerate() {
                let Some(doc) = &field.document else { continue };
                if field.collapsed(detail).is_some() {
                    continue;
                }
                let shown = doc.lines.len().min(caps[b][f].unwrap_or(usize::MAX));
                if shown > 0 && best.is_none_or(|(_, _, n)| shown > n) {
                    best = Some((b, f, shown));
                }
            }
        }
        if let Some((b, f, shown)) = best {
            caps[b][f] = Some(if shown <= 4 { 0 } else { shown / 2 });
            sizes[b] = details(blocks[b], detail, &caps[b]).chars().count();
            shortened.insert(b);
            continue;
        }
        // No document left to cut: the longest value on one line.
        let mut longest: Option<(usize, usize, usize)> = None;
        for (b, r) in blocks.iter().enumerate() {
            for (f, field) in r.fields.iter().enumerate() {
                if field.document.is_some() {
                    continue;
                }
                let n = field
                    .before
                    .chars()
                    .count()
                    .max(field.after.chars().count());
                let shown = n.min(caps[b][f].unwrap_or(usize::MAX));
                if shown > MIN_CLIPPED && longest.is_none_or(|(_, _, m)| shown > m) {
                    longest = Some((b, f, shown));
                }
            }
        }
        let Some((b, f, shown)) = longest else { break };
        caps[b][f] = Some((shown / 2).max(MIN_CLIPPED));
        sizes[b] = details(blocks[b], detail, &caps[b]).chars().count();
        shortened.insert(b);
    }
    (caps, shortened)
}
