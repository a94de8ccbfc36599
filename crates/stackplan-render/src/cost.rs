//! The monthly estimate a plan carries, in text and Markdown (the JSON
//! form is in `plan_json`).

use std::fmt::Write;

use stackplan_core::CostEstimate;

/// `$1,498.36`.
pub fn usd(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// `Estimated cost: $1,498.36/month at on-demand prices of 2025-01, 1
/// line unknown (not in the total).`
pub fn headline(est: &CostEstimate) -> String {
    let unknown = match est.unknown() {
        0 => String::new(),
        1 => ", 1 price unknown (not in the total)".to_string(),
        n => format!(", {n} prices unknown (not in the total)"),
    };
    format!(
        "Estimated cost: {}/month{} at on-demand prices of {}{unknown}.",
        usd(est.known_total()),
        delta(est),
        est.prices_as_of
    )
}

/// ` (+$840.96 from $650.20 now)`, ` (no change)`, or ` (all new)`
/// before the first apply.
fn delta(est: &CostEstimate) -> String {
    let Some(before) = est.before_known_total else {
        return " (all new)".to_string();
    };
    let d = est.known_total() - before;
    if d.abs() < 0.005 {
        " (no change)".to_string()
    } else if d > 0.0 {
        format!(" (+{} from {} now)", usd(d), usd(before))
    } else {
        format!(" (-{} from {} now)", usd(-d), usd(before))
    }
}

/// `  (now $560.64)` after a line whose cost changes.
fn was(line: &stackplan_core::CostLine, first_plan: bool) -> String {
    match (line.before_monthly_usd, line.monthly_usd) {
        (Some(b), Some(a)) if (a - b).abs() >= 0.005 => format!("  (now {})", usd(b)),
        (None, Some(_)) if !first_plan => "  (new)".to_string(),
        _ => String::new(),
    }
}

fn amount(monthly: Option<f64>) -> String {
    monthly.map_or_else(|| "unknown".to_string(), usd)
}

/// The headline and one line per resource, aligned.
pub fn text(est: &CostEstimate) -> String {
    let mut out = format!("{}\n", headline(est));
    let width = est
        .lines
        .iter()
        .map(|l| l.resource.len())
        .max()
        .unwrap_or(0);
    let money = est
        .lines
        .iter()
        .map(|l| amount(l.monthly_usd).len())
        .max()
        .unwrap_or(0);
    let first = est.before_known_total.is_none();
    for l in &est.lines {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>money$}  {}{}",
            l.resource,
            amount(l.monthly_usd),
            l.basis,
            was(l, first)
        );
    }
    let _ = writeln!(out, "  (prices: {})", est.source);
    out
}

/// A collapsible block: the headline as its summary, a table inside.
pub fn markdown(est: &CostEstimate) -> String {
    let mut out = format!(
        "<details><summary>{}</summary>\n\n| Resource | Monthly | Now | Basis |\n|---|---:|---:|---|\n",
        headline(est)
    );
    for l in &est.lines {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            l.resource,
            amount(l.monthly_usd),
            l.before_monthly_usd.map_or_else(|| "—".to_string(), usd),
            l.basis.replace('|', "\\|")
        );
    }
    let _ = write!(out, "\nPrices: {}.\n\n</details>\n\n", est.source);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_by_thousands_with_cents() {
        assert_eq!(usd(1498.36), "$1,498.36");
        assert_eq!(usd(73.0), "$73.00");
        assert_eq!(usd(1_234_567.891), "$1,234,567.89");
        assert_eq!(usd(0.0), "$0.00");
    }
}
