//! Two distributions must not ship the same file.
//!
//! pip silently overwrites in that case, and which file wins then depends on the install order:
//! for an image that is a real bug, so grocker reports it, naming the distribution that came
//! first (found through the RECORDs already in the tree).

use std::collections::HashSet;

use grocker_fs::{Kind, RelPath, Tree};

use crate::install::Wheel;
use crate::layout::record_name;
use crate::{Venv, WheelError, record};

/// Fails if any path of `staged` is already a file, link or directory in `tree` (directories
/// may be shared), or needs as a directory what `tree` has as something else, or the reverse.
pub(crate) fn check(
    tree: &Tree,
    staged: &Tree,
    venv: &Venv,
    w: &Wheel<'_>,
) -> Result<(), WheelError> {
    let clash = |path: &RelPath| WheelError::Conflict {
        wheel: w.file.to_string(),
        path: path.to_string(),
        owner: owner(tree, venv, path),
    };
    let is_dir = |kind: &Kind| *kind == Kind::Dir;
    for (path, entry) in staged.iter() {
        if let Some(existing) = tree.get(path)
            && !(is_dir(&existing.kind) && is_dir(&entry.kind))
        {
            return Err(clash(path));
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
    Ok(())
}

/// `name version` of the distribution whose RECORD lists `path`.
fn owner(tree: &Tree, venv: &Venv, path: &RelPath) -> String {
    let fallback = "an earlier part of the image (no installed distribution lists it)";
    let Ok(root) = venv.root_path() else {
        return fallback.to_string();
    };
    let site_rel = venv.site_packages_rel();
    let Ok(site) = root.join(&site_rel) else {
        return fallback.to_string();
    };
    let wanted = record_name(
        path,
        &site,
        &root,
        &"../".repeat(site_rel.split('/').count()),
    );
    for (candidate, entry) in tree.iter() {
        let Some(dist_info) = candidate.parent() else {
            continue;
        };
        if candidate.file_name() != "RECORD"
            || dist_info.parent().as_ref() != Some(&site)
            || !dist_info.file_name().ends_with(".dist-info")
        {
            continue;
        }
        let Kind::File(data) = &entry.kind else {
            continue;
        };
        let Ok(lines) = record::parse(&String::from_utf8_lossy(data)) else {
            continue;
        };
        if lines.iter().any(|l| l.path == wanted) {
            let stem = dist_info.file_name().trim_end_matches(".dist-info");
            return match stem.rsplit_once('-') {
                Some((name, version)) => format!("{name} {version}"),
                None => stem.to_string(),
            };
        }
    }
    fallback.to_string()
}
