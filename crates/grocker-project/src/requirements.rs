//! pip requirements files, as `pip-compile --generate-hashes`, `uv pip compile` or a person
//! write them: `NAME==VERSION` pins with `--hash=sha256:...`, markers after `;`, comments,
//! `\` continuations, `-r` includes (relative to the including file), `-c` constraints (they
//! install nothing, so a file of exact pins ignores them), index options recorded. Nothing is
//! resolved: every line must pin one exact version (pip's `==` or `===`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grocker_wheel::{Operator, PackageName, Requirement, VersionOrUrl};

use crate::error::ProjectError;
use crate::locked::{IndexOptions, LocalPackage, Locked, LockedPackage, Selection, sorted};
use crate::pyproject::{Project, PyProject};
use crate::source::LockSource;
use crate::values::At;

#[derive(Default)]
struct Read {
    packages: BTreeMap<PackageName, (LockedPackage, PathBuf, usize)>,
    local: Vec<LocalPackage>,
    indexes: IndexOptions,
    stack: Vec<PathBuf>,
}

/// Reads the requirements file of `source` (and what it includes) for `selection`.
pub(crate) fn read(
    project: &Project,
    source: LockSource,
    selection: &Selection,
) -> Result<Locked, ProjectError> {
    let mut read = Read::default();
    read_file(project, &source.path, selection, &mut read)?;
    let packages = sorted(read.packages.into_values().map(|(p, _, _)| p).collect());
    Ok(Locked {
        source,
        packages,
        local: read.local,
        indexes: read.indexes,
        stale: None,
    })
}

/// Logical lines: comments dropped, `\` continuations joined, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        // pip: a `#` at the start or after whitespace starts a comment.
        let mut line = raw;
        if let Some(pos) = raw
            .char_indices()
            .find(|(p, c)| *c == '#' && (*p == 0 || raw[..*p].ends_with([' ', '\t'])))
            .map(|(p, _)| p)
        {
            line = &raw[..pos];
        }
        let (content, continued) = match line.trim_end().strip_suffix('\\') {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(content.trim());
        if !continued
            && let Some((n, l)) = current.take()
            && !l.trim().is_empty()
        {
            out.push((n, l.trim().to_string()));
        }
    }
    if let Some((n, l)) = current.filter(|(_, l)| !l.trim().is_empty()) {
        out.push((n, l.trim().to_string()));
    }
    out
}

/// An option's value: `--opt VALUE`, `--opt=VALUE`, `-oVALUE`.
fn option<'a>(line: &'a str, names: &[&str]) -> Option<&'a str> {
    for name in names {
        if let Some(rest) = line.strip_prefix(name) {
            if name.starts_with("--") {
                if let Some(v) = rest.strip_prefix('=') {
                    return Some(v.trim());
                }
                if rest.starts_with([' ', '\t']) {
                    return Some(rest.trim());
                }
            } else {
                return Some(rest.trim_start_matches('=').trim());
            }
        }
    }
    None
}

fn read_file(
    project: &Project,
    path: &Path,
    selection: &Selection,
    read: &mut Read,
) -> Result<(), ProjectError> {
    let path = fs_err::canonicalize(path)?;
    if read.stack.contains(&path) {
        return Ok(()); // pip follows an include cycle once.
    }
    let text = fs_err::read_to_string(&path)?;
    read.stack.push(path.clone());
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    for (line_no, line) in logical_lines(&text) {
        let at = At {
            path: &path,
            line: Some(line_no),
            package: None,
        };
        if let Some(file) = option(&line, &["--requirement", "-r"]) {
            read_file(project, &dir.join(file), selection, read)?;
        } else if option(&line, &["--constraint", "-c"]).is_some() {
            // Constraints narrow what is installed; they never add a package.
        } else if let Some(url) = option(&line, &["--index-url", "-i"]) {
            read.indexes.index_url = Some(url.to_string());
        } else if let Some(url) = option(&line, &["--extra-index-url"]) {
            read.indexes.extra_index_urls.push(url.to_string());
        } else if let Some(url) = option(&line, &["--find-links", "-f"]) {
            read.indexes.find_links.push(url.to_string());
        } else if line == "--no-index" {
            read.indexes.no_index = true;
        } else if let Some(target) = option(&line, &["--editable", "-e"]) {
            read.local
                .push(local(project, &path, &dir, target, line_no)?);
        } else if line.starts_with('-') {
            // Other pip options (`--trusted-host`, `--pre`, `--only-binary`...) pick nothing.
        } else if line.starts_with('.') || line.starts_with('/') {
            read.local
                .push(local(project, &path, &dir, &line, line_no)?);
        } else {
            requirement(&path, at, &line, selection, read)?;
        }
    }
    read.stack.pop();
    Ok(())
}

fn requirement(
    path: &Path,
    at: At<'_>,
    line: &str,
    selection: &Selection,
    read: &mut Read,
) -> Result<(), ProjectError> {
    // `--hash=sha256:...` (or `--hash sha256:...`) options follow the requirement.
    let (spec, hashes_text) = match line.find(" --hash") {
        Some(pos) => (&line[..pos], &line[pos..]),
        None => (line, ""),
    };
    let mut hashes = Vec::new();
    let mut tokens = hashes_text.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        let value = match token.strip_prefix("--hash") {
            Some("") => tokens.next().unwrap_or_default(),
            Some(rest) => rest.trim_start_matches('='),
            None => continue,
        };
        hashes.push(at.prefixed_sha256(value)?);
    }
    let requirement: Requirement =
        grocker_wheel::parse_requirement(spec.trim()).map_err(|e: pep508_rs::Pep508Error| {
            at.error(format!(
                "`{}` is not a PEP 508 requirement: {e}",
                spec.trim()
            ))
        })?;
    let name = requirement.name.to_string();
    let at = At {
        package: Some(&name),
        ..at
    };
    if !requirement.marker.evaluate(&selection.environment, &[]) {
        return Ok(());
    }
    let not_pinned = || ProjectError::NotPinned {
        path: path.to_path_buf(),
        line: at.line.unwrap_or(0),
        requirement: spec.trim().to_string(),
    };
    let version = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => match &specifiers[..] {
            [one] if matches!(one.operator(), Operator::Equal | Operator::ExactEqual) => {
                one.version().clone()
            }
            _ => return Err(not_pinned()),
        },
        Some(VersionOrUrl::Url(url)) => {
            return Err(ProjectError::Unsupported {
                path: path.to_path_buf(),
                package: name.clone(),
                what: format!("a direct URL ({url})"),
            });
        }
        None => return Err(not_pinned()),
    };
    let package = LockedPackage {
        name: requirement.name.clone(),
        version,
        index: None,
        files: Vec::new(),
        hashes,
    };
    let line = at.line.unwrap_or(0);
    if let Some((other, other_path, other_line)) = read.packages.get(&requirement.name)
        && other.version != package.version
    {
        return Err(at.error(format!(
            "pinned to {} here and to {} at {}:{other_line}: keep one pin",
            package.version,
            other.version,
            other_path.display()
        )));
    }
    read.packages.insert(
        requirement.name.clone(),
        (package, path.to_path_buf(), line),
    );
    Ok(())
}

/// A local directory line (`-e .`, `./pkg`): the project's own package, named by its
/// `pyproject.toml`.
fn local(
    project: &Project,
    path: &Path,
    dir: &Path,
    target: &str,
    line: usize,
) -> Result<LocalPackage, ProjectError> {
    let target = target.split_whitespace().next().unwrap_or(target);
    let at = At {
        path,
        line: Some(line),
        package: None,
    };
    let relative = target.strip_prefix("file://").unwrap_or(target);
    if target.contains("://") && !target.starts_with("file://") {
        return Err(ProjectError::Unsupported {
            path: path.to_path_buf(),
            package: target.to_string(),
            what: format!("a VCS or URL source ({target})"),
        });
    }
    let member = fs_err::canonicalize(dir.join(relative))?;
    if !member.starts_with(&project.root) {
        return Err(at.error(format!(
            "`{target}` is outside the project ({})",
            project.root.display()
        )));
    }
    let pyproject = PyProject::read(&member.join("pyproject.toml"))?;
    let name = pyproject
        .name
        .clone()
        .ok_or_else(|| at.error(format!("`{target}`: its pyproject.toml has no name")))?;
    Ok(LocalPackage {
        name,
        is_package: pyproject.is_package(),
        path: member,
    })
}
