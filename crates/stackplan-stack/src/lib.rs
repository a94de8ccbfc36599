//! The TOML stack file: parse it keeping spans, validate it, and expand it into typed resources.
