//! A project's lock as grocker reads it: `uv.lock` (and uv workspaces), `poetry.lock`,
//! `pylock.toml`, requirements files (with `-r`/`-c` includes), each next to a `pyproject.toml`.
//! The input is the project's files as sections (`=== NAME` lines); each lock file among them
//! is read in turn by `read_lock`, for the default selection and with the `dev` group.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use grocker_project::{LockSource, Project, Selection, read_lock};
use grocker_wheel::{Arch, Target};
use libfuzzer_sys::fuzz_target;

/// One directory for every run, emptied before each input: creating one per input would cost
/// more than the parsing.
static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));

/// The names a section may have: relative, plain components, so that nothing is written
/// outside the temporary project.
fn safe_name(name: &str) -> Option<PathBuf> {
    let ok = !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    ok.then(|| PathBuf::from(name))
}

fn is_lock(name: &Path) -> bool {
    let name = name.to_string_lossy();
    name == "uv.lock"
        || name == "poetry.lock"
        || (name.starts_with("pylock.") && name.ends_with(".toml"))
        || name.ends_with(".txt")
}

fuzz_target!(|data: &[u8]| {
    let root = DIR.path().join("project");
    let _ = fs_err::remove_dir_all(&root);
    fs_err::create_dir_all(&root).expect("the project directory");
    let mut locks = Vec::new();
    for (name, bytes) in grocker_fuzz::sections(data).into_iter().take(8) {
        let Some(name) = safe_name(&name) else {
            continue;
        };
        let path = root.join(&name);
        if let Some(parent) = path.parent() {
            let _ = fs_err::create_dir_all(parent);
        }
        if fs_err::write(&path, bytes).is_ok() && is_lock(&name) {
            locks.push(name);
        }
    }
    let Ok(project) = Project::read(&root) else {
        return;
    };
    let target = Target {
        python: (3, 11),
        python_full: "3.11.2".parse().expect("a valid version"),
        glibc: (2, 36),
        arch: Arch::X86_64,
    };
    let mut dev = Selection::new(target.marker_environment());
    dev.groups = vec!["dev".to_string()];
    for lock in &locks {
        for selection in [Selection::new(target.marker_environment()), dev.clone()] {
            let Ok(source) = LockSource::find(&project.root, Some(lock)) else {
                continue;
            };
            let Ok(locked) = read_lock(&project, source, &selection) else {
                continue;
            };
            for package in &locked.packages {
                for file in &package.files {
                    // File names become paths in the download cache and the builder's work
                    // directory: one plain component, nothing that climbs or roots.
                    let name = file.filename.as_str();
                    assert!(
                        !name.is_empty()
                            && !name.contains(['/', '\\', '\0'])
                            && name != "."
                            && name != "..",
                        "{lock:?}: {} {} has the file name {name:?}",
                        package.name,
                        package.version
                    );
                }
            }
        }
    }
});
