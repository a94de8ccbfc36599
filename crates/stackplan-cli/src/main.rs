//! The `stackplan` binary: parses the command line, runs one command, and
//! turns its outcome into output and an exit code. The only crate that prints.

// The binary is where output belongs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod output;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Plan and apply the Milvus-on-EKS deployment from one TOML stack file.
#[derive(Debug, Parser)]
#[command(name = "stackplan", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a stack file and its resource graph; changes nothing.
    Validate {
        /// The stack file.
        stack: PathBuf,
    },
    /// Print the resource dependency graph.
    Graph {
        stack: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Write the generated Milvus Helm values for inspection, or with
    /// `--manifests` the Kubernetes objects the charts render from them.
    Render {
        /// The stack file.
        stack: PathBuf,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print the objects every release's chart renders (`helm
        /// template`), after the same checks plan runs.
        #[arg(long)]
        manifests: bool,
    },
    /// Read the live state, compare it with the stack and the state, and
    /// show what apply would do.
    Plan(commands::plan::PlanArgs),
    /// Report what changed outside stackplan since the last apply.
    Drift(commands::drift::DriftArgs),
    /// Show a plan saved with `plan -o`.
    Show(commands::show::ShowArgs),
    /// Print where the deployment is: the Milvus endpoint, Attu's URL, the
    /// bucket, the brokers, the EKS cluster (from state, and the cluster).
    Output(commands::output::OutputArgs),
    /// Show who holds the state lock and release it.
    Unlock(commands::unlock::UnlockArgs),
    /// Work on a stack's state directly: `state list` and `state show`
    /// read it, `state push` writes a recovery file to the stack's backend.
    State(commands::state::StateArgs),
    /// Take a live resource made outside stackplan into the stack's state
    /// by its id, then show the plan against the new state.
    Import(commands::import::ImportArgs),
    /// Apply a stack (after showing its plan and asking) or a saved plan.
    Apply(commands::apply::ApplyArgs),
    /// Delete every resource of a stack, in reverse dependency order.
    Destroy(commands::apply::DestroyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

/// What a command wants the process to exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do, or done.
    Clean,
    /// Changes or drift found (`--detailed-exitcode`, `drift`).
    Changes,
}

fn install_error_hook() {
    let stderr_tty = std::io::stderr().is_terminal();
    let color = stderr_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = miette::set_hook(Box::new(move |_| {
        let mut opts = miette::MietteHandlerOpts::new()
            .terminal_links(false)
            .unicode(true)
            .color(color)
            .context_lines(1);
        if !stderr_tty {
            opts = opts.width(100);
        }
        Box::new(opts.build())
    }));
}

fn main() -> ExitCode {
    install_error_hook();
    // kube and the AWS SDK link rustls with different crypto providers;
    // without a process default, the first TLS connection panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { stack } => commands::validate::run(&stack),
        Command::Graph { stack, format } => commands::graph::run(&stack, format),
        Command::Render {
            stack,
            output,
            manifests,
        } => commands::render::run(
            &stack,
            output.as_deref(),
            manifests,
            &commands::charts::ChartAccess::from_env(),
        ),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Drift(args) => commands::drift::run(&args),
        Command::Show(args) => commands::show::run(&args),
        Command::Output(args) => commands::output::run(&args),
        Command::Unlock(args) => commands::unlock::run(&args),
        Command::State(args) => commands::state::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Apply(args) => commands::apply::run(&args),
        Command::Destroy(args) => commands::apply::destroy(&args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
        }
    }
}
