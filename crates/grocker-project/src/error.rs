//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong reading a project or its lock. Every variant names the file, and the line
/// and the package where there is one; the message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// Reading a file or listing a directory failed (`fs-err` names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The file is not valid TOML, or a field has the wrong type.
    #[error(
        "{}{}: not valid TOML for this file: {message}",
        .path.display(), line_suffix(*.line)
    )]
    Toml {
        /// The file.
        path: PathBuf,
        /// The 1-based line the parser pointed at.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },

    /// A value the format defines is malformed (a version, a name, a hash, a marker).
    #[error("{}{}: {}{message}", .path.display(), line_suffix(*.line), package_prefix(.package))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// The package the value belongs to, when there is one.
        package: Option<String>,
        /// What is wrong, and what to do.
        message: String,
    },

    /// A package comes from a source grocker cannot install from a lock yet (git, direct URL).
    #[error(
        "{}: package `{package}` comes from {what}: not supported yet; publish it to an index \
         (or vendor it as a path dependency inside the project) and lock again",
        .path.display()
    )]
    Unsupported {
        /// The lock file.
        path: PathBuf,
        /// The package.
        package: String,
        /// The kind of source, with its URL.
        what: String,
    },

    /// A requirements file line that is not an exact pin, so installing it would resolve.
    #[error(
        "{}:{line}: `{requirement}` is not pinned: without hashes every line must be \
         NAME==VERSION; pin it, or generate the file with `pip-compile --generate-hashes` \
         (or `uv pip compile --generate-hashes`)",
        .path.display()
    )]
    NotPinned {
        /// The requirements file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The requirement as written.
        requirement: String,
    },

    /// A workspace member was asked for that the lock does not have.
    #[error(
        "{}: no workspace member `{member}` in this lock (members: {}); pick one of them",
        .path.display(), .known.join(", ")
    )]
    UnknownMember {
        /// The lock file.
        path: PathBuf,
        /// The member asked for.
        member: String,
        /// The members the lock has.
        known: Vec<String>,
    },

    /// The directory has no lock file grocker reads.
    #[error(
        "{}: no lock file (uv.lock, poetry.lock, pylock.toml or requirements.txt); grocker \
         installs exactly what a lock pins: run `uv lock` (or `poetry lock`, `pip-compile \
         --generate-hashes`) first",
        .dir.display()
    )]
    NoLock {
        /// The project directory.
        dir: PathBuf,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn package_prefix(package: &Option<String>) -> String {
    package
        .as_ref()
        .map(|p| format!("package `{p}`: "))
        .unwrap_or_default()
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A TOML file parsed into `T`, its errors turned into [`ProjectError::Toml`] with a line.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
) -> Result<T, ProjectError> {
    toml::from_str(text).map_err(|e| ProjectError::Toml {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_string(),
    })
}

/// A shorthand for [`ProjectError::Invalid`].
pub(crate) fn invalid(
    path: &std::path::Path,
    line: Option<usize>,
    package: Option<&str>,
    message: impl Into<String>,
) -> ProjectError {
    ProjectError::Invalid {
        path: path.to_path_buf(),
        line,
        package: package.map(str::to_string),
        message: message.into(),
    }
}
