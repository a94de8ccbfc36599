//! The `stackplan` binary: parses the command line, runs one command, and
//! turns its outcome into output and an exit code. The only crate that prints.

// The binary is where output belongs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod help;
mod output;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// `stackplan --version`'s line, and the first of `stackplan version`: the
/// package version and the commit it was built from (`build.rs`).
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("STACKPLAN_GIT_COMMIT"),
    ")"
);

/// Plan and apply Milvus on Amazon EKS (S3, MSK, load balancers) from one TOML stack file.
#[derive(Debug, Parser)]
#[command(
    name = "stackplan",
    version = VERSION_LINE,
    propagate_version = true,
    after_help = help::MAIN,
    after_long_help = help::MAIN_LONG
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented starter stack file to edit.
    #[command(after_help = help::INIT)]
    Init(commands::init::InitArgs),
    /// Check a stack file and its resource graph, offline; changes nothing.
    #[command(after_help = help::VALIDATE)]
    Validate {
        /// The stack file.
        stack: PathBuf,
    },
    /// Format a valid stack file: documented key order, aligned `=`,
    /// comments kept.
    #[command(after_help = help::FMT)]
    Fmt(commands::fmt::FmtArgs),
    /// Print the resource dependency graph, offline.
    #[command(after_help = help::GRAPH)]
    Graph {
        /// The stack file.
        stack: PathBuf,
        /// `mermaid` for Markdown pages, `dot` for Graphviz. Looked-up
        /// resources are dashed, stateful ones bold.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Write the generated Milvus Helm values for inspection, or with
    /// `--manifests` the Kubernetes objects the charts render from them.
    #[command(after_help = help::RENDER)]
    Render {
        /// The stack file.
        stack: PathBuf,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print the objects every release's chart renders (`helm
        /// template`), after the same checks plan runs.
        #[arg(long)]
        manifests: bool,
    },
    /// Read the live state, compare it with the stack and the state, and
    /// show what apply would do.
    #[command(after_help = help::PLAN)]
    Plan(commands::plan::PlanArgs),
    /// Show a plan saved with `plan -o`.
    #[command(after_help = help::SHOW)]
    Show(commands::show::ShowArgs),
    /// Apply a stack (after showing its plan and asking) or a saved plan.
    #[command(after_help = help::APPLY)]
    Apply(commands::apply::ApplyArgs),
    /// Delete every resource of a stack, in reverse dependency order.
    #[command(after_help = help::DESTROY)]
    Destroy(commands::apply::DestroyArgs),
    /// Report what changed outside stackplan since the last apply.
    #[command(after_help = help::DRIFT)]
    Drift(commands::drift::DriftArgs),
    /// Print where the deployment is: the Milvus endpoint, Attu's URL, the
    /// bucket, the brokers, the EKS cluster (from state, and the cluster).
    #[command(after_help = help::OUTPUT)]
    Output(commands::output::OutputArgs),
    /// Work on a stack's state directly: `state list` and `state show`
    /// read it, `state push` writes a recovery file to the stack's backend.
    #[command(after_help = help::STATE)]
    State(commands::state::StateArgs),
    /// Take a live resource made outside stackplan into the stack's state
    /// by its id, then show the plan against the new state.
    #[command(after_help = help::IMPORT)]
    Import(commands::import::ImportArgs),
    /// Show who holds the state lock and release it.
    #[command(after_help = help::UNLOCK)]
    Unlock(commands::unlock::UnlockArgs),
    /// Print the version, the commit, the build and the helm stackplan
    /// will use.
    #[command(after_help = help::VERSION)]
    Version(commands::version::VersionArgs),
    /// Print a shell completion script.
    #[command(after_help = help::COMPLETION)]
    Completion(commands::completion::CompletionArgs),
    /// Write the man pages: `stackplan.1`, and one per command with
    /// `--out-dir`.
    #[command(hide = true, after_help = help::MAN)]
    Man(commands::completion::ManArgs),
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

/// Prints clap's message and exits: 0 for `--help` and `--version`, 1 for
/// a usage error (an unknown flag, a missing argument). Never clap's 2,
/// which stackplan's exit codes give to "changes pending" and "drift".
fn usage_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    install_error_hook();
    // kube and the AWS SDK link rustls with different crypto providers;
    // without a process default, the first TLS connection panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_exit(&e),
    };
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&args),
        Command::Fmt(args) => commands::fmt::run(&args),
        Command::Version(args) => commands::version::run(&args),
        Command::Completion(args) => commands::completion::run(&args),
        Command::Man(args) => commands::completion::man(&args),
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
