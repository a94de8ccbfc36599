//! `stackplan unlock STACK [--force]`: shows who holds the state lock and
//! releases it, for a run that died holding it.
//!
//! A holder that is alive is named and left alone: an S3 lock whose
//! heartbeat is fresh (the run renews it while it holds the lock) unless
//! `--force`, and a local OS lock always, since no flag can take an OS
//! lock from a running process (and a dead one's is already gone).

use std::path::PathBuf;

use clap::Args;
use miette::miette;
use stackplan_core::StateError;
use stackplan_state::{LOCK_STALE_AFTER, release_lock};

use super::plan::{runtime, state_error, state_store};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// Release an S3 lock even though its holder's heartbeat is fresh:
    /// only when you know that run is dead (its machine is gone). A local
    /// lock held by a running process cannot be forced.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &UnlockArgs) -> miette::Result<Outcome> {
    let loaded = super::load(&args.stack)?;
    runtime()?.block_on(async {
        let store = state_store(&loaded.stack).await;
        let location = store.location();
        let released = release_lock(store.as_ref(), args.force, LOCK_STALE_AFTER)
            .await
            .map_err(|e| unlock_error(e, args.force))?;
        let message = match released {
            Some(holder) => format!("released the lock on {location}, held by {holder}\n"),
            None => format!("{location} is not locked\n"),
        };
        output::emit(&message, None)?;
        Ok(Outcome::Clean)
    })
}

/// What to do about a lock `unlock` would not release.
fn unlock_error(e: StateError, force: bool) -> miette::Report {
    match &e {
        StateError::LockAlive { holder, .. } => miette!(
            help = format!(
                "wait for that run to finish, or stop it (pid {} on {}); if you know it is dead, `stackplan unlock STACK --force`",
                holder.pid, holder.who
            ),
            "{e}"
        ),
        // The local backend: an OS lock, held by a running process.
        StateError::Locked { holder, .. } => miette!(
            help = format!(
                "stop that process (pid {} on {}) or let it finish: its OS lock goes with it{}",
                holder.pid,
                holder.who,
                if force {
                    "; --force cannot take an OS lock from a running process"
                } else {
                    ""
                }
            ),
            "{e}"
        ),
        _ => state_error(e),
    }
}

#[cfg(test)]
mod tests {
    use stackplan_core::StateStore;
    use stackplan_state::{LocalStateStore, new_lock_info};

    use super::*;

    /// The reference stack (local backend) in a scratch directory.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = dir.path().join("stack.toml");
        std::fs::copy(root.join("stacks/milvus-eks.toml"), &path).unwrap();
        (dir, path)
    }

    #[test]
    fn a_local_lock_held_by_a_running_process_is_not_released_even_with_force() {
        let (dir, path) = scratch();
        let holder = LocalStateStore::for_stack(dir.path(), "milvus-demo");
        let info = stackplan_core::LockInfo {
            who: "ops@laptop".into(),
            ..new_lock_info("apply")
        };
        runtime().unwrap().block_on(holder.lock(&info)).unwrap();

        for force in [false, true] {
            let args = UnlockArgs {
                stack: path.clone(),
                force,
            };
            let err = run(&args).unwrap_err();
            assert!(err.to_string().contains("is locked by ops@laptop"), "{err}");
            let help = err.help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains("stop that process"), "{help}");
            assert_eq!(
                help.contains("--force cannot take an OS lock"),
                force,
                "{help}"
            );
        }
        // Still held.
        assert!(
            runtime()
                .unwrap()
                .block_on(holder.lock_holder())
                .unwrap()
                .is_some()
        );
    }
}
