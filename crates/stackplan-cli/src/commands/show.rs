//! `stackplan show PLAN`: a saved plan, rendered as `plan` would.

use std::path::{Path, PathBuf};

use clap::Args;
use miette::{IntoDiagnostic, WrapErr, miette};
use stackplan_core::{PLAN_FORMAT_VERSION, Plan};

use super::plan::{PlanFormat, detail, render_with, stdout_color};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `stackplan plan -o PLAN`.
    pub plan: PathBuf,
    /// Shorthand for `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// How the plan is shown on stdout (default: text).
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
    /// Show every value in full, the published documents stackplan owns
    /// (the load balancer controller's IAM policy, trust policies)
    /// included.
    #[arg(long, conflicts_with = "compact")]
    pub full: bool,
    /// One line per resource: symbol, address, action and, for an update,
    /// the paths that change.
    #[arg(long)]
    pub compact: bool,
}

/// Reads a saved plan, refusing one this build cannot read.
pub fn read_plan(path: &Path) -> miette::Result<Plan> {
    let bytes = std::fs::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the plan `{}`", path.display()))?;
    let probe: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        miette!(
            help = "a plan file is what `stackplan plan -o PLAN` writes",
            "`{}` is not a plan file: {e}",
            path.display()
        )
    })?;
    let version = probe
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(PLAN_FORMAT_VERSION)) {
        return Err(miette!(
            help = "make the plan again with this version of stackplan",
            "`{}` has plan format_version {}, this build reads {PLAN_FORMAT_VERSION}",
            path.display(),
            version.map_or("(none)".to_string(), |v| v.to_string())
        ));
    }
    serde_json::from_value(probe).map_err(|e| {
        miette!(
            help = "a plan file is what `stackplan plan -o PLAN` writes",
            "`{}` is not a valid plan: {e}",
            path.display()
        )
    })
}

pub fn run(args: &ShowArgs) -> miette::Result<Outcome> {
    let plan = read_plan(&args.plan)?;
    let format = if args.json {
        PlanFormat::Json
    } else {
        args.format.unwrap_or(PlanFormat::Text)
    };
    // As `plan` printed them when it made the plan: on stderr, so stdout
    // stays the plan (JSON and Markdown carry them as well).
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    output::emit(
        &render_with(
            &plan,
            format,
            stdout_color(),
            detail(args.full, args.compact),
        )?,
        None,
    )?;
    Ok(Outcome::Clean)
}
