//! `pyproject.toml`: the project's name, version, build system and dependencies, and whether it
//! is a package (it has a build system) or an app that ships as a source tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use grocker_wheel::{ExtraName, PackageName, Requirement};

use crate::error::{ProjectError, invalid, parse_toml};
use crate::locked::normalize;

/// A local project directory, as read from its `pyproject.toml` (if any).
#[derive(Clone, Debug)]
pub struct Project {
    /// The project directory, absolute.
    pub root: PathBuf,
    /// Its `pyproject.toml`, when it has one.
    pub pyproject: Option<PyProject>,
    /// Whether it has a `setup.py` (a legacy setuptools package without `pyproject.toml`).
    pub has_setup_py: bool,
}

/// A package (built into a wheel) or an app (shipped as a source tree, DESIGN §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectKind {
    /// It has a build system: grocker builds its wheel and installs it.
    Package,
    /// No build system (no `[build-system]`, uv's `package = false`, Poetry's
    /// `package-mode = false`, a requirements-only directory, a Django site): its files ship as a
    /// source tree, its dependencies are installed.
    App,
}

/// What `pyproject.toml` says about the project.
#[derive(Clone, Debug)]
pub struct PyProject {
    /// The file.
    pub path: PathBuf,
    /// `[project] name`, else `[tool.poetry] name`.
    pub name: Option<PackageName>,
    /// `[project] version`, else `[tool.poetry] version`; `None` when dynamic.
    pub version: Option<String>,
    /// `[build-system]`, when present.
    pub build_system: Option<BuildSystem>,
    /// `[project] dependencies` (PEP 621).
    pub dependencies: Vec<Requirement>,
    /// `[project.optional-dependencies]`.
    pub optional_dependencies: BTreeMap<ExtraName, Vec<Requirement>>,
    /// `[dependency-groups]` (PEP 735, `include-group` expanded) plus uv's legacy
    /// `[tool.uv] dev-dependencies` as group `dev`; names normalized.
    pub dependency_groups: BTreeMap<String, Vec<Requirement>>,
    /// `[tool.uv] package`, when set.
    pub uv_package: Option<bool>,
    /// `[tool.poetry] package-mode`, when set.
    pub poetry_package_mode: Option<bool>,
    /// The whole document, for Poetry's content hash and uv's sources.
    pub(crate) table: toml::Table,
}

/// `[build-system]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSystem {
    /// `requires`.
    pub requires: Vec<String>,
    /// `build-backend`, when given (PEP 517 says setuptools' legacy backend otherwise).
    pub backend: Option<String>,
}

impl Project {
    /// Reads the project in `dir`. A directory without `pyproject.toml` is a project too (an app,
    /// or a `setup.py` package).
    pub fn read(dir: &Path) -> Result<Self, ProjectError> {
        let root = fs_err::canonicalize(dir)?;
        let path = root.join("pyproject.toml");
        let pyproject = if path.is_file() {
            Some(PyProject::read(&path)?)
        } else {
            None
        };
        let has_setup_py = root.join("setup.py").is_file();
        Ok(Self {
            root,
            pyproject,
            has_setup_py,
        })
    }

    /// Package or app: see [`ProjectKind`].
    pub fn kind(&self) -> ProjectKind {
        match &self.pyproject {
            Some(p) if p.is_package() => ProjectKind::Package,
            Some(p) if p.build_system.is_none() && p.uv_package.is_none() && self.has_setup_py => {
                ProjectKind::Package
            }
            Some(_) => ProjectKind::App,
            None if self.has_setup_py => ProjectKind::Package,
            None => ProjectKind::App,
        }
    }
}

impl PyProject {
    /// Whether the path dependency at `member` is a package to build: a directory with only a
    /// `setup.py` is one; a `pyproject.toml` that does not parse is an error, not a guess.
    pub(crate) fn member_is_package(member: &Path) -> Result<bool, ProjectError> {
        let file = member.join("pyproject.toml");
        if !file.exists() {
            return Ok(true);
        }
        Ok(PyProject::read(&file)?.is_package())
    }

    /// Reads and checks `pyproject.toml` at `path`.
    pub fn read(path: &Path) -> Result<Self, ProjectError> {
        let text = fs_err::read_to_string(path)?;
        let table: toml::Table = parse_toml(path, &text)?;
        let project = table.get("project").and_then(toml::Value::as_table);
        let tool = table.get("tool").and_then(toml::Value::as_table);
        let poetry = tool
            .and_then(|t| t.get("poetry"))
            .and_then(toml::Value::as_table);
        let uv = tool
            .and_then(|t| t.get("uv"))
            .and_then(toml::Value::as_table);

        let name_text = project
            .and_then(|p| p.get("name"))
            .or_else(|| poetry.and_then(|p| p.get("name")))
            .and_then(toml::Value::as_str);
        let name = name_text
            .map(|n| {
                PackageName::from_str(n)
                    .map_err(|e| invalid(path, None, None, format!("project name `{n}`: {e}")))
            })
            .transpose()?;
        let version = project
            .and_then(|p| p.get("version"))
            .or_else(|| poetry.and_then(|p| p.get("version")))
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        let build_system = table
            .get("build-system")
            .and_then(toml::Value::as_table)
            .map(|b| BuildSystem {
                requires: strings(b.get("requires")),
                backend: b
                    .get("build-backend")
                    .and_then(toml::Value::as_str)
                    .map(str::to_string),
            });
        let dependencies =
            requirements(path, &strings(project.and_then(|p| p.get("dependencies"))))?;
        let mut optional_dependencies = BTreeMap::new();
        if let Some(extras) = project
            .and_then(|p| p.get("optional-dependencies"))
            .and_then(toml::Value::as_table)
        {
            for (extra, reqs) in extras {
                let extra_name = ExtraName::from_str(extra)
                    .map_err(|e| invalid(path, None, None, format!("extra `{extra}`: {e}")))?;
                optional_dependencies.insert(extra_name, requirements(path, &strings(Some(reqs)))?);
            }
        }
        let mut dependency_groups = dependency_groups(path, table.get("dependency-groups"))?;
        let legacy_dev = strings(uv.and_then(|u| u.get("dev-dependencies")));
        if !legacy_dev.is_empty() {
            dependency_groups
                .entry("dev".to_string())
                .or_default()
                .extend(requirements(path, &legacy_dev)?);
        }
        Ok(Self {
            path: path.to_path_buf(),
            name,
            version,
            build_system,
            dependencies,
            optional_dependencies,
            dependency_groups,
            uv_package: uv
                .and_then(|u| u.get("package"))
                .and_then(toml::Value::as_bool),
            poetry_package_mode: poetry
                .and_then(|p| p.get("package-mode"))
                .and_then(toml::Value::as_bool),
            table,
        })
    }

    /// Whether the project builds into a wheel: `[tool.uv] package` decides when set (uv builds
    /// with setuptools when there is no `[build-system]`), then Poetry's `package-mode`, then
    /// whether there is a `[build-system]`.
    pub fn is_package(&self) -> bool {
        if let Some(package) = self.uv_package {
            return package;
        }
        if self.poetry_package_mode == Some(false) {
            return false;
        }
        self.build_system.is_some()
    }

    /// `[tool.uv.sources]` names (normalized): requirements uv locks by path, git or URL.
    pub(crate) fn uv_sources(&self) -> Vec<String> {
        self.table
            .get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|u| u.get("sources"))
            .and_then(toml::Value::as_table)
            .map(|s| s.keys().map(|k| normalize(k)).collect())
            .unwrap_or_default()
    }
}

/// A TOML array of strings (anything else is skipped: the tools themselves would reject it).
pub(crate) fn strings(value: Option<&toml::Value>) -> Vec<String> {
    value
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn requirements(path: &Path, texts: &[String]) -> Result<Vec<Requirement>, ProjectError> {
    texts
        .iter()
        .map(|t| {
            grocker_wheel::parse_requirement(t).map_err(|e| {
                invalid(
                    path,
                    None,
                    None,
                    format!("requirement `{t}` is not PEP 508: {e}"),
                )
            })
        })
        .collect()
}

/// `[dependency-groups]` with PEP 735's `{include-group = "..."}` expanded (cycles rejected).
fn dependency_groups(
    path: &Path,
    value: Option<&toml::Value>,
) -> Result<BTreeMap<String, Vec<Requirement>>, ProjectError> {
    let Some(groups) = value.and_then(toml::Value::as_table) else {
        return Ok(BTreeMap::new());
    };
    let by_name: BTreeMap<String, &toml::Value> =
        groups.iter().map(|(k, v)| (normalize(k), v)).collect();
    let mut out = BTreeMap::new();
    for name in by_name.keys() {
        let mut texts = Vec::new();
        expand_group(path, &by_name, name, &mut Vec::new(), &mut texts)?;
        out.insert(name.clone(), requirements(path, &texts)?);
    }
    Ok(out)
}

fn expand_group(
    path: &Path,
    groups: &BTreeMap<String, &toml::Value>,
    name: &str,
    stack: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), ProjectError> {
    if stack.iter().any(|s| s == name) {
        return Err(invalid(
            path,
            None,
            None,
            format!("dependency group `{name}` includes itself"),
        ));
    }
    let Some(entries) = groups.get(name).and_then(|v| v.as_array()) else {
        return Err(invalid(
            path,
            None,
            None,
            format!("no dependency group `{name}` to include"),
        ));
    };
    stack.push(name.to_string());
    for entry in entries {
        if let Some(text) = entry.as_str() {
            out.push(text.to_string());
        } else if let Some(include) = entry.get("include-group").and_then(toml::Value::as_str) {
            expand_group(path, groups, &normalize(include), stack, out)?;
        }
    }
    stack.pop();
    Ok(())
}
