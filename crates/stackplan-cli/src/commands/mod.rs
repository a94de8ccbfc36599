//! One module per subcommand.

pub mod apply;
pub mod drift;
pub mod graph;
pub mod plan;
pub mod render;
pub mod show;
pub mod unlock;
pub mod validate;

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
}

pub fn load(path: &Path) -> miette::Result<Loaded> {
    let stack = stackplan_stack::load(path)?;
    let resources = stackplan_stack::expand(&stack);
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
    })
}
