//! Renders plans, graphs and generated values as text, JSON, Markdown, DOT, Mermaid and YAML; prints nothing itself.

pub mod cost;
pub mod docdiff;
mod error;
pub mod graph;
pub mod notation;
pub mod plan_json;
pub mod plan_markdown;
pub mod plan_text;
pub mod plan_view;
pub mod plan_wire;
pub mod values;

pub use error::RenderError;
