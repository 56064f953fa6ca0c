//! The one error type of this crate: every variant says which file (and line, when known) and
//! which key, because a user has to find the line to fix it.

use std::fmt;
use std::path::PathBuf;

use grocker_runtime::Runtime;

/// A place in a configuration file: `path`, or `path:line` when the parser knows the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was given (or found next to the project).
    pub path: PathBuf,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        Ok(())
    }
}

/// What can go wrong reading Grocker configuration files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file given with `-c/--config` does not exist.
    #[error("config file {} does not exist", path.display())]
    MissingFile {
        /// The file that was asked for.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("cannot read config file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why, in words (the file is named once, above).
        reason: String,
    },
    /// The file is not valid YAML (or TOML for `pyproject.toml`).
    #[error("{at}: invalid {format}: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// `YAML` or `TOML`.
        format: &'static str,
        /// The parser's explanation.
        message: String,
    },
    /// A key grocker does not know, often a typo (`entrypoint:` for `entrypoint_name:`).
    #[error(
        "{at}: unknown key `{key}`{}; valid keys are {}",
        did_you_mean(suggestion),
        valid.join(", ")
    )]
    UnknownKey {
        /// Where.
        at: Location,
        /// The full key path, such as `dependencies.runtime`.
        key: String,
        /// A valid key that looks like the typed one.
        suggestion: Option<&'static str>,
        /// The keys allowed at that level.
        valid: &'static [&'static str],
    },
    /// A value of the wrong kind, such as a string where a list is expected.
    #[error("{at}: `{key}` must be {expected}, found {found}")]
    WrongType {
        /// Where.
        at: Location,
        /// The full key path.
        key: String,
        /// What the key takes.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// A value of the right kind that still makes no sense (a port above 65535, a broken
    /// `deb` line…).
    #[error("{at}: `{key}`: {problem}")]
    InvalidValue {
        /// Where.
        at: Location,
        /// The full key path.
        key: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// A runtime grocker cannot build.
    #[error(
        "{at}: `{key}`: unknown runtime `{given}`: choose one of {}{}",
        known_runtimes(),
        runtime_note(given)
    )]
    UnknownRuntime {
        /// Where.
        at: Location,
        /// `runtime` or `runtimes.<name>`.
        key: String,
        /// The runtime the file names.
        given: String,
    },
    /// A Grocker key grocker deliberately does not implement.
    #[error("{at}: `{key}` is not supported: {reason}")]
    Unsupported {
        /// Where.
        at: Location,
        /// The full key path.
        key: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A required entry is missing once all files are merged.
    #[error("{at}: `{key}` has no `{field}` ({what})")]
    Missing {
        /// Where the incomplete entry was last written.
        at: Location,
        /// The incomplete entry.
        key: String,
        /// The missing key.
        field: &'static str,
        /// What that key holds.
        what: &'static str,
    },
    /// A `.toml` file given with `-c` has no `[tool.grocker]` table.
    #[error("{} has no [tool.grocker] table", path.display())]
    NoToolTable {
        /// The file.
        path: PathBuf,
    },
}

fn known_runtimes() -> String {
    let known: Vec<String> = Runtime::debian_runtimes()
        .iter()
        .map(ToString::to_string)
        .collect();
    format!(
        "{} (Debian's Python), or SUITE/3.X with SUITE one of {} (CPython built from source)",
        known.join(", "),
        Runtime::suites().join(", ")
    )
}

/// A hint for the names older Grocker versions accepted.
fn runtime_note(given: &str) -> &'static str {
    if given.starts_with("python") {
        " (Grocker's `pythonX.Y` names work when one of these runtimes ships that Python)"
    } else if given.starts_with("alpine") {
        " (grocker builds Debian runtimes only)"
    } else {
        ""
    }
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}
