//! The crate's one error type, and the error a [`Provider`](crate::Provider) reports.

use std::path::PathBuf;

/// A [`Provider`](crate::Provider) could not answer (index unreachable, package unknown, broken
/// metadata...). Its message is shown to the user verbatim, so it should name the package and
/// where it looked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// The package the question was about.
    pub package: String,
    /// What went wrong, ready for the user.
    pub message: String,
}

impl ProviderError {
    /// An error about `package`.
    pub fn new(package: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            package: package.into(),
            message: message.into(),
        }
    }
}

/// Why requirements could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies every requirement; `report` explains why, step by step.
    #[error("the Python requirements cannot be satisfied:\n{report}")]
    NoSolution {
        /// PubGrub's derivation, one sentence per line, in PEP 440 terms.
        report: String,
    },
    /// The provider failed (network, unknown package, unreadable metadata).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A line of a constraints file cannot be used.
    #[error("{}:{line}: {message}", path.display())]
    Constraints {
        /// The file holding the line.
        path: PathBuf,
        /// 1-based number of the (first physical) line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A requirement or constraint grocker cannot resolve, such as a direct URL.
    #[error("unsupported requirement `{requirement}`: {reason}")]
    UnsupportedRequirement {
        /// The requirement as written.
        requirement: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A constraints file could not be read (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
