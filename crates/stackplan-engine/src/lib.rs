//! The resource graph and, on it, refresh, diff, plan and apply; sees providers only through traits.

mod error;
mod graph;

pub use error::EngineError;
pub use graph::ResourceGraph;
