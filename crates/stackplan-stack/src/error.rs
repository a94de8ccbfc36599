use std::ops::Range;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// One thing wrong with a stack file, pointing at the place in it.
#[derive(Debug, Clone, Error, Diagnostic, PartialEq, Eq)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            span: span.into(),
            label: label.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Why a stack file could not be turned into resources.
#[derive(Debug, Error, Diagnostic)]
pub enum StackError {
    #[error("cannot read stack file `{path}`")]
    #[diagnostic(help("pass the path of a TOML stack file, for example stacks/milvus-eks.toml"))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// No file at the path given: the hint names stack files that exist
    /// where the user is (the current directory and its `stacks/`).
    #[error("cannot read stack file `{path}`: there is no such file")]
    NotFound {
        path: String,
        #[help]
        hint: String,
    },

    #[error("stack file `{path}` is not UTF-8 text")]
    #[diagnostic(help("stack files are TOML, which is always UTF-8"))]
    NotUtf8 { path: String },

    #[error("cannot read Helm chart `{chart}`: {reason}")]
    #[diagnostic(help("check that the chart source in the stack names a valid Helm chart"))]
    Chart { chart: String, reason: String },

    #[error("{} in `{path}`", plural(problems.len()))]
    Invalid {
        path: String,
        #[source_code]
        src: NamedSource<String>,
        #[related]
        problems: Vec<Problem>,
    },
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 error".to_string()
    } else {
        format!("{n} errors")
    }
}

impl StackError {
    /// The individual problems, when the file was read but is invalid.
    pub fn problems(&self) -> &[Problem] {
        match self {
            StackError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}
