//! `stackplan fmt STACK [--check]`: a valid stack file rewritten in the
//! documented layout (`stackplan_stack::format_stack`). An invalid file is
//! refused with validate's errors and never touched; the rewrite replaces
//! the file atomically (a temp file beside it, renamed over it).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::Outcome;

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The stack file, rewritten in place.
    pub stack: PathBuf,
    /// Change nothing: exit 1, naming the file, when it is not formatted.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &FmtArgs) -> miette::Result<Outcome> {
    let path = &args.stack;
    let shown = path.display().to_string();
    let text = std::fs::read(path)
        .map_err(|source| stackplan_stack::StackError::Read {
            path: shown.clone(),
            source,
        })
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| stackplan_stack::StackError::NotUtf8 {
                path: shown.clone(),
            })
        })?;
    // The same checks as `validate`, graph included, before any rewrite.
    super::load(path)?;
    let formatted = stackplan_stack::format_stack(&shown, &text)?;
    if formatted == text {
        eprintln!("{shown} is formatted");
        return Ok(Outcome::Clean);
    }
    if args.check {
        return Err(miette!(
            help = format!("run `stackplan fmt {shown}` to format it"),
            "{shown} is not formatted"
        ));
    }
    replace(path, &formatted)?;
    eprintln!("formatted {shown}");
    Ok(Outcome::Clean)
}

/// Writes `text` to a temp file beside `path` with `path`'s permissions,
/// then renames it over `path`: a crash leaves the old file or the new.
fn replace(path: &Path, text: &str) -> miette::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.stackplan-fmt-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.set_permissions(std::fs::metadata(path)?.permissions())?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write `{}`", path.display()))
}
