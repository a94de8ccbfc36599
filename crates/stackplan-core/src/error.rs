use thiserror::Error;

/// Everything that can go wrong inside the core vocabulary itself.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CoreError {
    #[error("`{0}` is not a resource address (expected `kind.name` or `kind.name[index]`)")]
    InvalidAddress(String),
    #[error("`{0}` is not a known resource kind")]
    UnknownKind(String),
}
