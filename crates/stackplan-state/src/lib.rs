//! State documents and their backends: a local file under an OS lock, and S3 with conditional writes.
//!
//! Both backends implement [`stackplan_core::StateStore`] and write the one
//! canonical encoding of [`StateDocument`], which never holds a secret.
//! Errors are [`stackplan_core::StateError`]: the trait's error is this
//! crate's error, so a caller handles state failures one way whatever the
//! backend.
//!
//! When a backend cannot be written, [`write_recovery_file`] keeps the
//! state a run could not save in a local, owner-only recovery file, which
//! `stackplan state push` writes back once the backend is reachable.

mod local;
mod lockinfo;
mod private_file;
mod recovery;
mod s3;

use std::time::{Duration, SystemTime};

pub use local::LocalStateStore;
pub use lockinfo::{
    HEARTBEAT_INTERVAL, LOCK_STALE_AFTER, heartbeat_age, new_lock_info, parse_rfc3339_utc,
    rfc3339_utc,
};
pub use private_file::{
    PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, create_private_dir_all, write_private_file,
};
pub use recovery::{recovery_file_name, write_recovery_file};
pub use s3::{Encryption, S3Options, S3StateStore};
pub use stackplan_core::StateError;

use stackplan_core::{LockInfo, StateDocument, StateStore};

/// A new, empty state for `stack` with a fresh lineage.
pub fn new_document(stack: &str) -> StateDocument {
    StateDocument::new(stack, uuid::Uuid::new_v4().to_string())
}

/// Releases a lock someone left behind (`stackplan unlock`) and returns
/// who held it. Refuses a holder that is alive: one whose heartbeat is
/// younger than `stale_after` ([`LOCK_STALE_AFTER`]; tests pass less),
/// unless `force`. A lock without a heartbeat (local, whose backend itself
/// refuses a live OS lock even with `force`, or written before heartbeats)
/// is left to the backend's `force_unlock`.
pub async fn release_lock(
    store: &dyn StateStore,
    force: bool,
    stale_after: Duration,
) -> Result<Option<LockInfo>, StateError> {
    if !force
        && let Some(holder) = store.lock_holder().await?
        && let Some(age) = heartbeat_age(&holder, SystemTime::now())
        && age < stale_after
    {
        return Err(StateError::LockAlive {
            location: store.location(),
            holder: Box::new(holder),
            age_secs: age.as_secs(),
            stale_after_secs: stale_after.as_secs(),
        });
    }
    store.force_unlock().await
}
