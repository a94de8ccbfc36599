//! State documents and their backends: a local file under an OS lock, and S3 with conditional writes.
//!
//! Both backends implement [`stackplan_core::StateStore`] and write the one
//! canonical encoding of [`StateDocument`], which never holds a secret.
//! Errors are [`stackplan_core::StateError`]: the trait's error is this
//! crate's error, so a caller handles state failures one way whatever the
//! backend.

mod local;
mod lockinfo;
mod s3;

pub use local::LocalStateStore;
pub use lockinfo::{new_lock_info, rfc3339_utc};
pub use s3::S3StateStore;
pub use stackplan_core::StateError;

use stackplan_core::StateDocument;

/// A new, empty state for `stack` with a fresh lineage.
pub fn new_document(stack: &str) -> StateDocument {
    StateDocument::new(stack, uuid::Uuid::new_v4().to_string())
}
