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
//!
//! `state list STACK` prints every address state records, sorted by kind and name, with its
//! id and marks (`tainted`, `lookup`); a deposed old copy is listed as
//! `ADDR (deposed ID)`. `state show STACK ADDR` prints one resource's
//! attributes and outputs as the plan shows values: a sensitive value is
//! `(sensitive)`, whatever state holds for it. Both read state without
//! the lock, as `plan` does, and take `--json`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use miette::{IntoDiagnostic, miette};
use serde_json::{Value as Json, json};
use stackplan_core::{
    Attrs, ResourceAddr, ResourceMode, ResourceState, StateDocument, StateError, StateStore,
};
use stackplan_engine::nearest_addr;
use stackplan_render::plan_view::inline;
use stackplan_render::values::display_json;
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
    #[command(after_help = crate::help::STATE_PUSH)]
    Push(PushArgs),
    /// List every resource the stack's state records, with its id.
    #[command(after_help = crate::help::STATE_LIST)]
    List(ListArgs),
    /// Show one resource as state records it; sensitive values are not
    /// shown.
    #[command(after_help = crate::help::STATE_SHOW)]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The stack file whose `[state]` is read.
    pub stack: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The stack file whose `[state]` is read.
    pub stack: PathBuf,
    /// The resource's address, as `state list` prints it
    /// (`s3_bucket.milvus`).
    pub addr: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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
        StateCommand::List(list_args) => list(list_args),
        StateCommand::Show(show_args) => show(show_args),
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

/// The stack's stored state, or an error saying there is none.
fn stored_state(path: &Path) -> miette::Result<StateDocument> {
    let loaded = super::load(path)?;
    let stack = &loaded.stack;
    runtime()?.block_on(async {
        let store = state_store(stack).await;
        match store.read().await.map_err(state_error)? {
            Some(doc) => Ok(doc),
            None => Err(miette!(
                help = "`stackplan apply` or `stackplan import` writes it",
                "stack `{}` has no state at {}",
                stack.name,
                store.location()
            )),
        }
    })
}

/// One object of state as listed: the current object of an address, or
/// a deposed old copy.
struct Listed<'a> {
    resource: &'a ResourceState,
    deposed: bool,
}

/// Every object of `doc`, sorted by address, each address's current
/// object before its deposed copies.
fn listed(doc: &StateDocument) -> Vec<Listed<'_>> {
    let mut all: Vec<Listed<'_>> = doc
        .resources
        .iter()
        .map(|resource| Listed {
            resource,
            deposed: false,
        })
        .chain(doc.deposed.iter().map(|resource| Listed {
            resource,
            deposed: true,
        }))
        .collect();
    all.sort_by(|a, b| {
        (
            sort_key(&a.resource.addr),
            a.deposed,
            &a.resource.physical_id,
        )
            .cmp(&(
                sort_key(&b.resource.addr),
                b.deposed,
                &b.resource.physical_id,
            ))
    });
    all
}

/// Addresses in the order people read them: by kind and name as written,
/// then index as a number (`nat[2]` before `nat[10]`).
fn sort_key(addr: &ResourceAddr) -> (&str, &str, Option<u32>) {
    (addr.kind.as_str(), &addr.name, addr.index)
}

fn marks(r: &ResourceState) -> Vec<&'static str> {
    let mut marks = Vec::new();
    if r.tainted {
        marks.push("tainted");
    }
    if r.mode == ResourceMode::Lookup {
        marks.push("lookup");
    }
    marks
}

const NO_ID: &str = "(no id)";

fn list(args: &ListArgs) -> miette::Result<Outcome> {
    let doc = stored_state(&args.stack)?;
    let all = listed(&doc);
    let text = if args.json {
        let resources: Vec<Json> = all
            .iter()
            .map(|l| {
                json!({
                    "address": l.resource.addr.to_string(),
                    "kind": l.resource.kind.as_str(),
                    "mode": mode_name(l.resource.mode),
                    "id": l.resource.physical_id,
                    "tainted": l.resource.tainted,
                    "deposed": l.deposed,
                })
            })
            .collect();
        json_text(&json!({
            "stack": doc.stack,
            "serial": doc.serial,
            "resources": resources,
        }))?
    } else {
        let width = all
            .iter()
            .filter(|l| !l.deposed)
            .map(|l| l.resource.addr.to_string().len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for l in &all {
            let addr = l.resource.addr.to_string();
            let id = l.resource.physical_id.as_deref().unwrap_or(NO_ID);
            let line = if l.deposed {
                format!("{addr} (deposed {id})")
            } else {
                let mut line = format!("{addr:<width$}  {id}");
                for m in marks(l.resource) {
                    line.push_str("  ");
                    line.push_str(m);
                }
                line
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    };
    output::emit(&text, None)?;
    Ok(Outcome::Clean)
}

fn show(args: &ShowArgs) -> miette::Result<Outcome> {
    let doc = stored_state(&args.stack)?;
    let all = listed(&doc);
    let of_addr: Vec<&Listed<'_>> = all
        .iter()
        .filter(|l| l.resource.addr.to_string() == args.addr)
        .collect();
    if of_addr.is_empty() {
        let nearest = nearest_addr(&args.addr, all.iter().map(|l| &l.resource.addr));
        let help = match nearest {
            Some(n) => format!("did you mean `{n}`? `stackplan state list` lists them all"),
            None => "`stackplan state list` lists the addresses state records".to_string(),
        };
        return Err(miette!(
            help = help,
            "`{}` is not in the state of stack `{}`",
            args.addr,
            doc.stack
        ));
    }
    let text = if args.json {
        let current = of_addr
            .iter()
            .find(|l| !l.deposed)
            .map(|l| object_json(l.resource));
        let deposed: Vec<Json> = of_addr
            .iter()
            .filter(|l| l.deposed)
            .map(|l| object_json(l.resource))
            .collect();
        json_text(&json!({
            "address": args.addr,
            "resource": current,
            "deposed": deposed,
        }))?
    } else {
        let blocks: Vec<String> = of_addr.iter().map(|l| object_text(l)).collect();
        blocks.join("\n")
    };
    output::emit(&text, None)?;
    Ok(Outcome::Clean)
}

fn mode_name(mode: ResourceMode) -> &'static str {
    match mode {
        ResourceMode::Managed => "managed",
        ResourceMode::Lookup => "lookup",
    }
}

fn json_text(value: &Json) -> miette::Result<String> {
    let mut text = serde_json::to_string_pretty(value).into_diagnostic()?;
    text.push('\n');
    Ok(text)
}

/// Values as the plan's JSON shows them: `(sensitive)` for a secret.
fn attrs_json(attrs: &Attrs) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(k, v)| (k.clone(), display_json(v)))
            .collect(),
    )
}

fn object_json(r: &ResourceState) -> Json {
    json!({
        "address": r.addr.to_string(),
        "kind": r.kind.as_str(),
        "mode": mode_name(r.mode),
        "id": r.physical_id,
        "tainted": r.tainted,
        "dependencies": r.dependencies.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "attributes": attrs_json(&r.attributes),
        "outputs": attrs_json(&r.outputs),
    })
}

/// One object as text, values inline as the plan text shows them.
fn object_text(l: &Listed<'_>) -> String {
    let r = l.resource;
    let id = r.physical_id.as_deref().unwrap_or(NO_ID);
    let mut out = if l.deposed {
        format!("# {} (deposed {id})\n", r.addr)
    } else {
        format!("# {}\n", r.addr)
    };
    out.push_str(&format!("id = {id}\n"));
    out.push_str(&format!("mode = {}\n", mode_name(r.mode)));
    if r.tainted {
        out.push_str("tainted = true\n");
    }
    if !r.dependencies.is_empty() {
        let deps: Vec<String> = r.dependencies.iter().map(ToString::to_string).collect();
        out.push_str(&format!("dependencies = [{}]\n", deps.join(", ")));
    }
    for (title, attrs) in [("attributes", &r.attributes), ("outputs", &r.outputs)] {
        out.push_str(&format!("{title}:\n"));
        if attrs.is_empty() {
            out.push_str("  (none)\n");
        }
        for (k, v) in attrs {
            out.push_str(&format!("  {k} = {}\n", inline(v)));
        }
    }
    out
}
