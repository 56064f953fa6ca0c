//! A local Python project read into what grocker needs: its `pyproject.toml`, whether it is a
//! package or an app, and its lock file as exactly pinned packages.
//!
//! This is the "inputs" stage for a project directory (DESIGN §1.1): inputs → **Plan** → fetch →
//! layers. A project's own lock is the truth for its Python packages — grocker installs exactly
//! what it pins, verified by its hashes, and never resolves: this crate reads `uv.lock` (and uv
//! workspaces), `poetry.lock` (Poetry 1.x and 2.x), `pylock.toml` (PEP 751) and pip requirements
//! files, selects what the target installs (the member, its extras and the groups asked for,
//! every marker evaluated for the image's interpreter), and says whether `pyproject.toml` moved on
//! since the lock was made. It does no network and no resolution; the planner turns the
//! [`LockedPackage`]s into a Plan, fetching each file by its URL (or by name on the index, for
//! Poetry) and checking its SHA-256.
//!
//! - [`Project`]: `pyproject.toml` read; [`ProjectKind`] says package or app (no build system:
//!   shipped as a source tree in `/app`).
//! - [`LockSource::find`]: which lock, in the order a user expects (an explicit file, then
//!   `uv.lock`, `poetry.lock`, `pylock.toml`, `requirements.txt`), with the file's hash.
//! - [`read_lock`]: the lock for a [`Selection`] → [`Locked`]: third-party packages with their
//!   candidate files, the project's own packages to build, index options, staleness.
//! - [`LockedPackage::best_file`]: the wheel for the target's [`grocker_wheel::Tags`], else the
//!   sdist.
//!
//! Not read yet, each refused with one clear error rather than guessed at: git, direct-URL and
//! local-archive sources; uv's conflict markers (`[tool.uv] conflicts`) are evaluated with no
//! extras, so such edges stay out. A `pylock.toml`'s `default-groups` are not applied: as for
//! every format, dependency groups are out unless [`Selection::groups`] names them.
//!
//! ```no_run
//! use grocker_project::{LockSource, Project, Selection, read_lock};
//! use grocker_wheel::{Arch, Target};
//!
//! let target = Target { python: (3, 11), python_full: "3.11.2".parse()?, glibc: (2, 36), arch: Arch::X86_64 };
//! let project = Project::read("my-service".as_ref())?;
//! let source = LockSource::find(&project.root, None)?; // uv.lock, poetry.lock, ...
//! let locked = read_lock(&project, source, &Selection::new(target.marker_environment()))?;
//! if let Some(stale) = &locked.stale {
//!     eprintln!("warning: {stale}");
//! }
//! let tags = target.tags();
//! for package in &locked.packages {
//!     let file = package.best_file(&tags).map(|f| f.filename.as_str());
//!     println!("{} {} {}", package.name, package.version, file.unwrap_or("(on the index)"));
//! }
//! println!("{:?}: {:?}", locked.source.path, project.kind());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use content_hash::content_hash;
pub use error::ProjectError;
pub use locked::{IndexOptions, LocalPackage, Locked, LockedFile, LockedPackage, Selection, Stale};
pub use pyproject::{BuildSystem, Project, ProjectKind, PyProject};
pub use source::{LockKind, LockSource};

mod content_hash;
mod error;
mod locked;
mod poetry;
mod pylock;
mod pyproject;
mod requirements;
mod source;
mod stale;
mod uv;
mod values;

/// Reads the lock `source` of `project` and selects what `selection` installs.
pub fn read_lock(
    project: &Project,
    source: LockSource,
    selection: &Selection,
) -> Result<Locked, ProjectError> {
    match source.kind {
        LockKind::Uv => uv::read(project, source, selection),
        LockKind::Poetry => poetry::read(project, source, selection),
        LockKind::Pylock => pylock::read(project, source, selection),
        LockKind::Requirements => requirements::read(project, source, selection),
    }
}
