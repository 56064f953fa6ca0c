//! `pylock.toml` / `pylock.NAME.toml` (PEP 751, lock-version 1.0): every package listed once
//! with its marker, selection is evaluating each marker. PEP 751's marker extensions
//! `'NAME' in extras` and `'NAME' in dependency_groups` are rewritten to PEP 508 `extra ==`
//! markers so one evaluator decides.

use std::collections::BTreeMap;
use std::path::Path;

use grocker_wheel::ExtraName;
use serde::Deserialize;
use std::str::FromStr;
use toml::Spanned;

use crate::error::{ProjectError, line_of, parse_toml};
use crate::locked::{
    IndexOptions, LocalPackage, Locked, LockedFile, LockedPackage, Selection, normalize, sorted,
};
use crate::pyproject::{Project, PyProject};
use crate::source::LockSource;
use crate::values::{At, percent_decode, url_filename};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Wire {
    lock_version: Spanned<String>,
    requires_python: Option<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    marker: Option<String>,
    index: Option<String>,
    vcs: Option<toml::Table>,
    directory: Option<Directory>,
    archive: Option<toml::Table>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
}

#[derive(Deserialize)]
struct Directory {
    path: String,
}

#[derive(Deserialize)]
struct File {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// Reads a PEP 751 lock for `selection`.
pub(crate) fn read(
    project: &Project,
    source: LockSource,
    selection: &Selection,
) -> Result<Locked, ProjectError> {
    let path = source.path.as_path();
    let text = fs_err::read_to_string(path)?;
    let wire: Wire = parse_toml(path, &text)?;
    let major = wire
        .lock_version
        .get_ref()
        .split('.')
        .next()
        .unwrap_or_default();
    if major != "1" {
        let line = Some(line_of(&text, wire.lock_version.span().start));
        return Err(At {
            path,
            line,
            package: None,
        }
        .error(format!(
            "lock-version {} is not one grocker reads (1.x, PEP 751)",
            wire.lock_version.get_ref()
        )));
    }
    crate::uv::check_requires_python(path, wire.requires_python.as_deref(), selection)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    // Extras and groups as the `extra` values the rewritten markers compare with.
    let mut extras: Vec<ExtraName> = selection.extras.clone();
    for group in &selection.groups {
        if let Ok(name) = ExtraName::from_str(&group_extra(group)) {
            extras.push(name);
        }
    }
    let mut packages = Vec::new();
    let mut local = Vec::new();
    for package in &wire.packages {
        let raw_name = package.name.get_ref();
        let line = Some(line_of(&text, package.name.span().start));
        let at = At {
            path,
            line,
            package: Some(raw_name),
        };
        if let Some(marker) = &package.marker
            && !at
                .marker(&rewrite_marker(marker))?
                .evaluate(&selection.environment, &extras)
        {
            continue;
        }
        let unsupported = |what: String| ProjectError::Unsupported {
            path: path.to_path_buf(),
            package: raw_name.clone(),
            what,
        };
        if let Some(vcs) = &package.vcs {
            return Err(unsupported(format!(
                "a VCS ({})",
                vcs.get("url").and_then(toml::Value::as_str).unwrap_or("?")
            )));
        }
        if let Some(archive) = &package.archive {
            return Err(unsupported(format!(
                "an archive ({})",
                archive
                    .get("url")
                    .or(archive.get("path"))
                    .and_then(toml::Value::as_str)
                    .unwrap_or("?")
            )));
        }
        if let Some(directory) = &package.directory {
            let member = fs_err::canonicalize(dir.join(&directory.path))?;
            if !member.starts_with(&project.root) && !member.starts_with(dir) {
                return Err(unsupported(format!(
                    "a directory outside the project ({})",
                    member.display()
                )));
            }
            let is_package = PyProject::member_is_package(&member)?;
            local.push(LocalPackage {
                name: at.name(raw_name)?,
                path: member,
                is_package,
            });
            continue;
        }
        packages.push(locked(at, package)?);
    }
    Ok(Locked {
        source,
        packages: sorted(packages),
        local,
        indexes: IndexOptions::default(),
        stale: None,
    })
}

fn locked(at: At<'_>, package: &Package) -> Result<LockedPackage, ProjectError> {
    let Some(version) = package.version.as_deref() else {
        return Err(at.error("a package from an index without a `version`"));
    };
    let mut files = Vec::new();
    for file in package.sdist.iter().chain(&package.wheels) {
        // The URL's own name first: `uv export` writes `name` normalized (`markupsafe-...`)
        // while the index serves `MarkupSafe-...`.
        let filename = match (&file.url, &file.path, &file.name) {
            (Some(url), _, _) => percent_decode(url_filename(url)),
            (None, Some(path), _) => url_filename(path).to_string(),
            (None, None, Some(name)) => name.clone(),
            (None, None, None) => return Err(at.error("a file without name, url or path")),
        };
        let Some(hex) = file.hashes.get("sha256") else {
            return Err(at.error(format!(
                "`{filename}` has no sha256 hash: grocker verifies every file by its SHA-256"
            )));
        };
        files.push(LockedFile::new(
            at.file_name(filename)?,
            file.url.clone(),
            at.sha256(hex)?,
            file.size,
        ));
    }
    Ok(LockedPackage {
        name: at.name(package.name.get_ref())?,
        version: at.version(version)?,
        index: package.index.clone(),
        files,
        hashes: Vec::new(),
    })
}

/// The `extra` value standing for dependency group `group` in a rewritten marker.
fn group_extra(group: &str) -> String {
    format!("grocker-group-{}", normalize(group))
}

/// `'x' in extras` → `extra == 'x'`, `'g' in dependency_groups` → `extra == 'grocker-group-g'`
/// (and the `not in` forms with `!=`): PEP 751's markers in PEP 508's vocabulary.
fn rewrite_marker(marker: &str) -> String {
    let mut out = String::with_capacity(marker.len());
    let mut rest = marker;
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = &rest[start..start + 1];
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        let value = &rest[start + 1..start + 1 + len];
        let after = &rest[start + 2 + len..];
        let trimmed = after.trim_start();
        let rewritten = [
            ("in extras", "==", false),
            ("not in extras", "!=", false),
            ("in dependency_groups", "==", true),
            ("not in dependency_groups", "!=", true),
        ]
        .iter()
        .find(|(form, _, _)| {
            trimmed.starts_with(form)
                && !trimmed[form.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        })
        .map(|(form, op, group)| {
            let value = if *group {
                group_extra(value)
            } else {
                value.to_string()
            };
            (format!("extra {op} '{value}'"), &trimmed[form.len()..])
        });
        out.push_str(&rest[..start]);
        match rewritten {
            Some((text, tail)) => {
                out.push_str(&text);
                rest = tail;
            }
            None => {
                out.push_str(&rest[start..start + 2 + len]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep751_markers_become_extra_markers() {
        assert_eq!(
            rewrite_marker("'dev' in dependency_groups"),
            "extra == 'grocker-group-dev'"
        );
        assert_eq!(
            rewrite_marker("sys_platform == 'linux' and \"socks\" in extras"),
            "sys_platform == 'linux' and extra == 'socks'"
        );
        assert_eq!(rewrite_marker("'a' not in extras"), "extra != 'a'");
    }
}
