//! `stackplan unlock STACK`: shows who holds the state lock and releases
//! it (for a run that died holding an S3 lock; a local OS lock dies with
//! its process, so a live holder is named and left alone).

use std::path::PathBuf;

use clap::Args;

use super::plan::{runtime, state_error, state_store};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The stack file.
    pub stack: PathBuf,
}

pub fn run(args: &UnlockArgs) -> miette::Result<Outcome> {
    let loaded = super::load(&args.stack)?;
    runtime()?.block_on(async {
        let store = state_store(&loaded.stack).await;
        let location = store.location();
        let released = store.force_unlock().await.map_err(state_error)?;
        let message = match released {
            Some(holder) => format!("released the lock on {location}, held by {holder}\n"),
            None => format!("{location} is not locked\n"),
        };
        output::emit(&message, None)?;
        Ok(Outcome::Clean)
    })
}
