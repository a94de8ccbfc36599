use std::path::Path;

use stackplan_render::graph::{Node, dot, mermaid};

use crate::{GraphFormat, Outcome, output};

pub fn run(path: &Path, format: GraphFormat) -> miette::Result<Outcome> {
    let loaded = super::load(path)?;
    let nodes: Vec<Node> = loaded
        .resources
        .iter()
        .map(|r| Node {
            addr: r.addr.clone(),
            mode: r.mode,
        })
        .collect();
    let edges = loaded.graph.edges();
    let text = match format {
        GraphFormat::Dot => dot(&loaded.stack.name, &nodes, &edges),
        GraphFormat::Mermaid => mermaid(&nodes, &edges),
    };
    output::emit(&text, None)?;
    Ok(Outcome::Clean)
}
