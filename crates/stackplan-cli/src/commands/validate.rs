use std::path::Path;

use stackplan_core::ResourceMode;

use crate::{Outcome, output};

pub fn run(path: &Path) -> miette::Result<Outcome> {
    let loaded = super::load(path)?;
    let lookups = loaded
        .resources
        .iter()
        .filter(|r| r.mode == ResourceMode::Lookup)
        .count();
    output::emit(
        &format!(
            "{} is valid: stack `{}`, {} resources ({} managed, {} looked up), {} dependencies\n",
            path.display(),
            loaded.stack.name,
            loaded.resources.len(),
            loaded.resources.len() - lookups,
            lookups,
            loaded.graph.edges().len(),
        ),
        None,
    )?;
    Ok(Outcome::Clean)
}
