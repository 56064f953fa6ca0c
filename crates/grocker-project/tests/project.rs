//! grocker-project's one integration-test binary: parser tests on committed real lock files
//! (`fixtures`), and tests that run the real uv, Poetry and pip-tools (`tools`; they need the
//! network, and `scripts/pytools`).

#[path = "project/fixtures.rs"]
mod fixtures;
#[path = "project/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grocker_project::{LockKind, LockSource, Locked, Project, ProjectError, Selection, read_lock};
use grocker_wheel::{Arch, Target};

/// The image's interpreter every test selects for: Debian bookworm's CPython 3.11 on x86_64.
pub fn target() -> Target {
    Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: Arch::X86_64,
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Options of a selection, so tests read as what they ask for.
#[derive(Default)]
pub struct Ask<'a> {
    pub member: Option<&'a str>,
    pub extras: &'a [&'a str],
    pub groups: &'a [&'a str],
    pub file: Option<&'a str>,
}

pub fn try_read(dir: &Path, ask: Ask<'_>) -> Result<Locked, ProjectError> {
    let project = Project::read(dir)?;
    let source = LockSource::find(&project.root, ask.file.map(Path::new))?;
    let mut selection = Selection::new(target().marker_environment());
    selection.member = ask.member.map(|m| m.parse().unwrap());
    selection.extras = ask.extras.iter().map(|e| e.parse().unwrap()).collect();
    selection.groups = ask.groups.iter().map(ToString::to_string).collect();
    read_lock(&project, source, &selection)
}

pub fn read(dir: &Path, ask: Ask<'_>) -> Locked {
    try_read(dir, ask).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// `name -> version` of what was selected.
pub fn pins(locked: &Locked) -> BTreeMap<String, String> {
    locked
        .packages
        .iter()
        .map(|p| (p.name.to_string(), p.version.to_string()))
        .collect()
}

/// `name==version` lines of an export whose marker holds for [`target`].
pub fn requirement_pins(text: &str) -> BTreeMap<String, String> {
    grocker_testkit::pytools::requirement_pins(text, &target().marker_environment())
}

pub fn kind_of(locked: &Locked) -> LockKind {
    locked.source.kind
}
