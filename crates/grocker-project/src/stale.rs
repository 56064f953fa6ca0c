//! Whether `pyproject.toml` moved on since uv locked it: its requirements against the ones the
//! lock recorded (`[package.metadata] requires-dist` and `requires-dev`), both normalized.

use std::path::Path;
use std::str::FromStr;

use grocker_wheel::{MarkerTree, Requirement, VersionOrUrl, VersionSpecifiers};

use crate::error::ProjectError;
use crate::locked::normalize;
use crate::pyproject::PyProject;
use crate::values::At;

/// One requirement as comparable text: `name[extras] specifiers ; marker`.
fn entry(
    name: &str,
    extras: &mut [String],
    specifier: Option<String>,
    marker: Option<MarkerTree>,
) -> String {
    extras.sort();
    let mut out = normalize(name);
    if !extras.is_empty() {
        out.push_str(&format!("[{}]", extras.join(",")));
    }
    if let Some(specifier) = specifier {
        out.push(' ');
        out.push_str(&specifier);
    }
    if let Some(marker) = marker.and_then(|m| m.try_to_string()) {
        out.push_str(" ; ");
        out.push_str(&marker);
    }
    out
}

/// Specifiers in one order, whatever order they were written in.
fn specifiers(text: &str) -> Option<String> {
    let parsed = VersionSpecifiers::from_str(text).ok()?;
    let mut parts: Vec<String> = parsed.iter().map(ToString::to_string).collect();
    parts.sort();
    Some(parts.join(","))
}

/// The requirements uv recorded for a member (`requires-dist` or one `requires-dev` group).
pub(crate) fn uv_entries(
    path: &Path,
    package: &str,
    tables: &[toml::Table],
) -> Result<Vec<String>, ProjectError> {
    let at = At {
        path,
        line: None,
        package: Some(package),
    };
    let mut out = Vec::new();
    for table in tables {
        let text = |k: &str| table.get(k).and_then(toml::Value::as_str);
        let Some(name) = text("name") else { continue };
        let mut extras: Vec<String> = crate::pyproject::strings(table.get("extras"))
            .iter()
            .map(|e| normalize(e))
            .collect();
        let sourced = ["path", "git", "url", "editable", "directory", "virtual"]
            .iter()
            .any(|k| table.contains_key(*k));
        let specifier = if sourced {
            None
        } else {
            text("specifier").and_then(specifiers)
        };
        let marker = text("marker").map(|m| at.marker(m)).transpose()?;
        out.push(entry(name, &mut extras, specifier, marker));
    }
    out.sort();
    Ok(out)
}

/// The same from `pyproject.toml`: `[project] dependencies` and every optional dependency
/// (marked `extra == '...'`, as uv records them), or the one dependency group `group`.
pub(crate) fn pyproject_entries(pyproject: &PyProject, group: Option<&str>) -> Vec<String> {
    let sourced = pyproject.uv_sources();
    let one = |r: &Requirement, extra: Option<&str>| {
        let mut extras: Vec<String> = r.extras.iter().map(ToString::to_string).collect();
        let specifier = match &r.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(s)) if !sourced.contains(&r.name.to_string()) => {
                specifiers(&s.to_string())
            }
            _ => None,
        };
        let mut marker = r.marker.clone();
        if let Some(extra) = extra
            && let Ok(extra_marker) = grocker_wheel::parse_markers(&format!("extra == '{extra}'"))
        {
            marker.and(extra_marker);
        }
        entry(r.name.as_ref(), &mut extras, specifier, Some(marker))
    };
    let mut out: Vec<String> = match group {
        Some(group) => pyproject
            .dependency_groups
            .get(group)
            .into_iter()
            .flatten()
            .map(|r| one(r, None))
            .collect(),
        None => {
            let mut all: Vec<String> = pyproject
                .dependencies
                .iter()
                .map(|r| one(r, None))
                .collect();
            for (extra, reqs) in &pyproject.optional_dependencies {
                all.extend(reqs.iter().map(|r| one(r, Some(extra.as_ref()))));
            }
            all
        }
    };
    out.sort();
    out
}

/// What differs between the two sides, said for a user; `None` when they agree.
pub(crate) fn compare(
    package: &str,
    what: &str,
    pyproject: &[String],
    lock: &[String],
) -> Option<String> {
    if let Some(added) = pyproject.iter().find(|e| !lock.contains(e)) {
        return Some(format!(
            "pyproject.toml of `{package}` has `{added}` in its {what}, which the lock was not made with"
        ));
    }
    lock.iter().find(|e| !pyproject.contains(e)).map(|removed| {
        format!("the lock was made with `{removed}` in the {what} of `{package}`, which pyproject.toml no longer has")
    })
}
