//! What happens when a wheel installs a path that is already there.
//!
//! pip overwrites, so the later install wins; uv does the same. grocker follows that outcome
//! (the caller installs in a documented, stable order) but says so: a file of another
//! distribution replaced with different content is returned as a [`Replaced`] for a warning.
//! Byte-identical files (the empty namespace `__init__.py` every `nvidia-*` wheel ships, a
//! console script two distributions both declare for the same function) are no conflict at
//! all. Two things no order can resolve stay errors: a wheel replacing grocker's own venv
//! files ([`Venv::is_own`]), and a path that is a directory for one distribution and a file
//! for the other.

use std::collections::HashSet;

use grocker_fs::{Kind, RelPath, Tree};

use crate::install::Wheel;
use crate::layout::record_name;
use crate::{Venv, WheelError, record};

/// A file one distribution installed over another's, with different content: the later
/// install's stays.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Replaced {
    /// Absolute path in the image, `/opt/venv/bin/tensorboard`.
    pub path: String,
    /// The distribution whose file was replaced (`tensorboard 2.18.0`).
    pub previous: String,
    /// The distribution whose file stays.
    pub by: String,
}

/// Checks `staged` (one wheel's files) against `tree` (what is installed so far): fails on
/// grocker's own files and on directory/file clashes; returns the files of `tree` that
/// `staged` replaces with different content. Identical files are left out: they change
/// nothing.
pub(crate) fn check(
    tree: &Tree,
    staged: &Tree,
    venv: &Venv,
    w: &Wheel<'_>,
    by: &str,
) -> Result<Vec<Replaced>, WheelError> {
    let clash = |path: &RelPath| WheelError::Conflict {
        wheel: w.file.to_string(),
        path: path.to_string(),
        owner: owner(tree, venv, path),
    };
    let is_dir = |kind: &Kind| *kind == Kind::Dir;
    let mut replaced = Vec::new();
    let mut owners: Option<Owners> = None;
    for (path, entry) in staged.iter() {
        if venv.is_own(path) {
            return Err(WheelError::OwnFile {
                wheel: w.file.to_string(),
                path: path.to_string(),
            });
        }
        if let Some(existing) = tree.get(path) {
            match (is_dir(&existing.kind), is_dir(&entry.kind)) {
                (true, true) => {}
                (false, false) if existing == entry => {}
                (false, false) => {
                    let owners = owners.get_or_insert_with(|| Owners::read(tree, venv));
                    replaced.push(Replaced {
                        path: path.to_string(),
                        previous: owners.of(path),
                        by: by.to_string(),
                    });
                }
                _ => return Err(clash(path)),
            }
        }
        for ancestor in path.ancestors() {
            if let Some(existing) = tree.get(&ancestor)
                && !is_dir(&existing.kind)
            {
                return Err(clash(&ancestor));
            }
        }
    }
    // The reverse: something already in the tree lies below one of the wheel's files. One
    // pass over the tree, slicing ancestors out of each path without allocating.
    let staged_files: HashSet<&str> = staged
        .iter()
        .filter(|(_, e)| !is_dir(&e.kind))
        .map(|(p, _)| p.as_str())
        .collect();
    for (path, _) in tree.iter() {
        let text = path.as_str();
        let below_a_file = text
            .match_indices('/')
            .any(|(i, _)| staged_files.contains(&text[..i]));
        if below_a_file {
            return Err(clash(path));
        }
    }
    Ok(replaced)
}

/// One warning per pair of distributions, naming both, the files and who won: what a build
/// prints for `replaced`.
pub fn replaced_warnings(replaced: &[Replaced]) -> Vec<String> {
    let mut pairs: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for r in replaced {
        match pairs
            .iter_mut()
            .find(|(previous, by, _)| *previous == r.previous && *by == r.by)
        {
            Some((_, _, paths)) => paths.push(&r.path),
            None => pairs.push((&r.previous, &r.by, vec![&r.path])),
        }
    }
    pairs
        .into_iter()
        .map(|(previous, by, paths)| {
            const SHOWN: usize = 3;
            let mut list = paths
                .iter()
                .take(SHOWN)
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if paths.len() > SHOWN {
                list.push_str(&format!(" and {} more", paths.len() - SHOWN));
            }
            let files = if paths.len() == 1 { "file" } else { "files" };
            format!(
                "{by} and {previous} both install {list} with different content: {by}'s \
                 {files} kept, as pip would (the later install wins) — check that the two \
                 distributions really belong in one environment"
            )
        })
        .collect()
}

/// `name version` of the distribution whose RECORD lists `path`.
fn owner(tree: &Tree, venv: &Venv, path: &RelPath) -> String {
    Owners::read(tree, venv).of(path)
}

/// Who installed what, from the RECORDs in the tree: read once per wheel that needs it.
struct Owners {
    /// RECORD's spelling of each path (`six.py`, `../../../bin/http`) → `name version`.
    by_record_name: std::collections::HashMap<String, String>,
    site: Option<RelPath>,
    root: Option<RelPath>,
    up_to_root: String,
}

impl Owners {
    fn read(tree: &Tree, venv: &Venv) -> Self {
        let root = venv.root_path().ok();
        let site_rel = venv.site_packages_rel();
        let site = root.as_ref().and_then(|r| r.join(&site_rel).ok());
        let mut by_record_name = std::collections::HashMap::new();
        for (candidate, entry) in tree.iter() {
            let Some(dist_info) = candidate.parent() else {
                continue;
            };
            if candidate.file_name() != "RECORD"
                || site.is_none()
                || dist_info.parent() != site
                || !dist_info.file_name().ends_with(".dist-info")
            {
                continue;
            }
            let Kind::File(content) = &entry.kind else {
                continue;
            };
            // RECORDs the installer wrote: in memory.
            let Ok(data) = content.read_all() else {
                continue;
            };
            let Ok(lines) = record::parse(&String::from_utf8_lossy(&data)) else {
                continue;
            };
            let stem = dist_info.file_name().trim_end_matches(".dist-info");
            let dist = match stem.rsplit_once('-') {
                Some((name, version)) => format!("{name} {version}"),
                None => stem.to_string(),
            };
            for line in lines {
                // Several RECORDs list a file two distributions both ship: the first in path
                // order is named (the same content either way, unless it was replaced).
                by_record_name
                    .entry(line.path)
                    .or_insert_with(|| dist.clone());
            }
        }
        Self {
            by_record_name,
            site,
            root,
            up_to_root: "../".repeat(site_rel.split('/').count()),
        }
    }

    fn of(&self, path: &RelPath) -> String {
        let fallback = "an earlier part of the image (no installed distribution lists it)";
        let (Some(site), Some(root)) = (&self.site, &self.root) else {
            return fallback.to_string();
        };
        let wanted = record_name(path, site, root, &self.up_to_root);
        self.by_record_name
            .get(&wanted)
            .cloned()
            .unwrap_or_else(|| fallback.to_string())
    }
}
