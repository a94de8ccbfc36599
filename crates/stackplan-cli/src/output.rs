//! Where command output goes: data to stdout (so `> file` captures clean
//! data), anything else to stderr.

use std::io::Write;
use std::path::Path;

use miette::{IntoDiagnostic, WrapErr};

/// Writes `text` to `path`, or to stdout when no path is given.
pub fn emit(text: &str, path: Option<&Path>) -> miette::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write `{}`", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).into_diagnostic()?;
            out.flush().into_diagnostic()
        }
    }
}
