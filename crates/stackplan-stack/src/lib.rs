//! The TOML stack file: parse it keeping spans, validate it, and expand it into typed resources.

mod error;
mod expand;
mod milvus;
mod model;
mod parse;
mod reader;
mod rules;
pub mod sizing;

use std::path::Path;

pub use error::{Problem, StackError};
pub use expand::{Addrs, MSK_SCRAM_PORT, expand, partition, subnet_cidrs};
pub use milvus::milvus_values;
pub use model::*;
pub use parse::parse;

/// Reads, parses and validates the stack file at `path`. Relative paths
/// inside it (a kubeconfig, a local chart, a local state file) are taken
/// relative to the stack file's directory, as a user reading the file
/// would expect, and `~` is the home directory.
pub fn load(path: &Path) -> Result<Stack, StackError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| StackError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| StackError::NotUtf8 {
        path: shown.clone(),
    })?;
    let mut stack = parse(&shown, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let home = std::env::var_os("HOME");
    stack.resolve_paths(base, home.as_deref().map(Path::new));
    Ok(stack)
}
