//! One module per subcommand.

pub mod apply;
pub mod capacity;
pub mod charts;
pub mod completion;
pub mod drift;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod init;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod show;
pub mod state;
pub mod unlock;
pub mod validate;
pub mod version;

use std::path::Path;

use stackplan_core::Resource;
use stackplan_engine::ResourceGraph;
use stackplan_stack::Stack;

/// A stack file read, validated and expanded into its checked graph: the
/// common first step of every command.
pub struct Loaded {
    pub stack: Stack,
    pub resources: Vec<Resource>,
    pub graph: ResourceGraph,
    /// The charts it installs, when the command read them.
    pub charts: Option<charts::StackCharts>,
    /// Every release's rendered manifest, once the render check ran.
    pub manifests: Option<std::collections::BTreeMap<stackplan_core::ResourceAddr, String>>,
}

/// Reads the stack without its charts: enough for commands that do not
/// look at Helm values (`validate`, `graph`, `destroy`, `unlock`).
pub fn load(path: &Path) -> miette::Result<Loaded> {
    let stack = stackplan_stack::load(path)?;
    expanded(stack, None)
}

/// Reads the stack and the charts it installs, then expands it with
/// values that follow those charts, and checks the stack against them.
pub async fn load_with_charts(path: &Path, access: &charts::ChartAccess) -> miette::Result<Loaded> {
    let stack = stackplan_stack::load(path)?;
    // Before any helm runs: the variables the stack's `env:` sources name
    // never reach a helm child, even one the allowlist would pass.
    stackplan_kube::process::deny_env_sources(&stackplan_stack::expand(
        &stack,
        &Default::default(),
    ));
    let charts = charts::read(&stack, access).await?;
    stackplan_stack::check_charts(&stack, &charts.profiles)?;
    expanded(stack, Some(charts))
}

fn expanded(stack: Stack, charts: Option<charts::StackCharts>) -> miette::Result<Loaded> {
    let profiles = charts
        .as_ref()
        .map(|c| c.profiles.clone())
        .unwrap_or_default();
    let resources = stackplan_stack::expand(&stack, &profiles);
    stackplan_kube::process::deny_env_sources(&resources);
    let graph = ResourceGraph::build(&resources).map_err(|e| {
        miette::miette!(
            help = "this is a bug in the expansion of the stack; please report it",
            "{e}"
        )
    })?;
    Ok(Loaded {
        stack,
        resources,
        graph,
        charts,
        manifests: None,
    })
}
