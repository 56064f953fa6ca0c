//! Which lock file a project uses, when it has several.

use std::fmt;
use std::path::{Path, PathBuf};

use grocker_hash::Sha256;

use crate::error::ProjectError;

/// The lock formats grocker reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockKind {
    /// `uv.lock` (version 1).
    Uv,
    /// `poetry.lock` (Poetry 1.x and 2.x).
    Poetry,
    /// `pylock.toml` / `pylock.NAME.toml` (PEP 751).
    Pylock,
    /// A pip requirements file (`requirements.txt`, pip-compile's output).
    Requirements,
}

impl LockKind {
    /// The kind a file's name says: `uv.lock`, `poetry.lock`, `pylock[.NAME].toml`; anything
    /// else is read as a requirements file.
    pub fn from_file_name(path: &Path) -> Self {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match name {
            "uv.lock" => Self::Uv,
            "poetry.lock" => Self::Poetry,
            _ if name.starts_with("pylock.") && name.ends_with(".toml") => Self::Pylock,
            _ => Self::Requirements,
        }
    }

    /// The command that refreshes a lock of this kind.
    pub fn lock_command(self) -> &'static str {
        match self {
            Self::Uv => "uv lock",
            Self::Poetry => "poetry lock",
            Self::Pylock => "uv export --format pylock.toml -o pylock.toml",
            Self::Requirements => "pip-compile --generate-hashes",
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Uv => "uv.lock",
            Self::Poetry => "poetry.lock",
            Self::Pylock => "pylock.toml",
            Self::Requirements => "requirements file",
        })
    }
}

/// The lock file used, so the caller can say which one (and record its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSource {
    /// The file, absolute.
    pub path: PathBuf,
    /// Its format.
    pub kind: LockKind,
    /// The SHA-256 of its bytes.
    pub sha256: Sha256,
}

/// In the order a user expects: uv's lock is what `uv sync` installs, Poetry's what `poetry
/// install` installs; `pylock.toml` and `requirements.txt` are usually exports of those.
const CANDIDATES: [(&str, LockKind); 4] = [
    ("uv.lock", LockKind::Uv),
    ("poetry.lock", LockKind::Poetry),
    ("pylock.toml", LockKind::Pylock),
    ("requirements.txt", LockKind::Requirements),
];

impl LockSource {
    /// The lock of the project in `dir`: `explicit` when given (relative to `dir`), else the first
    /// of `uv.lock`, `poetry.lock`, `pylock.toml`, `requirements.txt` present.
    pub fn find(dir: &Path, explicit: Option<&Path>) -> Result<Self, ProjectError> {
        let (path, kind) = match explicit {
            Some(file) => {
                let path = dir.join(file);
                (path.clone(), LockKind::from_file_name(&path))
            }
            None => CANDIDATES
                .iter()
                .map(|(name, kind)| (dir.join(name), *kind))
                .find(|(path, _)| path.is_file())
                .ok_or_else(|| ProjectError::NoLock {
                    dir: dir.to_path_buf(),
                })?,
        };
        Self::of(&path, kind)
    }

    /// The file at `path`, read as `kind`.
    pub fn of(path: &Path, kind: LockKind) -> Result<Self, ProjectError> {
        let path = fs_err::canonicalize(path)?;
        let bytes = fs_err::read(&path)?;
        Ok(Self {
            sha256: Sha256::digest(&bytes),
            path,
            kind,
        })
    }
}
