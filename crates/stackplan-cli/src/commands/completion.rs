//! `stackplan completion SHELL` (clap_complete) and `stackplan man`
//! (clap_mangen): both generated from the same clap definition as
//! `--help`, so they never disagree with it.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use miette::{IntoDiagnostic, WrapErr};

use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `stackplan.1` and one page per command (`stackplan-plan.1`,
    /// ...) into this directory, instead of `stackplan.1` to stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn run(args: &CompletionArgs) -> miette::Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "stackplan", &mut out);
    Ok(Outcome::Clean)
}

pub fn man(args: &ManArgs) -> miette::Result<Outcome> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .into_diagnostic()
                .wrap_err("cannot write the man page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create `{}`", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write the man pages into `{}`", dir.display()))?;
            eprintln!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(Outcome::Clean)
}
