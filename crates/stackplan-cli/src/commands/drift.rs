//! `stackplan drift STACK`: what changed live outside stackplan since the
//! last apply. Exit 0 none, 2 drift, 1 error.

use std::path::PathBuf;

use clap::Args;
use miette::IntoDiagnostic;
use stackplan_core::{Plan, ProviderRegistry};
use stackplan_engine::PlanSettings;
use stackplan_render::plan_json;
use stackplan_render::plan_text::{self, TextOptions};

use super::charts::ChartAccess;
use super::plan::{PlanCtx, make_plan, runtime, stdout_color};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// Print the drift as a JSON plan (schema: docs/plan-json.md).
    #[arg(long)]
    pub json: bool,
    /// Read at most this many resources at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
}

pub fn outcome(plan: &Plan) -> Outcome {
    if plan.has_drift() {
        Outcome::Changes
    } else {
        Outcome::Clean
    }
}

pub fn run(args: &DriftArgs) -> miette::Result<Outcome> {
    run_with(args, None, &ChartAccess::from_env())
}

pub fn run_with(
    args: &DriftArgs,
    registry: Option<&ProviderRegistry>,
    charts: &ChartAccess,
) -> miette::Result<Outcome> {
    let ctx = PlanCtx {
        registry,
        charts,
        settings: PlanSettings {
            parallelism: usize::from(args.parallelism),
            allow_destroy: false,
            adopt: false,
            selection: Default::default(),
        },
        drift_only: true,
    };
    let plan = runtime()?.block_on(make_plan(&args.stack, ctx))?;
    let text = if args.json {
        plan_json::render_drift(&plan).into_diagnostic()?
    } else {
        plan_text::render_drift(
            &plan,
            TextOptions {
                color: stdout_color(),
                ..TextOptions::default()
            },
        )
    };
    output::emit(&text, None)?;
    Ok(outcome(&plan))
}
