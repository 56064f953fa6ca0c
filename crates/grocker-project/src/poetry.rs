//! `poetry.lock`, Poetry 1.x and 2.x. Lock version 2.1 (Poetry 2) records each package's
//! groups and markers, so selection is evaluating them, as `poetry install` does. Older locks
//! record only the graph: then selection walks it from the project's own dependencies
//! (`[tool.poetry.dependencies]`, `[project] dependencies`, `[tool.poetry.group.NAME]`).
//! Files have no URLs in a Poetry lock: each is recorded by name and hash, and the caller finds
//! it by name on the package's index.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::str::FromStr;

use grocker_wheel::{ExtraName, MarkerTree, PackageName, Requirement, Version, VersionSpecifiers};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{ProjectError, line_of, parse_toml};
use crate::locked::{
    IndexOptions, LocalPackage, Locked, LockedFile, LockedPackage, Selection, normalize, sorted,
};
use crate::pyproject::{Project, ProjectKind, PyProject};
use crate::source::LockSource;
use crate::values::At;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Wire {
    #[serde(default, rename = "package")]
    packages: Vec<Package>,
    metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    lock_version: Option<String>,
    content_hash: Option<String>,
    /// Lock version 1.x kept the files here, by package name.
    #[serde(default)]
    files: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: Spanned<String>,
    version: String,
    #[serde(default)]
    groups: Option<Vec<String>>,
    markers: Option<toml::Value>,
    #[serde(default)]
    files: Vec<File>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    extras: BTreeMap<String, Vec<String>>,
    source: Option<Source>,
}

#[derive(Deserialize)]
struct File {
    file: String,
    hash: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
}

/// The file being read, to point errors at a package's line.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl<'a> Cx<'a> {
    /// The project itself (its own dependencies are the walk's first edges).
    fn project_at(&self) -> At<'a> {
        At {
            path: self.path,
            line: None,
            package: None,
        }
    }

    fn at<'p>(&self, package: &'p Package) -> At<'p>
    where
        'a: 'p,
    {
        At {
            path: self.path,
            line: Some(line_of(self.text, package.name.span().start)),
            package: Some(package.name.get_ref()),
        }
    }
}

/// A dependency edge: name, marker, the extras it asks for, whether it is optional.
struct Edge {
    name: PackageName,
    marker: MarkerTree,
    extras: Vec<String>,
    optional: bool,
    version: Option<String>,
}

/// Reads `poetry.lock` for `selection`.
pub(crate) fn read(
    project: &Project,
    source: LockSource,
    selection: &Selection,
) -> Result<Locked, ProjectError> {
    let path = source.path.as_path();
    let text = fs_err::read_to_string(path)?;
    let wire: Wire = parse_toml(path, &text)?;
    let cx = Cx { path, text: &text };
    let at = |package| cx.at(package);
    let lock_version = wire
        .metadata
        .lock_version
        .clone()
        .unwrap_or_else(|| "1.0".into());
    let chosen: Vec<usize> =
        if Version::from_str(&lock_version).is_ok_and(|v| v >= Version::new([2, 1])) {
            select_by_groups(&wire, selection, &cx)?
        } else {
            walk(project, &wire, selection, &cx)?
        };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut packages = Vec::new();
    let mut local = Vec::new();
    if let Some(pyproject) = &project.pyproject
        && let Some(name) = &pyproject.name
    {
        local.push(LocalPackage {
            name: name.clone(),
            path: project.root.clone(),
            is_package: project.kind() == ProjectKind::Package,
        });
    }
    for i in chosen {
        let package = &wire.packages[i];
        let at = at(package);
        let name = at.name(package.name.get_ref())?;
        let unsupported = |what: String| ProjectError::Unsupported {
            path: path.to_path_buf(),
            package: name.to_string(),
            what,
        };
        let index = match &package.source {
            None => None,
            Some(Source { kind, url }) if kind == "legacy" => url.clone(),
            Some(Source {
                kind,
                url: Some(url),
            }) if kind == "directory" => {
                let member = fs_err::canonicalize(dir.join(url))?;
                if !member.starts_with(&project.root) {
                    return Err(unsupported(format!(
                        "a directory outside the project ({})",
                        member.display()
                    )));
                }
                let is_package = PyProject::member_is_package(&member)?;
                local.push(LocalPackage {
                    name,
                    path: member,
                    is_package,
                });
                continue;
            }
            Some(Source { kind, url }) => {
                return Err(unsupported(format!(
                    "a {kind} source ({})",
                    url.as_deref().unwrap_or("?")
                )));
            }
        };
        let listed = if package.files.is_empty() {
            wire.metadata
                .files
                .iter()
                .filter(|(k, _)| normalize(k) == name.to_string())
                .flat_map(|(_, v)| v)
                .collect::<Vec<_>>()
        } else {
            package.files.iter().collect()
        };
        let mut files = Vec::new();
        for file in listed {
            files.push(LockedFile::new(
                at.file_name(file.file.clone())?,
                None,
                at.prefixed_sha256(&file.hash)?,
                None,
            ));
        }
        packages.push(LockedPackage {
            name,
            version: at.version(&package.version)?,
            index,
            files,
            hashes: Vec::new(),
        });
    }
    let stale = match (&project.pyproject, &wire.metadata.content_hash) {
        (Some(pyproject), Some(recorded)) => {
            crate::content_hash::stale(pyproject, recorded, text.lines().next().unwrap_or_default())
        }
        _ => None,
    };
    Ok(Locked {
        source,
        packages: sorted(packages),
        local,
        indexes: IndexOptions::default(),
        stale,
    })
}

/// Lock version 2.1: a package is in when one of its groups is selected (`main` always) and its
/// marker for that group holds (markers may be one string, or a table by group).
fn select_by_groups(
    wire: &Wire,
    selection: &Selection,
    cx: &Cx<'_>,
) -> Result<Vec<usize>, ProjectError> {
    let mut out = Vec::new();
    for (i, package) in wire.packages.iter().enumerate() {
        let at = cx.at(package);
        let groups = package
            .groups
            .clone()
            .unwrap_or_else(|| vec!["main".into()]);
        let mut wanted = false;
        for group in groups
            .iter()
            .filter(|g| *g == "main" || selection.wants_group(g))
        {
            let marker = match &package.markers {
                None => None,
                Some(toml::Value::String(m)) => Some(m.as_str()),
                Some(toml::Value::Table(t)) => t.get(group).and_then(toml::Value::as_str),
                Some(other) => {
                    return Err(at.error(format!(
                        "`markers` is neither a string nor a table: {other}"
                    )));
                }
            };
            let holds = match marker {
                None => true,
                Some(m) => at
                    .marker(m)?
                    .evaluate(&selection.environment, &selection.extras),
            };
            wanted |= holds;
        }
        if wanted {
            out.push(i);
        }
    }
    Ok(out)
}

/// One `[package.dependencies]` or `[tool.poetry.dependencies]` value as edges: a version
/// string, a table, or a list of tables (several constraints told apart by markers).
fn edges(at: &At<'_>, name: &str, value: &toml::Value) -> Result<Vec<Edge>, ProjectError> {
    let name_parsed = at.name(name)?;
    let one = |table: Option<&toml::Table>, version: Option<&str>| -> Result<Edge, ProjectError> {
        let get = |k: &str| table.and_then(|t| t.get(k));
        let mut marker = match get("markers").and_then(toml::Value::as_str) {
            Some(m) => at.marker(m)?,
            None => MarkerTree::TRUE,
        };
        if let Some(python) = get("python").and_then(toml::Value::as_str)
            && let Some(pep440) = poetry_python_marker(python)
        {
            marker.and(at.marker(&pep440)?);
        }
        Ok(Edge {
            name: name_parsed.clone(),
            marker,
            extras: crate::pyproject::strings(get("extras")),
            optional: get("optional")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false),
            version: version.map(str::to_string).or_else(|| {
                get("version")
                    .and_then(toml::Value::as_str)
                    .map(str::to_string)
            }),
        })
    };
    Ok(match value {
        toml::Value::String(v) => vec![one(None, Some(v))?],
        toml::Value::Table(t) => vec![one(Some(t), None)?],
        toml::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_table())
            .map(|t| one(Some(t), None))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    })
}

/// Poetry's `python = ">=3.8"` restriction as a marker, when it is plain PEP 440.
fn poetry_python_marker(python: &str) -> Option<String> {
    let specifiers = VersionSpecifiers::from_str(python).ok()?;
    let parts: Vec<String> = specifiers
        .iter()
        .map(|s| format!("python_full_version {} '{}'", s.operator(), s.version()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// The project's own dependency edges, from `pyproject.toml`: `[project]` dependencies (group
/// `main`), `[tool.poetry.dependencies]` (`python` is not a package), and the groups asked for.
fn root_edges(project: &Project, selection: &Selection) -> Result<Vec<Edge>, ProjectError> {
    let Some(pyproject) = &project.pyproject else {
        return Ok(Vec::new());
    };
    let at = At {
        path: &pyproject.path,
        line: None,
        package: None,
    };
    let mut out = Vec::new();
    let requirement_edge = |r: &Requirement, optional: bool| Edge {
        name: r.name.clone(),
        marker: r.marker.clone(),
        extras: r.extras.iter().map(ToString::to_string).collect(),
        optional,
        version: None,
    };
    out.extend(
        pyproject
            .dependencies
            .iter()
            .map(|r| requirement_edge(r, false)),
    );
    for (extra, reqs) in &pyproject.optional_dependencies {
        if selection.extras.contains(extra) {
            out.extend(reqs.iter().map(|r| requirement_edge(r, false)));
        }
    }
    for (group, reqs) in &pyproject.dependency_groups {
        if selection.wants_group(group) {
            out.extend(reqs.iter().map(|r| requirement_edge(r, false)));
        }
    }
    let poetry = pyproject.table.get("tool").and_then(|t| t.get("poetry"));
    let table = |v: Option<&toml::Value>| {
        v.and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let mut sections = vec![table(poetry.and_then(|p| p.get("dependencies")))];
    if selection.wants_group("dev") {
        sections.push(table(poetry.and_then(|p| p.get("dev-dependencies"))));
    }
    for (group, body) in table(poetry.and_then(|p| p.get("group"))) {
        if selection.wants_group(&group) {
            sections.push(table(body.get("dependencies")));
        }
    }
    // `[tool.poetry.extras]`: which optional dependencies each extra turns on.
    let extras = table(poetry.and_then(|p| p.get("extras")));
    let enabled: BTreeSet<String> = extras
        .iter()
        .filter(|(e, _)| {
            selection
                .extras
                .iter()
                .any(|s| s.to_string() == normalize(e))
        })
        .flat_map(|(_, names)| crate::pyproject::strings(Some(names)))
        .map(|n| normalize(&n))
        .collect();
    for section in sections {
        for (name, value) in &section {
            if name == "python" {
                continue;
            }
            for mut edge in edges(&at, name, value)? {
                if edge.optional && enabled.contains(&edge.name.to_string()) {
                    edge.optional = false;
                }
                out.push(edge);
            }
        }
    }
    Ok(out)
}

/// Older locks: the graph walked from the project's dependencies, optional edges followed only
/// for the extras their parent was asked for.
fn walk(
    project: &Project,
    wire: &Wire,
    selection: &Selection,
    cx: &Cx<'_>,
) -> Result<Vec<usize>, ProjectError> {
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in wire.packages.iter().enumerate() {
        by_name
            .entry(normalize(p.name.get_ref()))
            .or_default()
            .push(i);
    }
    let env = &selection.environment;
    let mut reached = BTreeSet::new();
    let mut seen: BTreeSet<(usize, Vec<String>)> = BTreeSet::new();
    let mut queue: VecDeque<(Option<usize>, Vec<Edge>, Vec<ExtraName>)> = VecDeque::new();
    queue.push_back((
        None,
        root_edges(project, selection)?,
        selection.extras.clone(),
    ));
    while let Some((from, edges_out, active)) = queue.pop_front() {
        for edge in edges_out {
            if edge.optional || !edge.marker.evaluate(env, &active) {
                continue;
            }
            let candidates = by_name
                .get(&edge.name.to_string())
                .cloned()
                .unwrap_or_default();
            let fits: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|i| {
                    let spec = edge
                        .version
                        .as_deref()
                        .and_then(|v| VersionSpecifiers::from_str(v).ok());
                    let version = Version::from_str(&wire.packages[*i].version).ok();
                    candidates.len() == 1
                        || matches!((spec, version), (Some(s), Some(v)) if s.contains(&v))
                })
                .collect();
            let to = match (fits.as_slice(), from) {
                ([one], _) => *one,
                (_, from) => {
                    let message = format!(
                        "depends on `{}`, which the lock has {} times for this target: run \
                         `poetry lock`",
                        edge.name,
                        fits.len()
                    );
                    return Err(match from {
                        Some(from) => cx.at(&wire.packages[from]).error(message),
                        None => cx.project_at().error(message),
                    });
                }
            };
            reached.insert(to);
            let mut extras: Vec<String> = edge.extras.iter().map(|e| normalize(e)).collect();
            extras.sort();
            if !seen.insert((to, extras.clone())) {
                continue;
            }
            let package = &wire.packages[to];
            let here = cx.at(package);
            let enabled: BTreeSet<String> = package
                .extras
                .iter()
                .filter(|(e, _)| extras.contains(&normalize(e)))
                .flat_map(|(_, reqs)| {
                    reqs.iter()
                        .filter_map(|r| r.split([' ', '(', '[', ';']).next().map(normalize))
                })
                .collect();
            let mut next = Vec::new();
            for (name, value) in &package.dependencies {
                for mut e in edges(&here, name, value)? {
                    if e.optional && enabled.contains(&e.name.to_string()) {
                        e.optional = false;
                    }
                    next.push(e);
                }
            }
            let active = extras
                .iter()
                .filter_map(|e| ExtraName::from_str(e).ok())
                .collect();
            queue.push_back((Some(to), next, active));
        }
    }
    Ok(reached.into_iter().collect())
}
