use thiserror::Error;

/// What can fail while rendering.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("cannot serialize as YAML")]
    Yaml(#[from] serde_norway::Error),
    #[error("cannot serialize as JSON")]
    Json(#[from] serde_json::Error),
}
