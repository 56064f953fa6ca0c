//! `uv.lock` (version 1), read the way `uv sync --frozen` selects from it: walk the dependency
//! graph from a workspace member, following the extras and groups asked for, each edge's marker
//! evaluated for the target. Wire names follow uv's `crates/uv-resolver/src/lock/mod.rs`
//! (`LockWire`, `PackageWire`, `DependencyWire`, `SourceWire`, `WheelWire`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use grocker_wheel::{PackageName, VersionSpecifiers};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{ProjectError, line_of, parse_toml};
use crate::locked::{
    IndexOptions, LocalPackage, Locked, LockedFile, LockedPackage, Selection, normalize, sorted,
};
use crate::pyproject::{Project, PyProject};
use crate::source::LockSource;
use crate::stale;
use crate::values::{At, percent_decode, url_filename};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Wire {
    version: Spanned<u32>,
    requires_python: Option<String>,
    #[serde(default)]
    manifest: Manifest,
    #[serde(default, rename = "package", alias = "distribution")]
    packages: Vec<Package>,
}

#[derive(Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    source: Option<toml::Table>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(default, alias = "dependency-groups")]
    dev_dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize)]
struct File {
    url: Option<String>,
    path: Option<String>,
    filename: Option<String>,
    hash: Option<String>,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    version: Option<String>,
    source: Option<toml::Table>,
    #[serde(default)]
    extra: Vec<String>,
    marker: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    requires_dist: Option<Vec<toml::Table>>,
    #[serde(default, alias = "dependency-groups")]
    requires_dev: BTreeMap<String, Vec<toml::Table>>,
}

/// Where a package comes from, as `source = { ... }` says.
enum Source {
    Registry(String),
    Local { path: PathBuf, is_package: bool },
    Unsupported(String),
}

fn source_of(table: Option<&toml::Table>, dir: &Path) -> Source {
    let Some(table) = table else {
        return Source::Unsupported("no `source`".into());
    };
    let text = |key: &str| table.get(key).and_then(toml::Value::as_str);
    if let Some(registry) = text("registry") {
        return Source::Registry(registry.to_string());
    }
    for (key, is_package) in [("editable", true), ("directory", true), ("virtual", false)] {
        if let Some(path) = text(key) {
            return Source::Local {
                path: dir.join(path),
                is_package,
            };
        }
    }
    if let Some(git) = text("git") {
        return Source::Unsupported(format!("git ({git})"));
    }
    if let Some(url) = text("url") {
        return Source::Unsupported(format!("a direct URL ({url})"));
    }
    if let Some(path) = text("path") {
        return Source::Unsupported(format!("a local file ({path})"));
    }
    Source::Unsupported(format!("an unknown source ({table})"))
}

/// Reads `uv.lock` for `selection`.
pub(crate) fn read(
    project: &Project,
    source: LockSource,
    selection: &Selection,
) -> Result<Locked, ProjectError> {
    let path = source.path.as_path();
    let text = fs_err::read_to_string(path)?;
    let wire: Wire = parse_toml(path, &text)?;
    if *wire.version.get_ref() != 1 {
        let line = Some(line_of(&text, wire.version.span().start));
        return Err(At {
            path,
            line,
            package: None,
        }
        .error(format!(
            "uv.lock version {} is not one grocker reads (version 1); lock again with a uv \
             release that writes version 1",
            wire.version.get_ref()
        )));
    }
    check_requires_python(path, wire.requires_python.as_deref(), selection)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let graph = Graph::new(path, &text, &wire.packages)?;
    let root = graph.root(path, dir, selection.member.as_ref(), &wire)?;
    let reached = graph.walk(&text, root, selection)?;

    let mut packages = Vec::new();
    let mut local = Vec::new();
    for index in reached {
        let package = &wire.packages[index];
        let name = graph.names[index].clone();
        let line = Some(line_of(&text, package.name.span().start));
        match source_of(package.source.as_ref(), dir) {
            Source::Registry(index) => {
                let shown = name.to_string();
                packages.push(locked(
                    At {
                        path,
                        line,
                        package: Some(&shown),
                    },
                    package,
                    index,
                )?);
            }
            Source::Local {
                path: member,
                is_package,
            } => {
                let member = fs_err::canonicalize(&member)?;
                if !member.starts_with(&project.root) && !member.starts_with(dir) {
                    return Err(ProjectError::Unsupported {
                        path: path.to_path_buf(),
                        package: name.to_string(),
                        what: format!("a directory outside the project ({})", member.display()),
                    });
                }
                local.push((
                    index != root,
                    LocalPackage {
                        name,
                        path: member,
                        is_package,
                    },
                ));
            }
            Source::Unsupported(what) => {
                return Err(ProjectError::Unsupported {
                    path: path.to_path_buf(),
                    package: name.to_string(),
                    what,
                });
            }
        }
    }
    local.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let local: Vec<LocalPackage> = local.into_iter().map(|(_, l)| l).collect();
    let stale = staleness(path, dir, &wire, &graph)?;
    Ok(Locked {
        source,
        packages: sorted(packages),
        local,
        indexes: IndexOptions::default(),
        stale,
    })
}

/// The lock's `requires-python` must admit the target's Python: uv simplified every marker
/// under that assumption.
pub(crate) fn check_requires_python(
    path: &Path,
    requires: Option<&str>,
    selection: &Selection,
) -> Result<(), ProjectError> {
    let Some(requires) = requires else {
        return Ok(());
    };
    let at = At {
        path,
        line: None,
        package: None,
    };
    let specifiers = VersionSpecifiers::from_str(requires)
        .map_err(|e| at.error(format!("requires-python `{requires}`: {e}")))?;
    let python = selection.environment.python_full_version().version.clone();
    if !specifiers.contains(&python) {
        return Err(at.error(format!(
            "the lock is for Python {requires}, the target's Python is {python}: pick a runtime \
             the lock supports, or lock again for it"
        )));
    }
    Ok(())
}

fn locked(at: At<'_>, package: &Package, index: String) -> Result<LockedPackage, ProjectError> {
    let Some(version) = package.version.as_deref() else {
        return Err(at.error("a registry package without a version"));
    };
    let mut files = Vec::new();
    for file in package.sdist.iter().chain(&package.wheels) {
        let filename = match (&file.filename, &file.url, &file.path) {
            (Some(name), _, _) => name.clone(),
            (None, Some(url), _) => percent_decode(url_filename(url)),
            (None, None, Some(path)) => url_filename(path).to_string(),
            (None, None, None) => return Err(at.error("a file without url, path or filename")),
        };
        let Some(hash) = &file.hash else {
            return Err(at.error(format!(
                "`{filename}` has no hash: grocker verifies every file; lock again"
            )));
        };
        let url = file.url.clone().or_else(|| {
            file.path
                .as_ref()
                .map(|p| format!("{}/{p}", index.trim_end_matches('/')))
        });
        files.push(LockedFile::new(
            at.file_name(filename)?,
            url,
            at.prefixed_sha256(hash)?,
            file.size,
        ));
    }
    Ok(LockedPackage {
        name: at.name(&package.name.get_ref().clone())?,
        version: at.version(version)?,
        index: Some(index),
        files,
        hashes: Vec::new(),
    })
}

/// The packages by name and the edges between them, dependency references resolved the way uv
/// does: by name when one package has it, else by version (and source).
struct Graph<'w> {
    packages: &'w [Package],
    names: Vec<PackageName>,
    by_name: BTreeMap<PackageName, Vec<usize>>,
    path: &'w Path,
}

impl<'w> Graph<'w> {
    fn new(path: &'w Path, text: &str, packages: &'w [Package]) -> Result<Self, ProjectError> {
        let mut names = Vec::with_capacity(packages.len());
        let mut by_name: BTreeMap<PackageName, Vec<usize>> = BTreeMap::new();
        for (i, p) in packages.iter().enumerate() {
            let line = Some(line_of(text, p.name.span().start));
            let name = At {
                path,
                line,
                package: None,
            }
            .name(p.name.get_ref())?;
            by_name.entry(name.clone()).or_default().push(i);
            names.push(name);
        }
        Ok(Self {
            packages,
            names,
            by_name,
            path,
        })
    }

    /// The member to start from: `member`, else the package at the lock's own directory.
    fn root(
        &self,
        path: &Path,
        dir: &Path,
        member: Option<&PackageName>,
        wire: &Wire,
    ) -> Result<usize, ProjectError> {
        let is_member = |i: &usize| {
            matches!(
                source_of(self.packages[*i].source.as_ref(), dir),
                Source::Local { .. }
            )
        };
        let found = match member {
            Some(name) => self.by_name.get(name).and_then(|c| c.iter().copied().find(is_member)),
            None => (0..self.packages.len()).find(|i| {
                is_member(i) && matches!(source_of(self.packages[*i].source.as_ref(), dir), Source::Local { path, .. } if path == dir.join("."))
            }),
        };
        found.ok_or_else(|| {
            let mut known: Vec<String> = wire.manifest.members.clone();
            if known.is_empty() {
                known = (0..self.packages.len())
                    .filter(is_member)
                    .map(|i| self.names[i].to_string())
                    .collect();
            }
            ProjectError::UnknownMember {
                path: path.to_path_buf(),
                member: member
                    .map_or_else(|| "(the root project)".to_string(), ToString::to_string),
                known,
            }
        })
    }

    fn resolve(&self, text: &str, from: usize, dep: &Dependency) -> Result<usize, ProjectError> {
        let from_name = self.names[from].to_string();
        let line = Some(line_of(text, self.packages[from].name.span().start));
        let at = At {
            path: self.path,
            line,
            package: Some(&from_name),
        };
        let name = at.name(&dep.name)?;
        let candidates = self
            .by_name
            .get(&name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let matching: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| dep.version.is_none() || dep.version == self.packages[*i].version)
            .filter(|i| dep.source.is_none() || dep.source == self.packages[*i].source)
            .collect();
        match matching[..] {
            [one] => Ok(one),
            [] => Err(at.error(format!(
                "depends on `{}`, which the lock does not have: the lock is broken; run `uv lock`",
                dep.name
            ))),
            _ => Err(at.error(format!(
                "depends on `{}` without saying which of its versions: run `uv lock`",
                dep.name
            ))),
        }
    }

    /// Every package reached from `root`, in no particular order.
    fn walk(
        &self,
        text: &str,
        root: usize,
        selection: &Selection,
    ) -> Result<BTreeSet<usize>, ProjectError> {
        let env = &selection.environment;
        let mut seen: BTreeSet<(usize, Option<String>)> = BTreeSet::new();
        let mut reached = BTreeSet::from([root]);
        let mut queue: VecDeque<(usize, Vec<&Dependency>)> = VecDeque::new();
        let rootp = &self.packages[root];
        let mut first: Vec<&Dependency> = rootp.dependencies.iter().collect();
        for extra in &selection.extras {
            first.extend(group(&rootp.optional_dependencies, extra.as_ref()));
        }
        for (name, deps) in &rootp.dev_dependencies {
            if selection.wants_group(name) {
                first.extend(deps);
            }
        }
        queue.push_back((root, first));
        while let Some((from, deps)) = queue.pop_front() {
            let from_name = self.names[from].to_string();
            for dep in deps {
                if let Some(marker) = &dep.marker {
                    let line = Some(line_of(text, self.packages[from].name.span().start));
                    let at = At {
                        path: self.path,
                        line,
                        package: Some(&from_name),
                    };
                    if !at.marker(marker)?.evaluate(env, &[]) {
                        continue;
                    }
                }
                let to = self.resolve(text, from, dep)?;
                reached.insert(to);
                let target = &self.packages[to];
                if seen.insert((to, None)) {
                    queue.push_back((to, target.dependencies.iter().collect()));
                }
                for extra in &dep.extra {
                    if seen.insert((to, Some(normalize(extra)))) {
                        queue
                            .push_back((to, group(&target.optional_dependencies, extra).collect()));
                    }
                }
            }
        }
        Ok(reached)
    }
}

fn group<'a>(
    groups: &'a BTreeMap<String, Vec<Dependency>>,
    name: &str,
) -> impl Iterator<Item = &'a Dependency> {
    let name = normalize(name);
    groups
        .iter()
        .filter(move |(k, _)| normalize(k) == name)
        .flat_map(|(_, v)| v)
}

/// The first workspace member whose `pyproject.toml` no longer says what the lock recorded.
fn staleness(
    path: &Path,
    dir: &Path,
    wire: &Wire,
    graph: &Graph<'_>,
) -> Result<Option<crate::Stale>, ProjectError> {
    for (i, package) in wire.packages.iter().enumerate() {
        let Source::Local { path: member, .. } = source_of(package.source.as_ref(), dir) else {
            continue;
        };
        let Some(requires_dist) = &package.metadata.requires_dist else {
            continue;
        };
        let pyproject_path = member.join("pyproject.toml");
        if !pyproject_path.is_file() {
            continue;
        }
        let pyproject = PyProject::read(&pyproject_path)?;
        let name = graph.names[i].to_string();
        let lock_side = stale::uv_entries(path, &name, requires_dist)?;
        if let Some(reason) = stale::compare(
            &name,
            "dependencies",
            &stale::pyproject_entries(&pyproject, None),
            &lock_side,
        ) {
            return Ok(Some(crate::Stale {
                reason,
                command: "uv lock",
            }));
        }
        let groups: BTreeSet<String> = pyproject
            .dependency_groups
            .keys()
            .cloned()
            .chain(package.metadata.requires_dev.keys().map(|k| normalize(k)))
            .collect();
        for g in groups {
            let lock_reqs = package
                .metadata
                .requires_dev
                .iter()
                .filter(|(k, _)| normalize(k) == g)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect::<Vec<_>>();
            let lock_side = stale::uv_entries(path, &name, &lock_reqs)?;
            if let Some(reason) = stale::compare(
                &name,
                &format!("dependency group `{g}`"),
                &stale::pyproject_entries(&pyproject, Some(&g)),
                &lock_side,
            ) {
                return Ok(Some(crate::Stale {
                    reason,
                    command: "uv lock",
                }));
            }
        }
    }
    Ok(None)
}
