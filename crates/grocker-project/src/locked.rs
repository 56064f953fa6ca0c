//! What every lock format is read into: exactly pinned packages with their candidate files.

use std::path::PathBuf;
use std::str::FromStr;

use grocker_hash::Sha256;
use grocker_wheel::{ExtraName, MarkerEnvironment, PackageName, Tags, Version, WheelFilename};

use crate::source::LockSource;

/// What to select from a lock: which member, extras and dependency groups, for which target.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The workspace member to install (uv workspaces); `None` is the root project.
    pub member: Option<PackageName>,
    /// Extras of the selected project to include (`[project.optional-dependencies]`).
    pub extras: Vec<ExtraName>,
    /// Dependency groups to include (PEP 735, Poetry groups); dev groups are out unless named.
    pub groups: Vec<String>,
    /// The image's interpreter: every marker is evaluated against it.
    pub environment: MarkerEnvironment,
}

impl Selection {
    /// The root project, no extras, no groups, for `environment`.
    pub fn new(environment: MarkerEnvironment) -> Self {
        Self {
            member: None,
            extras: Vec::new(),
            groups: Vec::new(),
            environment,
        }
    }

    /// Whether group `name` was asked for (names compared normalized, PEP 735).
    pub(crate) fn wants_group(&self, name: &str) -> bool {
        let name = normalize(name);
        self.groups.iter().any(|g| normalize(g) == name)
    }
}

/// A lock read for one [`Selection`]: the packages to install, the project's own packages to
/// build, the index configuration the lock names, and whether `pyproject.toml` moved on.
#[derive(Clone, Debug)]
pub struct Locked {
    /// Which file this came from, and its hash.
    pub source: LockSource,
    /// Third-party packages, exactly pinned, sorted by name.
    pub packages: Vec<LockedPackage>,
    /// Path dependencies inside the project or workspace (the selected member first): built, not
    /// downloaded.
    pub local: Vec<LocalPackage>,
    /// Index options the lock records (requirements files' `--index-url` and friends).
    pub indexes: IndexOptions,
    /// Set when `pyproject.toml` no longer matches the lock.
    pub stale: Option<Stale>,
}

/// One pinned third-party package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedPackage {
    /// Its normalized name.
    pub name: PackageName,
    /// The exact version.
    pub version: Version,
    /// The index the lock found it on (uv, pylock), `None` when the lock does not say (Poetry's
    /// default source, requirements files: see [`Locked::indexes`]).
    pub index: Option<String>,
    /// The files the lock allows, each with its hash. Poetry's lock records file names without
    /// URLs: then `url` is `None` and the caller finds the file by name on the index.
    pub files: Vec<LockedFile>,
    /// Hashes allowed without file names (requirements files' `--hash`): the caller takes a file
    /// from the index and it must have one of these. Empty when `files` says it all, or when a
    /// hand-written requirements file pins without hashes.
    pub hashes: Vec<Sha256>,
}

/// A file a lock allows for a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedFile {
    /// The file name (`six-1.16.0-py2.py3-none-any.whl`, `six-1.16.0.tar.gz`).
    pub filename: String,
    /// Where the lock found it; `None` for Poetry (the index has it under `filename`).
    pub url: Option<String>,
    /// Its SHA-256: the downloaded bytes must have it.
    pub sha256: Sha256,
    /// Its size in bytes, when the lock records it.
    pub size: Option<u64>,
    /// The parsed wheel name, `None` for an sdist.
    pub wheel: Option<WheelFilename>,
}

impl LockedFile {
    /// A file, its kind told by its name.
    pub(crate) fn new(
        filename: String,
        url: Option<String>,
        sha256: Sha256,
        size: Option<u64>,
    ) -> Self {
        let wheel = if filename.ends_with(".whl") {
            WheelFilename::from_str(&filename).ok()
        } else {
            None
        };
        Self {
            filename,
            url,
            sha256,
            size,
            wheel,
        }
    }

    /// Whether this is a source distribution (not a wheel).
    pub fn is_sdist(&self) -> bool {
        !self.filename.ends_with(".whl")
    }
}

impl LockedPackage {
    /// The wheel to install for `tags`: the best tag priority, the file name breaking ties (as
    /// grocker's resolver chooses), else the sdist (`.tar.gz` before `.zip`, PEP 625), else
    /// `None` — no file of this package fits the target.
    pub fn best_file(&self, tags: &Tags) -> Option<&LockedFile> {
        let wheel = self
            .files
            .iter()
            .filter_map(|f| Some((tags.priority(f.wheel.as_ref()?)?, f)))
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.filename.cmp(&a.1.filename)));
        if let Some((_, file)) = wheel {
            return Some(file);
        }
        self.files.iter().filter(|f| f.is_sdist()).min_by(|a, b| {
            b.filename
                .ends_with(".tar.gz")
                .cmp(&a.filename.ends_with(".tar.gz"))
                .then_with(|| a.filename.cmp(&b.filename))
        })
    }
}

/// A package of the project itself, built from its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPackage {
    /// Its normalized name.
    pub name: PackageName,
    /// Its directory, absolute.
    pub path: PathBuf,
    /// Whether it has a build system (uv's `virtual` sources and `package = false` do not: their
    /// files ship as a source tree, their dependencies are installed all the same).
    pub is_package: bool,
}

/// Index options a lock records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// `--index-url` / `-i`: replaces the default index.
    pub index_url: Option<String>,
    /// `--extra-index-url`, in order.
    pub extra_index_urls: Vec<String>,
    /// `--find-links` / `-f`, in order.
    pub find_links: Vec<String>,
    /// `--no-index` was given.
    pub no_index: bool,
}

/// `pyproject.toml` changed since the lock was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    /// What differs.
    pub reason: String,
    /// The command that brings the lock up to date (`uv lock`, `poetry lock`).
    pub command: &'static str,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; run `{}`", self.reason, self.command)
    }
}

/// A name normalized as PEP 503 and PEP 735 say: lower case, runs of `-_.` as one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Packages sorted by name then version, so every reader returns one order.
pub(crate) fn sorted(mut packages: Vec<LockedPackage>) -> Vec<LockedPackage> {
    packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    packages
}
