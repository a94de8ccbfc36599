//! Renders plans, graphs and generated values as text, JSON, Markdown, DOT, Mermaid and YAML; prints nothing itself.

mod error;
pub mod graph;
pub mod values;

pub use error::RenderError;
