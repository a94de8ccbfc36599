//! `stackplan state ...`: work on a stack's state document directly.
//!
//! `state push FILE --stack STACK` writes a state document (the recovery
//! file a run saved when its backend could not be written) to the stack's
//! configured backend, under the state lock. It refuses a file that is
//! not a state document, one of another lineage than the stored state,
//! and one whose serial is not greater than the stored one (unless
//! `--force`): pushing never silently replaces state written since. A
//! file the backend already holds is reported as such, and not written.
//! What it prints is counts, never an attribute value.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use miette::miette;
use stackplan_core::{StateDocument, StateError, StateStore};
use stackplan_state::new_lock_info;

use super::plan::{runtime, state_error, state_store};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Write a state document (a recovery file) to the stack's backend,
    /// under the state lock, if it continues the stored state.
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The state document: a `stackplan-recovery-*.json` file, or a state
    /// file.
    pub file: PathBuf,
    /// The stack file whose `[state]` backend receives it.
    #[arg(long)]
    pub stack: PathBuf,
    /// Push even though the file's serial is not greater than the stored
    /// one: what was written to the stored state since is lost. Never
    /// pushes across lineages.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &StateArgs) -> miette::Result<Outcome> {
    match &args.command {
        StateCommand::Push(push_args) => push(push_args),
    }
}

/// What a push wrote.
struct Pushed {
    location: String,
    serial: u64,
    resources: usize,
    /// The stored state was the file already (pushed before, or a write
    /// that reported failure had landed): nothing was written.
    already: bool,
}

fn push(args: &PushArgs) -> miette::Result<Outcome> {
    let file = args.file.display().to_string();
    let doc = read_document(&args.file)?;
    let loaded = super::load(&args.stack)?;
    let stack = &loaded.stack;
    runtime()?.block_on(async {
        let store = state_store(stack).await;
        store
            .lock(&new_lock_info("state push"))
            .await
            .map_err(state_error)?;
        let pushed = push_locked(store.as_ref(), &doc, &file, &stack.name, args.force).await;
        // Released whatever happened; a push that failed says why first.
        let unlocked = store.unlock().await;
        let pushed = pushed?;
        unlocked.map_err(state_error)?;
        let what = format!(
            "serial {}, {} resource{}",
            pushed.serial,
            pushed.resources,
            if pushed.resources == 1 { "" } else { "s" }
        );
        let message = if pushed.already {
            format!(
                "{} already holds {file}, nothing pushed: {what}\n",
                pushed.location
            )
        } else {
            format!("pushed {file} to {}: {what}\n", pushed.location)
        };
        output::emit(&message, None)?;
        Ok(Outcome::Clean)
    })
}

/// The state document in `path`, or an error naming the file.
fn read_document(path: &Path) -> miette::Result<StateDocument> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        miette!(
            help = "give the path of the recovery file the failed run named",
            "cannot read {file}: {e}"
        )
    })?;
    StateDocument::from_bytes(&bytes).map_err(|e| {
        let why = match e {
            StateError::Corrupt { detail } => detail,
            other => other.to_string(),
        };
        miette!(
            help = "push a state document stackplan wrote: the `stackplan-recovery-*.json` file a failed run named, or a state file",
            "{file} is not a state document: {why}"
        )
    })
}

async fn push_locked(
    store: &dyn StateStore,
    doc: &StateDocument,
    file: &str,
    stack_name: &str,
    force: bool,
) -> miette::Result<Pushed> {
    let location = store.location();
    let stored = store.read().await.map_err(state_error)?;
    match &stored {
        Some(stored) if stored.lineage != doc.lineage => {
            return Err(miette!(
                help = "a recovery file continues the state it was made from; this one was not made from this stack's state: check the file and `--stack`",
                "{file} is of lineage {}, but the state at {location} is of lineage {}: it is not this state's recovery file, and is not pushed",
                doc.lineage,
                stored.lineage
            ));
        }
        // The file is what is stored: a second push, or a write whose
        // failure was reported although it landed. Nothing to do.
        Some(stored) if stored.to_bytes() == doc.to_bytes() => {
            return Ok(Pushed {
                location,
                serial: stored.serial,
                resources: stored.resources.len(),
                already: true,
            });
        }
        Some(stored) if doc.serial <= stored.serial && !force => {
            return Err(miette!(
                help = format!(
                    "the state at {location} was written since this file was saved; `stackplan plan` shows where things are. `--force` pushes it anyway, and what the stored state records that the file does not is lost"
                ),
                "{file} has serial {}, not greater than serial {} at {location}: it is not pushed",
                doc.serial,
                stored.serial
            ));
        }
        Some(_) => {}
        // Nothing stored to compare lineages with: the stack's name is
        // the only link between the file and this stack.
        None if doc.stack != stack_name => {
            return Err(miette!(
                help = "check the file and `--stack`: a state document is pushed only to the stack it records",
                "{file} is the state of stack `{}`, not of `{stack_name}`: it is not pushed",
                doc.stack
            ));
        }
        None => {}
    }
    // A backend stores a document with the next serial after both the
    // stored one and the document's own (`StateStore::write`). Given the
    // serial before the file's, it stores the file's own serial, and the
    // stored one plus one when `--force` pushes an older file.
    let mut to_write = doc.clone();
    to_write.serial = doc.serial.saturating_sub(1);
    let serial = store.write(&to_write).await.map_err(state_error)?;
    Ok(Pushed {
        location,
        serial,
        resources: doc.resources.len(),
        already: false,
    })
}
