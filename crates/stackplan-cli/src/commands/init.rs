//! `stackplan init [--example NAME] [PATH]`: writes one of the shipped
//! stacks as a starting point. The examples are the repository's own files
//! (compiled in), which the validate tests already keep valid, under a
//! header saying what to change; an existing file is never replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::Outcome;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Which stack to start from.
    #[arg(long, value_enum, default_value_t = Example::Reference)]
    pub example: Example,
    /// Where to write it; an existing file is never overwritten.
    #[arg(default_value = "stack.toml")]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Example {
    /// EKS in an existing VPC with an S3 bucket; no Milvus, no MSK.
    Minimal,
    /// The reference deployment: EKS in an existing VPC, S3, MSK with
    /// SASL/SCRAM, Milvus and Attu behind load balancers.
    Reference,
    /// The reference deployment in a VPC stackplan creates, Milvus sized
    /// from its collection.
    NewVpc,
}

impl Example {
    /// The shipped file this example is.
    fn source(self) -> &'static str {
        match self {
            Example::Minimal => include_str!("../../../../examples/minimal.toml"),
            Example::Reference => include_str!("../../../../stacks/milvus-eks.toml"),
            Example::NewVpc => include_str!("../../../../examples/new-vpc.toml"),
        }
    }

    /// What a user changes before a plan means anything.
    fn to_change(self) -> &'static str {
        match self {
            Example::Minimal | Example::Reference => {
                "# Before planning, put your own in: [stack] name and region, the VPC and\n\
                 # subnet ids in [network] (`aws ec2 describe-subnets`), and globally\n\
                 # unique bucket names.\n"
            }
            Example::NewVpc => {
                "# Before planning, put your own in: [stack] name and region, the VPC's\n\
                 # CIDR block, and a globally unique bucket name.\n"
            }
        }
    }

    /// The starter file: a header, then the example as shipped.
    pub fn text(self) -> String {
        format!(
            "# A stackplan stack, written by `stackplan init`. The README's \"The stack\n\
             # file\" section lists every key with its type, default and units.\n\
             {}\
             # `stackplan validate FILE` checks it offline; `stackplan plan FILE` shows\n\
             # what apply would make in the account.\n\
             \n{}",
            self.to_change(),
            self.source()
        )
    }
}

pub fn run(args: &InitArgs) -> miette::Result<Outcome> {
    write_new(&args.path, &args.example.text())?;
    eprintln!(
        "wrote {} ({} example); edit it, then `stackplan validate {}`",
        args.path.display(),
        args.example
            .to_possible_value()
            .expect("no skipped variants")
            .get_name(),
        args.path.display()
    );
    Ok(Outcome::Clean)
}

/// Creates `path` with `text`, refusing to replace anything there.
fn write_new(path: &Path, text: &str) -> miette::Result<()> {
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(miette!(
                help = format!(
                    "init never overwrites a file: give another path (`stackplan init {}`), or move `{}` away first",
                    "my-stack.toml",
                    path.display()
                ),
                "`{}` already exists",
                path.display()
            ));
        }
        Err(e) => {
            return Err(e)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create `{}`", path.display()));
        }
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write `{}`", path.display()))
}
